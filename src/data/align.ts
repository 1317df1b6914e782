// Map a generated entity sequence back onto its sentence: left to right, in order, so the 2nd
// "Paris" of the sequence takes the 2nd Paris of the sentence. Matches at token boundaries are
// preferred; a case/whitespace-insensitive fallback and out-of-order matches are allowed but
// counted, and entities that cannot be found (hallucinations) are counted, never invented.

import { chunksToTags } from './tags';
import { tokenizeText } from './detok';
import { parseEntitySequence, type SeqEntity } from './entity-seq';
import type { Entity, Range } from './types';
import type { Verbalizer } from './verbalizer';

export interface AlignOptions {
  /** Try a case- and whitespace-insensitive match when the exact one fails (default true). */
  fallback?: boolean;
  /** Accept a match before the previous entity when none follows it (default true). */
  outOfOrder?: boolean;
}

export interface AlignedEntity extends SeqEntity {
  charStart: number;
  charEnd: number;
  /** Token range covering the match. */
  start: number;
  end: number;
  fallback: boolean;
  outOfOrder: boolean;
  /** The match cuts through a token (its tags cover the whole token). */
  partialToken: boolean;
  /** Its position in the entities given to alignEntities. */
  index: number;
}

export interface AlignCounts {
  entities: number;
  exact: number;
  fallback: number;
  outOfOrder: number;
  partialToken: number;
  hallucinated: number;
}

export interface AlignResult {
  aligned: AlignedEntity[];
  /** Entities not found, each with its position in the entities given. */
  hallucinated: (SeqEntity & { index: number })[];
  counts: AlignCounts;
}

export function emptyAlignCounts(): AlignCounts {
  return { entities: 0, exact: 0, fallback: 0, outOfOrder: 0, partialToken: 0, hallucinated: 0 };
}

export function addAlignCounts(a: AlignCounts, b: AlignCounts): AlignCounts {
  return {
    entities: a.entities + b.entities,
    exact: a.exact + b.exact,
    fallback: a.fallback + b.fallback,
    outOfOrder: a.outOfOrder + b.outOfOrder,
    partialToken: a.partialToken + b.partialToken,
    hallucinated: a.hallucinated + b.hallucinated,
  };
}

interface Normalised {
  s: string;
  map: number[];
}

function normalise(text: string): Normalised {
  let s = '';
  const map: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (/\s/.test(c)) continue;
    const l = c.toLowerCase();
    s += l.length === 1 ? l : c; // keep one char per source char so the map stays exact
    map.push(i);
  }
  return { s, map };
}

/** All occurrences of `surface` in `text`, as char ranges, exact or normalised. */
function occurrences(text: string, norm: Normalised, surface: string, fuzzy: boolean): Range[] {
  const out: Range[] = [];
  if (!fuzzy) {
    for (let i = text.indexOf(surface); i >= 0; i = text.indexOf(surface, i + 1))
      out.push({ start: i, end: i + surface.length });
    return out;
  }
  const pat = normalise(surface).s;
  if (pat === '') return out;
  for (let i = norm.s.indexOf(pat); i >= 0; i = norm.s.indexOf(pat, i + 1)) {
    out.push({ start: norm.map[i] as number, end: (norm.map[i + pat.length - 1] as number) + 1 });
  }
  return out;
}

export function alignEntities(
  text: string,
  entities: readonly SeqEntity[],
  offsets?: readonly Range[],
  opts: AlignOptions = {},
): AlignResult {
  const fallback = opts.fallback ?? true;
  const outOfOrder = opts.outOfOrder ?? true;
  const toks = offsets ?? tokenizeText(text);
  const starts = new Set(toks.map((t) => t.start));
  const ends = new Set(toks.map((t) => t.end));
  const norm = normalise(text);
  const used: Range[] = [];
  const aligned: AlignedEntity[] = [];
  const hallucinated: AlignResult['hallucinated'] = [];
  const counts = emptyAlignCounts();
  let cursor = 0;
  const free = (r: Range) => used.every((u) => r.end <= u.start || r.start >= u.end);
  const pick = (cands: Range[], from: number): { r: Range; partial: boolean } | undefined => {
    const ok = cands.filter((r) => r.start >= from && free(r));
    const whole = ok.find((r) => starts.has(r.start) && ends.has(r.end));
    if (whole) return { r: whole, partial: false };
    return ok.length > 0 ? { r: ok[0] as Range, partial: true } : undefined;
  };
  for (const [index, e] of entities.entries()) {
    counts.entities++;
    const exact = occurrences(text, norm, e.surface, false);
    const fuzzy = fallback ? occurrences(text, norm, e.surface, true) : [];
    const attempts: [Range[], number, boolean, boolean][] = [
      [exact, cursor, false, false],
      [fuzzy, cursor, true, false],
    ];
    if (outOfOrder) attempts.push([exact, 0, false, true], [fuzzy, 0, true, true]);
    let found: AlignedEntity | undefined;
    for (const [cands, from, fb, ooo] of attempts) {
      const hit = pick(cands, from);
      if (!hit) continue;
      const tokIdx = toks.map((t, i) => (t.end > hit.r.start && t.start < hit.r.end ? i : -1)).filter((i) => i >= 0);
      found = {
        surface: e.surface,
        type: e.type,
        charStart: hit.r.start,
        charEnd: hit.r.end,
        start: tokIdx[0] ?? 0,
        end: (tokIdx[tokIdx.length - 1] ?? 0) + 1,
        fallback: fb,
        outOfOrder: ooo,
        partialToken: hit.partial,
        index,
      };
      break;
    }
    if (!found) {
      hallucinated.push({ surface: e.surface, type: e.type, index });
      counts.hallucinated++;
      continue;
    }
    used.push({ start: found.charStart, end: found.charEnd });
    aligned.push(found);
    if (found.fallback) counts.fallback++;
    else counts.exact++;
    if (found.outOfOrder) counts.outOfOrder++;
    else cursor = found.charEnd;
    if (found.partialToken) counts.partialToken++;
  }
  return { aligned, hallucinated, counts };
}

export interface PredictionAlignment {
  /** Entities with dataset labels, sorted by position (surface = the sentence's text). */
  entities: Entity[];
  /** The generated surface of each entry of `entities` (differs after a fallback match). */
  generated: string[];
  /** Generated entities that could not be placed: not found, unknown type, no type at all (type ""), or overlapping. */
  unplaced: {
    surface: string;
    type: string;
    label: string | undefined;
    why: 'hallucinated' | 'unknown-type' | 'untyped' | 'overlap';
    /** Its score, when the sequence's entities were scored. */
    score?: number;
  }[];
  /** IOB2 tags over the sentence tokens. */
  tags: string[];
  counts: AlignCounts;
  /** The sequence had parse problems (odd fields, empty surface/type). */
  malformed: boolean;
  /** Entities whose type word the verbaliser does not know (dropped). */
  unknownType: number;
  problems: string[];
}

/**
 * Turn one generated entity sequence into labelled spans and IOB2 tags over a sentence.
 * Overlapping token ranges (two partial matches inside one token) keep the first. `scores`, one per well-formed
 * entity of the sequence in order, go with them to `entities[].score` and `unplaced[].score`.
 */
export function alignPrediction(
  sentence: { text: string; offsets: readonly Range[] },
  sequence: string,
  verbalizer: Verbalizer,
  opts: AlignOptions = {},
  scores?: readonly number[],
): PredictionAlignment {
  const parsed = parseEntitySequence(sequence);
  if (scores && scores.length !== parsed.entities.length)
    throw new Error(`alignPrediction: ${scores.length} scores for ${parsed.entities.length} entities of "${sequence}"`);
  const problems = [...parsed.problems];
  let unknownType = 0;
  const known: SeqEntity[] = [];
  const knownAt: number[] = [];
  const scored = (i: number) => (scores ? { score: scores[i] as number } : {});
  // A surface without a type was still predicted: it stays a (wrong) prediction instead of vanishing.
  const unplaced: PredictionAlignment['unplaced'] = parsed.untyped.map((surface) => ({
    surface,
    type: '',
    label: undefined,
    why: 'untyped',
  }));
  parsed.entities.forEach((e, i) => {
    if (verbalizer.label(e.type) === undefined) {
      unknownType++;
      problems.push(`unknown type "${e.type}" for "${e.surface}"`);
      unplaced.push({ ...e, label: undefined, why: 'unknown-type', ...scored(i) });
    } else {
      known.push(e);
      knownAt.push(i);
    }
  });
  const res = alignEntities(sentence.text, known, sentence.offsets, opts);
  for (const h of res.hallucinated)
    unplaced.push({
      surface: h.surface,
      type: h.type,
      label: verbalizer.label(h.type),
      why: 'hallucinated',
      ...scored(knownAt[h.index] as number),
    });
  const entities: Entity[] = [];
  const generated: string[] = [];
  let lastTokEnd = -1;
  for (const a of [...res.aligned].sort((x, y) => x.start - y.start)) {
    const label = verbalizer.label(a.type) as string;
    if (a.start < lastTokEnd) {
      problems.push(`"${a.surface}" overlaps the previous entity's tokens; dropped`);
      unplaced.push({ surface: a.surface, type: a.type, label, why: 'overlap', ...scored(knownAt[a.index] as number) });
      continue;
    }
    lastTokEnd = a.end;
    entities.push({
      start: a.start,
      end: a.end,
      charStart: a.charStart,
      charEnd: a.charEnd,
      label,
      surface: sentence.text.slice(a.charStart, a.charEnd),
      ...scored(knownAt[a.index] as number),
    });
    generated.push(a.surface);
  }
  const tags = chunksToTags(
    sentence.offsets.length,
    entities.map((e) => ({ start: e.start, end: e.end, label: e.label })),
    'IOB2',
  );
  return {
    entities,
    generated,
    unplaced,
    tags,
    counts: res.counts,
    malformed: parsed.problems.length > 0,
    unknownType,
    problems,
  };
}
