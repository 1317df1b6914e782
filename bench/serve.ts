// Benchmark (not a test) of `cyclener serve` under load on loopback: autocannon posts one-sentence requests from
// `--connections` connections for `--seconds` per setting, against the real CLI in a child process, with dynamic
// batching on (the defaults: --max-batch 32 --max-wait-ms 10) and off (--max-batch 1 --max-wait-ms 0).
// Per setting: requests/s, p50/p99 latency, errors (non-2xx + socket errors; must be 0 below the queue limit),
// the server's RSS before and after the load; then the ratio batching on / off.
// The model: the shipped base (models/base-news-11m) has no entity types, so grounded prediction refuses it; it is
// first fine-tuned for `--steps` supervised steps on test/fixtures/conll-mini.txt (5 sentences) into a temp
// directory. That model is barely trained: the figures are the server's cost with a real 11M T5, not a tagger's.
// Usage: npm run bench:serve -- [--seconds 10] [--connections 8] [--steps 30] [--threads N] [--model DIR]

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
}
const SETTINGS: Setting[] = [
  { name: 'batching on', args: ['--max-batch', '32', '--max-wait-ms', '10'] },
  { name: 'batching off', args: ['--max-batch', '1', '--max-wait-ms', '0'] },
];

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function startServe(
  model: string,
  s: Setting,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const bin = path.join(ROOT, 'bin', 'cyclener');
  const child = spawn(bin, ['serve', '--model', model, '--port', '0', '--threads', threads, ...s.args], {
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
    const texts = corpus.sentences.map((s) => s.text);
    const base = flag('model', path.join(ROOT, 'models', 'base-news-11m'));
    const tuned = path.join(tmp, 'tuned');
    const t0 = Date.now();
    await trainSupervised({
      pairs: corpus.sentences.map((s) => ({
        sentence: s.text,
        entities: s.entities.map((e) => ({ surface: e.surface, type: TYPE_WORDS[e.label] ?? e.label.toLowerCase() })),
      })),
      baseModel: base,
      out: tuned,
      steps,
      batchSize: texts.length,
      lr: 1e-3,
      verbalizer: TYPE_WORDS,
      types: Object.values(TYPE_WORDS),
    });
    console.log(
      `model: ${path.relative(ROOT, base)} fine-tuned ${steps} steps on conll-mini (${texts.length} sentences) in ` +
        `${((Date.now() - t0) / 1000).toFixed(1)} s; requests: 1 sentence each (${texts.length} rotating)`,
    );
    console.log(
      `load: autocannon, ${connections} connections, ${seconds} s per setting (after a 2 s warm-up); threads ${threads}; ` +
        `${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(2)}`,
    );
    const rows: { name: string; rps: number }[] = [];
    console.log(
      `\n${'setting'.padEnd(14)}${'req/s'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}` +
        `${'RSS before'.padStart(12)}${'RSS after'.padStart(11)}${'texts/batch'.padStart(13)}`,
    );
    for (const s of SETTINGS) {
      const { child, url, stderr } = await startServe(tuned, s);
      try {
        await load(url, texts, 2);
        const before = rssMiB(child.pid!);
        const r = await load(url, texts, seconds);
        const after = rssMiB(child.pid!);
        const errors = r.errors + r.timeouts + r.non2xx;
        const exited = new Promise<void>((res) => child.on('exit', () => res()));
        child.kill('SIGTERM');
        await exited;
        // "stopped: R requests, T texts in B batches" (warm-up included): the mean batch the model saw.
        const m = /stopped: (\d+) requests, (\d+) texts in (\d+) batches/.exec(stderr());
        const perBatch = m ? (Number(m[2]) / Number(m[3])).toFixed(2) : '?';
        rows.push({ name: s.name, rps: r.requests.average });
        console.log(
          `${s.name.padEnd(14)}${r.requests.average.toFixed(1).padStart(8)}${String(r.latency.p50).padStart(9)}` +
            `${String(r.latency.p99).padStart(9)}${String(errors).padStart(8)}${`${before.toFixed(0)} MiB`.padStart(12)}` +
            `${`${after.toFixed(0)} MiB`.padStart(11)}${perBatch.padStart(13)}`,
        );
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }
    const [on, off] = rows;
    console.log(`\nratio batching on / off (req/s): ${(on!.rps / off!.rps).toFixed(2)}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
