// What the library's trainers (train.ts, train-supervised.ts) share: progress hooks, inputs given as lists or files,
// reader settings, and the fingerprints RUN/inputs.json records of either.

import { formatEntitySequence, type SeqEntity } from '../data/entity-seq';
import { readLabeled, type LabeledCorpus, type OffsetUnit, type ReadOptions } from '../data/readers';
import { parseScheme } from '../data/tags';
import type { LabeledSentence } from '../data/types';
import { fingerprintLines } from '../cycle/run-setup';
import { UsageError } from '../util/errors';
import type { Fingerprint } from '../util/fs';
import { fingerprintFiles } from '../util/run-dir';
import { callbackSink, type MetricsRecord, type MetricsSink } from '../run/metrics';

/** A human-readable line (the CLI's stderr), or a record as the run's metrics.jsonl gets it (run/metrics.ts). */
export type ProgressEvent = { kind: 'log'; message: string } | { kind: 'metrics'; record: MetricsRecord };

export interface RunHooks {
  onProgress?: (e: ProgressEvent) => void;
  /** Aborting stops after the current step and leaves a checkpoint; the call resolves with `interrupted: true`. */
  signal?: AbortSignal;
  /** Called once the run folder, data and model(s) are ready, just before training (the CLI arms its Ctrl-C
   *  handler there: a Ctrl-C while the inputs load quits at once). */
  onStart?: () => void;
}

/** Entities of one sentence: a model-level sequence ("Paris <sep> location", "" = none) or a list. */
export type EntitiesOf = string | readonly SeqEntity[];

export const entitySeq = (e: EntitiesOf): string =>
  typeof e === 'string' ? e : e.length === 0 ? '' : formatEntitySequence(e);

/** Labelled sentences: a CoNLL / CoNLL-2012 / JSONL file (read with the reader settings), a corpus, or a list. */
export type LabeledInput = string | LabeledCorpus | readonly LabeledSentence[];

/** How labelled files are read (the CLI's reader flags: --tag-column, --scheme, --repair-tags, --offsets). */
export interface ReaderSettings {
  tagColumn?: number;
  scheme?: 'IOB1' | 'IOB2' | 'IOBES' | 'BILOU' | 'BIO' | 'BIOES';
  repair?: boolean;
  offsets?: OffsetUnit;
}

/** The reader options of the settings, as the CLI's reader flags give them. */
export function readOptionsOf(r: ReaderSettings = {}): ReadOptions {
  const scheme = r.scheme === undefined ? undefined : parseScheme(r.scheme);
  if (r.scheme !== undefined && scheme === undefined)
    throw new UsageError(`--scheme must be one of IOB1, IOB2, IOBES, BILOU, BIO, BIOES, got ${r.scheme}`);
  return {
    format: 'auto',
    ...(r.tagColumn !== undefined ? { tagColumn: r.tagColumn } : {}),
    ...(scheme ? { scheme } : {}),
    repair: r.repair === true,
    offsets: r.offsets === 'codepoints' ? 'codepoints' : 'utf16',
  };
}

/** onProgress as the trainers' hooks: log lines, and a metrics sink beside the run's metrics.jsonl. */
export function progress(hooks: RunHooks): { log: (l: string) => void; metrics?: MetricsSink } {
  const on = hooks.onProgress;
  return {
    log: (message) => on?.({ kind: 'log', message }),
    ...(on ? { metrics: callbackSink((record) => on({ kind: 'metrics', record })) } : {}),
  };
}

/** A labelled input as a corpus: a file is read (`read`), a list is wrapped as the corpus `name`. */
export function labeledCorpus(g: LabeledInput, name: string, read?: ReaderSettings): LabeledCorpus {
  if (typeof g === 'string') return readLabeled(g, readOptionsOf(read));
  if (!Array.isArray(g)) return g as LabeledCorpus;
  return {
    file: name,
    format: 'jsonl',
    scheme: 'IOB2',
    schemeDetected: false,
    sentences: [...(g as readonly LabeledSentence[])],
    documents: 0,
    tagProblems: [],
    repairedTags: 0,
  };
}

/** The file of an input given as a path (what the run-folder guards compare with --out), else undefined. */
export const fileOf = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);

/**
 * RUN/inputs.json's fingerprint of an input: a file's (sha256 of its bytes), or that of lines given in memory (as the
 * file of those lines would have, with the path `(in memory: LABEL)`); undefined when absent.
 */
export function inputFingerprint(label: string, x: string | readonly string[] | undefined): Fingerprint[] | undefined {
  if (x === undefined) return undefined;
  if (typeof x === 'string') return fingerprintFiles({ x: [x] }).x;
  return [fingerprintLines(label, x)];
}

/** The entries of `r` that are defined, in order. */
export function defined<T>(r: Record<string, T | undefined>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Record<string, T>;
}
