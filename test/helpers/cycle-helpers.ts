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
