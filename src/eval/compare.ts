// Pair gold sentences with predictions given as tags (CoNLL columns), character spans (JSONL) or
// generated entity sequences (one per line, aligned onto the gold text), and turn both sides into
// mentions in one coordinate system for the metrics.

import { DataError } from '../data/errors';
import { addAlignCounts, alignPrediction, emptyAlignCounts, type AlignCounts, type AlignOptions } from '../data/align';
import type { LabeledCorpus } from '../data/readers';
import type { LabeledSentence, Mention } from '../data/types';
import type { Verbalizer } from '../data/verbalizer';
import type { EvalSentence } from './metrics';

export function tokenMentions(s: LabeledSentence): Mention[] {
  return s.entities.map((e) => ({ start: e.start, end: e.end, label: e.label, surface: e.surface }));
}

export function charMentions(s: LabeledSentence): Mention[] {
  return s.entities.map((e) => ({ start: e.charStart, end: e.charEnd, label: e.label, surface: e.surface }));
}

const lineOf = (s: LabeledSentence) => s.source?.line;

/** The per-type row of predicted surfaces that came without a type ("Narnia <sep>"). */
export const UNTYPED = '(no type)';

/** Gold vs predicted corpora (tags or JSONL). Token coordinates when both are token files. */
export function compareCorpora(gold: LabeledCorpus, pred: LabeledCorpus): EvalSentence[] {
  if (gold.sentences.length !== pred.sentences.length) {
    throw new DataError(
      pred.file,
      undefined,
      `has ${pred.sentences.length} sentences but the gold file ${gold.file} has ${gold.sentences.length}`,
    );
  }
  const byTokens = gold.format !== 'jsonl' && pred.format !== 'jsonl';
  return gold.sentences.map((g, i) => {
    const p = pred.sentences[i] as LabeledSentence;
    if (byTokens) {
      if (g.tokens.length !== p.tokens.length || g.tokens.some((t, k) => t !== p.tokens[k])) {
        const k = g.tokens.findIndex((t, j) => t !== p.tokens[j]);
        throw new DataError(
          pred.file,
          lineOf(p),
          `sentence ${i + 1} does not match the gold sentence at ${gold.file}:${lineOf(g)} (token ${k + 1}: gold "${g.tokens[k] ?? '(end)'}", predicted "${p.tokens[k] ?? '(end)'}")`,
        );
      }
      return { gold: tokenMentions(g), pred: tokenMentions(p) };
    }
    if (g.text !== p.text) {
      throw new DataError(
        pred.file,
        lineOf(p),
        `sentence ${i + 1} text differs from the gold sentence at ${gold.file}:${lineOf(g)} ("${p.text.slice(0, 40)}" vs "${g.text.slice(0, 40)}")`,
      );
    }
    return { gold: charMentions(g), pred: charMentions(p) };
  });
}

export interface SequenceComparison {
  sentences: EvalSentence[];
  align: AlignCounts;
  /** Lines with parse problems (odd field count, empty surface or type). */
  malformed: number;
  /** Entities whose type word is not in the verbaliser (scored as wrong predictions). */
  unknownType: number;
  /** Per-sentence predicted IOB2 tags, for writing silver data. */
  tags: string[][];
}

/**
 * Gold corpus vs generated entity sequences (one per line, `<none>` or empty = no entities).
 * Entities that cannot be placed (hallucinated, unknown type) still count as predictions: they get
 * the position [-1, -1), so they can never be correct or overlap gold. `scores` (per line, one per entity) go to the
 * predicted mentions, for threshold sweeps.
 */
export function compareSequences(
  gold: LabeledCorpus,
  predFile: string,
  lines: readonly string[],
  verbalizer: Verbalizer,
  opts: AlignOptions = {},
  scores?: readonly (readonly number[])[],
): SequenceComparison {
  if (lines.length !== gold.sentences.length) {
    throw new DataError(
      predFile,
      undefined,
      `has ${lines.length} lines but the gold file ${gold.file} has ${gold.sentences.length} sentences (one entity sequence per sentence, <none> or an empty line for none)`,
    );
  }
  let align = emptyAlignCounts();
  let malformed = 0;
  let unknownType = 0;
  const tags: string[][] = [];
  const sentences = gold.sentences.map((g, i) => {
    const line = lines[i] as string;
    const a = alignPrediction(g, line, verbalizer, opts, scores?.[i]);
    align = addAlignCounts(align, a.counts);
    if (a.malformed) malformed++;
    unknownType += a.unknownType;
    tags.push(a.tags);
    // Bag scores compare the generated surfaces; unplaced predictions keep counting as wrong.
    const pred: Mention[] = a.entities.map((e, k) => ({
      start: e.start,
      end: e.end,
      label: e.label,
      surface: a.generated[k] as string,
      ...(e.score !== undefined ? { score: e.score } : {}),
    }));
    for (const u of a.unplaced)
      pred.push({
        start: -1,
        end: -1,
        label: u.label ?? (u.why === 'untyped' ? UNTYPED : u.type.toLowerCase()),
        surface: u.surface,
        ...(u.score !== undefined ? { score: u.score } : {}),
      });
    return { gold: tokenMentions(g), pred };
  });
  return { sentences, align, malformed, unknownType, tags };
}
