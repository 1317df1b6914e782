#!/usr/bin/env python3
"""Label-free selection criteria against dev F1, over the evaluations of cycle runs (issue 25, item 3).

usage: tools/research/criteria.py RUN/metrics.jsonl [...]

For each run and criterion: Pearson's rho with dev F1 over the run's evaluations (sign-adjusted so that a useful
criterion is negative, as the paper reports the E-loss), the step it selects (its best value over the run, as
patience would keep it), and dev F1 / per-evaluation test F1 there, next to step 0 (right after the warm-up).
Criteria: the paper's dev E-cycle loss, the dev S-cycle loss, their sum, silver F1 on dev S and on a sample of S
(src/cycle/silver.ts; maximised, so rho is taken of -silver), silver F1 and the held-out names' recall on the sentences
of held-out names (--name-holdout, src/cycle/name-holdout.ts), S2E's density gap, empty share and self loss on dev S
(the --select-on choices of the same names), silver F1 on S as it is (s-silver-f1-min), what --select-on auto picks, and
the mean rank of E-loss and S-silver.
"""
import json
import math
import os
import sys


def pearson(xs, ys, min_points=3):
    """Pearson's rho over the pairs where both are numbers; None with fewer than `min_points` or no spread."""
    pts = [(x, y) for x, y in zip(xs, ys) if isinstance(x, (int, float)) and isinstance(y, (int, float))]
    if len(pts) < min_points:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    syy = sum((y - my) ** 2 for _, y in pts)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def ranks(xs):
    """Rank of each value (0 = best = smallest); None stays None."""
    idx = sorted((v, i) for i, v in enumerate(xs) if v is not None)
    out = [None] * len(xs)
    for r, (_, i) in enumerate(idx):
        out[i] = r
    return out


def neg(x):
    return None if x is None else -x


def rate_gap(e):
    """|log(devEntities / qEntities)|, as --select-on dev-rate-gap scores it (inf when S2E names nothing)."""
    d, q = e.get("devEntities"), e.get("qEntities")
    if d is None or not q:
        return None
    return math.inf if d == 0 else abs(math.log(d / q))


def lexical_warmup(f):
    """Whether the run of `f` had a lexical warm-up: from RUN/config.json beside metrics.jsonl, or from the train command
    of the result.json beside a record's evals.jsonl; None when neither is there."""
    d = os.path.dirname(os.path.abspath(f))
    cfg = os.path.join(d, "config.json")
    if os.path.exists(cfg):
        c = json.load(open(cfg))
        return c.get("warmup") == "lexical" and (c.get("warmupSteps") or 0) > 0
    res = os.path.join(d, "result.json")
    if os.path.exists(res):
        cmds = [c for c in (json.load(open(res)).get("commands") or []) if c.get("stage") == "train"]
        if cmds:
            a = cmds[-1].get("argv") or []
            steps = a[a.index("--warmup-steps") + 1] if "--warmup-steps" in a else "200"
            return any(x == "--warmup" and y == "lexical" for x, y in zip(a, a[1:])) and float(steps) > 0
    return None


def main(files):
    for f in files:
        evals = []
        for line in open(f):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("type") == "eval":
                evals.append(r)
        if not evals:
            continue
        col = lambda k: [e.get(k) for e in evals]
        crit = {
            "E-loss (paper)": col("devELoss"),
            "S-loss": col("devSLoss"),
            "E-loss + S-loss (dev-cycle-loss)": [
                None if a is None or b is None else a + b for a, b in zip(col("devELoss"), col("devSLoss"))
            ],
            "-silver F1 dev S": [neg(x) for x in col("devSilverF1")],
            "-silver F1 S": [neg(x) for x in col("sSilverF1")],
            "-silver F1 held-out S": [neg(x) for x in col("heldSilverF1")],
            "-silver F1 held-out names": [neg(x) for x in col("nameHeldF1")],
            "-recall of held-out names": [neg(x) for x in col("nameHeldRecall")],
            "rate gap (dev-rate-gap)": [rate_gap(e) for e in evals],
            "empty share (dev-empty)": col("devEmpty"),
            "self loss (dev-self-loss)": col("devSelfLoss"),
        }
        crit["silver F1 S (s-silver-f1-min)"] = col("sSilverF1")
        # --select-on auto (src/cycle/selection.ts): dev-cycle-loss where the gazetteer from Q matches in dev S; s-silver-f1-min
        # when it matches nothing in dev S
        # (read here as: no evaluation has a silver F1 on dev S, which an S2E that names nothing also gives) after a
        # lexical warm-up (the run's config.json, or its record's train command; else: an evaluation at step 0).
        no_dev_match = all(x is None for x in col("devSilverF1"))
        lexical = lexical_warmup(f)
        if lexical is None:
            lexical = evals[0].get("step") == 0
        s_min = [x if x else None for x in crit["silver F1 S (s-silver-f1-min)"]]  # 0 is never a candidate
        if not no_dev_match:
            crit["auto"] = crit["E-loss + S-loss (dev-cycle-loss)"]
        elif lexical and any(x is not None for x in col("sSilverF1")):  # measured: the S sample has matches
            crit["auto"] = s_min
        else:  # no warm-up, or no gazetteer match in the S sample either
            crit["auto"] = crit["E-loss (paper)"]
        re, rs = ranks(crit["E-loss (paper)"]), ranks(crit["-silver F1 S"])
        crit["rank(E-loss)+rank(-silver S)"] = [
            None if a is None or b is None else a + b for a, b in zip(re, rs)
        ]
        dev = col("devF1")
        test = col("testF1")
        fmt = lambda x: "-" if x is None else f"{x:.3f}"
        print(f"== {f} ({len(evals)} evaluations; step 0: dev F1 {fmt(dev[0])}, test F1 {fmt(test[0])})")
        print(f"  {'criterion':34} {'rho(., dev F1)':>14} {'step':>6} {'dev F1':>7} {'test F1':>7}")
        for name, xs in crit.items():
            have = [(x, i) for i, x in enumerate(xs) if x is not None]
            if not have:
                print(f"  {name:34} {'-':>14}")
                continue
            best = min(have)[1]
            print(f"  {name:34} {fmt(pearson(xs, dev)):>14} {evals[best]['step']:>6} {fmt(dev[best]):>7} {fmt(test[best]):>7}")
        best_dev = max((x, i) for i, x in enumerate(dev) if x is not None)[1]
        print(f"  {'(oracle: best dev F1)':34} {'':>14} {evals[best_dev]['step']:>6} {fmt(dev[best_dev]):>7} {fmt(test[best_dev]):>7}")


if __name__ == "__main__":
    main(sys.argv[1:])
