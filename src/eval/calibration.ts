// Entity confidence scores: the S2E decoder's probability of an entity (src/data/entity-seq.ts entityLogProbs),
// optionally calibrated by a temperature on its log, and how well scores match accuracy (reliability by decile, ECE).

/** An entity's score from its log-probability: exp(logProb / temperature), in [0, 1] (1 = uncalibrated). */
export function entityScore(logProb: number, temperature = 1): number {
  return Math.min(1, Math.exp(logProb / temperature));
}

/** One scored prediction: its log-probability and whether it was right (1) or wrong (0); a fraction is a soft label. */
export interface ScoredOutcome {
  logProb: number;
  correct: number;
}

/** Mean log-loss of the outcomes under p = exp(logProb * a) (a = 1 / temperature). */
function logLoss(xs: readonly ScoredOutcome[], a: number): number {
  let sum = 0;
  for (const { logProb: s, correct: y } of xs) {
    const ls = Math.min(s * a, -1e-12); // log p, kept below 0 so that log(1 - p) is finite
    sum -= y * ls + (1 - y) * Math.log(-Math.expm1(ls));
  }
  return sum / xs.length;
}

/**
 * The temperature T minimising the log-loss of correct-vs-incorrect under p = exp(logProb / T): one scalar, as
 * temperature scaling does for a softmax. The loss is convex in 1/T, so a golden-section search on log(1/T) over
 * [1/100, 100] finds it. Throws without both a correct and an incorrect outcome (then any T fits one side).
 */
export function fitTemperature(xs: readonly ScoredOutcome[]): number {
  const pos = xs.reduce((n, x) => n + x.correct, 0);
  if (xs.length === 0 || pos <= 0 || pos >= xs.length)
    throw new Error(`fitTemperature: needs both correct and incorrect predictions (${pos} of ${xs.length} correct)`);
  let lo = Math.log(1e-2);
  let hi = Math.log(1e2);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = hi - g * (hi - lo);
  let d = lo + g * (hi - lo);
  let fc = logLoss(xs, Math.exp(c));
  let fd = logLoss(xs, Math.exp(d));
  while (hi - lo > 1e-9) {
    if (fc < fd) {
      hi = d;
      d = c;
      fd = fc;
      c = hi - g * (hi - lo);
      fc = logLoss(xs, Math.exp(c));
    } else {
      lo = c;
      c = d;
      fc = fd;
      d = lo + g * (hi - lo);
      fd = logLoss(xs, Math.exp(d));
    }
  }
  return 1 / Math.exp((lo + hi) / 2);
}

/** One bin of a reliability table: predictions with scores in [lo, hi). */
export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean score and share correct of the bin (0 when empty). */
  meanScore: number;
  precision: number;
}

/** Predictions in `bins` equal-width score bins (the last includes 1) and the expected calibration error. */
export function reliability(
  xs: readonly { score: number; correct: number }[],
  bins = 10,
): { bins: ReliabilityBin[]; ece: number } {
  const out: ReliabilityBin[] = Array.from({ length: bins }, (_, i) => ({
    lo: i / bins,
    hi: (i + 1) / bins,
    count: 0,
    meanScore: 0,
    precision: 0,
  }));
  for (const x of xs) {
    const b = out[Math.min(bins - 1, Math.floor(x.score * bins))] as ReliabilityBin;
    b.count++;
    b.meanScore += x.score;
    b.precision += x.correct;
  }
  let ece = 0;
  for (const b of out) {
    if (b.count === 0) continue;
    b.meanScore /= b.count;
    b.precision /= b.count;
    ece += (b.count / xs.length) * Math.abs(b.meanScore - b.precision);
  }
  return { bins: out, ece };
}
