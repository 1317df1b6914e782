// Inference with an S2E model: batched generation (grounded by default), entity sequences turned
// into character spans and tags via data/align.ts.

import * as T from '../tensor';
import { alignPrediction, type PredictionAlignment } from '../data/align';
import type { Precision } from '../t5/precision';
import type { Range } from '../data/types';
import { Verbalizer } from '../data/verbalizer';
import { formatEntitySequence, NONE_LINE, type SeqEntity } from '../data/entity-seq';
import { toOriginalRange, type NormalizedText } from '../t5/normalize';
import { groundingHook } from './grounding';
import { decodeDefaults, DEFAULT_S2E_PREFIX, loadModelDir, resolveS2EDir, type DecodeDefaults } from './model-io';
import { Direction, generateAll, type DecodeConfig } from './seq2seq';

export interface PredictOptions {
  grounded: boolean;
  types: readonly string[];
  batchSize: number;
  decode: DecodeConfig;
}

/** What went wrong in one sentence's generated sequence (nothing: `cut` false, `dropped` empty). */
export interface SentenceIssues {
  /** The sequence was malformed: it stopped inside an entity (the --max-new-tokens limit) or had an empty type. */
  cut: boolean;
  /** Entities removed from the sequence: an empty surface, or one that is only part of a word of the sentence. */
  dropped: { surface: string; type: string; why: 'empty-surface' | 'partial-word' }[];
}

export interface Predictions {
  /** One entity sequence per sentence ("" = none), surfaces in the sentence's original spelling. */
  seqs: string[];
  issues: SentenceIssues[];
}

/** Entity sequences, cleaned and mapped back to the original sentences (see `finishSequence`). */
export async function predictDetailed(
  s2e: Direction,
  sentences: readonly string[],
  opts: PredictOptions,
): Promise<Predictions> {
  const hook = opts.grounded ? (b: readonly string[]) => groundingHook(s2e.tokenizer, b, opts.types) : undefined;
  const raw = await generateAll(s2e, sentences, opts.decode, opts.batchSize, hook);
  const out: Predictions = { seqs: [], issues: [] };
  sentences.forEach((s, i) => {
    const r = finishSequence(s2e.tokenizer.normalize(s), raw[i] ?? '');
    out.seqs.push(r.seq);
    out.issues.push(r.issues);
  });
  return out;
}

/** One entity sequence per sentence ("" = none). */
export async function predictSequences(
  s2e: Direction,
  sentences: readonly string[],
  opts: PredictOptions,
): Promise<string[]> {
  return (await predictDetailed(s2e, sentences, opts)).seqs;
}

const WORD_CHAR = /[\p{L}\p{N}\p{M}]/u;
const charAt = (t: string, i: number) => String.fromCodePoint(t.codePointAt(i) ?? 32);
const charBefore = (t: string, i: number) =>
  i >= 2 && /[\udc00-\udfff]/.test(t[i - 1] ?? '') ? charAt(t, i - 2) : (t[i - 1] ?? ' ');

/** [a, b) does not cut between two letters/digits: it is made of whole words (punctuation may bound it). */
export function coversWholeWords(text: string, a: number, b: number): boolean {
  const cuts = (i: number) =>
    i > 0 && i < text.length && WORD_CHAR.test(charBefore(text, i)) && WORD_CHAR.test(charAt(text, i));
  return !cuts(a) && !cuts(b);
}

/** Occurrences of `surface` in `text` (any run of whitespace matching any run), in order. */
function occurrences(text: string, surface: string): { start: number; end: number }[] {
  const pat = surface
    .split(/\s+/)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('\\s+');
  const re = new RegExp(pat, 'gu');
  const out: { start: number; end: number }[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push({ start: m.index, end: m.index + m[0].length });
    re.lastIndex = m.index + 1;
  }
  return out;
}

/**
 * Clean one generated sequence against its sentence (normalised as the model saw it): a malformed
 * tail is cut, an entity with an empty surface (no letter or digit) or one found only inside a word is dropped (both
 * counted), and every surface found as whole words is replaced by the ORIGINAL text of that span
 * ("Bayern Munchen" → "Bayern München"). Surfaces not found at all are kept as generated; alignment
 * counts them as hallucinations.
 */
export function finishSequence(n: NormalizedText, seq: string): { seq: string; issues: SentenceIssues } {
  const issues: SentenceIssues = { cut: false, dropped: [] };
  const t = seq.trim();
  if (t === '' || t === NONE_LINE) return { seq: '', issues };
  const fields = t.split(/\s*<sep>\s*/);
  if (fields.length % 2 !== 0) issues.cut = true;
  const kept: SeqEntity[] = [];
  let cursor = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const surface = (fields[i] as string).trim();
    const type = (fields[i + 1] as string).trim().replace(/\s+/g, ' ');
    if (type === '') {
      issues.cut = true;
      continue;
    }
    // A surface with no letter or digit ("", ".", "-") names nothing: dropped as empty.
    if (!/[\p{L}\p{N}]/u.test(surface)) {
      issues.dropped.push({ surface, type, why: 'empty-surface' });
      continue;
    }
    const occ = occurrences(n.text, surface);
    const whole = occ.filter((r) => coversWholeWords(n.text, r.start, r.end));
    const at = whole.find((r) => r.start >= cursor) ?? whole[0];
    if (!at) {
      if (occ.length > 0) issues.dropped.push({ surface, type, why: 'partial-word' });
      else kept.push({ surface, type });
      continue;
    }
    if (at.start >= cursor) cursor = at.end;
    const o = toOriginalRange(n, at.start, at.end);
    const original = n.original.slice(o.start, o.end).trim();
    if (original === '') {
      issues.dropped.push({ surface, type, why: 'empty-surface' });
      continue;
    }
    kept.push({ surface: /[\r\n]|<sep>/.test(original) ? surface : original, type });
  }
  return { seq: kept.length === 0 ? '' : formatEntitySequence(kept), issues };
}

/** Sentences with output cut or entities dropped, and the dropped entities by reason. */
export function issueCounts(issues: readonly SentenceIssues[]): {
  sentences: number;
  cut: number;
  emptySurface: number;
  partialWord: number;
} {
  const c = { sentences: 0, cut: 0, emptySurface: 0, partialWord: 0 };
  for (const x of issues) {
    if (x.cut || x.dropped.length > 0) c.sentences++;
    if (x.cut) c.cut++;
    for (const d of x.dropped)
      if (d.why === 'empty-surface') c.emptySurface++;
      else c.partialWord++;
  }
  return c;
}

/** Identity-like verbaliser over type words (label = word) when no label map is known. */
export function verbalizerForTypes(types: readonly string[], labels?: Record<string, string>): Verbalizer {
  if (labels && Object.keys(labels).length > 0) return new Verbalizer(labels);
  return new Verbalizer(Object.fromEntries(types.map((t) => [t, t])));
}

export function alignAll(
  sentences: readonly { text: string; offsets: readonly Range[] }[],
  seqs: readonly string[],
  v: Verbalizer,
): PredictionAlignment[] {
  return sentences.map((s, i) => alignPrediction(s, seqs[i] ?? '', v));
}

export interface ModelPrediction extends Predictions {
  types: string[];
  verbalizer: Verbalizer;
  /** The decoding used: the model's recorded defaults with the given options over them. */
  decode: DecodeDefaults;
}

/**
 * Load an S2E model directory (or a run / its best/), predict `texts`, and free the model. Decoding options left
 * undefined take the model's recorded defaults (`decodeDefaults`).
 */
export async function predictWithModelDir(
  modelDir: string,
  texts: readonly string[],
  opts: { grounded?: boolean; batch: number; maxNewTokens?: number; numBeams?: number; precision?: Precision },
): Promise<ModelPrediction> {
  const dir = resolveS2EDir(modelDir);
  const m = loadModelDir(dir);
  try {
    const meta = m.meta;
    const types = meta?.types ?? [];
    const d = decodeDefaults(dir, meta);
    const decode: DecodeDefaults = {
      grounded: opts.grounded ?? d.grounded,
      maxNewTokens: opts.maxNewTokens ?? d.maxNewTokens,
      numBeams: opts.numBeams ?? d.numBeams ?? 1,
    };
    if (decode.grounded && types.length === 0)
      throw new Error(`${dir}: no type words recorded (cyclener.json); pass --no-ground`);
    const s2e = new Direction(
      m.model,
      m.tokenizer,
      meta?.prefix ?? DEFAULT_S2E_PREFIX,
      { maxSourceTokens: 512, maxTargetTokens: 512 },
      opts.precision,
    );
    // In a process group (predict --nproc) each rank decodes its shard and every rank gets all outputs, in order.
    const rows = await T.dist.mapSharded(texts, async (part) => {
      const r = await predictDetailed(s2e, part, {
        grounded: decode.grounded,
        types,
        batchSize: opts.batch,
        decode: { maxNewTokens: decode.maxNewTokens, numBeams: decode.numBeams },
      });
      return r.seqs.map((seq, i) => ({ seq, issues: r.issues[i] as SentenceIssues }));
    });
    const p: Predictions = { seqs: rows.map((r) => r.seq), issues: rows.map((r) => r.issues) };
    return { ...p, types, verbalizer: verbalizerForTypes(types, meta?.verbalizer), decode };
  } finally {
    m.model.dispose();
  }
}
