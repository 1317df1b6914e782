// The pretraining objectives of tools/gpu/pretrain_t5.py, selectable as a weighted mixture:
//   span       T5 span corruption (noise density 0.15, mean span 3, sentinels), over
//              packed inputs (default): a contiguous window of spanRawLength(maxSource, maxTarget) tokens (141 for
//                128/128) of the chunk's text from a random sentence onward, across sentence and document boundaries,
//                so every input is exactly maxSource tokens (T5's reduce_concat_tokens + split_tokens +
//                random_spans_helper), or
//              sentences: 1-3 consecutive sentences of one document cut to maxSource-1 tokens (the recipe of
//                models/base-news-11m; also what a checkpoint recipe without spanInputs means)
//   denoise    "denoise: " + sentence with ~10% of word positions starting a masked span (Poisson(2.5) words) -> sentence
//   frag2sent  "sentence: " + capitalised (75%) or random fragments as an entity sequence -> sentence (E2S stand-in)
//   sent2frag  "entities: " + sentence -> its capitalised fragments, type `entity` (S2E stand-in)
// Batches are built in two phases so every random draw happens in a fixed order: text draws, one tokenizer call,
// then the span masks (which need token counts). A packed window takes whole sentences until it has
// PACKED_CHARS_PER_TOKEN characters per raw token; the rare window that still tokenizes short is extended with more
// of the same text and tokenized again (no random draws), then cut to exactly the raw length.

import type { Rng } from '../util/rng';
import type { T5Tokenizer } from '../t5/tokenizer';
import type { Seq2SeqExample } from '../t5/train';
import { poisson, randomSpansNoiseMask, spanCorrupt, spanRawLength } from './noise';
import {
  capitalisedFragments,
  DENOISE_PREFIX,
  E2S_PREFIX,
  PSEUDO_TYPES,
  randomFragments,
  S2E_PREFIX,
  serialise,
} from './text';

export const OBJECTIVES = ['span', 'denoise', 'frag2sent', 'sent2frag'] as const;
export type Objective = (typeof OBJECTIVES)[number];
export type Mixture = Array<[Objective, number]>;

/** The mixture that trained models/base-news-11m (gate F1 0.23 where span corruption alone gave 0.00). */
export const DEFAULT_MIXTURE = 'span=0.3,denoise=0.2,frag2sent=0.25,sent2frag=0.25';

export function parseMixture(spec: string): Mixture {
  const out: Mixture = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-z0-9]+)(?:=([0-9.eE+-]+))?$/.exec(part);
    if (!m) throw new Error(`--mixture: cannot parse "${part}" (expected name=weight)`);
    const name = m[1] as Objective;
    if (!OBJECTIVES.includes(name))
      throw new Error(`--mixture: unknown objective "${m[1]}" (known: ${OBJECTIVES.join(', ')})`);
    const w = m[2] === undefined ? 1 : Number(m[2]);
    if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`--mixture: bad weight for ${name}: "${m[2]}"`);
    if (out.some(([n]) => n === name)) throw new Error(`--mixture: ${name} given twice`);
    if (w > 0) out.push([name, w]);
  }
  if (out.length === 0) throw new Error('--mixture: no objective with a positive weight');
  return out;
}

export function formatMixture(m: Mixture): string {
  return m.map(([n, w]) => `${n}=${w}`).join(',');
}

/** A document is its list of sentences. */
export type Doc = string[];

/** Inputs of the span objective: T5's packed fixed-length windows, or the old 1-3 sentences. */
export const SPAN_INPUTS = ['packed', 'sentences'] as const;
export type SpanInputs = (typeof SPAN_INPUTS)[number];

/** Characters taken per raw token before tokenizing a packed window (news with the shipped 16k vocabulary: ~4.7). */
export const PACKED_CHARS_PER_TOKEN = 6;

/** Where a packed window starts: sentence `sent` of document `doc` of the chunk `docs`. */
export interface PackedStart {
  docs: readonly Doc[];
  doc: number;
  sent: number;
}

/** Phase-1 example: text for span corruption, or a finished text pair. */
export type Draft =
  | { kind: 'span'; objective: 'span'; text: string; packed?: PackedStart & { exhausted: boolean } }
  | { kind: 'pair'; objective: Objective; source: string; target: string };

/**
 * The chunk's text from sentence `sent` of document `doc` onward (sentences and documents in order, joined by a space)
 * up to the first sentence end at or beyond `minChars` characters; `exhausted` when the chunk ended first.
 */
export function packedText(
  docs: readonly Doc[],
  doc: number,
  sent: number,
  minChars: number,
): { text: string; exhausted: boolean } {
  const parts: string[] = [];
  let n = -1;
  for (let k = doc; k < docs.length; k++) {
    const d = docs[k]!;
    for (let j = k === doc ? sent : 0; j < d.length; j++) {
      parts.push(d[j]!);
      n += d[j]!.length + 1;
      if (n >= minChars) return { text: parts.join(' '), exhausted: false };
    }
  }
  return { text: parts.join(' '), exhausted: true };
}

/** Raw tokens of a packed span window for these limits (T5's random_spans_helper). */
export function packedRawLength(lim: BatchLimits): number {
  return spanRawLength(lim.maxSource, lim.maxTarget).tokens;
}

/** Phase 1. `lim.spanInputs` picks the span objective's inputs (absent: 'sentences'); the random draws of a packed
 * span draft are the document and sentence only (the 'sentences' draft also draws 1-3 sentences). */
export function draftExample(objective: Objective, docs: readonly Doc[], rng: Rng, lim?: BatchLimits): Draft | null {
  const di = rng.int(docs.length);
  const d = docs[di]!;
  const i = rng.int(d.length);
  const s = d[i]!;
  switch (objective) {
    case 'span': {
      if (lim?.spanInputs === 'packed') {
        const { text, exhausted } = packedText(docs, di, i, packedRawLength(lim) * PACKED_CHARS_PER_TOKEN);
        return { kind: 'span', objective, text, packed: { docs, doc: di, sent: i, exhausted } };
      }
      return { kind: 'span', objective, text: d.slice(i, i + 1 + rng.int(3)).join(' ') };
    }
    case 'denoise': {
      const ws = s.split(' ');
      if (ws.length < 4) return null;
      const keep: string[] = [];
      let j = 0;
      while (j < ws.length) {
        if (rng.float() < 0.1) {
          j += Math.max(1, Math.min(ws.length - j, poisson(rng, 2.5)));
          keep.push('<extra_id_0>');
        } else keep.push(ws[j++]!);
      }
      return { kind: 'pair', objective, source: DENOISE_PREFIX + keep.join(' '), target: s };
    }
    case 'frag2sent': {
      const spans = (rng.float() < 0.75 ? capitalisedFragments(s) : randomFragments(s, rng)).slice(0, 8);
      const typed = rng.float() >= 0.5; // as the GPU script: below 0.5 every type is `entity`
      const pairs = spans.map(
        ([a, b]) => [s.slice(a, b), typed ? PSEUDO_TYPES[rng.int(PSEUDO_TYPES.length)]! : 'entity'] as const,
      );
      return { kind: 'pair', objective, source: E2S_PREFIX + serialise(pairs), target: s };
    }
    case 'sent2frag': {
      const spans = capitalisedFragments(s).slice(0, 8);
      return {
        kind: 'pair',
        objective,
        source: S2E_PREFIX + s,
        target: serialise(spans.map(([a, b]) => [s.slice(a, b), 'entity'] as const)),
      };
    }
  }
}

export interface BatchLimits {
  maxSource: number;
  maxTarget: number;
  /** inputs of the span objective; absent means 'sentences' (checkpoints written before the option existed) */
  spanInputs?: SpanInputs;
}

export interface BuiltExample extends Seq2SeqExample {
  objective: Objective;
}

/** What the span objective built (counted, so that a window cut short by the end of its chunk is never silent). */
export interface SpanStats {
  examples: number;
  sourceTokens: number;
  targetTokens: number;
  /** packed windows that ran out of chunk text before the raw length (shorter inputs; dropped under 4 tokens) */
  short: number;
  /** packed drafts whose text tokenized short and was extended and tokenized again */
  retokenized: number;
}

export function newSpanStats(): SpanStats {
  return { examples: 0, sourceTokens: 0, targetTokens: 0, short: 0, retokenized: 0 };
}

export function describeSpanStats(s: SpanStats, mode: SpanInputs): string {
  const mean = (n: number) => (s.examples ? n / s.examples : 0).toFixed(1);
  let line = `span inputs ${mode}: ${s.examples} examples, mean source ${mean(s.sourceTokens)} / target ${mean(s.targetTokens)} tokens`;
  if (mode === 'packed')
    line += `; ${s.short} window(s) ran out of chunk text (shorter inputs); ${s.retokenized} draft(s) tokenized again with more text`;
  return line;
}

/** Phase 2: tokenize drafts, corrupt spans (drawing masks from rng in draft order), drop over-long pairs. */
export async function finishExamples(
  drafts: readonly Draft[],
  tok: T5Tokenizer,
  rng: Rng,
  lim: BatchLimits,
  stats?: SpanStats,
): Promise<BuiltExample[]> {
  const sentinel0 = tok.inner.tokenToId('<extra_id_0>');
  const spanDrafts = drafts.filter((d): d is Extract<Draft, { kind: 'span' }> => d.kind === 'span');
  const pairDrafts = drafts.filter((d): d is Extract<Draft, { kind: 'pair' }> => d.kind === 'pair');
  const [spanIds, srcIds, tgtIds] = await Promise.all([
    tok.encodeBatch(
      spanDrafts.map((d) => d.text),
      { addEos: false },
    ),
    tok.encodeBatch(pairDrafts.map((d) => d.source)),
    tok.encodeBatch(pairDrafts.map((d) => d.target)),
  ]);
  const raw = spanDrafts.some((d) => d.packed) ? packedRawLength(lim) : 0;
  // Packed windows that tokenized short: take twice, four times, ... the characters until long enough or the chunk ends.
  const exhausted = spanDrafts.map((d) => d.packed?.exhausted ?? true);
  for (let factor = 2; ; factor *= 2) {
    const redo = spanDrafts.flatMap((d, k) => (d.packed && !exhausted[k] && spanIds[k]!.length < raw ? [k] : []));
    if (redo.length === 0) break;
    const texts = redo.map((k) => {
      const p = spanDrafts[k]!.packed!;
      const r = packedText(p.docs, p.doc, p.sent, raw * PACKED_CHARS_PER_TOKEN * factor);
      exhausted[k] = r.exhausted;
      return r.text;
    });
    const ids = await tok.encodeBatch(texts, { addEos: false });
    redo.forEach((k, j) => {
      spanIds[k] = ids[j]!;
    });
    if (stats) stats.retokenized += redo.length;
  }
  const out: BuiltExample[] = [];
  let si = 0;
  let pi = 0;
  for (const d of drafts) {
    if (d.kind === 'span') {
      let ids = spanIds[si++]!;
      if (d.packed) {
        if (ids.length >= raw) ids = ids.slice(0, raw);
        else if (stats) stats.short++;
      } else ids = ids.slice(0, lim.maxSource - 1);
      if (ids.length < 4) continue;
      if (sentinel0 === null || sentinel0 === undefined)
        throw new Error('span corruption needs <extra_id_0> in the vocabulary');
      const ex = spanCorrupt(ids, randomSpansNoiseMask(ids.length, rng), sentinel0, tok.eosId);
      if (ex.source.length <= lim.maxSource && ex.target.length <= lim.maxTarget) {
        out.push({ ...ex, objective: 'span' });
        if (stats) {
          stats.examples++;
          stats.sourceTokens += ex.source.length;
          stats.targetTokens += ex.target.length;
        }
      }
    } else {
      const source = srcIds[pi]!;
      const target = tgtIds[pi++]!;
      if (source.length <= lim.maxSource && target.length <= lim.maxTarget)
        out.push({ source, target, objective: d.objective });
    }
  }
  return out;
}
