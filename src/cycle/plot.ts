// Figure-4-style plot of a run: dev S-cycle and E-cycle losses (left axis) and, when labelled dev
// data was given, F1 (right axis, 0..1) per evaluation, as a dependency-free SVG. Test F1 per
// evaluation (when logged) is drawn too, and then the title's correlation is taken against it.

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
  const W = 640,
    H = 360,
    L = 60,
    R = 60,
    T = 40,
    B = 50;
  const xKey = opts.x ?? 'epoch';
  const xOf = (p: EvalPoint) => (xKey === 'step' ? (p.step ?? 0) : p.epoch);
  const xs = points.map(xOf);
  const xmin = Math.min(0, ...xs),
    xmax = Math.max(1e-9, ...xs);
  const losses = points
    .flatMap((p) => [p.devSLoss, p.devELoss])
    .filter((v): v is number => v !== null && Number.isFinite(v));
  const lmax = Math.max(1e-9, ...losses) * 1.05;
  const X = (x: number) => L + ((x - xmin) / (xmax - xmin || 1)) * (W - L - R);
  const Y = (v: number, max: number) => H - B - (v / max) * (H - T - B);
  const line = (vals: (number | null)[], max: number, color: string, label: string, i: number) => {
    const pts = points
      .map((p, k) => [xOf(p), vals[k]] as const)
      .filter(([, v]) => v !== null && Number.isFinite(v)) as [number, number][];
    if (pts.length === 0) return '';
    const d = pts.map(([x, v], k) => `${k === 0 ? 'M' : 'L'}${X(x).toFixed(1)},${Y(v, max).toFixed(1)}`).join(' ');
    return (
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>` +
      pts
        .map(([x, v]) => `<circle cx="${X(x).toFixed(1)}" cy="${Y(v, max).toFixed(1)}" r="3" fill="${color}"/>`)
        .join('') +
      `<text x="${L + 10 + i * 135}" y="${T - 10}" fill="${color}" font-size="12">${label}</text>`
    );
  };
  const hasTest = points.some((p) => typeof p.testF1 === 'number');
  const r = pearson(
    points.map((p) => p.devELoss),
    points.map((p) => (hasTest ? (p.testF1 ?? null) : p.devF1)),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${title.replace(/[<>&]/g, '')}${r === null ? '' : ` (Pearson E-loss vs ${hasTest ? 'test ' : ''}F1: ${r.toFixed(2)})`}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/><line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="12">${xKey}</text>`,
    `<text x="${L - 8}" y="${T + 4}" text-anchor="end" font-size="11">${lmax.toFixed(2)}</text><text x="${L - 8}" y="${H - B}" text-anchor="end" font-size="11">0</text>`,
    `<text x="${W - R + 8}" y="${T + 4}" font-size="11">F1 1</text><text x="${W - R + 8}" y="${H - B}" font-size="11">0</text>`,
    `<text x="${X(xmax)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${xKey === 'step' ? String(xmax) : xmax.toFixed(1)}</text>`,
    line(
      points.map((p) => p.devSLoss),
      lmax,
      '#1f77b4',
      'dev S-cycle loss',
      0,
    ),
    line(
      points.map((p) => p.devELoss),
      lmax,
      '#ff7f0e',
      'dev E-cycle loss',
      1,
    ),
    line(
      points.map((p) => p.devF1),
      1,
      '#2ca02c',
      'dev F1',
      2,
    ),
    hasTest
      ? line(
          points.map((p) => p.testF1 ?? null),
          1,
          '#d62728',
          'test F1',
          3,
        )
      : '',
    '</svg>',
  ].join('\n');
}
