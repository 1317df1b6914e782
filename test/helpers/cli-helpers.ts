// Shared by the CLI tests: run the dispatcher with captured output, and a tiny random-init base model
// over a small synthetic world's vocabulary.
import * as fs from 'node:fs';
import * as path from 'node:path';
import '../../src/cli/commands';
import { runCli } from '../../src/cli/registry';
import { saveModelDir } from '../../src/cycle/model-io';
import { buildSyntheticWorld, SYN_TYPES, syntheticTokenizer, type SyntheticWorld } from '../../src/demo/synthetic';
import { presetConfig } from '../../src/t5/config';
import { T5ForConditionalGeneration } from '../../src/t5/model';
import { trainSupervised } from '../../src/api/train';

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

const TYPE_WORDS: Record<string, string> = { PER: 'person', LOC: 'location', ORG: 'organization' };

/** tinySyntheticBase fine-tuned (supervised, fp32, a few seconds) on its five eval sentences into `root/tuned`, so that
 *  it tags them, with or without grounding. */
export async function tinyTunedTagger(root: string, steps = 120): Promise<{ world: SyntheticWorld; model: string }> {
  const { world, base } = tinySyntheticBase(root);
  const sentences = world.evalSet.sentences;
  const model = path.join(root, 'tuned');
  await trainSupervised({
    pairs: sentences.map((s) => ({
      sentence: s.text,
      entities: s.entities.map((e) => ({ surface: e.surface, type: TYPE_WORDS[e.label]! })),
    })),
    baseModel: base,
    out: model,
    steps,
    lr: 3e-3,
    batchSize: sentences.length,
    precision: 'fp32',
    types: ['location', 'organization', 'person'],
    verbalizer: TYPE_WORDS,
  });
  return { world, model };
}

/** CoNLL-2003 text of sentences given as "word TAG" tokens (the POS and chunk columns filled with X). */
export const conll = (sents: string[][]): string =>
  sents.map((s) => s.map((t) => t.replace(' ', ' X X ')).join('\n')).join('\n\n') + '\n';

/**
 * The gate tests' CoNLL files: `train` sentences (the gazetteer {Paris: location, Obama: person, Rome: location}) and a
 * dev split whose gold is Paris LOC, Obama ORG, London LOC, Rome LOC, written with the CoNLL-2003 columns.
 */
export function gateFixture(root: string, extraTrain: string[][] = []): { train: string; dev: string } {
  const train = path.join(root, 'train.txt');
  const dev = path.join(root, 'dev.txt');
  const base = [
    ['Paris I-LOC', 'is O', 'nice O'],
    ['Obama I-PER', 'visited O', 'Rome I-LOC'],
  ];
  fs.writeFileSync(train, conll([...base, ...extraTrain]));
  fs.writeFileSync(
    dev,
    conll([
      ['Paris I-LOC', 'and O', 'Obama I-ORG'],
      ['London I-LOC', 'calls O', 'Rome I-LOC'],
    ]),
  );
  return { train, dev };
}
