// Programmatic training: the CLI's train / train-supervised as functions, with a
// progress callback and an AbortSignal that stops like Ctrl-C (after the current step, with a checkpoint).

import * as path from 'node:path';
import { formatEntitySequence, parseEntitySequence, rareTypeWarnings, type SeqEntity } from '../data/entity-seq';
import { capLongLines, capLongSequences, type LabeledCorpus } from '../data/readers';
import type { LabeledSentence } from '../data/types';
import { Verbalizer, verbalizerForLabels } from '../data/verbalizer';
import { modelSource } from '../hub';
import { makeConfig, type CycleConfig } from '../cycle/config';
import { checkRunInputs, cycleRunConfig, fingerprintLines, settleVerbalizer } from '../cycle/run-setup';
import { loadCyclePair, loadModelDir } from '../cycle/model-io';
import {
  SUPERVISED_RUN,
  trainSupervised as runSupervised,
  type Pair,
  type SupervisedResult,
} from '../supervised/supervised';
import { CYCLE_RUN, trainCycle, typesOf, type CycleResult } from '../cycle/trainer';
import { SUPERVISED_EPOCHS, SUPERVISED_SETTINGS as S, supervisedConfig } from '../supervised/settings';
import type { Precision } from '../t5/precision';
import { fingerprintFiles, modelWeightFiles, openRunDir } from '../util/run-dir';
import { findCheckpoint } from '../run/checkpoint';
import { checkpointDir } from '../run/layout';
import { callbackSink, type MetricsRecord, type MetricsSink } from '../run/metrics';
import { modelDir } from './model-ref';

/** A human-readable line (the CLI's stderr), or a record as the run's metrics.jsonl gets it (run/metrics.ts). */
export type ProgressEvent = { kind: 'log'; message: string } | { kind: 'metrics'; record: MetricsRecord };

export interface RunHooks {
  onProgress?: (e: ProgressEvent) => void;
  /** Aborting stops after the current step and leaves a checkpoint; the call resolves with `interrupted: true`. */
  signal?: AbortSignal;
}

/** Entities of one sentence: a model-level sequence ("Paris <sep> location", "" = none) or a list. */
export type EntitiesOf = string | readonly SeqEntity[];

const seq = (e: EntitiesOf) => (typeof e === 'string' ? e : e.length === 0 ? '' : formatEntitySequence(e));

/** onProgress as the trainers' hooks: log lines, and a metrics sink beside the run's metrics.jsonl. */
function progress(hooks: RunHooks): { log: (l: string) => void; metrics?: MetricsSink } {
  const on = hooks.onProgress;
  return {
    log: (message) => on?.({ kind: 'log', message }),
    ...(on ? { metrics: callbackSink((record) => on({ kind: 'metrics', record })) } : {}),
  };
}

export interface TrainOptions extends RunHooks {
  /** Unpaired sentences S and entity sequences Q. */
  sentences: readonly string[];
  entities: readonly EntitiesOf[];
  /** Held-out S and Q: best/ is chosen by the lowest dev E-cycle loss. */
  devSentences?: readonly string[];
  devEntities?: readonly EntitiesOf[];
  /** Labelled dev / test sentences (`--dev-gold` / `--test-gold`): F1 logged at each evaluation. */
  devGold?: readonly LabeledSentence[] | LabeledCorpus;
  testGold?: readonly LabeledSentence[] | LabeledCorpus;
  /** Dataset label -> type word for the dev/test F1 (`--verbalizer`; default: guessed from the gold labels). */
  verbalizer?: Record<string, string>;
  /** Both directions start from this model (a directory or a Hub id), or from s2eModel / e2sModel. */
  baseModel?: string;
  s2eModel?: string;
  e2sModel?: string;
  /** The run directory (as `cyclener train --out`). */
  out: string;
  /** Config keys (src/cycle/config.ts), e.g. {epochs: 3, batchSize: 16}, as a `--config` file. On a resume only the
   *  step budget (epochs, maxSteps) may change: another change is refused, as `cyclener train --resume` refuses it. */
  config?: Partial<CycleConfig>;
  /** Continue from out/checkpoint (after an abort); refused when the config or the data differ from the run's. */
  resume?: boolean;
  /** Start over in a directory that holds a previous run. */
  force?: boolean;
}

/** Gold sentences given as a list, as the corpus trainCycle scores against. */
function goldCorpus(g: readonly LabeledSentence[] | LabeledCorpus, name: string): LabeledCorpus {
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

/** The config-file label of TrainOptions.config in a refusal ("--config options.config: run has ..."). */
const CONFIG_OPTION = 'options.config';

/** CycleNER training (`cyclener train`): writes out/config.json, inputs.json, metrics.jsonl, checkpoint/ and best/{s2e,e2s}. */
export async function train(o: TrainOptions): Promise<CycleResult> {
  const hooks = progress(o);
  const run = openRunDir(o.out, CYCLE_RUN, {
    resume: o.resume === true,
    force: o.force === true,
    log: hooks.log,
    inputs: { baseModel: o.baseModel, s2eModel: o.s2eModel, e2sModel: o.e2sModel },
  });
  try {
    if (o.config !== undefined) makeConfig(o.config, CONFIG_OPTION);
    const setup = cycleRunConfig({
      runDir: o.out,
      resume: o.resume === true,
      configFile: o.config === undefined ? undefined : { file: CONFIG_OPTION, values: o.config },
    });
    const { cfg } = setup;
    // As `cyclener train` reads its files: rare type words warned about, and lines longer than the models read cut
    // (S: capLongLines; Q: whole entities, capLongSequences), to the longer of the two limits. The fingerprints below
    // are of the lines as given, as the CLI's are of its files.
    const maxTokens = Math.max(cfg.maxSourceTokens, cfg.maxTargetTokens);
    const toModelS = (label: string, l: readonly string[]) => {
      const r = capLongLines(label, l, maxTokens);
      if (r.warning) hooks.log(r.warning);
      return r.lines;
    };
    const toModelQ = (label: string, es: readonly EntitiesOf[]) => {
      const seqs = es.map((e) => (typeof e === 'string' ? parseEntitySequence(e).entities : e));
      for (const w of rareTypeWarnings(label, seqs)) hooks.log(w);
      const r = capLongSequences(label, seqs, maxTokens, es.map(seq));
      if (r.warning) hooks.log(r.warning);
      return r.lines;
    };
    const givenQ = o.entities.map(seq);
    const S = toModelS('sentences', o.sentences);
    const Q = toModelQ('entities', o.entities);
    const devGold = o.devGold && goldCorpus(o.devGold, 'devGold');
    const testGold = o.testGold && goldCorpus(o.testGold, 'testGold');
    const goldForTypes = devGold ?? testGold;
    if (goldForTypes) {
      const labels = [...new Set(goldForTypes.sentences.flatMap((s) => s.entities.map((e) => e.label)))].sort();
      const v = o.verbalizer ? new Verbalizer(o.verbalizer) : verbalizerForLabels(labels).verbalizer;
      const missing = labels.filter((l) => !v.has(l));
      if (missing.length > 0)
        throw new Error(`train: the verbaliser has no word for label(s) ${missing.join(', ')}; pass verbalizer`);
      settleVerbalizer(setup, v.toJSON(), o.verbalizer !== undefined, 'verbalizer');
    }
    cfg.types = cfg.types ?? typesOf(Q);
    const base = o.baseModel === undefined ? undefined : await modelDir(o.baseModel, hooks.log);
    const s2eArg = o.s2eModel === undefined ? undefined : await modelDir(o.s2eModel, hooks.log);
    const e2sArg = o.e2sModel === undefined ? undefined : await modelDir(o.e2sModel, hooks.log);
    const devS = o.devSentences && toModelS('devSentences', o.devSentences);
    const devQ = o.devEntities && toModelQ('devEntities', o.devEntities);
    const lines = (label: string, l: readonly string[] | undefined) => l && [fingerprintLines(label, l)];
    const goldLines = (label: string, g: LabeledCorpus | undefined) =>
      g &&
      lines(
        label,
        g.sentences.map((x) => JSON.stringify(x)),
      );
    const inputs = {
      ...fingerprintFiles({
        'base-model': base ? modelWeightFiles(base) : undefined,
        's2e-model': s2eArg ? modelWeightFiles(s2eArg) : undefined,
        'e2s-model': e2sArg ? modelWeightFiles(e2sArg) : undefined,
      }),
      ...defined({
        sentences: lines('sentences', o.sentences),
        entities: lines('entities', givenQ),
        'dev-sentences': lines('devSentences', o.devSentences),
        'dev-entities': lines('devEntities', o.devEntities?.map(seq)),
        'dev-gold': goldLines('devGold', devGold),
        'test-gold': goldLines('testGold', testGold),
      }),
    };
    checkRunInputs(run, { resume: o.resume === true, inputs, diffs: setup.diffs, log: hooks.log });

    const ckpt = o.resume === true ? findCheckpoint(o.out) : null;
    const resume = ckpt !== null;
    if (o.resume === true && !resume) hooks.log(`no checkpoint in ${checkpointDir(o.out)}: starting from step 0`);
    const s2eDir = ckpt ? path.join(ckpt, 's2e') : (s2eArg ?? base);
    const e2sDir = ckpt ? path.join(ckpt, 'e2s') : (e2sArg ?? base);
    if (!s2eDir || !e2sDir) throw new Error('train: give baseModel (or s2eModel and e2sModel)');
    const { s2e: a, e2s: b } = loadCyclePair(s2eDir, e2sDir);
    try {
      if (!resume) cfg.baseModels = { s2e: modelSource(s2eDir), e2s: modelSource(e2sDir) };
      const data = {
        S,
        Q,
        ...(devS ? { devS } : {}),
        ...(devQ ? { devQ } : {}),
        ...(devGold ? { devGold } : {}),
        ...(testGold ? { testGold } : {}),
      };
      return await trainCycle({ s2e: a.model, e2s: b.model, tokenizer: a.tokenizer }, data, cfg, o.out, {
        resume,
        log: hooks.log,
        ...(hooks.metrics ? { metrics: hooks.metrics } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } finally {
      b.model.dispose();
      a.model.dispose();
    }
  } finally {
    run.release();
  }
}

function defined<T>(r: Record<string, T | undefined>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Record<string, T>;
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
  /** The decoding recorded as the model's default for predict/evaluate (as `--no-ground`, `--max-new-tokens`):
   *  grounded, at most 128 new tokens unless given. */
  decode?: { grounded?: boolean; maxNewTokens?: number };
  /** Held-out pairs: out/ keeps the model with the lowest dev loss; `patience` evaluations without one stop early. */
  dev?: { pairs: readonly { sentence: string; entities: EntitiesOf }[]; evalEvery?: number; patience?: number };
  /** Continue from out/checkpoint (after an abort) with the same options; only `steps`/`epochs` may change. */
  resume?: boolean;
  force?: boolean;
}

/** Supervised S2E fine-tuning (`cyclener train-supervised`); an abort saves the model of the last step run and a
 *  checkpoint that `resume` continues exactly. */
export async function trainSupervised(o: SupervisedOptions): Promise<SupervisedResult> {
  const pairs: Pair[] = o.pairs.map((p) => ({ sentence: p.sentence, sequence: seq(p.entities) }));
  if (pairs.length === 0) throw new Error('trainSupervised: no training pairs');
  const batchSize = o.batchSize ?? S.batch.default;
  const steps = o.steps ?? Math.ceil(((o.epochs ?? SUPERVISED_EPOCHS) * pairs.length) / batchSize);
  const hooks = progress(o);
  const baseDir = await modelDir(o.baseModel, hooks.log);
  if (path.resolve(o.out) === path.resolve(baseDir))
    throw new Error('trainSupervised: out is the base model directory');
  const run = openRunDir(o.out, SUPERVISED_RUN, {
    resume: o.resume === true,
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
          decode: {
            grounded: o.decode?.grounded ?? true,
            maxNewTokens: o.decode?.maxNewTokens ?? S['max-new-tokens'].default,
          },
        },
        {
          log: hooks.log,
          ...(hooks.metrics ? { metrics: hooks.metrics } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
          checkpoint: true,
          resume: o.resume === true,
        },
      );
    } finally {
      m.model.dispose();
    }
  } finally {
    run.release();
  }
}
