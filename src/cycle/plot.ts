// Figure-4-style plot of a run: dev S-cycle and E-cycle losses (left axis) and, when labelled dev
// data was given, F1 (right axis, 0..1) per evaluation, drawn by the runs' plotter (run/plot.ts). Test F1 per
// evaluation (when logged) is drawn too, and then the title's correlation is taken against it.

import { curvesSvg, lossAxisMax } from '../run/plot';

export interface EvalPoint {
  epoch: number;
  devSLoss: number | null;
  devELoss: number | null;
  devF1: number | null;
  testF1?: number | null;
  step?: number;
}

export interface PlotOptions {
  /** Horizontal axis: fractional epoch (default) or global step. */
  x?: 'epoch' | 'step';
}

/** Pearson correlation of paired finite values (null when fewer than 3 pairs or no variance). */
export function pearson(xs: readonly (number | null)[], ys: readonly (number | null)[]): number | null {
  const p: [number, number][] = [];
  xs.forEach((x, i) => {
    const y = ys[i];
    if (x !== null && y !== null && y !== undefined && Number.isFinite(x) && Number.isFinite(y)) p.push([x, y]);
  });
  if (p.length < 3) return null;
  const mx = p.reduce((a, [x]) => a + x, 0) / p.length;
  const my = p.reduce((a, [, y]) => a + y, 0) / p.length;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (const [x, y] of p) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
}

export function lossF1Svg(points: readonly EvalPoint[], title: string, opts: PlotOptions = {}): string {
  const xKey = opts.x ?? 'epoch';
  const xOf = (p: EvalPoint) => (xKey === 'step' ? (p.step ?? 0) : p.epoch);
  const xs = points.map(xOf);
  const xmax = Math.max(1e-9, ...xs);
  const curve = (label: string, color: string, axis: 'left' | 'right', y: (p: EvalPoint) => number | null) => ({
    label,
    color,
    axis,
    markers: true,
    points: points.map((p) => [xOf(p), y(p)] as const),
  });
  const hasTest = points.some((p) => typeof p.testF1 === 'number');
  const series = [
    curve('dev S-cycle loss', '#1f77b4', 'left', (p) => p.devSLoss),
    curve('dev E-cycle loss', '#ff7f0e', 'left', (p) => p.devELoss),
    curve('dev F1', '#2ca02c', 'right', (p) => p.devF1),
    // No test F1: no points, an empty line in the SVG.
    curve('test F1', '#d62728', 'right', (p) => (hasTest ? (p.testF1 ?? null) : null)),
  ];
  const r = pearson(
    points.map((p) => p.devELoss),
    points.map((p) => (hasTest ? (p.testF1 ?? null) : p.devF1)),
  );
  const lmax = lossAxisMax(series);
  return curvesSvg({
    title: `${title}${r === null ? '' : ` (Pearson E-loss vs ${hasTest ? 'test ' : ''}F1: ${r.toFixed(2)})`}`,
    x: {
      min: Math.min(0, ...xs),
      max: xmax,
      label: xKey,
      maxLabel: xKey === 'step' ? String(xmax) : xmax.toFixed(1),
    },
    left: { max: lmax, maxLabel: lmax.toFixed(2) },
    right: { max: 1, maxLabel: 'F1 1' },
    series,
  });
}
