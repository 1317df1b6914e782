// Public option / input / output types of generate(), and the per-call context the search loops share.

import type { T5ForConditionalGeneration } from '../model';

/**
 * Per-hypothesis constraint: given the batch index and the tokens generated so far (decoder start
 * excluded), return the allowed next token ids, or null for no constraint. An empty array allows
 * only EOS (the hypothesis has nowhere left to go).
 */
export type AllowedTokensFn = (batchIndex: number, prefix: Int32Array) => Int32Array | null;

export interface GenerateOptions {
  /** Required: no hidden default length. */
  maxNewTokens: number;
  numBeams?: number;
  /** Hypotheses returned per input (≤ numBeams in beam search; sampling draws this many). */
  numReturnSequences?: number;
  /** Beam score = sum log p / length ** lengthPenalty (length counts EOS). Default 1. */
  lengthPenalty?: number;
  /** HF semantics: true stops at numBeams finished hypotheses; false uses the attainable-score heuristic; 'never' the exact bound. Default false. */
  earlyStopping?: boolean | 'never';
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of the sampling PRNG (default 0). */
  seed?: number;
  allowedTokens?: AllowedTokensFn;
  /** HF `no_repeat_ngram_size`: a hypothesis never repeats an n-gram (decoder start included, as in transformers). 0 = off. */
  noRepeatNgramSize?: number;
  /** HF `repetition_penalty` (CTRL): scores of tokens already in the hypothesis are divided (if > 0) or multiplied (if < 0) by it. 1 = off. */
  repetitionPenalty?: number;
  eosTokenId?: number;
  padTokenId?: number;
  decoderStartTokenId?: number;
  /**
   * 'fast' (default): fused projections, preallocated KV cache, single-query attention. 'reference': model.decode()
   * step by step, the straightforward implementation the fast one is tested against (tests, A/B benchmarks).
   */
  decoder?: 'fast' | 'reference';
  /** Drop finished rows (greedy/sampling) and finished inputs (beam search) from the decoded batch. Default true; false for tests and A/B benchmarks. */
  dropFinished?: boolean;
  /**
   * Constrained greedy search (allowedTokens, no repetition processors) computes the LM head only for the tokens
   * some row may emit (their union) instead of the whole vocabulary, and each row's log-probability from its own
   * allowed logits (float64 sum: within ~1e-6 of the full head's, and independent of the rest of the batch). Default: where those logits equal the full
   * head's bit for bit (bf16 autocast, whose oneDNN kernels sum every column in the same order; the reference
   * decoder); true forces it (in fp32 BLAS may round the narrower product differently), false never.
   */
  sparseHead?: boolean;
}

export interface GenerateInput {
  /** [batch * length] row-major token ids, right-padded. */
  ids: Int32Array;
  /** [batch * length], 1 = token. */
  mask: Int32Array;
  batch: number;
  length: number;
}

export interface GenerateOutput {
  /** batch * numReturnSequences sequences (input b's r-th at b * n + r): generated ids, decoder start excluded, ending with EOS when finished, no padding. */
  sequences: number[][];
  /** Beam scores (length-normalised) or summed log-probabilities of the chosen tokens (greedy/sampling; after processing). */
  scores: number[];
  /**
   * Per sequence, the log-probability of each of its tokens (same length as the sequence) under the distribution the
   * step drew it from: the processed logits (repetition processors, the allowedTokens constraint) renormalised over
   * what they allow; sampling: after temperature / top-k / top-p. Greedy: they sum to `scores`. Beam search: the
   * chosen hypothesis's tokens; without processors or constraint they sum to the unnormalised beam score.
   */
  tokenLogProbs: number[][];
}

/** What one generate() call resolved from the model config and the options. */
export interface GenerationContext {
  model: T5ForConditionalGeneration;
  eos: number;
  pad: number;
  start: number;
  vocab: number;
}

/** Pad token lists (right) into a GenerateInput. */
export function padBatch(seqs: number[][], padId: number): GenerateInput {
  const length = Math.max(1, ...seqs.map((s) => s.length));
  const ids = new Int32Array(seqs.length * length).fill(padId);
  const mask = new Int32Array(seqs.length * length);
  seqs.forEach((s, b) => {
    ids.set(s, b * length);
    mask.fill(1, b * length, b * length + s.length);
  });
  return { ids, mask, batch: seqs.length, length };
}

/** Repeat each row `n` times (row b -> rows b*n .. b*n+n-1). */
export function repeatRows(x: Int32Array, rows: number, len: number, n: number): Int32Array {
  if (n === 1) return x;
  const out = new Int32Array(rows * n * len);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) out.set(x.subarray(r * len, (r + 1) * len), (r * n + j) * len);
  return out;
}
