// The one curve plotter of the runs: lines over a shared horizontal axis, a left axis from 0 (losses) and an optional
// right one (F1, 0..1), as a dependency-free SVG. The cycle's Figure-4 plot (cycle/plot.ts, curves.svg and the
// report's figures), pretraining's loss curve (loss.svg) and the supervised curve are drawn by it.

export interface CurveSeries {
  label: string;
  color: string;
  /** [x, y]; points with a non-finite y are skipped. */
  points: readonly (readonly [number, number | null])[];
  axis: 'left' | 'right';
  /** A dot on each point (off for long curves). */
  markers: boolean;
}

export interface Chart {
  /** Plain text (<, > and & are dropped). */
  title: string;
  x: { min: number; max: number; label: string; maxLabel: string };
  /** The left axis runs from 0 to `max`; `maxLabel` is written at its top. */
  left: { max: number; maxLabel: string };
  /** The right axis (0 to max), with the label of its top; absent: none. */
  right?: { max: number; maxLabel: string };
  series: readonly CurveSeries[];
}

const W = 640;
const H = 360;
const L = 60;
const R = 60;
const TOP = 40;
const B = 50;
/** Horizontal distance between the legend entries. */
const LEGEND_STEP = 135;

export function curvesSvg(c: Chart): string {
  const X = (x: number) => L + ((x - c.x.min) / (c.x.max - c.x.min || 1)) * (W - L - R);
  const Y = (v: number, max: number) => H - B - (v / max) * (H - TOP - B);
  const line = (s: CurveSeries, i: number) => {
    const max = s.axis === 'left' ? c.left.max : (c.right?.max ?? 1);
    const pts = s.points.filter(([, v]) => v !== null && Number.isFinite(v)) as [number, number][];
    if (pts.length === 0) return '';
    const d = pts.map(([x, v], k) => `${k === 0 ? 'M' : 'L'}${X(x).toFixed(1)},${Y(v, max).toFixed(1)}`).join(' ');
    const dots = s.markers
      ? pts
          .map(([x, v]) => `<circle cx="${X(x).toFixed(1)}" cy="${Y(v, max).toFixed(1)}" r="3" fill="${s.color}"/>`)
          .join('')
      : '';
    return (
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>` +
      dots +
      `<text x="${L + 10 + i * LEGEND_STEP}" y="${TOP - 10}" fill="${s.color}" font-size="12">${s.label}</text>`
    );
  };
  const rightAxis = c.right ? `<line x1="${W - R}" y1="${TOP}" x2="${W - R}" y2="${H - B}" stroke="black"/>` : '';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${c.title.replace(/[<>&]/g, '')}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${TOP}" x2="${L}" y2="${H - B}" stroke="black"/>${rightAxis}`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="12">${c.x.label}</text>`,
    `<text x="${L - 8}" y="${TOP + 4}" text-anchor="end" font-size="11">${c.left.maxLabel}</text><text x="${L - 8}" y="${H - B}" text-anchor="end" font-size="11">0</text>`,
    ...(c.right
      ? [
          `<text x="${W - R + 8}" y="${TOP + 4}" font-size="11">${c.right.maxLabel}</text><text x="${W - R + 8}" y="${H - B}" font-size="11">0</text>`,
        ]
      : []),
    `<text x="${X(c.x.max)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${c.x.maxLabel}</text>`,
    ...c.series.map(line),
    '</svg>',
  ].join('\n');
}

/** The top of the left (loss) axis: 5% above the largest finite value of its series. */
export function lossAxisMax(series: readonly CurveSeries[]): number {
  const vals = series
    .filter((s) => s.axis === 'left')
    .flatMap((s) => s.points.map(([, v]) => v))
    .filter((v): v is number => v !== null && Number.isFinite(v));
  return Math.max(1e-9, ...vals) * 1.05;
}

/** A count as an axis label: 1.2M, 35k, 12, 3.50. */
export function shortNumber(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(0)}k`;
  return v.toFixed(v < 10 ? 2 : 0);
}
