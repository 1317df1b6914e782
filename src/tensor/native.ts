// Loads the libtorch addon and sets the intra-op thread count once, at load.
// libtorch's default here is 1 thread, which leaves most of the machine idle.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { ompWaitPolicy, runnableTasks, waitMode } from './threads';

type Id = number;
type Dims = number | readonly number[];
type Unary = (a: Id) => Id;
type Binary = (a: Id, b: Id) => Id;
type WithScalar = (a: Id, s: number) => Id;

export interface NativeAddon {
  // creation / conversion
  fromBytes(data: ArrayBufferView, srcDtype: number, shape: readonly number[], dstDtype: number, device: number): Id;
  toBytes(a: Id, dtype?: number): ArrayBuffer;
  item(a: Id): number;
  zeros(shape: readonly number[], dtype: number, device: number): Id;
  ones(shape: readonly number[], dtype: number, device: number): Id;
  full(shape: readonly number[], value: number, dtype: number, device: number): Id;
  randn(shape: readonly number[], dtype: number, device: number): Id;
  rand(shape: readonly number[], dtype: number, device: number): Id;
  randint(low: number, high: number, shape: readonly number[], dtype: number, device: number): Id;
  arange(start: number, end: number, step: number, dtype: number, device: number): Id;
  // metadata / autograd state
  shape(a: Id): number[];
  dtype(a: Id): number;
  device(a: Id): number;
  requiresGrad(a: Id): boolean;
  setRequiresGrad(a: Id, b: boolean): void;
  setData(a: Id, b: Id): void;
  grad(a: Id): Id; // 0 = none
  zeroGrad(a: Id): void;
  backward(a: Id, grad: Id): void;
  release(a: Id): void;
  liveTensors(): number;
  // runtime
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  manualSeed(seed: number): void;
  getRngState(): ArrayBuffer;
  setRngState(s: Uint8Array): void;
  setGradEnabled(b: boolean): boolean;
  isGradEnabled(): boolean;
  autocastEnter(dtype: number): void;
  autocastExit(): void;
  blasLibraries(): string[];
  showConfig(): string;
  benchAddNs(a: Id, b: Id, n: number): number;
  setCrashText(which: 0 | 1 | 2, text: string): void;
  crashHandlerInstalled(): boolean;
  profilerStart(): void;
  profilerStop(): Array<[string, string, string, number, number, number]>;
  // ops
  to(a: Id, dtype: number): Id;
  toDevice(a: Id, device: number): Id;
  clone: Unary;
  contiguous: Unary;
  detach: Unary;
  reshape(a: Id, shape: readonly number[]): Id;
  view(a: Id, shape: readonly number[]): Id;
  permute(a: Id, dims: readonly number[]): Id;
  transpose(a: Id, d0: number, d1: number): Id;
  narrow(a: Id, dim: number, start: number, length: number): Id;
  squeeze(a: Id, dim: number): Id;
  unsqueeze(a: Id, dim: number): Id;
  expand(a: Id, shape: readonly number[]): Id;
  flatten(a: Id, start: number, end: number): Id;
  cat(ids: readonly Id[], dim: number): Id;
  stack(ids: readonly Id[], dim: number): Id;
  add: Binary;
  addS: WithScalar;
  sub: Binary;
  subS: WithScalar;
  mul: Binary;
  mulS: WithScalar;
  div: Binary;
  divS: WithScalar;
  pow: WithScalar;
  neg: Unary;
  sqrt: Unary;
  rsqrt: Unary;
  exp: Unary;
  log: Unary;
  abs: Unary;
  tanh: Unary;
  sigmoid: Unary;
  relu: Unary;
  gelu(a: Id, tanh: boolean): Id;
  minimum: Binary;
  minimumS: WithScalar;
  maximum: Binary;
  maximumS: WithScalar;
  clamp(a: Id, min: number, max: number): Id;
  eq: Binary;
  eqS: WithScalar;
  ne: Binary;
  neS: WithScalar;
  lt: Binary;
  ltS: WithScalar;
  le: Binary;
  leS: WithScalar;
  gt: Binary;
  gtS: WithScalar;
  ge: Binary;
  geS: WithScalar;
  logicalAnd: Binary;
  logicalOr: Binary;
  logicalNot: Unary;
  maskedFill(a: Id, mask: Id, value: number): Id;
  where(c: Id, a: Id, b: Id): Id;
  whereTS(c: Id, a: Id, b: number): Id;
  whereST(c: Id, a: number, b: Id): Id;
  whereSS(c: Id, a: number, b: number): Id;
  triu(a: Id, diagonal: number): Id;
  tril(a: Id, diagonal: number): Id;
  matmul: Binary;
  bmm: Binary;
  linear(x: Id, w: Id, b: Id): Id;
  sum(a: Id, dims: Dims | undefined, keepdim: boolean): Id;
  mean(a: Id, dims: Dims | undefined, keepdim: boolean): Id;
  max(a: Id, dim: number | undefined, keepdim: boolean): Id;
  min(a: Id, dim: number | undefined, keepdim: boolean): Id;
  argmax(a: Id, dim: number, keepdim: boolean): Id;
  topk(a: Id, k: number, dim: number, largest: boolean): [Id, Id];
  logsumexp(a: Id, dims: Dims, keepdim: boolean): Id;
  softmax(a: Id, dim: number): Id;
  logSoftmax(a: Id, dim: number): Id;
  cumsum(a: Id, dim: number): Id;
  sort(a: Id, dim: number, descending: boolean): [Id, Id];
  rmsNorm(x: Id, w: Id, eps: number): Id;
  attention(q: Id, k: Id, v: Id, bias: Id, scale: number): Id;
  gather(a: Id, dim: number, index: Id): Id;
  indexSelect(a: Id, dim: number, index: Id): Id;
  scatter(a: Id, dim: number, index: Id, src: Id): Id;
  scatterS(a: Id, dim: number, index: Id, value: number): Id;
  embedding(weight: Id, ids: Id): Id;
  dropout(a: Id, p: number, train: boolean): Id;
  uniformDropout(a: Id, p: number): Id;
  crossEntropy(logits: Id, targets: Id, ignoreIndex: number, labelSmoothing: number, reduction: number): Id;
  copy_(dst: Id, src: Id): void;
  fill_(a: Id, v: number): void;
  indexCopy_(a: Id, dim: number, index: Id, src: Id): void;
  normal_(a: Id, mean: number, std: number): void;
  uniform_(a: Id, lo: number, hi: number): void;
  // optimizers
  adamw(
    params: Int32Array,
    expAvg: Int32Array,
    expAvgSq: Int32Array,
    steps: Float64Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
  ): void;
  adafactor(
    params: Int32Array,
    expAvg: Int32Array,
    row: Int32Array,
    col: Int32Array,
    expAvgSq: Int32Array,
    steps: Float64Array,
    lr: number,
    eps1: number,
    eps2: number,
    clipThreshold: number,
    decayRate: number,
    beta1: number,
    weightDecay: number,
    scaleParameter: boolean,
    relativeStep: boolean,
    warmupInit: boolean,
  ): void;
  clipGradNorm(params: Int32Array, maxNorm: number): number;
  // c10d process group (native/src/dist.cc); collectives resolve on the JS thread, run on a worker thread
  distInit(
    rank: number,
    size: number,
    host: string,
    port: number,
    hostStore: boolean,
    timeoutMs: number,
    prefix: string,
    backend: string,
    device: string,
  ): Promise<void>;
  distShutdown(): void;
  distBackends(): string[];
  distAllReduce(ids: readonly Id[], op: number, bucketBytes: number): Promise<void>;
  distBroadcast(ids: readonly Id[], root: number, bucketBytes: number): Promise<void>;
  distBarrier(): Promise<void>;
  distStoreSet(key: string, bytes: Uint8Array): Promise<void>;
  distStoreGet(key: string): Promise<ArrayBuffer>;
  gradsOrZeros(params: readonly Id[]): Id[];
  setCudaDevice(index: number): void;
}

/** The addon lives in <repo>/native/build/Release; look upwards so this works from src/ and dist/src/. */
function addonPath(): string {
  const override = process.env.CYCLENER_ADDON;
  if (override) return override;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'native', 'build', 'Release', 'cyclener_engine.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error('cyclener engine addon not found: run `npm run build:native` (needs libtorch-dev)');
}

/** Physical cores: hyperthreads share FPUs, and more OpenMP threads than cores hurts matmul. */
export function physicalCores(): number {
  const logical = availableParallelism();
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const cores = new Set<string>();
    let phys = '0';
    for (const line of info.split('\n')) {
      const [k, v] = line.split(':').map((s) => s.trim());
      if (k === 'physical id') phys = v ?? '0';
      else if (k === 'core id') cores.add(`${phys}:${v ?? ''}`);
    }
    if (cores.size > 0) return Math.min(cores.size, logical);
  } catch {
    /* not Linux */
  }
  return logical;
}

export function defaultThreads(): number {
  const env = process.env.CYCLENER_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`CYCLENER_THREADS must be a positive integer, got '${env}'`);
    return n;
  }
  return physicalCores();
}

// libgomp reads OMP_WAIT_POLICY when the addon is loaded: spin on a quiet machine, sleep when other processes want
// the cores (threads.ts has the measurements). An explicit OMP_WAIT_POLICY wins.
if (process.env.OMP_WAIT_POLICY === undefined) {
  const tasks = runnableTasks();
  const policy = ompWaitPolicy(
    waitMode(),
    defaultThreads(),
    physicalCores(),
    tasks === null ? null : Math.max(0, tasks - 1),
  );
  if (policy) process.env.OMP_WAIT_POLICY = policy;
}
// The addon's path is found at run time (CYCLENER_ADDON or the build folder), so it is a require, not an import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const N: NativeAddon = require(addonPath()) as NativeAddon;
N.setNumThreads(defaultThreads());
