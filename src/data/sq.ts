// SQ builder (paper §5.2): from a small list of seed entities, build synthetic entity sequences by
// grouping semantically similar entities (cosine similarity of averaged word vectors). The number
// of entities per sequence is drawn from the corpus's length distribution. Each sequence takes the
// next seed (seeds cycle in a shuffled order, so all are used) plus others drawn from its nearest
// neighbours, in shuffled order.

import type { Rng } from '../util/rng';
import type { SeqEntity } from './entity-seq';
import type { LabeledSentence } from './types';
import type { Verbalizer } from './verbalizer';
import { cosine, entityVector, type WordVectors } from './wordvec';

export interface SQOptions {
  numQ: number;
  seeds: readonly SeqEntity[];
  /** lengthDist[k] = weight of sequences with k entities (k >= 1; index 0 ignored). */
  lengthDist: readonly number[];
  vectors: WordVectors;
  rng: Rng;
  /** Neighbours considered per anchor (default 10). */
  topK?: number;
}

export interface SQResult {
  Q: SeqEntity[][];
  /** Seeds with no word vector (paired with random seeds instead). */
  seedsWithoutVector: number;
}

/** Histogram of entities per sentence (sentences with at least one entity). */
export function lengthDistribution(sentences: readonly LabeledSentence[]): number[] {
  const h: number[] = [0];
  for (const s of sentences) {
    const n = s.entities.length;
    if (n === 0) continue;
    while (h.length <= n) h.push(0);
    h[n] = (h[n] as number) + 1;
  }
  return h;
}

/**
 * Up to `n` distinct (surface, type) seeds from gold mentions, drawn mention by mention in random
 * order (so frequent entities are likelier, as for someone listing entities they know).
 */
export function sampleSeeds(sentences: readonly LabeledSentence[], n: number, v: Verbalizer, rng: Rng): SeqEntity[] {
  const mentions: SeqEntity[] = [];
  for (const s of sentences)
    for (const e of s.entities) mentions.push({ surface: e.surface, type: v.verbalize(e.label) });
  rng.shuffle(mentions);
  const seen = new Set<string>();
  const out: SeqEntity[] = [];
  for (const m of mentions) {
    const k = `${m.surface}\u0000${m.type}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(m);
    if (out.length >= n) break;
  }
  return out;
}

export function buildSQ(opts: SQOptions): SQResult {
  const seeds = dedupe(opts.seeds);
  if (seeds.length === 0) throw new Error('SQ needs at least one seed entity');
  const topK = opts.topK ?? 10;
  const rng = opts.rng;
  const vecs = seeds.map((s) => entityVector(s.surface, opts.vectors));
  const neighbours = new Map<number, number[]>();
  const nearest = (a: number): number[] => {
    let nb = neighbours.get(a);
    if (nb) return nb;
    const va = vecs[a];
    const scored: [number, number][] = [];
    if (va)
      seeds.forEach((_, j) => {
        const vb = vecs[j];
        if (j !== a && vb) scored.push([j, cosine(va, vb)]);
      });
    scored.sort((x, y) => y[1] - x[1] || x[0] - y[0]);
    nb = scored.map(([j]) => j);
    neighbours.set(a, nb);
    return nb;
  };
  const weights = opts.lengthDist.map((w, k) => (k === 0 ? 0 : w));
  if (!weights.some((w) => w > 0)) throw new Error('SQ length distribution is empty (no sentence with entities)');
  const order = rng.permutation(seeds.length);
  const Q: SeqEntity[][] = [];
  for (let q = 0; q < opts.numQ; q++) {
    const anchor = order[q % order.length] as number;
    const len = Math.min(rng.weighted(weights), seeds.length);
    const nb = nearest(anchor);
    // Candidates: the anchor's nearest neighbours; without a vector, any other seed.
    const pool =
      nb.length > 0 ? nb.slice(0, Math.max(topK, len - 1)) : seeds.map((_, j) => j).filter((j) => j !== anchor);
    const picked = [anchor, ...rng.shuffle([...pool]).slice(0, len - 1)];
    Q.push(rng.shuffle(picked).map((i) => seeds[i] as SeqEntity));
  }
  return { Q, seedsWithoutVector: vecs.filter((v) => !v).length };
}

function dedupe(seeds: readonly SeqEntity[]): SeqEntity[] {
  const seen = new Set<string>();
  return seeds.filter((s) => {
    const k = `${s.surface}\u0000${s.type}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
