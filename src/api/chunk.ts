// Long texts for a model with a fixed input limit: split into pieces the model sees whole (never truncated), entities
// predicted per piece mapped back to the text's offsets, duplicates from overlapping pieces merged.
//
// A text that fits is one piece (as `cyclener predict` sees it). A longer one is cut at sentence boundaries
// (Intl.Segmenter): the model was trained on sentences, and short pieces keep the generated entity sequence short. A
// sentence that still does not fit is cut into word windows that overlap by `overlapTokens`, so a name cut at one
// window's edge is whole in the next.

/** A piece of a text: [start, end) in UTF-16 units. */
export interface Piece {
  start: number;
  end: number;
}

/** Token counts of texts as the model would encode them (task prefix and end-of-sequence included). */
export type CountTokens = (texts: string[]) => Promise<number[]>;

export interface ChunkOptions {
  /** The model's input limit in tokens (prefix and EOS included). */
  maxTokens: number;
  /** Tokens shared by consecutive windows of an over-long sentence. */
  overlapTokens: number;
}

/** Whitespace-trimmed ranges of the sentences of `text`. */
export function sentenceRanges(text: string, from = 0, to = text.length): Piece[] {
  const seg = new Intl.Segmenter('en', { granularity: 'sentence' });
  const out: Piece[] = [];
  for (const s of seg.segment(text.slice(from, to))) {
    const r = trimRange(text, from + s.index, from + s.index + s.segment.length);
    if (r) out.push(r);
  }
  return out;
}

function trimRange(text: string, start: number, end: number): Piece | null {
  while (start < end && /\s/.test(text[start] as string)) start++;
  while (end > start && /\s/.test(text[end - 1] as string)) end--;
  return end > start ? { start, end } : null;
}

/** Pieces of `text` that each fit in `maxTokens`; none for a text that is only whitespace. */
export async function chunkText(text: string, count: CountTokens, o: ChunkOptions): Promise<Piece[]> {
  const whole = trimRange(text, 0, text.length);
  if (!whole) return [];
  const [n, overhead] = await count([text.slice(whole.start, whole.end), '']);
  if ((n as number) <= o.maxTokens) return [whole];
  const room = o.maxTokens - (overhead as number);
  if (room < 1) throw new Error(`chunkText: maxTokens ${o.maxTokens} leaves no room after the task prefix`);
  const sentences = sentenceRanges(text, whole.start, whole.end);
  const counts = await count(sentences.map((s) => text.slice(s.start, s.end)));
  const out: Piece[] = [];
  for (let i = 0; i < sentences.length; i++) {
    const s = sentences[i] as Piece;
    if ((counts[i] as number) <= o.maxTokens) out.push(s);
    else out.push(...(await windows(text, s, count, overhead as number, room, o.overlapTokens)));
  }
  return out;
}

/** Overlapping word windows over an over-long sentence, each verified to fit. */
async function windows(
  text: string,
  s: Piece,
  count: CountTokens,
  overhead: number,
  room: number,
  overlap: number,
): Promise<Piece[]> {
  const words: Piece[] = [];
  for (const m of text.slice(s.start, s.end).matchAll(/\S+/g))
    words.push({ start: s.start + (m.index as number), end: s.start + (m.index as number) + m[0].length });
  const sizes = (await count(words.map((w) => text.slice(w.start, w.end)))).map((c) => c - overhead);
  // A single word longer than the limit (a URL, a base64 blob) is cut into character runs that fit.
  const units: { piece: Piece; size: number }[] = [];
  words.forEach((w, i) => {
    const size = sizes[i] as number;
    if (size <= room) {
      units.push({ piece: w, size });
      return;
    }
    const step = Math.max(1, Math.floor(((w.end - w.start) * room) / size / 2));
    for (let a = w.start; a < w.end; a += step)
      units.push({ piece: { start: a, end: Math.min(w.end, a + step) }, size: room });
  });
  const out: Piece[] = [];
  let first = 0;
  while (first < units.length) {
    let last = first;
    let used = (units[first] as { size: number }).size;
    while (last + 1 < units.length && used + (units[last + 1] as { size: number }).size <= room)
      used += (units[++last] as { size: number }).size;
    // The sum of per-word counts is an estimate: drop words from the end until the real count fits.
    for (;;) {
      const piece = {
        start: (units[first] as { piece: Piece }).piece.start,
        end: (units[last] as { piece: Piece }).piece.end,
      };
      const [n] = await count([text.slice(piece.start, piece.end)]);
      if ((n as number) <= room + overhead || last === first) {
        out.push(piece);
        break;
      }
      last--;
    }
    if (last + 1 >= units.length) break;
    // The next window starts `overlap` tokens back from this one's end, always at least one word further on.
    let next = last + 1;
    let shared = 0;
    while (next - 1 > first && shared + (units[next - 1] as { size: number }).size <= overlap)
      shared += (units[--next] as { size: number }).size;
    first = next;
  }
  return out;
}

export interface PlacedEntity {
  start: number;
  end: number;
  label: string;
  score?: number;
}

/**
 * Entities of all pieces of one text, in text offsets: the same span and label found by two overlapping pieces is
 * kept once, the better-scored of them (each window scored it in its own context); of two overlapping different
 * spans, the one farther from its piece's edges wins (a name cut at a window edge loses to the whole name in the next
 * window). Sorted by start. Other fields of an entity are kept.
 */
export function mergePieces<E extends PlacedEntity>(
  pieces: readonly Piece[],
  perPiece: readonly (readonly E[])[],
): E[] {
  const all: { e: E; margin: number }[] = [];
  pieces.forEach((p, i) => {
    for (const e of perPiece[i] ?? []) {
      const g = { ...e, start: p.start + e.start, end: p.start + e.end };
      all.push({ e: g, margin: Math.min(g.start - p.start, p.end - g.end) });
    }
  });
  all.sort((a, b) => b.margin - a.margin || a.e.start - b.e.start);
  // Copies of one span and label: the best-scored wins (on a tie the farthest from its edges, as before scores).
  const same = new Map<string, { e: E; margin: number }>();
  for (const x of all) {
    const k = `${x.e.start}:${x.e.end}:${x.e.label}`;
    const d = same.get(k);
    if (!d) same.set(k, { ...x });
    else if ((x.e.score ?? -1) > (d.e.score ?? -1)) d.e = x.e;
  }
  const kept: E[] = [];
  for (const { e } of same.values()) if (kept.every((k) => e.end <= k.start || e.start >= k.end)) kept.push(e);
  return kept.sort((a, b) => a.start - b.start || a.end - b.end);
}
