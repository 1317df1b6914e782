// Detokenisation of token lists into natural text for the seq2seq models, keeping an exact
// token -> character map (tokens are never altered, only the spaces between them are chosen),
// so spans found in the text map back to tokens and vice versa.
//
// English rules in the spirit of the Moses detokeniser: no space before closing punctuation
// and clitics ("n't", "'s"), none after opening brackets and currency signs, straight double
// quotes alternate open/close within a sentence. Hyphens keep their spaces ("NFI - DNA"), as in
// the paper's BC2GM examples.

import type { Range } from './types';

const NO_SPACE_BEFORE = new Set([
  ',',
  '.',
  ';',
  ':',
  '!',
  '?',
  '%',
  ')',
  ']',
  '}',
  '...',
  "''",
  '..',
  '!!',
  '?!',
  '!?',
]);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '$', '``', '£', '€', '#']);
const CLITICS = /^(?:n't|'s|'S|'re|'ve|'ll|'d|'m|'RE|'VE|'LL|'D|'M|N'T)$/;

export interface Detokenized {
  text: string;
  offsets: Range[];
}

export function detokenize(tokens: readonly string[]): Detokenized {
  const offsets: Range[] = [];
  let text = '';
  let quoteOpen = false; // inside a straight "..." pair
  let glueNext = false; // previous token asked for no space after it
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as string;
    let space = i > 0 && !glueNext;
    let glueAfter = NO_SPACE_AFTER.has(tok);
    if (NO_SPACE_BEFORE.has(tok) || CLITICS.test(tok)) space = false;
    if (tok === '"') {
      if (quoteOpen)
        space = false; // closing quote hugs the previous word
      else glueAfter = true; // opening quote hugs the next word
      quoteOpen = !quoteOpen;
    }
    // "#" only glues when a word follows (hashtags split as "# tag"), never at sentence end.
    if (tok === '#' && i + 1 < tokens.length && !/^\w/.test(tokens[i + 1] as string)) glueAfter = false;
    if (space) text += ' ';
    offsets.push({ start: text.length, end: text.length + tok.length });
    text += tok;
    glueNext = glueAfter;
  }
  return { text, offsets };
}

/** Simple word tokenizer for raw text (JSONL input): whitespace, then punctuation split off words. */
export function tokenizeText(text: string): Range[] {
  const out: Range[] = [];
  // Combining marks stay in their word ("Mu\u0308ller" is one token); an emoji keeps its modifiers and
  // ZWJ-joined parts (one token for a family emoji, not five).
  const re =
    /[\p{L}\p{N}_][\p{L}\p{N}\p{M}_]*(?:['’]\p{L}[\p{L}\p{M}]*)*|[^\s\p{L}\p{N}_][\p{M}\u{1F3FB}-\u{1F3FF}]*(?:\u200d[^\s\p{L}\p{N}_][\p{M}\u{1F3FB}-\u{1F3FF}]*)*/gu;
  // Keep each whitespace-separated chunk intact when it mixes letters and punctuation in a URL/handle-like way.
  const chunkRe = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = chunkRe.exec(text)) !== null) {
    const chunk = m[0];
    const base = m.index;
    if (/^(?:https?:\/\/|www\.|@|#)\S+$/u.test(chunk)) {
      // URL/handle/hashtag stays one token; trailing sentence punctuation is split off.
      const body = chunk.replace(/[.,!?;:)"']+$/u, '');
      out.push({ start: base, end: base + body.length });
      for (let i = body.length; i < chunk.length; i++) out.push({ start: base + i, end: base + i + 1 });
      continue;
    }
    let w: RegExpExecArray | null;
    re.lastIndex = 0;
    while ((w = re.exec(chunk)) !== null) out.push({ start: base + w.index, end: base + w.index + w[0].length });
  }
  return out;
}
