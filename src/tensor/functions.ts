// Free functions over tensors (torch.* / torch.nn.functional.* equivalents).
import { N } from './native';
import { Tensor, idOf } from './tensor';

export function cat(ts: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(
    N.cat(
      ts.map((t) => idOf(t, 'cat')),
      dim,
    ),
  );
}
export function stack(ts: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(
    N.stack(
      ts.map((t) => idOf(t, 'stack')),
      dim,
    ),
  );
}
/** cond ? a : b elementwise, with broadcasting; a and b may be numbers. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const c = idOf(cond, 'where');
  if (typeof a === 'number') {
    return new Tensor(typeof b === 'number' ? N.whereSS(c, a, b) : N.whereST(c, a, idOf(b, 'where')));
  }
  const ia = idOf(a, 'where');
  return new Tensor(typeof b === 'number' ? N.whereTS(c, ia, b) : N.where(c, ia, idOf(b, 'where')));
}
export function triu(t: Tensor, diagonal = 0): Tensor {
  return new Tensor(N.triu(idOf(t, 'triu'), diagonal));
}
export function tril(t: Tensor, diagonal = 0): Tensor {
  return new Tensor(N.tril(idOf(t, 'tril'), diagonal));
}
/** x @ weight^T (+ bias); weight is [out, in], as torch.nn.functional.linear. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return new Tensor(N.linear(idOf(x, 'linear'), idOf(weight, 'linear'), bias ? idOf(bias, 'linear') : 0));
}
export function matmul(a: Tensor, b: Tensor): Tensor {
  return a.matmul(b);
}
/** Rows of weight [V, D] for int64 ids of any shape -> [...ids.shape, D]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  return new Tensor(N.embedding(idOf(weight, 'embedding'), idOf(ids, 'embedding')));
}
/**
 * Inverted dropout drawing one float32 uniform per element from the global generator, as `rand(x.shape)` does:
 * equal, values and gradient bit for bit, to `x.maskedFill(rand(x.shape).lt(p), 0).mul(1 / (1 - p))`, in one pass
 * each way (a fused native loop for CPU floating tensors).
 */
export function uniformDropout(x: Tensor, p: number): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`uniformDropout: p must be in [0, 1), got ${p}`);
  return new Tensor(N.uniformDropout(idOf(x, 'uniformDropout'), p));
}

/** Inverted dropout from the global generator; identity (a new handle) when !training. */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  return new Tensor(N.dropout(idOf(x, 'dropout'), p, training));
}

export interface CrossEntropyOptions {
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}
const REDUCTIONS = { none: 0, mean: 1, sum: 2 } as const;

/** torch.nn.functional.cross_entropy: logits [N, C] (or [N, C, ...]), int64 targets [N]; mean over non-ignored. */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const reduction = REDUCTIONS[opts.reduction ?? 'mean'];
  if (reduction === undefined) throw new Error(`crossEntropy: unknown reduction '${String(opts.reduction)}'`);
  return new Tensor(
    N.crossEntropy(
      idOf(logits, 'crossEntropy'),
      idOf(targets, 'crossEntropy'),
      opts.ignoreIndex ?? -100,
      opts.labelSmoothing ?? 0,
      reduction,
    ),
  );
}

/** T5 layer norm: x * rsqrt(mean(x^2, -1) + eps) * weight, statistics in fp32 (HF T5LayerNorm). */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  return new Tensor(N.rmsNorm(idOf(x, 'rmsNorm'), idOf(weight, 'rmsNorm'), eps));
}

/**
 * softmax(q k^T * scale + bias) v over the last two dims: q [..., Lq, d], k [..., Lk, d], v [..., Lk, dv], bias
 * (float32) broadcastable to [..., Lq, Lk], batch dims broadcast; the softmax in float32. One native call: a fused
 * loop for CPU float32/bf16 without autograd (bf16 scores/probabilities rounded as bf16 matmuls would), else
 * matmul + softmax + matmul (autograd, autocast, CUDA).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, bias?: Tensor | null, scale = 1): Tensor {
  return new Tensor(
    N.attention(
      idOf(q, 'attention'),
      idOf(k, 'attention'),
      idOf(v, 'attention'),
      bias ? idOf(bias, 'attention') : 0,
      scale,
    ),
  );
}

export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return x.logSoftmax(dim);
}
