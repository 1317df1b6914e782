// The metrics of a run, one schema for the three trainers (train, train-supervised, pretrain): every record has a
// `type` and the global `step` it belongs to, field names are camelCase. A trainer emits records into a MetricsLog,
// which hands each one to its sinks: RUN/metrics.jsonl is one sink (JsonlFileSink), the library's progress callback
// another (callbackSink), the curve plot a third (RecordsSink). Nobody re-reads the file while the run goes on.
//
// Readers of metrics.jsonl (experiments/result.ts, the report, tools/research/criteria.py, the tests) rely on these
// field names; readMetricsFile() also reads the files of runs written before this schema (pretrain's snake_case
// lines without `type`) and gives them in it.

import * as fs from 'node:fs';
import { atomicWriteFile, readJsonLines } from '../util/fs';
import type { StopReason } from './stop';

/** The cycle's evaluation (cycle/evaluate.ts fills it); criteria.py and the experiment results read these names. */
export interface CycleEvalMetrics {
  devSLoss: number | null;
  devELoss: number | null;
  devF1: number | null;
  devBagF1: number | null;
  /** Share of dev Q's entity names that E2S copied verbatim into S′ (copy.ts). */
  devCopyRate?: number | null;
  /** S2E's outputs on dev S (inference decoding) against the gazetteer from Q matched over dev S (silver.ts): a
   *  label-free criterion. Absent without dev S. */
  devSilverP?: number | null;
  devSilverR?: number | null;
  devSilverF1?: number | null;
  /** The same on a fixed sample of S: where the gazetteer from Q matches nothing in dev S (WNUT-17's dev entities are
   *  new by design), S still has matches. S2E saw S's silver pairs in a lexical warm-up. */
  sSilverP?: number | null;
  sSilverR?: number | null;
  sSilverF1?: number | null;
  /** The same on the sentences of S held out of training (--silver-holdout): silver F1 S2E was never trained on. */
  heldSilverP?: number | null;
  heldSilverR?: number | null;
  heldSilverF1?: number | null;
  /** S2E on the sentences where a held-out name matches (--name-holdout): silver P/R/F1 against the whole gazetteer,
   *  and the held-out names' recall alone: names no training step saw. */
  nameHeldP?: number | null;
  nameHeldR?: number | null;
  nameHeldF1?: number | null;
  nameHeldRecall?: number | null;
  /** S2E's outputs on dev S (inference decoding), label-free, logged for the criterion search: entities per sentence
   *  (`devEntities`, against Q's `qEntities`), the share of sentences without one, the share of entities whose surface
   *  no sequence of Q names, and S2E's own loss on its outputs (teacher-forced, its confidence). */
  devEntities?: number;
  qEntities?: number | null;
  devEmpty?: number;
  devNovel?: number | null;
  devSelfLoss?: number;
  /** Dev precision and recall next to devF1 (labels: diagnosis only, never selected on). */
  devP?: number;
  devR?: number;
  /** Present only when test gold is given (reported, never selected on). */
  testP?: number;
  testR?: number;
  testF1?: number;
}

/** A cycle step: L_φ (`lossS`, the S-cycle's E2S update) and L_θ (`lossE`, the E-cycle's S2E update). */
export interface CycleStepRecord {
  type: 'step';
  step: number;
  epoch: number;
  /** Fractional epochs done. */
  epochs: number;
  lossS: number;
  /** null: the E-cycle filter emptied the batch (no S2E update). */
  lossE: number | null;
  copyRate: number | null;
  /** Distinct word bigrams / all bigrams of S′ in the step's batch (rank 0's shard): E2S's diversity. */
  sDistinct2?: number | null;
  eKept?: number;
  selfKept?: number;
  silver?: number;
  lrS2E: number;
  lrE2S: number;
  gradNormS2E: number | null;
  gradNormE2S: number | null;
  /** Seconds since this sitting started. */
  elapsed: number;
}

export interface SupervisedStepRecord {
  type: 'step';
  step: number;
  epoch: number;
  epochs: number;
  loss: number;
  gradNorm: number | null;
  elapsed: number;
}

/** A pretraining log point (every logEvery steps): the mean train loss since the previous one. */
export interface PretrainStepRecord {
  type: 'step';
  step: number;
  tokens: number;
  /** Minutes of training over all sittings. */
  minutes: number;
  lr: number;
  trainLoss: number;
  tokensPerS: number;
  /** Share of padded positions of the collated training batches since the last record (sources, targets). */
  padSource?: number;
  padTarget?: number;
}

export type StepRecord = CycleStepRecord | SupervisedStepRecord | PretrainStepRecord;

export type CycleEvalRecord = { type: 'eval'; step: number; epoch: number; best: boolean } & CycleEvalMetrics;

export interface SupervisedEvalRecord {
  type: 'eval';
  step: number;
  epoch: number;
  devLoss: number;
  best: boolean;
}

/** Held-out loss per objective and their mean. */
export interface PretrainEvalRecord {
  type: 'eval';
  step: number;
  tokens: number;
  minutes: number;
  valLoss: Record<string, number>;
  valMean: number;
}

export type EvalRecord = CycleEvalRecord | SupervisedEvalRecord | PretrainEvalRecord;

/** The end of a sitting: why it stopped (a resume continues after it) and its wall time. */
export interface EndRecord {
  type: 'end';
  step: number;
  stoppedBy: StopReason;
  /** Steps run in this sitting. */
  steps: number;
  seconds: number;
}

/** The cycle's other records: sample triplets, warnings (collapse), rollbacks, the warm-up. */
export interface SamplesRecord {
  type: 'samples';
  step: number;
  epoch: number;
  [field: string]: unknown;
}
export interface WarningRecord {
  type: 'warning';
  step: number;
  message: string;
}
export interface RollbackRecord {
  type: 'rollback';
  step: number;
  toStep: number | null;
  rollbacks: number;
  lrS2E: number;
  lrE2S: number;
}
export interface WarmupRecord {
  type: 'warmup';
  step: 0;
  kind: string;
  directions: string;
  steps: number;
  pairs: number;
  s2eLoss: number;
  e2sLoss: number;
  seconds: number;
}

export type MetricsRecord =
  StepRecord | EvalRecord | EndRecord | SamplesRecord | WarningRecord | RollbackRecord | WarmupRecord;

/** Where records go. */
export interface MetricsSink {
  write(rec: MetricsRecord): void;
}

/** RUN/metrics.jsonl: one JSON object per line, appended as the run goes. */
class JsonlFileSink implements MetricsSink {
  constructor(readonly file: string) {}

  /**
   * Ready the file for a sitting: emptied for a new run; on a resume (`resumedAt` = the checkpoint's step) cut back to
   * the records up to it (those after it will be written again), a line cut short by a kill dropped. Returns the kept
   * records and how many unreadable lines were dropped.
   */
  open(resumedAt: number | null): { kept: MetricsRecord[]; dropped: number } {
    if (resumedAt === null) {
      fs.writeFileSync(this.file, '');
      return { kept: [], dropped: 0 };
    }
    const { records, dropped } = readJsonLines<Record<string, unknown>>(this.file);
    // A run from before this schema continues in it: its kept lines are rewritten as it has them.
    const kept = records.flatMap(normalizeRecord).filter((r) => (r.step ?? 0) <= resumedAt);
    atomicWriteFile(this.file, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    return { kept, dropped };
  }

  write(rec: MetricsRecord): void {
    fs.appendFileSync(this.file, JSON.stringify(rec) + '\n');
  }
}

/** A sink that calls `fn` with each record (the library's onProgress). */
export function callbackSink(fn: (rec: MetricsRecord) => void): MetricsSink {
  return { write: fn };
}

/** Keeps the records `keep` accepts in memory (the curve plots of a run are drawn from it). */
export class RecordsSink<R extends MetricsRecord = MetricsRecord> implements MetricsSink {
  readonly records: R[] = [];
  constructor(private readonly keep: (rec: MetricsRecord) => rec is R) {}
  write(rec: MetricsRecord): void {
    if (this.keep(rec)) this.records.push(rec);
  }
}

/** The metrics of one sitting: every record goes to every sink. */
export class MetricsLog {
  private constructor(private readonly sinks: readonly MetricsSink[]) {}

  /**
   * Open the metrics of a sitting. `file` (null on the ranks of a process group other than 0, which write nothing) is
   * emptied for a new run or cut back to `resumedAt`; the records it keeps are replayed to the other sinks, so that
   * each of them sees the run's whole log, as the file holds it. `log` notes dropped unreadable lines.
   */
  static open(o: {
    file: string | null;
    resumedAt: number | null;
    sinks?: readonly MetricsSink[];
    log?: (line: string) => void;
  }): MetricsLog {
    if (o.file === null) return new MetricsLog([]);
    const file = new JsonlFileSink(o.file);
    const { kept, dropped } = file.open(o.resumedAt);
    if (dropped > 0) o.log?.(`${o.file}: dropped ${dropped} unreadable line(s) (cut short by a kill)`);
    const others = o.sinks ?? [];
    for (const r of kept) for (const s of others) s.write(r);
    return new MetricsLog([file, ...others]);
  }

  emit(rec: MetricsRecord): void {
    for (const s of this.sinks) s.write(rec);
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/**
 * One record as this schema has it. Pretraining lines written before it have no `type` and snake_case names
 * (`train_loss`, `tokens_per_s`, `pad_source`, `val_loss`, `val_mean`; a step's line carried its validation): they
 * become a step record (when they hold a train loss) and an eval record (when they hold a validation loss).
 */
function normalizeRecord(raw: Record<string, unknown>): MetricsRecord[] {
  if (typeof raw.type === 'string') return [raw as unknown as MetricsRecord];
  const step = num(raw.step) ?? 0;
  const tokens = num(raw.tokens) ?? 0;
  const minutes = num(raw.minutes) ?? 0;
  const out: MetricsRecord[] = [];
  const trainLoss = num(raw.train_loss);
  if (trainLoss !== undefined) {
    const rec: PretrainStepRecord = {
      type: 'step',
      step,
      tokens,
      minutes,
      lr: num(raw.lr) ?? 0,
      trainLoss,
      tokensPerS: num(raw.tokens_per_s) ?? 0,
    };
    if (num(raw.pad_source) !== undefined) rec.padSource = num(raw.pad_source);
    if (num(raw.pad_target) !== undefined) rec.padTarget = num(raw.pad_target);
    out.push(rec);
  }
  if (raw.val_loss !== undefined && raw.val_loss !== null && typeof raw.val_loss === 'object') {
    const valLoss = raw.val_loss as Record<string, number>;
    const vs = Object.values(valLoss);
    const valMean = num(raw.val_mean) ?? vs.reduce((a, b) => a + b, 0) / Math.max(1, vs.length);
    out.push({ type: 'eval', step, tokens, minutes, valLoss, valMean });
  }
  return out;
}

/** The records of a metrics.jsonl in this schema (older files converted, a line cut by a kill skipped). */
export function readMetricsFile(file: string): MetricsRecord[] {
  return readJsonLines<Record<string, unknown>>(file).records.flatMap(normalizeRecord);
}
