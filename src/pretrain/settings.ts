// `cyclener pretrain`'s settings. PRETRAIN_DEFAULTS is the defaults block; PRETRAIN_SETTINGS gives each flag: the
// pretrain() option it sets, its default, allowed values and help, and what a --resume does with it. The command's
// flags and --help, the options it passes to pretrain(), and the resume comparison (against the checkpoint's recipe
// and the settings recorded at the start) all derive from it.

import * as path from 'node:path';
import { AT_LEAST_1, DROPOUT, NON_NEGATIVE, POSITIVE, SEED } from '../util/range';
import { settingProblem, type Setting, type SettingValue } from '../data/setting';
import { UsageError } from '../util/errors';
import { FP32_HELP } from '../t5/precision';
import { DEFAULT_MIXTURE, formatMixture, OBJECTIVES, parseMixture, SPAN_INPUTS } from './objectives';
import type { PretrainOptions } from './pretrain';
import { SCHEDULES } from './schedule';
import { ADDED_TOKENS } from './spm';
import type { Recipe } from './train-state';

export const PRETRAIN_DEFAULTS = {
  model: 'mini',
  vocabSize: 16000,
  mixture: DEFAULT_MIXTURE,
  spanInputs: 'packed',
  batch: 32,
  accum: 1,
  optimizer: 'adamw',
  lr: 2e-3,
  warmup: 1000,
  seed: 0,
  dropout: 0,
  maxSource: 128,
  maxTarget: 128,
  checkpointMinutes: 10,
  evalEvery: 200,
  logEvery: 20,
  spmSentences: 300_000,
  saveDtype: 'float32',
  // No flags: the held-out documents and how validation batches are drawn, the corpus reading.
  valDocs: 50,
  valBatches: 2,
  valBatchSize: 64,
  holdoutEvery: 200,
  chunkDocs: 2000,
} as const;

const D = PRETRAIN_DEFAULTS;

/**
 * What a --resume does with a setting: 'recipe' (recorded in the checkpoint) and 'start' (recorded in DIR/inputs.json
 * at a fresh start: model and tokenizer) must match the run's; 'budget' (the step budget and bookkeeping) may change.
 */
export type OnResume = 'recipe' | 'start' | 'budget';

export interface PretrainSetting extends Setting {
  /** The pretrain() option the flag sets (none: the command applies it, e.g. --threads). */
  option?: keyof PretrainOptions;
  resume: OnResume;
  /** The option's value from the flag's (default: the flag's as it is). */
  toOption?: (v: SettingValue) => unknown;
  /** The flag's value as a resume compares it (default: as it is). */
  compared?: (v: SettingValue) => unknown;
  /** A 'recipe' setting's value in a checkpoint, in the flag's terms (default: the recipe's field `option`). */
  fromRecipe?: (r: Recipe) => unknown;
}

const orNull = (v: SettingValue) => v ?? null;
const absolute = (v: SettingValue) => (typeof v === 'string' && v !== '' ? path.resolve(v) : null);

/** Every flag of `cyclener pretrain` but the run folder's (--corpus, --out, --resume, --force) and --nproc. */
export const PRETRAIN_SETTINGS = {
  // Not --model: everywhere else that names a model to load (a directory or Hub id); here it is a size.
  arch: {
    type: 'string',
    arg: 'NAME|FILE',
    help: 'architecture: preset (tiny, mini, small, ...), a config.json, or a model directory whose config.json gives the dims (its weights are not loaded; --init loads them)',
    default: D.model,
    aliases: ['model'],
    option: 'model',
    resume: 'start',
  },
  'vocab-size': {
    type: 'int',
    arg: 'N',
    help: 'total vocabulary when training a tokenizer (SentencePiece pieces + 100 sentinels + <sep>)',
    default: D.vocabSize,
    range: { min: ADDED_TOKENS + 8 },
    option: 'vocabSize',
    resume: 'start',
  },
  tokenizer: {
    type: 'string',
    arg: 'DIR|HUB_ID',
    help: 'reuse tokenizer.json/spiece.model from DIR instead of training one',
    option: 'tokenizerDir',
    resume: 'start',
    toOption: orNull,
    compared: absolute,
  },
  init: {
    type: 'string',
    arg: 'DIR|HUB_ID',
    help: 'continue pretraining this checkpoint (domain adaptation); reuses its tokenizer',
    option: 'init',
    resume: 'recipe',
    toOption: orNull,
    compared: absolute,
  },
  mixture: {
    type: 'string',
    arg: 'SPEC',
    help: `objectives and weights (${OBJECTIVES.join(', ')})`,
    default: D.mixture,
    option: 'mixture',
    resume: 'recipe',
    compared: (v) => formatMixture(parseMixture(String(v))),
  },
  'span-inputs': {
    type: 'string',
    arg: 'MODE',
    help: 'span objective inputs: packed = fixed-length windows of consecutive text, exactly --max-source tokens after corruption (T5); sentences = 1-3 sentences (the models/base-news-11m recipe)',
    default: D.spanInputs,
    choices: SPAN_INPUTS,
    option: 'spanInputs',
    resume: 'recipe',
    fromRecipe: (r) => r.spanInputs ?? 'sentences', // checkpoints from before the option
  },
  'max-minutes': {
    type: 'number',
    arg: 'M',
    help: 'stop this sitting after M minutes of training (checkpointed; continue with --resume)',
    range: POSITIVE,
    option: 'maxMinutes',
    resume: 'budget',
    toOption: orNull,
  },
  steps: {
    type: 'int',
    arg: 'N',
    help: 'total optimizer steps (over all sittings); enables the linear schedule',
    range: AT_LEAST_1,
    option: 'steps',
    resume: 'budget',
    toOption: orNull,
  },
  batch: {
    type: 'int',
    arg: 'N',
    help: 'examples per micro-batch',
    default: D.batch,
    range: AT_LEAST_1,
    option: 'batch',
    resume: 'recipe',
  },
  accum: {
    type: 'int',
    arg: 'K',
    help: 'micro-batches per optimizer step (gradient accumulation)',
    default: D.accum,
    range: AT_LEAST_1,
    option: 'accum',
    resume: 'recipe',
  },
  optimizer: {
    type: 'string',
    arg: 'O',
    help: 'adamw (betas 0.9/0.98, weight decay 0.01) or adafactor (external lr, no parameter scaling)',
    default: D.optimizer,
    choices: ['adamw', 'adafactor'],
    option: 'optimizer',
    resume: 'recipe',
    fromRecipe: (r) => r.optimizer ?? 'adamw', // checkpoints from before the option
  },
  lr: {
    type: 'number',
    arg: 'LR',
    help: 'peak learning rate',
    default: D.lr,
    range: POSITIVE,
    option: 'lr',
    resume: 'recipe',
  },
  // Not --warmup-steps: in `train` that is the warm-up of the models before the cycles.
  'lr-warmup-steps': {
    type: 'int',
    arg: 'N',
    help: 'steps of linear learning-rate warm-up (0 = none)',
    default: D.warmup,
    range: NON_NEGATIVE,
    aliases: ['warmup-steps', 'warmup'],
    option: 'warmup',
    resume: 'recipe',
  },
  schedule: {
    type: 'string',
    arg: 'S',
    help: 'decay after warmup (default: linear with --steps, else inverse-sqrt)',
    choices: SCHEDULES,
    option: 'schedule',
    resume: 'recipe',
    toOption: orNull,
  },
  seed: {
    type: 'int',
    arg: 'N',
    help: 'seed of model init, data sampling and tokenizer sample',
    default: D.seed,
    range: SEED,
    option: 'seed',
    resume: 'recipe',
  },
  fp32: {
    type: 'boolean',
    help: FP32_HELP,
    option: 'bf16',
    resume: 'recipe',
    toOption: (v) => v !== true,
    compared: (v) => v === true,
    fromRecipe: (r) => !r.bf16,
  },
  dropout: {
    type: 'number',
    arg: 'P',
    help: 'dropout while pretraining (config.json keeps the fine-tuning rate)',
    default: D.dropout,
    range: DROPOUT,
    option: 'dropout',
    resume: 'recipe',
  },
  'checkpoint-minutes': {
    type: 'number',
    arg: 'M',
    help: 'write DIR/checkpoint every M minutes',
    default: D.checkpointMinutes,
    range: POSITIVE,
    option: 'checkpointMinutes',
    resume: 'budget',
  },
  'eval-every': {
    type: 'int',
    arg: 'N',
    help: 'validation loss every N steps',
    default: D.evalEvery,
    range: AT_LEAST_1,
    option: 'evalEvery',
    resume: 'budget',
  },
  'log-every': {
    type: 'int',
    arg: 'N',
    help: 'progress line and metrics record every N steps',
    default: D.logEvery,
    range: AT_LEAST_1,
    option: 'logEvery',
    resume: 'budget',
  },
  'max-source': {
    type: 'int',
    arg: 'N',
    help: 'max source tokens',
    default: D.maxSource,
    range: AT_LEAST_1,
    option: 'maxSource',
    resume: 'recipe',
  },
  'max-target': {
    type: 'int',
    arg: 'N',
    help: 'max target tokens',
    default: D.maxTarget,
    range: AT_LEAST_1,
    option: 'maxTarget',
    resume: 'recipe',
  },
  'spm-sentences': {
    type: 'int',
    arg: 'N',
    help: 'sentences sampled to train the tokenizer',
    default: D.spmSentences,
    range: AT_LEAST_1,
    option: 'spmSentences',
    resume: 'start',
  },
  'save-dtype': {
    type: 'string',
    arg: 'T',
    help: 'dtype of the exported model.safetensors',
    default: D.saveDtype,
    choices: ['float32', 'bfloat16'],
    option: 'saveDtype',
    resume: 'budget',
  },
  threads: {
    type: 'int',
    arg: 'N',
    help: 'intra-op threads (default: CYCLENER_THREADS or physical cores)',
    range: AT_LEAST_1,
    resume: 'budget',
  },
} as const satisfies Record<string, PretrainSetting>;

type Settings = typeof PRETRAIN_SETTINGS;
type SettingOption = {
  [F in keyof Settings]: Settings[F] extends { option: infer O extends keyof PretrainOptions } ? O : never;
}[keyof Settings];
/** The options without flags: PRETRAIN_DEFAULTS's. */
type FixedOption = 'valDocs' | 'valBatches' | 'valBatchSize' | 'holdoutEvery' | 'chunkDocs';

const ENTRIES = Object.entries(PRETRAIN_SETTINGS) as [keyof Settings, PretrainSetting][];

/** The flags a resume may change. */
export const RESUME_ALLOWED = ENTRIES.filter(([, s]) => s.resume === 'budget').map(([flag]) => flag);

/** pretrain()'s options from the flags' values (--tokenizer and --init as given: the command resolves Hub ids). */
export function pretrainOptions(
  f: Readonly<Record<string, SettingValue>>,
): Pick<PretrainOptions, SettingOption | FixedOption> {
  const o: Record<string, unknown> = {
    valDocs: D.valDocs,
    valBatches: D.valBatches,
    valBatchSize: D.valBatchSize,
    holdoutEvery: D.holdoutEvery,
    chunkDocs: D.chunkDocs,
  };
  for (const [flag, s] of ENTRIES) if (s.option) o[s.option] = s.toOption ? s.toOption(f[flag]) : f[flag];
  // Each entry's toOption gives its option's type; the flags' types and choices match the options' (test/e2e/pretrain-cli).
  return o as Pick<PretrainOptions, SettingOption | FixedOption>;
}

/** The command line's values of the settings a resume compares (one class), by flag name. */
export function comparedSettings(
  f: Readonly<Record<string, SettingValue>>,
  which: Exclude<OnResume, 'budget'>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, s] of ENTRIES) if (s.resume === which) out[flag] = s.compared ? s.compared(f[flag]) : f[flag];
  return out;
}

/** The values a checkpoint's recipe ran with, by flag name. */
export function recipeSettings(r: Recipe): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, s] of ENTRIES)
    if (s.resume === 'recipe')
      out[flag] = s.fromRecipe ? s.fromRecipe(r) : (r as unknown as Record<string, unknown>)[s.option!];
  return out;
}

/** The library's name of a setting (src/api/pretrain.ts): the flag's in camelCase (`--vocab-size`: vocabSize), and
 *  `precision` ('bf16' | 'fp32') for --fp32, as the library's other calls name it. */
export function libraryName(flag: string): string {
  return flag === 'fp32' ? 'precision' : flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The flags' values of the library's options, as the CLI parses them (defaults filled in), and the flags they set: a
 * resume compares only those, as it compares only the flags on a command line. A value outside the setting's type,
 * choices or range is a UsageError naming the option.
 */
export function flagsOfOptions(o: Readonly<Record<string, unknown>>): {
  flags: Record<string, SettingValue>;
  given: Set<string>;
} {
  const flags: Record<string, SettingValue> = {};
  const given = new Set<string>();
  for (const [flag, s] of ENTRIES) {
    const name = libraryName(flag);
    const v = o[name];
    if (v === undefined) {
      flags[flag] = s.default;
      continue;
    }
    const problem =
      flag === 'fp32'
        ? v === 'bf16' || v === 'fp32'
          ? null
          : `must be bf16 or fp32, got ${JSON.stringify(v)}`
        : settingProblem(s, v);
    if (problem) throw new UsageError(`pretrain: ${name} ${problem}`);
    flags[flag] = flag === 'fp32' ? v === 'fp32' : (v as SettingValue);
    given.add(flag);
  }
  return { flags, given };
}

/** The library's options of the settings a command line gave (the others stay unset: the library's defaults are the
 *  flags'). flagsOfOptions of the result gives back these flags' values. */
export function optionsOfFlags(
  f: Readonly<Record<string, SettingValue>>,
  given: ReadonlySet<string>,
): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [flag] of ENTRIES)
    if (given.has(flag) && f[flag] !== undefined)
      o[libraryName(flag)] = flag === 'fp32' ? (f[flag] ? 'fp32' : 'bf16') : f[flag];
  return o;
}

/** Settings recorded under a flag's former name (an inputs.json from before the rename: `model`) under its name. */
export function currentNames(saved: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out = { ...saved };
  for (const [flag, s] of ENTRIES)
    for (const old of s.aliases ?? [])
      if (old in out && !(flag in out)) {
        out[flag] = out[old];
        delete out[old];
      }
  return out;
}
