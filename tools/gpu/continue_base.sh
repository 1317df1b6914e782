#!/usr/bin/env bash
# Continue pretraining the shipped base (models/base-news-11m) on news with the default mixture and packed span inputs,
# and write the new model to OUTDIR in ≤15 MB tar parts with its logs (about MINUTES + 4 minutes on one GPU).
#
# Prepare the inputs once, on a machine with the shared data (writes the ignored .gpu/: the first DOCS news documents):
#   bash tools/gpu/continue_base.sh --prepare SHARED_DIR [DOCS=50000]
# Run on the GPU machine, from the repo root with .gpu/ present:
#   bash tools/gpu/continue_base.sh MINUTES OUTDIR
# Then gate the new model against the shipped one with cyclener (never on a test split):
#   cat OUTDIR/model.tar.part-* | tar x -C runs/ && bin/cyclener gate --base-model runs/next-base,models/base-news-11m \
#     --train SHARED_DIR/data/conll2003/train.txt --dev SHARED_DIR/data/conll2003/dev.txt
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${1:-}" = --prepare ]; then
  SHARED=${2:?usage: continue_base.sh --prepare SHARED_DIR [DOCS]}; DOCS=${3:-50000}
  mkdir -p "$ROOT/.gpu"
  xz -dc "$SHARED/corpora/news.txt.xz" | head -n "$DOCS" | xz -6 -T2 > "$ROOT/.gpu/news_part.txt.xz"
  du -sh "$ROOT/.gpu"
  exit 0
fi
MIN=${1:-5}; OUT=${2:?usage: continue_base.sh MINUTES OUTDIR}
G="$ROOT/.gpu"; T="$ROOT/tools/gpu/pretrain_t5.py"; BASE="$ROOT/models/base-news-11m"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
# Smoke: a few seconds of the real path (corpus, packed span windows, --init, save) before the long run.
timeout 120 python3 "$T" --corpus "$G/news_part.txt.xz" --spm "$BASE/spiece.model" --out /tmp/smoke \
  --minutes 0.1 --max-docs 2000 --workers 4 --init "$BASE" > "$OUT/smoke.log" 2>&1
rc=$?; grep -E "^\[" "$OUT/smoke.log" | cut -c1-300 | tail -6
if [ $rc != 0 ]; then echo "SMOKE FAILED rc=$rc"; tail -30 "$OUT/smoke.log"; exit 1; fi
LIM=$(python3 -c "print(int($MIN*60+200))")
timeout "$LIM" python3 "$T" --corpus "$G/news_part.txt.xz" --spm "$BASE/spiece.model" \
  --out /tmp/next-base --init "$BASE" --minutes "$MIN" --lr 1e-3 --warmup 200 --seed 2 --span-inputs packed --workers 14 \
  > "$OUT/pretrain.log" 2>&1
echo "pretrain rc=$?"
grep -E "pretraining done|short" "$OUT/pretrain.log" | tail -3
cp /tmp/next-base/metrics.jsonl /tmp/next-base/pretrain_summary.json "$OUT/" 2>/dev/null
cd /tmp && mv next-base next-base.tmp 2>/dev/null && mkdir next-base && \
  cp next-base.tmp/{config.json,model.safetensors,generation_config.json,tokenizer.json,spiece.model} next-base/ 2>/dev/null
cp "$BASE/spiece.model" next-base/ 2>/dev/null
tar cf model.tar next-base && split -b 15M model.tar "$OUT/model.tar.part-"
# The logs as one tar, so OUTDIR holds few files.
(cd "$OUT" && tar cf logs.tar smoke.log pretrain.log metrics.jsonl pretrain_summary.json 2>/dev/null; \
  rm -f smoke.log pretrain.log metrics.jsonl pretrain_summary.json; ls -la)
