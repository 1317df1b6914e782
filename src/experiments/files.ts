// Where an experiment finds its inputs (<data-dir>/<dataset>/{train,dev,test}.*) and the base
// model's size, with errors that name the paths looked at.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DATASETS } from '../data/config';
import { modelSource } from '../hub';
import { readJsonFile } from '../util/fs';

/** Test splits are never read by `data build`; only the runner's evaluations use them. */
export const TEST_FILES: Readonly<Record<string, readonly string[]>> = {
  conll2003: ['test.txt', 'eng.testb'],
  wnut17: ['test.conll', 'test.txt'],
  bc2gm: ['test.tsv', 'test.txt'],
  ontonotes: ['test.jsonl', 'test.conll', 'test.txt'],
};

export type Split = 'train' | 'dev' | 'test';

function candidates(dataset: string, split: Split): readonly string[] {
  if (split === 'test') return TEST_FILES[dataset] ?? ['test.txt'];
  return DATASETS[dataset]?.[split] ?? [`${split}.txt`];
}

/** The split's file, or an error naming every path tried. */
export function findSplit(dataDir: string, dataset: string, split: Split): { file?: string; error?: string } {
  const dir = path.join(dataDir, dataset);
  const names = candidates(dataset, split);
  for (const n of names) {
    const p = path.join(dir, n);
    if (fs.existsSync(p)) return { file: p };
  }
  return {
    error: `no ${split} split for ${dataset}: none of ${names.map((n) => path.join(dir, n)).join(', ')} exists`,
  };
}

export interface BaseModelInfo {
  path: string;
  /** When the base is a Hub snapshot (src/hub). */
  repoId?: string;
  revision?: string;
  commit?: string;
  dModel: number | null;
  layers: number | null;
  decoderLayers: number | null;
  vocab: number | null;
}

export function baseModelInfo(dir: string): BaseModelInfo {
  const p = path.join(dir, 'config.json');
  if (!fs.existsSync(p))
    throw new Error(
      `base model ${dir}: no such file ${p} (pass --base-model DIR, a T5 directory in Hugging Face layout)`,
    );
  const c = readJsonFile<Record<string, unknown>>(p);
  const n = (k: string) => (typeof c[k] === 'number' ? (c[k] as number) : null);
  const src = modelSource(dir);
  return {
    path: dir,
    ...(src.repoId ? { repoId: src.repoId, revision: src.revision, commit: src.commit } : {}),
    dModel: n('d_model'),
    layers: n('num_layers'),
    decoderLayers: n('num_decoder_layers') ?? n('num_layers'),
    vocab: n('vocab_size'),
  };
}
