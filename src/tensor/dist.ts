// Data parallelism on libtorch's c10d (native/src/dist.cc): one process group per process, set up from torchrun's
// environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; TORCHELASTIC_USE_AGENT_STORE when torchrun's
// agent hosts the rendezvous store), Gloo on CPU and NCCL on CUDA builds. Collectives are Promises: they run on a
// worker thread, so the JS thread stays free (signals, logs). Every collective has the group's timeout
// (CYCLENER_DIST_TIMEOUT seconds, default 300): a dead peer is an error at once, a stuck one after the timeout.

import { N } from './native';
import { idOf, Tensor } from './tensor';
import * as T from './create';

export interface World {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
  masterAddr: string;
  masterPort: number;
  /** torchrun's agent hosts the store (all ranks are clients). */
  agentStore: boolean;
  /** torchrun's restart count: keys of an earlier attempt in the agent's store are not this attempt's. */
  restart: number;
}

export interface DistInfo {
  rank: number;
  size: number;
  backend: string;
}

/** Default size of a flattened gradient bucket (PyTorch DDP's bucket_cap_mb). */
export const BUCKET_BYTES = 25 * 1024 * 1024;

function intVar(env: NodeJS.ProcessEnv, name: string, min: number, fallback?: number): number {
  const v = env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`${name} is not set (WORLD_SIZE > 1 needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)`);
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

/** The torchrun environment, or null when this process is alone (WORLD_SIZE unset or 1). */
export function worldFromEnv(env: NodeJS.ProcessEnv = process.env): World | null {
  const size = intVar(env, 'WORLD_SIZE', 1, 1);
  if (size === 1) return null;
  const rank = intVar(env, 'RANK', 0);
  if (rank >= size) throw new Error(`RANK ${rank} must be below WORLD_SIZE ${size}`);
  const masterPort = intVar(env, 'MASTER_PORT', 1);
  if (masterPort > 65535) throw new Error(`MASTER_PORT must be at most 65535, got ${masterPort}`);
  const masterAddr = env.MASTER_ADDR;
  if (!masterAddr) throw new Error('MASTER_ADDR is not set (WORLD_SIZE > 1 needs it)');
  const localSize = intVar(env, 'LOCAL_WORLD_SIZE', 1, size);
  return {
    rank,
    size,
    localRank: intVar(env, 'LOCAL_RANK', 0, rank),
    localSize,
    masterAddr,
    masterPort,
    agentStore: /^(1|true)$/i.test(env.TORCHELASTIC_USE_AGENT_STORE ?? ''),
    restart: intVar(env, 'TORCHELASTIC_RESTART_COUNT', 0, 0),
  };
}

/** Collective timeout in milliseconds (CYCLENER_DIST_TIMEOUT, seconds). */
export function timeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.CYCLENER_DIST_TIMEOUT;
  if (v === undefined || v === '') return 300_000;
  const s = Number(v);
  if (!(Number.isFinite(s) && s > 0))
    throw new Error(`CYCLENER_DIST_TIMEOUT must be a positive number of seconds, got '${v}'`);
  return Math.round(s * 1000);
}

let current: DistInfo | null = null;

/** A failed collective as one line that says what happened to the job, with c10d's own words in brackets. */
async function collective<R>(what: string, p: Promise<R>): Promise<R> {
  try {
    return await p;
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    const why = what.startsWith('rendezvous')
      ? `not every worker arrived within ${timeoutMs() / 1000} s (CYCLENER_DIST_TIMEOUT); are all workers started, and is MASTER_ADDR:MASTER_PORT reachable from this host?`
      : /timed? ?out|timeout/i.test(m)
        ? `no answer within ${timeoutMs() / 1000} s (CYCLENER_DIST_TIMEOUT): another worker is stuck, gone or unreachable`
        : /closed|reset|refused|broken pipe|EOF|connect/i.test(m)
          ? 'another worker of the job is gone (see its output for why)'
          : 'the collective failed';
    const who = current ? `rank ${current.rank} of ${current.size}` : 'joining the process group';
    throw new Error(`data parallel, ${who}: ${what}: ${why} [${m}]`);
  }
}

/**
 * Join the process group described by `world` (default: the environment). No-op (null) for a world of one.
 * Backend: 'nccl' when CUDA is available and the addon has it, else 'gloo'. Gloo's transport uses loopback when every
 * rank is on this host, GLOO_SOCKET_IFNAME's interface if set, else this host's name.
 */
export async function init(world: World | null = worldFromEnv(), backend?: 'gloo' | 'nccl'): Promise<DistInfo | null> {
  if (!world) return null;
  if (current) throw new Error('dist.init: this process is in a group already');
  const have = N.distBackends();
  const want = backend ?? (have.includes('nccl') && N.cudaAvailable() ? 'nccl' : 'gloo');
  if (!have.includes(want))
    throw new Error(
      `dist: this addon was built without ${want} (has: ${have.join(', ') || 'none'}); ` +
        (want === 'gloo' ? 'install libgloo-dev and run npm run build:native' : 'link a CUDA libtorch (LIBTORCH_DIR)'),
    );
  if (want === 'nccl') N.setCudaDevice(world.localRank); // one GPU per process on each host
  const iface = process.env.GLOO_SOCKET_IFNAME;
  const device = iface ? `iface:${iface}` : world.localSize === world.size ? '127.0.0.1' : '';
  const hostStore = world.rank === 0 && !world.agentStore;
  await collective(
    `rendezvous at ${world.masterAddr}:${world.masterPort}`,
    N.distInit(
      world.rank,
      world.size,
      world.masterAddr,
      world.masterPort,
      hostStore,
      timeoutMs(),
      `cyclener/${world.restart}/`,
      want,
      device,
    ),
  );
  current = { rank: world.rank, size: world.size, backend: want };
  return current;
}

/** The c10d backends this addon was built with ('gloo' needs libgloo-dev at build time; 'nccl' a CUDA libtorch). */
export function backends(): string[] {
  return N.distBackends();
}

/** This process's group, or null when alone. */
export function info(): DistInfo | null {
  return current;
}

export function rank(): number {
  return current?.rank ?? 0;
}

export function worldSize(): number {
  return current?.size ?? 1;
}

/** Leave the group (closes the store and Gloo's connections). */
export function shutdown(): void {
  if (!current) return;
  N.distShutdown();
  current = null;
}

const OPS = { sum: 0, avg: 1, max: 2, min: 3 } as const;
export type ReduceOp = keyof typeof OPS;

/** Reduce tensors in place across ranks, in flattened buckets of at most `bucketBytes`; all buckets in flight at once. */
export async function allReduce(
  ts: readonly Tensor[],
  op: ReduceOp = 'sum',
  bucketBytes = BUCKET_BYTES,
): Promise<void> {
  if (!current || ts.length === 0) return;
  await collective(
    'all-reduce',
    N.distAllReduce(
      ts.map((t) => idOf(t, 'allReduce')),
      OPS[op],
      bucketBytes,
    ),
  );
}

/** Sum JS numbers across ranks (float64, exact for integer counts below 2^53). */
export async function sumNumbers(xs: readonly number[]): Promise<number[]> {
  if (!current) return [...xs];
  const t = T.tensor(Float64Array.from(xs), [xs.length], 'float64');
  try {
    await allReduce([t], 'sum');
    return Array.from(t.toFloat64Array());
  } finally {
    t.dispose();
  }
}

/** Overwrite tensors with rank `root`'s values (parameters at start, so every rank trains the same model). */
export async function broadcast(ts: readonly Tensor[], root = 0, bucketBytes = BUCKET_BYTES): Promise<void> {
  if (!current || ts.length === 0) return;
  await collective(
    'broadcast',
    N.distBroadcast(
      ts.map((t) => idOf(t, 'broadcast')),
      root,
      bucketBytes,
    ),
  );
}

export async function barrier(): Promise<void> {
  if (current) await collective('barrier', N.distBarrier());
}

/**
 * Sum the gradients of `params` across ranks in place (a parameter without a gradient counts as zeros), in buckets,
 * and the numbers `extra` with them (e.g. the loss); returns the summed `extra`. The trainer weights each rank's loss
 * by its share of the global batch's target tokens, so the sum is the global batch's gradient.
 */
export async function allReduceGrads(
  params: readonly Tensor[],
  extra: readonly number[] = [],
  bucketBytes = BUCKET_BYTES,
): Promise<number[]> {
  if (!current) return [...extra];
  const grads = N.gradsOrZeros(params.map((p) => idOf(p, 'allReduceGrads'))).map((id) => new Tensor(id));
  const ex = T.tensor(Float64Array.from(extra), [extra.length], 'float64');
  try {
    await allReduce(extra.length > 0 ? [...grads, ex] : grads, 'sum', bucketBytes);
    return extra.length > 0 ? Array.from(ex.toFloat64Array()) : [];
  } finally {
    for (const g of grads) g.dispose();
    ex.dispose();
  }
}

/** Every rank's bytes, in rank order (through the rendezvous store; for modest sizes such as predictions). */
export async function allGatherBytes(key: string, bytes: Uint8Array): Promise<Uint8Array[]> {
  if (!current) return [bytes];
  await collective('store set', N.distStoreSet(`${key}/${current.rank}`, bytes));
  const out: Uint8Array[] = [];
  for (let r = 0; r < current.size; r++)
    out.push(r === current.rank ? bytes : new Uint8Array(await collective('store get', N.distStoreGet(`${key}/${r}`))));
  return out;
}

/** Rows [⌊r·n/N⌋, ⌊(r+1)·n/N⌋) of `xs` for rank r of N: contiguous, sizes differ by at most one, order kept. */
export function shard<X>(xs: readonly X[], r = rank(), n = worldSize()): X[] {
  return xs.slice(Math.floor((r * xs.length) / n), Math.floor(((r + 1) * xs.length) / n));
}

/** Whether `flag` holds on any rank (a stop request, a time budget): every rank gets the same answer. */
export async function anyRank(flag: boolean): Promise<boolean> {
  if (!current) return flag;
  return (await sumNumbers([flag ? 1 : 0]))[0]! > 0;
}

let mapCalls = 0;

/**
 * `fn` over this rank's shard of `xs`; every rank gets every result, in the order of `xs` (results travel as JSON
 * through the store). All ranks must call it with the same `xs`, in the same order of calls. Alone: fn(xs).
 */
export async function mapSharded<X, Y>(xs: readonly X[], fn: (part: X[]) => Promise<Y[]>): Promise<Y[]> {
  if (!current) return fn([...xs]);
  const mine = await fn(shard(xs));
  const parts = await allGatherBytes(`map/${mapCalls++}`, new TextEncoder().encode(JSON.stringify(mine)));
  return parts.flatMap((p) => JSON.parse(new TextDecoder().decode(p)) as Y[]);
}
