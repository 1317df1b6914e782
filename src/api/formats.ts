// The output shapes of NerModel.predict, `cyclener predict` and `cyclener serve`: cyclener's own, the Hugging Face
// token-classification pipeline's (aggregated), spaCy displaCy's manual format and CoNLL columns. Every shape is made
// from one text and its entities in UTF-16 offsets, after the score threshold.

import { tokenizeText } from '../data/detok';
import { chunksToTags } from '../data/tags';
import { utf16ToCodePoint } from '../t5/normalize';

export const OUTPUT_FORMATS = ['cyclener', 'hf', 'spacy', 'conll'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export type OffsetUnit = 'utf16' | 'codepoints';

/** One entity: `text === input.slice(start, end)` with the default UTF-16 offsets, end exclusive. */
export interface NerEntity {
  start: number;
  end: number;
  text: string;
  /** The dataset label when the model knows one (e.g. `PER`), else the model's type word (e.g. `person`). */
  label: string;
  /** The decoder's probability of the entity in [0, 1], calibrated when the model records a temperature. */
  score: number;
}

/** The transformers `pipeline('token-classification', aggregation_strategy='simple')` shape of one entity. */
export interface HfEntity {
  entity_group: string;
  score: number;
  word: string;
  start: number;
  end: number;
}

/** displaCy's manual input (`displacy.render(doc, style='ent', manual=True)`). */
export interface SpacyDoc {
  text: string;
  ents: { start: number; end: number; label: string }[];
}

/** What one text becomes in each format: entities, HF entities, one displaCy doc, or CoNLL lines ("token TAG"). */
export type Shaped<F extends OutputFormat> = F extends 'hf'
  ? HfEntity[]
  : F extends 'spacy'
    ? SpacyDoc
    : F extends 'conll'
      ? string
      : NerEntity[];

/** Aligned entities (character offsets into `text`, with their scores) as NerEntity records. */
export function nerEntities(
  text: string,
  aligned: readonly { charStart: number; charEnd: number; label: string; score?: number }[],
): NerEntity[] {
  return aligned.map((e) => ({
    start: e.charStart,
    end: e.charEnd,
    text: text.slice(e.charStart, e.charEnd),
    label: e.label,
    score: e.score as number,
  }));
}

/** The entities scored at or above `threshold`. */
export function aboveThreshold<E extends { score?: number }>(entities: readonly E[], threshold: number): E[] {
  return threshold > 0 ? entities.filter((e) => (e.score ?? 1) >= threshold) : [...entities];
}

/** A threshold from a caller: a number in [0, 1]. */
export function checkThreshold(t: unknown, what: string): number {
  if (typeof t !== 'number' || !(t >= 0 && t <= 1))
    throw new RangeError(`${what}: threshold must be in [0, 1], got ${String(t)}`);
  return t;
}

/** One text's entities (UTF-16 offsets) in `format`, offsets in `unit` (CoNLL has none). */
export function shape<F extends OutputFormat>(
  text: string,
  entities: readonly NerEntity[],
  format: F,
  unit: OffsetUnit = 'utf16',
): Shaped<F> {
  const cp = unit === 'codepoints' ? utf16ToCodePoint(text) : null;
  const at = (x: number) => (cp ? (cp[x] as number) : x);
  let out: unknown;
  if (format === 'hf')
    out = entities.map((e) => ({
      entity_group: e.label,
      score: e.score,
      word: e.text,
      start: at(e.start),
      end: at(e.end),
    }));
  else if (format === 'spacy')
    out = { text, ents: entities.map((e) => ({ start: at(e.start), end: at(e.end), label: e.label })) };
  else if (format === 'conll') out = conllLines(text, entities);
  else out = entities.map((e) => ({ ...e, start: at(e.start), end: at(e.end) }));
  return out as Shaped<F>;
}

/** CoNLL columns of one text: its tokens (src/data/detok.ts tokenizeText) with IOB2 tags, one "token TAG" per line. */
export function conllLines(text: string, entities: readonly { start: number; end: number; label: string }[]): string {
  const toks = tokenizeText(text);
  const chunks = entities.flatMap((e) => {
    const idx = toks.flatMap((t, i) => (t.end > e.start && t.start < e.end ? [i] : []));
    return idx.length > 0
      ? [{ start: idx[0] as number, end: (idx[idx.length - 1] as number) + 1, label: e.label }]
      : [];
  });
  const tags = chunksToTags(toks.length, chunks, 'IOB2');
  return toks.map((t, i) => `${text.slice(t.start, t.end)} ${tags[i]}`).join('\n');
}
