// Grounded S2E decoding (beyond the paper): through generate()'s allowedTokens hook, S2E may only
// emit `span <sep> type (<sep> span <sep> type)*` where every span is a run of the input sentence's
// own sub-tokens starting at a word boundary and every type is one of the known type words.
// A weak S2E can then neither collapse to a constant string nor hallucinate surfaces, which is what
// made cycle training from small base models work at all (see the note in the report).
//
// Spans are read off the tokenised sentence: the tokenizers used here split words independently
// (SentencePiece Metaspace with split, or word level), so a span tokenised on its own, as it is
// inside a training target, has exactly the sub-tokens it has inside the sentence.

import type { AllowedTokensFn } from '../t5/generation';
import type { DecodeConfig, Direction } from './seq2seq';
import type { T5Tokenizer } from '../t5/tokenizer';
import { codePointToUtf16 } from '../t5/normalize';

export interface GroundingOptions {
  /** Longest span in sub-tokens (default 24). */
  maxSpanTokens?: number;
  /** Allow the empty sequence (default true). Inside the cycles it is off by default: "nothing" is the
   *  easiest collapse for a weak S2E, and an E2S trained on empty Q′ learns nothing about entities. */
  allowEmpty?: boolean;
}

/** Token ids of a sentence and which of them start a word. */
export interface SentenceTokens {
  ids: number[];
  wordStart: boolean[];
  /** A span may end after this token: the next one starts a word or is punctuation, or none follows.
   *  Stops "Leicester" being cut out of "Leicestershire" while "Paris" of "Paris-based" stays possible. */
  canEnd?: boolean[];
  /** The token spells no character (a lone "▁" before a piece, or whitespace): a span may not end on it. */
  blank?: boolean[];
  /** The first non-space character from this token on is a letter or digit: only such word starts begin a span, so
   *  a surface always names something ("." or "-" alone never become an entity). */
  alnumStart?: boolean[];
}

export class SpanConstraint {
  private readonly starts: number[];
  private readonly maxSpan: number;
  private readonly allowEmpty: boolean;
  /** Per token: the first token at or after it where a span may end with no `<unk>` in between, or -1. */
  private readonly nextEnd: Int32Array;

  constructor(
    readonly sentence: SentenceTokens,
    readonly typeSeqs: readonly number[][],
    readonly sepId: number,
    readonly eosId: number,
    opts: GroundingOptions = {},
    readonly unkId = -1,
  ) {
    if (typeSeqs.length === 0) throw new Error('grounded decoding needs at least one type word');
    this.maxSpan = opts.maxSpanTokens ?? 24;
    const ids = sentence.ids;
    this.nextEnd = new Int32Array(ids.length + 1).fill(-1);
    for (let i = ids.length - 1; i >= 0; i--) {
      if (ids[i] === unkId) continue; // <unk> cannot be copied back faithfully, so spans never contain it
      this.nextEnd[i] = this.endsOk(i) ? i : (this.nextEnd[i + 1] as number);
    }
    // Only starts from which a whole span can be completed: decoding can then never dead-end inside a
    // word ("Bayern M" when the next piece was <unk>) or stop on an empty surface.
    this.starts = sentence.wordStart.flatMap((w, i) =>
      w && sentence.alnumStart?.[i] !== false && this.reachable(i, i) ? [i] : [],
    );
    // A sentence without any such start has no span to offer: then only the empty sequence remains.
    this.allowEmpty = (opts.allowEmpty ?? true) || this.starts.length === 0;
  }

  private endsOk(i: number): boolean {
    if (this.sentence.blank?.[i] === true) return false;
    return this.sentence.canEnd ? this.sentence.canEnd[i] === true : true;
  }

  /** A span from `start` that has reached token `j` can still be completed within maxSpan. */
  private reachable(start: number, j: number): boolean {
    const e = this.nextEnd[j] as number;
    return e >= 0 && e - start + 1 <= this.maxSpan;
  }

  private matches(start: number, toks: readonly number[]): boolean {
    const ids = this.sentence.ids;
    if (start + toks.length > ids.length) return false;
    for (let k = 0; k < toks.length; k++) if (ids[start + k] !== toks[k]) return false;
    return true;
  }

  /** `toks` is a complete span at `start`. */
  private completeAt(start: number, toks: readonly number[]): boolean {
    return toks.length > 0 && this.matches(start, toks) && this.endsOk(start + toks.length - 1);
  }

  /** Allowed next tokens after `prefix` (an empty array lets generate() emit only EOS). */
  allowed(prefix: ArrayLike<number>): Int32Array {
    // Re-parse the prefix: surface mode collects span tokens until <sep>, type mode collects type tokens.
    // Entities come in sentence order without overlap (as in the paper's format): `cursor` is the end
    // of the earliest placement of the previous spans, and the next span must start at or after it.
    const ids = this.sentence.ids;
    let inType = false;
    let cur: number[] = [];
    let cursor = 0;
    for (let i = 0; i < prefix.length; i++) {
      const x = prefix[i] as number;
      if (x !== this.sepId) {
        cur.push(x);
        continue;
      }
      if (!inType) {
        const at = this.starts.find((st) => st >= cursor && this.completeAt(st, cur));
        cursor = at === undefined ? ids.length : at + cur.length;
      }
      inType = !inType;
      cur = [];
    }
    const out = new Set<number>();
    if (inType) {
      const more = this.starts.some((st) => st >= cursor);
      for (const t of this.typeSeqs) {
        if (cur.length > t.length || !cur.every((x, k) => x === t[k])) continue;
        if (cur.length === t.length) {
          if (more) out.add(this.sepId);
          out.add(this.eosId);
        } else out.add(t[cur.length] as number);
      }
      return Int32Array.from(out);
    }
    if (cur.length === 0 && prefix.length === 0 && this.allowEmpty) out.add(this.eosId); // the empty sequence: no entities
    if (this.starts.some((st) => st >= cursor && this.completeAt(st, cur))) out.add(this.sepId);
    for (const s of this.starts) {
      const j = s + cur.length;
      if (s < cursor || j >= ids.length || !this.matches(s, cur) || !this.reachable(s, j)) continue;
      out.add(ids[j] as number);
    }
    return Int32Array.from(out);
  }
}

/** Tokens whose piece spells nothing: only the Metaspace marker "▁" or whitespace. */
const BLANK_PIECE = /^[\s▁]*$/u;

/**
 * Tokenise sentences (no prefix, no EOS) as the model sees them (after the tokenizer's normalisation),
 * with word-start, can-end and blank flags from the character offsets.
 */
export async function sentenceTokens(tokenizer: T5Tokenizer, texts: readonly string[]): Promise<SentenceTokens[]> {
  if (texts.length === 0) return [];
  const norm = texts.map((t) => tokenizer.normalize(t).text);
  const encs = await tokenizer.inner.encodeBatch(norm, { addSpecialTokens: false });
  return encs.map((e, b) => {
    const text = norm[b] as string;
    const ids = e.getIds();
    const pieces = e.getTokens();
    // `tokenizers` offsets count code points; JS strings index UTF-16 units (they differ after an emoji).
    const u16 = codePointToUtf16(text);
    const offs = e.getOffsets().map(([s, en]) => [u16[s] ?? text.length, u16[en] ?? text.length] as const);
    // A token starts a word when it starts the text, or its span begins at / right after whitespace
    // (Metaspace pieces "▁x" cover the preceding space; word-level tokens follow it).
    const wordStart = ids.map((_, i) => {
      const st = (offs[i] as readonly [number, number])[0];
      return st === 0 || /\s/.test(text[st] ?? '') || /\s/.test(text[st - 1] ?? '');
    });
    const canEnd = ids.map((_, i) => {
      if (i + 1 >= ids.length || wordStart[i + 1]) return true;
      const next = String.fromCodePoint(text.codePointAt((offs[i + 1] as readonly [number, number])[0]) ?? 32);
      return !/[\p{L}\p{N}\p{M}]/u.test(next);
    });
    const blank = ids.map((_, i) => BLANK_PIECE.test(pieces[i] ?? ''));
    const alnumStart = ids.map((_, i) =>
      /^\s*[\p{L}\p{N}]/u.test(text.slice((offs[i] as readonly [number, number])[0])),
    );
    return { ids, wordStart, canEnd, blank, alnumStart };
  });
}

export async function typeTokenSeqs(tokenizer: T5Tokenizer, types: readonly string[]): Promise<number[][]> {
  const seqs = await tokenizer.encodeBatch([...types], { addEos: false });
  seqs.forEach((s, i) => {
    if (s.length === 0) throw new Error(`type word "${types[i]}" tokenises to nothing`);
  });
  return seqs;
}

/** One constraint per sentence, as an allowedTokens hook for a batch. */
export async function groundingHook(
  tokenizer: T5Tokenizer,
  texts: readonly string[],
  types: readonly string[],
  opts: GroundingOptions = {},
): Promise<AllowedTokensFn> {
  if (tokenizer.sepId < 0) throw new Error('grounded decoding: the tokenizer has no <sep> token');
  const [sents, typeSeqs] = await Promise.all([sentenceTokens(tokenizer, texts), typeTokenSeqs(tokenizer, types)]);
  const cons = sents.map(
    (s) => new SpanConstraint(s, typeSeqs, tokenizer.sepId, tokenizer.eosId, opts, tokenizer.unkId),
  );
  return (b, prefix) => (cons[b] as SpanConstraint).allowed(prefix);
}

/** S2E generation as the cycles do it: Q′ for a batch of sentences and each output's mean token log-probability. */
export type S2EGenerate = (
  sentences: readonly string[],
  seed?: number,
) => Promise<{ texts: string[]; meanLogProbs: number[] }>;

/** The one S2E generator of the cycles (the S-cycle, the dev S-cycle and the samples): the cycles' decode settings,
 *  grounded in each batch's own sentences unless `grounded` is off. */
export function cycleS2EGenerate(
  s2e: Direction,
  decode: DecodeConfig,
  types: readonly string[],
  opts: { grounded: boolean; allowEmpty: boolean },
): S2EGenerate {
  return async (sentences, seed = 0) => {
    const hook = opts.grounded
      ? await groundingHook(s2e.tokenizer, sentences, types, { allowEmpty: opts.allowEmpty })
      : undefined;
    return s2e.generateScored(sentences, decode, hook, seed);
  };
}
