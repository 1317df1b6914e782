// Inference with an S2E model: batched generation (grounded by default), entity sequences turned
// into character spans and tags via data/align.ts. Texts longer than the model's input are cut into pieces
// (src/api/chunk.ts) by predictPieces and put back together by alignPieces: the one path of NerModel.predict, serve
// and `cyclener predict`.

import * as T from '../tensor';
import { chunkText, mergePieces, type ChunkOptions, type Piece } from '../api/chunk';
import { addAlignCounts, alignPrediction, emptyAlignCounts, type PredictionAlignment } from '../data/align';
import { chunksToTags } from '../data/tags';
import { DEFAULT_PRECISION, type Precision } from '../t5/precision';
import type { Entity, Range } from '../data/types';
import { Verbalizer } from '../data/verbalizer';
import { formatEntitySequence, NONE_LINE, parseEntitySequence, SEP, type SeqEntity } from '../data/entity-seq';
import { toOriginalRange, type NormalizedText } from '../t5/normalize';
import { groundingHook } from './grounding';
import {
  decodeDefaults,
  DEFAULT_S2E_PREFIX,
  loadForInference,
  resolveS2EDir,
  scoreDefaults,
  scoreSettings,
  type DecodeDefaults,
  type ScoreSettings,
} from './model-io';
import { Direction, generateAllScored, type DecodeConfig } from './seq2seq';
import { entityScore, type ScoreMap } from '../eval/calibration';

export interface PredictOptions {
  grounded: boolean;
  types: readonly string[];
  batchSize: number;
  decode: DecodeConfig;
  /** Entity scores are exp(log-probability / temperature) (default 1: the decoder's own probability). */
  temperature?: number;
  /** Then mapped through this calibration map (calibration.ts), when given. */
  map?: ScoreMap;
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
  /** Per sentence, the score in [0, 1] of each entity of its sequence, in order (src/eval/calibration.ts). */
  scores: number[][];
  issues: SentenceIssues[];
}

/** Entity sequences, cleaned and mapped back to the original sentences (see `finishSequence`). */
export async function predictDetailed(
  s2e: Direction,
  sentences: readonly string[],
  opts: PredictOptions,
): Promise<Predictions> {
  const hook = opts.grounded ? (b: readonly string[]) => groundingHook(s2e.tokenizer, b, opts.types) : undefined;
  const raw = await generateAllScored(s2e, sentences, opts.decode, opts.batchSize, hook);
  const out: Predictions = { seqs: [], scores: [], issues: [] };
  sentences.forEach((s, i) => {
    const g = raw[i] ?? { text: '', entityLogProbs: [] };
    const r = finishSequence(s2e.tokenizer.normalize(s), g.text, g.entityLogProbs);
    out.seqs.push(r.seq);
    out.scores.push(r.logProbs.map((lp) => entityScore(lp, opts.temperature, opts.map)));
    out.issues.push(r.issues);
  });
  return out;
}

/** One text's prediction through the pieces it was cut into. */
export interface PiecedPrediction {
  /** [start, end) of the text in UTF-16 units, each seen whole by the model: one for a text that fits, none for whitespace. */
  pieces: Piece[];
  /** Each piece's entity sequence, entity scores and issues, as predictDetailed gives them. */
  seqs: string[];
  scores: number[][];
  issues: SentenceIssues[];
}

/**
 * Texts of any length: each cut into pieces that fit `maxTokens` (sentences, then overlapping word windows; see
 * src/api/chunk.ts), never truncated; all pieces generated together in batches.
 */
export async function predictPieces(
  s2e: Direction,
  texts: readonly string[],
  opts: PredictOptions & ChunkOptions,
): Promise<PiecedPrediction[]> {
  const count = async (xs: string[]) =>
    (await s2e.tokenizer.encodeBatch(xs.map((x) => s2e.prefix + x))).map((ids) => ids.length);
  const pieces: Piece[][] = [];
  for (const t of texts) pieces.push(await chunkText(t, count, opts));
  const flat = pieces.flatMap((ps, i) => ps.map((p) => (texts[i] as string).slice(p.start, p.end)));
  const p = await predictDetailed(s2e, flat, opts);
  let k = 0;
  return pieces.map((ps) => {
    const r = {
      pieces: ps,
      seqs: p.seqs.slice(k, k + ps.length),
      scores: p.scores.slice(k, k + ps.length),
      issues: p.issues.slice(k, k + ps.length),
    };
    k += ps.length;
    return r;
  });
}

/** A text's issues: those of all its pieces. */
function mergedIssues(p: PiecedPrediction): SentenceIssues {
  return { cut: p.issues.some((x) => x.cut), dropped: p.issues.flatMap((x) => x.dropped) };
}

/**
 * One text's pieces aligned and put back together: each piece's sequence placed in its piece (with the text's own
 * tokens there), the entities moved to text offsets, the duplicates of overlapping windows merged (mergePieces), and
 * IOB2 tags over the text's tokens. For a text seen whole it equals alignPrediction of its sequence. Entities scored
 * below `threshold` are dropped last (they neither appear nor count as unplaced).
 */
export function alignPieces(
  sentence: { text: string; offsets: readonly Range[] },
  p: PiecedPrediction,
  v: Verbalizer,
  threshold = 0,
): PredictionAlignment {
  const per = p.pieces.map((pc, i) => {
    const offsets = sentence.offsets
      .filter((o) => o.end > pc.start && o.start < pc.end)
      .map((o) => ({ start: Math.max(o.start, pc.start) - pc.start, end: Math.min(o.end, pc.end) - pc.start }));
    return alignPrediction(
      { text: sentence.text.slice(pc.start, pc.end), offsets },
      p.seqs[i] ?? '',
      v,
      {},
      p.scores[i],
    );
  });
  const merged = mergePieces(
    p.pieces,
    per.map((a) =>
      a.entities.map((e, j) => ({
        start: e.charStart,
        end: e.charEnd,
        label: e.label,
        generated: a.generated[j] as string,
        ...(e.score !== undefined ? { score: e.score } : {}),
      })),
    ),
  );
  const entities: Entity[] = [];
  const generated: string[] = [];
  const unplaced = per.flatMap((a) => a.unplaced);
  let lastTokEnd = -1;
  for (const e of merged) {
    const toks = sentence.offsets.flatMap((t, i) => (t.end > e.start && t.start < e.end ? [i] : []));
    const start = toks[0] ?? 0;
    const end = (toks[toks.length - 1] ?? 0) + 1;
    // Two pieces' partial-token matches can share a token: the first keeps it, as alignPrediction does in one piece.
    if (start < lastTokEnd) {
      unplaced.push({
        surface: e.generated,
        type: v.verbalize(e.label),
        label: e.label,
        why: 'overlap',
        ...(e.score !== undefined ? { score: e.score } : {}),
      });
      continue;
    }
    lastTokEnd = end;
    const surface = sentence.text.slice(e.start, e.end);
    entities.push({
      start,
      end,
      charStart: e.start,
      charEnd: e.end,
      label: e.label,
      surface,
      ...(e.score !== undefined ? { score: e.score } : {}),
    });
    generated.push(e.generated);
  }
  const keep = entities.map((e) => threshold <= 0 || (e.score ?? 1) >= threshold);
  return {
    entities: entities.filter((_, i) => keep[i]),
    generated: generated.filter((_, i) => keep[i]),
    unplaced,
    tags: chunksToTags(
      sentence.offsets.length,
      entities.filter((_, i) => keep[i]),
      'IOB2',
    ),
    counts: per.reduce((c, a) => addAlignCounts(c, a.counts), emptyAlignCounts()),
    malformed: per.some((a) => a.malformed),
    unknownType: per.reduce((n, a) => n + a.unknownType, 0),
    problems: per.flatMap((a) => a.problems),
  };
}

/** A sequence without its entities scored below `threshold` (`scores`: one per entity, as Predictions has them). */
export function sequenceAbove(seq: string, scores: readonly number[], threshold: number): string {
  if (threshold <= 0) return seq;
  const kept = parseEntitySequence(seq).entities.filter((_, i) => (scores[i] ?? 1) >= threshold);
  return kept.length === 0 ? '' : formatEntitySequence(kept);
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
 * counts them as hallucinations. `logProbs` holds each surface/type pair's log-probability (entityLogProbs); those of
 * the kept entities are returned (0 where none was given).
 */
export function finishSequence(
  n: NormalizedText,
  seq: string,
  logProbs: readonly number[] = [],
): { seq: string; issues: SentenceIssues; logProbs: number[] } {
  const issues: SentenceIssues = { cut: false, dropped: [] };
  const t = seq.trim();
  if (t === '' || t === NONE_LINE) return { seq: '', issues, logProbs: [] };
  const fields = t.split(/\s*<sep>\s*/);
  if (fields.length % 2 !== 0) issues.cut = true;
  const kept: SeqEntity[] = [];
  const keptLogProbs: number[] = [];
  const keep = (e: SeqEntity, i: number) => {
    kept.push(e);
    keptLogProbs.push(logProbs[i / 2] ?? 0);
  };
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
      else keep({ surface, type }, i);
      continue;
    }
    if (at.start >= cursor) cursor = at.end;
    const o = toOriginalRange(n, at.start, at.end);
    const original = n.original.slice(o.start, o.end).trim();
    if (original === '') {
      issues.dropped.push({ surface, type, why: 'empty-surface' });
      continue;
    }
    keep({ surface: /[\r\n]|<sep>/.test(original) ? surface : original, type }, i);
  }
  return { seq: kept.length === 0 ? '' : formatEntitySequence(kept), issues, logProbs: keptLogProbs };
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

/** Each sentence's sequence aligned (alignPrediction), with its entity scores when given. */
export function alignAll(
  sentences: readonly { text: string; offsets: readonly Range[] }[],
  seqs: readonly string[],
  v: Verbalizer,
  scores?: readonly (readonly number[])[],
): PredictionAlignment[] {
  return sentences.map((s, i) => alignPrediction(s, seqs[i] ?? '', v, {}, scores?.[i]));
}

export interface ModelPrediction extends Predictions {
  /** Per text, the pieces the model saw (one per text unless `window` was given) and their sequences. */
  pieces: PiecedPrediction[];
  types: string[];
  verbalizer: Verbalizer;
  /** The decoding used: the model's recorded defaults with the given options over them. */
  decode: DecodeDefaults;
  /** The scores' temperature (given, else the model's, else 1), the model's recorded threshold (else 0) and its
   *  calibration map (unless a temperature was given). */
  score: ScoreSettings;
}

/** Where `cyclener predict` splits a line: the limit it used to cut lines at, so lines that fit are seen as before. */
export const PREDICT_WINDOW: ChunkOptions = { maxTokens: 512, overlapTokens: 32 };

/**
 * Load an S2E model directory (or a run / its best/), predict `texts`, and free the model. Decoding options left
 * undefined take the model's recorded defaults (`decodeDefaults`). With `window`, texts longer than its limit are
 * split into pieces (predictPieces; `seqs[i]` then joins a text's pieces' sequences, align with alignPieces); without,
 * each text is one piece, cut at 512 tokens (evaluation compares whole gold sentences).
 */
export async function predictWithModelDir(
  modelDir: string,
  texts: readonly string[],
  opts: PredictorOptions,
): Promise<ModelPrediction> {
  const predictor = openPredictor(modelDir, opts);
  try {
    return await predictor.predict(texts);
  } finally {
    predictor.dispose();
  }
}

export interface PredictorOptions {
  grounded?: boolean;
  batch: number;
  maxNewTokens?: number;
  numBeams?: number;
  precision?: Precision;
  window?: ChunkOptions;
  /** Entity scores' temperature (default: the model's recorded one, else 1). */
  temperature?: number;
}

/** An S2E model directory loaded once for several `predict` calls (a stream of inputs); `dispose` frees it. */
export function openPredictor(
  modelDir: string,
  opts: PredictorOptions,
): { predict(texts: readonly string[]): Promise<ModelPrediction>; dispose(): void } {
  const dir = resolveS2EDir(modelDir);
  const m = loadForInference(dir, opts.precision ?? DEFAULT_PRECISION);
  const meta = m.meta;
  const types = meta?.types ?? [];
  const d = decodeDefaults(dir, meta);
  const decode: DecodeDefaults = {
    grounded: opts.grounded ?? d.grounded,
    maxNewTokens: opts.maxNewTokens ?? d.maxNewTokens,
    numBeams: opts.numBeams ?? d.numBeams ?? 1,
  };
  const score = scoreSettings(scoreDefaults(meta), { temperature: opts.temperature });
  if (decode.grounded && types.length === 0) {
    m.model.dispose();
    throw new Error(`${dir}: no type words recorded (cyclener.json); pass --no-ground`);
  }
  const s2e = new Direction(
    m.model,
    m.tokenizer,
    meta?.prefix ?? DEFAULT_S2E_PREFIX,
    { maxSourceTokens: Math.max(512, opts.window?.maxTokens ?? 0), maxTargetTokens: 512 },
    opts.precision,
  );
  const po: PredictOptions = {
    grounded: decode.grounded,
    types,
    batchSize: opts.batch,
    decode: { maxNewTokens: decode.maxNewTokens, numBeams: decode.numBeams },
    temperature: score.temperature,
    ...(score.map ? { map: score.map } : {}),
  };
  const window = opts.window;
  const verbalizer = verbalizerForTypes(types, meta?.verbalizer);
  return {
    async predict(texts) {
      // In a process group (predict --nproc) each rank decodes its shard and every rank gets all outputs, in order.
      const rows = await T.dist.mapSharded(texts, async (part): Promise<PiecedPrediction[]> => {
        if (window) return predictPieces(s2e, part, { ...po, ...window });
        const r = await predictDetailed(s2e, part, po);
        return part.map((t, i) => ({
          pieces: [{ start: 0, end: t.length }],
          seqs: [r.seqs[i] as string],
          scores: [r.scores[i] as number[]],
          issues: [r.issues[i] as SentenceIssues],
        }));
      });
      const p: Predictions = {
        seqs: rows.map((r) => r.seqs.filter((q) => q !== '').join(` ${SEP} `)),
        scores: rows.map((r) => r.scores.flat()),
        issues: rows.map(mergedIssues),
      };
      return { ...p, pieces: rows, types, verbalizer, decode, score };
    },
    dispose: () => m.model.dispose(),
  };
}
