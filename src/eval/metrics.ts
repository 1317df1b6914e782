// Entity-level metrics. Exact-span scores are conlleval's: a predicted chunk is correct when a gold
// chunk has the same start, end and type, with chunks found by conlleval's rules (see
// data/tags.ts). `conllevalStream` is a line-by-line port of conlleval's counting loop, kept to
// prove (in tests) that span-set matching gives the same counts.
//
// Also: the paper's bag-of-mentions variant (per sentence, multiset of (surface, type); position
// ignored), an error breakdown, and the 'sentences with gold entities only' variant.

import { endOfChunk, startOfChunk } from '../data/tags';
import type { Mention } from '../data/types';

export interface Counts {
  correct: number;
  /** Predicted mentions (conlleval: found guessed). */
  pred: number;
  /** Gold mentions (conlleval: found correct). */
  gold: number;
}

export interface PRF {
  precision: number;
  recall: number;
  f1: number;
}

export interface TypeRow extends Counts, PRF {
  type: string;
}

export interface ScoreTable {
  micro: Counts & PRF;
  /** Unweighted mean of per-type P, R and F1 over the types that occur in the gold data. */
  macro: PRF;
  perType: TypeRow[];
}

export interface ErrorBreakdown {
  correct: number;
  /** Same boundaries as a gold mention, other type. */
  wrongType: number;
  /** Overlaps a gold mention of the same type, other boundaries. */
  wrongBoundary: number;
  /** Overlaps a gold mention only with other boundaries and another type. */
  wrongBoundaryAndType: number;
  /** Overlaps no gold mention. */
  spurious: number;
  /** Gold mentions overlapped by no prediction. */
  missed: number;
}

export interface EvalSentence {
  gold: readonly Mention[];
  pred: readonly Mention[];
}

export interface EvalReport {
  sentences: number;
  sentencesWithEntities: number;
  /** Exact-span (conlleval) scores. */
  exact: ScoreTable;
  /** Bag-of-mentions scores (needs `surface` on mentions). */
  bag: ScoreTable;
  errors: ErrorBreakdown;
  /** The same scores restricted to sentences with at least one gold mention. */
  withEntitiesOnly: { sentences: number; exact: ScoreTable; bag: ScoreTable; errors: ErrorBreakdown };
}

export function prf(c: Counts): PRF {
  const precision = c.pred > 0 ? c.correct / c.pred : 0;
  const recall = c.gold > 0 ? c.correct / c.gold : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

class Tally {
  total: Counts = { correct: 0, pred: 0, gold: 0 };
  byType = new Map<string, Counts>();
  private of(t: string): Counts {
    let c = this.byType.get(t);
    if (!c) {
      c = { correct: 0, pred: 0, gold: 0 };
      this.byType.set(t, c);
    }
    return c;
  }
  add(field: keyof Counts, type: string, n = 1): void {
    this.total[field] += n;
    this.of(type)[field] += n;
  }
  table(): ScoreTable {
    const perType = [...this.byType.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([type, c]) => ({ type, ...c, ...prf(c) }));
    // Macro over the gold types, so junk types in the output do not dilute it (they still count in micro).
    const goldTypes = perType.filter((r) => r.gold > 0);
    const macroRows = goldTypes.length > 0 ? goldTypes : perType;
    const n = macroRows.length;
    const mean = (k: keyof PRF) => (n > 0 ? macroRows.reduce((s, r) => s + r[k], 0) / n : 0);
    return {
      micro: { ...this.total, ...prf(this.total) },
      macro: { precision: mean('precision'), recall: mean('recall'), f1: mean('f1') },
      perType,
    };
  }
}

const key = (m: Mention) => `${m.start}:${m.end}:${m.label}`;

/** Exact-span scores: mention sets compared per sentence. */
export function exactScores(sentences: readonly EvalSentence[]): ScoreTable {
  const t = new Tally();
  for (const s of sentences) {
    const gold = new Set(s.gold.map(key));
    for (const m of s.gold) t.add('gold', m.label);
    for (const m of s.pred) {
      t.add('pred', m.label);
      if (gold.has(key(m))) t.add('correct', m.label);
    }
  }
  return t.table();
}

/** Bag of (surface, type) per sentence: a prediction is correct if the gold bag still holds it. */
export function bagScores(sentences: readonly EvalSentence[]): ScoreTable {
  const t = new Tally();
  for (const s of sentences) {
    const bag = new Map<string, number>();
    for (const m of s.gold) {
      if (m.surface === undefined) throw new Error('bag-of-mentions scores need mention surfaces');
      const k = `${m.surface}\u0000${m.label}`;
      bag.set(k, (bag.get(k) ?? 0) + 1);
      t.add('gold', m.label);
    }
    for (const m of s.pred) {
      if (m.surface === undefined) throw new Error('bag-of-mentions scores need mention surfaces');
      t.add('pred', m.label);
      const k = `${m.surface}\u0000${m.label}`;
      const left = bag.get(k) ?? 0;
      if (left > 0) {
        bag.set(k, left - 1);
        t.add('correct', m.label);
      }
    }
  }
  return t.table();
}

export function errorBreakdown(sentences: readonly EvalSentence[]): ErrorBreakdown {
  const e: ErrorBreakdown = {
    correct: 0,
    wrongType: 0,
    wrongBoundary: 0,
    wrongBoundaryAndType: 0,
    spurious: 0,
    missed: 0,
  };
  const overlaps = (a: Mention, b: Mention) => a.start < b.end && b.start < a.end;
  for (const s of sentences) {
    for (const p of s.pred) {
      if (s.gold.some((g) => key(g) === key(p))) e.correct++;
      else if (s.gold.some((g) => g.start === p.start && g.end === p.end)) e.wrongType++;
      else if (s.gold.some((g) => overlaps(g, p) && g.label === p.label)) e.wrongBoundary++;
      else if (s.gold.some((g) => overlaps(g, p))) e.wrongBoundaryAndType++;
      else e.spurious++;
    }
    for (const g of s.gold) if (!s.pred.some((p) => overlaps(g, p))) e.missed++;
  }
  return e;
}

export function evaluate(sentences: readonly EvalSentence[]): EvalReport {
  const withEnt = sentences.filter((s) => s.gold.length > 0);
  const hasSurfaces = sentences.every(
    (s) => s.gold.every((m) => m.surface !== undefined) && s.pred.every((m) => m.surface !== undefined),
  );
  const emptyTable: ScoreTable = {
    micro: { correct: 0, pred: 0, gold: 0, precision: 0, recall: 0, f1: 0 },
    macro: { precision: 0, recall: 0, f1: 0 },
    perType: [],
  };
  return {
    sentences: sentences.length,
    sentencesWithEntities: withEnt.length,
    exact: exactScores(sentences),
    bag: hasSurfaces ? bagScores(sentences) : emptyTable,
    errors: errorBreakdown(sentences),
    withEntitiesOnly: {
      sentences: withEnt.length,
      exact: exactScores(withEnt),
      bag: hasSurfaces ? bagScores(withEnt) : emptyTable,
      errors: errorBreakdown(withEnt),
    },
  };
}

export interface ConllevalCounts {
  correctChunk: number;
  foundGuessed: number;
  foundCorrect: number;
  correctTags: number;
  tokens: number;
  perType: Map<string, Counts>;
}

/**
 * Line-by-line port of conlleval's main loop (sentence boundaries are "O O" lines). Gold and
 * predicted tag sequences must have equal lengths sentence by sentence.
 */
export function conllevalStream(
  gold: readonly (readonly string[])[],
  pred: readonly (readonly string[])[],
): ConllevalCounts {
  if (gold.length !== pred.length)
    throw new Error(`conllevalStream: ${gold.length} gold vs ${pred.length} predicted sentences`);
  const r: ConllevalCounts = {
    correctChunk: 0,
    foundGuessed: 0,
    foundCorrect: 0,
    correctTags: 0,
    tokens: 0,
    perType: new Map(),
  };
  const bump = (t: string, f: keyof Counts) => {
    const c = r.perType.get(t) ?? { correct: 0, pred: 0, gold: 0 };
    c[f]++;
    r.perType.set(t, c);
  };
  const lines: [string, string, boolean][] = [];
  gold.forEach((g, i) => {
    const p = pred[i] as readonly string[];
    if (g.length !== p.length)
      throw new Error(`conllevalStream: sentence ${i + 1} has ${g.length} gold and ${p.length} predicted tags`);
    g.forEach((t, j) => lines.push([t, p[j] as string, false]));
    lines.push(['O', 'O', true]);
  });
  const sp = (t: string): [string, string] => {
    const i = t.indexOf('-');
    return i < 0 ? [t, ''] : [t.slice(0, i), t.slice(i + 1)];
  };
  let inCorrect = false;
  let lastCorrect = 'O',
    lastCorrectType = '',
    lastGuessed = 'O',
    lastGuessedType = '';
  for (const [gt, pt, boundary] of lines) {
    const [correct, correctType] = sp(gt);
    const [guessed, guessedType] = sp(pt);
    if (inCorrect) {
      const ge = endOfChunk(lastCorrect, correct, lastCorrectType, correctType);
      const pe = endOfChunk(lastGuessed, guessed, lastGuessedType, guessedType);
      if (ge && pe && lastGuessedType === lastCorrectType) {
        inCorrect = false;
        r.correctChunk++;
        bump(lastCorrectType, 'correct');
      } else if (ge !== pe || guessedType !== correctType) {
        inCorrect = false;
      }
    }
    const gs = startOfChunk(lastCorrect, correct, lastCorrectType, correctType);
    const ps = startOfChunk(lastGuessed, guessed, lastGuessedType, guessedType);
    if (gs && ps && guessedType === correctType) inCorrect = true;
    if (gs) {
      r.foundCorrect++;
      bump(correctType, 'gold');
    }
    if (ps) {
      r.foundGuessed++;
      bump(guessedType, 'pred');
    }
    if (!boundary) {
      if (correct === guessed && guessedType === correctType) r.correctTags++;
      r.tokens++;
    }
    lastCorrect = correct;
    lastCorrectType = correctType;
    lastGuessed = guessed;
    lastGuessedType = guessedType;
  }
  if (inCorrect) {
    r.correctChunk++;
    bump(lastCorrectType, 'correct');
  }
  return r;
}
