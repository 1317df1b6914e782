// `cyclener train`'s knobs: one row per flag that sets a CycleConfig key. The table gives the flag specs (with
// DEFAULT_CONFIG's value shown in --help), applying given flags to a config, and the resume comparison.

import { CONFIG_RANGES, DEFAULT_CONFIG, SELECT_ON, type CycleConfig } from '../cycle/config';
import type { FlagSpec, FlagValue, FlagType } from './args';
import { AT_LEAST_1, type Range } from '../data/range';
import { PRECISION_FLAG } from './common';

/** A config key, or a field of a decode setting ("e2sDecode.noRepeatNgramSize"). */
type KnobKey =
  | keyof CycleConfig
  | `${'e2sDecode' | 'evalDecode'}.${'maxNewTokens' | 'noRepeatNgramSize' | 'repetitionPenalty'}`
  | `e2sDecode.${'doSample' | 'topK' | 'topP' | 'temperature'}`;

export interface Knob {
  type: FlagType;
  arg?: string;
  help: string;
  /** The key a valued flag sets; its default (shown in --help) is DEFAULT_CONFIG's. */
  key?: KnobKey;
  /** A boolean flag: the config values it sets. */
  sets?: Partial<CycleConfig>;
  /** The flag's range when stricter than the key's (CONFIG_RANGES: e.g. 0 = "off" is the default, not a value to give). */
  range?: Range;
  choices?: readonly string[];
  /** The step budget: may change on --resume (applied to the run's saved config, never a difference). */
  budget?: true;
}

export const TRAIN_KNOBS = {
  epochs: { type: 'int', arg: 'N', key: 'epochs', budget: true, help: 'epochs over the larger of S and Q' },
  'max-steps': {
    type: 'int',
    arg: 'N',
    key: 'maxSteps',
    range: AT_LEAST_1,
    budget: true,
    help: 'stop after N steps in total (default: only --epochs)',
  },
  batch: { type: 'int', arg: 'N', key: 'batchSize', help: 'batch size' },
  'lr-s2e': { type: 'number', arg: 'LR', key: 'lrS2E', help: 'S2E learning rate' },
  'lr-e2s': { type: 'number', arg: 'LR', key: 'lrE2S', help: 'E2S learning rate' },
  seed: { type: 'int', arg: 'N', key: 'seed', help: 'seed (data order, sampling)' },
  'no-ground': {
    type: 'boolean',
    sets: { grounded: false, groundedEval: false },
    help: "plain S2E decoding inside the cycles, for dev F1 and as the saved S2E's default (the paper's setting)",
  },
  'max-new-tokens': {
    type: 'int',
    arg: 'N',
    key: 'evalDecode.maxNewTokens',
    help: "longest entity sequence in tokens for dev/test F1, recorded as the saved S2E's default for predict/evaluate",
  },
  'eval-every': {
    type: 'int',
    arg: 'N',
    key: 'evalEvery',
    help: 'evaluate every N steps (0: at the end of each epoch)',
  },
  patience: {
    type: 'int',
    arg: 'N',
    key: 'patience',
    help: 'early stop after N evaluations without improvement (0: never)',
  },
  'select-on': {
    type: 'string',
    arg: 'C',
    key: 'selectOn',
    help: "selection criterion for best/: the paper's dev E-cycle loss, the dev S-cycle loss, silver F1 (S2E on dev S, or on 200 sentences of S, against the gazetteer from Q matched over them; label-free) or labelled dev F1 (--dev-gold)",
    choices: SELECT_ON,
  },
  'cycle-allow-empty': {
    type: 'boolean',
    sets: { cycleAllowEmpty: true },
    help: 'grounded S2E may emit the empty sequence inside the cycles (off by default: an easy collapse for a weak S2E)',
  },
  warmup: {
    type: 'string',
    arg: 'W',
    key: 'warmup',
    help: 'unsupervised warm-up before the cycles: fragments (S alone) or lexical (silver pairs: gazetteer from Q matched over S)',
    choices: ['none', 'fragments', 'lexical'],
  },
  'warmup-steps': {
    type: 'int',
    arg: 'N',
    key: 'warmupSteps',
    range: AT_LEAST_1,
    help: 'warm-up steps (batch as --batch)',
  },
  'warmup-lr': { type: 'number', arg: 'LR', key: 'warmupLr', help: 'warm-up learning rate' },
  'warmup-directions': {
    type: 'string',
    arg: 'D',
    key: 'warmupDirections',
    help: 'which models the warm-up trains',
    choices: ['both', 's2e', 'e2s'],
  },
  'on-collapse': {
    type: 'string',
    arg: 'A',
    key: 'onCollapse',
    help: 'when S2E collapses at a dev evaluation: warn, stop, or rollback to best/ with halved learning rates',
    choices: ['warn', 'stop', 'rollback'],
  },
  'e2s-no-repeat-ngram': {
    type: 'int',
    arg: 'N',
    key: 'e2sDecode.noRepeatNgramSize',
    help: 'E2S cycle decoding never repeats an n-gram of this size (0 = off)',
  },
  'e2s-repetition-penalty': {
    type: 'number',
    arg: 'P',
    key: 'e2sDecode.repetitionPenalty',
    help: 'E2S cycle decoding repetition penalty (1 = off, the default; below 1 favours repeats)',
  },
  'e2s-sample': {
    type: 'boolean',
    key: 'e2sDecode.doSample',
    help: "E2S writes the E-cycle's sentences S′ by sampling (--e2s-top-k, --e2s-top-p, --e2s-temperature) instead of greedily, as back-translation at its best does (beyond the paper); dev losses stay greedy",
  },
  'e2s-top-k': {
    type: 'int',
    arg: 'K',
    key: 'e2sDecode.topK',
    help: 'with --e2s-sample: sample among the K most likely tokens (0 = all)',
  },
  'e2s-top-p': {
    type: 'number',
    arg: 'P',
    key: 'e2sDecode.topP',
    range: { min: 0, max: 1, minExclusive: true },
    help: 'with --e2s-sample: nucleus sampling, the smallest set of tokens whose probability reaches P (1 = off)',
  },
  'e2s-temperature': {
    type: 'number',
    arg: 'T',
    key: 'e2sDecode.temperature',
    range: { min: 0, minExclusive: true },
    help: 'with --e2s-sample: softmax temperature (1 = the model as is)',
  },
  'self-train': {
    type: 'number',
    arg: 'P',
    key: 'selfTrainMinProb',
    help: 'self-training of S2E: after each S-cycle, also train S2E on its own outputs for the sentences whose mean token probability is >= P (0 = off; beyond the paper)',
  },
  'silver-mix': {
    type: 'number',
    arg: 'W',
    key: 'silverMix',
    help: 'each E-cycle S2E batch also holds round(batch x W) lexical silver pairs (the gazetteer from Q matched over S, as --warmup lexical), W decaying to 0 over --silver-decay-steps (0 = off; beyond the paper)',
  },
  'silver-decay-steps': {
    type: 'int',
    arg: 'N',
    key: 'silverDecaySteps',
    help: '--silver-mix decays linearly to 0 over N cycle steps (0 = constant)',
  },
  'e-cycle-filter': {
    type: 'string',
    arg: 'F',
    key: 'eCycleFilter',
    help: "E-cycle pairs S2E learns from: none (all, the paper) or copied (only those whose generated sentence holds each of Q's names verbatim)",
    choices: ['none', 'copied'],
  },
  fp32: { type: 'boolean', sets: { precision: 'fp32' }, help: PRECISION_FLAG.fp32.help },
} as const satisfies Record<string, Knob>;

export type TrainKnobs = typeof TRAIN_KNOBS;

/** The flags that a resume may change (the step budget). */
export const BUDGET_FLAGS = Object.entries(TRAIN_KNOBS as Record<string, Knob>)
  .filter(([, k]) => k.budget)
  .map(([flag]) => flag);

function get(c: CycleConfig, key: KnobKey): unknown {
  const [a, b] = key.split('.') as [keyof CycleConfig, string | undefined];
  const v = c[a];
  return b === undefined ? v : (v as unknown as Record<string, unknown>)[b];
}

function set(c: CycleConfig, key: KnobKey, v: FlagValue): void {
  const [a, b] = key.split('.') as [keyof CycleConfig, string | undefined];
  const target = c as unknown as Record<string, unknown>;
  target[a] = b === undefined ? v : { ...(target[a] as object), [b]: v };
}

/** Range of a valued knob: its own, else its config key's (decode fields: >= 1 for lengths, as makeConfig checks). */
function rangeOf(k: Knob): Range | undefined {
  if (k.range || k.type === 'string' || k.type === 'boolean' || !k.key) return k.range;
  const top = CONFIG_RANGES[k.key as keyof typeof CONFIG_RANGES];
  if (top) return top.range;
  return k.key.endsWith('maxNewTokens')
    ? AT_LEAST_1
    : k.key.endsWith('repetitionPenalty')
      ? { min: 0, minExclusive: true }
      : { min: 0 };
}

/** The flag specs of a knob table; --help shows each key's DEFAULT_CONFIG value (not filled in: see applyKnobs). */
export function knobFlags<K extends Record<string, Knob>>(
  knobs: K,
): { [F in keyof K]: FlagSpec & { type: K[F]['type'] } } {
  const out: Record<string, FlagSpec> = {};
  for (const [flag, k] of Object.entries(knobs)) {
    const d = k.key && !k.range ? get(DEFAULT_CONFIG, k.key) : undefined;
    const range = rangeOf(k);
    out[flag] = {
      type: k.type,
      help: k.help,
      ...(k.arg ? { arg: k.arg } : {}),
      ...(range ? { range } : {}),
      ...(k.choices ? { choices: k.choices } : {}),
      ...(typeof d === 'string' || typeof d === 'number' ? { shownDefault: d } : {}),
    };
  }
  return out as { [F in keyof K]: FlagSpec & { type: K[F]['type'] } };
}

function apply(c: CycleConfig, k: Knob, v: FlagValue): void {
  if (k.sets) Object.assign(c, structuredClone(k.sets));
  else if (k.key) set(c, k.key, v);
}

const given = (v: FlagValue) => v !== undefined && v !== false;

/** Set the config keys of the given flags (`budget` ones included or not). */
export function applyKnobs(
  c: CycleConfig,
  f: Readonly<Record<string, FlagValue>>,
  which: 'all' | 'budget' = 'all',
): void {
  for (const [flag, k] of Object.entries(TRAIN_KNOBS as Record<string, Knob>)) {
    if (given(f[flag]) && (which === 'all' || k.budget)) apply(c, k, f[flag]);
  }
}

/** "--batch: run has 16, command line says 8" for each given flag (or --config key) that would change the run's config. */
export function configDifferences(
  saved: CycleConfig,
  f: Readonly<Record<string, FlagValue>>,
  configFile?: { file: string; values: Partial<CycleConfig> },
): string[] {
  const show = (c: CycleConfig, keys: string[]) => {
    const v = (k: string) => {
      const x = (c as unknown as Record<string, unknown>)[k];
      return typeof x === 'string' ? x : JSON.stringify(x);
    };
    return keys.length === 1 ? v(keys[0]!) : keys.map((k) => `${k}=${v(k)}`).join(', ');
  };
  const changed = (probe: CycleConfig) =>
    Object.keys(saved).filter(
      (k) =>
        JSON.stringify((probe as unknown as Record<string, unknown>)[k]) !==
        JSON.stringify((saved as unknown as Record<string, unknown>)[k]),
    );
  const diffs: string[] = [];
  for (const [flag, k] of Object.entries(TRAIN_KNOBS as Record<string, Knob>)) {
    if (k.budget || !given(f[flag])) continue;
    const probe = structuredClone(saved);
    apply(probe, k, f[flag]);
    const keys = changed(probe);
    if (keys.length > 0) diffs.push(`--${flag}: run has ${show(saved, keys)}, command line says ${show(probe, keys)}`);
  }
  if (configFile) {
    const probe = { ...saved, ...configFile.values, epochs: saved.epochs, maxSteps: saved.maxSteps };
    const keys = changed(probe);
    if (keys.length > 0)
      diffs.push(`--config ${configFile.file}: run has ${show(saved, keys)}, the file says ${show(probe, keys)}`);
  }
  return diffs;
}
