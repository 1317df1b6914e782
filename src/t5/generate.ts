// Generation for T5: greedy, beam search (HF BeamSearchScorer semantics: length penalty,
// early stopping True/False/'never', n-best) and sampling (temperature -> top-k -> top-p).
// Batched over padded sources; the decoder runs one position per step on a KV cache.

import * as T from '../tensor';
import type { Tensor } from '../tensor';
import { DecoderCache, T5ForConditionalGeneration } from './model';

/**
 * Per-hypothesis constraint: given the batch index and the tokens generated so far (decoder start
 * excluded), return the allowed next token ids, or null for no constraint. An empty array allows
 * only EOS (the hypothesis has nowhere left to go).
 */
export type AllowedTokensFn = (batchIndex: number, prefix: Int32Array) => Int32Array | null;

export interface GenerateOptions {
  /** Required: no hidden default length. */
  maxNewTokens: number;
  numBeams?: number;
  /** Hypotheses returned per input (≤ numBeams in beam search; sampling draws this many). */
  numReturnSequences?: number;
  /** Beam score = sum log p / length ** lengthPenalty (length counts EOS). Default 1. */
  lengthPenalty?: number;
  /** HF semantics: true stops at numBeams finished hypotheses; false uses the attainable-score heuristic; 'never' the exact bound. Default false. */
  earlyStopping?: boolean | 'never';
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of the sampling PRNG (default 0). */
  seed?: number;
  allowedTokens?: AllowedTokensFn;
  /** HF `no_repeat_ngram_size`: a hypothesis never repeats an n-gram (decoder start included, as in transformers). 0 = off. */
  noRepeatNgramSize?: number;
  /** HF `repetition_penalty` (CTRL): scores of tokens already in the hypothesis are divided (if > 0) or multiplied (if < 0) by it. 1 = off. */
  repetitionPenalty?: number;
  eosTokenId?: number;
  padTokenId?: number;
  decoderStartTokenId?: number;
}

export interface GenerateInput {
  /** [batch * length] row-major token ids, right-padded. */
  ids: Int32Array;
  /** [batch * length], 1 = token. */
  mask: Int32Array;
  batch: number;
  length: number;
}

export interface GenerateOutput {
  /** batch * numReturnSequences sequences (input b's r-th at b * n + r): generated ids, decoder start excluded, ending with EOS when finished, no padding. */
  sequences: number[][];
  /** Beam scores (length-normalised) or summed log-probabilities of the chosen tokens (greedy/sampling; after processing). */
  scores: number[];
}

/** Pad token lists (right) into a GenerateInput. */
export function padBatch(seqs: number[][], padId: number): GenerateInput {
  const length = Math.max(1, ...seqs.map((s) => s.length));
  const ids = new Int32Array(seqs.length * length).fill(padId);
  const mask = new Int32Array(seqs.length * length);
  seqs.forEach((s, b) => {
    ids.set(s, b * length);
    mask.fill(1, b * length, b * length + s.length);
  });
  return { ids, mask, batch: seqs.length, length };
}

/** Repeat each row `n` times (row b -> rows b*n .. b*n+n-1). */
function repeatRows(x: Int32Array, rows: number, len: number, n: number): Int32Array {
  if (n === 1) return x;
  const out = new Int32Array(rows * n * len);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) out.set(x.subarray(r * len, (r + 1) * len), (r * n + j) * len);
  return out;
}

/** Small seeded PRNG (mulberry32) so sampling is reproducible independent of the engine's generator. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Ctx {
  model: T5ForConditionalGeneration;
  eos: number;
  pad: number;
  start: number;
  vocab: number;
}

/** Additive [rows, V] mask from the hook (0 allowed, -inf banned) or null when no row is constrained. */
function constraintMask(ctx: Ctx, rows: number, hook: AllowedTokensFn | undefined, batchOf: (r: number) => number, prefixOf: (r: number) => number[], skip: (r: number) => boolean): Tensor | null {
  if (!hook) return null;
  let m: Float32Array | null = null;
  for (let r = 0; r < rows; r++) {
    if (skip(r)) continue;
    const allowed = hook(batchOf(r), Int32Array.from(prefixOf(r)));
    if (allowed === null) continue;
    if (!m) m = new Float32Array(rows * ctx.vocab);
    const row = m.subarray(r * ctx.vocab, (r + 1) * ctx.vocab);
    row.fill(-Infinity);
    if (allowed.length === 0) row[ctx.eos] = 0;
    for (const t of allowed) {
      if (t < 0 || t >= ctx.vocab) throw new Error(`allowedTokens: token ${t} outside the vocabulary [0, ${ctx.vocab})`);
      row[t] = 0;
    }
  }
  return m ? T.tensor(m, [rows, ctx.vocab]) : null;
}

/** Tokens that would complete an n-gram already in `seq` (transformers' NoRepeatNGramLogitsProcessor). */
export function bannedNgramTokens(seq: readonly number[], n: number): number[] {
  if (n <= 0 || seq.length + 1 < n) return [];
  const key = (i: number) => seq.slice(i, i + n - 1).join(',');
  const tail = key(seq.length - n + 1);
  const banned: number[] = [];
  for (let i = 0; i + n <= seq.length; i++) if (key(i) === tail) banned.push(seq[i + n - 1] as number);
  return banned;
}

/**
 * Repetition processors on [rows, V] scores (raw logits for greedy/sampling, log-probs for beam search, as in
 * transformers). `history(r)` is row r's tokens including the decoder start; finished rows are skipped.
 */
function repetitionProcess(ctx: Ctx, scores: Tensor, rows: number, opts: GenerateOptions, history: (r: number) => number[], skip: (r: number) => boolean): Tensor {
  const penalty = opts.repetitionPenalty ?? 1;
  const n = opts.noRepeatNgramSize ?? 0;
  let out = scores;
  if (penalty !== 1) {
    const uniq = Array.from({ length: rows }, (_, r) => [...new Set(history(r))]);
    const k = Math.max(1, ...uniq.map((u) => u.length));
    const idx = new Int32Array(rows * k);
    uniq.forEach((u, r) => { for (let j = 0; j < k; j++) idx[r * k + j] = (u[j] ?? u[0] ?? ctx.start) as number; });
    const it = T.tensor(idx, [rows, k], 'int64');
    const g = out.gather(1, it);
    out = out.scatter(1, it, T.where(g.lt(0), g.mul(penalty), g.div(penalty)));
  }
  if (n > 0) {
    let m: Float32Array | null = null;
    for (let r = 0; r < rows; r++) {
      if (skip(r)) continue;
      const banned = bannedNgramTokens(history(r), n);
      if (banned.length === 0) continue;
      if (!m) m = new Float32Array(rows * ctx.vocab);
      for (const t of banned) m[r * ctx.vocab + t] = -Infinity;
    }
    if (m) out = out.add(T.tensor(m, [rows, ctx.vocab]));
  }
  return out;
}

/** Encode once; returns the cross-attention cache and the source mask bias, both kept. */
function prepare(model: T5ForConditionalGeneration, ids: Int32Array, mask: Int32Array, rows: number, len: number): { cache: DecoderCache; maskBias: Tensor } {
  return T.tidy(() => {
    const m = T.tensor(mask, [rows, len]);
    const enc = model.encode(T.tensor(ids, [rows, len], 'int64'), m);
    return { cache: model.emptyCache(enc), maskBias: T5ForConditionalGeneration.maskBias(m) };
  });
}

/** One cached decoder step: logits [rows, V] (fp32) for `last` tokens; disposes the previous self-attention cache. */
function step(ctx: Ctx, cache: DecoderCache, maskBias: Tensor, last: Int32Array, reorder: Int32Array | null, body: (logits: Tensor) => Tensor[]): { cache: DecoderCache; out: Tensor[] } {
  const rows = last.length;
  const res = T.tidy(() => {
    let c = cache;
    if (reorder) {
      const idx = T.tensor(reorder, [rows], 'int64');
      c = { length: c.length, layers: c.layers.map((l) => ({ cross: l.cross, self: l.self && { k: l.self.k.indexSelect(0, idx), v: l.self.v.indexSelect(0, idx) } })) };
    }
    const { logits, cache: next } = ctx.model.decode(T.tensor(last, [rows, 1], 'int64'), null, maskBias, c);
    return { cache: next!, out: body(logits.view([rows, ctx.vocab]).float()) };
  });
  for (const l of cache.layers) if (l.self) T.dispose([l.self.k, l.self.v]);
  return res;
}

function disposeCache(cache: DecoderCache, maskBias: Tensor): void {
  for (const l of cache.layers) {
    if (l.self) T.dispose([l.self.k, l.self.v]);
    T.dispose([l.cross.k, l.cross.v]);
  }
  maskBias.dispose();
}

export function generate(model: T5ForConditionalGeneration, input: GenerateInput | number[][], opts: GenerateOptions): GenerateOutput {
  return run(model, input, opts, false);
}

/** Beam search even for numBeams 1 (generate() routes that to greedy, as transformers does). */
export function beamSearchGenerate(model: T5ForConditionalGeneration, input: GenerateInput | number[][], opts: GenerateOptions): GenerateOutput {
  return run(model, input, opts, true);
}

function run(model: T5ForConditionalGeneration, input: GenerateInput | number[][], opts: GenerateOptions, forceBeam: boolean): GenerateOutput {
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) throw new Error(`generate: maxNewTokens must be a positive integer, got ${opts.maxNewTokens}`);
  const cfg = model.config;
  const ctx: Ctx = { model, eos: opts.eosTokenId ?? cfg.eosTokenId, pad: opts.padTokenId ?? cfg.padTokenId, start: opts.decoderStartTokenId ?? cfg.decoderStartTokenId, vocab: cfg.vocabSize };
  const inp = Array.isArray(input) ? padBatch(input, ctx.pad) : input;
  if (inp.ids.length !== inp.batch * inp.length || inp.mask.length !== inp.ids.length) throw new Error('generate: ids/mask size does not match batch * length');
  const numBeams = opts.numBeams ?? 1;
  if (opts.repetitionPenalty !== undefined && !(opts.repetitionPenalty > 0)) throw new Error(`generate: repetitionPenalty must be > 0, got ${opts.repetitionPenalty}`);
  if (opts.noRepeatNgramSize !== undefined && !(Number.isInteger(opts.noRepeatNgramSize) && opts.noRepeatNgramSize >= 0)) throw new Error(`generate: noRepeatNgramSize must be a non-negative integer, got ${opts.noRepeatNgramSize}`);
  const wasTraining = model.training;
  model.eval(); // no dropout while generating
  try {
    // As transformers: numBeams 1 without sampling is greedy search.
    return T.noGrad(() => ((numBeams > 1 || forceBeam) && !opts.doSample ? beamSearch(ctx, inp, numBeams, opts) : sampleOrGreedy(ctx, inp, opts)));
  } finally {
    model.train(wasTraining);
  }
}

function sampleOrGreedy(ctx: Ctx, inp: GenerateInput, opts: GenerateOptions): GenerateOutput {
  const n = opts.numReturnSequences ?? 1;
  if (!opts.doSample && n !== 1) throw new Error('generate: greedy decoding returns one sequence per input; use numBeams or doSample for more');
  const rows = inp.batch * n;
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`generate: temperature must be > 0, got ${temperature}`);
  const rand = mulberry32(opts.seed ?? 0);
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${topP}`);
  const { cache: c0, maskBias } = prepare(ctx.model, repeatRows(inp.ids, inp.batch, inp.length, n), repeatRows(inp.mask, inp.batch, inp.length, n), rows, inp.length);
  let cache = c0;
  const seqs: number[][] = Array.from({ length: rows }, () => []);
  const scores = new Array<number>(rows).fill(0);
  const finished = new Array<boolean>(rows).fill(false);
  const last = new Int32Array(rows).fill(ctx.start);
  try {
    for (let t = 0; t < opts.maxNewTokens && !finished.every(Boolean); t++) {
      const r = step(ctx, cache, maskBias, last, null, (raw) => {
        const logits = repetitionProcess(ctx, raw, rows, opts, (i) => [ctx.start, ...seqs[i]], (i) => finished[i]);
        const mask = constraintMask(ctx, rows, opts.allowedTokens, (i) => Math.floor(i / n), (i) => seqs[i], (i) => finished[i]);
        const masked = mask ? logits.add(mask) : logits;
        if (!opts.doSample) {
          const lp = masked.logSoftmax(-1);
          const best = lp.argmax(-1, true);
          return [best, lp.gather(1, best)];
        }
        // Order candidates in libtorch (top-k: only k per row cross over); JS then filters and draws.
        const scaled = masked.div(temperature);
        if (topK > 0) {
          const { values, indices } = scaled.topk(Math.min(topK, ctx.vocab), -1, true);
          return [values, indices];
        }
        if (topP < 1) {
          const { values, indices } = scaled.sort(-1, true);
          return [values, indices];
        }
        return [scaled];
      });
      cache = r.cache;
      let next: number[];
      let stepScores: number[];
      if (!opts.doSample) {
        next = r.out[0].toArray();
        stepScores = r.out[1].toArray();
      } else {
        const vals = r.out[0].toFloat32Array();
        const idx = r.out.length > 1 ? r.out[1].toArray() : null;
        const width = vals.length / rows;
        next = [];
        stepScores = [];
        for (let i = 0; i < rows; i++) {
          const row = vals.subarray(i * width, (i + 1) * width);
          const [j, lp] = sampleRow(row, idx !== null, topP, rand);
          next.push(idx ? idx[i * width + j] : j);
          stepScores.push(lp);
        }
      }
      T.dispose(r.out);
      for (let i = 0; i < rows; i++) {
        if (finished[i]) {
          last[i] = ctx.pad;
          continue;
        }
        seqs[i].push(next[i]);
        scores[i] += stepScores[i];
        last[i] = next[i];
        if (next[i] === ctx.eos) finished[i] = true;
      }
    }
  } finally {
    disposeCache(cache, maskBias);
  }
  return { sequences: seqs, scores };
}

/**
 * Draw from one row of temperature-scaled logits: `sorted` rows are already the top-k (or all) candidates in
 * descending order, to which the top-p cut applies (smallest prefix reaching topP, at least one token);
 * unsorted rows are sampled as they are. Returns [position in the row, log-prob under the filtered distribution].
 */
function sampleRow(x: Float32Array, sorted: boolean, topP: number, rand: () => number): [number, number] {
  let n = x.length;
  if (sorted) while (n > 0 && x[n - 1] === -Infinity) n--; // banned tokens sort last
  let maxv = -Infinity;
  for (let i = 0; i < n; i++) if (x[i] > maxv) maxv = x[i];
  if (maxv === -Infinity) throw new Error('generate: every token is banned for a sampled row');
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(x[i] - maxv);
  if (sorted && topP < 1) {
    let cum = 0;
    let k = 0;
    while (k < n) {
      cum += Math.exp(x[k] - maxv) / z;
      k++;
      if (cum >= topP) break;
    }
    n = k;
    z = 0;
    for (let i = 0; i < n; i++) z += Math.exp(x[i] - maxv);
  }
  let u = rand() * z;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const w = Math.exp(x[i] - maxv);
    if (w === 0) continue;
    last = i;
    u -= w;
    if (u <= 0) return [i, Math.log(w / z)];
  }
  return [last, Math.log(Math.exp(x[last] - maxv) / z)]; // rounding left u > 0: take the last live token
}

interface Hyp {
  score: number;
  tokens: number[];
}

class BeamHyps {
  beams: Hyp[] = [];
  worst = 1e9;
  constructor(readonly numBeams: number, readonly lengthPenalty: number, readonly earlyStopping: boolean | 'never', readonly maxNewTokens: number) {}

  add(tokens: number[], sumLogprobs: number, generatedLen: number): void {
    const score = sumLogprobs / generatedLen ** this.lengthPenalty;
    if (this.beams.length < this.numBeams || score > this.worst) {
      this.beams.push({ score, tokens });
      if (this.beams.length > this.numBeams) {
        const sorted = this.beams.map((b, i) => [b.score, i] as const).sort((a, b) => a[0] - b[0]);
        this.beams.splice(sorted[0][1], 1);
        this.worst = sorted[1][0];
      } else {
        this.worst = Math.min(score, this.worst);
      }
    }
  }

  /** curLen: generated length including the token being chosen this step. */
  isDone(bestSumLogprobs: number, curLen: number): boolean {
    if (this.beams.length < this.numBeams) return false;
    if (this.earlyStopping === true) return true;
    const len = this.earlyStopping === 'never' && this.lengthPenalty > 0 ? this.maxNewTokens : curLen;
    return this.worst >= bestSumLogprobs / len ** this.lengthPenalty;
  }
}

function beamSearch(ctx: Ctx, inp: GenerateInput, nb: number, opts: GenerateOptions): GenerateOutput {
  const nRet = opts.numReturnSequences ?? 1;
  if (nRet > nb) throw new Error(`generate: numReturnSequences ${nRet} > numBeams ${nb}`);
  const B = inp.batch;
  const rows = B * nb;
  const V = ctx.vocab;
  const lp = opts.lengthPenalty ?? 1;
  const hyps = Array.from({ length: B }, () => new BeamHyps(nb, lp, opts.earlyStopping ?? false, opts.maxNewTokens));
  const done = new Array<boolean>(B).fill(false);
  const { cache: c0, maskBias } = prepare(ctx.model, repeatRows(inp.ids, B, inp.length, nb), repeatRows(inp.mask, B, inp.length, nb), rows, inp.length);
  let cache = c0;
  // Only the first beam of each input is live at the start (the others would duplicate it). HF uses -1e9;
  // -inf is the same whenever the vocabulary has 2*numBeams live tokens, and keeps constrained beams from duplicating.
  let beamScores = new Float32Array(rows).map((_, i) => (i % nb === 0 ? 0 : -Infinity));
  let beamTokens: number[][] = Array.from({ length: rows }, () => []);
  const last = new Int32Array(rows).fill(ctx.start);
  let reorder: Int32Array | null = null;
  try {
    for (let t = 0; t < opts.maxNewTokens; t++) {
      const bs = beamScores;
      const r = step(ctx, cache, maskBias, last, reorder, (logits) => {
        let logp = repetitionProcess(ctx, logits.logSoftmax(-1), rows, opts, (i) => [ctx.start, ...beamTokens[i]], (i) => done[Math.floor(i / nb)]);
        const mask = constraintMask(ctx, rows, opts.allowedTokens, (i) => Math.floor(i / nb), (i) => beamTokens[i], (i) => done[Math.floor(i / nb)]);
        if (mask) logp = logp.add(mask);
        const total = logp.add(T.tensor(bs, [rows, 1])).view([B, nb * V]);
        const { values, indices } = total.topk(2 * nb, 1, true);
        return [values, indices];
      });
      cache = r.cache;
      const vals = r.out[0].toFloat32Array();
      const idxs = r.out[1].toArray();
      T.dispose(r.out);
      const nextScores = new Float32Array(rows);
      const nextTokens: number[][] = new Array(rows);
      const src = new Int32Array(rows);
      const curLen = t + 1;
      for (let b = 0; b < B; b++) {
        if (done[b]) {
          for (let j = 0; j < nb; j++) {
            const g = b * nb + j;
            nextScores[g] = 0;
            src[g] = g;
            nextTokens[g] = beamTokens[g];
            last[g] = ctx.pad;
          }
          continue;
        }
        let k = 0;
        for (let rank = 0; rank < 2 * nb && k < nb; rank++) {
          const flat = idxs[b * 2 * nb + rank];
          const score = vals[b * 2 * nb + rank];
          if (score === -Infinity) break; // banned by the constraint hook: never a hypothesis
          const tok = flat % V;
          const from = b * nb + Math.floor(flat / V);
          if (tok === ctx.eos) {
            if (rank >= nb) continue; // HF: an EOS ranked below the top numBeams does not count
            hyps[b].add([...beamTokens[from], tok], score, curLen);
          } else {
            const g = b * nb + k;
            nextScores[g] = score;
            src[g] = from;
            nextTokens[g] = [...beamTokens[from], tok];
            last[g] = tok;
            k++;
          }
        }
        if (k === 0) done[b] = true; // nothing left to extend
        // Constraints can leave fewer live continuations than beams: park the rest as dead beams.
        for (; k < nb; k++) {
          const g = b * nb + k;
          nextScores[g] = -Infinity;
          src[g] = b * nb;
          nextTokens[g] = beamTokens[b * nb];
          last[g] = ctx.pad;
        }
        let best = -Infinity;
        for (let rank = 0; rank < 2 * nb; rank++) best = Math.max(best, vals[b * 2 * nb + rank]);
        done[b] = done[b] || hyps[b].isDone(best, curLen);
      }
      beamScores = nextScores;
      beamTokens = nextTokens;
      let identity = true;
      for (let g = 0; g < rows; g++) if (src[g] !== g) identity = false;
      reorder = identity ? null : src;
      if (done.every(Boolean)) break;
    }
  } finally {
    disposeCache(cache, maskBias);
  }
  // Unfinished inputs: their live beams compete with the finished hypotheses.
  for (let b = 0; b < B; b++) {
    if (done[b]) continue;
    for (let j = 0; j < nb; j++) if (beamScores[b * nb + j] > -Infinity) hyps[b].add(beamTokens[b * nb + j], beamScores[b * nb + j], beamTokens[b * nb + j].length);
  }
  const sequences: number[][] = [];
  const scores: number[] = [];
  for (let b = 0; b < B; b++) {
    const sorted = [...hyps[b].beams].sort((x, y) => y.score - x.score);
    for (let j = 0; j < nRet; j++) {
      // Fewer hypotheses than requested only happens when constraints ban everything: return empty ones.
      sequences.push(j < sorted.length ? sorted[j].tokens : []);
      scores.push(j < sorted.length ? sorted[j].score : -Infinity);
    }
  }
  return { sequences, scores };
}

/** GenerateOptions from a Hugging Face generation_config.json (keys it does not know are ignored). maxNewTokens must still be given. */
export function generationOptionsFromHF(gc: Record<string, unknown>, maxNewTokens: number): GenerateOptions {
  const n = (k: string) => (typeof gc[k] === 'number' ? (gc[k] as number) : undefined);
  const es = gc.early_stopping;
  return {
    maxNewTokens,
    numBeams: n('num_beams'),
    numReturnSequences: n('num_return_sequences'),
    lengthPenalty: n('length_penalty'),
    earlyStopping: es === true || es === false || es === 'never' ? es : undefined,
    doSample: gc.do_sample === true ? true : undefined,
    temperature: n('temperature'),
    topK: n('top_k'),
    topP: n('top_p'),
    eosTokenId: Array.isArray(gc.eos_token_id) ? (gc.eos_token_id[0] as number) : n('eos_token_id'),
    padTokenId: n('pad_token_id'),
    decoderStartTokenId: n('decoder_start_token_id'),
    noRepeatNgramSize: n('no_repeat_ngram_size'),
    repetitionPenalty: n('repetition_penalty'),
  };
}

/** Texts in, texts out: tokenize (with `</s>`, truncated to maxSourceLength), generate, decode (keeps `<sep>`). */
export async function generateText(
  model: T5ForConditionalGeneration,
  tokenizer: { encodePadded(texts: string[], o: { maxLength?: number }): Promise<GenerateInput>; decodeBatch(seqs: number[][]): Promise<string[]> },
  texts: string[],
  opts: GenerateOptions & { maxSourceLength?: number },
): Promise<{ texts: string[]; scores: number[] }> {
  if (texts.length === 0) return { texts: [], scores: [] };
  const batch = await tokenizer.encodePadded(texts, { maxLength: opts.maxSourceLength });
  const out = generate(model, batch, opts);
  return { texts: await tokenizer.decodeBatch(out.sequences), scores: out.scores };
}
