// Programmatic training: `cyclener train` as a function (the command only parses its flags and calls it), with a
// progress callback and an AbortSignal that stops like Ctrl-C (after the current step, with a checkpoint).
// train-supervised's function is in train-supervised.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import { parseEntitySequence, rareTypeWarnings, typesOf } from '../data/entity-seq';
import { capLongLines, capLongSequences, readQFile, readSentenceLines, type LabeledCorpus } from '../data/readers';
import { chooseVerbalizer, corpusLabels } from '../data/verbalizer-choice';
import type { SettingValue } from '../data/setting';
import { modelSource } from '../hub';
import { makeConfig, type CycleConfig } from '../cycle/config';
import { checkRunInputs, cycleRunConfig, readJson, settleVerbalizer } from '../cycle/run-setup';
import { loadCyclePair } from '../cycle/model-io';
import { CYCLE_RUN, trainCycle, type CycleData, type CycleResult } from '../cycle/trainer';
import type { ResolvedSelectOn } from '../cycle/selection';
import { UsageError } from '../util/errors';
import { fingerprintFiles, modelWeightFiles, openRunDir } from '../util/run-dir';
import { findCheckpoint } from '../run/checkpoint';
import { checkpointDir } from '../run/layout';
import { modelRefDir } from './model-ref';
import {
  defined,
  entitySeq,
  fileOf,
  inputFingerprint,
  labeledCorpus,
  progress,
  type EntitiesOf,
  type LabeledInput,
  type ReaderSettings,
  type RunHooks,
} from './run-common';

export type { EntitiesOf, ProgressEvent, ReaderSettings, RunHooks } from './run-common';
export { trainSupervised, type SupervisedOptions } from './train-supervised';

/** Messages name the options by the command's flags (`baseModel` is `--base-model`), as RUN/inputs.json does. */
export interface TrainOptions extends RunHooks {
  /** Unpaired sentences S and entity sequences Q: lists, or an S / Q file read as `cyclener train` reads it. */
  sentences: readonly string[] | string;
  entities: readonly EntitiesOf[] | string;
  /** Held-out S and Q (lists or files): best/ is chosen by the lowest dev E-cycle loss. */
  devSentences?: readonly string[] | string;
  devEntities?: readonly EntitiesOf[] | string;
  /** Labelled dev / test sentences (`--dev-gold` / `--test-gold`; a file is read with `read`): F1 logged at each
   *  evaluation. */
  devGold?: LabeledInput;
  testGold?: LabeledInput;
  read?: ReaderSettings;
  /** Dataset label -> type word for the dev/test F1: a map or a JSON file (`--verbalizer`), else the default set
   *  `dataset` names (`--dataset`), else guessed from the gold labels. */
  verbalizer?: Readonly<Record<string, string>> | string;
  dataset?: string;
  /** Both directions start from this model (a directory or a Hub id), or from s2eModel / e2sModel. */
  baseModel?: string;
  s2eModel?: string;
  e2sModel?: string;
  /** The run directory (as `cyclener train --out`). */
  out: string;
  /** Config keys (src/cycle/config.ts), e.g. {epochs: 3, batchSize: 16}, or a `--config` JSON file of them. On a
   *  resume only the step budget (epochs, maxSteps) may change: another change is refused, as `--resume` refuses it. */
  config?: Partial<CycleConfig> | string;
  /** The command's config flags (src/cycle/config-flags.ts, by name: {batch: 8, 'max-steps': 100}), applied over
   *  `config` as on the command line (a resume names them in its refusal). */
  configFlags?: Readonly<Record<string, SettingValue>>;
  /** Continue from out/checkpoint (after an abort); refused when the config or the data differ from the run's. */
  resume?: boolean;
  /** Start over in a directory that holds a previous run. */
  force?: boolean;
}

export interface TrainResult extends CycleResult {
  /** The criterion bestStep / bestScore are of (config.selectOn; 'auto' resolved from the data). */
  selectOn: ResolvedSelectOn;
  /** out/best/ after this sitting (null: no evaluation selected a model yet); `final`: the final models of `step`
   *  (no dev data to select on). */
  best: { dir: string; final: boolean; step: unknown } | null;
}

/** The config-file label of an in-memory TrainOptions.config in a refusal ("--config options.config: run has ..."). */
const CONFIG_OPTION = 'options.config';

/** The config file or object, checked key by key (makeConfig) before anything uses it. */
function configSource(c: TrainOptions['config']): { file: string; values: Partial<CycleConfig> } | undefined {
  if (c === undefined) return undefined;
  const file = typeof c === 'string' ? c : CONFIG_OPTION;
  const values = typeof c === 'string' ? (readJson(c) as Partial<CycleConfig>) : c;
  makeConfig(values, file);
  return { file, values };
}

/** The data as the models read it: rare type words warned about, lines longer than `maxTokens` tokens cut (S:
 *  capLongLines; Q: whole entities, capLongSequences); files are read as `cyclener train` reads them. */
function cycleData(o: TrainOptions, maxTokens: number, log: (l: string) => void): CycleData {
  const toModelS = (label: string, x: readonly string[] | string) => {
    const r =
      typeof x === 'string' ? capLongLines(x, readSentenceLines(x), maxTokens) : capLongLines(label, x, maxTokens);
    if (r.warning) log(r.warning);
    return r.lines;
  };
  const toModelQ = (label: string, x: readonly EntitiesOf[] | string) => {
    const name = typeof x === 'string' ? x : label;
    const seqs =
      typeof x === 'string'
        ? readQFile(x)
        : x.map((e) => (typeof e === 'string' ? parseEntitySequence(e).entities : e));
    for (const w of rareTypeWarnings(name, seqs)) log(w);
    const r = capLongSequences(name, seqs, maxTokens, typeof x === 'string' ? undefined : x.map(entitySeq));
    if (r.warning) log(r.warning);
    return r.lines;
  };
  const S = toModelS('sentences', o.sentences);
  const Q = toModelQ('entities', o.entities);
  const devS = o.devSentences && toModelS('devSentences', o.devSentences);
  const devQ = o.devEntities && toModelQ('devEntities', o.devEntities);
  const devGold = o.devGold && labeledCorpus(o.devGold, 'devGold', o.read);
  const testGold = o.testGold && labeledCorpus(o.testGold, 'testGold', o.read);
  return {
    S,
    Q,
    ...(devS ? { devS } : {}),
    ...(devQ ? { devQ } : {}),
    ...(devGold ? { devGold } : {}),
    ...(testGold ? { testGold } : {}),
  };
}

/** RUN/inputs.json's files: each input's fingerprint, a file's or its lines' (gold sentences as one JSON line each). */
function cycleInputs(o: TrainOptions, d: CycleData, models: Record<string, string | undefined>) {
  const gold = (x: LabeledInput | undefined, c: LabeledCorpus | undefined) =>
    typeof x === 'string' ? x : c?.sentences.map((s) => JSON.stringify(s));
  const seqs = (x: readonly EntitiesOf[] | string | undefined) => (typeof x === 'string' ? x : x?.map(entitySeq));
  return defined({
    sentences: inputFingerprint('sentences', o.sentences),
    entities: inputFingerprint('entities', seqs(o.entities)),
    'dev-sentences': inputFingerprint('devSentences', o.devSentences),
    'dev-entities': inputFingerprint('devEntities', seqs(o.devEntities)),
    'dev-gold': inputFingerprint('devGold', gold(o.devGold, d.devGold)),
    'test-gold': inputFingerprint('testGold', gold(o.testGold, d.testGold)),
    ...fingerprintFiles(
      Object.fromEntries(Object.entries(models).map(([k, dir]) => [k, dir ? modelWeightFiles(dir) : undefined])),
    ),
  });
}

/** CycleNER training (`cyclener train`): writes out/config.json, inputs.json, metrics.jsonl, checkpoint/ and best/{s2e,e2s}.
 *  In a data-parallel job (T.dist) every rank calls it; rank 0 owns the run folder. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const { log, metrics } = progress(o);
  const resumeAsked = o.resume === true;
  // Rank 0 owns the run folder (lock, --force, the resume checks); the others load once it is ready.
  const run =
    T.dist.rank() === 0
      ? openRunDir(o.out, CYCLE_RUN, {
          resume: resumeAsked,
          force: o.force === true,
          log,
          inputs: {
            '--sentences': fileOf(o.sentences),
            '--entities': fileOf(o.entities),
            '--dev-sentences': fileOf(o.devSentences),
            '--dev-entities': fileOf(o.devEntities),
            '--dev-gold': fileOf(o.devGold),
            '--test-gold': fileOf(o.testGold),
            '--base-model': o.baseModel,
            '--s2e-model': o.s2eModel,
            '--e2s-model': o.e2sModel,
            '--config': fileOf(o.config),
            '--verbalizer': fileOf(o.verbalizer),
          },
        })
      : null;
  try {
    const setup = cycleRunConfig({
      runDir: o.out,
      resume: resumeAsked,
      configFile: configSource(o.config),
      flags: o.configFlags ?? {},
    });
    const { cfg } = setup;
    // S lines are S2E sources and E2S targets, Q lines the reverse: cut to the longer of the two limits.
    const data = cycleData(o, Math.max(cfg.maxSourceTokens, cfg.maxTargetTokens), log);
    const goldForTypes = data.devGold ?? data.testGold;
    if (goldForTypes) {
      const v = chooseVerbalizer(o, corpusLabels(goldForTypes), undefined, { warn: log, corpora: [goldForTypes] });
      settleVerbalizer(setup, v.toJSON(), Boolean(o.verbalizer || o.dataset));
    }
    cfg.types = cfg.types ?? typesOf(data.Q);
    // Hub ids resolve to their cached snapshot (downloaded if needed) before anything is fingerprinted or loaded.
    const base = o.baseModel === undefined ? undefined : await modelRefDir(o.baseModel, '--base-model', log);
    const s2eArg = o.s2eModel === undefined ? undefined : await modelRefDir(o.s2eModel, '--s2e-model', log);
    const e2sArg = o.e2sModel === undefined ? undefined : await modelRefDir(o.e2sModel, '--e2s-model', log);
    if (run) {
      const inputs = cycleInputs(o, data, { 'base-model': base, 's2e-model': s2eArg, 'e2s-model': e2sArg });
      checkRunInputs(run, { resume: resumeAsked, inputs, diffs: setup.diffs, log });
    }
    await T.dist.barrier();

    const ckpt = resumeAsked ? findCheckpoint(o.out) : null;
    const resume = ckpt !== null;
    if (resumeAsked && !resume) log(`no checkpoint in ${checkpointDir(o.out)}: starting from step 0`);
    const s2eDir = ckpt ? path.join(ckpt, 's2e') : (s2eArg ?? base);
    const e2sDir = ckpt ? path.join(ckpt, 'e2s') : (e2sArg ?? base);
    if (!s2eDir || !e2sDir) throw new UsageError('give --base-model DIR (or --s2e-model and --e2s-model)');
    const { s2e: a, e2s: b } = loadCyclePair(s2eDir, e2sDir);
    try {
      if (!resume) cfg.baseModels = { s2e: modelSource(s2eDir), e2s: modelSource(e2sDir) };
      log(
        `S2E from ${s2eDir}, E2S from ${e2sDir}; ${data.S.length} sentences, ${data.Q.length} entity sequences, types ${cfg.types.join(', ')}; grounded cycles ${cfg.grounded}`,
      );
      o.onStart?.();
      const r = await trainCycle({ s2e: a.model, e2s: b.model, tokenizer: a.tokenizer }, data, cfg, o.out, {
        resume,
        log,
        ...(metrics ? { metrics } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      return { ...r, best: bestOf(o.out) };
    } finally {
      b.model.dispose();
      a.model.dispose();
    }
  } finally {
    run?.release();
  }
}

/** What out/best/ holds (its info.json: the step and whether these are the final models). */
function bestOf(out: string): TrainResult['best'] {
  const dir = path.join(out, 'best');
  if (!fs.existsSync(dir)) return null;
  const infoFile = path.join(dir, 'info.json');
  const info = fs.existsSync(infoFile) ? readJson(infoFile) : null;
  return { dir, final: info?.final === true, step: info?.step };
}
