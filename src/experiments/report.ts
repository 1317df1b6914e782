// The results report: every planned cell of every experiment, ours (mean ± std over seeds) next to
// the paper's numbers, error-analysis columns, correlations, curves (SVG) and the exact commands.
// Reads result.json files (cells run by `cyclener experiment`) and reconstructed records (reconstructed.json per
// seed, summary.json per multi-seed row: cells whose result.json was lost, rebuilt from an earlier report).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { lossF1Svg } from '../cycle/plot';
import { parseConfigName } from '../data/config';
import type { Block } from './doc';
import type { BaseModelInfo } from './files';
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
import { EXPERIMENTS, planExperiment, PRESETS, type Cell, type CellKind } from './plan';
import {
  RECONSTRUCTED_FIELDS,
  RESULT_FIELDS,
  SUMMARY_FIELDS,
  type CellResult,
  type PrintedStat,
  type ReconstructedResult,
  type ReconstructedScores,
  type ReconstructedSummary,
} from './result';
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

/** A reconstructed record and the folder it was read from (its curve SVG lies there). */
export interface ReconstructedEntry {
  record: ReconstructedResult;
  dir: string;
}

/** Everything under a results folder the report reads. */
export interface Records {
  results: CellResult[];
  reconstructed: ReconstructedEntry[];
  summaries: ReconstructedSummary[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';

function damaged(file: string, why: string, what: string): Error {
  return new Error(`${file}: damaged ${what} (${why})`);
}

function readReconstructed(file: string): ReconstructedResult {
  const r = readJsonFile<unknown>(file);
  if (!isObject(r)) throw damaged(file, 'not an object', 'reconstructed record');
  const why =
    fieldProblem(r, RECONSTRUCTED_FIELDS) ??
    (!isObject(r.scores) ? 'field scores is missing or not an object' : null) ??
    (!isObject(r.wallMinutes) ? 'field wallMinutes is missing or not an object' : null) ??
    (r.commands !== null && !Array.isArray(r.commands) ? 'field commands is neither null nor an array' : null) ??
    (r.curve !== null && typeof r.curve !== 'string' ? 'field curve is neither null nor a string' : null);
  if (why) throw damaged(file, why, 'reconstructed record');
  const rec = r as unknown as ReconstructedResult;
  if (rec.curve !== null && !fs.existsSync(path.join(path.dirname(file), rec.curve)))
    throw new Error(`${file}: its curve ${rec.curve} is missing beside it`);
  return rec;
}

function readSummary(file: string): ReconstructedSummary {
  const r = readJsonFile<unknown>(file);
  if (!isObject(r)) throw damaged(file, 'not an object', 'summary');
  const why =
    fieldProblem(r, SUMMARY_FIELDS) ?? (!isObject(r.scores) ? 'field scores is missing or not an object' : null);
  if (why) throw damaged(file, why, 'summary');
  return r as unknown as ReconstructedSummary;
}

const byCell = <T extends { cellId: string }>(a: T, b: T) => (a.cellId < b.cellId ? -1 : a.cellId > b.cellId ? 1 : 0);

/** Every result.json, reconstructed.json and summary.json under `dir` (any depth), checked for completeness. */
export function loadRecords(dir: string): Records {
  const out: Records = { results: [], reconstructed: [], summaries: [] };
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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
        out.results.push(r);
      } else if (e.name === 'reconstructed.json') out.reconstructed.push({ record: readReconstructed(p), dir: d });
      else if (e.name === 'summary.json') out.summaries.push(readSummary(p));
    }
  };
  walk(dir);
  out.results.sort(byCell);
  out.reconstructed.sort((a, b) => byCell(a.record, b.record));
  checkRecords(out);
  return out;
}

/** Every result.json under `dir` (any depth). */
export function loadResults(dir: string): CellResult[] {
  return loadRecords(dir).results;
}

/** Cell id without its seed: the row the seeds are averaged over. */
export const rowKey = (id: string): string => id.replace(/\/seed\d+$/, '');

/**
 * One record per preset and cell of each source; a reconstructed row of several seeds has a summary (its per-seed
 * values were not all printed), and a summary has a reconstructed record for each of its seeds (else one was lost).
 */
export function checkRecords(rs: Omit<Records, 'results'> & { results?: readonly CellResult[] }): void {
  const dup = (what: string, keys: string[]) => {
    const seen = new Set<string>();
    for (const k of keys) {
      if (seen.has(k)) throw new Error(`two ${what} for ${k}: keep one`);
      seen.add(k);
    }
  };
  dup(
    'result.json files',
    (rs.results ?? []).map((r) => `${r.preset} ${r.cellId}`),
  );
  dup(
    'reconstructed records',
    rs.reconstructed.map(({ record: r }) => `${r.preset} ${r.cellId}`),
  );
  dup(
    'summaries',
    rs.summaries.map((s) => `${s.preset} ${s.row}`),
  );
  const seedsOf = new Map<string, number[]>();
  for (const { record: r } of rs.reconstructed) {
    const k = `${r.preset} ${rowKey(r.cellId)}`;
    seedsOf.set(k, [...(seedsOf.get(k) ?? []), r.seed]);
  }
  const summarized = new Set<string>();
  for (const s of rs.summaries) {
    const k = `${s.preset} ${s.row}`;
    summarized.add(k);
    const have = [...(seedsOf.get(k) ?? [])].sort((a, b) => a - b).join(',');
    const want = [...s.seeds].sort((a, b) => a - b).join(',');
    if (have !== want)
      throw new Error(
        `the summary of ${k} covers seeds ${want} but reconstructed records exist for seeds ${have || 'none'}: a record is missing or extra`,
      );
  }
  for (const [k, seeds] of seedsOf)
    if (seeds.length > 1 && !summarized.has(k))
      throw new Error(
        `reconstructed row ${k} has ${seeds.length} seeds but no summary.json (the mean ± std it printed)`,
      );
}

const NOT_RUN = 'not run';
const slug = (id: string) => id.replace(/[^A-Za-z0-9.]+/g, '_');

type ScoreKey = keyof ReconstructedScores;
type FigKey = 'eLoss' | 'sLoss' | 'eLossDevF1' | 'sLossDevF1' | 'devSilverDevF1' | 'sSilverDevF1' | 'heldSilverDevF1';

/** One seed of a row, from a result.json or a reconstructed record, seen the same way by the tables. */
/** What names a cell and how it ran, as a result.json and a reconstructed record both hold it. */
interface CellIdentity {
  cellId: string;
  preset: string;
  experiment: string;
  kind: CellKind;
  dataset: string;
  dataConfig: string | null;
  seed: number;
  evalSplit: 'test' | 'dev';
  baseModel: BaseModelInfo | null;
  threads: string | null;
}

function cellIdentity(r: CellIdentity): CellIdentity {
  const { cellId, preset, experiment, kind, dataset, dataConfig, seed, evalSplit, baseModel, threads } = r;
  return { cellId, preset, experiment, kind, dataset, dataConfig, seed, evalSplit, baseModel, threads };
}

interface Member extends CellIdentity {
  /** Commit of the page it was reconstructed from; null for a result.json. */
  reconstructedFrom: string | null;
  score(k: ScoreKey): number | null;
  wallMinutes(): number | null;
  fig(k: FigKey): number | null;
  evaluations: string;
  against: string;
  bestStep: string;
  curve(o: ReportOptions): { href: string; svg: string } | null;
  commands(): Block[];
}

function liveMember(r: CellResult): Member {
  const test = r.test;
  const scores: Record<ScoreKey, () => number | null> = {
    precision: () => test.exact.micro.precision,
    recall: () => test.exact.micro.recall,
    f1: () => test.exact.micro.f1,
    f1WithEntities: () => test.withEntitiesOnly.exact.micro.f1,
    hallucinated: () => test.hallucinated,
    malformed: () => test.malformedSequences,
    epochs: () => r.training?.epochs ?? null,
  };
  return {
    ...cellIdentity(r),
    reconstructedFrom: null,
    score: (k) => scores[k](),
    wallMinutes: () => (r.wallSeconds.total ?? 0) / 60,
    fig: (k) => r.pearson?.[k] ?? null,
    evaluations: String(r.evals.length),
    against: r.pearson?.against ?? '–',
    bestStep: bestStep(r),
    curve: (o) => curvesFigure(r, o.svgDir, o.svgHref),
    commands: () => [
      {
        kind: 'para',
        text: `\`${r.cellId}\` (${r.preset}; ${Object.entries(r.wallSeconds)
          .map(([k, v]) => `${k} ${(v / 60).toFixed(1)} min`)
          .join(', ')}${r.notes.length ? `; ${r.notes.join('; ')}` : ''})`,
      },
      {
        kind: 'code',
        lines: r.commands.map((c) => (c.exit === 0 ? c.cmd : `${c.cmd}  # failed: exit ${String(c.exit)}`)),
      },
    ],
  };
}

/** `clash`: a result.json of the same cell exists (a later run), whose curve takes the usual name. */
function reconstructedMember({ record: r, dir }: ReconstructedEntry, clash: boolean): Member {
  const f = r.figure4;
  const num = (x: number | null | undefined) => (typeof x === 'number' ? x : null);
  return {
    ...cellIdentity(r),
    reconstructedFrom: r.reconstructed.from,
    score: (k) => num(r.scores[k]),
    wallMinutes: () => num(r.wallMinutes.total),
    fig: (k) => (k === 'eLoss' || k === 'sLoss' || k === 'eLossDevF1' || k === 'sLossDevF1' ? num(f?.[k]) : null),
    evaluations: f?.evaluations == null ? '–' : String(f.evaluations),
    against: f?.against ?? '–',
    bestStep: f?.bestStep == null ? '–' : String(f.bestStep),
    curve: (o) => {
      if (!r.curve) return null;
      const name = `${slug(r.preset)}__${slug(r.cellId)}${clash ? '.reconstructed' : ''}.svg`;
      const svg = fs.readFileSync(path.join(dir, r.curve), 'utf8');
      fs.mkdirSync(o.svgDir, { recursive: true });
      atomicWriteFile(path.join(o.svgDir, name), svg);
      return { href: `${o.svgHref}/${name}`, svg };
    },
    commands: () => {
      const wall = Object.entries(r.wallMinutes).map(([k, v]) => `${k} ${v.toFixed(1)} min`);
      const text = [
        `reconstructed from ${r.reconstructed.file} at ${r.reconstructed.from.slice(0, 7)}`,
        wall.length ? wall.join(', ') : 'wall minutes not printed for this seed',
        ...r.notes,
        ...(r.commands ? [] : ['command lines not printed']),
      ];
      return [
        { kind: 'para', text: `\`${r.cellId}\` (${r.preset}; ${text.join('; ')})` },
        ...(r.commands ? [{ kind: 'code' as const, lines: r.commands }] : []),
      ];
    },
  };
}

/** The seeds of one row: those of result.json files, or those of reconstructed records (with their summary). */
interface Row {
  cell: Cell;
  members: Member[];
  summary: ReconstructedSummary | null;
}

const printed = (s: PrintedStat | null | undefined, n: number): Stat | null =>
  s ? { mean: s.mean, std: s.std ?? null, n } : null;

/** A column of a row: the summary's printed mean ± std where a reconstructed row has one, else over its seeds. */
function stat(row: Row, k: ScoreKey | 'wall'): Stat | null {
  if (row.summary) {
    const s = k === 'wall' ? row.summary.wallMinutes : row.summary.scores[k];
    return printed(s, row.summary.seeds.length);
  }
  return meanStd(row.members.map((m) => (k === 'wall' ? m.wallMinutes() : m.score(k))));
}

function figStat(row: Row, k: FigKey): Stat | null {
  if (row.summary) {
    const f = row.summary.figure4;
    return k === 'eLoss' || k === 'sLoss' || k === 'eLossDevF1' || k === 'sLossDevF1'
      ? printed(f?.[k], row.summary.seeds.length)
      : null;
  }
  return meanStd(row.members.map((m) => m.fig(k)));
}

const isReconstructed = (row: Row) => row.members.some((m) => m.reconstructedFrom !== null);

function seedsText(row: Row, withSplit: boolean): string {
  const tags = [
    ...(withSplit && row.members.some((m) => m.evalSplit === 'dev') ? ['dev split'] : []),
    ...(isReconstructed(row) ? ['reconstructed'] : []),
  ];
  return row.members.map((m) => m.seed).join(',') + (tags.length ? ` (${tags.join(', ')})` : '');
}

function ours(row: Row): string[] {
  if (row.members.length === 0) return [NOT_RUN, '', '', '', '', '', '', '', ''];
  return [
    seedsText(row, true),
    fmtStat(stat(row, 'precision')),
    fmtStat(stat(row, 'recall')),
    fmtStat(stat(row, 'f1')),
    fmtStat(stat(row, 'f1WithEntities')),
    fmtStat(stat(row, 'hallucinated'), 1),
    fmtStat(stat(row, 'malformed'), 1),
    fmtStat(stat(row, 'epochs'), 2),
    fmtStat(stat(row, 'wall'), 1),
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
  /** Blocks placed at the end of a preset's section (hand-written notes per preset). */
  presetNotes?: Readonly<Record<string, Block[]>>;
  /** Cells whose result.json was lost, as reconstructed records (loadRecords). */
  reconstructed?: { cells: readonly ReconstructedEntry[]; summaries: readonly ReconstructedSummary[] };
}

export function buildReport(all: readonly CellResult[], o: ReportOptions): Block[] {
  const recCells = o.reconstructed?.cells ?? [];
  const summaries = o.reconstructed?.summaries ?? [];
  checkRecords({ results: all, reconstructed: [...recCells], summaries: [...summaries] });
  const members = reportMembers(all, recCells);
  const presets = reportPresets(members, o.presetNotes);
  const blocks: Block[] = introBlocks(all.length, recCells.length, o);
  const figures: Block[] = [];
  const commands: Block[] = [];
  for (const preset of presets) {
    const ms = members.filter((r) => r.preset === preset);
    blocks.push(...presetBlocks(preset, ms, summaries, o));
    // Curves of every cycle cell (also those of Table 5), and the commands of every cell.
    for (const r of ms) {
      const f = r.curve(o);
      if (f)
        figures.push({
          kind: 'figure',
          href: f.href,
          svg: f.svg,
          caption: `${r.cellId} (${preset}${r.reconstructedFrom ? ', reconstructed' : ''})`,
        });
      commands.push(...r.commands());
    }
  }
  blocks.push(...closingBlocks(figures, commands));
  return blocks;
}

/** Every seed, live and reconstructed, in cell order; a reconstructed record before a live one of its cell. */
function reportMembers(all: readonly CellResult[], recCells: readonly ReconstructedEntry[]): Member[] {
  const liveCells = new Set(all.map((r) => `${r.preset} ${r.cellId}`));
  return [
    ...all.map(liveMember),
    ...recCells.map((e) => reconstructedMember(e, liveCells.has(`${e.record.preset} ${e.record.cellId}`))),
  ].sort((a, b) => byCell(a, b) || (a.reconstructedFrom === null ? 1 : 0) - (b.reconstructedFrom === null ? 1 : 0));
}

/** The presets with records, in PRESETS order ('cpu' when there are none); notes for a preset without any are refused. */
function reportPresets(members: readonly Member[], presetNotes: ReportOptions['presetNotes']): string[] {
  const order = Object.keys(PRESETS);
  const presets = [...new Set(members.map((r) => r.preset))].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  for (const p of Object.keys(presetNotes ?? {}))
    if (!presets.includes(p))
      throw new Error(`notes for preset ${p}, which has no records: rename them or add its records`);
  if (presets.length === 0) presets.push('cpu');
  return presets;
}

function introBlocks(nResults: number, nRec: number, o: ReportOptions): Block[] {
  return [
    { kind: 'heading', level: 1, text: 'CycleNER: our results next to the paper' },
    {
      kind: 'para',
      text: `Generated by \`cyclener report\` from ${nResults} result.json file(s)${nRec ? ` and ${nRec} reconstructed record(s)` : ''} under \`${o.resultsDir}\`. F1 is conlleval-exact micro F1 on the test split unless marked "dev split"; mean ± sample std over seeds. "not run" = no result yet. Paper numbers: Iovine et al., WWW 2022, Tables 4–6 and section 7.2. How to run: \`docs/experiments.md\`.${
        nRec
          ? ' Rows marked "reconstructed" are cells whose result.json was lost with the machine that ran them: their records were rebuilt from an earlier version of this page (each names its commit) and hold only what it printed. A value printed for no single seed is "–" for that seed, and a row over several seeds shows the mean ± std printed for it.'
          : ''
      }`,
    },
    ...(o.notes ?? []),
  ];
}

/** One preset's section: its setup, the paper's tables, Figure 4's correlations and its hand-written notes. */
function presetBlocks(
  preset: string,
  ms: readonly Member[],
  summaries: readonly ReconstructedSummary[],
  o: ReportOptions,
): Block[] {
  const variant = PRESETS[preset]?.variantOf !== undefined;
  const rowsOf = rowsFor(preset, ms, summaries, variant);
  return [
    ...presetSetup(preset, ms),
    ...paperTables(rowsOf, variant),
    ...figure4Blocks(rowsOf, variant, o),
    ...(o.presetNotes?.[preset] ?? []),
  ];
}

function presetSetup(preset: string, ms: readonly Member[]): Block[] {
  const nRecHere = ms.filter((m) => m.reconstructedFrom !== null).length;
  const bases = [
    ...new Set(
      ms
        .filter((r) => r.baseModel)
        .map((r) => {
          const b = r.baseModel!;
          return `\`${b.path}\` (d_model ${b.dModel ?? '?'}, ${b.layers ?? '?'}+${b.decoderLayers ?? '?'} layers, vocab ${b.vocab ?? '?'})`;
        }),
    ),
  ];
  const threads = [...new Set(ms.map((r) => r.threads ?? 'unset'))];
  return [
    { kind: 'heading', level: 2, text: `Preset \`${preset}\`` },
    { kind: 'para', text: PRESETS[preset]?.summary ?? '(unknown preset)' },
    {
      kind: 'list',
      items: [
        `base model: ${bases.join('; ') || '–'}`,
        `CYCLENER_THREADS: ${threads.join(', ') || '–'}`,
        `cells with results: ${ms.length}${nRecHere ? ` (${nRecHere} reconstructed)` : ''}`,
      ],
    },
  ];
}

/** The rows of one experiment in one preset: every planned cell, plus cells that ran but are no longer planned. */
function rowsFor(
  preset: string,
  ms: readonly Member[],
  summaries: readonly ReconstructedSummary[],
  variant: boolean,
): (exp: string) => Row[] {
  const seeds = [...new Set(ms.map((r) => r.seed))];
  return (exp) => {
    const planned = planExperiment(exp, { preset, seeds: [seeds[0] ?? 1], dataDir: '', allDatasets: true });
    const keys = new Map<string, Cell>(planned.map((c) => [rowKey(c.id), c]));
    // Rows that ran but are no longer planned (e.g. renamed) are still shown.
    for (const r of ms)
      if (r.experiment === exp && !keys.has(rowKey(r.cellId)))
        keys.set(rowKey(r.cellId), {
          ...planned[0]!,
          id: r.cellId,
          kind: r.kind,
          dataset: r.dataset,
          dataConfig: r.dataConfig,
        });
    const rows = [...keys].flatMap(([k, cell]): Row[] => {
      const here = ms.filter((r) => rowKey(r.cellId) === k);
      const rec = here.filter((m) => m.reconstructedFrom !== null);
      const live = here.filter((m) => m.reconstructedFrom === null);
      // A lost run and a later one of the same cell are two measurements: one row each, the lost one first.
      const out: Row[] = [];
      if (rec.length)
        out.push({ cell, members: rec, summary: summaries.find((s) => s.preset === preset && s.row === k) ?? null });
      if (live.length || !rec.length) out.push({ cell, members: live, summary: null });
      return out;
    });
    // A variant preset changes one lever of another: only the cells it ran are shown.
    return variant ? rows.filter((r) => r.members.length > 0) : rows;
  };
}

/** Tables 4, 5 (a), 5 (b) and 6: our numbers next to the paper's. */
function paperTables(rowsOf: (exp: string) => Row[], variant: boolean): Block[] {
  const blocks: Block[] = [];
  // Heading + table, left out for a variant preset without results in it.
  const section = (title: string, table: Block & { kind: 'table' }, after: Block[] = []) => {
    if (variant && table.rows.length === 0) return;
    blocks.push({ kind: 'heading', level: 3, text: title }, table, ...after);
  };

  section('Table 4: supervised T5 (S2E on the full train split)', {
    kind: 'table',
    head: ['dataset', ...OURS_HEAD, 'paper T5 F1', 'paper, other systems'],
    rows: rowsOf('table4').map((row) => [
      row.cell.dataset,
      ...ours(row),
      fmt(TABLE4_T5[row.cell.dataset]?.f1),
      Object.entries(TABLE4_OTHERS[row.cell.dataset] ?? {})
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
      rows: rowsOf(exp).map((row) => [
        row.cell.dataset,
        ...describeConfig(row.cell.dataConfig),
        ...ours(row),
        fmt(row.cell.dataConfig ? paper[row.cell.dataConfig] : undefined),
      ]),
    });
  }

  section(
    'Table 6: CycleNER and the Lexical Matcher',
    {
      kind: 'table',
      head: ['dataset', 'approach', 'configuration', ...OURS_HEAD, 'paper P', 'paper R', 'paper F1'],
      rows: rowsOf('table6').map((row) => {
        const { cell } = row;
        const p = TABLE6[`${cell.kind}:${cell.dataConfig}`];
        return [
          cell.dataset,
          cell.kind === 'lexical' ? 'Lexical Matcher' : 'CycleNER',
          `/${(cell.dataConfig ?? '').split('/').slice(1).join('/')}`,
          ...ours(row),
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
  return blocks;
}

/** Figure 4: the correlation of each cycle cell's dev losses (and silver F1) with its F1, with links to its curves. */
function figure4Blocks(rowsOf: (exp: string) => Row[], variant: boolean, o: ReportOptions): Block[] {
  const cycleRows = ['figure4', 'table6'].flatMap((e) => rowsOf(e)).filter((r) => r.cell.kind === 'cyclener');
  if (variant && cycleRows.length === 0) return [];
  return [
    { kind: 'heading', level: 3, text: 'Figure 4: dev losses vs F1 per evaluation (Pearson)' },
    {
      kind: 'para',
      text: `Correlation over the evaluations of each run, against test F1 per evaluation where it was logged, else dev F1. Paper: E-loss per configuration below; S-loss only as the mean over the four, ${FIGURE4_PEARSON_S_MEAN.toFixed(2)}. Silver F1 (beyond the paper, label-free): S2E's agreement with the gazetteer from Q on dev S and on 200 sentences of S; higher is better, so a useful criterion has ρ > 0 with dev F1.`,
    },
    {
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
      rows: cycleRows.map((row) => figure4Row(row, o)),
    },
  ];
}

function figure4Row(row: Row, o: ReportOptions): string[] {
  const { cell, members: rs } = row;
  const key = rowKey(cell.id);
  const paperE = fmt(cell.dataConfig ? FIGURE4_PEARSON_E[cell.dataConfig] : undefined, 2);
  if (rs.length === 0) return [key, NOT_RUN, '', '', '', paperE, '', '', '', '', '', '', '', ''];
  const links = rs
    .map((r) => {
      const f = r.curve(o);
      return f ? `[seed ${r.seed}](${f.href})` : '';
    })
    .filter(Boolean);
  const m = (k: FigKey) => fmtStat(figStat(row, k), 2);
  return [
    key,
    seedsText(row, false),
    rs.map((r) => r.evaluations).join(','),
    [...new Set(rs.map((r) => r.against))].join(','),
    m('eLoss'),
    paperE,
    m('sLoss'),
    m('eLossDevF1'),
    m('sLossDevF1'),
    m('devSilverDevF1'),
    m('sSilverDevF1'),
    m('heldSilverDevF1'),
    rs.map((r) => r.bestStep).join(','),
    links.join(' '),
  ];
}

function closingBlocks(figures: readonly Block[], commands: readonly Block[]): Block[] {
  return [
    { kind: 'heading', level: 2, text: 'Curves' },
    figures.length > 0
      ? {
          kind: 'para',
          text: 'Dev S-cycle loss (blue), dev E-cycle loss (orange), dev F1 (green) and test F1 (red, where logged) per evaluation step.',
        }
      : { kind: 'para', text: 'No cycle cell has results yet.' },
    ...figures,
    { kind: 'heading', level: 2, text: 'Commands' },
    {
      kind: 'para',
      text: `The exact command lines of each cell (run from the project root; \`node\` is the runner's Node.js). Experiments: ${Object.keys(EXPERIMENTS).join(', ')}.`,
    },
    ...(commands.length > 0 ? commands : [{ kind: 'para' as const, text: 'No cell has run yet.' }]),
  ];
}

function bestStep(r: CellResult): string {
  const ok = r.evals.filter((e) => e.devELoss !== null);
  if (ok.length === 0) return '–';
  return String(ok.reduce((a, b) => ((b.devELoss as number) < (a.devELoss as number) ? b : a)).step);
}
