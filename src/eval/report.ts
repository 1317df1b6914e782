// Plain-text tables for evaluation reports (per-type P/R/F1 plus micro and macro rows).

import type { ErrorBreakdown, EvalReport, ScoreTable } from './metrics';

const f3 = (x: number) => x.toFixed(3);

export function formatScoreTable(title: string, t: ScoreTable): string {
  const rows: string[][] = [['type', 'P', 'R', 'F1', 'gold', 'pred', 'correct']];
  for (const r of t.perType)
    rows.push([r.type, f3(r.precision), f3(r.recall), f3(r.f1), String(r.gold), String(r.pred), String(r.correct)]);
  rows.push([
    'micro',
    f3(t.micro.precision),
    f3(t.micro.recall),
    f3(t.micro.f1),
    String(t.micro.gold),
    String(t.micro.pred),
    String(t.micro.correct),
  ]);
  rows.push(['macro', f3(t.macro.precision), f3(t.macro.recall), f3(t.macro.f1), '', '', '']);
  return `${title}\n${alignRows(rows, [rows.length - 2])}`;
}

export function formatErrors(e: ErrorBreakdown): string {
  const rows = [
    ['correct', e.correct],
    ['wrong type (same span)', e.wrongType],
    ['wrong boundary (same type)', e.wrongBoundary],
    ['wrong boundary and type', e.wrongBoundaryAndType],
    ['spurious (no overlap with gold)', e.spurious],
    ['missed (gold not overlapped)', e.missed],
  ].map(([k, v]) => [String(k), String(v)]);
  return `error breakdown (predicted mentions, then missed gold)\n${alignRows(rows, [])}`;
}

export function formatReport(r: EvalReport, opts: { bag?: boolean } = {}): string {
  const parts = [
    `${r.sentences} sentences, ${r.sentencesWithEntities} with gold entities`,
    formatScoreTable('exact spans (conlleval)', r.exact),
  ];
  if (opts.bag !== false) parts.push(formatScoreTable('bag of mentions (surface, type) per sentence', r.bag));
  parts.push(formatErrors(r.errors));
  const w = r.withEntitiesOnly;
  parts.push(
    `sentences with gold entities only (${w.sentences}): exact P ${f3(w.exact.micro.precision)} R ${f3(w.exact.micro.recall)} F1 ${f3(w.exact.micro.f1)}` +
      (opts.bag !== false
        ? `; bag P ${f3(w.bag.micro.precision)} R ${f3(w.bag.micro.recall)} F1 ${f3(w.bag.micro.f1)}`
        : ''),
  );
  return parts.join('\n\n');
}

function alignRows(rows: string[][], ruleBefore: number[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const lines: string[] = [];
  rows.forEach((r, i) => {
    if (ruleBefore.includes(i)) lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
    lines.push(
      r
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)))
        .join('  ')
        .trimEnd(),
    );
  });
  return lines.join('\n');
}
