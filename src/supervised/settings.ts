// The supervised runs' settings in one place: `train-supervised`, the gate (`cyclener gate`, gate.ts) and the
// library's trainSupervised (src/api/train.ts) take their defaults, ranges and --help lines from here, and build
// their SupervisedConfig with supervisedConfig(), so the fixed part is the same for all of them.

import { DEFAULT_S2E_PREFIX, FALLBACK_DECODE } from '../cycle/model-io';
import { AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE, SEED } from '../util/range';
import type { Setting } from '../data/setting';
import type { SupervisedConfig } from './supervised';

/** No flag: the cycles' S2E step (AdamW without weight decay, gradient norm clipped at 1) at their token limits. */
export const SUPERVISED_FIXED = {
  weightDecay: 0,
  maxGradNorm: 1,
  maxSourceTokens: 192,
  maxTargetTokens: 192,
  logEvery: 20,
} as const;

/** Epochs over the pairs when no step count is given. */
export const SUPERVISED_EPOCHS = 3;

/** The flags of both commands (the gate words some of them its own way). */
export const SUPERVISED_SETTINGS = {
  lr: { type: 'number', arg: 'LR', help: 'learning rate', default: 5e-4, range: POSITIVE },
  batch: { type: 'int', arg: 'N', help: 'batch size', default: 32, range: AT_LEAST_1 },
  seed: { type: 'int', arg: 'N', help: 'seed', default: 42, range: SEED },
  prefix: { type: 'string', arg: 'TEXT', help: 'task prefix', default: DEFAULT_S2E_PREFIX },
  'max-new-tokens': {
    type: 'int',
    arg: 'N',
    help: "longest entity sequence in tokens, recorded as the model's default for predict/evaluate",
    default: FALLBACK_DECODE.maxNewTokens,
    range: AT_LEAST_1,
  },
} as const satisfies Record<string, Setting>;

/** The gate's budget, the same for every candidate base. */
export const GATE_SETTINGS = {
  num: { type: 'int', arg: 'N', help: 'gold training sentences', default: 1000, range: AT_LEAST_1 },
  steps: { type: 'int', arg: 'N', help: 'supervised optimizer steps', default: 300, range: AT_LEAST_1 },
  'dev-num': {
    type: 'int',
    arg: 'N',
    help: 'score the first N dev sentences (0 = all)',
    default: 500,
    range: NON_NEGATIVE,
    aliases: ['dev-sentences'],
  },
  target: {
    type: 'number',
    arg: 'F1',
    help: 'bag-of-mentions F1 a base must reach (and beat the Lexical Matcher)',
    default: 0.75,
    range: FRACTION,
  },
  'predict-batch': {
    type: 'int',
    arg: 'N',
    help: 'sentences per generation batch',
    default: 32,
    range: AT_LEAST_1,
  },
} as const satisfies Record<string, Setting>;

/** A supervised run's config: what the caller chooses, the rest SUPERVISED_FIXED. */
export function supervisedConfig(
  c: Pick<SupervisedConfig, 'prefix' | 'batchSize' | 'steps' | 'lr' | 'seed'> &
    Partial<Pick<SupervisedConfig, 'precision' | 'dev'>>,
): SupervisedConfig {
  return { ...SUPERVISED_FIXED, ...c };
}
