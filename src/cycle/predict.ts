// Inference with an S2E model: batched generation (grounded by default), entity sequences turned
// into character spans and tags via data/align.ts.

import { alignPrediction, type PredictionAlignment } from '../data/align';
import type { Precision } from '../t5/precision';
import type { Range } from '../data/types';
import { Verbalizer } from '../data/verbalizer';
import { groundingHook } from './grounding';
import { DEFAULT_S2E_PREFIX, loadModelDir, resolveS2EDir } from './model-io';
import { Direction, generateAll, type DecodeConfig } from './seq2seq';

export interface PredictOptions {
  grounded: boolean;
  types: readonly string[];
  batchSize: number;
  decode: DecodeConfig;
}

/** One entity sequence per sentence ("" = none). */
export async function predictSequences(s2e: Direction, sentences: readonly string[], opts: PredictOptions): Promise<string[]> {
  const hook = opts.grounded ? (b: readonly string[]) => groundingHook(s2e.tokenizer, b, opts.types) : undefined;
  return generateAll(s2e, sentences, opts.decode, opts.batchSize, hook);
}

/** Identity-like verbaliser over type words (label = word) when no label map is known. */
export function verbalizerForTypes(types: readonly string[], labels?: Record<string, string>): Verbalizer {
  if (labels && Object.keys(labels).length > 0) return new Verbalizer(labels);
  return new Verbalizer(Object.fromEntries(types.map((t) => [t, t])));
}

export function alignAll(sentences: readonly { text: string; offsets: readonly Range[] }[], seqs: readonly string[], v: Verbalizer): PredictionAlignment[] {
  return sentences.map((s, i) => alignPrediction(s, seqs[i] ?? '', v));
}

export interface ModelPrediction {
  seqs: string[];
  types: string[];
  verbalizer: Verbalizer;
}

/** Load an S2E model directory (or a run / its best/), predict `texts`, and free the model. */
export async function predictWithModelDir(modelDir: string, texts: readonly string[], opts: { grounded: boolean; batch: number; maxNewTokens: number; numBeams: number; precision?: Precision }): Promise<ModelPrediction> {
  const dir = resolveS2EDir(modelDir);
  const m = loadModelDir(dir);
  try {
    const meta = m.meta;
    const types = meta?.types ?? [];
    if (opts.grounded && types.length === 0) throw new Error(`${dir}: no type words recorded (cyclener.json); pass --no-ground`);
    const s2e = new Direction(m.model, m.tokenizer, meta?.prefix ?? DEFAULT_S2E_PREFIX, { maxSourceTokens: 512, maxTargetTokens: 512 }, opts.precision);
    const seqs = await predictSequences(s2e, texts, { grounded: opts.grounded, types, batchSize: opts.batch, decode: { maxNewTokens: opts.maxNewTokens, numBeams: opts.numBeams } });
    return { seqs, types, verbalizer: verbalizerForTypes(types, meta?.verbalizer) };
  } finally {
    m.model.dispose();
  }
}
