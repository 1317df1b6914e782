// Benchmark (not a test) of data parallelism on this machine: the same jobs as 1 process × 1 thread, 1 process × all
// cores and N processes × cores/N threads (`--nproc N`, c10d/Gloo over loopback; on 2 cores: 1 × 1, 1 × 2, 2 × 1), in
// one invocation, with ratios to the 1 × 1 row, plus the cost of the gradient all-reduce itself against PyTorch's own
// torch.distributed (Gloo) moving the same bytes. Jobs are the real commands (separate processes, as a user runs them):
//   pretrain   `cyclener pretrain --init MODEL` (default mixture, batch 32, bf16): tokens/s over the logged windows
//   cycle      `cyclener train` (batch 16, grounded cycles, no evaluation): CycleNER steps/s
// Rates skip the first logged window (start-up, first-touch allocations). Configurations alternate round by round
// (--rounds), so a load from other processes hits all of them alike; the figures are medians over rounds.
// Usage: npm run bench:dist -- [--quick] [--rounds N] [--model DIR] [--corpus FILE[.xz]] [--conll DIR]
//        [--steps N] [--cycle-steps N] [--json FILE]

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLabeled } from '../src/data/readers';
import { defaultVerbalizer } from '../src/data/verbalizer';
import { pairsFromSentences } from '../src/supervised/supervised';
import { readModelWeights } from '../src/t5/safetensors';

const ROOT = path.join(__dirname, '..', '..');
const MAIN = path.join(__dirname, '..', 'src', 'cli', 'main.js');
const TENSOR = path.join(__dirname, '..', 'src', 'tensor', 'index.js');

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : fallback;
}
const quick = process.argv.includes('--quick');
const model = flag('model', path.join(ROOT, 'models', 'base-news-11m'));
const corpusArg = flag('corpus', path.join(ROOT, '..', 'shared', 'corpora', 'news.txt.xz'));
const conll = flag('conll', path.join(ROOT, '..', 'shared', 'data', 'conll2003'));
const steps = Number(flag('steps', quick ? '12' : '40'));
const cycleSteps = Number(flag('cycle-steps', quick ? '8' : '24'));
const rounds = Number(flag('rounds', quick ? '1' : '2'));
const jsonOut = flag('json', '');

interface Config {
  name: string;
  nproc: number;
  threads: number;
}
/** 1 process × 1 thread (the baseline), 1 × all cores, and N × cores/N for N = 2, 4, 8, ... up to the cores. */
function configs(cores: number): Config[] {
  const name = (n: number, t: number) => `${n} process${n > 1 ? 'es' : ''} x ${t} thread${t > 1 ? 's' : ''}`;
  const out: Config[] = [{ name: name(1, 1), nproc: 1, threads: 1 }];
  if (cores > 1) out.push({ name: name(1, cores), nproc: 1, threads: cores });
  for (let n = 2; n <= cores; n *= 2)
    out.push({ name: name(n, Math.floor(cores / n)), nproc: n, threads: Math.floor(cores / n) });
  return out;
}
const CONFIGS = configs(os.availableParallelism());

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cy-bench-dist-'));

function cli(args: string[], c: Config): void {
  const r = spawnSync(process.execPath, [MAIN, ...args, ...(c.nproc > 1 ? ['--nproc', String(c.nproc)] : [])], {
    env: { ...process.env, CYCLENER_THREADS: String(c.threads) },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`cyclener ${args[0]} (${c.name}) failed:\n${r.stderr.slice(-2000)}`);
}

const jsonl = (f: string) =>
  fs
    .readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, number | null | string>);

/** A corpus for pretraining: the given file, or 3,000 lines of the CoNLL training text, or a synthetic one. */
function corpus(): string {
  if (fs.existsSync(corpusArg)) return corpusArg;
  const f = path.join(work, 'corpus.txt');
  const lines: string[] = [];
  const train = path.join(conll, 'train.txt');
  if (fs.existsSync(train)) for (const s of readLabeled(train).sentences.slice(0, 3000)) lines.push(s.text);
  else for (let i = 0; i < 3000; i++) lines.push(`Document ${i} says that the city of Berlin met Paris on day ${i}.`);
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

/** S and Q files for the cycle job: CoNLL train sentences and the gold entity sequences of other sentences (GQ). */
function cycleData(): { S: string; Q: string } {
  const train = path.join(conll, 'train.txt');
  let S: string[];
  let Q: string[];
  if (fs.existsSync(train)) {
    const sents = readLabeled(train).sentences.filter((s) => s.entities.length > 0);
    const pairs = pairsFromSentences(sents.slice(0, 1024), defaultVerbalizer('conll2003'));
    S = pairs.slice(0, 512).map((p) => p.sentence);
    Q = pairs.slice(512).map((p) => p.sequence);
  } else {
    S = Array.from({ length: 512 }, (_, i) => `John Smith ${i} flew from Berlin to Paris with Acme Corp on Monday.`);
    Q = Array.from({ length: 512 }, () => 'John Smith <sep> person <sep> Berlin <sep> location');
  }
  const s = path.join(work, 'S.txt'),
    q = path.join(work, 'Q.txt');
  fs.writeFileSync(s, S.join('\n') + '\n');
  fs.writeFileSync(q, Q.join('\n') + '\n');
  return { S: s, Q: q };
}

function pretrainRate(c: Config, corpusFile: string, k: number): { tokensPerS: number; stepMs: number } {
  const out = path.join(work, `pretrain-${c.nproc}x${c.threads}-${k}`);
  cli(
    [
      'pretrain',
      '--init',
      model,
      '--corpus',
      corpusFile,
      '--out',
      out,
      '--steps',
      String(steps),
      '--lr-warmup-steps',
      '1',
    ].concat(['--log-every', String(Math.max(1, Math.floor(steps / 8))), '--eval-every', '100000']),
    c,
  );
  const recs = jsonl(path.join(out, 'metrics.jsonl')).filter((r) => r.type === 'step');
  const a = recs[0]!,
    b = recs[recs.length - 1]!;
  fs.rmSync(out, { recursive: true, force: true });
  const seconds = ((b.minutes as number) - (a.minutes as number)) * 60;
  return {
    tokensPerS: ((b.tokens as number) - (a.tokens as number)) / seconds,
    stepMs: (1000 * seconds) / ((b.step as number) - (a.step as number)),
  };
}

function cycleRate(c: Config, data: { S: string; Q: string }, k: number): number {
  const out = path.join(work, `cycle-${c.nproc}x${c.threads}-${k}`);
  cli(
    ['train', '--base-model', model, '--sentences', data.S, '--entities', data.Q, '--out', out, '--batch', '16'].concat(
      ['--max-steps', String(cycleSteps)],
    ),
    c,
  );
  const recs = jsonl(path.join(out, 'metrics.jsonl')).filter((r) => r.type === 'step');
  const skip = Math.min(2, recs.length - 2);
  const a = recs[skip]!,
    b = recs[recs.length - 1]!;
  fs.rmSync(out, { recursive: true, force: true });
  return ((b.step as number) - (a.step as number)) / ((b.elapsed as number) - (a.elapsed as number));
}

/** Milliseconds per all-reduce of `floats` float32 values between 2 local processes: ours, then PyTorch's. */
async function allReduceMs(floats: number): Promise<{ ours: number; torch: number | null }> {
  const reps = quick ? 5 : 10;
  const ours = `
const T = require(${JSON.stringify(TENSOR)});
(async () => {
  await T.dist.init();
  const g = T.ones([${floats}]);
  for (let i = 0; i < 3; i++) await T.dist.allReduce([g]);
  await T.dist.barrier();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ${reps}; i++) await T.dist.allReduce([g]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / ${reps};
  if (T.dist.rank() === 0) console.log(ms);
  await T.dist.barrier();
})();`;
  const py = `
import os, time, torch, torch.distributed as dist
torch.set_num_threads(1)
dist.init_process_group('gloo')
g = torch.ones(${floats})
for _ in range(3): dist.all_reduce(g)
dist.barrier()
t0 = time.perf_counter()
for _ in range(${reps}): dist.all_reduce(g)
ms = (time.perf_counter() - t0) * 1000 / ${reps}
if dist.get_rank() == 0: print(ms)
dist.barrier()`;
  const pair = async (cmd: string, args: string[]): Promise<number | null> => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const outs = await Promise.all(
      [0, 1].map(
        (r) =>
          new Promise<{ code: number; out: string; err: string }>((resolve) => {
            const child = spawn(cmd, args, {
              env: {
                ...process.env,
                RANK: String(r),
                WORLD_SIZE: '2',
                MASTER_ADDR: '127.0.0.1',
                MASTER_PORT: String(port),
                CYCLENER_THREADS: '1',
                GLOO_SOCKET_IFNAME: 'lo',
              },
            });
            let out = '',
              err = '';
            child.stdout.on('data', (b: Buffer) => (out += b.toString()));
            child.stderr.on('data', (b: Buffer) => (err += b.toString()));
            child.on('exit', (code) => resolve({ code: code ?? 1, out, err }));
          }),
      ),
    );
    if (outs.some((o) => o.code !== 0)) {
      process.stderr.write(`${cmd}: ${outs.map((o) => o.err.slice(-400)).join('\n')}\n`);
      return null;
    }
    return Number(outs[0]!.out.trim());
  };
  const o = await pair(process.execPath, ['-e', ours]);
  if (o === null) throw new Error('all-reduce benchmark failed');
  return { ours: o, torch: await pair(process.env.CYCLENER_PYTHON ?? '/usr/bin/python3', ['-c', py]) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const cores = os.availableParallelism();
  const corpusFile = corpus();
  const data = cycleData();
  const w = readModelWeights(model);
  const params = [...w.tensors.values()].reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  console.log(
    `bench:dist — ${cores} logical cores, model ${path.relative(process.cwd(), model)} (${(params / 1e6).toFixed(1)}M parameters), pretrain ${steps} steps x batch 32 on ${path.basename(corpusFile)}, cycle ${cycleSteps} steps x batch 16, ${rounds} round(s)`,
  );
  const rates = new Map<string, { pre: number[]; stepMs: number[]; cyc: number[] }>(
    CONFIGS.map((c) => [c.name, { pre: [], stepMs: [], cyc: [] }]),
  );
  for (let k = 0; k < rounds; k++) {
    for (const c of CONFIGS) {
      const r = rates.get(c.name)!;
      const p = pretrainRate(c, corpusFile, k);
      r.pre.push(p.tokensPerS);
      r.stepMs.push(p.stepMs);
      process.stderr.write(`  round ${k + 1} ${c.name}: pretrain ${Math.round(r.pre[r.pre.length - 1]!)} tok/s\n`);
    }
    for (const c of CONFIGS) {
      const r = rates.get(c.name)!;
      r.cyc.push(cycleRate(c, data, k));
      process.stderr.write(`  round ${k + 1} ${c.name}: cycle ${r.cyc[r.cyc.length - 1]!.toFixed(3)} steps/s\n`);
    }
  }
  const base = rates.get(CONFIGS[0]!.name)!;
  const bp = median(base.pre),
    bc = median(base.cyc);
  console.log('');
  console.log('| configuration | pretrain tokens/s | vs 1 x 1 | cycle steps/s | vs 1 x 1 |');
  console.log('|---|---:|---:|---:|---:|');
  const table: Record<string, { pretrainTokensPerS: number; cycleStepsPerS: number }> = {};
  for (const c of CONFIGS) {
    const r = rates.get(c.name)!;
    const p = median(r.pre),
      y = median(r.cyc);
    table[c.name] = { pretrainTokensPerS: p, cycleStepsPerS: y };
    console.log(
      `| ${c.name} | ${Math.round(p)} | ${(p / bp).toFixed(2)}x | ${y.toFixed(3)} | ${(y / bc).toFixed(2)}x |`,
    );
  }
  const bytes = params * 4;
  const ar = await allReduceMs(params);
  const busGBs = (ms: number) => (bytes / 1e9 / (ms / 1000)).toFixed(2);
  const two = CONFIGS.find((c) => c.nproc === 2);
  const stepMs = two ? median(rates.get(two.name)!.stepMs) : NaN;
  console.log('');
  console.log(
    `gradient all-reduce, 2 processes on loopback, ${(bytes / 1e6).toFixed(1)} MB (fp32 gradients of ${(params / 1e6).toFixed(1)}M parameters):`,
  );
  console.log(`  cyclener (c10d Gloo, 25 MB buckets): ${ar.ours.toFixed(1)} ms per step (${busGBs(ar.ours)} GB/s)`);
  if (ar.torch !== null)
    console.log(
      `  PyTorch torch.distributed (Gloo, one tensor): ${ar.torch.toFixed(1)} ms (${busGBs(ar.torch)} GB/s); ratio ${(ar.torch / ar.ours).toFixed(2)} (>= 1: ours is faster)`,
    );
  if (two)
    console.log(
      `  = ${((100 * ar.ours) / stepMs).toFixed(0)}% of a ${two.name} pretraining step (${Math.round(stepMs)} ms, all-reduce included)`,
    );
  if (jsonOut)
    fs.writeFileSync(
      jsonOut,
      JSON.stringify({ cores, params, steps, cycleSteps, rounds, table, allReduce: { bytes, ...ar } }, null, 1) + '\n',
    );
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  fs.rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
