// `--nproc N`: torchrun's standalone mode without torchrun. This process hosts nothing and trains nothing: it picks a
// free port, starts N copies of the same command line with the torchrun environment (RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), and watches them: the first worker that fails stops the others
// (SIGTERM, then SIGKILL after a grace period) and its exit code is the job's. Ctrl-C / SIGTERM are passed on, so every
// worker checkpoints at the same step. Across hosts, run the same command under torchrun instead (docs/scaling.md).

import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { availableParallelism, constants as osConstants } from 'node:os';
import * as T from '../tensor';
import type { Io } from './registry';
import { UsageError } from './args';

/** The flag every data-parallel command takes. */
export const NPROC_FLAG = {
  nproc: {
    type: 'int',
    arg: 'N',
    help: 'data-parallel worker processes on this machine (c10d/Gloo; each gets cores/N threads); across hosts use torchrun',
    range: { min: 1, max: 1024 },
  },
} as const;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * If `nproc` asks for workers and this process is not one (no WORLD_SIZE in the environment), run the command line in
 * `nproc` workers and return the job's exit code; otherwise null (the caller runs the command itself).
 */
export async function launchWorkers(nproc: number | undefined, io: Io, graceMs = 10_000): Promise<number | null> {
  const world = T.dist.worldFromEnv();
  if (world) {
    if (nproc !== undefined && nproc !== world.localSize)
      io.err(`cyclener: --nproc ${nproc} ignored: this is worker ${world.rank} of ${world.size} (set by the launcher)`);
    return null;
  }
  if (nproc === undefined || nproc <= 1) return null;
  const script = process.argv[1];
  if (!script) throw new UsageError('--nproc: cannot find the cyclener script to start workers');
  const port = await freePort();
  const threads = process.env.CYCLENER_THREADS || String(Math.max(1, Math.floor(T.physicalCores() / nproc)));
  const startedAt = Date.now();
  io.err(
    `cyclener: ${nproc} workers on this machine (c10d ${process.env.CYCLENER_DIST_BACKEND ?? 'gloo'}, 127.0.0.1:${port}, ${threads} thread(s) each, ${availableParallelism()} logical cores)`,
  );
  const children: ChildProcess[] = [];
  let failed: { rank: number; code: number } | null = null;
  let left = nproc;
  let killTimer: NodeJS.Timeout | null = null;
  const stopOthers = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    killTimer ??= setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, graceMs);
  };
  const forward = (sig: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise<number>((resolve) => {
      for (let r = 0; r < nproc; r++) {
        const env = {
          ...process.env,
          RANK: String(r),
          LOCAL_RANK: String(r),
          WORLD_SIZE: String(nproc),
          LOCAL_WORLD_SIZE: String(nproc),
          GROUP_RANK: '0',
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
          CYCLENER_THREADS: threads,
          CYCLENER_LAUNCHED: '1', // the launcher printed the flag warnings (registry.ts)
        };
        const child = spawn(process.execPath, [...process.execArgv, script, ...process.argv.slice(2)], {
          env,
          stdio: 'inherit',
        });
        children.push(child);
        child.on('exit', (code, signal) => {
          const c = code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1); // as a shell reports a killed child
          left--;
          if (c !== 0 && failed === null) {
            failed = { rank: r, code: c };
            io.err(
              `cyclener: worker ${r} ${signal ? `was killed by ${signal}` : `exited with code ${code}`} after ${((Date.now() - startedAt) / 1000).toFixed(1)} s; stopping the other workers`,
            );
            stopOthers();
          }
          if (left === 0) resolve(failed ? failed.code : 0);
        });
      }
    });
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}

/** A worker of a data-parallel job (or the only process): rank 0 leads (writes, logs); `io` is silent on the others. */
export interface Worker {
  rank: number;
  size: number;
  lead: boolean;
  io: Io;
}

/**
 * The start of every data-parallel command: with `--nproc N` (and no torchrun environment) run the command in N
 * workers and return the job's exit code; otherwise join the process group the environment describes, if any.
 */
export async function startWorker(nproc: number | undefined, io: Io): Promise<number | Worker> {
  const code = await launchWorkers(nproc, io);
  if (code !== null) return code;
  const g = await T.dist.init();
  if (!g) return { rank: 0, size: 1, lead: true, io };
  const quiet: Io = { out: () => undefined, err: () => undefined };
  return { rank: g.rank, size: g.size, lead: g.rank === 0, io: g.rank === 0 ? io : quiet };
}

/** The end of a data-parallel command: ranks leave together (rank 0 hosts the store the others still use). */
export async function finishWorker(): Promise<void> {
  await T.dist.barrier();
  T.dist.shutdown();
}
