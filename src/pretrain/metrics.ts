// Metrics log (one JSON object per line, appended across resumed sittings) and a dependency-free SVG loss curve.

import * as fs from 'node:fs';
import { atomicWriteFile } from '../util/fs';
import { readJsonLines } from '../util/fs';

export interface MetricsRecord {
  step: number;
  tokens: number;
  minutes: number;
  lr: number;
  train_loss: number;
  tokens_per_s: number;
  val_loss?: Record<string, number>;
  val_mean?: number;
  /** share of padded positions of the collated training batches since the last record (sources, targets) */
  pad_source?: number;
  pad_target?: number;
}

export function appendMetrics(file: string, rec: MetricsRecord): void {
  fs.appendFileSync(file, JSON.stringify(rec) + '\n');
}

export function readMetrics(file: string): MetricsRecord[] {
  return readJsonLines<MetricsRecord>(file).records; // a line cut by a crash is skipped
}

/** Drop records past `step` (a resumed run replays the steps after its checkpoint) and unreadable lines;
 *  returns how many unreadable lines were dropped. */
export function truncateMetrics(file: string, step: number): number {
  const { records, dropped } = readJsonLines<MetricsRecord>(file);
  atomicWriteFile(
    file,
    records
      .filter((r) => r.step <= step)
      .map((r) => JSON.stringify(r) + '\n')
      .join(''),
  );
  return dropped;
}

function fmt(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(0)}k`;
  return v.toFixed(v < 10 ? 2 : 0);
}

/** Train and mean validation loss against tokens seen. */
export function lossCurveSvg(recs: readonly MetricsRecord[], title = 'pretraining loss'): string {
  const W = 640,
    H = 360,
    L = 60,
    R = 20,
    Tm = 30,
    B = 45;
  const series: Array<{ name: string; color: string; pts: Array<[number, number]> }> = [
    {
      name: 'train',
      color: '#1f77b4',
      pts: recs.filter((r) => Number.isFinite(r.train_loss)).map((r) => [r.tokens, r.train_loss]),
    },
    {
      name: 'validation (mean)',
      color: '#d62728',
      pts: recs
        .filter((r) => r.val_mean !== undefined && Number.isFinite(r.val_mean))
        .map((r) => [r.tokens, r.val_mean!]),
    },
  ];
  const all = series.flatMap((s) => s.pts);
  const x1 = Math.max(1, ...all.map((p) => p[0]));
  const yMin = all.length ? Math.min(...all.map((p) => p[1])) : 0;
  const yMax = all.length ? Math.max(...all.map((p) => p[1])) : 1;
  const y0 = Math.floor(yMin),
    y1 = Math.max(y0 + 1, Math.ceil(yMax));
  const sx = (x: number) => L + ((W - L - R) * x) / x1;
  const sy = (y: number) => H - B - ((H - B - Tm) * (y - y0)) / (y1 - y0);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${title}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${Tm}" x2="${L}" y2="${H - B}" stroke="black"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const x = (x1 * i) / 4,
      y = y0 + ((y1 - y0) * i) / 4;
    parts.push(`<text x="${sx(x)}" y="${H - B + 16}" text-anchor="middle">${fmt(x)}</text>`);
    parts.push(`<text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${y.toFixed(1)}</text>`);
    parts.push(`<line x1="${L}" y1="${sy(y)}" x2="${W - R}" y2="${sy(y)}" stroke="#eee"/>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">tokens seen</text>`);
  series.forEach((s, k) => {
    if (s.pts.length > 0) {
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`,
      );
    }
    parts.push(`<text x="${W - R - 130}" y="${Tm + 16 + 16 * k}" fill="${s.color}">${s.name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
