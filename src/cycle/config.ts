// Cycle-training configuration, recorded in RUN/config.json. CYCLE_SPEC is the one table of its keys: each key's
// default, allowed values, help, the `cyclener train` flags that set it and whether a resume may change it.
// DEFAULT_CONFIG, config-file validation (makeConfig), train's flags and --help, and the resume comparison
// (config-flags.ts) all derive from it.

import { DEFAULT_E2S_PREFIX, DEFAULT_S2E_PREFIX, type ModelMeta } from './model-io';
import type { DecodeConfig } from './seq2seq';
import { DEFAULT_PRECISION, FP32_HELP, PRECISIONS, type Precision } from '../t5/precision';
import {
  AT_LEAST_1,
  FRACTION,
  NON_NEGATIVE,
  POSITIVE,
  PROBABILITY_BELOW_1,
  SEED,
  rangeProblem,
  type Range,
} from '../util/range';
import type { ModelSource } from '../hub';

/** The keys' types; what each means, its default and allowed values: CYCLE_SPEC. */
export interface CycleConfig {
  epochs: number;
  maxSteps: number;
  batchSize: number;
  maxSourceTokens: number;
  maxTargetTokens: number;
  lrS2E: number;
  lrE2S: number;
  weightDecay: number;
  maxGradNorm: number;
  seed: number;
  grounded: boolean;
  groundedEval: boolean;
  evalDecode: DecodeConfig;
  evalEvery: number;
  evalBatchSize: number;
  patience: number;
  checkpointEvery: number;
  logEvery: number;
  samples: number;
  selectOn: SelectOn;
  cycleAllowEmpty: boolean;
  warmup: 'none' | 'fragments' | 'lexical';
  warmupSteps: number;
  warmupLr: number;
  warmupDirections: 'both' | 's2e' | 'e2s';
  onCollapse: 'warn' | 'stop' | 'rollback';
  collapseShare: number;
  rollbackLrFactor: number;
  maxRollbacks: number;
  s2eDecode: DecodeConfig;
  e2sDecode: DecodeConfig;
  selfTrainMinProb: number;
  silverMix: number;
  silverDecaySteps: number;
  silverRefresh: boolean;
  silverFilter: 'all' | 'covered';
  silverPrune: boolean;
  silverSwap: number;
  e2sNoise: number;
  e2sSamples: number;
  silverHoldout: number;
  nameHoldout: number;
  eCycleFilter: 'none' | 'copied';
  precision: Precision;
  s2ePrefix: string;
  e2sPrefix: string;
  types: string[] | null;
  verbalizer: Record<string, string> | null;
  baseModels: { s2e: ModelSource; e2s: ModelSource } | null;
}

/**
 * Selection criteria: the paper's dev E-cycle loss; the dev S-cycle loss; their sum; silver F1, S2E's agreement on dev S (or on a
 * fixed sample of S, or on the sentences of S held out of training) with the gazetteer from Q (silver.ts); S2E's
 * outputs on dev S against Q's entity density (|log(devEntities / qEntities)|), their share of sentences without an
 * entity, and S2E's loss on its own outputs (its confidence); all label-free, beyond the paper but the first; labelled
 * dev F1 (--dev-gold). 'auto' is resolved from the data at the start of a run (resolveSelectOn, selection.ts).
 */
export const SELECT_ON = [
  'dev-e-loss',
  'auto',
  'dev-s-loss',
  'dev-cycle-loss',
  'dev-silver-f1',
  's-silver-f1',
  's-silver-f1-min',
  'held-silver-f1',
  'name-held-f1',
  'name-held-recall',
  'dev-rate-gap',
  'dev-empty',
  'dev-self-loss',
  'dev-f1',
] as const;
export type SelectOn = (typeof SELECT_ON)[number];

/** A `cyclener train` flag that sets a key (or one field of a decode key). */
export interface KeyFlag {
  /** Placeholder of a valued flag in --help. */
  arg?: string;
  /** --help text, when not the key's. */
  help?: string;
  /** Stricter than the key's range (0 = "off" is the key's default, not a value to give): no default is shown. */
  range?: Range;
  /** A boolean flag: the values it sets (of this key and others). Otherwise a boolean flag sets its key to true. */
  sets?: Partial<CycleConfig>;
  /** The field of a decode key the flag sets (allowed values: DECODE_FIELDS). */
  field?: keyof DecodeConfig;
}

/** What a key's values are checked against: numbers by range, strings by choices, objects by a function. */
type Rule<V> = [V] extends [number]
  ? { int: boolean; range: Range }
  : [V] extends [boolean]
    ? object
    : [V] extends [string]
      ? { choices?: readonly V[] }
      : { check: (v: unknown, key: string) => string | null };

export type KeySpec<V> = Rule<V> & {
  default: V;
  /** What the key means; the --help text of its flags unless they give their own. */
  help: string;
  /** The step budget: a resume may change it (every other key must match the run's). */
  resumable?: true;
  /** `cyclener train` flags that set the key, by name. */
  flags?: Readonly<Record<string, KeyFlag>>;
};

/** Allowed values of each field of a DecodeConfig (`required`: maxNewTokens, no hidden short default). */
export const DECODE_FIELDS: { readonly [F in keyof Required<DecodeConfig>]: DecodeField } = {
  maxNewTokens: { int: true, range: AT_LEAST_1, required: true },
  numBeams: { int: true, range: AT_LEAST_1 },
  doSample: 'boolean',
  temperature: { int: false, range: POSITIVE },
  topP: { int: false, range: { min: 0, max: 1, minExclusive: true } },
  topK: { int: true, range: NON_NEGATIVE },
  noRepeatNgramSize: { int: true, range: NON_NEGATIVE },
  repetitionPenalty: { int: false, range: POSITIVE },
};
type DecodeField = 'boolean' | { int: boolean; range: Range; required?: true };

const shown = (v: unknown) => JSON.stringify(v) ?? String(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** "a, b or c" */
const alternatives = (xs: readonly unknown[]) =>
  xs.length === 1 ? String(xs[0]) : `${xs.slice(0, -1).join(', ')} or ${String(xs[xs.length - 1])}`;

function decodeProblem(v: unknown, k: string): string | null {
  if (!isObject(v)) return `${k} must be an object with maxNewTokens, got ${shown(v)}`;
  const unknown = Object.keys(v).find((f) => !(f in DECODE_FIELDS));
  if (unknown !== undefined) return `${k}: unknown key "${unknown}" (known: ${Object.keys(DECODE_FIELDS).join(', ')})`;
  for (const [f, rule] of Object.entries(DECODE_FIELDS) as [string, DecodeField][]) {
    if (v[f] === undefined && (rule === 'boolean' || !rule.required)) continue;
    const p =
      rule === 'boolean'
        ? typeof v[f] === 'boolean'
          ? null
          : `must be true or false, got ${shown(v[f])}`
        : rangeProblem(v[f], rule.range, rule.int);
    if (p) return `${k}.${f} ${p}`;
  }
  return null;
}

function typesProblem(v: unknown): string | null {
  if (v === null) return null;
  if (!Array.isArray(v)) return `types must be null or an array of type words, got ${shown(v)}`;
  const i = v.findIndex((t) => typeof t !== 'string' || t.trim() === '' || t.includes('<sep>'));
  return i < 0 ? null : `types[${i}] must be a non-empty type word without <sep>, got ${shown(v[i])}`;
}

function verbalizerProblem(v: unknown): string | null {
  if (v === null) return null;
  if (!isObject(v)) return `verbalizer must be null or an object {"LABEL": "type word", ...}, got ${shown(v)}`;
  const bad = Object.entries(v).find(([, w]) => typeof w !== 'string');
  return bad ? `verbalizer.${bad[0]} must be a string, got ${shown(bad[1])}` : null;
}

function baseModelsProblem(v: unknown): string | null {
  const source = (m: unknown) =>
    isObject(m) &&
    typeof m.path === 'string' &&
    ['repoId', 'revision', 'commit'].every((f) => m[f] === undefined || typeof m[f] === 'string');
  return v === null || (isObject(v) && source(v.s2e) && source(v.e2s))
    ? null
    : `baseModels must be null or {"s2e": {"path": ...}, "e2s": {"path": ...}}, got ${shown(v)}`;
}

/**
 * Every key of CycleConfig, in the order of RUN/config.json and of train's --help. The keys without flags are set by
 * a --config file (or, for types/verbalizer/baseModels, recorded by `train`).
 */
export const CYCLE_SPEC = {
  epochs: {
    default: 10,
    int: true,
    range: AT_LEAST_1,
    resumable: true,
    help: 'epochs over the larger of S and Q',
    flags: { epochs: { arg: 'N' } },
  },
  maxSteps: {
    default: 0,
    int: true,
    range: NON_NEGATIVE,
    resumable: true,
    help: 'stop after this many steps in total (0 = only the epoch count)',
    flags: {
      'max-steps': { arg: 'N', range: AT_LEAST_1, help: 'stop after N steps in total (default: only --epochs)' },
    },
  },
  batchSize: { default: 32, int: true, range: AT_LEAST_1, help: 'batch size', flags: { batch: { arg: 'N' } } },
  maxSourceTokens: {
    default: 192,
    int: true,
    range: AT_LEAST_1,
    help: 'longest model input in tokens (longer ones are cut, and counted in the log)',
  },
  maxTargetTokens: {
    default: 192,
    int: true,
    range: AT_LEAST_1,
    help: 'longest training target in tokens (longer ones are cut, and counted in the log)',
  },
  lrS2E: { default: 3e-4, int: false, range: POSITIVE, help: 'S2E learning rate', flags: { 'lr-s2e': { arg: 'LR' } } },
  lrE2S: { default: 3e-4, int: false, range: POSITIVE, help: 'E2S learning rate', flags: { 'lr-e2s': { arg: 'LR' } } },
  weightDecay: { default: 0, int: false, range: NON_NEGATIVE, help: 'AdamW weight decay of both models' },
  maxGradNorm: { default: 1, int: false, range: NON_NEGATIVE, help: "clip each model's gradient norm (0 = off)" },
  seed: { default: 42, int: true, range: SEED, help: 'seed (data order, sampling)', flags: { seed: { arg: 'N' } } },
  grounded: {
    default: true,
    help: 'grounded S2E decoding inside the cycles (S-cycle step 1 and the dev S-cycle loss)',
    flags: {
      'no-ground': {
        sets: { grounded: false, groundedEval: false },
        help: "plain S2E decoding inside the cycles, for dev F1 and as the saved S2E's default (the paper's setting)",
      },
    },
  },
  groundedEval: {
    default: true,
    help: 'grounded S2E decoding for the dev/test F1, recorded in the saved S2E as its default at prediction',
  },
  // One setting for dev F1 and the reported F1: the saved S2E records it (cyclener.json decode), so that `predict` and
  // `evaluate --model` decode as the model was selected.
  evalDecode: {
    default: { maxNewTokens: 128 },
    check: decodeProblem,
    help: 'inference decoding: dev/test F1 during training, recorded in the saved S2E for predict/evaluate',
    flags: {
      'max-new-tokens': {
        field: 'maxNewTokens',
        arg: 'N',
        help: "longest entity sequence in tokens for dev/test F1, recorded as the saved S2E's default for predict/evaluate",
      },
    },
  },
  evalEvery: {
    default: 0,
    int: true,
    range: NON_NEGATIVE,
    help: 'evaluate every N steps (0: at the end of each epoch)',
    flags: { 'eval-every': { arg: 'N' } },
  },
  evalBatchSize: { default: 64, int: true, range: AT_LEAST_1, help: 'sentences per generation batch at evaluations' },
  patience: {
    default: 0,
    int: true,
    range: NON_NEGATIVE,
    help: 'early stop after N evaluations without improvement (0: never)',
    flags: { patience: { arg: 'N' } },
  },
  checkpointEvery: {
    default: 0,
    int: true,
    range: NON_NEGATIVE,
    help: 'save the resumable checkpoint every N steps (0 = at each evaluation only)',
  },
  logEvery: { default: 10, int: true, range: AT_LEAST_1, help: 'progress line every N steps' },
  samples: {
    default: 3,
    int: true,
    range: NON_NEGATIVE,
    help: 'triplets (s, q′, s″) and (q, s′, q″) written to the log at each evaluation',
  },
  selectOn: {
    default: 'dev-e-loss',
    choices: SELECT_ON,
    help: "selection criterion for best/: the paper's dev E-cycle loss; auto: dev-cycle-loss where the gazetteer from Q matches a name in dev S, else s-silver-f1-min after a lexical warm-up (dev S's names are then all new: the model least fitted to Q's names is kept), else the E-cycle loss (a resume keeps the criterion its checkpoint records); the dev S-cycle loss, the sum of both (dev-cycle-loss), silver F1 (S2E on dev S, on 200 sentences of S, or on the --silver-holdout sentences, against the gazetteer from Q matched over them; s-silver-f1-min: the lowest on S; name-held-f1 / name-held-recall: on the --name-holdout sentences, the latter the held-out names' recall alone), S2E's entities per dev sentence against Q's (dev-rate-gap: |log ratio|), its share of dev sentences without one (dev-empty), its loss on its own dev outputs (dev-self-loss) (all label-free), or labelled dev F1 (--dev-gold)",
    flags: { 'select-on': { arg: 'C' } },
  },
  // Off by default: the empty sequence is the easy way out of the S-cycle for a weak S2E (grounding.ts).
  cycleAllowEmpty: {
    default: false,
    help: 'grounded S2E may emit the empty sequence inside the cycles (off by default: an easy collapse for a weak S2E)',
    flags: { 'cycle-allow-empty': {} },
  },
  // warmup.ts; followed by an evaluation at step 0.
  warmup: {
    default: 'none',
    choices: ['none', 'fragments', 'lexical'],
    help: 'unsupervised warm-up before the cycles: fragments (S alone) or lexical (silver pairs: gazetteer from Q matched over S)',
    flags: { warmup: { arg: 'W' } },
  },
  warmupSteps: {
    default: 0,
    int: true,
    range: NON_NEGATIVE,
    help: 'warm-up steps (batch as --batch)',
    flags: { 'warmup-steps': { arg: 'N', range: AT_LEAST_1 } },
  },
  warmupLr: {
    default: 5e-4,
    int: false,
    range: POSITIVE,
    help: 'warm-up learning rate',
    flags: { 'warmup-lr': { arg: 'LR' } },
  },
  warmupDirections: {
    default: 'both',
    choices: ['both', 's2e', 'e2s'],
    help: 'which models the warm-up trains',
    flags: { 'warmup-directions': { arg: 'D' } },
  },
  // 'rollback' reloads both models from best/, resets both optimizers and multiplies the learning rates by
  // rollbackLrFactor (stopping after maxRollbacks); with 'stop'/'rollback' a collapsed evaluation is never best/.
  onCollapse: {
    default: 'warn',
    choices: ['warn', 'stop', 'rollback'],
    help: 'when S2E collapses at a dev evaluation: warn, stop, or rollback to best/ with halved learning rates',
    flags: { 'on-collapse': { arg: 'A' } },
  },
  collapseShare: {
    default: 0.5,
    int: false,
    range: FRACTION,
    help: 'warn when one S2E output is this share of a window of recent outputs',
  },
  rollbackLrFactor: {
    default: 0.5,
    int: false,
    range: { min: 0, max: 1, minExclusive: true },
    help: 'a rollback multiplies both learning rates by this',
  },
  maxRollbacks: { default: 3, int: true, range: NON_NEGATIVE, help: 'stop after this many rollbacks' },
  s2eDecode: {
    default: { maxNewTokens: 96 },
    check: decodeProblem,
    help: "S2E decoding inside the cycles (the S-cycle's Q′, the dev S-cycle loss)",
  },
  e2sDecode: {
    default: { maxNewTokens: 128, noRepeatNgramSize: 3 },
    check: decodeProblem,
    help: "E2S decoding inside the cycles (the E-cycle's S′, the dev E-cycle loss)",
    flags: {
      'e2s-no-repeat-ngram': {
        field: 'noRepeatNgramSize',
        arg: 'N',
        help: 'E2S cycle decoding never repeats an n-gram of this size (0 = off)',
      },
      'e2s-repetition-penalty': {
        field: 'repetitionPenalty',
        arg: 'P',
        help: 'E2S cycle decoding repetition penalty (1 = off, the default; below 1 favours repeats)',
      },
      'e2s-sample': {
        field: 'doSample',
        help: "E2S writes the E-cycle's sentences S′ by sampling (--e2s-top-k, --e2s-top-p, --e2s-temperature) instead of greedily, as back-translation at its best does (beyond the paper); dev losses stay greedy",
      },
      'e2s-top-k': {
        field: 'topK',
        arg: 'K',
        help: 'with --e2s-sample: sample among the K most likely tokens (0 = all)',
      },
      'e2s-top-p': {
        field: 'topP',
        arg: 'P',
        help: 'with --e2s-sample: nucleus sampling, the smallest set of tokens whose probability reaches P (1 = off)',
      },
      'e2s-temperature': {
        field: 'temperature',
        arg: 'T',
        help: 'with --e2s-sample: softmax temperature (1 = the model as is)',
      },
    },
  },
  // Reuses the S-cycle's generation, so it costs one S2E update per batch.
  selfTrainMinProb: {
    default: 0,
    int: false,
    range: PROBABILITY_BELOW_1,
    help: 'self-training of S2E: after each S-cycle, also train S2E on its own outputs for the sentences whose mean token probability is >= P (0 = off; beyond the paper)',
    flags: { 'self-train': { arg: 'P' } },
  },
  silverMix: {
    default: 0,
    int: false,
    range: NON_NEGATIVE,
    help: 'each E-cycle S2E batch also holds round(batch x W) lexical silver pairs (x K with --e2s-samples K) (the gazetteer from Q matched over S, as --warmup lexical), W decaying to 0 over --silver-decay-steps (0 = off; beyond the paper)',
    flags: { 'silver-mix': { arg: 'W' } },
  },
  silverDecaySteps: {
    default: 0,
    int: true,
    range: NON_NEGATIVE,
    help: '--silver-mix decays linearly to 0 over N cycle steps (0 = constant)',
    flags: { 'silver-decay-steps': { arg: 'N' } },
  },
  // noise.ts: back-translation trains better on noised synthetic sources (Edunov et al. 2018); names are kept whole.
  e2sNoise: {
    default: 0,
    int: false,
    range: PROBABILITY_BELOW_1,
    help: "noised S′ in the E-cycle: each word of E2S's sentence outside Q's names is dropped with probability P and the words shuffled within 3 positions before S2E learns from it (0 = off; beyond the paper)",
    flags: { 'e2s-noise': { arg: 'P' } },
  },
  // Back-translation gains from several synthetic sources per target (Edunov et al. 2018): K sampled S′ per Q.
  e2sSamples: {
    default: 1,
    int: true,
    range: { min: 1, max: 16 },
    help: 'sentences S′ E2S writes for each Q in the E-cycle, S2E learning from all K pairs (K > 1 needs --e2s-sample: K greedy sentences would be one; beyond the paper)',
    flags: { 'e2s-samples': { arg: 'K' } },
  },
  // A silver pair teaches S2E that what the gazetteer did not match is no entity; where every capitalised word is
  // matched that lesson is mostly true (CoNLL /2k: recall of the silver sequences 0.86 against 0.51 for all pairs).
  silverFilter: {
    default: 'all',
    choices: ['all', 'covered'],
    help: "which lexical silver pairs the warm-up and --silver-mix use: all, or only those whose every capitalised word (but the sentence's first) lies in a gazetteer match (beyond the paper)",
    flags: { 'silver-filter': { arg: 'F' } },
  },
  // CoNLL /2k: 'The' (location), 'An' (person) in Q match at every sentence start; pruning lifts the silver
  // sequences' precision from 0.71 to 0.79.
  silverPrune: {
    default: false,
    help: 'before matching the lexical silver pairs, drop one-word names of Q that S writes more often in lower case than capitalised inside a sentence ("The", "An"; beyond the paper)',
    flags: { 'silver-prune': {} },
  },
  // swap.ts: ~1,000 silver pairs name a few hundred entities, which S2E memorises instead of learning where names go.
  silverSwap: {
    default: 0,
    int: false,
    range: FRACTION,
    help: 'each time a lexical silver pair enters a batch (warm-up, --silver-mix), each matched name is replaced with probability P by a random name of the same type from Q, in the sentence and its entity sequence (0 = off; beyond the paper)',
    flags: { 'silver-swap': { arg: 'P' } },
  },
  // S2E's grounded outputs that contain every gazetteer match of a sentence add the entities the gazetteer misses.
  silverRefresh: {
    default: false,
    help: "with --silver-mix: after each evaluation, a silver pair's entity sequence becomes S2E's output for its sentence where that output holds every gazetteer match (refreshing recall); the lexical sequence stays elsewhere (beyond the paper)",
    flags: { 'silver-refresh': {} },
  },
  // Held out of training, so silver F1 on them measures generalisation rather than recall of trained pairs.
  silverHoldout: {
    default: 0,
    int: true,
    range: NON_NEGATIVE,
    help: 'N evenly spaced sentences of S are held out of all training (warm-up, cycles, silver mix); silver F1 on them is logged as heldSilver* and selectable (--select-on held-silver-f1; 0 = off; beyond the paper)',
    flags: { 'silver-holdout': { arg: 'N' } },
  },
  // name-holdout.ts: names S2E cannot have memorised, for a criterion that measures what tweets ask (new names).
  nameHoldout: {
    default: 0,
    int: false,
    range: FRACTION,
    help: "a share F of the names the gazetteer from Q matches in S is held out: Q's sequences and S's sentences that hold one leave all training, and S2E's outputs on (up to 400 of) those sentences are scored against the gazetteer, logged as nameHeld* and selectable (--select-on name-held-f1 / name-held-recall; 0 = off; beyond the paper)",
    flags: { 'name-holdout': { arg: 'F' } },
  },
  // 'copied' (copy.ts): S2E never learns to emit a name absent from its input (beyond the paper).
  eCycleFilter: {
    default: 'none',
    choices: ['none', 'copied'],
    help: "E-cycle pairs S2E learns from: none (all, the paper) or copied (only those whose generated sentence holds each of Q's names verbatim)",
    flags: { 'e-cycle-filter': { arg: 'F' } },
  },
  precision: {
    default: DEFAULT_PRECISION,
    choices: PRECISIONS,
    help: 'bf16 autocast or fp32, for the cycles, the warm-up and the evaluations',
    flags: { fp32: { sets: { precision: 'fp32' }, help: FP32_HELP } },
  },
  s2ePrefix: { default: DEFAULT_S2E_PREFIX, help: "S2E's task prefix" },
  e2sPrefix: { default: DEFAULT_E2S_PREFIX, help: "E2S's task prefix" },
  types: { default: null, check: typesProblem, help: 'type words S2E may emit (null: those found in Q)' },
  verbalizer: {
    default: null,
    check: verbalizerProblem,
    help: 'dataset label -> type word, recorded in the saved S2E for prediction output',
  },
  baseModels: {
    default: null,
    check: baseModelsProblem,
    help: 'where S2E and E2S started from (path; Hub repo, revision, commit): recorded by train, not a knob',
  },
} satisfies { [K in keyof CycleConfig]: KeySpec<CycleConfig[K]> };

/** A spec without its key's type (for code that walks every key). */
export type AnyKeySpec = {
  default: unknown;
  help: string;
  resumable?: true;
  flags?: Readonly<Record<string, KeyFlag>>;
  int?: boolean;
  range?: Range;
  choices?: readonly unknown[];
  check?: (v: unknown, key: string) => string | null;
};

export const CONFIG_KEYS = Object.keys(CYCLE_SPEC) as (keyof CycleConfig)[];

export const specOf = (k: keyof CycleConfig): AnyKeySpec => CYCLE_SPEC[k] as AnyKeySpec;

export const DEFAULT_CONFIG: CycleConfig = Object.fromEntries(
  CONFIG_KEYS.map((k) => [k, specOf(k).default]),
) as unknown as CycleConfig;

/** The keys a resume may change (the step budget). */
export const RESUMABLE_KEYS = CONFIG_KEYS.filter((k) => specOf(k).resumable);

/** The resumable keys that `over` sets: what a resume takes from a config (the rest is the run's). */
export function resumableOf(over: Partial<CycleConfig> | undefined): Partial<CycleConfig> {
  const out: Record<string, unknown> = {};
  for (const k of RESUMABLE_KEYS) if (over?.[k] !== undefined) out[k] = over[k];
  return out as Partial<CycleConfig>;
}

/** What a cycle run records in its saved models' cyclener.json: the S2E's decoding is the one dev F1 was measured with. */
export function cycleModelMeta(cfg: CycleConfig, types: string[]): { s2e: ModelMeta; e2s: ModelMeta } {
  const decode = {
    grounded: cfg.groundedEval,
    maxNewTokens: cfg.evalDecode.maxNewTokens,
    ...(cfg.evalDecode.numBeams !== undefined ? { numBeams: cfg.evalDecode.numBeams } : {}),
  };
  return {
    s2e: {
      task: 's2e',
      prefix: cfg.s2ePrefix,
      types,
      ...(cfg.verbalizer ? { verbalizer: cfg.verbalizer } : {}),
      decode,
    },
    e2s: { task: 'e2s', prefix: cfg.e2sPrefix, types },
  };
}

/** What is wrong with one key's value (type and allowed values), as "KEY must be ..., got ..."; null when fine. */
function keyProblem(k: keyof CycleConfig, v: unknown): string | null {
  const s = specOf(k);
  if (s.check) return s.check(v, k);
  if (s.range) {
    const p = rangeProblem(v, s.range, s.int === true);
    return p && `${k} ${p}`;
  }
  if (s.choices) return s.choices.includes(v) ? null : `${k} must be ${alternatives(s.choices)}, got ${shown(v)}`;
  if (typeof s.default === 'boolean')
    return typeof v === 'boolean' ? null : `${k} must be true or false, got ${shown(v)}`;
  return typeof v === 'string' ? null : `${k} must be a string, got ${shown(v)}`;
}

/**
 * Defaults overridden by a partial config (e.g. a run.json): the one place where every key is checked, for its type
 * and its allowed values, so a config file cannot set a value the flags would refuse (e.g. "selectOn": "dev_f1").
 * Errors name `source` (the file), the key, the value and what is allowed.
 */
export function makeConfig(over: Partial<CycleConfig> = {}, source = 'config'): CycleConfig {
  if (!isObject(over)) throw new Error(`${source}: must be a JSON object {"key": value, ...}, got ${shown(over)}`);
  // Own keys only (not `in`): "constructor" and "toString" are in every object.
  for (const k of Object.keys(over))
    if (!Object.hasOwn(CYCLE_SPEC, k))
      throw new Error(`${source}: unknown key "${k}" (known: ${CONFIG_KEYS.join(', ')})`);
  const c = { ...structuredClone(DEFAULT_CONFIG), ...over };
  for (const k of CONFIG_KEYS) {
    const p = keyProblem(k, c[k]);
    if (p) throw new Error(`${source}: ${p}`);
  }
  if (c.e2sSamples > 1 && !c.e2sDecode.doSample)
    throw new Error(
      `${source}: e2sSamples ${c.e2sSamples} needs sampled E2S decoding (e2sDecode.doSample, --e2s-sample): greedy decoding writes one sentence per Q`,
    );
  // The held-out criteria read sentences only a holdout sets aside: without it there is nothing to select on.
  const holdout = {
    'held-silver-f1': ['silverHoldout', '--silver-holdout N'],
    'name-held-f1': ['nameHoldout', '--name-holdout F'],
    'name-held-recall': ['nameHoldout', '--name-holdout F'],
  } as const;
  const need = holdout[c.selectOn as keyof typeof holdout];
  if (need && !(c[need[0]] > 0))
    throw new Error(
      `${source}: selectOn ${c.selectOn} needs ${need[0]} > 0 (${need[1]}): it scores the sentences that holds out`,
    );
  return c;
}
