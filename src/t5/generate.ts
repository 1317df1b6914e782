// Generation for T5: greedy, beam search (HF BeamSearchScorer semantics: length penalty,
// early stopping True/False/'never', n-best) and sampling (temperature -> top-k -> top-p).
// Batched over padded sources; the decoder runs one position per step on a KV cache, and finished
// rows leave the batch.

import * as T from '../tensor';
import type { DType, Device, Tensor } from '../tensor';
import { DecoderCache, T5DenseActDense, T5DenseGatedActDense, T5ForConditionalGeneration, bucketMatrix } from './model';

const F32_MIN = -3.4028234663852886e38; // torch.finfo(float32).min, as model.ts masks

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
  /**
   * Per sequence, the log-probability of each of its tokens (same length as the sequence) under the distribution the
   * step drew it from: the processed logits (repetition processors, the allowedTokens constraint) renormalised over
   * what they allow; sampling: after temperature / top-k / top-p. Greedy: they sum to `scores`. Beam search: the
   * chosen hypothesis's tokens; without processors or constraint they sum to the unnormalised beam score.
   */
  tokenLogProbs: number[][];
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
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) out.set(x.subarray(r * len, (r + 1) * len), (r * n + j) * len);
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
function constraintMask(
  ctx: Ctx,
  rows: number,
  hook: AllowedTokensFn | undefined,
  batchOf: (r: number) => number,
  prefixOf: (r: number) => number[],
  skip: (r: number) => boolean,
): Tensor | null {
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
      if (t < 0 || t >= ctx.vocab)
        throw new Error(`allowedTokens: token ${t} outside the vocabulary [0, ${ctx.vocab})`);
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
function repetitionProcess(
  ctx: Ctx,
  scores: Tensor,
  rows: number,
  opts: GenerateOptions,
  history: (r: number) => number[],
  skip: (r: number) => boolean,
): Tensor {
  const penalty = opts.repetitionPenalty ?? 1;
  const n = opts.noRepeatNgramSize ?? 0;
  let out = scores;
  if (penalty !== 1) {
    const uniq = Array.from({ length: rows }, (_, r) => [...new Set(history(r))]);
    const k = Math.max(1, ...uniq.map((u) => u.length));
    const idx = new Int32Array(rows * k);
    uniq.forEach((u, r) => {
      for (let j = 0; j < k; j++) idx[r * k + j] = (u[j] ?? u[0] ?? ctx.start) as number;
    });
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

/** Switches for tests and benchmarks (A/B in one process); both are on in normal use. */
export const generationTuning = {
  /** Fused projections, preallocated KV cache, single-query attention; false = model.decode() step by step (the reference). */
  fastDecoder: true,
  /** Drop finished rows (greedy/sampling) and finished inputs (beam search) from the decoded batch. */
  dropFinished: true,
};

/** Decoding state behind the search loops: advances the rows currently in the batch by one position per step. */
interface Decoder {
  /** Feeds `last` (one token per batch row); `body` turns the float32 logits [rows, V] into the tensors to return. */
  step(last: Int32Array, body: (logits: Tensor) => Tensor[]): Tensor[];
  /**
   * Keeps batch rows `idx`, in that order (beam reorder, dropping finished rows). `sameSources`: every row keeps
   * its source (a reorder among the beams of each input), so the cross-attention state stays as it is.
   */
  select(idx: Int32Array, sameSources: boolean): void;
  dispose(): void;
}

function makeDecoder(ctx: Ctx, inp: GenerateInput, n: number, maxNewTokens: number): Decoder {
  return generationTuning.fastDecoder ? new FastDecoder(ctx, inp, n, maxNewTokens) : new ReferenceDecoder(ctx, inp, n);
}

/** Encode once (rows repeated n times); returns the cross-attention cache and the source mask bias, both kept. */
function prepare(
  model: T5ForConditionalGeneration,
  ids: Int32Array,
  mask: Int32Array,
  rows: number,
  len: number,
): { cache: DecoderCache; maskBias: Tensor } {
  return T.tidy(() => {
    const m = T.tensor(mask, [rows, len]);
    const enc = model.encode(T.tensor(ids, [rows, len], 'int64'), m);
    return { cache: model.emptyCache(enc), maskBias: T5ForConditionalGeneration.maskBias(m) };
  });
}

/** model.decode() one position at a time on its growing (T.cat) cache: the straightforward reference. */
class ReferenceDecoder implements Decoder {
  private cache: DecoderCache;
  private maskBias: Tensor;
  constructor(
    private readonly ctx: Ctx,
    inp: GenerateInput,
    n: number,
  ) {
    const p = prepare(
      ctx.model,
      repeatRows(inp.ids, inp.batch, inp.length, n),
      repeatRows(inp.mask, inp.batch, inp.length, n),
      inp.batch * n,
      inp.length,
    );
    this.cache = p.cache;
    this.maskBias = p.maskBias;
  }

  step(last: Int32Array, body: (logits: Tensor) => Tensor[]): Tensor[] {
    const rows = last.length;
    const res = T.tidy(() => {
      const { logits, cache } = this.ctx.model.decode(
        T.tensor(last, [rows, 1], 'int64'),
        null,
        this.maskBias,
        this.cache,
      );
      return { cache: cache!, out: body(logits.view([rows, this.ctx.vocab]).float()) };
    });
    for (const l of this.cache.layers) if (l.self) T.dispose([l.self.k, l.self.v]);
    this.cache = res.cache;
    return res.out;
  }

  select(idx: Int32Array, sameSources: boolean): void {
    const old = this.cache;
    const oldBias = this.maskBias;
    const res = T.tidy(() => {
      const ix = T.tensor(idx, [idx.length], 'int64');
      const pick = (t: Tensor) => t.indexSelect(0, ix);
      const layers = old.layers.map((l) => ({
        self: l.self && { k: pick(l.self.k), v: pick(l.self.v) },
        cross: sameSources ? l.cross : { k: pick(l.cross.k), v: pick(l.cross.v) },
      }));
      return { cache: { length: old.length, layers }, maskBias: sameSources ? oldBias : pick(oldBias) };
    });
    for (const l of old.layers) {
      if (l.self) T.dispose([l.self.k, l.self.v]);
      if (!sameSources) T.dispose([l.cross.k, l.cross.v]);
    }
    if (!sameSources) oldBias.dispose();
    this.cache = res.cache;
    this.maskBias = res.maskBias;
  }

  dispose(): void {
    for (const l of this.cache.layers) {
      if (l.self) T.dispose([l.self.k, l.self.v]);
      T.dispose([l.cross.k, l.cross.v]);
    }
    this.maskBias.dispose();
  }
}

/** One decoder block as the fast path runs it: weights (fused or cast for this call) and the per-row state. */
interface StepLayer {
  lnSelf: Tensor;
  /** q, k, v rows interleaved per head ([H, 3, d_kv, D] flattened, in proj()'s layout), so one copy_ stores a step's q/k/v. */
  qkv: Tensor;
  o: Tensor;
  lnCross: Tensor;
  cq: Tensor;
  co: Tensor;
  lnFf: Tensor;
  /** wi, or wi_0 and wi_1 stacked (gated: dFf > 0). */
  wi: Tensor;
  wo: Tensor;
  dFf: number;
  act: (x: Tensor) => Tensor;
  /** [rows, H, cap, 3, d_kv]: q, k, v of every decoded position; q/k/v are views on it ([rows, H, cap, d_kv]). */
  cache: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  /** Cross-attention keys and values [rows, H, S, d_kv]. */
  crossK: Tensor;
  crossV: Tensor;
}

/**
 * The decoder of T5ForConditionalGeneration.decode() specialised to one new position per step (same math, see
 * model.ts), built for one generate() call. Per block and step: self-attention q/k/v in one linear, stored by one
 * copy_ into a preallocated cache; attention as one fused native call (T.attention) on cache views, with the
 * relative position bias and the source mask broadcast over rows; the gated FFN's two inputs in one linear.
 * Fused weights are rebuilt per call (training updates the parameters in place between calls) and disposed with
 * the decoder. Under autocast every weight is cast to bf16 here once: the fused ones are not leaf parameters,
 * which autocast's weight cache would cast again on every call.
 */
class FastDecoder implements Decoder {
  private readonly owned: Tensor[] = [];
  private readonly layers: StepLayer[] = [];
  private readonly H: number;
  private readonly dKv: number;
  private readonly eps: number;
  private readonly maxLen: number;
  private readonly dtype: DType;
  private readonly device: Device;
  /** float32 weights are kept transposed ([in, out]) for proj(). */
  private readonly transposed: boolean;
  private embed!: Tensor;
  private lnFinal!: Tensor;
  private outScale = 1;
  private lmHead!: Tensor;
  /** [1, H, 1, maxLen]: relative position bias of key offsets -(maxLen-1) .. 0 (a query at t sees -t .. 0). */
  private posBias!: Tensor;
  /** [rows, 1, 1, S]: 0 where the source has a token, finfo.min on padding; null when no source is padded. */
  private maskBias: Tensor | null = null;
  private rows: number;
  private pos = 0;
  private cap = 0;

  constructor(
    private readonly ctx: Ctx,
    inp: GenerateInput,
    n: number,
    maxLen: number,
  ) {
    const cfg = ctx.model.config;
    this.H = cfg.numHeads;
    this.dKv = cfg.dKv;
    this.eps = cfg.layerNormEpsilon;
    this.maxLen = maxLen;
    this.rows = inp.batch * n;
    // Autocast (CPU, bf16) is on when a float32 linear comes out in bf16.
    const autocast = T.tidy(() => T.linear(T.zeros([1, 1]), T.zeros([1, 1])).dtype) !== 'float32';
    this.dtype = autocast ? 'bfloat16' : ctx.model.shared.dtype;
    this.device = ctx.model.shared.device;
    this.transposed = this.dtype === 'float32';
    try {
      T.tidy(() => this.build(inp, n, autocast));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** x [rows, in] times a projection weight prepared by build(). */
  private proj(x: Tensor, w: Tensor): Tensor {
    return this.transposed ? x.matmul(w) : T.linear(x, w);
  }

  private own(t: Tensor): Tensor {
    this.owned.push(t.keep());
    return t;
  }

  private build(inp: GenerateInput, n: number, autocast: boolean): void {
    const model = this.ctx.model;
    const cfg = model.config;
    const { H, dKv: d } = this;
    const D = cfg.dModel;
    // Projection weights as proj() takes them: bf16 [out, in] under autocast; float32 [in, out] (a contiguous
    // transpose: OpenBLAS multiplies 16-row inputs 1.2-1.5x faster by it than by the transposed [out, in]).
    const w = (p: Tensor) =>
      autocast ? this.own(p.to('bfloat16')) : this.transposed ? this.own(p.transpose(0, 1).contiguous()) : p;
    const B = inp.batch;
    const S = inp.length;
    const mask = T.tensor(inp.mask, [B, S]);
    const enc = model.encode(T.tensor(inp.ids, [B, S], 'int64'), mask); // each source once, repeated below
    const rep =
      n > 1
        ? T.tensor(
            Int32Array.from({ length: B * n }, (_, i) => Math.floor(i / n)),
            [B * n],
            'int64',
          )
        : null;
    const repeat = (t: Tensor) => (rep ? t.indexSelect(0, rep) : t);
    const heads = (t: Tensor) => repeat(t.view([B, S, H, d]).transpose(1, 2)).keep(); // [rows, H, S, d]
    for (const blk of model.decoderBlocks) {
      const sa = blk.selfAttn;
      const ca = blk.crossAttn!;
      const ff = blk.ff;
      const gated = ff instanceof T5DenseGatedActDense;
      this.layers.push({
        lnSelf: blk.selfLn.weight,
        qkv: w(
          T.stack(
            [sa.q, sa.k, sa.v].map((p) => p.view([H, d, D])),
            1,
          ).view([3 * H * d, D]),
        ),
        o: w(sa.o),
        lnCross: blk.crossLn!.weight,
        cq: w(ca.q),
        co: w(ca.o),
        lnFf: blk.ffLn.weight,
        wi: w(gated ? T.cat([ff.wi0, ff.wi1], 0) : (ff as T5DenseActDense).wi),
        wo: w(ff.wo),
        dFf: gated ? cfg.dFf : 0,
        act: ff.act,
        cache: null!,
        q: null!,
        k: null!,
        v: null!,
        crossK: heads(T.linear(enc, ca.k)),
        crossV: heads(T.linear(enc, ca.v)),
      });
    }
    this.embed = model.shared;
    this.lnFinal = model.decoderFinalLn.weight;
    this.outScale = cfg.scaleDecoderOutputs ? cfg.dModel ** -0.5 : 1;
    const head = model.lmHead ?? model.shared;
    this.lmHead = autocast ? this.own(head.to('bfloat16')) : head; // [V, D]: T.linear is as fast on it
    const buckets = bucketMatrix(
      this.maxLen - 1,
      1,
      this.maxLen,
      false,
      cfg.relativeAttentionNumBuckets,
      cfg.relativeAttentionMaxDistance,
    );
    const rel = model.decoderBlocks[0].selfAttn.relativeAttentionBias!;
    this.posBias = T.embedding(rel, T.tensor(buckets, [this.maxLen], 'int64'))
      .transpose(0, 1)
      .view([1, H, 1, this.maxLen])
      .keep();
    if (inp.mask.some((m) => m === 0))
      this.maskBias = repeat(T.where(mask.gt(0), 0, F32_MIN))
        .view([this.rows, 1, 1, S])
        .keep();
    this.cap = Math.min(this.maxLen, 32);
    for (const l of this.layers)
      this.setCache(l, T.zeros([this.rows, H, this.cap, 3, d], { dtype: this.dtype, device: this.device }));
  }

  /** Installs a self-attention cache tensor and its q / k / v views (inside a tidy). */
  private setCache(l: StepLayer, c: Tensor): void {
    T.dispose([l.cache, l.q, l.k, l.v]);
    l.cache = c.keep();
    l.q = c.narrow(3, 0, 1).squeeze(3).keep();
    l.k = c.narrow(3, 1, 1).squeeze(3).keep();
    l.v = c.narrow(3, 2, 1).squeeze(3).keep();
  }

  step(last: Int32Array, body: (logits: Tensor) => Tensor[]): Tensor[] {
    const R = this.rows;
    if (last.length !== R) throw new Error(`generate: ${last.length} tokens for ${R} decoder rows`);
    const t = this.pos;
    if (t >= this.maxLen) throw new Error(`generate: decoder step ${t} beyond maxNewTokens ${this.maxLen}`);
    if (t >= this.cap) this.grow();
    const L = t + 1;
    const { H, dKv: d, eps } = this;
    const inner = H * d;
    const out = T.tidy(() => {
      let h = T.embedding(this.embed, T.tensor(last, [R], 'int64'));
      const pb = this.posBias.narrow(3, this.maxLen - 1 - t, L);
      for (const l of this.layers) {
        l.cache.narrow(2, t, 1).copy_(this.proj(T.rmsNorm(h, l.lnSelf, eps), l.qkv).view([R, H, 1, 3, d]));
        const a = T.attention(l.q.narrow(2, t, 1), l.k.narrow(2, 0, L), l.v.narrow(2, 0, L), pb); // no 1/sqrt(d_kv), as T5
        h = h.add(this.proj(a.view([R, inner]), l.o));
        const cq = this.proj(T.rmsNorm(h, l.lnCross, eps), l.cq).view([R, H, 1, d]);
        h = h.add(this.proj(T.attention(cq, l.crossK, l.crossV, this.maskBias).view([R, inner]), l.co));
        let u = this.proj(T.rmsNorm(h, l.lnFf, eps), l.wi);
        u = l.dFf > 0 ? l.act(u.narrow(1, 0, l.dFf)).mul(u.narrow(1, l.dFf, l.dFf)) : l.act(u);
        h = h.add(this.proj(u, l.wo));
      }
      h = T.rmsNorm(h, this.lnFinal, eps);
      // The tied-embedding rescale as lmLogits() applies it (folding it into the norm's weight rounds differently).
      const logits = T.linear(this.outScale === 1 ? h : h.mul(this.outScale), this.lmHead);
      return body(this.dtype === 'float32' ? logits : logits.float());
    });
    this.pos++;
    return out;
  }

  /** Doubles the self-attention cache's capacity (up to maxNewTokens), keeping the positions decoded so far. */
  private grow(): void {
    const cap = Math.min(this.maxLen, this.cap * 2);
    T.tidy(() => {
      for (const l of this.layers) {
        const extra = T.zeros([this.rows, this.H, cap - this.cap, 3, this.dKv], {
          dtype: this.dtype,
          device: this.device,
        });
        this.setCache(l, T.cat([l.cache, extra], 2));
      }
    });
    this.cap = cap;
  }

  select(idx: Int32Array, sameSources: boolean): void {
    T.tidy(() => {
      const ix = T.tensor(idx, [idx.length], 'int64');
      const pick = (x: Tensor) => {
        const y = x.indexSelect(0, ix).keep();
        x.dispose();
        return y;
      };
      for (const l of this.layers) {
        this.setCache(l, l.cache.indexSelect(0, ix));
        if (sameSources) continue;
        l.crossK = pick(l.crossK);
        l.crossV = pick(l.crossV);
      }
      if (!sameSources && this.maskBias) this.maskBias = pick(this.maskBias);
    });
    this.rows = idx.length;
  }

  dispose(): void {
    T.dispose(this.owned);
    for (const l of this.layers) T.dispose([l.cache, l.q, l.k, l.v, l.crossK, l.crossV]);
    T.dispose([this.posBias, this.maskBias]);
  }
}

export function generate(
  model: T5ForConditionalGeneration,
  input: GenerateInput | number[][],
  opts: GenerateOptions,
): GenerateOutput {
  return run(model, input, opts, false);
}

/** Beam search even for numBeams 1 (generate() routes that to greedy, as transformers does). */
export function beamSearchGenerate(
  model: T5ForConditionalGeneration,
  input: GenerateInput | number[][],
  opts: GenerateOptions,
): GenerateOutput {
  return run(model, input, opts, true);
}

function run(
  model: T5ForConditionalGeneration,
  input: GenerateInput | number[][],
  opts: GenerateOptions,
  forceBeam: boolean,
): GenerateOutput {
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1)
    throw new Error(`generate: maxNewTokens must be a positive integer, got ${opts.maxNewTokens}`);
  T.governThreads(); // fewer threads while other processes want the cores (src/tensor/threads.ts)
  const cfg = model.config;
  const ctx: Ctx = {
    model,
    eos: opts.eosTokenId ?? cfg.eosTokenId,
    pad: opts.padTokenId ?? cfg.padTokenId,
    start: opts.decoderStartTokenId ?? cfg.decoderStartTokenId,
    vocab: cfg.vocabSize,
  };
  const inp = Array.isArray(input) ? padBatch(input, ctx.pad) : input;
  if (inp.ids.length !== inp.batch * inp.length || inp.mask.length !== inp.ids.length)
    throw new Error('generate: ids/mask size does not match batch * length');
  const numBeams = opts.numBeams ?? 1;
  if (opts.repetitionPenalty !== undefined && !(opts.repetitionPenalty > 0))
    throw new Error(`generate: repetitionPenalty must be > 0, got ${opts.repetitionPenalty}`);
  if (
    opts.noRepeatNgramSize !== undefined &&
    !(Number.isInteger(opts.noRepeatNgramSize) && opts.noRepeatNgramSize >= 0)
  )
    throw new Error(`generate: noRepeatNgramSize must be a non-negative integer, got ${opts.noRepeatNgramSize}`);
  const wasTraining = model.training;
  model.eval(); // no dropout while generating
  try {
    // As transformers: numBeams 1 without sampling is greedy search.
    return T.noGrad(() =>
      (numBeams > 1 || forceBeam) && !opts.doSample
        ? beamSearch(ctx, inp, numBeams, opts)
        : sampleOrGreedy(ctx, inp, opts),
    );
  } finally {
    model.train(wasTraining);
  }
}

/** A finished-row count worth a compaction: copying the caches costs about one step of the rows dropped. */
function worthDropping(finished: number, rows: number): boolean {
  return generationTuning.dropFinished && finished > 0 && finished * 8 >= rows;
}

function sampleOrGreedy(ctx: Ctx, inp: GenerateInput, opts: GenerateOptions): GenerateOutput {
  const n = opts.numReturnSequences ?? 1;
  if (!opts.doSample && n !== 1)
    throw new Error('generate: greedy decoding returns one sequence per input; use numBeams or doSample for more');
  const rows = inp.batch * n;
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`generate: temperature must be > 0, got ${temperature}`);
  const rand = mulberry32(opts.seed ?? 0);
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${topP}`);
  const dec = makeDecoder(ctx, inp, n, opts.maxNewTokens);
  const seqs: number[][] = Array.from({ length: rows }, () => []);
  const tokenLogProbs: number[][] = Array.from({ length: rows }, () => []);
  const scores = new Array<number>(rows).fill(0);
  const finished = new Array<boolean>(rows).fill(false);
  let live = rows;
  // Batch row i decodes row act[i] (ascending: rows are only ever dropped).
  let act = Int32Array.from({ length: rows }, (_, i) => i);
  let last = new Int32Array(rows).fill(ctx.start);
  try {
    for (let t = 0; t < opts.maxNewTokens && live > 0; t++) {
      const R = act.length;
      const out = dec.step(last, (raw) => {
        const logits = repetitionProcess(
          ctx,
          raw,
          R,
          opts,
          (i) => [ctx.start, ...seqs[act[i]]],
          (i) => finished[act[i]],
        );
        const mask = constraintMask(
          ctx,
          R,
          opts.allowedTokens,
          (i) => Math.floor(act[i] / n),
          (i) => seqs[act[i]],
          (i) => finished[act[i]],
        );
        const masked = mask ? logits.add(mask) : logits;
        if (!opts.doSample) {
          // Argmax of the logits and its log-probability (logit - logsumexp): no [rows, V] log-softmax.
          const best = masked.argmax(-1, true);
          return [best, masked.gather(1, best).sub(masked.logsumexp(-1, true))];
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
      let next: number[];
      let stepScores: number[];
      if (!opts.doSample) {
        next = out[0].toArray();
        stepScores = out[1].toArray();
      } else {
        const vals = out[0].toFloat32Array();
        const idx = out.length > 1 ? out[1].toArray() : null;
        const width = vals.length / R;
        next = [];
        stepScores = [];
        // One draw per row of the full batch in row order, dropped rows included, so dropping leaves the draws unchanged.
        for (let r = 0, i = 0; r < rows; r++) {
          if (i >= R || act[i] !== r) {
            rand();
            continue;
          }
          const [j, lp] = sampleRow(vals.subarray(i * width, (i + 1) * width), idx !== null, topP, rand);
          next.push(idx ? idx[i * width + j] : j);
          stepScores.push(lp);
          i++;
        }
      }
      T.dispose(out);
      let done = 0;
      for (let i = 0; i < R; i++) {
        const r = act[i];
        if (finished[r]) {
          last[i] = ctx.pad;
          done++;
          continue;
        }
        seqs[r].push(next[i]);
        tokenLogProbs[r].push(stepScores[i]);
        scores[r] += stepScores[i];
        last[i] = next[i];
        if (next[i] === ctx.eos) {
          finished[r] = true;
          live--;
          done++;
        }
      }
      if (live > 0 && t + 1 < opts.maxNewTokens && worthDropping(done, R)) {
        const keep = Int32Array.from(act.keys()).filter((i) => !finished[act[i]]);
        dec.select(keep, false);
        act = keep.map((i) => act[i]);
        last = keep.map((i) => last[i]);
      }
    }
  } finally {
    dec.dispose();
  }
  return { sequences: seqs, scores, tokenLogProbs };
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
  logProbs: number[];
}

class BeamHyps {
  beams: Hyp[] = [];
  worst = 1e9;
  constructor(
    readonly numBeams: number,
    readonly lengthPenalty: number,
    readonly earlyStopping: boolean | 'never',
    readonly maxNewTokens: number,
  ) {}

  add(tokens: number[], logProbs: number[], sumLogprobs: number, generatedLen: number): void {
    const score = sumLogprobs / generatedLen ** this.lengthPenalty;
    if (this.beams.length < this.numBeams || score > this.worst) {
      this.beams.push({ score, tokens, logProbs });
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
  const V = ctx.vocab;
  const lp = opts.lengthPenalty ?? 1;
  const hyps = Array.from({ length: B }, () => new BeamHyps(nb, lp, opts.earlyStopping ?? false, opts.maxNewTokens));
  const done = new Array<boolean>(B).fill(false);
  const dec = makeDecoder(ctx, inp, nb, opts.maxNewTokens);
  // Only the first beam of each input is live at the start (the others would duplicate it). HF uses -1e9;
  // -inf is the same whenever the vocabulary has 2*numBeams live tokens, and keeps constrained beams from duplicating.
  // Scores and tokens are indexed by global row b * nb + j; the batch holds the beams of inputs actB.
  const beamScores = new Float32Array(B * nb).map((_, i) => (i % nb === 0 ? 0 : -Infinity));
  let beamTokens: number[][] = Array.from({ length: B * nb }, () => []);
  // Each beam's per-token log-probabilities, renormalised where processors or the constraint changed the step's scores.
  let beamLogProbs: number[][] = Array.from({ length: B * nb }, () => []);
  const renormalise =
    opts.allowedTokens !== undefined || (opts.repetitionPenalty ?? 1) !== 1 || (opts.noRepeatNgramSize ?? 0) > 0;
  let actB = Int32Array.from({ length: B }, (_, b) => b);
  let last = new Int32Array(B * nb).fill(ctx.start);
  const row = (g: number) => actB[Math.floor(g / nb)] * nb + (g % nb); // batch row -> global row
  try {
    for (let t = 0; t < opts.maxNewTokens; t++) {
      const Ba = actB.length;
      const rows = Ba * nb;
      const bs = new Float32Array(rows).map((_, g) => beamScores[row(g)]);
      const skip = (g: number) => done[actB[Math.floor(g / nb)]];
      const out = dec.step(last, (logits) => {
        let logp = repetitionProcess(
          ctx,
          logits.logSoftmax(-1),
          rows,
          opts,
          (g) => [ctx.start, ...beamTokens[row(g)]],
          skip,
        );
        const mask = constraintMask(
          ctx,
          rows,
          opts.allowedTokens,
          (g) => actB[Math.floor(g / nb)],
          (g) => beamTokens[row(g)],
          skip,
        );
        if (mask) logp = logp.add(mask);
        const total = logp.add(T.tensor(bs, [rows, 1])).view([Ba, nb * V]);
        const { values, indices } = total.topk(2 * nb, 1, true);
        // The candidates' own token log-probs (gathered, not total - beam score: exact in float32), and each row's
        // log of the mass the processors and the constraint left, to renormalise them.
        const picked = logp.view([Ba, nb * V]).gather(1, indices);
        return renormalise ? [values, indices, picked, logp.logsumexp(-1)] : [values, indices, picked];
      });
      const vals = out[0].toFloat32Array();
      const idxs = out[1].toArray();
      const picked = out[2].toFloat32Array();
      const lse = renormalise ? out[3].toFloat32Array() : null;
      T.dispose(out);
      const tokenLp = (a: number, rank: number, from: number) =>
        picked[a * 2 * nb + rank] - (lse ? lse[a * nb + from] : 0);
      const nextTokens = beamTokens.slice();
      const nextLogProbs = beamLogProbs.slice();
      const src = new Int32Array(rows); // batch row -> batch row it continues
      const curLen = t + 1;
      for (let a = 0; a < Ba; a++) {
        const b = actB[a];
        if (done[b]) {
          for (let j = 0; j < nb; j++) {
            src[a * nb + j] = a * nb + j;
            last[a * nb + j] = ctx.pad;
          }
          continue;
        }
        let k = 0;
        for (let rank = 0; rank < 2 * nb && k < nb; rank++) {
          const flat = idxs[a * 2 * nb + rank];
          const score = vals[a * 2 * nb + rank];
          if (score === -Infinity) break; // banned by the constraint hook: never a hypothesis
          const tok = flat % V;
          const from = Math.floor(flat / V);
          if (tok === ctx.eos) {
            if (rank >= nb) continue; // HF: an EOS ranked below the top numBeams does not count
            hyps[b].add(
              [...beamTokens[b * nb + from], tok],
              [...beamLogProbs[b * nb + from], tokenLp(a, rank, from)],
              score,
              curLen,
            );
          } else {
            beamScores[b * nb + k] = score;
            src[a * nb + k] = a * nb + from;
            nextTokens[b * nb + k] = [...beamTokens[b * nb + from], tok];
            nextLogProbs[b * nb + k] = [...beamLogProbs[b * nb + from], tokenLp(a, rank, from)];
            last[a * nb + k] = tok;
            k++;
          }
        }
        if (k === 0) done[b] = true; // nothing left to extend
        // Constraints can leave fewer live continuations than beams: park the rest as dead beams.
        for (; k < nb; k++) {
          beamScores[b * nb + k] = -Infinity;
          src[a * nb + k] = a * nb;
          nextTokens[b * nb + k] = beamTokens[b * nb];
          nextLogProbs[b * nb + k] = beamLogProbs[b * nb];
          last[a * nb + k] = ctx.pad;
        }
        let best = -Infinity;
        for (let rank = 0; rank < 2 * nb; rank++) best = Math.max(best, vals[a * 2 * nb + rank]);
        done[b] = done[b] || hyps[b].isDone(best, curLen);
      }
      beamTokens = nextTokens;
      beamLogProbs = nextLogProbs;
      if (done.every(Boolean) || t + 1 >= opts.maxNewTokens) break;
      let identity = true;
      for (let g = 0; g < rows; g++) if (src[g] !== g) identity = false;
      const finishedInputs = actB.filter((b) => done[b]).length;
      if (
        worthDropping(finishedInputs * nb, rows) ||
        (generationTuning.dropFinished && finishedInputs > 0 && !identity)
      ) {
        // Reorder and drop in one selection: the beams of finished inputs leave the batch.
        const keepA = Int32Array.from(actB.keys()).filter((a) => !done[actB[a]]);
        const idx = new Int32Array(keepA.length * nb);
        const nextLast = new Int32Array(keepA.length * nb);
        keepA.forEach((a, i) => {
          for (let j = 0; j < nb; j++) {
            idx[i * nb + j] = src[a * nb + j];
            nextLast[i * nb + j] = last[a * nb + j];
          }
        });
        dec.select(idx, false);
        actB = keepA.map((a) => actB[a]);
        last = nextLast;
      } else if (!identity) {
        dec.select(src, true);
      }
    }
  } finally {
    dec.dispose();
  }
  // Unfinished inputs: their live beams compete with the finished hypotheses.
  for (let b = 0; b < B; b++) {
    if (done[b]) continue;
    for (let j = 0; j < nb; j++)
      if (beamScores[b * nb + j] > -Infinity)
        hyps[b].add(
          beamTokens[b * nb + j],
          beamLogProbs[b * nb + j],
          beamScores[b * nb + j],
          beamTokens[b * nb + j].length,
        );
  }
  const sequences: number[][] = [];
  const scores: number[] = [];
  const tokenLogProbs: number[][] = [];
  for (let b = 0; b < B; b++) {
    const sorted = [...hyps[b].beams].sort((x, y) => y.score - x.score);
    for (let j = 0; j < nRet; j++) {
      // Fewer hypotheses than requested only happens when constraints ban everything: return empty ones.
      sequences.push(j < sorted.length ? sorted[j].tokens : []);
      scores.push(j < sorted.length ? sorted[j].score : -Infinity);
      tokenLogProbs.push(j < sorted.length ? sorted[j].logProbs : []);
    }
  }
  return { sequences, scores, tokenLogProbs };
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
  tokenizer: {
    encodePadded(texts: string[], o: { maxLength?: number }): Promise<GenerateInput>;
    decodeBatch(seqs: number[][]): Promise<string[]>;
  },
  texts: string[],
  opts: GenerateOptions & { maxSourceLength?: number },
): Promise<{ texts: string[]; scores: number[] }> {
  if (texts.length === 0) return { texts: [], scores: [] };
  const batch = await tokenizer.encodePadded(texts, { maxLength: opts.maxSourceLength });
  const out = generate(model, batch, opts);
  return { texts: await tokenizer.decodeBatch(out.sequences), scores: out.scores };
}
