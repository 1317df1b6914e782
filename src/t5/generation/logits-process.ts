// Logits processors (transformers' LogitsProcessor family) on [rows, V] score tensors: the allowed-token
// constraint, repetition penalty and no-repeat-ngram. Rows the caller reports as finished are left alone.

import * as T from '../../tensor';
import type { Tensor } from '../../tensor';
import type { AllowedTokensFn, GenerateOptions, GenerationContext } from './types';

/** Additive [rows, V] mask from the hook (0 allowed, -inf banned) or null when no row is constrained. */
export function constraintMask(
  ctx: GenerationContext,
  rows: number,
  hook: AllowedTokensFn | undefined,
  batchOf: (r: number) => number,
  prefixOf: (r: number) => number[],
  skip: (r: number) => boolean,
): Tensor | null {
  if (!hook) return null;
  let m: Float32Array | null = null;
  for (let r = 0; r < rows; r++) {
    if (skip(r)) continue;
    const allowed = hook(batchOf(r), Int32Array.from(prefixOf(r)));
    if (allowed === null) continue;
    if (!m) m = new Float32Array(rows * ctx.vocab);
    const row = m.subarray(r * ctx.vocab, (r + 1) * ctx.vocab);
    row.fill(-Infinity);
    if (allowed.length === 0) row[ctx.eos] = 0;
    for (const t of allowed) {
      if (t < 0 || t >= ctx.vocab)
        throw new Error(`allowedTokens: token ${t} outside the vocabulary [0, ${ctx.vocab})`);
      row[t] = 0;
    }
  }
  return m ? T.tensor(m, [rows, ctx.vocab]) : null;
}

/** Tokens that would complete an n-gram already in `seq` (transformers' NoRepeatNGramLogitsProcessor). */
export function bannedNgramTokens(seq: readonly number[], n: number): number[] {
  if (n <= 0 || seq.length + 1 < n) return [];
  const key = (i: number) => seq.slice(i, i + n - 1).join(',');
  const tail = key(seq.length - n + 1);
  const banned: number[] = [];
  for (let i = 0; i + n <= seq.length; i++) if (key(i) === tail) banned.push(seq[i + n - 1] as number);
  return banned;
}

/** RepetitionPenaltyLogitsProcessor: every row (finished ones too, harmlessly), as transformers. */
function repetitionPenalty(
  ctx: GenerationContext,
  scores: Tensor,
  rows: number,
  penalty: number,
  history: (r: number) => number[],
): Tensor {
  const uniq = Array.from({ length: rows }, (_, r) => [...new Set(history(r))]);
  const k = Math.max(1, ...uniq.map((u) => u.length));
  const idx = new Int32Array(rows * k);
  uniq.forEach((u, r) => {
    for (let j = 0; j < k; j++) idx[r * k + j] = (u[j] ?? u[0] ?? ctx.start) as number;
  });
  const it = T.tensor(idx, [rows, k], 'int64');
  const g = scores.gather(1, it);
  return scores.scatter(1, it, T.where(g.lt(0), g.mul(penalty), g.div(penalty)));
}

/** NoRepeatNGramLogitsProcessor as an additive mask; `scores` unchanged when nothing is banned. */
function noRepeatNgram(
  ctx: GenerationContext,
  scores: Tensor,
  rows: number,
  n: number,
  history: (r: number) => number[],
  skip: (r: number) => boolean,
): Tensor {
  let m: Float32Array | null = null;
  for (let r = 0; r < rows; r++) {
    if (skip(r)) continue;
    const banned = bannedNgramTokens(history(r), n);
    if (banned.length === 0) continue;
    if (!m) m = new Float32Array(rows * ctx.vocab);
    for (const t of banned) m[r * ctx.vocab + t] = -Infinity;
  }
  return m ? scores.add(T.tensor(m, [rows, ctx.vocab])) : scores;
}

/**
 * The repetition processors in transformers' order on [rows, V] scores (raw logits for greedy/sampling, log-probs
 * for beam search, as in transformers). `history(r)` is row r's tokens including the decoder start.
 */
export function repetitionProcess(
  ctx: GenerationContext,
  scores: Tensor,
  rows: number,
  opts: GenerateOptions,
  history: (r: number) => number[],
  skip: (r: number) => boolean,
): Tensor {
  const penalty = opts.repetitionPenalty ?? 1;
  const n = opts.noRepeatNgramSize ?? 0;
  let out = scores;
  if (penalty !== 1) out = repetitionPenalty(ctx, out, rows, penalty, history);
  if (n > 0) out = noRepeatNgram(ctx, out, rows, n, history, skip);
  return out;
}
