// Decoding flags shared by `predict` and `evaluate --model`, and their end-of-run issue count. Grounding and the
// length limit default to the model's recorded setting (cyclener.json `decode`, see src/cycle/model-io.ts).

import { FALLBACK_DECODE } from '../cycle/model-io';
import type { FlagSpec, FlagValue } from './args';
import { AT_LEAST_1, FRACTION } from './args';
import { PRECISION_FLAG, precisionOf } from './common';

export const PREDICT_FLAGS = {
  'no-ground': {
    type: 'boolean',
    help: "plain decoding: S2E may emit any text (default: the model's setting, grounded unless it was trained with --no-ground; --no-ground=false forces grounded)",
  },
  'max-new-tokens': {
    type: 'int',
    arg: 'N',
    help: `longest entity sequence in tokens (default: the model's setting, else ${FALLBACK_DECODE.maxNewTokens})`,
    range: AT_LEAST_1,
  },
  beams: { type: 'int', arg: 'N', help: 'beam width (1 = greedy)', shownDefault: 1, range: AT_LEAST_1 },
  'predict-batch': { type: 'int', arg: 'N', help: 'sentences per generation batch', default: 32, range: AT_LEAST_1 },
  threshold: {
    type: 'number',
    arg: 'T',
    help: "drop entities scored below T (default: the model's recorded threshold, else 0: keep all)",
    range: FRACTION,
  },
  ...PRECISION_FLAG,
} satisfies Record<string, FlagSpec>;

/** predictWithModelDir's options from the flags: decoding left undefined where the model's setting applies. */
export function predictOptions(
  f: { 'no-ground'?: boolean; 'max-new-tokens'?: number; beams?: number; 'predict-batch': number } & Record<
    string,
    FlagValue
  >,
) {
  return {
    ...(f['no-ground'] !== undefined ? { grounded: !f['no-ground'] } : {}),
    ...(f['max-new-tokens'] !== undefined ? { maxNewTokens: f['max-new-tokens'] } : {}),
    ...(f.beams !== undefined ? { numBeams: f.beams } : {}),
    batch: f['predict-batch'],
    precision: precisionOf(f),
  };
}
