#!/usr/bin/env bash
# Two pretraining recipes side by side on one GPU (the default mixture vs span corruption only), after the fixtures and
# a short smoke run. Gate the returned models with `cyclener gate` (docs/pretraining.md).
# Usage (repo root; DATA holds news.txt.xz and spiece.model, default .gpu/): bash tools/gpu/compare.sh MINUTES OUTDIR [DATA]
# OUTDIR receives the logs, fixtures.tgz and the two models as ≤15 MB tar parts.
set -uo pipefail
MIN=${1:-5}; OUTDIR=$(cd "${2:-/tmp/out}" && pwd)
cd "$(dirname "$0")"
D=${3:-../../.gpu}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
timeout 60 python3 make_fixtures.py /tmp/fx > /tmp/fx.log 2>&1 && (cd /tmp && tar czf "$OUTDIR/fixtures.tgz" fx) || tail -5 /tmp/fx.log
timeout 100 python3 pretrain_t5.py --corpus $D/news.txt.xz --spm $D/spiece.model --out /tmp/smoke \
  --minutes 0.15 --max-docs 2000 --workers 4 > /tmp/smoke.log 2>&1
rc=$?; grep -E "^\[|Error" /tmp/smoke.log | cut -c1-300 | tail -8
if [ $rc != 0 ]; then echo "SMOKE FAILED rc=$rc"; tail -30 /tmp/smoke.log; exit 1; fi
LIM=$(python3 -c "print(int($MIN*60+150))")
timeout $LIM python3 pretrain_t5.py --corpus $D/news.txt.xz --spm $D/spiece.model --out /tmp/mix \
  --minutes "$MIN" --workers 7 > /tmp/mix.log 2>&1 &
timeout $LIM python3 pretrain_t5.py --corpus $D/news.txt.xz --spm $D/spiece.model --out /tmp/span \
  --minutes "$MIN" --mixture span=1.0 --workers 7 > /tmp/span.log 2>&1 &
wait
grep -vE "Warning|it/s\]" /tmp/mix.log | cut -c1-400 | tail -14; grep -vE "Warning|it/s\]" /tmp/span.log | cut -c1-400 | tail -5
cp /tmp/mix.log /tmp/span.log "$OUTDIR/"
cd /tmp && tar cf models.tar mix span && split -b 15M models.tar "$OUTDIR/models.tar.part-"
