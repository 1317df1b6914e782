#!/usr/bin/env bash
# Short CycleNER run on CoNLL-2003 /2k/1k-gq from the base model, with and without grounded decoding.
# Dev losses on the first DEVN dev_S / dev_Q lines, dev F1 on the first DEVN labelled dev sentences
# (logged only; best/ is chosen by dev E-cycle loss). Never touches the test split.
# Usage: [DATA_DIR=../shared/data] [MODES="ground plain"] scripts/cycle-conll.sh [OUT] [MAX_STEPS] [BATCH] [EVAL_EVERY] [DEVN]
set -euo pipefail
DATA_DIR=${DATA_DIR:-../shared/data}
OUT=${1:-/tmp/cycle-conll}; STEPS=${2:-60}; BATCH=${3:-16}; EVERY=${4:-20}; DEVN=${5:-200}; MODES=${MODES:-ground plain}
CLI="node dist/src/cli/main.js"
mkdir -p "$OUT"
[ -f "$OUT/data/S.txt" ] || $CLI data build --config conll2003/2k/1k-gq --data-dir "$DATA_DIR" --out "$OUT/data"
head -n "$DEVN" "$OUT/data/dev_S.txt" > "$OUT/dev_S.txt"
head -n "$DEVN" "$OUT/data/dev_Q.txt" > "$OUT/dev_Q.txt"
head -n "$DEVN" "$OUT/data/dev_gold.jsonl" > "$OUT/dev_gold.jsonl"
for MODE in $MODES; do
  EXTRA=""; if [ "$MODE" = plain ]; then EXTRA="--no-ground"; fi
  start=$(date +%s)
  $CLI train --sentences "$OUT/data/S.txt" --entities "$OUT/data/Q.txt" --dev-sentences "$OUT/dev_S.txt" --dev-entities "$OUT/dev_Q.txt" \
    --dev-gold "$OUT/dev_gold.jsonl" --base-model models/base-news-11m --out "$OUT/$MODE" --max-steps "$STEPS" --batch "$BATCH" \
    --eval-every "$EVERY" $EXTRA 2> "$OUT/$MODE.log"
  echo "$MODE: $STEPS steps x $BATCH in $(( $(date +%s) - start ))s; evals:" | tee -a "$OUT/summary.txt"
  grep '"type":"eval"' "$OUT/$MODE/metrics.jsonl" | tee -a "$OUT/summary.txt"
done
