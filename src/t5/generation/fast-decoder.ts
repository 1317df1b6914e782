// The fast decoder: T5's decoder specialised to one new position per step (see the class comment).

import * as T from '../../tensor';
import type { DType, Device, Tensor } from '../../tensor';
import { T5DenseActDense, T5DenseGatedActDense, bucketMatrix, type T5ForConditionalGeneration } from '../model';
import type { Decoder } from './decoder';
import type { GenerateInput, GenerationContext } from './types';

const F32_MIN = -3.4028234663852886e38; // torch.finfo(float32).min, as model.ts masks

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
  /**
   * [rowCap, cap, H, 3, d_kv]: q, k, v of each row's decoded positions, a row's position p at slot p (rows added later
   * start at slot 0, see placeRows); q/k/v are views on it ([rows, H, cap, d_kv]).
   */
  cache: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  /** Cross-attention keys and values [rowCap, H, S, d_kv] (rows past the batch's are spare). */
  crossK: Tensor;
  crossV: Tensor;
}

/**
 * Rows the encoder takes at once when encoding a decoder's inputs: the encoder's activations of a whole batch
 * ([B*S, d_ff] and the attention scores) were the largest item of a predict pass's peak memory; in chunks of 16 rows
 * they are a quarter of that, at the same speed (each row's result does not depend on the others).
 */
const ENCODE_ROWS = 16;

/** model.encode over row chunks of at most ENCODE_ROWS, concatenated ([B, S, d_model]). */
function encodeInChunks(model: T5ForConditionalGeneration, ids: Tensor, mask: Tensor): Tensor {
  const B = ids.shape[0]!;
  if (B <= ENCODE_ROWS) return model.encode(ids, mask);
  const parts: Tensor[] = [];
  for (let i = 0; i < B; i += ENCODE_ROWS) {
    const n = Math.min(ENCODE_ROWS, B - i);
    parts.push(T.tidy(() => model.encode(ids.narrow(0, i, n), mask.narrow(0, i, n))));
  }
  return T.cat(parts, 0);
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
export class FastDecoder implements Decoder {
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
  private lnFinal!: Tensor;
  private outScale = 1;
  private lmHead!: Tensor;
  /** [1, H, 1, maxLen]: relative position bias of key offsets -(maxLen-1) .. 0 (a query at t sees -t .. 0). */
  private posBias!: Tensor;
  /** [maxLen + 1, H]: posBias's columns as rows, then finfo.min (a slot past a row's position), gathered per row. */
  private posTable!: Tensor;
  /** [rows, 1, 1, S]: 0 where the source has a token, finfo.min on padding; null when no source is padded. */
  private maskBias: Tensor | null = null;
  private rows = 0;
  /** Rows the state tensors hold (>= rows): rows join in spare ones without copying the others (reserveRows). */
  private rowCap = 0;
  /** Each row's next position (tokens fed so far). */
  private ages = new Int32Array(0);
  private cap = 0;

  /**
   * `reserve`: rows the state tensors keep room for once they have grown to them (a decoder that inputs keep joining,
   * RowDecoder's `grow`); 0: exactly the rows in the batch.
   */
  constructor(
    private readonly ctx: GenerationContext,
    inp: GenerateInput,
    n: number,
    maxLen: number,
    private readonly reserve = 0,
  ) {
    const cfg = ctx.model.config;
    this.H = cfg.numHeads;
    this.dKv = cfg.dKv;
    this.eps = cfg.layerNormEpsilon;
    this.maxLen = maxLen;
    // Autocast (CPU, bf16) is on when a float32 linear comes out in bf16.
    const autocast = T.tidy(() => T.linear(T.zeros([1, 1]), T.zeros([1, 1])).dtype) !== 'float32';
    this.dtype = autocast ? 'bfloat16' : ctx.model.shared.dtype;
    this.device = ctx.model.shared.device;
    this.transposed = this.dtype === 'float32';
    try {
      T.tidy(() => this.build(autocast));
      const first = this.encodeRows(inp, n);
      this.addRows(
        first,
        Int32Array.from({ length: first.rows }, (_, i) => i),
      );
      disposeEncoded(first);
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

  /** Weights as the steps take them; no rows yet. */
  private build(autocast: boolean): void {
    const model = this.ctx.model;
    const cfg = model.config;
    const { H, dKv: d } = this;
    const D = cfg.dModel;
    // Projection weights as proj() takes them: bf16 [out, in] under autocast; float32 [in, out] (a contiguous
    // transpose: OpenBLAS multiplies 16-row inputs 1.2-1.5x faster by it than by the transposed [out, in]).
    const w = (p: Tensor) =>
      autocast ? this.own(p.to('bfloat16')) : this.transposed ? this.own(p.transpose(0, 1).contiguous()) : p;
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
        crossK: null!,
        crossV: null!,
      });
    }
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
    const table = T.embedding(rel, T.tensor(buckets, [this.maxLen], 'int64')); // [maxLen, H]
    this.posBias = table.transpose(0, 1).view([1, H, 1, this.maxLen]).keep();
    this.posTable = T.cat([table, T.full([1, H], F32_MIN)], 0).keep();
    this.cap = Math.min(this.maxLen, 32);
    for (const l of this.layers)
      this.setCache(l, T.zeros([0, this.cap, H, 3, d], { dtype: this.dtype, device: this.device }));
    for (const l of this.layers) {
      l.crossK = T.zeros([0, H, 1, d], { dtype: this.dtype, device: this.device }).keep();
      l.crossV = T.zeros([0, H, 1, d], { dtype: this.dtype, device: this.device }).keep();
    }
  }

  /**
   * Encodes `inp` (each source repeated n times) into the rows addRows() and placeRows() take: per decoder layer the
   * cross-attention keys and values [B*n, H, S, d_kv], and the source mask bias. Kept: the caller disposes them
   * (disposeEncoded) once every row it wants is added.
   */
  encodeRows(inp: GenerateInput, n: number): EncodedRows {
    return T.tidy(() => {
      const model = this.ctx.model;
      const { H, dKv: d } = this;
      const B = inp.batch;
      const S = inp.length;
      const mask = T.tensor(inp.mask, [B, S]);
      const enc = encodeInChunks(model, T.tensor(inp.ids, [B, S], 'int64'), mask); // each source once, repeated below
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
      const crossK: Tensor[] = [];
      const crossV: Tensor[] = [];
      for (const blk of model.decoderBlocks) {
        const ca = blk.crossAttn!;
        crossK.push(heads(T.linear(enc, ca.k)));
        crossV.push(heads(T.linear(enc, ca.v)));
      }
      const maskBias = inp.mask.some((m) => m === 0)
        ? repeat(T.where(mask.gt(0), 0, F32_MIN))
            .view([B * n, 1, 1, S])
            .keep()
        : null;
      return { crossK, crossV, maskBias, rows: B * n, length: S };
    });
  }

  /**
   * Appends rows `idx` of `src` to the batch, each at position 0 (its first step feeds the decoder start), in spare
   * rows of the state tensors (reserveRows), as placeRows() puts rows in finished ones' places.
   */
  addRows(src: EncodedRows, idx: Int32Array): void {
    const n = idx.length;
    if (n === 0) return;
    const R = this.rows;
    this.reserveRows(R + n);
    const ages = new Int32Array(R + n);
    ages.set(this.ages);
    this.ages = ages;
    this.rows = R + n;
    this.placeRows(
      Int32Array.from({ length: n }, (_, j) => R + j),
      src,
      idx,
    );
  }

  /** Grows the state tensors to hold `need` rows: to exactly that for the first rows, else at least doubling. */
  private reserveRows(need: number): void {
    if (need <= this.rowCap) return;
    const cap = this.rowCap === 0 ? need : Math.max(need, 2 * this.rowCap);
    const extra = (t: Tensor) => {
      const shape = [...t.shape];
      shape[0] = cap - this.rowCap;
      return T.cat([t, T.zeros(shape, { dtype: t.dtype, device: t.device })], 0).keep();
    };
    T.tidy(() => {
      for (const l of this.layers) {
        this.setCache(l, extra(l.cache));
        const [k, v] = [extra(l.crossK), extra(l.crossV)];
        T.dispose([l.crossK, l.crossV]);
        l.crossK = k;
        l.crossV = v;
      }
      if (this.maskBias) {
        const m = extra(this.maskBias);
        this.maskBias.dispose();
        this.maskBias = m;
      }
    });
    this.rowCap = cap;
  }

  /** The first `rows` rows of a state tensor (all of it when no row is spare). */
  private live(t: Tensor): Tensor {
    return this.rowCap === this.rows ? t : t.narrow(0, 0, this.rows);
  }

  /**
   * Puts rows `idx` of `src` in the places of rows `slots` (finished ones), each at position 0: their
   * cross-attention state is written over the old rows' (every source padded to the longest first), nothing else moves. The old rows' self-attention cache stays
   * where it is: the new rows' positions past their own are masked (stepBias), where it adds exact zeros.
   */
  placeRows(slots: Int32Array, src: EncodedRows, idx: Int32Array): void {
    const n = idx.length;
    if (n === 0) return;
    if (slots.length !== n) throw new Error(`generate: ${n} rows for ${slots.length} places`);
    if (src.length > this.layers[0]!.crossK.shape[2]!) this.padSources(src.length);
    const S = this.layers[0]!.crossK.shape[2]!;
    T.tidy(() => {
      const ix = T.tensor(idx, [n], 'int64');
      const at = T.tensor(slots, [n], 'int64');
      this.layers.forEach((l, i) => {
        l.crossK.indexCopy_(0, at, padSource(src.crossK[i]!.indexSelect(0, ix), S));
        l.crossV.indexCopy_(0, at, padSource(src.crossV[i]!.indexSelect(0, ix), S));
      });
      if (this.maskBias === null && (src.maskBias !== null || src.length < S))
        this.maskBias = T.zeros([this.rowCap, 1, 1, S]).keep();
      this.maskBias?.indexCopy_(0, at, sourceBias(pickRows(src.maskBias, ix), n, src.length, S));
    });
    for (const s of slots) this.ages[s] = 0;
  }

  /** Pads every row's source to `S` tokens (a longer one is coming: inputs sorted by length grow one by one). */
  private padSources(S: number): void {
    T.tidy(() => {
      const liveS = this.layers[0]!.crossK.shape[2]!;
      for (const l of this.layers) {
        const k = padSource(l.crossK, S).keep();
        const v = padSource(l.crossV, S).keep();
        T.dispose([l.crossK, l.crossV]);
        l.crossK = k;
        l.crossV = v;
      }
      const bias = sourceBias(this.maskBias, this.rowCap, liveS, S).keep();
      T.dispose([this.maskBias]);
      this.maskBias = bias;
    });
  }

  /** Installs a self-attention cache tensor and its q / k / v views (inside a tidy). */
  private setCache(l: StepLayer, c: Tensor): void {
    T.dispose([l.cache, l.q, l.k, l.v]);
    l.cache = c.keep();
    const view = (j: number) => c.narrow(3, j, 1).squeeze(3).transpose(1, 2).keep(); // [rows, H, cap, d]
    l.q = view(0);
    l.k = view(1);
    l.v = view(2);
  }

  /** bf16: oneDNN sums each output column of the head in the same order whatever the number of columns. */
  get sparseHeadExact(): boolean {
    return this.dtype === 'bfloat16';
  }

  /** The oldest row's next position (0 without rows). */
  get maxAge(): number {
    let m = 0;
    for (const a of this.ages) m = a > m ? a : m;
    return m;
  }

  /**
   * The self-attention bias of a step: the position bias of each row's keys, [1, H, 1, L] when every row is at the
   * same position (a narrow of posBias), else [rows, H, 1, L] gathered per row, finfo.min past a row's position.
   */
  private stepBias(L: number): Tensor {
    const ages = this.ages;
    const t = ages[0] ?? 0;
    if (ages.every((a) => a === t)) return this.posBias.narrow(3, this.maxLen - 1 - t, L);
    const R = this.rows;
    const ix = new Int32Array(R * L);
    for (let r = 0; r < R; r++) {
      const a = ages[r]!;
      for (let j = 0; j < L; j++) ix[r * L + j] = j <= a ? this.maxLen - 1 - a + j : this.maxLen;
    }
    return T.embedding(this.posTable, T.tensor(ix, [R, L], 'int64'))
      .permute([0, 2, 1])
      .unsqueeze(2);
  }

  step(last: Int32Array, body: (logits: Tensor) => Tensor[], vocabRows?: Int32Array): Tensor[] {
    const R = this.rows;
    if (last.length !== R) throw new Error(`generate: ${last.length} tokens for ${R} decoder rows`);
    const L = this.maxAge + 1;
    if (L > this.maxLen) throw new Error(`generate: decoder step ${L - 1} beyond maxNewTokens ${this.maxLen}`);
    if (L > this.cap) this.grow(L);
    const { H, dKv: d, eps, cap } = this;
    const inner = H * d;
    const ages = this.ages;
    const out = T.tidy(() => {
      let h = this.ctx.model.embed(T.tensor(last, [R], 'int64'));
      const pb = this.stepBias(L);
      const slots = T.tensor(
        Int32Array.from(this.ages, (a, r) => r * cap + a),
        [R],
        'int64',
      );
      for (const l of this.layers) {
        const qkv = this.proj(T.rmsNorm(h, l.lnSelf, eps), l.qkv).view([R, 3 * inner]);
        l.cache.view([this.rowCap * cap, 3 * inner]).indexCopy_(0, slots, qkv);
        // Each row's query at its own position ([rows, H, 1, d]): the projection just stored.
        const q = qkv.view([R, H, 3, d]).narrow(2, 0, 1);
        const a = T.attention(q, this.live(l.k).narrow(2, 0, L), this.live(l.v).narrow(2, 0, L), pb); // no 1/sqrt(d_kv), as T5
        h = h.add(this.proj(a.view([R, inner]), l.o));
        const cq = this.proj(T.rmsNorm(h, l.lnCross, eps), l.cq).view([R, H, 1, d]);
        const mb = this.maskBias && this.live(this.maskBias);
        h = h.add(this.proj(T.attention(cq, this.live(l.crossK), this.live(l.crossV), mb).view([R, inner]), l.co));
        let u = this.proj(T.rmsNorm(h, l.lnFf, eps), l.wi);
        u = l.dFf > 0 ? l.act(u.narrow(1, 0, l.dFf)).mul(u.narrow(1, l.dFf, l.dFf)) : l.act(u);
        h = h.add(this.proj(u, l.wo));
      }
      h = T.rmsNorm(h, this.lnFinal, eps);
      // The tied-embedding rescale as lmLogits() applies it (folding it into the norm's weight rounds differently).
      // Constrained greedy search: only the rows of the head that some row may emit ([U, D]: a few hundred of the vocabulary).
      const head = vocabRows
        ? this.lmHead.indexSelect(0, T.tensor(vocabRows, [vocabRows.length], 'int64'))
        : this.lmHead;
      const logits = T.linear(this.outScale === 1 ? h : h.mul(this.outScale), head);
      return body(this.dtype === 'float32' ? logits : logits.float());
    });
    for (let r = 0; r < R; r++) ages[r]!++;
    return out;
  }

  /** Doubles the self-attention cache's capacity until it holds `L` positions (up to maxNewTokens). */
  private grow(L: number): void {
    let cap = this.cap;
    while (cap < L) cap = Math.min(this.maxLen, cap * 2);
    T.tidy(() => {
      for (const l of this.layers) {
        const extra = T.zeros([this.rowCap, cap - this.cap, this.H, 3, this.dKv], {
          dtype: this.dtype,
          device: this.device,
        });
        this.setCache(l, T.cat([l.cache, extra], 1));
      }
    });
    this.cap = cap;
  }

  select(idx: Int32Array, sameSources: boolean): void {
    const n = idx.length;
    // A decoder that rows keep joining (reserve) moves the kept rows to the front in place: its spare rows stay, so
    // the next rows join without a copy of the others (stale state in spare rows is overwritten or masked).
    const inPlace = this.reserve > 0 && this.rowCap <= this.reserve;
    T.tidy(() => {
      const ix = T.tensor(idx, [n], 'int64');
      const front = inPlace
        ? T.tensor(
            Int32Array.from({ length: n }, (_, i) => i),
            [n],
            'int64',
          )
        : null;
      const pick = (x: Tensor) => {
        if (front) return x.indexCopy_(0, front, x.indexSelect(0, ix));
        const y = x.indexSelect(0, ix).keep();
        x.dispose();
        return y;
      };
      // Without spare rows, a reorder among each input's beams leaves the sources as they are.
      const sources = !sameSources || this.rowCap !== this.rows;
      for (const l of this.layers) {
        if (front) pick(l.cache);
        else this.setCache(l, l.cache.indexSelect(0, ix));
        if (!sources) continue;
        l.crossK = pick(l.crossK);
        l.crossV = pick(l.crossV);
      }
      if (sources && this.maskBias) this.maskBias = pick(this.maskBias);
    });
    this.ages = Int32Array.from(idx, (i) => this.ages[i]!);
    this.rows = n;
    if (!inPlace) this.rowCap = n;
  }

  dispose(): void {
    T.dispose(this.owned);
    for (const l of this.layers) T.dispose([l.cache, l.q, l.k, l.v, l.crossK, l.crossV]);
    T.dispose([this.posBias, this.posTable, this.maskBias]);
  }
}

/** Rows of one encoded batch, for FastDecoder.addRows() and placeRows(). */
export interface EncodedRows {
  /** Per decoder layer, [rows, H, S, d_kv]. */
  crossK: Tensor[];
  crossV: Tensor[];
  /** [rows, 1, 1, S], or null when no source is padded. */
  maskBias: Tensor | null;
  rows: number;
  /** S, the padded source length. */
  length: number;
}

export function disposeEncoded(e: EncodedRows): void {
  T.dispose([...e.crossK, ...e.crossV, e.maskBias]);
}

/** [rows, H, s0, d] padded with zeros to [rows, H, S, d] (keys and values after a source's own: masked). */
function padSource(t: Tensor, S: number): Tensor {
  const s0 = t.shape[2]!;
  if (s0 === S) return t;
  const shape = [...t.shape];
  shape[2] = S - s0;
  return T.cat([t, T.zeros(shape, { dtype: t.dtype, device: t.device })], 2);
}

/** A source mask bias [rows, 1, 1, s0] (null: no padding) as [rows, 1, 1, S], finfo.min past s0. */
function sourceBias(b: Tensor | null, rows: number, s0: number, S: number): Tensor {
  const base = b ?? T.zeros([rows, 1, 1, s0]);
  return s0 === S ? base : T.cat([base, T.full([rows, 1, 1, S - s0], F32_MIN)], 3);
}

const pickRows = (t: Tensor | null, ix: Tensor): Tensor | null => t && t.indexSelect(0, ix);
