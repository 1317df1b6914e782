// Character normalisation for vocabularies without byte fallback. The shipped base's SentencePiece
// vocabulary was trained on English news and has no é, ü, ç, ã, ß or emoji: each becomes `<unk>`,
// which the model cannot copy back and grounded decoding cannot match. Before a text is tokenised,
// characters the vocabulary lacks are mapped to ones it has (é→e, ß→ss, – → -, emoji → space), and
// every normalised UTF-16 unit remembers the original range it came from, so predicted spans map
// back to the original offsets and surfaces ("Bayern München", not "Bayern Munchen").
//
// Which characters are kept is decided by the vocabulary (see `fromTokenizerJson`), never by a
// fixed list: a vocabulary that has é keeps é; a byte-fallback or word-level vocabulary is not
// normalised at all.

/** A normalised text and, for each of its UTF-16 units, the original range [start, end) it came from. */
export interface NormalizedText {
  original: string;
  text: string;
  /** Per normalised unit: start of its source in `original` (non-decreasing). */
  start: Int32Array;
  /** Per normalised unit: end of its source in `original` (dropped marks after it included). */
  end: Int32Array;
}

/** Candidates for characters NFKD does not reduce to ASCII; the first one the vocabulary covers wins. */
const FALLBACKS: Record<string, string[]> = {
  ß: ['ss'],
  ẞ: ['SS'],
  æ: ['ae'],
  Æ: ['AE'],
  œ: ['oe'],
  Œ: ['OE'],
  ø: ['o'],
  Ø: ['O'],
  đ: ['d'],
  Đ: ['D'],
  ð: ['d'],
  Ð: ['D'],
  þ: ['th'],
  Þ: ['Th'],
  ł: ['l'],
  Ł: ['L'],
  ı: ['i'],
  ħ: ['h'],
  Ħ: ['H'],
  '‘': ["'", '’'],
  '⁄': ['/'],
  '’': ["'"],
  '‚': [','],
  '‛': ["'"],
  '′': ["'"],
  '´': ["'"],
  '`': ["'"],
  '‹': ["'"],
  '›': ["'"],
  '“': ['"'],
  '”': ['"'],
  '„': ['“', '"'],
  '‟': ['"'],
  '″': ['"'],
  '«': ['“', '"'],
  '»': ['”', '"'],
  '‐': ['-'],
  '‑': ['-'],
  '‒': ['-'],
  '–': ['-'],
  '—': ['-'],
  '―': ['-'],
  '−': ['-'],
  '•': ['-'],
  '·': ['-'],
  '[': ['('],
  ']': [')'],
  '{': ['('],
  '}': [')'],
};

const MARKS = /\p{M}/gu;
const DROPPED = /^[\p{M}\p{Cf}]$/u; // combining marks, ZWJ/ZWNJ, variation selectors, soft hyphen, BOM
const LETTER_OR_DIGIT = /^[\p{L}\p{N}]$/u;

export class CharNormalizer {
  private readonly cache = new Map<string, string | null>();
  private readonly protect: RegExp | null;

  /**
   * `covered`: the characters the vocabulary can spell (space is always covered: the pre-tokenizer
   * handles it). `protect`: strings passed through unchanged (added tokens such as `<sep>`, `<extra_id_0>`).
   */
  constructor(
    readonly covered: ReadonlySet<string>,
    protect: readonly string[] = [],
  ) {
    const alts = [...protect]
      .filter((p) => p !== '')
      .sort((a, b) => b.length - a.length)
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.protect = alts.length > 0 ? new RegExp(alts.join('|'), 'g') : null;
  }

  /**
   * The normaliser a tokenizer.json needs, or null when none: byte fallback spells every character,
   * and a word-level vocabulary has no notion of characters. Coverage = characters of the model's
   * non-special pieces.
   */
  static fromTokenizerJson(json: string | Record<string, unknown>): CharNormalizer | null {
    const j = (typeof json === 'string' ? JSON.parse(json) : json) as {
      added_tokens?: Array<{ content: string; special?: boolean }>;
      model?: { type?: string; byte_fallback?: boolean; vocab?: Array<[string, number]> | Record<string, number> };
    };
    const m = j.model;
    if (!m || m.byte_fallback === true || (m.type !== 'Unigram' && m.type !== 'BPE') || !m.vocab) return null;
    const added = (j.added_tokens ?? []).map((t) => t.content);
    const skip = new Set(added);
    const pieces = Array.isArray(m.vocab) ? m.vocab.map((p) => p[0]) : Object.keys(m.vocab);
    const covered = new Set<string>();
    for (const p of pieces) if (!skip.has(p)) for (const c of p) if (c !== '▁') covered.add(c);
    return new CharNormalizer(covered, added);
  }

  /** The covered replacement for one code point, '' to drop it, or null to keep it (it stays `<unk>`). */
  private mapChar(c: string): string | null {
    const hit = this.cache.get(c);
    if (hit !== undefined) return hit;
    let out: string | null;
    if (/^\s$/u.test(c)) out = ' ';
    else if (DROPPED.test(c)) out = '';
    else {
      const cands = [...(FALLBACKS[c] ?? []), c.normalize('NFKD').replace(MARKS, '')];
      out = cands.find((s) => s !== '' && [...s].every((x) => this.isCovered(x))) ?? null;
      // Symbols and emoji become a space (a word boundary); letters and digits without any spelling are kept
      // (one `<unk>` inside their word) so a word is never split in two.
      if (out === null && !LETTER_OR_DIGIT.test(c)) out = ' ';
    }
    this.cache.set(c, out);
    return out;
  }

  private isCovered(c: string): boolean {
    return c === ' ' || this.covered.has(c);
  }

  /** Just the normalised string (the tokenizer's hot path): the input itself when nothing changes. */
  normalizeString(text: string): string {
    let changed = false;
    for (const c of text)
      if (!this.isCovered(c)) {
        changed = true;
        break;
      }
    return changed ? this.normalize(text).text : text;
  }

  normalize(text: string): NormalizedText {
    let out = '';
    const start: number[] = [];
    const end: number[] = [];
    let groupFrom = 0; // first normalised unit of the last emitted original character
    const emit = (s: string, from: number, to: number) => {
      if (s === '') {
        // A dropped mark belongs to the character before it: "e\u0301" → "e" whose source is both units.
        for (let k = groupFrom; k < end.length; k++) end[k] = to;
        return;
      }
      groupFrom = out.length;
      out += s;
      for (let k = 0; k < s.length; k++) {
        start.push(from);
        end.push(to);
      }
    };
    const plain = (from: number, to: number) => {
      let i = from;
      while (i < to) {
        const cp = text.codePointAt(i) as number;
        const c = String.fromCodePoint(cp);
        const w = c.length;
        emit(this.isCovered(c) ? c : (this.mapChar(c) ?? c), i, i + w);
        i += w;
      }
    };
    let last = 0;
    if (this.protect) {
      this.protect.lastIndex = 0;
      for (let m = this.protect.exec(text); m !== null; m = this.protect.exec(text)) {
        plain(last, m.index);
        for (let k = 0; k < m[0].length; k++) emit(m[0][k] as string, m.index + k, m.index + k + 1);
        last = m.index + m[0].length;
      }
    }
    plain(last, text.length);
    return { original: text, text: out, start: Int32Array.from(start), end: Int32Array.from(end) };
  }
}

/** The identity normalisation (no normaliser, or nothing to change). */
export function identityText(text: string): NormalizedText {
  const start = new Int32Array(text.length);
  const end = new Int32Array(text.length);
  for (let i = 0; i < text.length; i++) {
    start[i] = i;
    end[i] = i + 1;
  }
  return { original: text, text, start, end };
}

/** Original range of the normalised range [a, b) (a < b). */
export function toOriginalRange(n: NormalizedText, a: number, b: number): { start: number; end: number } {
  if (a < 0 || b > n.text.length || a >= b)
    throw new Error(`toOriginalRange: [${a}, ${b}) is not a non-empty range of a ${n.text.length}-unit text`);
  return { start: n.start[a] as number, end: n.end[b - 1] as number };
}

/**
 * Normalised position of an original position: the first normalised unit whose source starts at or
 * after it (n.text.length past the end). Original token ranges map to normalised ranges this way.
 */
export function toNormalizedOffset(n: NormalizedText, i: number): number {
  let lo = 0;
  let hi = n.start.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((n.start[mid] as number) < i) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Code-point offsets (the `tokenizers` library's, Python's) → UTF-16 offsets of the same string. */
export function codePointToUtf16(text: string): Int32Array {
  const out: number[] = [];
  let i = 0;
  for (const c of text) {
    out.push(i);
    i += c.length;
  }
  out.push(i);
  return Int32Array.from(out);
}

/** UTF-16 offsets → code-point offsets (index k of the result = code points before UTF-16 unit k). */
export function utf16ToCodePoint(text: string): Int32Array {
  const out = new Int32Array(text.length + 1);
  let cp = 0;
  for (let i = 0; i < text.length; i++) {
    out[i] = cp;
    const u = text.charCodeAt(i);
    // The low half of a surrogate pair is inside the same code point.
    if (!(u >= 0xd800 && u <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00)) cp++;
  }
  out[text.length] = cp;
  return out;
}
