// npm run bench: runs every benchmark in bench/ (or those named on the command line) one after another,
// each in its own process so they do not share threads or memory.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ALL = ['engine', 't5', 'jobs', 'infer'];
// Arguments a benchmark gets inside the suite: the full jobs benchmark takes ~10 minutes (npm run bench:jobs), the full
// inference one ~3-4 minutes at 1 thread (npm run bench:infer).
const SUITE_ARGS: Record<string, string[]> = { jobs: ['--quick'], infer: ['--quick'] };
const wanted = process.argv.slice(2);
const names = wanted.length > 0 ? wanted : ALL;
let failed = false;
for (const name of names) {
  const file = join(__dirname, `${name}.js`);
  if (!existsSync(file)) {
    console.error(`bench: no benchmark '${name}' (${file})`);
    failed = true;
    continue;
  }
  console.log(`\n=== bench ${name} ===`);
  const r = spawnSync(process.execPath, ['--expose-gc', file, ...(SUITE_ARGS[name] ?? [])], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
