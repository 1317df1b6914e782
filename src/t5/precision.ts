// Numeric precision of a job. bf16 = CPU/CUDA autocast (matmuls in bfloat16, norms/softmax/losses in fp32, fp32
// master weights), the default for training and generation: ~2x faster here with results within run-to-run noise
// (paired runs in docs/t5.md); fp32 = everything in float32 (`--fp32`).
import * as T from '../tensor';

export type Precision = 'bf16' | 'fp32';
export const PRECISIONS: readonly Precision[] = ['bf16', 'fp32'];
export const DEFAULT_PRECISION: Precision = 'bf16';
/** --help of `--fp32`, the opt-out every training and generating command has. */
export const FP32_HELP =
  'compute in float32 instead of bf16 autocast (the default: ~2x faster, same results within noise)';

/** The autocast dtype of a precision (what Seq2SeqTrainer's `autocast` option takes). */
export function autocastOf(p: Precision): 'bfloat16' | null {
  return p === 'bf16' ? 'bfloat16' : null;
}

/** Run fn at precision p. */
export function withPrecision<R>(p: Precision, fn: () => R): R {
  return p === 'bf16' ? T.autocast(fn, 'bfloat16') : fn();
}

export function isPrecision(v: unknown): v is Precision {
  return v === 'bf16' || v === 'fp32';
}
