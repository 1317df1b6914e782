// --name-holdout F (beyond the paper): a label-free criterion for test names the training never saw. A share of the
// names the gazetteer from Q matches in S is held out: every sequence of Q that holds one, and every sentence of S where
// one matches, leave training (warm-up, cycles, silver mix, the swap pool); S2E's outputs on those sentences are then
// scored against the gazetteer's matches. The held-out names cannot have been memorised, so their recall measures
// what WNUT-17 asks (its dev names are all new), where every signal of the cycles' own data rewards memorising.

import { Gazetteer, matchSentence } from '../baselines/lexical-matcher';
import { tokenizeText } from '../data/detok';
import { parseEntitySequence } from '../data/entity-seq';
import { bagOf, evenIndices, gazetteerOf, silverScores, type SilverScores } from './silver';

export interface NameHoldout {
  /** The sequences of Q that hold no held-out name: what training sees. */
  Q: string[];
  /** The sentences of S where no held-out name matches: what training sees. */
  S: string[];
  /** The sentences of S where a held-out name matches (at most `maxSentences`, evenly spaced): scored, never trained. */
  heldS: string[];
  /** Held-out surfaces. */
  names: Set<string>;
  /** The gazetteer of all of Q: the silver labels of heldS (held-out and trained names). */
  gazetteer: Gazetteer;
}

const matchesOf = (g: Gazetteer, text: string) =>
  matchSentence(g, { text, offsets: tokenizeText(text) }).map((m) => ({
    surface: text.slice(m.charStart, m.charEnd),
    type: m.type,
  }));

/**
 * Holds out `fraction` of the distinct names the gazetteer from Q matches in S (evenly spaced in sorted order, so the
 * split is fixed by the data: every seed and every resume get the same one). Throws when nothing would be held out
 * or nothing would be left to train on.
 */
export function splitNames(
  S: readonly string[],
  Q: readonly string[],
  fraction: number,
  maxSentences = 400,
): NameHoldout {
  const gazetteer = gazetteerOf(Q);
  const sMatches = S.map((s) => matchesOf(gazetteer, s));
  const matched = [...new Set(sMatches.flatMap((ms) => ms.map((m) => m.surface)))].sort();
  const k = Math.round(matched.length * fraction);
  if (k === 0)
    throw new Error(
      `--name-holdout ${fraction}: the gazetteer from Q matches ${matched.length} distinct names in S, so none would be held out`,
    );
  const names = new Set(evenIndices(matched.length, k).map((i) => matched[i] as string));
  const trainQ = Q.filter((q) => !parseEntitySequence(q).entities.some((e) => names.has(e.surface)));
  const isHeld = sMatches.map((ms) => ms.some((m) => names.has(m.surface)));
  const trainS = S.filter((_, i) => !isHeld[i]);
  const allHeld = S.filter((_, i) => isHeld[i]);
  if (trainQ.length === 0 || trainS.length === 0)
    throw new Error(
      `--name-holdout ${fraction} leaves ${trainQ.length} sequences of Q and ${trainS.length} sentences of S to train on`,
    );
  const heldS = evenIndices(allHeld.length, maxSentences).map((i) => allHeld[i] as string);
  return { Q: trainQ, S: trainS, heldS, names, gazetteer };
}

export interface NameHeldScores extends SilverScores {
  /** Recall of the held-out names' matches alone (null: none in these sentences). */
  heldR: number | null;
}

/** S2E's `outputs` for the held-out sentences against the full gazetteer's matches (P/R/F1), and the recall of the
 *  held-out names' matches alone; bags of (surface, type) per sentence, as silverScores compares them. */
export function nameHeldScores(
  h: NameHoldout,
  sentences: readonly string[],
  outputs: readonly string[],
): NameHeldScores {
  let gold = 0;
  let found = 0;
  sentences.forEach((text, i) => {
    const predicted = bagOf(outputs[i] ?? '');
    for (const m of matchesOf(h.gazetteer, text)) {
      if (!h.names.has(m.surface)) continue;
      gold++;
      const key = `${m.surface}\u0000${m.type}`;
      const n = predicted.get(key) ?? 0;
      if (n > 0) {
        found++;
        predicted.set(key, n - 1);
      }
    }
  });
  return { ...silverScores(h.gazetteer, sentences, outputs), heldR: gold > 0 ? found / gold : null };
}
