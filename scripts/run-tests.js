#!/usr/bin/env node
// Runs the compiled test files with Node's built-in test runner.
// Layout (docs/architecture.md, "Tests"): test/unit/<layer>/*.test.ts and test/e2e/*.test.ts; helpers in test/helpers.
// The files run are those of the sources under test/, compiled into dist/test: a .js left in dist/test by a test that was
// moved or deleted is never run.
//   node scripts/run-tests.js                 every test
//   node scripts/run-tests.js cycle-warmup    the files whose path under test/ contains an argument: a name,
//   node scripts/run-tests.js e2e unit/t5     or a folder (test/e2e/serve.test.ts and the like work too)
// Threads are pinned to 2 (the CI machine's cores) unless the caller set CYCLENER_THREADS.
const { existsSync, readdirSync } = require('node:fs');
const { join, relative, sep } = require('node:path');
const { spawnSync } = require('node:child_process');
const root = join(__dirname, '..');
const srcDir = join(root, 'test');
const outDir = join(root, 'dist', 'test');

/** The *.test.ts files under dir (fixtures and helpers hold none), as paths relative to test/ with '/'. */
function testSources(dir) {
  const found = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'fixtures' && e.name !== 'helpers') found.push(...testSources(p));
    } else if (e.name.endsWith('.test.ts')) found.push(relative(srcDir, p).split(sep).join('/'));
  }
  return found;
}

// An argument may be given as a path: ./test/unit/t5, dist/test/e2e/serve.test.js, test/e2e/serve.test.ts.
const only = process.argv.slice(2).map((o) =>
  o
    .replace(/^\.\//, '')
    .replace(/^(dist\/)?test\//, '')
    .replace(/\/$/, '')
    .replace(/\.(ts|js)$/, ''),
);
const files = testSources(srcDir)
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => join(outDir, f.replace(/\.ts$/, '.js')));
if (files.length === 0) {
  console.error(`no test files under ${srcDir}${only.length ? ` match ${only.join(' ')}` : ''}`);
  process.exit(1);
}
const unbuilt = files.filter((f) => !existsSync(f));
if (unbuilt.length > 0) {
  console.error(`not built (npm run build): ${unbuilt.map((f) => relative(root, f)).join(', ')}`);
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
