// Cycle-training configuration: every knob with its default, recorded in RUN/config.json.

import { DEFAULT_E2S_PREFIX, DEFAULT_S2E_PREFIX, type ModelMeta } from './model-io';
import type { DecodeConfig } from './seq2seq';
import { DEFAULT_PRECISION, PRECISIONS, type Precision } from '../t5/precision';
import {
  AT_LEAST_1,
  FRACTION,
  NON_NEGATIVE,
  POSITIVE,
  PROBABILITY_BELOW_1,
  SEED,
  rangeProblem,
  type Range,
} from '../data/range';
import type { ModelSource } from '../hub';

export interface CycleConfig {
  s2ePrefix: string;
  e2sPrefix: string;
  batchSize: number;
  epochs: number;
  /** Stop after this many steps in total (0 = only the epoch count). */
  maxSteps: number;
  lrS2E: number;
  lrE2S: number;
  weightDecay: number;
  /** Clip each model's gradient norm (0 = off). */
  maxGradNorm: number;
  seed: number;
  /** Grounded S2E decoding inside the cycles (S-cycle step 1 and the dev S-cycle loss). */
  grounded: boolean;
  /** Let grounded S2E emit the empty sequence inside the cycles (off: see grounding.ts). */
  cycleAllowEmpty: boolean;
  /** Grounded S2E decoding for the dev/test F1; recorded in the saved S2E as its default at prediction. */
  groundedEval: boolean;
  /** Cycle decoding (separate from inference decoding). */
  s2eDecode: DecodeConfig;
  e2sDecode: DecodeConfig;
  /**
   * Inference decoding: dev/test F1 during training, and recorded in the saved S2E (`cyclener.json` decode) so that
   * `predict` and `evaluate --model` decode as the model was selected (one setting for dev F1 and the reported F1).
   */
  evalDecode: DecodeConfig;
  maxSourceTokens: number;
  maxTargetTokens: number;
  /** Evaluate every N steps (0 = at the end of each epoch). */
  evalEvery: number;
  /** Stop after this many evaluations without a better selection score (0 = never). */
  patience: number;
  /** Save the resumable checkpoint every N steps (0 = at each evaluation only). */
  checkpointEvery: number;
  logEvery: number;
  /** Triplets (s, q′, s″) and (q, s′, q″) written to the log at each evaluation. */
  samples: number;
  /** Warn when one S2E output is this share of a window of recent outputs. */
  collapseShare: number;
  /**
   * What a collapse seen at a dev evaluation does: 'warn' (log only); 'stop'; 'rollback' (reload both models
   * from best/, reset both optimizers, multiply the learning rates by rollbackLrFactor; stop after maxRollbacks).
   * With 'stop'/'rollback' a collapsed evaluation is never selected as best/.
   */
  onCollapse: 'warn' | 'stop' | 'rollback';
  rollbackLrFactor: number;
  maxRollbacks: number;
  /** Selection criterion for best/ (SELECT_ON). */
  selectOn: SelectOn;
  evalBatchSize: number;
  /**
   * Unsupervised warm-up before the cycles (warmup.ts): 'fragments' (S alone: capitalised runs) or 'lexical'
   * (silver pairs: a gazetteer from Q matched over S); followed by an evaluation at step 0.
   */
  warmup: 'none' | 'fragments' | 'lexical';
  warmupSteps: number;
  warmupLr: number;
  warmupDirections: 'both' | 's2e' | 'e2s';
  /** Type words S2E may emit; default: those found in Q. */
  types: string[] | null;
  /** Dataset label -> type word, recorded in the saved S2E for prediction output. */
  verbalizer: Record<string, string> | null;
  /** bf16 autocast (default) or fp32, for the cycles' training and generation, the warm-up and evaluation. */
  precision: Precision;
  /**
   * E-cycle pairs S2E is trained on: 'none' keeps every ⟨S′ → Q⟩ (the paper); 'copied' only those whose S′ holds each
   * of Q's names verbatim (copy.ts), so that S2E never learns to emit a name absent from its input (beyond the paper).
   */
  eCycleFilter: 'none' | 'copied';
  /**
   * Self-training of S2E (beyond the paper): after each S-cycle, S2E also takes a step on its own grounded outputs Q′
   * for the sentences S whose mean token probability is at least `selfTrainMinProb` (0 = off). Reuses the S-cycle's
   * generation, so it costs one S2E update per batch.
   */
  selfTrainMinProb: number;
  /**
   * Real sentences throughout (beyond the paper): each E-cycle S2E batch also holds round(batchSize x w) lexical silver
   * pairs (the warm-up's: the gazetteer from Q matched over S), w = silverMix decaying linearly to 0 over
   * silverDecaySteps cycle steps (0 = no decay). 0 = off.
   */
  silverMix: number;
  silverDecaySteps: number;
  /** Where S2E and E2S started from (path; Hub repo, revision, commit): recorded by `train`, not a knob. */
  baseModels: { s2e: ModelSource; e2s: ModelSource } | null;
}

/**
 * Selection criteria: the paper's dev E-cycle loss; the dev S-cycle loss; silver F1, S2E's agreement on dev S (or on a
 * fixed sample of S) with the gazetteer from Q (silver.ts; label-free, beyond the paper); labelled dev F1 (--dev-gold).
 */
export const SELECT_ON = ['dev-e-loss', 'dev-s-loss', 'dev-silver-f1', 's-silver-f1', 'dev-f1'] as const;
export type SelectOn = (typeof SELECT_ON)[number];

export const DEFAULT_CONFIG: CycleConfig = {
  s2ePrefix: DEFAULT_S2E_PREFIX,
  e2sPrefix: DEFAULT_E2S_PREFIX,
  batchSize: 32,
  epochs: 10,
  maxSteps: 0,
  lrS2E: 3e-4,
  lrE2S: 3e-4,
  weightDecay: 0,
  maxGradNorm: 1,
  seed: 42,
  grounded: true,
  cycleAllowEmpty: false,
  groundedEval: true,
  s2eDecode: { maxNewTokens: 96 },
  e2sDecode: { maxNewTokens: 128, noRepeatNgramSize: 3 },
  evalDecode: { maxNewTokens: 128 },
  maxSourceTokens: 192,
  maxTargetTokens: 192,
  evalEvery: 0,
  patience: 0,
  checkpointEvery: 0,
  logEvery: 10,
  samples: 3,
  collapseShare: 0.5,
  onCollapse: 'warn',
  rollbackLrFactor: 0.5,
  maxRollbacks: 3,
  selectOn: 'dev-e-loss',
  evalBatchSize: 64,
  warmup: 'none',
  warmupSteps: 0,
  warmupLr: 5e-4,
  warmupDirections: 'both',
  types: null,
  verbalizer: null,
  precision: DEFAULT_PRECISION,
  eCycleFilter: 'none',
  selfTrainMinProb: 0,
  silverMix: 0,
  silverDecaySteps: 0,
  baseModels: null,
};

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

type NumericKey = { [K in keyof CycleConfig]: CycleConfig[K] extends number ? K : never }[keyof CycleConfig];

/** Allowed values of every numeric key (the same rules as the `cyclener train` flags); int = whole numbers only. */
export const CONFIG_RANGES: Record<NumericKey, { range: Range; int: boolean }> = {
  batchSize: { range: AT_LEAST_1, int: true },
  epochs: { range: AT_LEAST_1, int: true },
  maxSteps: { range: NON_NEGATIVE, int: true },
  lrS2E: { range: POSITIVE, int: false },
  lrE2S: { range: POSITIVE, int: false },
  weightDecay: { range: NON_NEGATIVE, int: false },
  maxGradNorm: { range: NON_NEGATIVE, int: false },
  seed: { range: SEED, int: true },
  maxSourceTokens: { range: AT_LEAST_1, int: true },
  maxTargetTokens: { range: AT_LEAST_1, int: true },
  evalEvery: { range: NON_NEGATIVE, int: true },
  patience: { range: NON_NEGATIVE, int: true },
  checkpointEvery: { range: NON_NEGATIVE, int: true },
  logEvery: { range: AT_LEAST_1, int: true },
  samples: { range: NON_NEGATIVE, int: true },
  collapseShare: { range: FRACTION, int: false },
  rollbackLrFactor: { range: { min: 0, max: 1, minExclusive: true }, int: false },
  maxRollbacks: { range: NON_NEGATIVE, int: true },
  evalBatchSize: { range: AT_LEAST_1, int: true },
  warmupSteps: { range: NON_NEGATIVE, int: true },
  warmupLr: { range: POSITIVE, int: false },
  selfTrainMinProb: { range: PROBABILITY_BELOW_1, int: false },
  silverMix: { range: NON_NEGATIVE, int: false },
  silverDecaySteps: { range: NON_NEGATIVE, int: true },
};

/** Optional numeric fields of a DecodeConfig (maxNewTokens is required: checked separately). */
const DECODE_RANGES: Record<
  Exclude<keyof DecodeConfig, 'maxNewTokens' | 'doSample'>,
  { range: Range; int: boolean }
> = {
  numBeams: { range: AT_LEAST_1, int: true },
  temperature: { range: POSITIVE, int: false },
  topP: { range: { min: 0, max: 1, minExclusive: true }, int: false },
  topK: { range: NON_NEGATIVE, int: true },
  noRepeatNgramSize: { range: NON_NEGATIVE, int: true },
  repetitionPenalty: { range: POSITIVE, int: false },
};
const DECODE_KEYS: readonly (keyof DecodeConfig)[] = [
  'maxNewTokens',
  'numBeams',
  'doSample',
  'temperature',
  'topP',
  'topK',
  'noRepeatNgramSize',
  'repetitionPenalty',
];

type EnumKey = 'onCollapse' | 'selectOn' | 'warmup' | 'warmupDirections' | 'eCycleFilter' | 'precision';
/** Allowed values of every string-valued key that is a choice. */
export const CONFIG_CHOICES: { readonly [K in EnumKey]: readonly CycleConfig[K][] } = {
  onCollapse: ['warn', 'stop', 'rollback'],
  selectOn: SELECT_ON,
  warmup: ['none', 'fragments', 'lexical'],
  warmupDirections: ['both', 's2e', 'e2s'],
  eCycleFilter: ['none', 'copied'],
  precision: PRECISIONS,
};
const BOOLEAN_KEYS = ['grounded', 'cycleAllowEmpty', 'groundedEval'] as const;
const STRING_KEYS = ['s2ePrefix', 'e2sPrefix'] as const;

const shown = (v: unknown) => JSON.stringify(v) ?? String(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** "a, b or c" */
const alternatives = (xs: readonly string[]) =>
  xs.length === 1 ? xs[0]! : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]!}`;

/** What is wrong with one key's value (type and allowed values), as "KEY must be ..., got ..."; null when fine. */
function keyProblem(c: CycleConfig, k: keyof CycleConfig): string | null {
  const v: unknown = c[k];
  if (k in CONFIG_RANGES) {
    const r = CONFIG_RANGES[k as NumericKey];
    const p = rangeProblem(v, r.range, r.int);
    return p && `${k} ${p}`;
  }
  if (k in CONFIG_CHOICES) {
    const allowed = CONFIG_CHOICES[k as EnumKey] as readonly unknown[];
    return allowed.includes(v) ? null : `${k} must be ${alternatives(allowed as string[])}, got ${shown(v)}`;
  }
  if ((BOOLEAN_KEYS as readonly string[]).includes(k))
    return typeof v === 'boolean' ? null : `${k} must be true or false, got ${shown(v)}`;
  if ((STRING_KEYS as readonly string[]).includes(k))
    return typeof v === 'string' ? null : `${k} must be a string, got ${shown(v)}`;
  switch (k) {
    case 's2eDecode':
    case 'e2sDecode':
    case 'evalDecode': {
      if (!isObject(v)) return `${k} must be an object with maxNewTokens, got ${shown(v)}`;
      const unknown = Object.keys(v).find((f) => !(DECODE_KEYS as readonly string[]).includes(f));
      if (unknown !== undefined) return `${k}: unknown key "${unknown}" (known: ${DECODE_KEYS.join(', ')})`;
      const p = rangeProblem(v.maxNewTokens, AT_LEAST_1, true);
      if (p) return `${k}.maxNewTokens ${p}`;
      if (v.doSample !== undefined && typeof v.doSample !== 'boolean')
        return `${k}.doSample must be true or false, got ${shown(v.doSample)}`;
      for (const [f, r] of Object.entries(DECODE_RANGES)) {
        const problem = v[f] === undefined ? null : rangeProblem(v[f], r.range, r.int);
        if (problem) return `${k}.${f} ${problem}`;
      }
      return null;
    }
    case 'types': {
      if (v === null) return null;
      if (!Array.isArray(v)) return `types must be null or an array of type words, got ${shown(v)}`;
      const i = v.findIndex((t) => typeof t !== 'string' || t.trim() === '' || t.includes('<sep>'));
      return i < 0 ? null : `types[${i}] must be a non-empty type word without <sep>, got ${shown(v[i])}`;
    }
    case 'verbalizer': {
      if (v === null) return null;
      if (!isObject(v)) return `verbalizer must be null or an object {"LABEL": "type word", ...}, got ${shown(v)}`;
      const bad = Object.entries(v).find(([, w]) => typeof w !== 'string');
      return bad ? `verbalizer.${bad[0]} must be a string, got ${shown(bad[1])}` : null;
    }
    case 'baseModels': {
      const source = (m: unknown) =>
        isObject(m) &&
        typeof m.path === 'string' &&
        ['repoId', 'revision', 'commit'].every((f) => m[f] === undefined || typeof m[f] === 'string');
      return v === null || (isObject(v) && source(v.s2e) && source(v.e2s))
        ? null
        : `baseModels must be null or {"s2e": {"path": ...}, "e2s": {"path": ...}}, got ${shown(v)}`;
    }
  }
  return `${k}: no rule to check it (internal)`;
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
    if (!Object.hasOwn(DEFAULT_CONFIG, k))
      throw new Error(`${source}: unknown key "${k}" (known: ${Object.keys(DEFAULT_CONFIG).join(', ')})`);
  const c = { ...DEFAULT_CONFIG, ...over };
  for (const k of Object.keys(DEFAULT_CONFIG) as (keyof CycleConfig)[]) {
    const p = keyProblem(c, k);
    if (p) throw new Error(`${source}: ${p}`);
  }
  return c;
}
