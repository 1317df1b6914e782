// Unsupervised warm-up on the sentences alone (no labels, no Q): S2E learns sentence → capitalised
// fragments (type placeholder "entity"), E2S learns fragments → sentence. These are the tasks the
// base models were pretrained with (tools/gpu/pretrain_t5.py); for a randomly initialised model they
// teach copying, which cycle training cannot discover by itself from scratch (see the report).

import * as T from '../tensor';
import { Rng } from '../data/rng';
import type { T5ForConditionalGeneration } from '../t5/model';
import type { T5Tokenizer } from '../t5/tokenizer';
import { Seq2SeqTrainer } from '../t5/train';
import { Direction, trainStep } from './seq2seq';

export const FRAGMENT_TYPE = 'entity';

/** Maximal runs of capitalised words, as an entity sequence with the placeholder type. */
export function fragmentSequence(sentence: string): string {
  const runs: string[] = [];
  let cur: string[] = [];
  for (const w of sentence.split(/\s+/)) {
    if (/^\p{Lu}/u.test(w)) cur.push(w);
    else if (cur.length > 0) { runs.push(cur.join(' ')); cur = []; }
  }
  if (cur.length > 0) runs.push(cur.join(' '));
  return runs.map((r) => `${r} <sep> ${FRAGMENT_TYPE}`).join(' <sep> ');
}

export interface WarmupOptions {
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  s2ePrefix: string;
  e2sPrefix: string;
}

export async function fragmentWarmup(s2e: T5ForConditionalGeneration, e2s: T5ForConditionalGeneration, tokenizer: T5Tokenizer, S: readonly string[], o: WarmupOptions): Promise<{ s2eLoss: number; e2sLoss: number }> {
  const lim = { maxSourceTokens: 256, maxTargetTokens: 256 };
  const ds = new Direction(s2e, tokenizer, o.s2ePrefix, lim);
  const de = new Direction(e2s, tokenizer, o.e2sPrefix, lim);
  const oS = new T.AdamW(s2e.parameters(), { lr: o.lr, weightDecay: 0 });
  const oE = new T.AdamW(e2s.parameters(), { lr: o.lr, weightDecay: 0 });
  const tS = new Seq2SeqTrainer(s2e, oS, { maxGradNorm: 1 });
  const tE = new Seq2SeqTrainer(e2s, oE, { maxGradNorm: 1 });
  const frags = S.map(fragmentSequence);
  let last = { s2eLoss: NaN, e2sLoss: NaN };
  try {
    for (let step = 0; step < o.steps; step++) {
      const perm = new Rng(o.seed).fork(`warmup/${step}`);
      const idx = Array.from({ length: o.batchSize }, () => perm.int(S.length));
      const sb = idx.map((i) => S[i] as string);
      const fb = idx.map((i) => frags[i] as string);
      const a = await trainStep(ds, tS, sb, fb);
      const b = await trainStep(de, tE, fb, sb);
      last = { s2eLoss: a.loss, e2sLoss: b.loss };
    }
  } finally {
    oS.dispose();
    oE.dispose();
  }
  return last;
}
