// Shared by the cycle tests: a synthetic world (src/demo/synthetic.ts), its tokenizer, and tiny T5 models over it.
import { buildSyntheticWorld, syntheticTokenizer, type SyntheticOptions } from '../../src/demo/synthetic';
import { presetConfig } from '../../src/t5/config';
import { T5ForConditionalGeneration } from '../../src/t5/model';

/** The world of `opts`, its tokenizer, and `mk(seed)`: a tiny T5 over its vocabulary with that dropout rate. */
export function tinyWorld(opts: SyntheticOptions, dropoutRate = 0) {
  const world = buildSyntheticWorld(opts);
  const tok = syntheticTokenizer(world);
  const mk = (seed: number) =>
    new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize, dropoutRate }), { seed });
  return { world, tok, mk };
}

/** A small world where Q covers half the names (the selection tests' runs: a few names held out or cut from dev). */
export const HALF_COVERED_WORLD: SyntheticOptions = {
  seed: 5,
  nS: 24,
  nQ: 16,
  nEval: 4,
  namesPerType: 4,
  qCoverage: 0.5,
  ambiguous: 0,
};

/** A few steps of batches of 4, an evaluation every 2, short decoding, no prefixes or samples, fp32. */
export const TINY_RUN = {
  batchSize: 4,
  maxSteps: 4,
  evalEvery: 2,
  s2eDecode: { maxNewTokens: 12 },
  e2sDecode: { maxNewTokens: 14 },
  evalDecode: { maxNewTokens: 12 },
  s2ePrefix: '',
  e2sPrefix: '',
  samples: 0,
  precision: 'fp32',
} as const;
