// Unsupervised warm-ups before the cycles (no labels: only S, and for 'lexical' also Q).
// - fragments: S2E learns sentence → capitalised fragments (type placeholder "entity"), E2S learns
//   fragments → sentence. These are the tasks the base models were pretrained with
//   (tools/gpu/pretrain_t5.py); for a randomly initialised model they teach copying, which cycle training
//   cannot discover by itself from scratch (see docs/cycle.md).
// - lexical: silver pairs from the Lexical Matcher: a gazetteer built from Q is matched over S, and each
//   sentence with at least one match gives ⟨s, its matched entity sequence⟩. E2S learns to write real
//   sentences around typed entities (what a weak base E2S cannot do), S2E learns precise, low-recall tagging.

import * as T from '../tensor';
import { Rng } from '../util/rng';
import { tokenizeText } from '../data/detok';
import { formatEntitySequence, parseEntitySequence } from '../data/entity-seq';
import { Gazetteer, matchSentence } from '../baselines/lexical-matcher';
import type { T5ForConditionalGeneration } from '../t5/model';
import type { T5Tokenizer } from '../t5/tokenizer';
import type { Precision } from '../t5/precision';
import { nonFiniteStop } from '../t5/train';
import { Direction, trainStep } from './seq2seq';
import { swapNames, type SpannedPair } from './swap';

export const FRAGMENT_TYPE = 'entity';

/** Maximal runs of capitalised words, as an entity sequence with the placeholder type. */
export function fragmentSequence(sentence: string): string {
  const runs: string[] = [];
  let cur: string[] = [];
  for (const w of sentence.split(/\s+/)) {
    if (/^\p{Lu}/u.test(w)) cur.push(w);
    else if (cur.length > 0) {
      runs.push(cur.join(' '));
      cur = [];
    }
  }
  if (cur.length > 0) runs.push(cur.join(' '));
  return runs.map((r) => `${r} <sep> ${FRAGMENT_TYPE}`).join(' <sep> ');
}

/**
 * Silver ⟨sentence, entity sequence⟩ pairs: the Lexical Matcher with a gazetteer from Q (model-level sequences)
 * applied to S; sentences without a match are left out.
 */
export function lexicalSilverPairs(
  S: readonly string[],
  Q: readonly string[],
  o: { filter?: 'all' | 'covered'; prune?: boolean } = {},
): SpannedPair[] {
  const sequences = Q.map((q) => parseEntitySequence(q).entities);
  const common = o.prune ? commonWords(S) : null;
  const g = new Gazetteer(common ? sequences.map((q) => q.filter((e) => !common.has(e.surface))) : sequences);
  const out: SpannedPair[] = [];
  for (const text of S) {
    const offsets = tokenizeText(text);
    const m = matchSentence(g, { text, offsets });
    if (m.length === 0 || (o.filter === 'covered' && !capitalsCovered(text, offsets, m))) continue;
    out.push({
      sentence: text,
      sequence: formatEntitySequence(m.map((x) => ({ surface: text.slice(x.charStart, x.charEnd), type: x.type }))),
      spans: m.map((x) => ({ start: x.charStart, end: x.charEnd, type: x.type })),
    });
  }
  return out;
}

/**
 * Capitalised words that S writes more often in lower case than capitalised inside a sentence ("The", "An"): as
 * one-word names in Q they are annotation noise or sentence-initial words, and they match at every sentence start.
 */
export function commonWords(S: readonly string[]): Set<string> {
  const lower = new Map<string, number>();
  const midCap = new Map<string, number>();
  for (const text of S)
    tokenizeText(text).forEach((w, i) => {
      const word = text.slice(w.start, w.end);
      if (/^\p{Ll}/u.test(word)) lower.set(word, (lower.get(word) ?? 0) + 1);
      else if (i > 0 && /^\p{Lu}/u.test(word)) midCap.set(word, (midCap.get(word) ?? 0) + 1);
    });
  const out = new Set<string>();
  for (const text of S)
    for (const w of tokenizeText(text)) {
      const word = text.slice(w.start, w.end);
      if (/^\p{Lu}/u.test(word) && (lower.get(word.toLowerCase()) ?? 0) > (midCap.get(word) ?? 0)) out.add(word);
    }
  return out;
}

/** Every word that starts with a capital letter, but the sentence's first word, lies inside one of the matches. */
export function capitalsCovered(
  text: string,
  words: readonly { start: number; end: number }[],
  matches: readonly { charStart: number; charEnd: number }[],
): boolean {
  let first = true;
  for (const w of words) {
    const word = text.slice(w.start, w.end);
    if (!/\p{L}/u.test(word)) continue; // punctuation and numbers neither start the sentence nor need a match
    if (first) {
      first = false;
      continue;
    }
    if (/^\p{Lu}/u.test(word) && !matches.some((m) => m.charStart <= w.start && w.end <= m.charEnd)) return false;
  }
  return true;
}

/** ⟨sentence, its capitalised fragments⟩ for every sentence of S. */
export function fragmentPairs(S: readonly string[]): { sentence: string; sequence: string }[] {
  return S.map((s) => ({ sentence: s, sequence: fragmentSequence(s) }));
}

export interface WarmupOptions {
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  s2ePrefix: string;
  e2sPrefix: string;
  /** Default bf16 (autocast), as the cycles. */
  precision?: Precision;
  /** --silver-swap: each matched name of a drawn pair is replaced by a same-type name of Q with probability p. */
  swap?: { names: ReadonlyMap<string, readonly string[]>; p: number };
}

export async function fragmentWarmup(
  s2e: T5ForConditionalGeneration,
  e2s: T5ForConditionalGeneration,
  tokenizer: T5Tokenizer,
  S: readonly string[],
  o: WarmupOptions,
): Promise<{ s2eLoss: number; e2sLoss: number }> {
  return pairWarmup(s2e, e2s, tokenizer, fragmentPairs(S), o);
}

/** Supervised steps on ⟨s → q⟩ for S2E and ⟨q → s⟩ for E2S (either may be left out), batches drawn with replacement. */
export async function pairWarmup(
  s2e: T5ForConditionalGeneration,
  e2s: T5ForConditionalGeneration,
  tokenizer: T5Tokenizer,
  pairs: readonly SpannedPair[],
  o: WarmupOptions & { directions?: 'both' | 's2e' | 'e2s' },
): Promise<{ s2eLoss: number; e2sLoss: number }> {
  if (pairs.length === 0) throw new Error('warm-up: no pairs (the gazetteer from Q matched no sentence of S?)');
  const dirs = o.directions ?? 'both';
  const lim = { maxSourceTokens: 256, maxTargetTokens: 256 };
  const ds = new Direction(s2e, tokenizer, o.s2ePrefix, lim, o.precision);
  const de = new Direction(e2s, tokenizer, o.e2sPrefix, lim, o.precision);
  const oS = new T.AdamW(s2e.parameters(), { lr: o.lr, weightDecay: 0 });
  const oE = new T.AdamW(e2s.parameters(), { lr: o.lr, weightDecay: 0 });
  const tS = ds.trainer(oS, { maxGradNorm: 1 });
  const tE = de.trainer(oE, { maxGradNorm: 1 });
  const last = { s2eLoss: NaN, e2sLoss: NaN };
  try {
    for (let step = 0; step < o.steps; step++) {
      const perm = new Rng(o.seed).fork(`warmup/${step}`);
      const idx = Array.from({ length: o.batchSize }, () => perm.int(pairs.length));
      const swapRng = new Rng(o.seed).fork(`warmup-swap/${step}`);
      const drawn = idx.map((i) =>
        o.swap ? swapNames(pairs[i] as SpannedPair, o.swap.names, o.swap.p, swapRng) : (pairs[i] as SpannedPair),
      );
      const sb = drawn.map((p) => p.sentence);
      const fb = drawn.map((p) => p.sequence);
      const stop = (name: string) => (e: unknown) => {
        throw nonFiniteStop(e, `warm-up step ${step + 1}: ${name}`, 'nothing was saved; lower --warmup-lr');
      };
      // In a process group each rank trains on its shard of the batch (T.dist.shard); the step sums the gradients.
      const [sr, fr] = [T.dist.shard(sb), T.dist.shard(fb)];
      if (dirs !== 'e2s') last.s2eLoss = (await trainStep(ds, tS, sr, fr).catch(stop('S2E'))).loss;
      if (dirs !== 's2e') last.e2sLoss = (await trainStep(de, tE, fr, sr).catch(stop('E2S'))).loss;
    }
  } finally {
    oS.dispose();
    oE.dispose();
  }
  return last;
}
