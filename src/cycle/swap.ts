// Name swapping in the lexical silver pairs (--silver-swap P; beyond the paper, label-free: "mention replacement",
// Dai & Adel 2020). Trained on ~1,000 silver pairs, S2E memorises their few hundred names: on WNUT-17, whose dev
// entities are all new names, a longer warm-up lowers dev F1 (0.236 after 200 steps, 0.203 after 500). Each time a
// silver pair enters a batch, each of its matched names is replaced, with probability P, by a name of the same type
// drawn from Q, in the sentence and in its entity sequence alike: S2E sees every name in many contexts, so it must
// learn where names go rather than which strings are names.

import { formatEntitySequence, parseEntitySequence } from '../data/entity-seq';
import type { Rng } from '../util/rng';

/** A gazetteer match of a silver pair: characters [start, end) of its sentence, typed. */
export interface SilverSpan {
  start: number;
  end: number;
  type: string;
}

/** A lexical silver pair with the matches its entity sequence lists, in order (what a swap replaces). */
export interface SpannedPair {
  sentence: string;
  sequence: string;
  spans?: readonly SilverSpan[];
}

/** Q's distinct names per type, in order of first appearance (so draws depend only on Q and the generator). */
export function namesByType(Q: readonly string[]): Map<string, string[]> {
  const seen = new Map<string, Set<string>>();
  for (const q of Q)
    for (const e of parseEntitySequence(q).entities) {
      const s = seen.get(e.type) ?? new Set<string>();
      s.add(e.surface);
      seen.set(e.type, s);
    }
  return new Map([...seen].map(([t, s]) => [t, [...s]]));
}

/**
 * The pair with each matched name replaced by a random name of its type from `names` with probability `p` (the
 * replacement may draw the same name); p = 0, or a pair without spans, comes back unchanged. Deterministic in `rng`.
 */
export function swapNames(pair: SpannedPair, names: ReadonlyMap<string, readonly string[]>, p: number, rng: Rng) {
  if (p <= 0 || !pair.spans || pair.spans.length === 0) return { sentence: pair.sentence, sequence: pair.sequence };
  let sentence = '';
  let at = 0;
  const entities: { surface: string; type: string }[] = [];
  for (const s of pair.spans) {
    const pool = names.get(s.type) ?? [];
    // Both draws happen for every span, so a pair's later spans draw the same numbers whatever the earlier ones did.
    const swap = rng.float() < p;
    const pick = rng.int(Math.max(1, pool.length));
    const surface = swap && pool.length > 0 ? (pool[pick] as string) : pair.sentence.slice(s.start, s.end);
    sentence += pair.sentence.slice(at, s.start) + surface;
    at = s.end;
    entities.push({ surface, type: s.type });
  }
  sentence += pair.sentence.slice(at);
  return { sentence, sequence: formatEntitySequence(entities) };
}
