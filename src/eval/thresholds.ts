// Score thresholds: exact P/R/F1 when the predictions scored below a threshold are dropped (after alignment, as
// predict drops them), the best-F1 threshold, and the precision-recall curve as a dependency-free SVG.

import { exactScores, type EvalSentence } from './metrics';

/** Each sentence with its predictions scored below `t` dropped (a prediction without a score is kept). */
export function predictionsAbove(sentences: readonly EvalSentence[], t: number): EvalSentence[] {
  return t <= 0
    ? [...sentences]
    : sentences.map((s) => ({ gold: s.gold, pred: s.pred.filter((m) => (m.score ?? 1) >= t) }));
}

export interface ThresholdRow {
  threshold: number;
  correct: number;
  pred: number;
  gold: number;
  precision: number;
  recall: number;
  f1: number;
}

/** `n + 1` thresholds 0, 1/n, ..., 1, rounded to 4 decimals. */
export function thresholdGrid(n: number): number[] {
  return Array.from({ length: n + 1 }, (_, i) => Math.round((i / n) * 1e4) / 1e4);
}

/** Exact micro P/R/F1 at each threshold. */
export function sweepThresholds(sentences: readonly EvalSentence[], thresholds: readonly number[]): ThresholdRow[] {
  return thresholds.map((threshold) => ({ threshold, ...exactScores(predictionsAbove(sentences, threshold)).micro }));
}

/** The row of the highest F1 (the lowest threshold among equals: it keeps the most). */
export function bestF1(rows: readonly ThresholdRow[]): ThresholdRow {
  return rows.reduce((b, r) => (r.f1 > b.f1 ? r : b));
}

/** Precision (y) against recall (x), one point per threshold, the best-F1 point marked. */
export function prCurveSvg(rows: readonly ThresholdRow[], title: string): string {
  const [W, H, L, R, T, B] = [480, 420, 60, 20, 40, 50];
  const X = (r: number) => L + r * (W - L - R);
  const Y = (p: number) => H - B - p * (H - T - B);
  const pts = rows.filter((r) => r.pred > 0);
  const d = pts.map((r, k) => `${k === 0 ? 'M' : 'L'}${X(r.recall).toFixed(1)},${Y(r.precision).toFixed(1)}`).join(' ');
  const best = pts.length > 0 ? bestF1(pts) : null;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${title.replace(/[<>&]/g, '')}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    ...ticks.map(
      (v) =>
        `<text x="${X(v).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${v}</text>` +
        `<text x="${L - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${v}</text>`,
    ),
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" font-size="12">recall</text>`,
    `<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${(T + H - B) / 2})">precision</text>`,
    d === '' ? '' : `<path d="${d}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
    ...pts.map(
      (r) =>
        `<circle cx="${X(r.recall).toFixed(1)}" cy="${Y(r.precision).toFixed(1)}" r="2.5" fill="#1f77b4"><title>threshold ${r.threshold}: P ${r.precision.toFixed(3)} R ${r.recall.toFixed(3)} F1 ${r.f1.toFixed(3)}</title></circle>`,
    ),
    best
      ? `<circle cx="${X(best.recall).toFixed(1)}" cy="${Y(best.precision).toFixed(1)}" r="5" fill="none" stroke="#d62728" stroke-width="2"/>` +
        `<text x="${L + 10}" y="${H - B - 10}" font-size="12" fill="#d62728">best F1 ${best.f1.toFixed(3)} at threshold ${best.threshold}</text>`
      : '',
    '</svg>',
  ].join('\n');
}

/** Every scored prediction and whether it is right (its span and label are gold's), for calibration. */
export function scoredOutcomes(sentences: readonly EvalSentence[]): { score: number; correct: number }[] {
  return sentences.flatMap((s) => {
    const gold = new Set(s.gold.map((m) => `${m.start}:${m.end}:${m.label}`));
    return s.pred.flatMap((m) =>
      m.score === undefined ? [] : [{ score: m.score, correct: gold.has(`${m.start}:${m.end}:${m.label}`) ? 1 : 0 }],
    );
  });
}
