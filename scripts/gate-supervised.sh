#!/usr/bin/env bash
# Base-model gate (issues 6/7): supervised S2E on 1,000 random CoNLL-2003 train sentences for a fixed
# budget, scored on the first DEVN CoNLL dev sentences (conlleval micro and bag), grounded and plain
# decoding, next to random init and the Lexical Matcher (gazetteer from the same 1,000 sentences' GQ).
# Never evaluates on test.
# Usage: [DATA_DIR=../shared/data] INITS="base random" scripts/gate-supervised.sh [OUT_DIR] [STEPS] [BATCH] [DEVN]
set -euo pipefail
OUT=${1:-/tmp/gate}; STEPS=${2:-600}; BATCH=${3:-32}; DEVN=${4:-500}; INITS=${INITS:-base random}
DATA=${DATA_DIR:-../shared/data}/conll2003
CLI="node dist/src/cli/main.js"
mkdir -p "$OUT"
# First DEVN sentences of dev (blank-line separated blocks, -DOCSTART- dropped) to bound decoding time on 2 cores.
awk -v n="$DEVN" 'BEGIN{RS=""; ORS="\n\n"} { sub(/^-DOCSTART-[^\n]*\n?/, ""); if ($0 == "") next; if (++c > n) exit; print }' $DATA/dev.txt > "$OUT/dev-subset.txt"
for INIT in $INITS; do
  EXTRA=""
  if [ "$INIT" = random ]; then EXTRA="--random-init"; fi
  start=$(date +%s)
  $CLI train-supervised --train $DATA/train.txt --num 1000 --seed 42 --base-model models/base-news-11m \
    --out "$OUT/$INIT" --steps "$STEPS" --batch "$BATCH" --lr 5e-4 $EXTRA 2> "$OUT/$INIT.train.log"
  mid=$(date +%s)
  $CLI evaluate --gold "$OUT/dev-subset.txt" --model "$OUT/$INIT" --json > "$OUT/$INIT.dev.json"
  mid2=$(date +%s)
  $CLI evaluate --gold "$OUT/dev-subset.txt" --model "$OUT/$INIT" --no-ground --json > "$OUT/$INIT.dev-noground.json"
  end=$(date +%s)
  echo "$INIT: train ${STEPS}x${BATCH} $((mid-start))s, grounded eval $((mid2-mid))s, plain eval $((end-mid2))s" | tee -a "$OUT/summary.txt"
done
