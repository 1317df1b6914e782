// Benchmark (not a test) of `cyclener serve` under load on loopback: autocannon posts one-sentence requests from
// `--connections` connections for `--seconds` per setting, against the real CLI in a child process, with dynamic
// batching on (the defaults: --max-batch 32 --max-wait-ms 10) and off (--max-batch 1 --max-wait-ms 0), and ours with
// continuous batching (--continuous-rows 64).
// Per setting: requests/s, p50/p99 latency, errors (non-2xx + socket errors; must be 0 below the queue limit),
// the server's RSS once it listens (model loaded), before and after the load, and its peak RSS (VmHWM) at the end;
// then the ratio batching on / off.
// The PyTorch twin (bench/serve_twin.py, --no-twin skips it) serves the same model the same way under the same load:
// the T5 of bench/jobs_twin.py (plain PyTorch eager, torch.autocast at our precision) behind the standard library's
// ThreadingHTTPServer, the same dynamic batching (--max-batch / --max-wait-ms), plain greedy decoding (no grounding)
// up to our model's maxNewTokens, a unigram Viterbi tokenizer on tokenizer.json; same threads, same allocator.
// The model: the shipped base (models/base-news-11m) has no entity types, so grounded prediction refuses it; it is
// first fine-tuned for `--steps` supervised steps on test/fixtures/conll-mini.txt (5 sentences) into a temp
// directory. That model is barely trained: the figures are the server's cost with a real 11M T5, not a tagger's.
// `--steps 0` serves `--model` as it is (a trained tagger: an S2E folder that records its entity types).
// Usage: npm run bench:serve -- [--seconds 10] [--connections 8] [--steps 30] [--threads N] [--model DIR] [--no-twin]
//        [--texts FILE]   (the requests' sentences, one per line; default the 5 fixture sentences)

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { readLabeled, trainSupervised } from '../src';

const ROOT = path.resolve(__dirname, '..', '..'); // dist/bench -> repository root
const argv = process.argv.slice(2);
function flag(name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
}
const seconds = Number(flag('seconds', '10'));
const connections = Number(flag('connections', '8'));
const steps = Number(flag('steps', '30'));
if (!(Number.isInteger(steps) && steps >= 0)) throw new Error(`--steps: a whole number >= 0, got ${flag('steps', '')}`);
const threads = flag('threads', process.env.CYCLENER_THREADS ?? '1');
const TYPE_WORDS: Record<string, string> = {
  PER: 'person',
  LOC: 'location',
  ORG: 'organization',
  MISC: 'miscellaneous',
};

interface Setting {
  name: string;
  args: string[];
  twin?: boolean;
}
const SETTINGS: Setting[] = [
  { name: 'batching on', args: ['--max-batch', '32', '--max-wait-ms', '10'] },
  { name: 'batching off', args: ['--max-batch', '1', '--max-wait-ms', '0'] },
];
/** Ours only (the twin has no such mode): continuous batching. */
const CONTINUOUS: Setting[] = [{ name: 'continuous 64 rows', args: ['--continuous-rows', '64'] }];

/** VmRSS (or VmHWM: the peak RSS so far) of a process, in MiB. */
function rssMiB(pid: number, key: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const TCMALLOC = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64']
  .map((d) => `${d}/libtcmalloc_minimal.so.4`)
  .find((f) => fs.existsSync(f));

/** What the twin needs from our server's GET /v1/model. */
interface ModelInfo {
  prefix: string;
  decode: { maxNewTokens: number; precision: string };
}

async function startServe(
  model: string,
  s: Setting,
  info: ModelInfo | null,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const bin = path.join(ROOT, 'bin', 'cyclener');
  // The twin takes the same batching flags, as positional arguments, and runs under our allocator (bin/cyclener's).
  const flagOf = (f: string) => s.args[s.args.indexOf(f) + 1]!;
  const alloc = process.env.CYCLENER_ALLOCATOR ?? 'tcmalloc';
  const child = s.twin
    ? spawn(
        process.env.CYCLENER_PYTHON ?? '/usr/bin/python3',
        [
          path.join(ROOT, 'bench', 'serve_twin.py'),
          model,
          threads,
          info!.decode.precision,
          info!.prefix,
          String(info!.decode.maxNewTokens),
          flagOf('--max-batch'),
          flagOf('--max-wait-ms'),
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env,
            OMP_NUM_THREADS: threads,
            ...(alloc === 'tcmalloc' && TCMALLOC ? { LD_PRELOAD: TCMALLOC } : {}),
          },
        },
      )
    : spawn(bin, ['serve', '--model', model, '--port', '0', '--threads', threads, ...s.args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 3000 && !/ on (http:\S+)/.test(out); i++) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${err}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const url = / on (http:\S+)/.exec(out)?.[1];
  if (!url) throw new Error(`serve printed no URL: ${out} ${err}`);
  return { child, url, stderr: () => err };
}

async function load(url: string, texts: string[], duration: number): Promise<autocannon.Result> {
  let i = 0;
  return autocannon({
    url: `${url}/v1/entities`,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ texts: [texts[i++ % texts.length]] }) }),
      },
    ],
  });
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-bench-serve-'));
  try {
    const corpus = readLabeled(path.join(ROOT, 'test', 'fixtures', 'conll-mini.txt'));
    // --texts FILE: the requests' sentences (one per line; e.g. a dev split's texts, of uneven lengths), else the fixture's.
    const textsFile = flag('texts', '');
    const texts = textsFile
      ? fs
          .readFileSync(textsFile, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
      : corpus.sentences.map((s) => s.text);
    const base = flag('model', path.join(ROOT, 'models', 'base-news-11m'));
    const tuned = steps > 0 ? path.join(tmp, 'tuned') : base;
    const t0 = Date.now();
    if (steps > 0)
      await trainSupervised({
        pairs: corpus.sentences.map((s) => ({
          sentence: s.text,
          entities: s.entities.map((e) => ({ surface: e.surface, type: TYPE_WORDS[e.label] ?? e.label.toLowerCase() })),
        })),
        baseModel: base,
        out: tuned,
        steps,
        batchSize: corpus.sentences.length,
        lr: 1e-3,
        verbalizer: TYPE_WORDS,
        types: Object.values(TYPE_WORDS),
      });
    const tuning =
      steps > 0
        ? ` fine-tuned ${steps} steps on conll-mini (${corpus.sentences.length} sentences) in ${((Date.now() - t0) / 1000).toFixed(1)} s`
        : ' as it is';
    console.log(
      `model: ${path.relative(ROOT, base)}${tuning}; requests: 1 sentence each (${texts.length} rotating${textsFile ? `, from ${textsFile}` : ''})`,
    );
    console.log(
      `load: autocannon, ${connections} connections, ${seconds} s per setting (after a 2 s warm-up); threads ${threads}; ` +
        `${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(2)}`,
    );
    const rows: { name: string; rps: number; peak: number }[] = [];
    console.log(
      `\n${'setting'.padEnd(30)}${'req/s'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}` +
        `${'RSS ready'.padStart(11)}${'RSS before'.padStart(12)}${'RSS after'.padStart(11)}${'peak RSS'.padStart(10)}${'texts/batch'.padStart(13)}`,
    );
    let info: ModelInfo | null = null;
    const settings = argv.includes('--no-twin')
      ? [...SETTINGS, ...CONTINUOUS]
      : [...SETTINGS, ...SETTINGS.map((s) => ({ ...s, name: `pytorch twin, ${s.name}`, twin: true })), ...CONTINUOUS];
    for (const s of settings) {
      const { child, url, stderr } = await startServe(tuned, s, info);
      try {
        info ??= (await (await fetch(`${url}/v1/model`)).json()) as ModelInfo;
        const ready = rssMiB(child.pid!);
        await load(url, texts, 2);
        const before = rssMiB(child.pid!);
        const r = await load(url, texts, seconds);
        const after = rssMiB(child.pid!);
        const peak = rssMiB(child.pid!, 'VmHWM');
        const errors = r.errors + r.timeouts + r.non2xx;
        const exited = new Promise<void>((res) => child.on('exit', () => res()));
        child.kill('SIGTERM');
        await exited;
        // "stopped: R requests, T texts in B batches" (warm-up included): the mean batch the model saw.
        const m = /stopped: (\d+) requests, (\d+) texts in (\d+) batches/.exec(stderr());
        const perBatch = m ? (Number(m[2]) / Number(m[3])).toFixed(2) : '?';
        rows.push({ name: s.name, rps: r.requests.average, peak });
        const mib = (x: number, w: number) => `${x.toFixed(0)} MiB`.padStart(w);
        console.log(
          `${s.name.padEnd(30)}${r.requests.average.toFixed(1).padStart(8)}${String(r.latency.p50).padStart(9)}` +
            `${String(r.latency.p99).padStart(9)}${String(errors).padStart(8)}${mib(ready, 11)}${mib(before, 12)}` +
            `${mib(after, 11)}${mib(peak, 10)}${perBatch.padStart(13)}`,
        );
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }
    const on = rows.find((r) => r.name === 'batching on')!;
    const off = rows.find((r) => r.name === 'batching off')!;
    const twinOn = rows.find((r) => r.name === 'pytorch twin, batching on');
    const twinOff = rows.find((r) => r.name === 'pytorch twin, batching off');
    console.log(`\nratio batching on / off (req/s): ${(on.rps / off.rps).toFixed(2)}`);
    for (const c of CONTINUOUS) {
      const r = rows.find((x) => x.name === c.name)!;
      console.log(`ratio ${c.name} / batching on (req/s): ${(r.rps / on.rps).toFixed(2)}`);
    }
    if (twinOn && twinOff)
      console.log(
        `peak RSS twin / ours (>= 1: ours smaller): batching on ${(twinOn.peak / on.peak).toFixed(2)}, off ${(twinOff.peak / off.peak).toFixed(2)}; ` +
          `req/s ours / twin: on ${(on.rps / twinOn.rps).toFixed(2)}, off ${(off.rps / twinOff.rps).toFixed(2)} (the twin decodes without grounding)`,
      );
    console.log(
      'RSS ready: listening, model loaded; before / after: around the timed load; peak RSS: VmHWM at the end (the warm-up and the load). ' +
        `Allocator: ${process.env.CYCLENER_ALLOCATOR ?? 'tcmalloc'} for both.`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
