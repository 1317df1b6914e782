// OpenMP wait policy under contention (not a test): 16-row greedy decoding of the shipped model at 2 threads, first
// on a quiet machine, then while another process spins on one core, for each CYCLENER_OMP_WAIT mode. Each mode runs
// in its own process (libgomp reads the policy once, at load). Usage: npm run bench:contention [-- --seconds 8]
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as T from '../src/tensor';
import { loadModel } from '../src/t5/checkpoint';
import { generate } from '../src/t5/generation';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const seconds = Number(arg('seconds', '8'));
const model = arg('model', path.join(__dirname, '..', '..', 'models', 'base-news-11m'));

/** Child: decode for `seconds` quiet, ask for a competitor, decode for 2 x `seconds`; print ms per step per phase. */
async function child(): Promise<void> {
  const m = loadModel(model);
  const src = Array.from({ length: 16 }, (_, r) =>
    Array.from({ length: 24 }, (_, i) => 5 + ((r * 31 + i * 7) % 900)).concat([1]),
  );
  const steps = 32;
  const phase = (ms: number) => {
    const t0 = Date.now();
    const times: number[] = [];
    while (Date.now() - t0 < ms) {
      // generate() calls T.governThreads() itself
      const t = process.hrtime.bigint();
      T.autocast(() => T.tidy(() => generate(m, src, { maxNewTokens: steps, eosTokenId: -5 })));
      times.push(Number(process.hrtime.bigint() - t) / 1e6 / steps);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  };
  phase(1500); // warm-up
  const quiet = phase(seconds * 1000);
  process.stdout.write('load\n');
  await new Promise((r) => setTimeout(r, 300));
  const early = phase(seconds * 1000);
  const late = phase(seconds * 1000);
  process.stdout.write(
    JSON.stringify({
      policy: process.env.OMP_WAIT_POLICY ?? 'libgomp default',
      quiet,
      early,
      late,
      threadsAtEnd: T.getNumThreads(),
    }) + '\n',
  );
}

async function main(): Promise<void> {
  console.log(
    `greedy decode step, 16 rows, bf16, 2 threads; ${seconds} s quiet, then 2 x ${seconds} s beside a process spinning on one core (median ms/step)`,
  );
  console.log(
    'mode'.padEnd(9) +
      'policy'.padEnd(18) +
      'quiet'.padEnd(9) +
      'contended (first/second half)'.padEnd(32) +
      'slowdown   threads at end',
  );
  for (const mode of ['passive', 'active', 'auto']) {
    const env: NodeJS.ProcessEnv = { ...process.env, CYCLENER_OMP_WAIT: mode, CYCLENER_THREADS: '2' };
    delete env.OMP_WAIT_POLICY; // let CYCLENER_OMP_WAIT decide
    const c = spawn(process.execPath, [__filename, '--child', '--seconds', String(seconds), '--model', model], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let hog: ChildProcess | null = null;
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!hog && out.includes('load\n')) hog = spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' });
    });
    await new Promise((r) => c.on('exit', r));
    (hog as ChildProcess | null)?.kill('SIGKILL');
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      policy: string;
      quiet: number;
      early: number;
      late: number;
      threadsAtEnd: number;
    };
    const worst = Math.max(r.early, r.late);
    console.log(
      mode.padEnd(9) +
        r.policy.padEnd(18) +
        r.quiet.toFixed(2).padEnd(9) +
        `${r.early.toFixed(2)} / ${r.late.toFixed(2)}`.padEnd(32) +
        `${(worst / r.quiet).toFixed(1)}x`.padEnd(11) +
        r.threadsAtEnd,
    );
  }
}

if (process.argv.includes('--child')) {
  child().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
