// `buildData` and `dataStats`: the library form of `cyclener data build` (src/data/build.ts), taking files or parsed
// corpora, and of `cyclener data stats` (counts of a labelled, S or Q file, and its table).

import { buildData as buildFiles, type BuildOptions, type BuildResult, type Count } from '../data/build';
import { DATASETS, type QMode } from '../data/config';
import type { SeqEntity } from '../data/entity-seq';
import { rareTypeWarnings } from '../data/entity-seq';
import {
  readLabeled,
  readQFile,
  readSentenceLines,
  sniffFormat,
  type LabeledCorpus,
  type LabeledFormat,
  type ReadOptions,
} from '../data/readers';
import { Verbalizer, defaultVerbalizer, verbalizerForLabels } from '../data/verbalizer';

export interface BuildDataOptions {
  /** Labelled training data: a CoNLL / CoNLL-2012 / JSONL file, or a corpus from `readLabeled`. */
  train: string | LabeledCorpus;
  /** Labelled dev data for dev_S / dev_Q / dev_gold (omit: only S and Q are written). */
  dev?: string | LabeledCorpus;
  /** Output folder (S.txt, Q.txt, dev_S.txt, dev_Q.txt, dev_gold.jsonl, manifest.json). */
  out: string;
  mode: QMode;
  numS: Count;
  numQ: number;
  /** Dev #S / #Q (default: the paper's Table 3 dev configuration of \`dataset\` and \`mode\`, else 1000 / 500). */
  devNumS?: Count;
  devNumQ?: number;
  seed?: number;
  /** Label -> type word ({"PER": "person", ...}), a default set's name ("conll2003"), or a Verbalizer; default: guessed from the labels. */
  verbalizer?: Record<string, string> | string | Verbalizer;
  /** The dataset (its Table 3 dev sizes, the manifest) and the paper configuration name recorded in the manifest. */
  dataset?: string;
  configName?: string;
  /** SQ: the seed entities (instead of drawing them). */
  seeds?: SeqEntity[];
  /** GQ options, as the CLI flags of the same names. */
  allowOverlap?: boolean;
  devIndependent?: boolean;
  includeEmptyQ?: boolean;
  /** SQ: number of seed entities drawn from the gold annotations (default 1000) and optional word vectors. */
  seedEntities?: number;
  vectorsFile?: string;
}

export function buildData(o: BuildDataOptions): BuildResult {
  const train = typeof o.train === 'string' ? readLabeled(o.train) : o.train;
  const dev = o.dev === undefined ? undefined : typeof o.dev === 'string' ? readLabeled(o.dev) : o.dev;
  const labels = [...train.sentences, ...(dev?.sentences ?? [])].flatMap((s) => s.entities.map((e) => e.label));
  const guessed = o.verbalizer === undefined ? verbalizerForLabels(labels) : undefined;
  const v =
    o.verbalizer instanceof Verbalizer
      ? o.verbalizer
      : typeof o.verbalizer === 'string'
        ? defaultVerbalizer(o.verbalizer)
        : o.verbalizer
          ? new Verbalizer(o.verbalizer)
          : guessed!.verbalizer;
  // As \`data build\`: a known dataset's dev sizes are the paper's (Table 3) unless given.
  const table3 = o.dataset ? DATASETS[o.dataset]?.devConfig[o.mode] : undefined;
  const opts: BuildOptions = {
    train,
    mode: o.mode,
    numS: o.numS,
    numQ: o.numQ,
    seed: o.seed ?? 1,
    verbalizer: v,
    seedEntities: o.seedEntities ?? 1000,
    allowOverlap: o.allowOverlap === true,
    devIndependent: o.devIndependent === true,
    includeEmptyQ: o.includeEmptyQ === true,
    ...(dev ? { dev, devNumS: o.devNumS ?? table3?.numS ?? 1000, devNumQ: o.devNumQ ?? table3?.numQ ?? 500 } : {}),
    ...(o.configName ? { configName: o.configName } : {}),
    ...(o.dataset ? { dataset: o.dataset } : {}),
    ...(o.seeds ? { seeds: o.seeds } : {}),
    ...(o.vectorsFile ? { vectorsFile: o.vectorsFile } : {}),
  };
  const r = buildFiles(o.out, opts);
  for (const l of guessed?.unknown ?? [])
    r.notices.push(
      `label "${l}" has no word in the ${guessed!.dataset} verbaliser: its type word is "${v.verbalize(l)}"`,
    );
  return r;
}

// ------------------------------------------------------------------ data stats

function labeledStats(c: LabeledCorpus) {
  const tokens = c.sentences.reduce((s, x) => s + x.tokens.length, 0);
  const byType: Record<string, number> = {};
  let entities = 0;
  let withEntities = 0;
  let maxEnt = 0;
  for (const s of c.sentences) {
    if (s.entities.length > 0) withEntities++;
    maxEnt = Math.max(maxEnt, s.entities.length);
    for (const e of s.entities) {
      byType[e.label] = (byType[e.label] ?? 0) + 1;
      entities++;
    }
  }
  return {
    file: c.file,
    format: c.format,
    scheme: c.scheme,
    schemeDetected: c.schemeDetected,
    sentences: c.sentences.length,
    tokens,
    meanSentenceLength: tokens / c.sentences.length,
    documents: c.documents,
    sentencesWithEntities: withEntities,
    sentencesWithoutEntities: c.sentences.length - withEntities,
    entities,
    entitiesPerSentence: entities / c.sentences.length,
    maxEntitiesPerSentence: maxEnt,
    entitiesByType: Object.fromEntries(Object.entries(byType).sort(([a], [b]) => (a < b ? -1 : 1))),
    tagProblems: c.tagProblems.length,
    firstTagProblems: c.tagProblems.slice(0, 5),
    repairedTags: c.repairedTags,
  };
}

function textStats(file: string) {
  const lines = readSentenceLines(file);
  const tokens = lines.reduce((s, l) => s + l.trim().split(/\s+/).length, 0);
  return {
    file,
    format: 'text',
    sentences: lines.length,
    whitespaceTokens: tokens,
    meanSentenceLength: tokens / lines.length,
  };
}

function qStats(file: string, log: (line: string) => void) {
  const seqs = readQFile(file);
  for (const w of rareTypeWarnings(file, seqs)) log(w);
  const byType: Record<string, number> = {};
  let entities = 0;
  for (const q of seqs)
    for (const e of q) {
      byType[e.type] = (byType[e.type] ?? 0) + 1;
      entities++;
    }
  return {
    file,
    format: 'q',
    sequences: seqs.length,
    emptySequences: seqs.filter((q) => q.length === 0).length,
    entities,
    entitiesPerSequence: entities / seqs.length,
    distinctSurfaces: new Set(seqs.flat().map((e) => e.surface)).size,
    entitiesByType: Object.fromEntries(Object.entries(byType).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}

export type StatsFormat = 'auto' | LabeledFormat | 'text' | 'q';
export type DataStats = ReturnType<typeof labeledStats> | ReturnType<typeof textStats> | ReturnType<typeof qStats>;

export interface DataStatsOptions {
  /** Default 'auto': sniffed (a file whose lines do not end in tags is text, unless `read.tagColumn` is given). */
  format?: StatsFormat;
  read?: ReadOptions;
  /** Notes and warnings (a file read as text, rare types of a Q file), as `data stats` prints them on stderr. */
  log?: (line: string) => void;
}

/** `cyclener data stats`: sentences, tokens, entities per type and tag problems of a labelled file, an S or a Q file. */
export function dataStats(file: string, o: DataStatsOptions = {}): DataStats {
  const log = o.log ?? (() => undefined);
  let format = o.format ?? 'auto';
  // Auto: a file whose lines do not end in tags is text, one sentence per line (said, since a CoNLL file with its
  // tags elsewhere than last looks the same; with a tag column the file is CoNLL).
  if (format === 'auto') {
    const sniffed = sniffFormat(file);
    if (sniffed === 'q') format = 'q';
    else if (sniffed === 'text' && o.read?.tagColumn === undefined) {
      format = 'text';
      log(
        `note: ${file} read as text, one sentence per line (its lines do not end in tags); pass --input-format to choose`,
      );
    }
  }
  if (format === 'text') return textStats(file);
  if (format === 'q') return qStats(file, log);
  return labeledStats(readLabeled(file, { ...o.read, format: format as LabeledFormat | 'auto' }));
}

/** `data stats`' table: one row per count, types and tag problems indented. */
export function formatDataStats(stats: DataStats): string {
  const rows: [string, string][] = [];
  for (const [k, v] of Object.entries(stats)) {
    if (k === 'firstTagProblems') {
      for (const p of v as { line: number; problem: string }[])
        rows.push(['  tag problem', `${stats.file}:${p.line}: ${p.problem}`]);
    } else if (typeof v === 'object' && v !== null) {
      for (const [t, n] of Object.entries(v as Record<string, number>)) rows.push([`  ${t}`, fmtInt(n)]);
    } else if (typeof v === 'number') rows.push([k, Number.isInteger(v) ? fmtInt(v) : v.toFixed(2)]);
    else rows.push([k, String(v)]);
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

const fmtInt = (n: number) => n.toLocaleString('en-US');
