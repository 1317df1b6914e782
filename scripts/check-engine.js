#!/usr/bin/env node
// Post-install check of the tensor engine: prints libtorch's build configuration, the BLAS library
// actually loaded into this process, the thread count and a matmul throughput figure, and exits
// non-zero when the reference BLAS is in use (Debian's default for libtorch, ~20x slower than OpenBLAS)
// or when fp32 matmul throughput is implausibly low.
'use strict';
const { realpathSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { join, basename } = require('node:path');

const MIN_GFLOPS = Number(process.env.CYCLENER_MIN_GFLOPS || 8);

let N;
try {
  N = require(join(__dirname, '..', 'native', 'build', 'Release', 'cyclener_engine.node'));
} catch (e) {
  console.error(`check-engine: cannot load the addon (run npm run build:native): ${e.message}`);
  process.exit(1);
}
// Same default as the engine (src/tensor/native.ts): CYCLENER_THREADS, else physical cores.
let threads;
try {
  threads = require(join(__dirname, '..', 'dist', 'src', 'tensor', 'native.js')).defaultThreads();
} catch {
  threads = Number(process.env.CYCLENER_THREADS) || require('node:os').availableParallelism();
}
N.setNumThreads(threads);

console.log(N.showConfig().trimEnd());
const libs = N.blasLibraries();
console.log(
  `BLAS/LAPACK libraries loaded: ${libs.length ? libs.join(', ') : '(none: BLAS linked statically, e.g. MKL)'}`,
);
const alt = spawnSync('update-alternatives', ['--query', 'libblas.so.3-x86_64-linux-gnu'], { encoding: 'utf8' });
if (alt.status === 0) {
  const value = /^Value: (.*)$/m.exec(alt.stdout);
  if (value) console.log(`update-alternatives libblas.so.3: ${value[1]}`);
}
console.log(`intra-op threads: ${N.getNumThreads()}`);
console.log(`CUDA available: ${N.cudaAvailable()}`);

// Reference BLAS: Debian installs it as .../blas/libblas.so.3 (alternatives); an optimised one lives
// under openblas-*/, atlas/, blis-*/ or is MKL.
const optimised = /openblas|mkl|blis|atlas|flexiblas/i;
const reference = libs.filter((p) => {
  let real = p;
  try {
    real = realpathSync(p);
  } catch {
    /* keep p */
  }
  return /^libblas\.so/.test(basename(real)) && !optimised.test(real);
});

// Throughput sanity check: best of 5 fp32 1024^3 matmuls.
const n = 1024;
const a = N.randn([n, n], 0, 0);
const b = N.randn([n, n], 0, 0);
N.release(N.matmul(a, b));
let best = Infinity;
for (let i = 0; i < 5; i++) {
  const t0 = process.hrtime.bigint();
  N.release(N.matmul(a, b));
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
N.release(a);
N.release(b);
const gflops = (2 * n ** 3) / best / 1e9;
console.log(
  `fp32 matmul ${n}x${n}x${n}: ${gflops.toFixed(1)} GFLOP/s (${threads} threads; minimum accepted ${MIN_GFLOPS})`,
);

let ok = true;
if (reference.length > 0) {
  console.error(`check-engine: FAIL: the reference BLAS is active (${reference.join(', ')}).`);
  console.error('  Install libopenblas0-openmp (apt-get install libopenblas0-openmp) or select it with');
  console.error('  update-alternatives --config libblas.so.3-x86_64-linux-gnu');
  ok = false;
}
if (!(gflops >= MIN_GFLOPS)) {
  console.error(`check-engine: FAIL: fp32 matmul runs at ${gflops.toFixed(1)} GFLOP/s, below ${MIN_GFLOPS};`);
  console.error(
    '  an unoptimised BLAS is likely in use (or the machine is heavily loaded: set CYCLENER_MIN_GFLOPS to override).',
  );
  ok = false;
}
if (!ok) process.exit(1);
console.log('check-engine: OK');
