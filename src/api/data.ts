// `buildData`: the library form of `cyclener data build` (src/data/build.ts), taking files or parsed corpora.

import { buildData as buildFiles, type BuildOptions, type BuildResult, type Count } from '../data/build';
import type { QMode } from '../data/config';
import { readLabeled, type LabeledCorpus } from '../data/readers';
import { Verbalizer, defaultVerbalizer, verbalizerForLabels } from '../data/verbalizer';

export interface BuildDataOptions {
  /** Labelled training data: a CoNLL / CoNLL-2012 / JSONL file, or a corpus from `readLabeled`. */
  train: string | LabeledCorpus;
  /** Labelled dev data for dev_S / dev_Q / dev_gold (omit: only S and Q are written). */
  dev?: string | LabeledCorpus;
  /** Output folder (S.txt, Q.txt, dev_S.txt, dev_Q.txt, dev_gold.jsonl, manifest.json). */
  out: string;
  mode: QMode;
  numS: Count;
  numQ: number;
  devNumS?: Count;
  devNumQ?: number;
  seed?: number;
  /** Label -> type word ({"PER": "person", ...}), a default set's name ("conll2003"), or a Verbalizer; default: guessed from the labels. */
  verbalizer?: Record<string, string> | string | Verbalizer;
  dataset?: string;
  /** GQ options, as the CLI flags of the same names. */
  allowOverlap?: boolean;
  devIndependent?: boolean;
  includeEmptyQ?: boolean;
  /** SQ: number of seed entities drawn from the gold annotations (default 1000) and optional word vectors. */
  seedEntities?: number;
  vectorsFile?: string;
}

export function buildData(o: BuildDataOptions): BuildResult {
  const train = typeof o.train === 'string' ? readLabeled(o.train) : o.train;
  const dev = o.dev === undefined ? undefined : typeof o.dev === 'string' ? readLabeled(o.dev) : o.dev;
  const labels = [...train.sentences, ...(dev?.sentences ?? [])].flatMap((s) => s.entities.map((e) => e.label));
  const guessed = o.verbalizer === undefined ? verbalizerForLabels(labels) : undefined;
  const v =
    o.verbalizer instanceof Verbalizer
      ? o.verbalizer
      : typeof o.verbalizer === 'string'
        ? defaultVerbalizer(o.verbalizer)
        : o.verbalizer
          ? new Verbalizer(o.verbalizer)
          : guessed!.verbalizer;
  const opts: BuildOptions = {
    train,
    mode: o.mode,
    numS: o.numS,
    numQ: o.numQ,
    seed: o.seed ?? 1,
    verbalizer: v,
    seedEntities: o.seedEntities ?? 1000,
    allowOverlap: o.allowOverlap === true,
    devIndependent: o.devIndependent === true,
    includeEmptyQ: o.includeEmptyQ === true,
    ...(dev ? { dev, devNumS: o.devNumS ?? 1000, devNumQ: o.devNumQ ?? 500 } : {}),
    ...(o.dataset ? { dataset: o.dataset } : {}),
    ...(o.vectorsFile ? { vectorsFile: o.vectorsFile } : {}),
  };
  const r = buildFiles(o.out, opts);
  for (const l of guessed?.unknown ?? [])
    r.notices.push(
      `label "${l}" has no word in the ${guessed!.dataset} verbaliser: its type word is "${v.verbalize(l)}"`,
    );
  return r;
}
