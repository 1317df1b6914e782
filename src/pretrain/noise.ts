// T5 span corruption (Raffel et al. 2020, t5.data.preprocessors.random_spans_noise_mask), as in
// tools/gpu/pretrain_t5.py: alternating non-noise/noise spans starting with non-noise, noise density 0.15,
// mean noise span length 3; each noise span becomes one sentinel in the input (<extra_id_0>, <extra_id_1>, ...
// = sentinel0, sentinel0-1, ...) and "sentinel + span" in the target.

import type { Rng } from '../util/rng';

/** round() as Python 3 and tf.round: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Random partition of n items into k non-empty segments (k-1 distinct cut points in 1..n-1). */
function segment(n: number, k: number, rng: Rng): number[] {
  const cuts = new Set<number>();
  while (cuts.size < k - 1) cuts.add(1 + rng.int(n - 1));
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), n];
  return Array.from({ length: k }, (_, i) => bounds[i + 1]! - bounds[i]!);
}

/** Noise tokens and noise spans of a `length`-token mask (the counts randomSpansNoiseMask uses). */
export function noiseCounts(
  length: number,
  noiseDensity = 0.15,
  meanSpan = 3.0,
): { numNoise: number; numNonNoise: number; numSpans: number } {
  const numNoise = Math.min(Math.max(roundHalfEven(length * noiseDensity), 1), length - 1);
  const numNonNoise = length - numNoise;
  const numSpans = Math.min(Math.max(roundHalfEven(numNoise / meanSpan), 1), numNoise, numNonNoise);
  return { numNoise, numNonNoise, numSpans };
}

/** Lengths (EOS included) of spanCorrupt's input and target for `length` raw tokens: the input keeps the non-noise
 * tokens and one sentinel per noise span, the target holds the noise tokens and one sentinel per span. */
export function spanCorruptedLengths(
  length: number,
  noiseDensity = 0.15,
  meanSpan = 3.0,
): { inputs: number; targets: number } {
  const { numNoise, numNonNoise, numSpans } = noiseCounts(length, noiseDensity, meanSpan);
  return { inputs: numNonNoise + numSpans + 1, targets: numNoise + numSpans + 1 };
}

/**
 * T5's random_spans_helper (t5.data.preprocessors; t5x/seqio span corruption tasks): the largest raw token count whose
 * span-corrupted input fits `maxSource` and target fits `maxTarget`, with the rounding of randomSpansNoiseMask.
 * Both lengths grow monotonically with the raw count (by at most one input token per raw token at density 0.15), so
 * the input is exactly `maxSource` long unless the target limit binds first. T5: 512 -> 568 raw tokens, targets 114.
 */
export function spanRawLength(
  maxSource: number,
  maxTarget = Infinity,
  noiseDensity = 0.15,
  meanSpan = 3.0,
): { tokens: number; inputs: number; targets: number } {
  const fits = (n: number) => {
    const l = spanCorruptedLengths(n, noiseDensity, meanSpan);
    return l.inputs <= maxSource && l.targets <= maxTarget;
  };
  if (!Number.isFinite(maxSource) && !Number.isFinite(maxTarget))
    throw new Error('spanRawLength: give a finite max source or max target');
  if (!fits(2))
    throw new Error(
      `span corruption: max source ${maxSource} / max target ${maxTarget} cannot hold even 2 corrupted tokens`,
    );
  let n = 2;
  while (fits(n + 1)) n++;
  return { tokens: n, ...spanCorruptedLengths(n, noiseDensity, meanSpan) };
}

/** Boolean noise mask of `length` (>= 2) tokens. */
export function randomSpansNoiseMask(length: number, rng: Rng, noiseDensity = 0.15, meanSpan = 3.0): boolean[] {
  if (length < 2) throw new Error(`randomSpansNoiseMask: length ${length} < 2`);
  const { numNoise, numNonNoise, numSpans } = noiseCounts(length, noiseDensity, meanSpan);
  const noise = segment(numNoise, numSpans, rng);
  const nonNoise = segment(numNonNoise, numSpans, rng);
  const mask = new Array<boolean>(length).fill(false);
  let pos = 0;
  for (let i = 0; i < numSpans; i++) {
    pos += nonNoise[i]!;
    for (let j = 0; j < noise[i]!; j++) mask[pos + j] = true;
    pos += noise[i]!;
  }
  return mask;
}

/** Input and target ids (EOS appended to both) from token ids and a noise mask. */
export function spanCorrupt(
  ids: readonly number[],
  mask: readonly boolean[],
  sentinel0: number,
  eos: number,
): { source: number[]; target: number[] } {
  const source: number[] = [];
  const target: number[] = [];
  let k = 0;
  let prev = false;
  ids.forEach((t, i) => {
    if (mask[i]) {
      if (!prev) {
        source.push(sentinel0 - k);
        target.push(sentinel0 - k);
        k++;
      }
      target.push(t);
    } else source.push(t);
    prev = mask[i]!;
  });
  return { source: [...source, eos], target: [...target, eos] };
}

/** Inverse of spanCorrupt (for tests and sanity checks): the original ids from source + target. */
export function reconstructSpans(
  source: readonly number[],
  target: readonly number[],
  sentinel0: number,
  numSentinels: number,
  eos: number,
): number[] {
  const isSentinel = (t: number) => t <= sentinel0 && t > sentinel0 - numSentinels;
  const spans = new Map<number, number[]>();
  let cur: number[] | null = null;
  for (const t of target) {
    if (t === eos) break;
    if (isSentinel(t)) {
      cur = [];
      spans.set(t, cur);
    } else if (cur) cur.push(t);
  }
  const out: number[] = [];
  for (const t of source) {
    if (t === eos) break;
    if (isSentinel(t)) out.push(...(spans.get(t) ?? []));
    else out.push(t);
  }
  return out;
}

/** Poisson deviate (Knuth; fine for small means such as the 2.5 of the denoising objective). */
export function poisson(rng: Rng, mean: number): number {
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  for (;;) {
    p *= rng.float();
    if (p <= l) return k;
    k++;
  }
}
