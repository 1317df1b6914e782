// Shared by the CLI tests: run the dispatcher with captured output, and a tiny random-init base model
// over a small synthetic world's vocabulary.
import * as path from 'node:path';
import '../src/cli/commands';
import { runCli } from '../src/cli/registry';
import { saveModelDir } from '../src/cycle/model-io';
import { buildSyntheticWorld, syntheticTokenizer, type SyntheticWorld } from '../src/demo/synthetic';
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

/** A small synthetic world and a `tiny` T5 (seed 1) with its tokenizer saved as `root/base`. */
export function tinySyntheticBase(root: string): { world: SyntheticWorld; base: string } {
  const world = buildSyntheticWorld({ seed: 5, nS: 10, nQ: 6, nEval: 5, namesPerType: 4, ambiguous: 0 });
  const tok = syntheticTokenizer(world);
  const base = path.join(root, 'base');
  const m = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize }), { seed: 1 });
  saveModelDir(base, m, tok, { task: 's2e', prefix: 'entities: ', types: [] });
  m.dispose();
  return { world, base };
}
