// Text-level pieces of the pretraining objectives, ported from tools/gpu/pretrain_t5.py (the GPU twin of
// `cyclener pretrain`): sentence splitting, word spans, capitalised/random fragments, entity-sequence serialisation.
// Character offsets are JS string (UTF-16) offsets; they are only used to slice the same string.

import type { Rng } from '../util/rng';
import { SEP } from '../data/entity-seq';

export const S2E_PREFIX = 'entities: ';
export const E2S_PREFIX = 'sentence: ';
export const DENOISE_PREFIX = 'denoise: ';
export const PSEUDO_TYPES = [
  'entity',
  'person',
  'location',
  'organization',
  'miscellaneous',
  'group',
  'product',
  'corporation',
  'creative work',
  'geopolitical',
  'date',
  'event',
  'facility',
  'gene',
  'nationality',
  'title',
];
const FUNCTION_WORDS = new Set(
  `the a an in on at for but and or of to he she it we they i this that these those his her its
their our my your there here when while after before as if by with from not no yes so then thus also however mr mrs ms dr`.split(
    /\s+/,
  ),
);
const CONNECTORS = new Set(['of', 'de', '&', 'and', 'for']);

// Python: (?<=[.!?])\s+(?=[A-Z"\'(])
const SENT_SPLIT = /(?<=[.!?])\s+(?=[A-Z"'(])/u;
// Python's [^\W_] (re.UNICODE) is a letter or digit: \p{L}\p{N}.
const WORD_RE = /[\p{L}\p{N}][\p{L}\p{N}_'&.-]*[\p{L}\p{N}]|[\p{L}\p{N}]|\S/gu;
const UPPER_START = /^\p{Lu}/u;
const ALNUM_START = /^[\p{L}\p{N}]/u;

/** Length in code points (Python's len), cheap when there are no surrogates. */
export function cpLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

/** A document's sentences: split after . ! ? before a capital/quote/paren, keeping those of 10..600 characters. */
export function splitSentences(line: string): string[] {
  const t = line.trim();
  if (!t) return [];
  const out: string[] = [];
  for (const raw of t.split(SENT_SPLIT)) {
    const s = raw.trim();
    const n = s.length < 10 ? 0 : cpLength(s);
    if (n >= 10 && n <= 600) out.push(s);
  }
  return out;
}

export interface WordSpan {
  word: string;
  start: number;
  end: number;
}

export function wordsWithSpans(sentence: string): WordSpan[] {
  const out: WordSpan[] = [];
  for (const m of sentence.matchAll(WORD_RE)) out.push({ word: m[0], start: m.index!, end: m.index! + m[0].length });
  return out;
}

const isCap = (w: string) => UPPER_START.test(w);

/** [start, end) spans of maximal capitalised runs; connectors (of, de, &, and, for) may join two capitalised words. */
export function capitalisedFragments(sentence: string): Array<[number, number]> {
  const ws = wordsWithSpans(sentence);
  const out: Array<[number, number]> = [];
  let i = 0;
  while (i < ws.length) {
    if (!isCap(ws[i]!.word)) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < ws.length) {
      if (isCap(ws[j]!.word)) j++;
      else if (CONNECTORS.has(ws[j]!.word) && j + 1 < ws.length && isCap(ws[j + 1]!.word)) j += 2;
      else break;
    }
    let run = ws.slice(i, j);
    while (run.length > 0 && FUNCTION_WORDS.has(run[0]!.word.toLowerCase())) run = run.slice(1);
    // A lone sentence-initial capital says nothing about names.
    if (run.length > 0 && !(i === 0 && j === 1)) out.push([run[0]!.start, run[run.length - 1]!.end]);
    i = j;
  }
  return out;
}

/** k random non-overlapping spans of 1-3 alphanumeric words, so E2S learns to place any fragment. */
export function randomFragments(sentence: string, rng: Rng, maxFrags = 4): Array<[number, number]> {
  const words = wordsWithSpans(sentence).filter((w) => ALNUM_START.test(w.word));
  if (words.length < 3) return [];
  const k = 1 + rng.int(Math.min(maxFrags, Math.max(1, Math.floor(words.length / 4))));
  const starts = sample(rng, words.length, k).sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  let lastEnd = -1;
  for (const s of starts) {
    if (s <= lastEnd) continue;
    const e = Math.min(words.length - 1, s + [0, 0, 1, 1, 2][rng.int(5)]!);
    out.push([words[s]!.start, words[e]!.end]);
    lastEnd = e;
  }
  return out;
}

/** k distinct integers from [0, n) (Python's random.sample over a range), in draw order. */
export function sample(rng: Rng, n: number, k: number): number[] {
  if (k > n) throw new Error(`sample: k=${k} > n=${n}`);
  const picked = new Set<number>();
  const out: number[] = [];
  while (out.length < k) {
    const x = rng.int(n);
    if (!picked.has(x)) {
      picked.add(x);
      out.push(x);
    }
  }
  return out;
}

/** "surface <sep> type <sep> surface <sep> type", the entity-sequence format of CycleNER. */
export function serialise(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([s, t]) => `${s} ${SEP} ${t}`).join(` ${SEP} `);
}
