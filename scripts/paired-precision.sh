#!/usr/bin/env bash
# Paired runs, bf16 autocast (the default) vs --fp32: same seed, same data, same budget, one thread each.
# Usage: scripts/paired-precision.sh OUT [DATA_DIR] [CORPUS]   (steps are resumable per stage: done stages are skipped)
# Writes OUT/summary.tsv: stage, precision, metric, value, seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/paired-precision.sh OUT [DATA_DIR] [CORPUS]}
DATA=${2:-../shared/data}
CORPUS=${3:-../shared/corpora/news.txt.xz}
BASE=${BASE:-models/base-news-11m}
CLI=bin/cyclener
export CYCLENER_THREADS=${CYCLENER_THREADS:-1}
mkdir -p "$OUT"
SUM="$OUT/summary.tsv"
[ -f "$SUM" ] || printf 'stage\tprecision\tmetric\tvalue\tseconds\n' > "$SUM"
# The first 500 dev sentences (a CoNLL file: blank-line separated blocks).
awk 'BEGIN{RS="";ORS="\n\n"} NR<=501' "$DATA/conll2003/dev.txt" > "$OUT/dev500.txt"
flag() { [ "$1" = fp32 ] && echo --fp32 || true; }
now() { date +%s; }

for p in bf16 fp32; do
  # 1. continued pretraining of the shipped base on news: validation loss after 120 steps.
  d="$OUT/pretrain-$p"
  if [ ! -f "$d/pretrain_summary.json" ]; then
    t=$(now)
    $CLI pretrain --init "$BASE" --corpus "$CORPUS" --out "$d" --steps 120 --lr-warmup-steps 20 --lr 5e-4 --eval-every 60 --log-every 20 $(flag $p) 2> "$d.log" || { cat "$d.log"; exit 1; }
    node -e "const s=require('./$d/pretrain_summary.json'); const v=s.valLoss; const m=Object.values(v).reduce((a,b)=>a+b,0)/Object.values(v).length; console.log(['pretrain','$p','val_mean',m.toFixed(4),$(now)-$t].join('\t'))" >> "$SUM"
  fi
  # 2. supervised S2E on 1,000 CoNLL sentences, 150 steps x 16; dev F1 on 500 dev sentences (same precision).
  d="$OUT/supervised-$p"
  if [ ! -f "$d.eval.json" ]; then
    t=$(now)
    $CLI train-supervised --train "$DATA/conll2003/train.txt" --num 1000 --steps 150 --batch 16 --base-model "$BASE" --out "$d" $(flag $p) 2> "$d.log" || { cat "$d.log"; exit 1; }
    $CLI evaluate --model "$d" --gold "$OUT/dev500.txt" --json $(flag $p) > "$d.eval.json" 2>> "$d.log"
    f1=$(node -e "console.log(require('./$d.eval.json').exact.micro.f1.toFixed(4))")
    printf 'supervised\t%s\tdev_f1\t%s\t%s\n' "$p" "$f1" "$(( $(now) - t ))" >> "$SUM"
  fi
  # 3. CycleNER CoNLL /2k/1k-gq: 60 steps x 16, dev losses on 200 dev_S/dev_Q lines, dev F1 on 200 sentences.
  d="$OUT/cycle-$p"
  if [ ! -f "$d/done" ]; then
    t=$(now)
    [ -d "$OUT/data" ] || $CLI data build --config conll2003/2k/1k-gq --data-dir "$DATA" --out "$OUT/data" 2> "$OUT/data.log"
    head -200 "$OUT/data/dev_S.txt" > "$OUT/dev_S200.txt"; head -200 "$OUT/data/dev_Q.txt" > "$OUT/dev_Q200.txt"
    awk 'BEGIN{RS="";ORS="\n\n"} NR<=201' "$DATA/conll2003/dev.txt" > "$OUT/dev200.txt"
    rm -rf "$d"
    $CLI train --sentences "$OUT/data/S.txt" --entities "$OUT/data/Q.txt" --dev-sentences "$OUT/dev_S200.txt" --dev-entities "$OUT/dev_Q200.txt" \
      --dev-gold "$OUT/dev200.txt" --base-model "$BASE" --out "$d" --max-steps 60 --batch 16 --eval-every 30 $(flag $p) 2> "$d.log" || { cat "$d.log"; exit 1; }
    node -e "const l=require('fs').readFileSync('$d/metrics.jsonl','utf8').trim().split('\n').map(JSON.parse).filter(r=>r.type==='eval').pop(); console.log(['cycle','$p','dev_E_loss',l.devELoss.toFixed(4),''].join('\t')); console.log(['cycle','$p','dev_f1',l.devF1.toFixed(4),$(now)-$t].join('\t'))" >> "$SUM"
    touch "$d/done"
  fi
done
column -t -s $'\t' "$SUM"
