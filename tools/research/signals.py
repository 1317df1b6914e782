#!/usr/bin/env python3
"""Every logged label-free signal against dev F1, per dataset, over many cycle runs (issue 25, item 3).

usage: tools/research/signals.py RUN/metrics.jsonl [...]   (e.g. runs/experiments/*/table6/*/*/cyclener/seed*/run/metrics.jsonl)

For each run with at least 5 evaluations: Pearson's rho, over its evaluations, between dev F1 and each numeric field
of the evaluation records (dev losses, copy rate, silver P/R/F1, S2E's output statistics on dev S, ...; rateGap is
|log(devEntities / qEntities)|; devCycleLoss is devELoss + devSLoss) and the mean over the 100 steps before each
evaluation of the step records' training losses, copy rate and S' diversity (tr_*). Printed per dataset: the mean rho
over runs and each run's. A signal usable for selection has the same sign on every dataset. The dataset is read from
the path (".../table6/DATASET/...").
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from criteria import pearson, rate_gap  # noqa: E402

STEP_KEYS = ("lossS", "lossE", "copyRate", "sDistinct2")
SKIP = {"step", "epoch", "devF1", "devBagF1", "best", "devP", "devR", "qEntities"}  # labels, or constant per run


def records(path):
    out = []
    for line in open(path):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def main(files):
    by = collections.defaultdict(lambda: collections.defaultdict(list))
    for f in files:
        dataset = f.split("/table6/")[1].split("/")[0] if "/table6/" in f else "?"
        recs = records(f)
        evals = [r for r in recs if r.get("type") == "eval"]
        steps = [r for r in recs if r.get("type") == "step"]
        if len(evals) < 5:
            continue
        for e in evals:
            window = [s for s in steps if e["step"] - 100 < s["step"] <= e["step"]]
            for k in STEP_KEYS:
                v = [s[k] for s in window if isinstance(s.get(k), (int, float))]
                e["tr_" + k] = sum(v) / len(v) if v else None
        for e in evals:  # S2E's density on dev S against Q's, as a distance (0: the same)
            if e.get("devEntities") and e.get("qEntities"):
                e["rateGap"] = rate_gap(e)
            if isinstance(e.get("devELoss"), (int, float)) and isinstance(e.get("devSLoss"), (int, float)):
                e["devCycleLoss"] = e["devELoss"] + e["devSLoss"]  # --select-on dev-cycle-loss
        keys = {k for e in evals for k, v in e.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        f1 = [e.get("devF1") for e in evals]
        for k in sorted(keys - SKIP):
            r = pearson([e.get(k) for e in evals], f1, min_points=4)
            if r is not None:
                by[dataset][k].append(r)
    for dataset, sig in sorted(by.items()):
        print(f"== {dataset}")
        for k, rs in sorted(sig.items()):
            print(f"  {k:16s} mean {sum(rs) / len(rs):+.2f}  runs {len(rs):2d}  {' '.join(f'{r:+.2f}' for r in rs)}")


if __name__ == "__main__":
    main(sys.argv[1:])
