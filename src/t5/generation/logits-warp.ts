// Sampling warpers (transformers' Temperature / TopK / TopP LogitsWarper) and the draw. Candidates are ordered in
// libtorch (top-k: only k per row cross over to JS); the top-p cut and the draw run in JS on each row.

import type { Tensor } from '../../tensor';

/** Small seeded PRNG (mulberry32) so sampling is reproducible independent of the engine's generator. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Temperature, then top-k (the k best, descending) or, for top-p, every token sorted descending: returns
 * [values] (unsorted, every token) or [values, token ids] for sampleRow().
 */
export function warpLogits(logits: Tensor, temperature: number, topK: number, topP: number, vocab: number): Tensor[] {
  const scaled = logits.div(temperature);
  if (topK > 0) {
    const { values, indices } = scaled.topk(Math.min(topK, vocab), -1, true);
    return [values, indices];
  }
  if (topP < 1) {
    const { values, indices } = scaled.sort(-1, true);
    return [values, indices];
  }
  return [scaled];
}

/**
 * Draw from one row of temperature-scaled logits: `sorted` rows are already the top-k (or all) candidates in
 * descending order, to which the top-p cut applies (smallest prefix reaching topP, at least one token);
 * unsorted rows are sampled as they are. Returns [position in the row, log-prob under the filtered distribution].
 */
export function sampleRow(x: Float32Array, sorted: boolean, topP: number, rand: () => number): [number, number] {
  let n = x.length;
  if (sorted) while (n > 0 && x[n - 1] === -Infinity) n--; // banned tokens sort last
  let maxv = -Infinity;
  for (let i = 0; i < n; i++) if (x[i] > maxv) maxv = x[i];
  if (maxv === -Infinity) throw new Error('generate: every token is banned for a sampled row');
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(x[i] - maxv);
  if (sorted && topP < 1) {
    let cum = 0;
    let k = 0;
    while (k < n) {
      cum += Math.exp(x[k] - maxv) / z;
      k++;
      if (cum >= topP) break;
    }
    n = k;
    z = 0;
    for (let i = 0; i < n; i++) z += Math.exp(x[i] - maxv);
  }
  let u = rand() * z;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const w = Math.exp(x[i] - maxv);
    if (w === 0) continue;
    last = i;
    u -= w;
    if (u <= 0) return [i, Math.log(w / z)];
  }
  return [last, Math.log(Math.exp(x[last] - maxv) / z)]; // rounding left u > 0: take the last live token
}
