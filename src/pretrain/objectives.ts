// The pretraining objectives of tools/gpu/pretrain_t5.py, selectable as a weighted mixture:
//   span       T5 span corruption over 1-3 consecutive sentences
//   denoise    "denoise: " + sentence with ~10% of word positions starting a masked span (Poisson(2.5) words) -> sentence
//   frag2sent  "sentence: " + capitalised (75%) or random fragments as an entity sequence -> sentence (E2S stand-in)
//   sent2frag  "entities: " + sentence -> its capitalised fragments, type `entity` (S2E stand-in)
// Batches are built in two phases so every random draw happens in a fixed order: text draws, one tokenizer call,
// then the span masks (which need token counts).

import type { Rng } from '../data/rng';
import type { T5Tokenizer } from '../t5/tokenizer';
import type { Seq2SeqExample } from '../t5/train';
import { poisson, randomSpansNoiseMask, spanCorrupt } from './noise';
import { capitalisedFragments, DENOISE_PREFIX, E2S_PREFIX, PSEUDO_TYPES, randomFragments, S2E_PREFIX, serialise } from './text';

export const OBJECTIVES = ['span', 'denoise', 'frag2sent', 'sent2frag'] as const;
export type Objective = (typeof OBJECTIVES)[number];
export type Mixture = Array<[Objective, number]>;

/** The mixture that trained models/base-news-11m (gate F1 0.23 where span corruption alone gave 0.00). */
export const DEFAULT_MIXTURE = 'span=0.3,denoise=0.2,frag2sent=0.25,sent2frag=0.25';

export function parseMixture(spec: string): Mixture {
  const out: Mixture = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]+)(?:=([0-9.eE+-]+))?$/.exec(part);
    if (!m) throw new Error(`--mixture: cannot parse "${part}" (expected name=weight)`);
    const name = m[1] as Objective;
    if (!OBJECTIVES.includes(name)) throw new Error(`--mixture: unknown objective "${m[1]}" (known: ${OBJECTIVES.join(', ')})`);
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

/** Phase-1 example: text for span corruption, or a finished text pair. */
export type Draft = { kind: 'span'; objective: 'span'; text: string } | { kind: 'pair'; objective: Objective; source: string; target: string };

export function draftExample(objective: Objective, docs: readonly Doc[], rng: Rng): Draft | null {
  const d = docs[rng.int(docs.length)]!;
  const i = rng.int(d.length);
  const s = d[i]!;
  switch (objective) {
    case 'span':
      return { kind: 'span', objective, text: d.slice(i, i + 1 + rng.int(3)).join(' ') };
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
      const pairs = spans.map(([a, b]) => [s.slice(a, b), typed ? PSEUDO_TYPES[rng.int(PSEUDO_TYPES.length)]! : 'entity'] as const);
      return { kind: 'pair', objective, source: E2S_PREFIX + serialise(pairs), target: s };
    }
    case 'sent2frag': {
      const spans = capitalisedFragments(s).slice(0, 8);
      return { kind: 'pair', objective, source: S2E_PREFIX + s, target: serialise(spans.map(([a, b]) => [s.slice(a, b), 'entity'] as const)) };
    }
  }
}

export interface BatchLimits {
  maxSource: number;
  maxTarget: number;
}

export interface BuiltExample extends Seq2SeqExample {
  objective: Objective;
}

/** Phase 2: tokenize drafts, corrupt spans (drawing masks from rng in draft order), drop over-long pairs. */
export async function finishExamples(drafts: readonly Draft[], tok: T5Tokenizer, rng: Rng, lim: BatchLimits): Promise<BuiltExample[]> {
  const sentinel0 = tok.inner.tokenToId('<extra_id_0>');
  const spanDrafts = drafts.filter((d): d is Extract<Draft, { kind: 'span' }> => d.kind === 'span');
  const pairDrafts = drafts.filter((d): d is Extract<Draft, { kind: 'pair' }> => d.kind === 'pair');
  const [spanIds, srcIds, tgtIds] = await Promise.all([
    tok.encodeBatch(spanDrafts.map((d) => d.text), { addEos: false }),
    tok.encodeBatch(pairDrafts.map((d) => d.source)),
    tok.encodeBatch(pairDrafts.map((d) => d.target)),
  ]);
  const out: BuiltExample[] = [];
  let si = 0;
  let pi = 0;
  for (const d of drafts) {
    if (d.kind === 'span') {
      const ids = spanIds[si++]!.slice(0, lim.maxSource - 1);
      if (ids.length < 4) continue;
      if (sentinel0 === null || sentinel0 === undefined) throw new Error('span corruption needs <extra_id_0> in the vocabulary');
      const ex = spanCorrupt(ids, randomSpansNoiseMask(ids.length, rng), sentinel0, tok.eosId);
      if (ex.target.length <= lim.maxTarget) out.push({ ...ex, objective: 'span' });
    } else {
      const source = srcIds[pi]!;
      const target = tgtIds[pi++]!;
      if (source.length <= lim.maxSource && target.length <= lim.maxTarget) out.push({ source, target, objective: d.objective });
    }
  }
  return out;
}
