#!/usr/bin/env bash
# One-command install on Debian (run as root): system packages, npm packages, the libtorch addon, the TypeScript build.
# Set CYCLENER_SKIP_APT=1 to skip apt (e.g. when the packages are already there and you are not root).
# LIBTORCH_DIR=/path/to/libtorch builds the addon against another libtorch (e.g. a CUDA build; see docs/engine-api.md).
# libgloo-dev: the headers of the Gloo backend of c10d (data-parallel training, src/dist).
# python3-torch + python3-onnx: `cyclener export --onnx` traces the model in Python (tools/onnx/export_t5.py); the
# PyTorch twin of bench:jobs.
# libopenblas0-openmp matters: with Debian's default reference BLAS, libtorch matmuls are ~20x slower;
# scripts/check-engine.js (last step) fails loudly if the reference BLAS is what gets loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES=(libtorch-dev libgloo-dev libopenblas0-openmp libtcmalloc-minimal4 python3-torch python3-onnx sentencepiece build-essential python3 xz-utils chromium)
if [ "${CYCLENER_SKIP_APT:-0}" != "1" ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ "$(id -u)" = "0" ]; then
    # As root, every listed package is brought to the version a fresh machine gets (installed or upgraded; an
    # up-to-date one is a no-op), so a developer's machine tests what a fresh one would: an older chromium kept
    # here once hid a failure that only the current one shows.
    echo "setup: installing or upgrading ${APT_PACKAGES[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
  elif [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root)" >&2
    exit 1
  else
    echo "setup: not root: the listed Debian packages are installed but not upgraded (run as root to upgrade them)" >&2
  fi
fi
# onnxruntime-node (devDependency: bench:infer, test/e2e/export-onnx.test.ts) ships its CPU runtime in the npm package; its
# postinstall would also fetch CUDA provider libraries from outside the npm registry (linux/x64), which fails offline:
# skipped here, as for a plain `npm ci`/`npm install`, which need ONNXRUNTIME_NODE_INSTALL=skip too.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
# Build the addon against the installed Node headers instead of downloading them (node-api is ABI-stable).
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
npm run build:native
npm run build
node scripts/check-engine.js
