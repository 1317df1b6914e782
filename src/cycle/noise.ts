// Noised S′ for the E-cycle (beyond the paper; "Understanding Back-Translation at Scale", Edunov et al. 2018): the
// E-cycle is back-translation, where training on noised synthetic sources beats training on clean greedy ones. Words
// of E2S's sentence are dropped and locally shuffled, but Q's names are kept whole: S2E learns ⟨S′ → Q⟩, and a name
// missing from S′ would teach it to emit a name that is not in its input.

import { Rng } from '../util/rng';
import { parseEntitySequence } from '../data/entity-seq';

/** How far a unit may move in the local shuffle (Lample et al. 2018: keys i + U[0, k + 1)). */
const SHUFFLE_WINDOW = 3;

/**
 * `sentence` with each word outside `names` dropped with probability `p` and the units (words, and each occurrence of a
 * name as one unit) shuffled within a window of 3 positions; p = 0 returns it unchanged. Deterministic in `rng`.
 */
export function noiseSentence(sentence: string, names: readonly string[], p: number, rng: Rng): string {
  if (p <= 0) return sentence;
  const words = sentence.split(/\s+/).filter((w) => w !== '');
  // Units: name occurrences (longest names first) are kept together and never dropped.
  const nameWords = [...new Set(names)]
    .map((n) => n.split(/\s+/).filter((w) => w !== ''))
    .filter((n) => n.length > 0)
    .sort((a, b) => b.length - a.length);
  const units: { words: string[]; name: boolean }[] = [];
  for (let i = 0; i < words.length;) {
    const hit = nameWords.find((n) => n.every((w, k) => words[i + k] === w));
    const unit = hit ?? [words[i] as string];
    units.push({ words: unit, name: hit !== undefined });
    i += unit.length;
  }
  const kept = units.filter((u) => u.name || rng.float() >= p);
  const keyed = kept.map((u, i) => ({ u, key: i + rng.float() * (SHUFFLE_WINDOW + 1) }));
  keyed.sort((a, b) => a.key - b.key);
  return keyed.flatMap((x) => x.u.words).join(' ');
}

/** The entity names of an entity sequence (the units noiseSentence keeps whole). */
export const namesOf = (q: string): string[] => parseEntitySequence(q).entities.map((e) => e.surface);

/** Distinct word bigrams over all bigrams of `sentences` (1 = no bigram repeats; null without bigrams): S′'s diversity. */
export function distinct2(sentences: readonly string[]): number | null {
  const seen = new Set<string>();
  let total = 0;
  for (const s of sentences) {
    const w = s.split(/\s+/).filter((x) => x !== '');
    for (let i = 0; i + 1 < w.length; i++) {
      seen.add(`${w[i]}\u0000${w[i + 1]}`);
      total++;
    }
  }
  return total === 0 ? null : seen.size / total;
}
