#!/usr/bin/env node
// Prints compiler/linker flags for libtorch, used by binding.gyp.
// Default: Debian's libtorch-dev (/usr/include, /usr/lib/x86_64-linux-gnu).
// LIBTORCH_DIR=/path/to/libtorch (a dir with include/ and lib/, e.g. the official libtorch zip or a
// PyTorch wheel's site-packages/torch) switches to another build, e.g. a CUDA one; rpath points there.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.LIBTORCH_DIR || '';
const what = process.argv[2];

function libDir() {
  return dir ? path.join(dir, 'lib') : '/usr/lib/x86_64-linux-gnu';
}

// Old PyTorch wheels are built with the pre-C++11 std::string ABI; the mangled c10::Error constructor tells.
function cxx11Abi() {
  if (process.env.LIBTORCH_CXX11_ABI) return process.env.LIBTORCH_CXX11_ABI;
  const lib = path.join(libDir(), 'libc10.so');
  try {
    const bytes = fs.readFileSync(lib).toString('latin1');
    if (bytes.includes('ErrorC1ENS_14SourceLocationENSt7__cxx11')) return '1';
    if (bytes.includes('ErrorC1ENS_14SourceLocationESs')) return '0';
  } catch { /* fall through */ }
  return '1';
}

function includes() {
  // Debian's headers are in /usr/include already (passing it as -I would reorder system dirs).
  const nccl = process.env.NCCL_INCLUDE_DIR ? [process.env.NCCL_INCLUDE_DIR] : [];
  if (!dir) return ['/usr/include/torch/csrc/api/include', ...nccl];
  const base = path.join(dir, 'include');
  return [base, path.join(base, 'torch/csrc/api/include'), ...nccl];
}

function libs() {
  const ld = libDir();
  const has = (n) => fs.existsSync(path.join(ld, n));
  // --no-as-needed: libtorch.so / libtorch_cuda.so are only referenced through static registrars,
  // the linker would otherwise drop them and CUDA would silently be unavailable.
  const names = ['torch', 'torch_cpu', 'c10'];
  if (has('libtorch_cuda.so')) names.push('torch_cuda', 'c10_cuda');
  const flags = [`-L${ld}`, '-Wl,--no-as-needed', ...names.map((n) => `-l${n}`), '-Wl,--as-needed'];
  if (dir) flags.push(`-Wl,-rpath,${ld}`);
  return flags;
}

// c10d backends compiled in (native/src/dist.cc): Gloo where its headers are (Debian: libgloo-dev; a PyTorch wheel
// ships them in include/), NCCL with a CUDA libtorch whose include/ or NCCL_INCLUDE_DIR has nccl.h.
function distDefines() {
  const incs = [...includes(), '/usr/include'];
  const has = (rel) => incs.some((d) => fs.existsSync(path.join(d, rel)));
  const out = [];
  if (has('gloo/algorithm.h')) out.push('CY_WITH_GLOO', 'USE_C10D_GLOO');
  if (fs.existsSync(path.join(libDir(), 'libtorch_cuda.so')) && has('nccl.h')) out.push('CY_WITH_NCCL', 'USE_C10D_NCCL');
  return out;
}

switch (what) {
  case '--include': console.log(includes().join(' ')); break;
  case '--libs': console.log(libs().join(' ')); break;
  case '--defines': console.log([`_GLIBCXX_USE_CXX11_ABI=${cxx11Abi()}`, ...distDefines()].join(' ')); break;
  default: console.error('usage: libtorch-config.js --include|--libs|--defines'); process.exit(2);
}
