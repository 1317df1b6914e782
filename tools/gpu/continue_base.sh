#!/usr/bin/env bash
# One device call that fits a 15-minute GPU lease (≈9 min of command): continue pretraining the shipped base
# (models/base-news-11m) on news with the default mixture and packed span inputs, gate the new model and the shipped
# one side by side (tools/gpu/pretrain_t5.py's gate: 1,000 CoNLL-2003 train pairs, bag F1 on dev), and return the new
# model in ≤15 MB parts with its logs. The authoritative gate is then run here with `cyclener gate`.
#
# Here, once (writes the ignored .gpu/: the first DOCS news documents, CoNLL-2003 train/dev; the working tree that
# travels must stay under 64 MiB, and the repo itself is ≈26 MB):
#   bash tools/gpu/continue_base.sh --prepare ../shared [DOCS=50000]
# On the device (the `run` tool): command "bash tools/gpu/continue_base.sh 5 $OUT", carry [".gpu"], timeout_s 600.
# Back here: cat FILES_AT/model.tar.part-* | tar x -C runs/ && node dist/src/cli/main.js gate \
#   --base-model runs/next-base,models/base-news-11m --train ../shared/data/conll2003/train.txt --dev ../shared/data/conll2003/dev.txt
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${1:-}" = --prepare ]; then
  SHARED=${2:?usage: continue_base.sh --prepare SHARED_DIR [DOCS]}; DOCS=${3:-50000}
  mkdir -p "$ROOT/.gpu/conll2003"
  xz -dc "$SHARED/corpora/news.txt.xz" | head -n "$DOCS" | xz -6 -T2 > "$ROOT/.gpu/news_part.txt.xz"
  cp "$SHARED/data/conll2003/train.txt" "$SHARED/data/conll2003/dev.txt" "$ROOT/.gpu/conll2003/"  # never test.txt
  du -sh "$ROOT/.gpu"
  exit 0
fi
MIN=${1:-5}; OUT=${2:?usage: continue_base.sh MINUTES OUTDIR}
G="$ROOT/.gpu"; T="$ROOT/tools/gpu/pretrain_t5.py"; BASE="$ROOT/models/base-news-11m"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
# Smoke: a few seconds of the real path (corpus, packed span windows, --init, save) before spending the lease on it;
# the gate code is exercised by the shipped base's gate below.
timeout 120 python3 "$T" --corpus "$G/news_part.txt.xz" --spm "$BASE/spiece.model" --out /tmp/smoke \
  --minutes 0.1 --max-docs 2000 --workers 4 --init "$BASE" > "$OUT/smoke.log" 2>&1
rc=$?; grep -E "^\[" "$OUT/smoke.log" | cut -c1-300 | tail -6
if [ $rc != 0 ]; then echo "SMOKE FAILED rc=$rc"; tail -30 "$OUT/smoke.log"; exit 1; fi
# The shipped base's gate, in parallel with pretraining (the GPU has room for both).
python3 "$T" --corpus "$G/news_part.txt.xz" --spm "$BASE/spiece.model" --conll-dir "$G/conll2003" --out /tmp/gate-old \
  --gate-only "$BASE" > "$OUT/gate-old.log" 2>&1 &
LIM=$(python3 -c "print(int($MIN*60+200))")
timeout "$LIM" python3 "$T" --corpus "$G/news_part.txt.xz" --spm "$BASE/spiece.model" --conll-dir "$G/conll2003" \
  --out /tmp/next-base --init "$BASE" --minutes "$MIN" --lr 1e-3 --warmup 200 --seed 2 --span-inputs packed --workers 14 \
  > "$OUT/pretrain.log" 2>&1
echo "pretrain rc=$?"
wait
grep -E "gate\[" "$OUT/gate-old.log" "$OUT/pretrain.log" | cut -c1-300
grep -E "pretraining done|short" "$OUT/pretrain.log" | tail -3
cp /tmp/next-base/metrics.jsonl /tmp/next-base/pretrain_summary.json "$OUT/" 2>/dev/null
cp /tmp/gate-old/gate.json "$OUT/gate-old.json" 2>/dev/null
cd /tmp && mv next-base next-base.tmp 2>/dev/null && mkdir next-base && \
  cp next-base.tmp/{config.json,model.safetensors,generation_config.json,tokenizer.json,spiece.model} next-base/ 2>/dev/null
cp "$BASE/spiece.model" next-base/ 2>/dev/null
tar cf model.tar next-base && split -b 15M model.tar "$OUT/model.tar.part-"
# At most 8 files come back: the logs travel as one tar.
(cd "$OUT" && tar cf logs.tar smoke.log gate-old.log pretrain.log metrics.jsonl pretrain_summary.json gate-old.json 2>/dev/null; \
  rm -f smoke.log gate-old.log pretrain.log metrics.jsonl pretrain_summary.json gate-old.json; ls -la)
