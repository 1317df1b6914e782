// The fast decoder: T5's decoder specialised to one new position per step (see the class comment).

import * as T from '../../tensor';
import type { DType, Device, Tensor } from '../../tensor';
import { T5DenseActDense, T5DenseGatedActDense, bucketMatrix } from '../model';
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
    private readonly ctx: GenerationContext,
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

  /** bf16: oneDNN sums each output column of the head in the same order whatever the number of columns. */
  get sparseHeadExact(): boolean {
    return this.dtype === 'bfloat16';
  }

  step(last: Int32Array, body: (logits: Tensor) => Tensor[], vocabRows?: Int32Array): Tensor[] {
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
      // Constrained greedy search: only the rows of the head that some row may emit ([U, D]: a few hundred of the vocabulary).
      const head = vocabRows
        ? this.lmHead.indexSelect(0, T.tensor(vocabRows, [vocabRows.length], 'int64'))
        : this.lmHead;
      const logits = T.linear(this.outScale === 1 ? h : h.mul(this.outScale), head);
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
