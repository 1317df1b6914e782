// Entity confidence scores: the S2E decoder's probability of an entity (src/data/entity-seq.ts entityLogProbs),
// optionally calibrated by a temperature on its log, and how well scores match accuracy (reliability by decile, ECE).

/**
 * A monotone map of scores fitted by isotonic regression (`fitIsotonic`): knots `x` (increasing) to `y`
 * (non-decreasing), linear between knots and constant beyond the ends.
 */
export interface IsotonicMap {
  x: number[];
  y: number[];
}

/** Beta calibration (Kull et al. 2017, `fitBeta`): sigmoid(a ln p - b ln(1 - p) + c), with a, b >= 0 (monotone). */
export interface BetaMap {
  a: number;
  b: number;
  c: number;
}

/** A calibration map of scores, as recorded in a model's cyclener.json. */
export type ScoreMap = ({ method: 'beta' } & BetaMap) | ({ method: 'isotonic' } & IsotonicMap);

/** An entity's score from its log-probability: exp(logProb / temperature), through `map` when given; in [0, 1]. */
export function entityScore(logProb: number, temperature = 1, map?: ScoreMap): number {
  const p = Math.min(1, Math.exp(logProb / temperature));
  return map ? applyScoreMap(map, p) : p;
}

export function applyScoreMap(m: ScoreMap, p: number): number {
  return m.method === 'beta' ? applyBeta(m, p) : applyIsotonic(m, p);
}

// ln p and -ln(1 - p) are kept finite: a score of exactly 0 or 1 maps like one within 1e-12 of it.
const betaFeatures = (p: number): [number, number] => {
  const q = Math.min(Math.max(p, 1e-12), 1 - 1e-12);
  return [Math.log(q), -Math.log1p(-q)];
};

export function applyBeta(m: BetaMap, p: number): number {
  const [u, v] = betaFeatures(p);
  return 1 / (1 + Math.exp(-(m.a * u + m.b * v + m.c)));
}

/** Logistic regression of y on the features (plus an intercept) by Newton's method; weights, intercept last. */
function logistic(features: readonly number[][], y: readonly number[]): number[] {
  const d = (features[0]?.length ?? 0) + 1;
  const w = new Array<number>(d).fill(0);
  for (let it = 0; it < 100; it++) {
    const g = new Array<number>(d).fill(0);
    const H = Array.from({ length: d }, () => new Array<number>(d).fill(0));
    features.forEach((f, i) => {
      const x = [...f, 1];
      const z = x.reduce((s, xi, k) => s + xi * (w[k] as number), 0);
      const p = 1 / (1 + Math.exp(-z));
      const r = p - (y[i] as number);
      const h = Math.max(p * (1 - p), 1e-12);
      for (let a = 0; a < d; a++) {
        g[a] = (g[a] as number) + r * (x[a] as number);
        for (let b = 0; b < d; b++)
          (H[a] as number[])[b] = ((H[a] as number[])[b] as number) + h * (x[a] as number) * (x[b] as number);
      }
    });
    for (let a = 0; a < d; a++) (H[a] as number[])[a] = ((H[a] as number[])[a] as number) + 1e-9 * features.length;
    const step = solve(H, g);
    let moved = 0;
    for (let k = 0; k < d; k++) {
      w[k] = (w[k] as number) - (step[k] as number);
      moved = Math.max(moved, Math.abs(step[k] as number));
    }
    if (moved < 1e-10) break;
  }
  return w;
}

/** Gaussian elimination with partial pivoting (d <= 3 here). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i] as number]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[piv]![c]!)) piv = r;
    [M[c], M[piv]] = [M[piv]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k] = M[r]![k]! - f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

/**
 * Beta calibration (Kull, Silva Filho and Flach, 2017): logistic regression of right (1) / wrong (0) on ln p and
 * -ln(1 - p). Three parameters: unlike a temperature it can pull the top below 1 (an over-confident 0.95 that is
 * right 77% of the time) and lift the bottom, and unlike isotonic regression it is smooth, so it does not overfit a
 * few hundred entities. A negative a or b (a non-monotone map) is refitted without that feature.
 */
export function fitBeta(xs: readonly { score: number; correct: number }[]): BetaMap {
  const pos = xs.reduce((n, x) => n + x.correct, 0);
  if (xs.length === 0 || pos <= 0 || pos >= xs.length)
    throw new Error(`fitBeta: needs both correct and incorrect predictions (${pos} of ${xs.length} correct)`);
  const f = xs.map((x) => betaFeatures(x.score));
  const y = xs.map((x) => x.correct);
  let [a, b, c] = logistic(f, y) as [number, number, number];
  if (a < 0 || b < 0) {
    const keepA = a >= b; // the larger of the two is the one the data supports
    const [w, c1] = logistic(
      f.map(([u, v]) => [keepA ? u : v]),
      y,
    ) as [number, number];
    [a, b, c] = keepA ? [Math.max(w, 0), 0, c1] : [0, Math.max(w, 0), c1];
  }
  const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
  return { a: r6(a), b: r6(b), c: r6(c) };
}

/** The isotonic map at `p`: linear between knots, the end values beyond them. */
export function applyIsotonic(m: IsotonicMap, p: number): number {
  const { x, y } = m;
  const n = x.length;
  if (n === 0) return p;
  if (p <= (x[0] as number)) return y[0] as number;
  if (p >= (x[n - 1] as number)) return y[n - 1] as number;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((x[mid] as number) <= p) lo = mid;
    else hi = mid;
  }
  const [x0, x1, y0, y1] = [x[lo] as number, x[hi] as number, y[lo] as number, y[hi] as number];
  return x1 === x0 ? y1 : y0 + ((y1 - y0) * (p - x0)) / (x1 - x0);
}

/**
 * Isotonic regression of correct (1) / wrong (0) on the score, by pool-adjacent-violators: the non-decreasing step
 * function closest to the outcomes in squared error, i.e. each block's precision. The knots are the blocks' mean
 * scores, so the map interpolates between block precisions. Unlike a temperature it can bend: it makes precision rise
 * with the calibrated score on the data it was fitted on, whatever the raw scores did. Throws without both outcomes.
 */
export function fitIsotonic(xs: readonly { score: number; correct: number }[]): IsotonicMap {
  const pos = xs.reduce((n, x) => n + x.correct, 0);
  if (xs.length === 0 || pos <= 0 || pos >= xs.length)
    throw new Error(`fitIsotonic: needs both correct and incorrect predictions (${pos} of ${xs.length} correct)`);
  const sorted = [...xs].sort((a, b) => a.score - b.score);
  // Blocks: sum of scores, sum of outcomes, count; merged while a block's mean outcome is below its predecessor's.
  const blocks: { s: number; c: number; n: number }[] = [];
  for (const o of sorted) {
    blocks.push({ s: o.score, c: o.correct, n: 1 });
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1] as { s: number; c: number; n: number };
      const a = blocks[blocks.length - 2] as { s: number; c: number; n: number };
      if (a.c / a.n < b.c / b.n) break;
      blocks.splice(-2, 2, { s: a.s + b.s, c: a.c + b.c, n: a.n + b.n });
    }
  }
  const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
  return { x: blocks.map((b) => r6(b.s / b.n)), y: blocks.map((b) => r6(b.c / b.n)) };
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

/** What calibrates scores made with these settings: none (the decoder's probability), a temperature, or an isotonic map. */
export function scoreCalibration(s: {
  temperature: number;
  isotonic?: IsotonicMap;
}): 'none' | 'temperature' | 'isotonic' {
  return s.isotonic ? 'isotonic' : s.temperature !== 1 ? 'temperature' : 'none';
}

/**
 * A reliability diagram as a dependency-free SVG: precision against mean score per decile for each series (e.g. before
 * and after calibration), the diagonal a calibrated model follows, and each point's count on hover.
 */
export function reliabilitySvg(
  series: readonly { name: string; bins: readonly ReliabilityBin[]; ece: number }[],
  title: string,
): string {
  const [W, H, L, R, T, B] = [480, 440, 60, 20, 40, 70];
  const X = (v: number) => L + v * (W - L - R);
  const Y = (v: number) => H - B - v * (H - T - B);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const esc = (t: string) => t.replace(/[<>&]/g, '');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" stroke="#999" stroke-dasharray="4 3"/>`,
    ...ticks.map(
      (v) =>
        `<text x="${X(v).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${v}</text>` +
        `<text x="${L - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${v}</text>`,
    ),
    `<text x="${(L + W - R) / 2}" y="${H - B + 34}" text-anchor="middle" font-size="12">mean score of the decile</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${(T + H - B) / 2})">precision</text>`,
    ...series.flatMap((s, k) => {
      const c = colours[k % colours.length] as string;
      const pts = s.bins.filter((b) => b.count > 0);
      const d = pts.map((b, i) => `${i === 0 ? 'M' : 'L'}${X(b.meanScore).toFixed(1)},${Y(b.precision).toFixed(1)}`);
      return [
        d.length > 0 ? `<path d="${d.join(' ')}" fill="none" stroke="${c}" stroke-width="2"/>` : '',
        ...pts.map(
          (b) =>
            `<circle cx="${X(b.meanScore).toFixed(1)}" cy="${Y(b.precision).toFixed(1)}" r="${(2 + Math.sqrt(b.count) / 3).toFixed(1)}" fill="${c}" fill-opacity="0.6"><title>${esc(s.name)} [${b.lo.toFixed(1)}, ${b.hi.toFixed(1)}): ${b.count} entities, mean score ${b.meanScore.toFixed(3)}, precision ${b.precision.toFixed(3)}</title></circle>`,
        ),
        `<text x="${L + 10}" y="${T + 16 + 16 * k}" font-size="12" fill="${c}">${esc(s.name)}: ECE ${s.ece.toFixed(3)}</text>`,
      ];
    }),
    '</svg>',
  ].join('\n');
}
