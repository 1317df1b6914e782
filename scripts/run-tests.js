#!/usr/bin/env node
// Runs every compiled test file with Node's built-in test runner.
// Threads are pinned to 2 (the CI machine's cores) unless the caller set CYCLENER_THREADS.
const { readdirSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');
const dir = join(__dirname, '..', 'dist', 'test');
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => join(dir, f));
if (files.length === 0) {
  console.error('no test files found in', dir);
  process.exit(1);
}
// Tests are not benchmarks: OpenMP threads sleep instead of spinning, so a busy machine cannot make the suite
// crawl (src/tensor/threads.ts); the caller may still choose.
const env = { ...process.env, CYCLENER_OMP_WAIT: process.env.CYCLENER_OMP_WAIT || 'passive' };
const r = spawnSync(process.execPath, ['--expose-gc', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
