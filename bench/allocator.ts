// The allocator and OpenMP wait policy of the benchmarks that measure whole jobs (bench:jobs, bench:infer).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/**
 * The CLI (bin/cyclener) runs under tcmalloc when it is installed (CYCLENER_ALLOCATOR=system: glibc), so the jobs are
 * measured under it too: re-run this script with it preloaded. The twin inherits the environment, hence the allocator.
 * The OpenMP wait policy is fixed to libgomp's default (CYCLENER_OMP_WAIT=active, unless set) for both sides: the
 * twin's threads spin for a moment after each of its runs, which the thread governor would take for another process
 * wanting the cores (bench:contention measures the governor).
 */
export function reexecWithCliAllocator(): boolean {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (env.CYCLENER_OMP_WAIT === undefined) env.CYCLENER_OMP_WAIT = 'active';
  const lib = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64']
    .map((d) => `${d}/libtcmalloc_minimal.so.4`)
    .find((f) => fs.existsSync(f));
  if ((env.CYCLENER_ALLOCATOR ?? 'tcmalloc') === 'tcmalloc' && lib && !(env.LD_PRELOAD ?? '').includes('tcmalloc'))
    env.LD_PRELOAD = env.LD_PRELOAD ? `${lib}:${env.LD_PRELOAD}` : lib;
  if (env.CYCLENER_OMP_WAIT === process.env.CYCLENER_OMP_WAIT && env.LD_PRELOAD === process.env.LD_PRELOAD)
    return false;
  const r = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit', env });
  process.exitCode = r.status ?? 1;
  return true;
}

/** The V8 flags bin/cyclener gives node for a command (test cli-node-flags checks the two agree). */
export const CLI_NODE_FLAGS: Readonly<Record<string, readonly string[]>> = {
  predict: ['--max-semi-space-size=2'],
  serve: ['--max-semi-space-size=2'],
};
