// A label-free selection signal (beyond the paper): how well S2E's outputs on dev S agree with the Lexical Matcher's
// matches of a gazetteer built from Q. The matches are precise but sparse (CoNLL test: P 0.74, R 0.32), so silver
// recall asks "does S2E find the entities Q names?", and silver precision is a lower bound on S2E's precision.
// Compared as bags of (surface, type) per sentence; no labels are read.

import { Gazetteer, matchSentence } from '../baselines/lexical-matcher';
import { tokenizeText } from '../data/detok';
import { parseEntitySequence } from '../data/entity-seq';

export interface SilverScores {
  /** Matched entities of S2E's outputs / all its entities (null: S2E found none). */
  p: number | null;
  /** Matched gazetteer hits / all gazetteer hits (null: the gazetteer matches nothing in dev S). */
  r: number | null;
  f1: number | null;
}

/** Sentences of S scored by the silver criterion at each evaluation (evenly spaced, so fixed for the run). */
export const SILVER_S_SAMPLE = 200;

/** The S sample of silver F1 on S: SILVER_S_SAMPLE sentences, evenly spaced. */
export function silverSSample(S: readonly string[]): string[] {
  return evenIndices(S.length, SILVER_S_SAMPLE).map((i) => S[i] as string);
}

/** How many of `sentences` the gazetteer matches a name in. */
export function sentencesMatched(g: Gazetteer, sentences: readonly string[]): number {
  return sentences.filter((text) => matchSentence(g, { text, offsets: tokenizeText(text) }).length > 0).length;
}

/** The gazetteer from Q's entity sequences, as the lexical warm-up and baseline build it. */
export function gazetteerOf(Q: readonly string[]): Gazetteer {
  return new Gazetteer(Q.map((q) => parseEntitySequence(q).entities));
}

/** Silver P/R/F1 of S2E's entity sequences `outputs` for `sentences` against the gazetteer's matches. */
export function silverScores(g: Gazetteer, sentences: readonly string[], outputs: readonly string[]): SilverScores {
  let predicted = 0;
  let silver = 0;
  let both = 0;
  sentences.forEach((text, i) => {
    const bag = new Map<string, number>();
    for (const m of matchSentence(g, { text, offsets: tokenizeText(text) })) {
      const k = `${text.slice(m.charStart, m.charEnd)}\u0000${m.type}`;
      bag.set(k, (bag.get(k) ?? 0) + 1);
      silver++;
    }
    for (const e of parseEntitySequence(outputs[i] ?? '').entities) {
      predicted++;
      const k = `${e.surface}\u0000${e.type}`;
      const n = bag.get(k) ?? 0;
      if (n > 0) {
        both++;
        bag.set(k, n - 1);
      }
    }
  });
  const p = predicted > 0 ? both / predicted : null;
  const r = silver > 0 ? both / silver : null;
  const f1 = p === null || r === null ? null : p + r === 0 ? 0 : (2 * p * r) / (p + r);
  return { p, r, f1 };
}

/** Label-free statistics of S2E's outputs on real sentences (issue 25's criterion search; logged, not selected on). */
export interface OutputStats {
  /** Entities per sentence. */
  entities: number;
  /** Share of sentences with no entity. */
  empty: number;
  /** Share of the entities whose surface is no name of Q: S2E finding names beyond the gazetteer. */
  novel: number | null;
}

/** OutputStats of entity sequences `outputs` (one per sentence), names of Q from `g`. */
export function outputStats(g: Gazetteer, outputs: readonly string[]): OutputStats {
  let entities = 0;
  let empty = 0;
  let novel = 0;
  for (const o of outputs) {
    const es = parseEntitySequence(o).entities;
    entities += es.length;
    if (es.length === 0) empty++;
    for (const e of es) if (!g.entries.has(e.surface)) novel++;
  }
  const n = Math.max(outputs.length, 1);
  return { entities: entities / n, empty: empty / n, novel: entities > 0 ? novel / entities : null };
}

/** Mean entities per sequence of Q: the density S2E's outputs on real sentences can be compared with. */
export const meanEntities = (Q: readonly string[]): number =>
  Q.reduce((a, q) => a + parseEntitySequence(q).entities.length, 0) / Math.max(Q.length, 1);

/** An entity sequence as a bag of (surface, type) keys, `${surface}\u0000${type}`, with repeats counted. */
export const bagOf = (seq: string): Map<string, number> => {
  const bag = new Map<string, number>();
  for (const e of parseEntitySequence(seq).entities) {
    const k = `${e.surface}\u0000${e.type}`;
    bag.set(k, (bag.get(k) ?? 0) + 1);
  }
  return bag;
};

/** Whether entity sequence `output` holds every (surface, type) of `silver`, counted with repeats. */
export function holdsAll(output: string, silver: string): boolean {
  const have = bagOf(output);
  for (const [k, n] of bagOf(silver)) if ((have.get(k) ?? 0) < n) return false;
  return true;
}

export interface SilverPair {
  sentence: string;
  sequence: string;
}

/**
 * The silver pairs refreshed from S2E's outputs (--silver-refresh): where S2E's output for a pair's sentence holds every
 * gazetteer match of the lexical pair, it replaces the lexical sequence (it adds the entities the gazetteer misses);
 * elsewhere the lexical pair stays. Always from the lexical pairs, so a bad refresh is not compounded.
 */
export function refreshSilverPairs(
  lexical: readonly SilverPair[],
  outputs: readonly string[],
): { pairs: SilverPair[]; refreshed: number } {
  let refreshed = 0;
  const pairs = lexical.map((p, i) => {
    const o = outputs[i] ?? '';
    if (o === p.sequence || !holdsAll(o, p.sequence)) return p;
    refreshed++;
    return { sentence: p.sentence, sequence: o };
  });
  return { pairs, refreshed };
}

/** n evenly spaced indices of [0, length) (all of them when length <= n). */
export function evenIndices(length: number, n: number): number[] {
  if (length <= n) return Array.from({ length }, (_, i) => i);
  return Array.from({ length: n }, (_, i) => Math.floor((i * length) / n));
}

/** S split for --silver-holdout: `n` evenly spaced sentences held out of training, the rest trained on. */
export function splitHoldout<X>(S: readonly X[], n: number): { train: X[]; heldOut: X[] } {
  if (n <= 0) return { train: [...S], heldOut: [] };
  if (n >= S.length) throw new Error(`--silver-holdout ${n} would hold out all ${S.length} sentences of S`);
  const held = new Set(evenIndices(S.length, n));
  return { train: S.filter((_, i) => !held.has(i)), heldOut: S.filter((_, i) => held.has(i)) };
}
