// The paper's Lexical Matcher baseline: a gazetteer (surface -> most frequent type) built from the
// entity sequences, matched case-sensitively over each sentence, longest match first, left to
// right, at token boundaries. Surfaces are compared with the sentence's detokenised text, which is
// how both Q surfaces and S sentences are produced, so multi-token names match exactly.

import type { SeqEntity } from '../data/entity-seq';
import type { LabeledCorpus } from '../data/readers';
import type { Entity, LabeledSentence, Range } from '../data/types';
import type { Verbalizer } from '../data/verbalizer';
import { charMentions, tokenMentions } from '../eval/compare';
import { evaluate, type EvalReport } from '../eval/metrics';

export class Gazetteer {
  /** surface -> type word. */
  readonly entries = new Map<string, string>();
  /** Longest entry in characters, to bound the search. */
  readonly maxChars: number;

  constructor(sequences: readonly (readonly SeqEntity[])[]) {
    const counts = new Map<string, Map<string, number>>();
    for (const seq of sequences)
      for (const e of seq) {
        const m = counts.get(e.surface) ?? new Map<string, number>();
        m.set(e.type, (m.get(e.type) ?? 0) + 1);
        counts.set(e.surface, m);
      }
    let maxChars = 0;
    for (const [surface, m] of counts) {
      // Most frequent type; ties go to the type seen first (Map keeps insertion order).
      let best = '';
      let bestN = 0;
      for (const [t, n] of m)
        if (n > bestN) {
          best = t;
          bestN = n;
        }
      this.entries.set(surface, best);
      maxChars = Math.max(maxChars, surface.length);
    }
    this.maxChars = maxChars;
  }

  get size(): number {
    return this.entries.size;
  }
}

export interface Match extends Range {
  /** Character range. */
  charStart: number;
  charEnd: number;
  type: string;
}

/** Longest gazetteer matches over whole tokens, left to right, non-overlapping. */
export function matchSentence(g: Gazetteer, s: { text: string; offsets: readonly Range[] }): Match[] {
  const out: Match[] = [];
  const n = s.offsets.length;
  let i = 0;
  while (i < n) {
    const cs = (s.offsets[i] as Range).start;
    let hit: Match | undefined;
    for (let j = i; j < n; j++) {
      const ce = (s.offsets[j] as Range).end;
      if (ce - cs > g.maxChars) break;
      const type = g.entries.get(s.text.slice(cs, ce));
      if (type !== undefined) hit = { start: i, end: j + 1, charStart: cs, charEnd: ce, type };
    }
    if (hit) {
      out.push(hit);
      i = hit.end;
    } else i++;
  }
  return out;
}

/** Predicted entities for a labelled sentence; `toLabel` maps type words back to dataset labels. */
export function predictEntities(
  g: Gazetteer,
  s: LabeledSentence,
  toLabel: (type: string) => string | undefined,
): Entity[] {
  return matchSentence(g, s).map((m) => ({
    start: m.start,
    end: m.end,
    charStart: m.charStart,
    charEnd: m.charEnd,
    label: toLabel(m.type) ?? m.type,
    surface: s.text.slice(m.charStart, m.charEnd),
  }));
}

/** Tag every sentence of `gold` and score it like every other system (character spans for JSONL, tokens otherwise). */
export function scoreLexicalMatcher(
  g: Gazetteer,
  gold: LabeledCorpus,
  v: Verbalizer,
): { preds: Entity[][]; report: EvalReport } {
  const preds = gold.sentences.map((s) => predictEntities(g, s, (t) => v.label(t)));
  const mentions = gold.format === 'jsonl' ? charMentions : tokenMentions;
  const report = evaluate(
    gold.sentences.map((s, i) => ({ gold: mentions(s), pred: mentions({ ...s, entities: preds[i]! }) })),
  );
  return { preds, report };
}
