// Programmatic training and evaluation: the CLI's train / train-supervised / evaluate --model as functions, with a
// progress callback and an AbortSignal that stops like Ctrl-C (after the current step, with a checkpoint).

import { bestF1, predictionsAbove, sweepThresholds, thresholdGrid, type ThresholdRow } from '../eval/thresholds';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatEntitySequence, type SeqEntity } from '../data/entity-seq';
import { readLabeled, type LabeledCorpus } from '../data/readers';
import { Verbalizer } from '../data/verbalizer';
import { compareSequences } from '../eval/compare';
import { evaluate as scoreSentences, type EvalReport } from '../eval/metrics';
import { modelSource } from '../hub';
import { makeConfig, resumableOf, type CycleConfig } from '../cycle/config';
import { loadCyclePair, loadModelDir } from '../cycle/model-io';
import { issueCounts, type SentenceIssues } from '../cycle/predict';
import {
  SUPERVISED_RUN,
  trainSupervised as runSupervised,
  type Pair,
  type SupervisedResult,
} from '../supervised/supervised';
import { CYCLE_RUN, trainCycle, typesOf, type CycleResult } from '../cycle/trainer';
import { SUPERVISED_EPOCHS, SUPERVISED_SETTINGS as S, supervisedConfig } from '../supervised/settings';
import type { Precision } from '../t5/precision';
import { readJsonFile } from '../util/fs';
import { openRunDir } from '../util/run-dir';
import { modelDir } from './model-ref';
import { NerModel } from './ner-model';

/** A human-readable line (the CLI's stderr), or a record as it is appended to the run's metrics.jsonl. */
export type ProgressEvent = { kind: 'log'; message: string } | { kind: 'metrics'; record: Record<string, unknown> };

export interface RunHooks {
  onProgress?: (e: ProgressEvent) => void;
  /** Aborting stops after the current step and leaves a checkpoint; the call resolves with `interrupted: true`. */
  signal?: AbortSignal;
}

/** Entities of one sentence: a model-level sequence ("Paris <sep> location", "" = none) or a list. */
export type EntitiesOf = string | readonly SeqEntity[];

const seq = (e: EntitiesOf) => (typeof e === 'string' ? e : e.length === 0 ? '' : formatEntitySequence(e));

/** Calls onProgress for each log line and for each metrics.jsonl record written since the previous call. */
function progress(hooks: RunHooks, metricsFile: string): { log: (l: string) => void; flush: () => void } {
  let offset = 0;
  let partial = '';
  const flush = () => {
    if (!hooks.onProgress || !fs.existsSync(metricsFile)) return;
    const size = fs.statSync(metricsFile).size;
    if (size < offset) {
      offset = 0;
      partial = '';
    } // rewritten (a resume keeps the records up to its checkpoint)
    if (size === offset) return;
    const fd = fs.openSync(metricsFile, 'r');
    const buf = Buffer.alloc(size - offset);
    try {
      fs.readSync(fd, buf, 0, buf.length, offset);
    } finally {
      fs.closeSync(fd);
    }
    offset = size;
    const lines = (partial + buf.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines)
      if (l.trim() !== '') hooks.onProgress({ kind: 'metrics', record: JSON.parse(l) as Record<string, unknown> });
  };
  return {
    log: (message) => {
      flush();
      hooks.onProgress?.({ kind: 'log', message });
    },
    flush,
  };
}

export interface TrainOptions extends RunHooks {
  /** Unpaired sentences S and entity sequences Q. */
  sentences: readonly string[];
  entities: readonly EntitiesOf[];
  /** Held-out S and Q: best/ is chosen by the lowest dev E-cycle loss. */
  devSentences?: readonly string[];
  devEntities?: readonly EntitiesOf[];
  /** Both directions start from this model (a directory or a Hub id), or from s2eModel / e2sModel. */
  baseModel?: string;
  s2eModel?: string;
  e2sModel?: string;
  /** The run directory (as `cyclener train --out`). */
  out: string;
  /** Config keys (src/cycle/config.ts), e.g. {epochs: 3, batchSize: 16}; on a resume only the resumable ones (epochs, maxSteps) apply. */
  config?: Partial<CycleConfig>;
  /** Continue from out/ckpt (after an abort). */
  resume?: boolean;
  /** Start over in a directory that holds a previous run. */
  force?: boolean;
}

/** CycleNER training (`cyclener train`): writes out/config.json, metrics.jsonl, ckpt/ and best/{s2e,e2s}. */
export async function train(o: TrainOptions): Promise<CycleResult> {
  const hooks = progress(o, path.join(o.out, 'metrics.jsonl'));
  const run = openRunDir(o.out, CYCLE_RUN, {
    resume: o.resume === true,
    force: o.force === true,
    log: hooks.log,
    inputs: { baseModel: o.baseModel, s2eModel: o.s2eModel, e2sModel: o.e2sModel },
  });
  try {
    const savedCfg = path.join(o.out, 'config.json');
    const ckpt = path.join(o.out, 'ckpt');
    const resume = o.resume === true && fs.existsSync(path.join(ckpt, 'state.json'));
    let cfg: CycleConfig;
    if (resume && fs.existsSync(savedCfg)) {
      const saved = readJsonFile<Partial<CycleConfig> & { sizes?: unknown }>(savedCfg);
      delete saved.sizes;
      cfg = makeConfig({ ...saved, ...resumableOf(o.config) }, savedCfg);
    } else cfg = makeConfig({ ...o.config }, 'config');
    const Q = o.entities.map(seq);
    cfg.types = cfg.types ?? typesOf(Q);
    const base = o.baseModel === undefined ? undefined : await modelDir(o.baseModel, hooks.log);
    const s2eDir = resume
      ? path.join(ckpt, 's2e')
      : o.s2eModel !== undefined
        ? await modelDir(o.s2eModel, hooks.log)
        : base;
    const e2sDir = resume
      ? path.join(ckpt, 'e2s')
      : o.e2sModel !== undefined
        ? await modelDir(o.e2sModel, hooks.log)
        : base;
    if (!s2eDir || !e2sDir) throw new Error('train: give baseModel (or s2eModel and e2sModel)');
    const { s2e: a, e2s: b } = loadCyclePair(s2eDir, e2sDir);
    try {
      if (!resume) cfg.baseModels = { s2e: modelSource(s2eDir), e2s: modelSource(e2sDir) };
      const data = {
        S: [...o.sentences],
        Q,
        ...(o.devSentences ? { devS: [...o.devSentences] } : {}),
        ...(o.devEntities ? { devQ: o.devEntities.map(seq) } : {}),
      };
      return await trainCycle({ s2e: a.model, e2s: b.model, tokenizer: a.tokenizer }, data, cfg, o.out, {
        resume,
        log: hooks.log,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } finally {
      b.model.dispose();
      a.model.dispose();
      hooks.flush();
    }
  } finally {
    run.release();
  }
}

export interface SupervisedOptions extends RunHooks {
  /** Training pairs: a sentence and its entities. */
  pairs: readonly { sentence: string; entities: EntitiesOf }[];
  baseModel: string;
  /** The output model directory (as `cyclener train-supervised --out`). */
  out: string;
  /** Optimizer steps (default: `epochs` over the pairs, 3). */
  steps?: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  seed?: number;
  prefix?: string;
  precision?: Precision;
  /** Type words for grounded prediction (default: those of the pairs); label -> type word, when known. */
  types?: string[];
  verbalizer?: Record<string, string>;
  /** Held-out pairs: out/ keeps the model with the lowest dev loss; `patience` evaluations without one stop early. */
  dev?: { pairs: readonly { sentence: string; entities: EntitiesOf }[]; evalEvery?: number; patience?: number };
  force?: boolean;
}

/** Supervised S2E fine-tuning (`cyclener train-supervised`); an abort saves the model of the last step run. */
export async function trainSupervised(o: SupervisedOptions): Promise<SupervisedResult> {
  const pairs: Pair[] = o.pairs.map((p) => ({ sentence: p.sentence, sequence: seq(p.entities) }));
  if (pairs.length === 0) throw new Error('trainSupervised: no training pairs');
  const batchSize = o.batchSize ?? S.batch.default;
  const steps = o.steps ?? Math.ceil(((o.epochs ?? SUPERVISED_EPOCHS) * pairs.length) / batchSize);
  const hooks = progress(o, path.join(o.out, 'metrics.jsonl'));
  const baseDir = await modelDir(o.baseModel, hooks.log);
  if (path.resolve(o.out) === path.resolve(baseDir))
    throw new Error('trainSupervised: out is the base model directory');
  const run = openRunDir(o.out, SUPERVISED_RUN, {
    resume: false,
    force: o.force === true,
    log: hooks.log,
    inputs: { baseModel: baseDir },
  });
  try {
    const m = loadModelDir(baseDir);
    try {
      const dev = o.dev && {
        pairs: o.dev.pairs.map((p) => ({ sentence: p.sentence, sequence: seq(p.entities) })),
        evalEvery: o.dev.evalEvery ?? Math.max(1, Math.ceil(pairs.length / batchSize)),
        patience: o.dev.patience ?? 0,
      };
      return await runSupervised(
        m.model,
        m.tokenizer,
        pairs,
        supervisedConfig({
          prefix: o.prefix ?? S.prefix.default,
          batchSize,
          steps,
          lr: o.lr ?? S.lr.default,
          seed: o.seed ?? S.seed.default,
          ...(o.precision ? { precision: o.precision } : {}),
          ...(dev ? { dev } : {}),
        }),
        o.out,
        {
          types: o.types ?? typesOf(pairs.map((p) => p.sequence)),
          ...(o.verbalizer ? { verbalizer: o.verbalizer } : {}),
          baseModel: modelSource(baseDir),
        },
        hooks.log,
        o.signal,
      );
    } finally {
      m.model.dispose();
      hooks.flush();
    }
  } finally {
    run.release();
  }
}

export interface EvaluateOptions extends RunHooks {
  /** Gold sentences: a labelled file (CoNLL, CoNLL-2012, JSONL) or a corpus read with readLabeled. */
  gold: string | LabeledCorpus;
  /** The model: loaded, or a directory / Hub id (loaded and disposed here). */
  model: NerModel | string;
  /** Dataset label -> the model's type word (default: the model's own map, else type word = label). */
  verbalizer?: Record<string, string>;
  batchSize?: number;
  /** Entities scored below it are not counted (default: the model's `info.score.threshold`). */
  threshold?: number;
}

export interface ModelEvaluation extends EvalReport {
  /** The threshold the report is at, exact P/R/F1 at thresholds 0, 0.01, ..., 1 and the best-F1 one of them. */
  thresholds: { threshold: number; best: ThresholdRow; sweep: ThresholdRow[] };
  /** Sentences whose generated output was cut or lost entities (as `evaluate --model` prints). */
  modelOutput: ReturnType<typeof issueCounts>;
  /** Aborted before every sentence was predicted: nothing was scored (report fields are of zero sentences). */
  interrupted: boolean;
}

/** `cyclener evaluate --model`: predict the gold sentences and score them (conlleval-exact and bag of mentions). */
export async function evaluate(o: EvaluateOptions): Promise<ModelEvaluation> {
  const gold = typeof o.gold === 'string' ? readLabeled(o.gold) : o.gold;
  const model = typeof o.model === 'string' ? await NerModel.load(o.model) : o.model;
  try {
    const batch = o.batchSize ?? 32;
    const texts = gold.sentences.map((s) => s.text);
    const seqs: string[] = [];
    const scores: number[][] = [];
    const issues: SentenceIssues[] = [];
    for (let i = 0; i < texts.length; i += batch) {
      if (o.signal?.aborted) {
        o.onProgress?.({ kind: 'log', message: `interrupted after ${i} of ${texts.length} sentences` });
        const none = sweepThresholds([], [0]);
        return {
          ...scoreSentences([]),
          modelOutput: issueCounts([]),
          interrupted: true,
          thresholds: { threshold: 0, best: none[0] as ThresholdRow, sweep: none },
        };
      }
      const p = await model.sequences(texts.slice(i, i + batch), batch);
      seqs.push(...p.seqs);
      scores.push(...p.scores);
      issues.push(...p.issues);
      o.onProgress?.({ kind: 'log', message: `predicted ${seqs.length}/${texts.length} sentences` });
    }
    const v = o.verbalizer ? new Verbalizer(o.verbalizer) : model.labelMap();
    const r = compareSequences(gold, typeof o.gold === 'string' ? o.gold : 'gold', seqs, v, {}, scores);
    const threshold = o.threshold ?? model.info.score.threshold;
    const sweep = sweepThresholds(r.sentences, thresholdGrid(100));
    return {
      ...scoreSentences(predictionsAbove(r.sentences, threshold)),
      modelOutput: issueCounts(issues),
      interrupted: false,
      thresholds: { threshold, best: bestF1(sweep), sweep },
    };
  } finally {
    if (typeof o.model === 'string') model.dispose();
  }
}
