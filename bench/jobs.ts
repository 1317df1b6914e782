// Benchmark (not a test) of cyclener's real jobs on the shipped model (models/base-news-11m), each against a PyTorch
// twin of the same loop (bench/jobs_twin.py: the same T5 in plain PyTorch, same weights, same batches, same optimizer)
// run in the same invocation with the same thread count and precision:
//   pretrain   pretrain() sittings (default mixture and span-only) vs the twin replaying the very batches they drew
//   supervised one S2E train step (batch 16 of CoNLL sentence -> entity sequence pairs)
//   cycle      one CycleNER step (batch 16): grounded S2E generation, E2S step, E2S generation, S2E step
//   eval       what trainCycle's evaluation (cycle/evaluate.ts) does for 200 dev items
//   predict    grounded S2E prediction over 500 CoNLL dev sentences, batch 64
// Our side and the twin alternate run by run (the twin is a child process answering one timed request at a time), so
// load from other processes hits both alike; figures are medians. Ratio = our throughput / the twin's (>= 1: we are
// faster). Each job also gets the time its matmul FLOPs would take at the peak 1024^3 matmul rate of this run
// (fp32 and bf16), counted from the shapes our engine actually multiplied (padding included), x3 when training.
// Usage: npm run bench:jobs -- [--quick] [--threads N] [--precision bf16|fp32] [--jobs pretrain,supervised,cycle,eval,predict]
//        [--model DIR] [--corpus FILE.txt.xz] [--conll DIR]      (precision default: the library's DEFAULT_PRECISION)
//        [--profile]   no twin: the timed units of our side under libtorch's op profiler and V8's sampler
//                      (bench/profile.ts), printed as a table of where the time goes per job
//        [--no-twin]   our side only (A/B runs of the library); [--dense-head] generate() with sparseHead: false
//        [--one-process] every job in this process and one twin (as before the memory columns; --profile implies it)
// By default each job (each row) runs in its own child process of this script with its own twin, so that the peak RSS
// (VmHWM) of each side is that job's: printed beside the times, and in a memory table (runtime, peak, anonymous/file).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { CLI_NODE_FLAGS, reexecWithCliAllocator } from './allocator';
import { JobProfiler } from './profile';
import * as T from '../src/tensor';
import { Tensor } from '../src/tensor';
import * as TF from '../src/tensor/functions';
import { readLabeled, type LabeledCorpus } from '../src/data/readers';
import { defaultVerbalizer, Verbalizer } from '../src/data/verbalizer';
import type { LabeledSentence } from '../src/data/types';
import { compareSequences } from '../src/eval/compare';
import { evaluate } from '../src/eval/metrics';
import { ffnKind, type T5Config } from '../src/t5/config';
import * as G from '../src/t5/generation';
import { autocastOf, DEFAULT_PRECISION, isPrecision, type Precision } from '../src/t5/precision';
import {
  addPadding,
  groupByLength,
  groupDefaults,
  newPaddingStats,
  paddingShare,
  Seq2SeqTrainer,
  type Seq2SeqExample,
} from '../src/t5/train';
import { DEFAULT_CONFIG } from '../src/cycle/config';
import { cycleS2EGenerate } from '../src/cycle/grounding';
import { cycleStep, type CycleStepParts } from '../src/cycle/step';
import { DEFAULT_S2E_PREFIX, loadForInference, loadModelDir } from '../src/cycle/model-io';
import { predictSequences, verbalizerForTypes } from '../src/cycle/predict';
import {
  Direction,
  evalLoss,
  generateAll,
  inLengthBatches,
  lengthBatches,
  lossBatches,
  trainStep,
} from '../src/cycle/seq2seq';
import { pairsFromSentences, sampleSentences } from '../src/supervised/supervised';
import { buildSyntheticWorld, SYN_TYPES } from '../src/demo/synthetic';
import { collapseStats, typesOf } from '../src/cycle/trainer';
import {
  formatMixture,
  loadTokenizerDir,
  makeSchedule,
  parseMixture,
  pretrain,
  PRETRAIN_DEFAULTS,
  TrainStream,
  type DataOptions,
} from '../src/pretrain';

// ---------------------------------------------------------------- options

const ROOT = path.resolve(__dirname, '..', '..'); // dist/bench -> repository root
const argv = process.argv.slice(2);
function flag(name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
}
// --help prints the usage above; an unknown option is refused before minutes of benchmarking start.
const VALUE_FLAGS = ['threads', 'precision', 'jobs', 'model', 'corpus', 'conll', 'profile-dump', 'child', 'peak'];
const BOOL_FLAGS = ['quick', 'profile', 'no-twin', 'dense-head', 'one-process'];
if (argv.includes('--help') || argv.includes('-h')) {
  const src = fs.readFileSync(path.join(ROOT, 'bench', 'jobs.ts'), 'utf8').split('\n');
  const from = src.findIndex((l) => l.startsWith('// Usage:'));
  const usage = src.slice(
    from,
    src.findIndex((l, i) => i > from && !l.startsWith('//')),
  );
  console.log(usage.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
for (let i = 0; i < argv.length; i++) {
  const name = argv[i]!.replace(/^--/, '');
  if (VALUE_FLAGS.includes(name)) i++;
  else if (!BOOL_FLAGS.includes(name)) {
    console.error(`bench:jobs: unknown option ${argv[i]} (see --help)`);
    process.exit(2);
  }
}
const ALL_JOBS = ['pretrain', 'supervised', 'cycle', 'eval', 'predict'] as const;
type Job = (typeof ALL_JOBS)[number];
const quick = argv.includes('--quick');
const threads = Number(flag('threads', String(T.getNumThreads()))); // default: the library's (CYCLENER_THREADS or cores)
// One precision for both sides and every job: Direction (generation + its trainers) and pretrain()'s bf16 on ours,
// torch.autocast on the twin.
const precision: Precision = (() => {
  const p = flag('precision', DEFAULT_PRECISION);
  if (!isPrecision(p)) throw new Error(`--precision: bf16 or fp32, not ${p}`);
  return p;
})();
const jobs = flag('jobs', ALL_JOBS.join(','))
  .split(',')
  .map((s) => s.trim()) as Job[];
// Paths given are relative to the working directory; the defaults to the repository root (../shared beside it).
const pathFlag = (name: string, dflt: string) =>
  argv.includes(`--${name}`) ? path.resolve(flag(name, dflt)) : path.resolve(ROOT, dflt);
const modelDir = pathFlag('model', 'models/base-news-11m');
const corpusFile = pathFlag('corpus', '../shared/corpora/news.txt.xz');
const conllDir = pathFlag('conll', '../shared/data/conll2003');
if (!(Number.isInteger(threads) && threads >= 1))
  throw new Error(`--threads: a positive integer, not ${flag('threads', '')}`);
for (const j of jobs)
  if (!ALL_JOBS.includes(j)) throw new Error(`--jobs: unknown job "${j}" (known: ${ALL_JOBS.join(', ')})`);
const bf16 = precision === 'bf16';
const profiler = argv.includes('--profile') ? new JobProfiler() : null;
const noTwin = profiler !== null || argv.includes('--no-twin');
const denseHead = argv.includes('--dense-head'); // A/B: constrained greedy search on the full LM head, as before
/** Units profiled per job (the table divides by them). */
const profUnits = new Map<string, number>();
/** Runs one timed unit of `job` (under the profilers with --profile). */
async function unit<R>(job: string, fn: () => Promise<R>): Promise<R> {
  if (!profiler) return fn();
  profiler.begin(job);
  try {
    return await fn();
  } finally {
    await profiler.end();
    profUnits.set(job, (profUnits.get(job) ?? 0) + 1);
  }
}

// Steps / runs per job: W warm-up steps (not timed), N timed steps, R interleaved runs; --quick takes fewer (the whole
// bench in ~1.5-2 minutes on 1 thread). The unit column of the table says what each job's sample is.
const SIZE = quick
  ? {
      preW: 1,
      preN: 3,
      preR: 1,
      supW: 1,
      supN: 3,
      cycW: 1,
      cycN: 2,
      evalR: 1,
      evalItems: 200,
      predR: 1,
      predSents: 500,
    }
  : {
      preW: 2,
      preN: 6,
      preR: 3,
      supW: 2,
      supN: 10,
      cycW: 1,
      cycN: 6,
      evalR: 3,
      evalItems: 200,
      predR: 3,
      predSents: 500,
    };

// ---------------------------------------------------------------- small helpers

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const now = () => Number(process.hrtime.bigint()) / 1e9;

// ---------------------------------------------------------------- FLOP counting

// FLOPs = 2*m*n*k for every matmul our engine runs (T.linear, Tensor.matmul, Tensor.bmm are the only matmul entry
// points of src/tensor), from the operand shapes as computed: padding, length groups, the labelled-row LM head of
// training and the rows dropped by generation are all what they really are, whatever model.ts / generation/ do
// inside. x3 for ops run with grad enabled (forward + backward). The supervised job prints the config formula beside
// it as a check.
const flops = { total: 0, gens: [] as Gen[] };
/** One generate() call: its input rows and its decoder steps (the longest output; the loop ends when all are done). */
interface Gen {
  rows: number;
  steps: number;
}

function numel(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/** 2*m*k*n of a (batched, broadcast) matmul of shapes a [..., m, k] and b [..., k, n]. */
function matmulFlops(a: readonly number[], b: readonly number[]): number {
  const A = a.length === 1 ? [1, a[0]!] : a;
  const B = b.length === 1 ? [b[0]!, 1] : b;
  const ba = A.slice(0, -2);
  const bb = B.slice(0, -2);
  let batch = 1;
  for (let i = 0; i < Math.max(ba.length, bb.length); i++)
    batch *= Math.max(ba[ba.length - 1 - i] ?? 1, bb[bb.length - 1 - i] ?? 1);
  return 2 * batch * A[A.length - 2]! * A[A.length - 1]! * B[B.length - 1]!;
}

function installCounters(): void {
  const scale = () => (T.isGradEnabled() ? 3 : 1);
  const lin = TF.linear;
  // The modules' exports are plain properties (CommonJS), read at each call by every importer.
  (TF as unknown as { linear: typeof TF.linear }).linear = (x, w, b) => {
    flops.total += 2 * numel(x.shape) * w.shape[0]! * scale();
    return lin(x, w, b);
  };
  const P = Tensor.prototype;
  const mm = P.matmul;
  P.matmul = function (this: Tensor, o: Tensor) {
    flops.total += matmulFlops(this.shape, o.shape) * scale();
    return mm.call(this, o);
  };
  const bmm = P.bmm;
  P.bmm = function (this: Tensor, o: Tensor) {
    flops.total += matmulFlops(this.shape, o.shape) * scale();
    return bmm.call(this, o);
  };
  if (T.linear !== TF.linear)
    throw new Error('FLOP counter: T.linear is not the patched function (src/tensor/index.ts re-export changed?)');
  // Decoder steps of each generation, for the twin to decode as many.
  const gen = G.generate;
  (G as unknown as { generate: typeof G.generate }).generate = (model, input, opts) => {
    const out = gen(model, input, denseHead ? { ...opts, sparseHead: false } : opts);
    flops.gens.push({
      rows: Array.isArray(input) ? input.length : input.batch,
      steps: Math.max(0, ...out.sequences.map((q) => q.length)),
    });
    return out;
  };
  // generateMany (predict, eval: batches decoded as one stream of rows): one record per batch, as generate() would.
  const many = G.generateMany;
  (G as unknown as { generateMany: typeof G.generateMany }).generateMany = (model, inputs, opts) => {
    const outs = many(model, inputs, denseHead ? { ...opts, sparseHead: false } : opts);
    outs.forEach((out, i) =>
      flops.gens.push({ rows: inputs[i]!.input.batch, steps: Math.max(0, ...out.sequences.map((q) => q.length)) }),
    );
    return outs;
  };
}

/** The same count from the model config, for one training step over collated groups [rows, source len, target len, labelled targets]. */
function configTrainFlops(c: T5Config, groups: readonly (readonly [number, number, number, number])[]): number {
  const D = c.dModel,
    I = c.numHeads * c.dKv,
    F = D * c.dFf * (ffnKind(c).gated ? 3 : 2); // F: FFN weights
  let f = 0;
  for (const [B, S, Tt, lab] of groups) {
    const enc = c.numLayers * (2 * B * S * (4 * D * I + F) + 4 * B * S * S * I);
    const dec = c.numDecoderLayers * (2 * B * Tt * (6 * D * I + F) + 4 * B * Tt * (Tt + S) * I + 4 * B * S * D * I);
    f += 3 * (enc + dec + 2 * lab * D * c.vocabSize); // LM head on the labelled rows (model.loss)
  }
  return f;
}

/** Matmul peak of this engine in GFLOP/s: best of a dozen n^3 products (the best filters out other processes' load). */
function peakGflops(dtype: 'float32' | 'bfloat16', n = 1024): number {
  const [a, b] = T.tidy(() => [T.randn([n, n]).to(dtype).keep(), T.randn([n, n]).to(dtype).keep()]);
  let best = Infinity;
  for (let r = 0; r < 13; r++) {
    const t0 = now();
    T.tidy(() => {
      a!.matmul(b!);
    });
    if (r > 0) best = Math.min(best, now() - t0);
  }
  T.dispose([a!, b!]);
  return (2 * n ** 3) / best / 1e9;
}

// ---------------------------------------------------------------- memory

/** A process's memory in MiB (/proc/PID/status): peak RSS (VmHWM), RSS now, and its anonymous / file-backed parts. */
interface Mem {
  hwm: number;
  rss: number;
  anon: number;
  file: number;
}
const NO_MEM: Mem = { hwm: NaN, rss: NaN, anon: NaN, file: NaN };
/** Ours: this process (the twin answers the same from its own /proc/self/status, op 'mem'). */
function procMem(): Mem {
  const st = fs.readFileSync('/proc/self/status', 'utf8');
  const kib = (k: string) => {
    const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st);
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { hwm: kib('VmHWM'), rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile') };
}

// ---------------------------------------------------------------- the PyTorch twin

type Json = Record<string, unknown>;
interface Twin {
  call<R = Json>(req: Json): Promise<R>;
  close(): void;
  torch: string;
  /** The twin's memory once Python and torch are loaded (before any request). */
  start: Mem;
}
interface TwinRun {
  times: number[];
  results: number[];
}

/** --profile, --no-twin: no twin; its answers are NaNs of the right shape. */
function stubTwin(): Twin {
  const nan = Array.from({ length: 4096 }, () => NaN);
  return {
    torch: '(none: --profile)',
    start: NO_MEM,
    call: <R>() => Promise.resolve({ times: nan, results: nan, losses: nan, fp32: NaN, bf16: NaN, ...NO_MEM } as R),
    close: () => undefined,
  };
}

async function startTwin(): Promise<Twin> {
  const script = path.join(ROOT, 'bench', 'jobs_twin.py');
  const child = spawn(
    process.env.CYCLENER_PYTHON ?? '/usr/bin/python3',
    [script, modelDir, String(threads), precision],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    },
  );
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Json> => {
    const r = await lines.next();
    if (r.done) throw new Error('PyTorch twin exited (see its error above)');
    return JSON.parse(r.value as string) as Json;
  };
  const hello = await next();
  if (hello.ready !== true) throw new Error('PyTorch twin did not start');
  return {
    torch: String(hello.torch),
    start: hello.mem as Mem,
    async call<R>(req: Json): Promise<R> {
      child.stdin!.write(JSON.stringify(req) + '\n');
      return (await next()) as R;
    },
    close: () => child.stdin!.end(),
  };
}

const asBatch = (ex: readonly Seq2SeqExample[]) => ex.map((e) => ({ s: e.source, t: e.target }));
/** The micro-batches `tr` collates for `ex` (its length groups, if it groups), for the twin to collate the same. */
const groupsOf = (tr: Seq2SeqTrainer, ex: Seq2SeqExample[]) =>
  (tr.opts.groupByLength ? groupByLength(ex, tr.opts.groupByLength) : [ex]).map(asBatch);

// ---------------------------------------------------------------- results

interface Sample {
  ours: number;
  twin: number;
  work: number;
  flops: number;
}
/** One table row: each sample is one `unit` (a step, a run) done by both sides; `rate` names work per second (null: time). */
interface Row {
  job: string;
  unit: string;
  rate: string | null;
  samples: Sample[];
  /** Each job in its own pair of processes (the default): both sides' memory at the start and at the end. */
  mem?: { ours: Mem; oursStart: Mem; oursData: Mem; twin: Mem; twinStart: Mem; jsHeap: number };
}
const notes: string[] = [];
const note = (s: string) => {
  notes.push(s);
  console.log(`  ${s}`);
}; // printed now and again under the table

let peak = { fp32: NaN, bf16: NaN };

/** A memory figure, or – where a side did not run (--no-twin): NaN arrives from the child's JSON as null. */
function memCell(x: number | null, digits: number, unit = ''): string {
  return x === null || !Number.isFinite(x) ? '–' : `${x.toFixed(digits)}${unit}`;
}

function printTable(rows: Row[]): void {
  const head = [
    'job',
    'unit',
    'ours',
    'pytorch twin',
    'ratio',
    'ours s/unit',
    'GFLOP/unit',
    'bound fp32',
    'bound bf16',
    '% of bound',
  ];
  const w = [28, 16, 14, 14, 6, 12, 11, 11, 11, 10];
  const withMem = rows.some((r) => r.mem);
  if (withMem) {
    head.push('peak RSS ours', 'twin', 'twin/ours');
    w.push(13, 9, 9);
  }
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' ');
  console.log('\n' + line(head));
  for (const r of rows) {
    const s = r.samples;
    if (s.length === 0) continue;
    // Throughput rows: median of per-sample rates; time rows: median seconds. Ratio >= 1: ours is faster.
    const rate = (k: 'ours' | 'twin') => median(s.map((x) => x.work / x[k]));
    const tOurs = median(s.map((x) => x.ours));
    const fl = mean(s.map((x) => x.flops));
    const peakRun = bf16 ? peak.bf16 : peak.fp32;
    const pct = median(s.map((x) => x.flops / (peakRun * 1e9) / x.ours)) * 100;
    const fmt = (k: 'ours' | 'twin') =>
      noTwin && k === 'twin'
        ? '–'
        : r.rate
          ? `${rate(k).toFixed(r.rate === 'tok/s' ? 0 : 1)} ${r.rate}`
          : `${median(s.map((x) => x[k])).toFixed(2)} s`;
    const ratio = r.rate ? rate('ours') / rate('twin') : median(s.map((x) => x.twin)) / tOurs;
    console.log(
      line([
        r.job,
        r.unit,
        fmt('ours'),
        fmt('twin'),
        noTwin ? '–' : ratio.toFixed(2),
        tOurs.toFixed(3),
        (fl / 1e9).toFixed(1),
        `${(fl / (peak.fp32 * 1e9)).toFixed(3)} s`,
        `${(fl / (peak.bf16 * 1e9)).toFixed(3)} s`,
        `${pct.toFixed(1)}%`,
        ...(withMem && r.mem
          ? [
              memCell(r.mem.ours.hwm, 0, ' MiB'),
              memCell(r.mem.twin.hwm, 0, ' MiB'),
              memCell(r.mem.twin.hwm === null ? null : r.mem.twin.hwm / r.mem.ours.hwm, 2),
            ]
          : []),
      ]),
    );
  }
}

// ---------------------------------------------------------------- data

interface Data {
  train: LabeledSentence[];
  dev: LabeledCorpus;
  /** The first n dev sentences' texts (CoNLL: without reading the rest of the file). */
  devTexts: (n: number) => string[];
  verbalizer: Verbalizer;
  source: string;
}

/** The first n sentences of a CoNLL file, read from its first lines only. */
function firstSentences(file: string, n: number): LabeledSentence[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let sentences = 0;
  let end = 0;
  let inSentence = false;
  for (; end < lines.length && sentences < n; end++) {
    const l = lines[end]!.trim();
    if (l === '') {
      if (inSentence) sentences++;
      inSentence = false;
    } else if (!l.startsWith('-DOCSTART-')) inSentence = true;
  }
  const tmp = path.join(os.tmpdir(), `bench-jobs-${process.pid}.conll`);
  fs.writeFileSync(tmp, lines.slice(0, end).join('\n') + '\n');
  try {
    return readLabeled(tmp).sentences.slice(0, n);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function loadData(): Data {
  const tr = path.join(conllDir, 'train.txt');
  const dv = path.join(conllDir, 'dev.txt');
  if (fs.existsSync(tr) && fs.existsSync(dv)) {
    // The training set is read when a job first uses it (supervised, cycle): eval and predict read dev only, so their
    // peak RSS (each job in its own process) does not carry 200k tokens of CoNLL train as JS objects.
    let train: LabeledSentence[] | null = null;
    let dev: LabeledCorpus | null = null;
    return {
      get train() {
        return (train ??= readLabeled(tr).sentences);
      },
      get dev() {
        return (dev ??= readLabeled(dv));
      },
      // predict reads only its sentences, as `cyclener predict --input` reads its lines (the twin gets token ids).
      devTexts: (n) => firstSentences(dv, n).map((x) => x.text),
      verbalizer: defaultVerbalizer('conll2003'),
      source: `CoNLL-2003 (${conllDir})`,
    };
  }
  // No CoNLL here: template sentences of the synthetic world stand in (shorter than news sentences).
  const w = buildSyntheticWorld({ nS: 10, nQ: 10, nEval: 2000, seed: 7 });
  const dev = buildSyntheticWorld({ nS: 10, nQ: 10, nEval: 600, seed: 8 }).evalSet;
  return {
    train: w.evalSet.sentences,
    dev,
    devTexts: (n) => dev.sentences.slice(0, n).map((x) => x.text),
    verbalizer: new Verbalizer(SYN_TYPES),
    source: `synthetic sentences (no ${tr})`,
  };
}

// ---------------------------------------------------------------- job 1: pretraining

async function jobPretrain(twin: Twin, label: string, mixture: string): Promise<Row | null> {
  if (!fs.existsSync(corpusFile)) {
    note(`${label}: skipped, no corpus at ${corpusFile} (pass --corpus FILE)`);
    return null;
  }
  const { preW: W, preN: Nn, preR: R } = SIZE;
  const steps = W + Nn;
  const batch = 32;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclener-bench-jobs-'));
  try {
    const o = {
      ...PRETRAIN_DEFAULTS,
      corpus: [corpusFile],
      model: modelDir,
      init: modelDir,
      mixture,
      steps,
      warmup: 10,
      batch,
      bf16,
      evalEvery: 1e9,
      logEvery: 1,
      valDocs: 1,
      valBatches: 1,
      valBatchSize: 4,
      checkpointMinutes: 1e9,
      saveDtype: 'float32' as const,
      noExport: true,
      stopAfter: steps,
    };
    // The batches pretrain() will draw: same TrainStream (data options, tokenizer, seed) as inside pretrain(). Drawing
    // them here also times our data building, which our pretrain() figure includes and the twin's replay does not.
    const tok = loadTokenizerDir(modelDir);
    const dataOpts: DataOptions = {
      files: o.corpus,
      mixture: parseMixture(formatMixture(parseMixture(mixture))),
      holdoutEvery: o.holdoutEvery,
      chunkDocs: o.chunkDocs,
      maxSource: o.maxSource,
      maxTarget: o.maxTarget,
      spanInputs: o.spanInputs,
    };
    const stream = new TrainStream(dataOpts, tok, o.seed);
    const batches: Seq2SeqExample[][] = [];
    const drawTimes: number[] = [];
    try {
      for (let k = 0; k < steps; k++) {
        const t0 = now();
        batches.push(await stream.batch(batch));
        drawTimes.push(now() - t0);
      }
    } finally {
      stream.close();
    }
    const schedule = makeSchedule({ kind: 'linear', lr: o.lr, warmup: o.warmup, totalSteps: steps });
    // pretrain() splits each batch into length groups (PretrainOptions.lengthGrouping absent = groupDefaults of the
    // precision): the twin collates the same micro-batches.
    const groups = batches.map((b) => groupByLength(b, groupDefaults(autocastOf(precision))));
    const file = path.join(tmp, 'batches.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ steps: groups.map((g) => g.map(asBatch)), lrs: batches.map((_, k) => schedule(k)) }),
    );
    const tokensOf = (k: number) => batches[k]!.reduce((a, e) => a + e.source.length + e.target.length, 0);
    const padShare = paddingShare(addPadding(newPaddingStats(), groups.flat()));

    const row: Row = { job: label, unit: `step b${batch}`, rate: 'tok/s', samples: [] };
    for (let r = 0; r < R; r++) {
      const tw = await twin.call<{ times: number[]; losses: number[] }>({ op: 'pretrain', file });
      // Our sitting: the time of step k is the stretch between the log lines of steps k-1 and k (logEvery 1).
      const stamps = new Map<number, { t: number; flops: number }>();
      let profEnd: Promise<void> | undefined;
      const res = await pretrain({
        ...o,
        out: path.join(tmp, `run${r}`),
        log: (l: string) => {
          const m = /^step (\d+)\b/.exec(l);
          if (m && Number(m[1]) >= 1) stamps.set(Number(m[1]), { t: now(), flops: flops.total });
          // --profile: the timed steps W+1..steps, from the log line of step W to that of the last.
          if (profiler && m && Number(m[1]) === W) profiler.begin(label);
          if (profiler && m && Number(m[1]) === steps) {
            profEnd = profiler.end();
            profUnits.set(label, (profUnits.get(label) ?? 0) + steps - W);
          }
        },
      });
      await profEnd;
      if (![...Array(steps).keys()].every((k) => stamps.has(k + 1)))
        throw new Error('pretrain(): no per-step log lines (has its log format changed?)');
      const drawn = batches.reduce((acc, _, k) => acc + tokensOf(k), 0);
      if (res.tokens !== drawn || res.losses.length !== steps || Math.abs(res.padding.all - padShare.all) > 1e-9) {
        note(
          `${label}: WARNING pretrain() trained ${res.tokens} tokens in ${res.losses.length} steps (${(100 * res.padding.all).toFixed(1)}% padding), the replay holds ${drawn} in ${steps} (${(100 * padShare.all).toFixed(1)}%): the twin's batches differ`,
        );
      }
      for (let k = W + 1; k <= steps; k++) {
        const [a, b] = [stamps.get(k - 1)!, stamps.get(k)!];
        row.samples.push({ ours: b.t - a.t, twin: tw.times[k - 1]!, work: tokensOf(k - 1), flops: b.flops - a.flops });
      }
      if (r === 0) {
        note(
          `${label}: ${steps} steps of ${batch}, ${(drawn / batches.reduce((x, y) => x + y.length, 0)).toFixed(0)} tokens/example, ${(groups.reduce((a, g) => a + g.length, 0) / steps).toFixed(1)} length groups/step, ` +
            `${(100 * padShare.all).toFixed(0)}% padding; step-1 loss ours ${res.losses[0]!.toFixed(4)} twin ${tw.losses[0]!.toFixed(4)}; ` +
            `data building ${(median(drawTimes.slice(W)) * 1000).toFixed(0)} ms/step (inside ours, not in the twin's replay)`,
        );
      }
    }
    return row;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- job 2: supervised step

/** Everything counted since `mark` (FLOPs, generations). */
function mark() {
  const m = { flops: flops.total, gens: flops.gens.length };
  return () => ({ flops: flops.total - m.flops, gens: flops.gens.slice(m.gens) });
}

async function jobSupervised(twin: Twin, data: Data): Promise<Row> {
  const { supW: W, supN: Nn } = SIZE;
  const B = 16;
  const lr = 5e-4; // train-supervised's defaults: AdamW lr 5e-4, no weight decay, clip 1, 192-token limits
  const m = loadModelDir(modelDir);
  const dir = new Direction(
    m.model,
    m.tokenizer,
    DEFAULT_S2E_PREFIX,
    { maxSourceTokens: 192, maxTargetTokens: 192 },
    precision,
  );
  const opt = new T.AdamW(m.model.parameters(), { lr, weightDecay: 0 });
  const tr = dir.trainer(opt, { maxGradNorm: 1 });
  T.manualSeed(42);
  await twin.call({ op: 'load', name: 'sup', dropout: m.model.config.dropoutRate, lr, betas: [0.9, 0.999], wd: 0 });
  const pairs = pairsFromSentences(sampleSentences(data.train, B * (W + Nn), 42), data.verbalizer);
  const row: Row = { job: 'supervised S2E', unit: `step b${B}`, rate: 'tok/s', samples: [] };
  try {
    for (let k = 0; k < W + Nn; k++) {
      const src = pairs.slice(k * B, (k + 1) * B).map((p) => p.sentence);
      const tgt = pairs.slice(k * B, (k + 1) * B).map((p) => p.sequence);
      const ex = await dir.examples(src, tgt); // what trainStep trains on, for the twin (and the token count)
      const tw = await twin.call<TwinRun>({
        op: 'run',
        ops: [{ op: 'train', name: 'sup', groups: groupsOf(tr, ex), lr, clip: 1 }],
      });
      const since = mark();
      const t0 = now();
      await (k >= W ? unit('supervised', () => trainStep(dir, tr, src, tgt)) : trainStep(dir, tr, src, tgt));
      const t = now() - t0;
      const f = since().flops;
      if (k >= W)
        row.samples.push({
          ours: t,
          twin: tw.times[0]!,
          work: ex.reduce((a, e) => a + e.source.length + e.target.length, 0),
          flops: f,
        });
      if (k === W) {
        const shapes = groupsOf(tr, ex).map(
          (g) =>
            [
              g.length,
              Math.max(...g.map((e) => e.s.length)),
              Math.max(...g.map((e) => e.t.length)),
              g.reduce((a, e) => a + e.t.length, 0),
            ] as const,
        );
        note(
          `supervised: FLOPs of a step counted from the executed matmuls ${(f / 1e9).toFixed(2)} G; from the config and the collated shapes ${(configTrainFlops(m.model.config, shapes) / 1e9).toFixed(2)} G`,
        );
      }
    }
  } finally {
    opt.dispose();
    m.model.dispose();
  }
  return row;
}

// ---------------------------------------------------------------- job 3: cycle step

/** Twin ops replaying our generations: same sources, as many decoder steps as ours took (plain greedy there). */
function genOps(name: string, sources: number[][][], gens: readonly Gen[]): Json[] {
  if (gens.length !== sources.length || gens.some((g, i) => g.rows !== sources[i]!.length)) {
    throw new Error(
      `twin replay: expected ${sources.length} generations of ${sources.map((s) => s.length).join(',')} rows, saw ${gens.map((g) => g.rows).join(',')}`,
    );
  }
  return sources.map((src, i) => ({ op: 'gen', name, src, steps: gens[i]!.steps }));
}

/** S2E and E2S directions as trainCycle builds them, each loaded from the shipped model, plus the twin's copies. */
async function cycleModels(twin: Twin, withOptimizers: boolean) {
  const cfg = DEFAULT_CONFIG;
  const s2eM = loadModelDir(modelDir);
  const e2sM = loadModelDir(modelDir);
  const limits = { maxSourceTokens: cfg.maxSourceTokens, maxTargetTokens: cfg.maxTargetTokens };
  const s2e = new Direction(s2eM.model, s2eM.tokenizer, cfg.s2ePrefix, limits, precision);
  const e2s = new Direction(e2sM.model, s2eM.tokenizer, cfg.e2sPrefix, limits, precision);
  // Evaluation never steps the optimizer: a no-op one spares the AdamW state.
  const optS = withOptimizers
    ? new T.AdamW(s2eM.model.parameters(), { lr: cfg.lrS2E, weightDecay: cfg.weightDecay })
    : null;
  const optE = withOptimizers
    ? new T.AdamW(e2sM.model.parameters(), { lr: cfg.lrE2S, weightDecay: cfg.weightDecay })
    : null;
  const none = { lr: 0, step: () => undefined, zeroGrad: () => undefined };
  const clip = cfg.maxGradNorm > 0 ? cfg.maxGradNorm : null;
  const trS = s2e.trainer(optS ?? none, { maxGradNorm: clip });
  const trE = e2s.trainer(optE ?? none, { maxGradNorm: clip });
  const drop = withOptimizers ? s2eM.model.config.dropoutRate : 0;
  await twin.call({ op: 'load', name: 's2e', dropout: drop, lr: cfg.lrS2E, betas: [0.9, 0.999], wd: cfg.weightDecay });
  await twin.call({ op: 'load', name: 'e2s', dropout: drop, lr: cfg.lrE2S, betas: [0.9, 0.999], wd: cfg.weightDecay });
  const dispose = () => {
    optS?.dispose();
    optE?.dispose();
    s2eM.model.dispose();
    e2sM.model.dispose();
  };
  return { cfg, tok: s2eM.tokenizer, s2e, e2s, trS, trE, dispose };
}

async function jobCycle(twin: Twin, data: Data): Promise<Row> {
  const { cycW: W, cycN: Nn } = SIZE;
  const B = 16;
  const { cfg, s2e, e2s, trS, trE, dispose } = await cycleModels(twin, true);
  T.manualSeed(cfg.seed);
  // S: sentences; Q: entity sequences of other sentences (unpaired, as in the cycles), non-empty as a Q set is.
  const pool = sampleSentences(data.train, 4000, 7);
  const S = pool.slice(0, B * (W + Nn)).map((s) => s.text);
  const Q = pairsFromSentences(pool.slice(B * (W + Nn)), data.verbalizer)
    .map((p) => p.sequence)
    .filter((q) => q !== '')
    .slice(0, B * (W + Nn));
  const types = typesOf(Q);
  const parts: CycleStepParts = {
    cfg,
    s2eGenerate: cycleS2EGenerate(s2e, cfg.s2eDecode, types, {
      grounded: cfg.grounded,
      allowEmpty: cfg.cycleAllowEmpty,
    }),
    e2s,
    learn: (which, sources, targets) =>
      which === 's2e' ? trainStep(s2e, trS, sources, targets) : trainStep(e2s, trE, sources, targets),
  };
  const row: Row = { job: 'cycle (S- and E-cycle)', unit: `step b${B}`, rate: null, samples: [] };
  try {
    for (let k = 0; k < W + Nn; k++) {
      const sb = S.slice(k * B, (k + 1) * B);
      const qb = Q.slice(k * B, (k + 1) * B);
      // Ours first (trainCycle's step itself, cycle/step.ts): the twin then decodes as many steps and trains on the
      // same pairs (the default config: no E-cycle filter, self-training or silver pairs, so S′ → Q is the S2E batch).
      const since = mark();
      const t0 = now();
      const step = () => cycleStep(parts, sb, qb, k);
      const { qPrime, sPrime } = await (k >= W ? unit('cycle', step) : step());
      const t = now() - t0;
      const seen = since();
      const [srcS, srcQ, exE, exS] = await Promise.all([
        s2e.encodeSources(sb),
        e2s.encodeSources(qb),
        e2s.examples(qPrime, sb),
        s2e.examples(sPrime, qb),
      ]);
      const tw = await twin.call<TwinRun>({
        op: 'run',
        ops: [
          ...genOps('s2e', [srcS], seen.gens.slice(0, 1)),
          { op: 'train', name: 'e2s', groups: groupsOf(trE, exE), lr: cfg.lrE2S, clip: cfg.maxGradNorm },
          ...genOps('e2s', [srcQ], seen.gens.slice(1)),
          { op: 'train', name: 's2e', groups: groupsOf(trS, exS), lr: cfg.lrS2E, clip: cfg.maxGradNorm },
        ],
      });
      if (k >= W) row.samples.push({ ours: t, twin: tw.times.reduce((a, b) => a + b, 0), work: B, flops: seen.flops });
      if (k === W)
        note(
          `cycle: decoder steps S2E ${seen.gens[0]!.steps} (grounded, max ${cfg.s2eDecode.maxNewTokens}), E2S ${seen.gens[1]!.steps} (no-repeat ${cfg.e2sDecode.noRepeatNgramSize}-grams, max ${cfg.e2sDecode.maxNewTokens}); e.g. Q' "${qPrime[0]}"`,
        );
    }
  } finally {
    dispose();
  }
  return row;
}

// ---------------------------------------------------------------- job 4: one evaluation (trainCycle's, cycle/evaluate.ts)

async function jobEval(twin: Twin, data: Data): Promise<Row> {
  const items = data.dev.sentences.filter((s) => s.entities.length > 0).slice(0, SIZE.evalItems);
  const devS = items.map((s) => s.text);
  const devQ = pairsFromSentences(items, data.verbalizer).map((p) => p.sequence);
  const devGold: LabeledCorpus = { ...data.dev, sentences: items };
  const types = data.verbalizer.words().sort();
  const { cfg, s2e, e2s, trS, trE, dispose } = await cycleModels(twin, false);
  const eb = cfg.evalBatchSize;
  const s2eGen = cycleS2EGenerate(s2e, cfg.s2eDecode, types, {
    grounded: cfg.grounded,
    allowEmpty: cfg.cycleAllowEmpty,
  });
  const devDecode = { ...cfg.e2sDecode, doSample: false }; // the evaluation's E2S decoding is greedy
  const row: Row = { job: 'eval (cycleEvaluator)', unit: `${items.length} dev items`, rate: null, samples: [] };
  try {
    for (let r = 0; r < SIZE.evalR; r++) {
      const since = mark();
      const t0 = now();
      if (profiler) profiler.begin('eval');
      // As cycleEvaluator, with its batching: the S-cycle's grounded generation in length-sorted batches
      // (inLengthBatches) + E2S dev loss, the E-cycle's greedy generation as one refilled stream of rows (generateAll)
      // + S2E dev loss, 3 sample triplets, dev F1.
      const qPrime = await inLengthBatches(devS, eb, async (b) => (await s2eGen(b)).texts);
      const devSLoss = (await evalLoss(e2s, trE, qPrime, devS, eb)).loss;
      const sPrime = await generateAll(e2s, devQ, devDecode, eb);
      const devELoss = (await evalLoss(s2e, trS, sPrime, devQ, eb)).loss;
      const k = Math.min(cfg.samples, devS.length);
      await e2s.generate(qPrime.slice(0, k), devDecode);
      await s2eGen(sPrime.slice(0, k));
      collapseStats(qPrime);
      const seqs = await predictSequences(
        s2e,
        devGold.sentences.map((s) => s.text),
        { grounded: cfg.groundedEval, types, batchSize: eb, decode: cfg.evalDecode },
      );
      const f1 = evaluate(
        compareSequences(devGold, devGold.file, seqs, verbalizerForTypes(types, data.verbalizer.toJSON())).sentences,
      ).exact.micro.f1;
      const t = now() - t0;
      if (profiler) {
        await profiler.end();
        profUnits.set('eval', (profUnits.get('eval') ?? 0) + 1);
      }
      const seen = since();
      const gens = seen.gens;
      // evalLoss's batches (lossBatches), each split as the trainer's evaluate() splits it.
      const lossGroups = async (d: Direction, tr: Seq2SeqTrainer, src: string[], tgt: string[]) =>
        (
          await Promise.all(
            lossBatches(src, tgt, eb).map(async (idx) =>
              groupsOf(
                tr,
                await d.examples(
                  idx.map((i) => src[i]!),
                  idx.map((i) => tgt[i]!),
                ),
              ),
            ),
          )
        ).flat();
      // Both generations' batches in their order (lengthBatches), as the twin replays them.
      const enc = async (d: Direction, xs: string[]) =>
        Promise.all(lengthBatches(xs, eb).map((idx) => d.encodeSources(idx.map((i) => xs[i]!))));
      const srcS = await enc(s2e, devS);
      const srcQ = await enc(e2s, devQ);
      // predictSequences' batches, in its order (lengthBatches), as the predict job replays them.
      const goldTexts = devGold.sentences.map((s) => s.text);
      const srcGold = await Promise.all(
        lengthBatches(goldTexts, eb).map((idx) => s2e.encodeSources(idx.map((k) => goldTexts[k]!))),
      );
      const nS = srcS.length;
      const nQ = srcQ.length;
      const ops: Json[] = [
        ...genOps('s2e', srcS, gens.slice(0, nS)),
        { op: 'loss', name: 'e2s', groups: await lossGroups(e2s, trE, qPrime, devS) },
        ...genOps('e2s', srcQ, gens.slice(nS, nS + nQ)),
        { op: 'loss', name: 's2e', groups: await lossGroups(s2e, trS, sPrime, devQ) },
        ...genOps('e2s', [await e2s.encodeSources(qPrime.slice(0, k))], gens.slice(nS + nQ, nS + nQ + 1)),
        ...genOps('s2e', [await s2e.encodeSources(sPrime.slice(0, k))], gens.slice(nS + nQ + 1, nS + nQ + 2)),
        ...genOps('s2e', srcGold, gens.slice(nS + nQ + 2)),
      ];
      const tw = await twin.call<TwinRun>({ op: 'run', ops });
      row.samples.push({ ours: t, twin: tw.times.reduce((a, b) => a + b, 0), work: 1, flops: seen.flops });
      if (r === 0) {
        note(
          `eval: dev losses ours / twin on the same pairs: E2S ${devSLoss.toFixed(4)} / ${tw.results[nS]!.toFixed(4)}, S2E ${devELoss.toFixed(4)} / ${tw.results[nS + 1 + nQ]!.toFixed(4)}; ` +
            `dev F1 (ours, grounded) ${f1.toFixed(3)}; ${gens.length} generations, ${gens.reduce((a, g) => a + g.steps, 0)} decoder steps`,
        );
      }
    }
  } finally {
    dispose();
  }
  return row;
}

// ---------------------------------------------------------------- job 5: prediction throughput

async function jobPredict(twin: Twin, data: Data): Promise<Row> {
  const cfg = DEFAULT_CONFIG;
  const B = 64;
  const texts = data.devTexts(SIZE.predSents);
  const types = data.verbalizer.words().sort();
  const m = loadForInference(modelDir, precision); // as predict and serve load it
  const s2e = new Direction(
    m.model,
    m.tokenizer,
    DEFAULT_S2E_PREFIX,
    { maxSourceTokens: cfg.maxSourceTokens, maxTargetTokens: cfg.maxTargetTokens },
    precision,
  );
  await twin.call({ op: 'load', name: 'pred', dropout: 0, lr: 0, betas: [0.9, 0.999], wd: 0 });
  // The twin decodes the batches ours does, in the same order (lengthBatches, as predictSequences makes them).
  const src = await Promise.all(lengthBatches(texts, B).map((idx) => s2e.encodeSources(idx.map((k) => texts[k]!))));
  const row: Row = { job: 'predict (grounded S2E)', unit: `${texts.length} sents b${B}`, rate: 'sent/s', samples: [] };
  try {
    for (let r = 0; r < SIZE.predR; r++) {
      const since = mark();
      const t0 = now();
      await unit('predict', () =>
        predictSequences(s2e, texts, { grounded: true, types, batchSize: B, decode: cfg.evalDecode }),
      );
      const t = now() - t0;
      const seen = since();
      const tw = await twin.call<TwinRun>({ op: 'run', ops: genOps('pred', src, seen.gens) });
      row.samples.push({ ours: t, twin: tw.times.reduce((a, b) => a + b, 0), work: texts.length, flops: seen.flops });
      if (r === 0)
        note(
          `predict: ${seen.gens.length} batches, decoder steps ${seen.gens.map((g) => g.steps).join(',')} (max ${cfg.evalDecode.maxNewTokens})`,
        );
    }
  } finally {
    m.model.dispose();
  }
  return row;
}

// ---------------------------------------------------------------- main

/** What a child process runs: one row of the table (pretraining has two: the default mixture and span-only). */
const UNITS = ['pretrain-mixture', 'pretrain-span', 'supervised', 'cycle', 'eval', 'predict'] as const;
type Unit = (typeof UNITS)[number];
const unitsOf = (j: Job): Unit[] => (j === 'pretrain' ? ['pretrain-mixture', 'pretrain-span'] : [j]);
const childUnit = argv.includes('--child') ? (flag('child', '') as Unit) : null;
if (childUnit !== null && !UNITS.includes(childUnit)) throw new Error(`--child: unknown unit "${childUnit}"`);
/** --one-process (and --profile): every job in this process and one twin, as before; no memory columns. */
const oneProcess = profiler !== null || argv.includes('--one-process');
/** A child's last stdout line: its row and notes. */
const RESULT = '@@cyclener-bench-jobs-result ';

async function runUnit(u: Unit, twin: Twin, data: Data | null): Promise<Row | null> {
  if (u === 'pretrain-mixture') return jobPretrain(twin, 'pretrain mixture', PRETRAIN_DEFAULTS.mixture);
  if (u === 'pretrain-span') return jobPretrain(twin, 'pretrain span-only', 'span=1');
  if (u === 'supervised') return jobSupervised(twin, data!);
  if (u === 'cycle') return jobCycle(twin, data!);
  if (u === 'eval') return jobEval(twin, data!);
  return jobPredict(twin, data!);
}

function setUp(): void {
  T.setNumThreads(threads);
  // The library's thread governor may run fewer threads while other processes hold cores; the twin keeps `threads`.
  T.onThreadChange((n, wanted) =>
    note(`thread governor: ours now runs ${n} of ${wanted} threads (other processes busy)`),
  );
  installCounters();
}

/** The matmul peaks of both sides (before the jobs, in the process that prints the table). */
async function measurePeak(twin: Twin): Promise<void> {
  peak = { fp32: peakGflops('float32'), bf16: peakGflops('bfloat16') };
  const tp = await twin.call<{ fp32: number; bf16: number }>({ op: 'peak' });
  console.log(
    `peak 1024^3 matmul GFLOP/s: ours fp32 ${peak.fp32.toFixed(1)} bf16 ${peak.bf16.toFixed(1)}; pytorch ${twin.torch} fp32 ${tp.fp32.toFixed(1)} bf16 ${tp.bf16.toFixed(1)}`,
  );
}

/**
 * A child (--child UNIT): one job, its own twin; its memory and the twin's at the start (runtime loaded) and at the
 * end (peak RSS over the job: data, model loads, optimizer state, activations, allocator caches).
 */
async function childMain(u: Unit): Promise<void> {
  setUp();
  peak = JSON.parse(flag('peak', '{}')) as typeof peak;
  const oursStart = procMem();
  const twin = noTwin ? stubTwin() : await startTwin();
  try {
    const data = u.startsWith('pretrain') ? null : loadData();
    // The data the job reads (CoNLL dev, and train for the training jobs; predict only its 500 sentences, inside the
    // job), before it starts: the '+ data' column.
    if (data && u !== 'predict') void data.dev.sentences.length;
    if (data && (u === 'supervised' || u === 'cycle')) void data.train.length;
    const oursData = procMem();
    const row = await runUnit(u, twin, data);
    const ours = procMem();
    const tw = noTwin ? NO_MEM : await twin.call<Mem>({ op: 'mem' });
    if (row)
      row.mem = {
        ours,
        oursStart,
        oursData,
        twin: tw,
        twinStart: twin.start,
        jsHeap: process.memoryUsage().heapTotal / 2 ** 20,
      };
    process.stdout.write(`${RESULT}${JSON.stringify({ row, notes })}\n`);
  } finally {
    twin.close();
  }
}

/** Runs one unit in a child process (stdout passed through), for its peak RSS to be its own. */
async function runChild(u: Unit): Promise<{ row: Row | null; notes: string[] }> {
  const child = spawn(
    process.execPath,
    // The predict job runs under the node flags `cyclener predict` gets (bin/cyclener).
    [
      ...process.execArgv,
      ...(u === 'predict' ? (CLI_NODE_FLAGS.predict ?? []) : []),
      process.argv[1]!,
      ...argv,
      '--child',
      u,
      '--peak',
      JSON.stringify(peak),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let result: { row: Row | null; notes: string[] } | null = null;
  for await (const l of readline.createInterface({ input: child.stdout! })) {
    const line = l as string;
    if (line.startsWith(RESULT)) result = JSON.parse(line.slice(RESULT.length)) as typeof result;
    else console.log(line);
  }
  const code = child.exitCode ?? (await new Promise<number | null>((res) => child.on('exit', (c) => res(c))));
  if (code !== 0 || !result) throw new Error(`bench:jobs: the ${u} job's process failed (exit ${code})`);
  return result;
}

function printMemTable(rows: Row[]): void {
  const head = [
    'job',
    'ours: runtime',
    '+ data',
    'ours: peak',
    'end anon/file',
    'JS heap',
    'twin: runtime',
    'twin: peak',
    'end anon/file',
    'twin/ours',
  ];
  const w = [28, 14, 9, 11, 14, 8, 14, 11, 14, 10];
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' ');
  const mib = (x: number) => memCell(x, 0, ' MiB');
  console.log(
    '\nmemory (each job in its own process, its twin in another; runtime = RSS once Node + libtorch + the library / Python + torch are loaded;\n' +
      "+ data = ours once the job's input is read (CoNLL dev; train too for supervised and cycle; the twin gets token ids); end = RSS at the end)\n" +
      line(head),
  );
  for (const r of rows) {
    const m = r.mem;
    if (!m) continue;
    console.log(
      line([
        r.job,
        mib(m.oursStart.rss),
        mib(m.oursData.rss),
        mib(m.ours.hwm),
        `${memCell(m.ours.anon, 0)}/${memCell(m.ours.file, 0)}`,
        mib(m.jsHeap),
        mib(m.twinStart.rss),
        mib(m.twin.hwm),
        `${memCell(m.twin.anon, 0)}/${memCell(m.twin.file, 0)}`,
        memCell(m.twin.hwm === null ? null : m.twin.hwm / m.ours.hwm, 2),
      ]),
    );
  }
}

async function main(): Promise<void> {
  if (reexecWithCliAllocator()) return;
  if (childUnit !== null) return childMain(childUnit);
  setUp();
  const tStart = now();
  console.log(
    `cyclener jobs on ${path.relative(ROOT, modelDir) || modelDir}: ${threads} thread(s), ${precision}${quick ? ', quick' : ''}, ${T.allocator()} malloc, OpenMP wait ${process.env.OMP_WAIT_POLICY ?? 'libgomp default'}; load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}${oneProcess ? '' : '; each job in its own process'}`,
  );
  const twin = noTwin ? stubTwin() : await startTwin();
  try {
    await measurePeak(twin);
    if (!oneProcess) twin.close();
    const data = oneProcess && jobs.some((j) => j !== 'pretrain') ? loadData() : null;
    if (data) console.log(`data: ${data.source}`);
    const rows: Row[] = [];
    for (const j of jobs) {
      const t0 = now();
      console.log(`- ${j} ...`);
      for (const u of unitsOf(j)) {
        if (oneProcess) {
          const r = await runUnit(u, twin, data);
          if (r) rows.push(r);
        } else {
          const res = await runChild(u);
          notes.push(...res.notes);
          if (res.row) rows.push(res.row);
        }
      }
      console.log(`  (${(now() - t0).toFixed(0)} s)`);
    }
    printTable(rows);
    if (rows.some((r) => r.mem)) printMemTable(rows);
    if (profiler) {
      console.log(`\nwhere the time goes (per unit; --profile: profiled wall times, so slower than the table above)\n`);
      console.log(profiler.table(profUnits));
      const dump = argv.indexOf('--profile-dump');
      if (dump >= 0) fs.writeFileSync(argv[dump + 1]!, JSON.stringify(Object.fromEntries(profiler.raw)));
      for (const j of profiler.jobs.keys())
        console.log(`\n${j}: ops with the most self time per unit: ${profiler.top(j, 14, profUnits.get(j) ?? 1)}`);
    }
    console.log(
      [
        '',
        `ratio = our throughput / the twin's (>= 1: ours faster); medians over the timed ${quick ? 'steps/runs (few: --quick)' : 'steps/runs'}, the two sides interleaved.`,
        `bound = the job's matmul FLOPs (2mnk over the matmuls ours executed: padded shapes, LM head, x3 in training) at the peak rate above; % of bound = bound at ${precision} / our time.`,
        'Ours is the library doing the job (tokenization, data building, grounding included); the twin is HF-style PyTorch eager on token ids from our side:',
        '  pretrain: the exact batches pretrain() drew, as the same length-grouped micro-batches, AdamW 0.9/0.98 wd 0.01, clip 1, same lr and weights;',
        '  cycle/eval/predict: plain greedy, NO grounding constraint and NO n-gram blocking, every row decoded for as many steps as our batch took',
        '  (ours drops finished rows), training and scoring on the pairs ours did; full-vocabulary LM head in its training loss.',
        ...(rows.some((r) => r.mem)
          ? [
              "peak RSS = VmHWM of the job's own process at its end (twin/ours >= 1: ours smaller): the runtime (Node + libtorch + the library;",
              '  Python + torch), the model loads, data (ours reads CoNLL / draws the pretraining batches; the twin gets token ids), optimizer state,',
              '  activations and what the allocator (tcmalloc for both unless CYCLENER_ALLOCATOR=system) keeps. Not timing-sensitive.',
            ]
          : []),
        '',
        'notes:',
        ...notes.map((n) => `  ${n}`),
        `total ${(now() - tStart).toFixed(0)} s`,
      ].join('\n'),
    );
  } finally {
    twin.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
