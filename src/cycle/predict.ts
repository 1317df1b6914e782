// Inference with an S2E model: batched generation (grounded by default), entity sequences turned
// into character spans and tags via data/align.ts.

import { alignPrediction, type PredictionAlignment } from '../data/align';
import type { Range } from '../data/types';
import { Verbalizer } from '../data/verbalizer';
import { groundingHook } from './grounding';
import { Direction, type DecodeConfig } from './seq2seq';

export interface PredictOptions {
  grounded: boolean;
  types: readonly string[];
  batchSize: number;
  decode: DecodeConfig;
}

/** One entity sequence per sentence ("" = none). */
export async function predictSequences(s2e: Direction, sentences: readonly string[], opts: PredictOptions): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < sentences.length; i += opts.batchSize) {
    const batch = sentences.slice(i, i + opts.batchSize);
    const hook = opts.grounded ? await groundingHook(s2e.tokenizer, batch, opts.types) : undefined;
    out.push(...(await s2e.generate(batch, opts.decode, hook)));
  }
  return out;
}

/** Identity-like verbaliser over type words (label = word) when no label map is known. */
export function verbalizerForTypes(types: readonly string[], labels?: Record<string, string>): Verbalizer {
  if (labels && Object.keys(labels).length > 0) return new Verbalizer(labels);
  return new Verbalizer(Object.fromEntries(types.map((t) => [t, t])));
}

export function alignAll(sentences: readonly { text: string; offsets: readonly Range[] }[], seqs: readonly string[], v: Verbalizer): PredictionAlignment[] {
  return sentences.map((s, i) => alignPrediction(s, seqs[i] ?? '', v));
}
