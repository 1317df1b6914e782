// The results report: every planned cell of every experiment, ours (mean ± std over seeds) next to
// the paper's numbers, error-analysis columns, correlations, curves (SVG) and the exact commands.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { lossF1Svg } from '../cycle/plot';
import { parseConfigName } from '../data/config';
import type { Block } from './doc';
import {
  FIGURE4_PEARSON_E,
  FIGURE4_PEARSON_S_MEAN,
  TABLE4_OTHERS,
  TABLE4_T5,
  TABLE5A,
  TABLE5B,
  TABLE6,
  TABLE6_BERT,
} from './paper';
import { EXPERIMENTS, planExperiment, PRESETS, type Cell } from './plan';
import { RESULT_FIELDS, type CellResult } from './result';
import { fieldProblem } from '../util/cache-key';
import { atomicWriteFile, readJsonFile } from '../util/fs';

export interface Stat {
  mean: number;
  /** Sample standard deviation (n - 1); null for a single value. */
  std: number | null;
  n: number;
}

export function meanStd(xs: readonly (number | null | undefined)[]): Stat | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : null;
  return { mean, std, n: v.length };
}

export function fmtStat(s: Stat | null, digits = 3): string {
  if (!s) return '–';
  return s.std === null ? s.mean.toFixed(digits) : `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`;
}

const fmt = (x: number | undefined | null, d = 3) => (typeof x === 'number' ? x.toFixed(d) : '–');

/** Every result.json under `dir` (any depth). */
export function loadResults(dir: string): CellResult[] {
  const out: CellResult[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'result.json') {
        const r = readJsonFile<CellResult>(p);
        const why =
          r !== null && typeof r === 'object'
            ? fieldProblem(r as unknown as Record<string, unknown>, RESULT_FIELDS)
            : 'not an object';
        if (why) throw new Error(`${p}: damaged result (${why}); rerun its cell with cyclener experiment`);
        out.push(r);
      }
    }
  };
  walk(dir);
  return out.sort((a, b) => (a.cellId < b.cellId ? -1 : a.cellId > b.cellId ? 1 : 0));
}

/** Cell id without its seed: the row the seeds are averaged over. */
export const rowKey = (id: string): string => id.replace(/\/seed\d+$/, '');

const NOT_RUN = 'not run';
const slug = (id: string) => id.replace(/[^A-Za-z0-9.]+/g, '_');

interface Row {
  cell: Cell;
  results: CellResult[];
}

function ours(rs: readonly CellResult[]): string[] {
  if (rs.length === 0) return [NOT_RUN, '', '', '', '', '', '', '', ''];
  const seeds = rs.map((r) => r.seed).join(',') + (rs.some((r) => r.evalSplit === 'dev') ? ' (dev split)' : '');
  const m = (f: (r: CellResult) => number | null) => meanStd(rs.map(f));
  return [
    seeds,
    fmtStat(m((r) => r.test.exact.micro.precision)),
    fmtStat(m((r) => r.test.exact.micro.recall)),
    fmtStat(m((r) => r.test.exact.micro.f1)),
    fmtStat(m((r) => r.test.withEntitiesOnly.exact.micro.f1)),
    fmtStat(
      m((r) => r.test.hallucinated),
      1,
    ),
    fmtStat(
      m((r) => r.test.malformedSequences),
      1,
    ),
    fmtStat(
      m((r) => r.training?.epochs ?? null),
      2,
    ),
    fmtStat(
      m((r) => (r.wallSeconds.total ?? 0) / 60),
      1,
    ),
  ];
}
const OURS_HEAD = [
  'seeds',
  'P',
  'R',
  'F1',
  'F1 (sentences with entities)',
  'hallucinated',
  'malformed',
  'epochs',
  'wall min',
];

function describeConfig(config: string | null): string[] {
  if (!config) return ['full train', '', ''];
  const c = parseConfigName(config);
  const k = (n: number | 'full') => (n === 'full' ? 'full' : n >= 1000 ? `${n / 1000}k` : String(n));
  return [c.mode.toUpperCase(), k(c.numS), k(c.numQ)];
}

function curvesFigure(r: CellResult, svgDir: string, svgHref: string): { href: string; svg: string } | null {
  if (r.kind !== 'cyclener' || r.evals.length === 0) return null;
  const name = `${slug(r.preset)}__${slug(r.cellId)}.svg`;
  const svg = lossF1Svg(
    r.evals.map((e) => ({
      epoch: e.epoch,
      step: e.step,
      devSLoss: e.devSLoss,
      devELoss: e.devELoss,
      devF1: e.devF1,
      testF1: e.testF1 ?? null,
    })),
    `${r.cellId} (${r.preset})`,
    { x: 'step' },
  );
  fs.mkdirSync(svgDir, { recursive: true });
  atomicWriteFile(path.join(svgDir, name), svg);
  return { href: `${svgHref}/${name}`, svg };
}

export interface ReportOptions {
  /** Folder for the curve SVGs, and how the Markdown refers to it (relative to the Markdown file). */
  svgDir: string;
  svgHref: string;
  resultsDir: string;
  /** Blocks placed after the introduction (hand-written notes). */
  notes?: Block[];
}

export function buildReport(all: readonly CellResult[], o: ReportOptions): Block[] {
  const order = Object.keys(PRESETS);
  const presets = [...new Set(all.map((r) => r.preset))].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  if (presets.length === 0) presets.push('cpu');
  const blocks: Block[] = [
    { kind: 'heading', level: 1, text: 'CycleNER: our results next to the paper' },
    {
      kind: 'para',
      text: `Generated by \`cyclener report\` from ${all.length} result.json file(s) under \`${o.resultsDir}\`. F1 is conlleval-exact micro F1 on the test split unless marked "dev split"; mean ± sample std over seeds. "not run" = no result yet. Paper numbers: Iovine et al., WWW 2022, Tables 4–6 and section 7.2. How to run: \`docs/experiments.md\`.`,
    },
    ...(o.notes ?? []),
  ];
  const figures: Block[] = [];
  const commands: Block[] = [];
  for (const preset of presets) {
    const rs = all.filter((r) => r.preset === preset);
    blocks.push({ kind: 'heading', level: 2, text: `Preset \`${preset}\`` });
    blocks.push({ kind: 'para', text: PRESETS[preset]?.summary ?? '(unknown preset)' });
    const bases = [
      ...new Set(
        rs
          .filter((r) => r.baseModel)
          .map((r) => {
            const b = r.baseModel!;
            return `\`${b.path}\` (d_model ${b.dModel ?? '?'}, ${b.layers ?? '?'}+${b.decoderLayers ?? '?'} layers, vocab ${b.vocab ?? '?'})`;
          }),
      ),
    ];
    const threads = [...new Set(rs.map((r) => r.threads ?? 'unset'))];
    blocks.push({
      kind: 'list',
      items: [
        `base model: ${bases.join('; ') || '–'}`,
        `CYCLENER_THREADS: ${threads.join(', ') || '–'}`,
        `cells with results: ${rs.length}`,
      ],
    });
    const seeds = [...new Set(rs.map((r) => r.seed))];
    const variant = PRESETS[preset]?.variantOf !== undefined;
    const rowsOf = (exp: string): Row[] => {
      const planned = planExperiment(exp, { preset, seeds: [seeds[0] ?? 1], dataDir: '', allDatasets: true });
      const keys = new Map<string, Cell>(planned.map((c) => [rowKey(c.id), c]));
      // Rows that ran but are no longer planned (e.g. renamed) are still shown.
      for (const r of rs)
        if (r.experiment === exp && !keys.has(rowKey(r.cellId)))
          keys.set(rowKey(r.cellId), {
            ...planned[0]!,
            id: r.cellId,
            kind: r.kind,
            dataset: r.dataset,
            dataConfig: r.dataConfig,
          });
      const rows = [...keys].map(([k, cell]) => ({ cell, results: rs.filter((r) => rowKey(r.cellId) === k) }));
      // A variant preset changes one lever of another: only the cells it ran are shown.
      return variant ? rows.filter((r) => r.results.length > 0) : rows;
    };
    // Heading + table, left out for a variant preset without results in it.
    const section = (title: string, table: Block & { kind: 'table' }, after: Block[] = []) => {
      if (variant && table.rows.length === 0) return;
      blocks.push({ kind: 'heading', level: 3, text: title }, table, ...after);
    };

    section('Table 4: supervised T5 (S2E on the full train split)', {
      kind: 'table',
      head: ['dataset', ...OURS_HEAD, 'paper T5 F1', 'paper, other systems'],
      rows: rowsOf('table4').map(({ cell, results }) => [
        cell.dataset,
        ...ours(results),
        fmt(TABLE4_T5[cell.dataset]?.f1),
        Object.entries(TABLE4_OTHERS[cell.dataset] ?? {})
          .map(([k, v]) => `${k} ${v.toFixed(3)}`)
          .join('; '),
      ]),
    });

    for (const [exp, title, paper] of [
      ['table5a', 'Table 5 (a): varying #Q at fixed #S', TABLE5A],
      ['table5b', 'Table 5 (b): varying #S at fixed #Q', TABLE5B],
    ] as const) {
      section(`${title} (CycleNER)`, {
        kind: 'table',
        head: ['dataset', 'Q', '#S', '#Q', ...OURS_HEAD, 'paper F1'],
        rows: rowsOf(exp).map(({ cell, results }) => [
          cell.dataset,
          ...describeConfig(cell.dataConfig),
          ...ours(results),
          fmt(cell.dataConfig ? paper[cell.dataConfig] : undefined),
        ]),
      });
    }

    section(
      'Table 6: CycleNER and the Lexical Matcher',
      {
        kind: 'table',
        head: ['dataset', 'approach', 'configuration', ...OURS_HEAD, 'paper P', 'paper R', 'paper F1'],
        rows: rowsOf('table6').map(({ cell, results }) => {
          const p = TABLE6[`${cell.kind}:${cell.dataConfig}`];
          return [
            cell.dataset,
            cell.kind === 'lexical' ? 'Lexical Matcher' : 'CycleNER',
            `/${(cell.dataConfig ?? '').split('/').slice(1).join('/')}`,
            ...ours(results),
            fmt(p?.p),
            fmt(p?.r),
            fmt(p?.f1),
          ];
        }),
      },
      [
        {
          kind: 'para',
          text: `Paper, supervised BERT (upper bound): ${Object.entries(TABLE6_BERT)
            .map(([d, b]) => `${d} ${b.train} F1 ${b.f1.toFixed(3)}`)
            .join('; ')}.`,
        },
      ],
    );

    const cycleRows = ['figure4', 'table6'].flatMap((e) => rowsOf(e)).filter((r) => r.cell.kind === 'cyclener');
    if (!variant || cycleRows.length > 0)
      blocks.push(
        { kind: 'heading', level: 3, text: 'Figure 4: dev losses vs F1 per evaluation (Pearson)' },
        {
          kind: 'para',
          text: `Correlation over the evaluations of each run, against test F1 per evaluation where it was logged, else dev F1. Paper: E-loss per configuration below; S-loss only as the mean over the four, ${FIGURE4_PEARSON_S_MEAN.toFixed(2)}. Silver F1 (beyond the paper, label-free): S2E's agreement with the gazetteer from Q on dev S and on 200 sentences of S; higher is better, so a useful criterion has ρ > 0 with dev F1.`,
        },
      );
    if (!variant || cycleRows.length > 0)
      blocks.push({
        kind: 'table',
        head: [
          'cell',
          'seeds',
          'evaluations',
          'F1 used',
          'ρ(E-loss, F1)',
          'paper ρ(E-loss, F1)',
          'ρ(S-loss, F1)',
          'ρ(E-loss, dev F1)',
          'ρ(S-loss, dev F1)',
          'ρ(silver F1 dev S, dev F1)',
          'ρ(silver F1 S, dev F1)',
          'ρ(silver F1 held-out S, dev F1)',
          'best step',
          'curves',
        ],
        rows: cycleRows.map(({ cell, results }) => {
          const key = rowKey(cell.id);
          if (results.length === 0)
            return [
              key,
              NOT_RUN,
              '',
              '',
              '',
              fmt(cell.dataConfig ? FIGURE4_PEARSON_E[cell.dataConfig] : undefined, 2),
              '',
              '',
              '',
              '',
              '',
              '',
              '',
              '',
            ];
          const links = results
            .map((r) => {
              const f = curvesFigure(r, o.svgDir, o.svgHref);
              return f ? `[seed ${r.seed}](${f.href})` : '';
            })
            .filter(Boolean);
          const m = (f: (r: CellResult) => number | null | undefined) =>
            fmtStat(meanStd(results.map((r) => f(r) ?? null)), 2);
          return [
            key,
            results.map((r) => r.seed).join(','),
            results.map((r) => r.evals.length).join(','),
            [...new Set(results.map((r) => r.pearson?.against ?? '–'))].join(','),
            m((r) => r.pearson?.eLoss),
            fmt(cell.dataConfig ? FIGURE4_PEARSON_E[cell.dataConfig] : undefined, 2),
            m((r) => r.pearson?.sLoss),
            m((r) => r.pearson?.eLossDevF1),
            m((r) => r.pearson?.sLossDevF1),
            m((r) => r.pearson?.devSilverDevF1),
            m((r) => r.pearson?.sSilverDevF1),
            m((r) => r.pearson?.heldSilverDevF1),
            results.map((r) => bestStep(r)).join(','),
            links.join(' '),
          ];
        }),
      });

    // Curves of every cycle cell (also those of Table 5), and the commands of every cell.
    for (const r of rs) {
      const f = curvesFigure(r, o.svgDir, o.svgHref);
      if (f) figures.push({ kind: 'figure', href: f.href, svg: f.svg, caption: `${r.cellId} (${preset})` });
      commands.push({
        kind: 'para',
        text: `\`${r.cellId}\` (${preset}; ${Object.entries(r.wallSeconds)
          .map(([k, v]) => `${k} ${(v / 60).toFixed(1)} min`)
          .join(', ')}${r.notes.length ? `; ${r.notes.join('; ')}` : ''})`,
      });
      commands.push({
        kind: 'code',
        lines: r.commands.map((c) => (c.exit === 0 ? c.cmd : `${c.cmd}  # failed: exit ${String(c.exit)}`)),
      });
    }
  }
  blocks.push({ kind: 'heading', level: 2, text: 'Curves' });
  blocks.push(
    figures.length > 0
      ? {
          kind: 'para',
          text: 'Dev S-cycle loss (blue), dev E-cycle loss (orange), dev F1 (green) and test F1 (red, where logged) per evaluation step.',
        }
      : { kind: 'para', text: 'No cycle cell has results yet.' },
  );
  blocks.push(...figures);
  blocks.push({ kind: 'heading', level: 2, text: 'Commands' });
  blocks.push({
    kind: 'para',
    text: `The exact command lines of each cell (run from the project root; \`node\` is the runner's Node.js). Experiments: ${Object.keys(EXPERIMENTS).join(', ')}.`,
  });
  blocks.push(...(commands.length > 0 ? commands : [{ kind: 'para' as const, text: 'No cell has run yet.' }]));
  return blocks;
}

function bestStep(r: CellResult): string {
  const ok = r.evals.filter((e) => e.devELoss !== null);
  if (ok.length === 0) return '–';
  return String(ok.reduce((a, b) => ((b.devELoss as number) < (a.devELoss as number) ? b : a)).step);
}
