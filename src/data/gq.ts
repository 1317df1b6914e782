// GQ builder: from annotated sentences draw #Q ground-truth entity sequences and #S sentences
// (labels dropped) such that no sentence of S contributes to Q, as the paper's setting assumes
// S and Q are independent. Q is drawn first, so configurations that differ only in #S share Q.

import type { Rng } from '../util/rng';
import type { SeqEntity } from './entity-seq';
import type { LabeledSentence } from './types';
import type { Verbalizer } from './verbalizer';

export interface GQOptions {
  numS: number | 'full';
  numQ: number;
  rng: Rng;
  verbalizer: Verbalizer;
  /** Let S reuse Q's sentences (the paper's full-#S configurations); default false. */
  allowOverlap?: boolean;
  /** Also draw Q from sentences without entities (written as `<none>`); default false. */
  includeEmptyQ?: boolean;
}

export interface GQResult {
  /** Indices into the input sentences. */
  sIndices: number[];
  qIndices: number[];
  S: string[];
  Q: SeqEntity[][];
  /** Deviations from the request (caps), to show the user and store in the manifest. */
  notices: string[];
}

export function sentenceToSequence(s: LabeledSentence, v: Verbalizer): SeqEntity[] {
  return s.entities.map((e) => ({ surface: e.surface, type: v.verbalize(e.label) }));
}

export function buildGQ(sentences: readonly LabeledSentence[], opts: GQOptions): GQResult {
  const notices: string[] = [];
  const perm = opts.rng.fork('gq-order').permutation(sentences.length);
  const candidates = perm.filter((i) => opts.includeEmptyQ || (sentences[i] as LabeledSentence).entities.length > 0);
  let numQ = opts.numQ;
  if (numQ > candidates.length) {
    notices.push(
      `only ${candidates.length} sentences${opts.includeEmptyQ ? '' : ' with entities'} available: Q has ${candidates.length} sequences instead of ${numQ}`,
    );
    numQ = candidates.length;
  }
  const qIndices = candidates.slice(0, numQ);
  const inQ = new Set(qIndices);
  const pool = opts.allowOverlap
    ? opts.rng.fork('gq-s-order').permutation(sentences.length)
    : perm.filter((i) => !inQ.has(i));
  let numS = opts.numS === 'full' ? pool.length : opts.numS;
  if (numS > pool.length) {
    notices.push(
      opts.allowOverlap
        ? `only ${pool.length} sentences available: S has ${pool.length} instead of ${numS}`
        : `S capped at ${pool.length} sentences instead of ${numS} so that no sentence of S contributes to Q (use --allow-overlap to reuse Q's sentences, as the paper's full-size configurations do)`,
    );
    numS = pool.length;
  }
  const sIndices = pool.slice(0, numS);
  return {
    sIndices,
    qIndices,
    S: sIndices.map((i) => (sentences[i] as LabeledSentence).text),
    Q: qIndices.map((i) => sentenceToSequence(sentences[i] as LabeledSentence, opts.verbalizer)),
    notices,
  };
}
