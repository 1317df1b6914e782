// Shared by the CLI tests: run the dispatcher with captured output, and a tiny random-init base model
// over a small synthetic world's vocabulary.
import * as path from 'node:path';
import '../src/cli/commands';
import { runCli } from '../src/cli/registry';
import { saveModelDir } from '../src/cycle/model-io';
import { buildSyntheticWorld, SYN_TYPES, syntheticTokenizer, type SyntheticWorld } from '../src/demo/synthetic';
import { presetConfig } from '../src/t5/config';
import { T5ForConditionalGeneration } from '../src/t5/model';

export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    out: (t) => {
      out += `${t}\n`;
    },
    err: (t) => {
      err += `${t}\n`;
    },
  });
  return { code, out, err };
}

/** A small synthetic world and a `tiny` T5 (seed 1) with its tokenizer saved as `root/base`; `tagger` records type
 *  words and a label map, as a trained S2E model has them. */
export function tinySyntheticBase(root: string, tagger = false): { world: SyntheticWorld; base: string } {
  const world = buildSyntheticWorld({ seed: 5, nS: 10, nQ: 6, nEval: 5, namesPerType: 4, ambiguous: 0 });
  const tok = syntheticTokenizer(world);
  const base = path.join(root, 'base');
  const m = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize }), { seed: 1 });
  const meta = tagger ? { types: ['location', 'organization', 'person'], verbalizer: SYN_TYPES } : { types: [] };
  saveModelDir(base, m, tok, { task: 's2e', prefix: 'entities: ', ...meta });
  m.dispose();
  return { world, base };
}

/** tinySyntheticBase with type words and a label map recorded. */
export const tinyTaggerBase = (root: string) => tinySyntheticBase(root, true);
