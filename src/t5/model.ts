// T5ForConditionalGeneration on the tensor engine, following Hugging Face modeling_t5.py:
// pre-norm blocks with RMS layer norm (no bias, no mean subtraction, computed in fp32),
// attention WITHOUT 1/sqrt(d) scaling (folded into the init), relative position bias
// computed by the first layer of each stack and shared by the others, ReLU or gated-GELU FFN,
// tied embeddings rescaled by d_model^-0.5 before the LM head.
// Parameter names are exactly the keys of HF's state_dict.

import * as T from '../tensor';
import type { Tensor } from '../tensor';
import { T5Config, ffnKind, validateConfig } from './config';

const F32_MIN = -3.4028234663852886e38; // torch.finfo(float32).min: masked scores stay finite (no NaN rows)

// False while building a model whose weights are about to be loaded: skips the random draws.
let randomInit = true;

/** A weight drawn from T5's init scheme (std null = ones, for layer norms), kept alive across tidy() scopes. */
function param(shape: number[], std: number | null): Tensor {
  const t = T.zeros(shape);
  if (std === null) t.fill_(1);
  else if (randomInit) t.normal_(0, std);
  return t.setRequiresGrad(true).keep();
}

type Named = Array<[string, Tensor]>;

/**
 * Inverted dropout. Free when inactive (generation runs hundreds per step). On uniform draws (rand(x.shape))
 * because libtorch's CPU dropout draws Bernoulli samples about twice as slowly, and a T5 train step draws ~20M of
 * them; T.uniformDropout is x.maskedFill(rand(x.shape).lt(p), 0).mul(1 / (1 - p)) bit for bit (the same draws,
 * values and gradient) in one fused pass each way. Dtype preserved for bf16.
 */
export function drop(x: Tensor, p: number, training: boolean): Tensor {
  if (!training || p <= 0) return x;
  return T.uniformDropout(x, p);
}

export class T5LayerNorm {
  readonly weight: Tensor;
  constructor(
    d: number,
    readonly eps: number,
  ) {
    this.weight = param([d], null); // HF init: ones (times initializer_factor)
  }
  forward(x: Tensor): Tensor {
    const y = T.rmsNorm(x, this.weight, this.eps);
    // Under autocast every consumer of a norm's output is a linear that casts it to bf16 (q, k and v each did): cast
    // once here. Same values; the residual stream stays fp32. A third of a bf16 step's casts, measured.
    const ac = T.autocastDtype();
    return ac !== null && y.dtype === 'float32' ? y.to(ac) : y;
  }
  named(prefix: string): Named {
    return [[`${prefix}.weight`, this.weight]];
  }
}

/** v1.0 FFN: wo(dropout(relu(wi(x)))). */
export class T5DenseActDense {
  readonly wi: Tensor;
  readonly wo: Tensor;
  constructor(
    readonly cfg: T5Config,
    readonly act: (x: Tensor) => Tensor,
  ) {
    const f = cfg.initializerFactor;
    this.wi = param([cfg.dFf, cfg.dModel], f * cfg.dModel ** -0.5);
    this.wo = param([cfg.dModel, cfg.dFf], f * cfg.dFf ** -0.5);
  }
  forward(x: Tensor, training: boolean): Tensor {
    const h = this.act(T.linear(x, this.wi));
    return T.linear(drop(h, this.cfg.dropoutRate, training), this.wo);
  }
  named(prefix: string): Named {
    return [
      [`${prefix}.wi.weight`, this.wi],
      [`${prefix}.wo.weight`, this.wo],
    ];
  }
}

/** v1.1/flan FFN: wo(dropout(act(wi_0(x)) * wi_1(x))). */
export class T5DenseGatedActDense {
  readonly wi0: Tensor;
  readonly wi1: Tensor;
  readonly wo: Tensor;
  constructor(
    readonly cfg: T5Config,
    readonly act: (x: Tensor) => Tensor,
  ) {
    const f = cfg.initializerFactor;
    this.wi0 = param([cfg.dFf, cfg.dModel], f * cfg.dModel ** -0.5);
    this.wi1 = param([cfg.dFf, cfg.dModel], f * cfg.dModel ** -0.5);
    this.wo = param([cfg.dModel, cfg.dFf], f * cfg.dFf ** -0.5);
  }
  forward(x: Tensor, training: boolean): Tensor {
    const h = this.act(T.linear(x, this.wi0)).mul(T.linear(x, this.wi1));
    return T.linear(drop(h, this.cfg.dropoutRate, training), this.wo);
  }
  named(prefix: string): Named {
    return [
      [`${prefix}.wi_0.weight`, this.wi0],
      [`${prefix}.wi_1.weight`, this.wi1],
      [`${prefix}.wo.weight`, this.wo],
    ];
  }
}

/** Keys/values of one attention, [batch, heads, length, d_kv]. */
export interface KV {
  k: Tensor;
  v: Tensor;
}

export class T5Attention {
  readonly q: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  readonly o: Tensor;
  readonly relativeAttentionBias: Tensor | null;
  readonly inner: number;
  constructor(
    readonly cfg: T5Config,
    hasRelativeAttentionBias: boolean,
  ) {
    const f = cfg.initializerFactor;
    const d = cfg.dModel;
    this.inner = cfg.numHeads * cfg.dKv;
    // HF _init_weights: q absorbs the missing 1/sqrt(d_kv) attention scaling.
    this.q = param([this.inner, d], f * (d * cfg.dKv) ** -0.5);
    this.k = param([this.inner, d], f * d ** -0.5);
    this.v = param([this.inner, d], f * d ** -0.5);
    this.o = param([d, this.inner], f * this.inner ** -0.5);
    this.relativeAttentionBias = hasRelativeAttentionBias
      ? param([cfg.relativeAttentionNumBuckets, cfg.numHeads], f * d ** -0.5)
      : null;
  }

  /** [B, L, inner] -> [B, H, L, d_kv] */
  private heads(x: Tensor): Tensor {
    const [b, l] = x.shape;
    return x.view([b, l, this.cfg.numHeads, this.cfg.dKv]).transpose(1, 2);
  }

  /** Project keys/values from `x` ([B, L, D]); used for self-attention steps and (once) for cross-attention. */
  project(x: Tensor): KV {
    return { k: this.heads(T.linear(x, this.k)), v: this.heads(T.linear(x, this.v)) };
  }

  /**
   * x: normed hidden [B, Lq, D]; kv: keys/values [B, H, Lk, d_kv];
   * bias: position bias + mask, broadcastable to [B, H, Lq, Lk], or null.
   */
  forward(x: Tensor, kv: KV, bias: Tensor | null, training: boolean): Tensor {
    const [b, l] = x.shape;
    const q = this.heads(T.linear(x, this.q));
    let scores = q.matmul(kv.k.transpose(2, 3)); // no 1/sqrt(d_kv): T5 folds it into q's init
    if (bias) scores = scores.add(bias);
    let w = (scores.dtype === 'float32' ? scores : scores.float()).softmax(-1); // softmax in fp32 as HF does
    if (w.dtype !== kv.v.dtype) w = w.to(kv.v.dtype);
    w = drop(w, this.cfg.dropoutRate, training);
    const out = w.matmul(kv.v).transpose(1, 2).reshape([b, l, this.inner]);
    return T.linear(out, this.o);
  }

  named(prefix: string): Named {
    const n: Named = [
      [`${prefix}.q.weight`, this.q],
      [`${prefix}.k.weight`, this.k],
      [`${prefix}.v.weight`, this.v],
      [`${prefix}.o.weight`, this.o],
    ];
    if (this.relativeAttentionBias) n.push([`${prefix}.relative_attention_bias.weight`, this.relativeAttentionBias]);
    return n;
  }
}

/**
 * HF `_relative_position_bucket` on integers. The log branch is evaluated in float32 steps
 * (Math.fround) because torch computes it on float32 tensors and the truncation must agree.
 */
export function relativePositionBucket(
  relativePosition: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): number {
  let bucket = 0;
  let n = numBuckets;
  let rp = relativePosition;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rp > 0) bucket += n;
    rp = Math.abs(rp);
  } else {
    rp = -Math.min(rp, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rp < maxExact) return bucket + rp;
  const ratio = Math.fround(Math.fround(rp) / maxExact);
  const logRatio = Math.fround(Math.log(ratio));
  const scaled = Math.fround(Math.fround(logRatio / Math.fround(Math.log(maxDistance / maxExact))) * (n - maxExact));
  return bucket + Math.min(maxExact + Math.trunc(scaled), n - 1);
}

const bucketCache = new Map<string, Int32Array>();

/** Buckets for queries at positions [qStart, qStart+qLen) against keys [0, kLen), row-major [qLen, kLen]. */
export function bucketMatrix(
  qStart: number,
  qLen: number,
  kLen: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): Int32Array {
  const key = `${qStart},${qLen},${kLen},${bidirectional},${numBuckets},${maxDistance}`;
  let m = bucketCache.get(key);
  if (!m) {
    m = new Int32Array(qLen * kLen);
    for (let i = 0; i < qLen; i++) {
      for (let j = 0; j < kLen; j++)
        m[i * kLen + j] = relativePositionBucket(j - (qStart + i), bidirectional, numBuckets, maxDistance);
    }
    if (bucketCache.size > 4096) bucketCache.clear();
    bucketCache.set(key, m);
  }
  return m;
}

export class T5Block {
  readonly selfLn: T5LayerNorm;
  readonly selfAttn: T5Attention;
  readonly crossLn: T5LayerNorm | null;
  readonly crossAttn: T5Attention | null;
  readonly ffLn: T5LayerNorm;
  readonly ff: T5DenseActDense | T5DenseGatedActDense;
  constructor(
    readonly cfg: T5Config,
    readonly isDecoder: boolean,
    hasRelativeAttentionBias: boolean,
  ) {
    this.selfLn = new T5LayerNorm(cfg.dModel, cfg.layerNormEpsilon);
    this.selfAttn = new T5Attention(cfg, hasRelativeAttentionBias);
    this.crossLn = isDecoder ? new T5LayerNorm(cfg.dModel, cfg.layerNormEpsilon) : null;
    this.crossAttn = isDecoder ? new T5Attention(cfg, false) : null;
    this.ffLn = new T5LayerNorm(cfg.dModel, cfg.layerNormEpsilon);
    const { gated, act } = ffnKind(cfg);
    const fn =
      act === 'relu'
        ? (x: Tensor) => x.relu()
        : act === 'gelu'
          ? (x: Tensor) => x.gelu('none')
          : (x: Tensor) => x.gelu('tanh');
    this.ff = gated ? new T5DenseGatedActDense(cfg, fn) : new T5DenseActDense(cfg, fn);
  }

  /**
   * One pre-norm block, each sub-layer added to the residual stream `h`: self-attention (over `past` keys/values, if
   * any, followed by this call's positions), cross-attention to `cross` (decoder blocks only), FFN.
   * Returns the new hidden states and the self-attention keys/values (the decoder cache keeps them).
   */
  forward(
    h: Tensor,
    selfBias: Tensor | null,
    training: boolean,
    past: KV | null = null,
    cross: { kv: KV; bias: Tensor | null } | null = null,
  ): { hidden: Tensor; selfKV: KV } {
    const p = this.cfg.dropoutRate;
    // Each sub-layer runs in its own tidy(), so that its intermediates (scores, softmax, the FFN's [rows, d_ff]
    // activations and their bf16 casts) are released when it ends, as PyTorch frees them when the last reference
    // goes: without it they lived until the caller's scope closed, i.e. every layer's at once (an fp32 encoder pass of
    // 64 sentences held ~300 MB more). Autograd keeps what the backward needs; values are unchanged.
    const { x, kv } = T.tidy(() => {
      const x = this.selfLn.forward(h);
      let kv = this.selfAttn.project(x);
      if (past) kv = { k: T.cat([past.k, kv.k], 2), v: T.cat([past.v, kv.v], 2) };
      return { x, kv };
    });
    h = h.add(T.tidy(() => drop(this.selfAttn.forward(x, kv, selfBias, training), p, training)));
    x.dispose();
    const crossAttn = this.crossAttn;
    const crossLn = this.crossLn;
    if (crossAttn && crossLn) {
      if (!cross) throw new Error('T5Block: a decoder block needs the cross-attention keys/values');
      const c = cross;
      h = h.add(T.tidy(() => drop(crossAttn.forward(crossLn.forward(h), c.kv, c.bias, training), p, training)));
    }
    h = h.add(T.tidy(() => drop(this.ff.forward(this.ffLn.forward(h), training), p, training)));
    return { hidden: h, selfKV: kv };
  }

  named(prefix: string): Named {
    const n: Named = [
      ...this.selfAttn.named(`${prefix}.layer.0.SelfAttention`),
      ...this.selfLn.named(`${prefix}.layer.0.layer_norm`),
    ];
    let i = 1;
    if (this.crossAttn && this.crossLn) {
      n.push(
        ...this.crossAttn.named(`${prefix}.layer.1.EncDecAttention`),
        ...this.crossLn.named(`${prefix}.layer.1.layer_norm`),
      );
      i = 2;
    }
    n.push(
      ...this.ff.named(`${prefix}.layer.${i}.DenseReluDense`),
      ...this.ffLn.named(`${prefix}.layer.${i}.layer_norm`),
    );
    return n;
  }
}

/** Decoder cache for one layer: self-attention K/V grow by one position per step; cross K/V are computed once. */
export interface LayerCache {
  self: KV | null;
  cross: KV;
}

export interface DecoderCache {
  /** Number of decoder positions already in the self-attention cache. */
  length: number;
  layers: LayerCache[];
}

export interface Seq2SeqBatch {
  /** int64 [B, S] */
  inputIds: Tensor;
  /** [B, S], 1 = token, 0 = padding; omitted = no padding */
  attentionMask?: Tensor | null;
  /** int64 [B, T]; defaults to shiftRight(labels) */
  decoderInputIds?: Tensor | null;
  /** int64 [B, T] with -100 where no loss is taken */
  labels?: Tensor | null;
}

/** Whether every value of an fp32 tensor is a bf16 value (its bf16 cast loses nothing). */
function bf16Exact(p: Tensor): boolean {
  return T.tidy(() => p.to('bfloat16').float().ne(p).sum().item() === 0);
}

/** Checkpoint names of the weights that enter the model only through a matmul (keepLinearWeightsInBf16). */
const LINEAR_WEIGHT = /\.(q|k|v|o|wi|wi_0|wi_1|wo)\.weight$|^lm_head\.weight$/;

export class T5ForConditionalGeneration {
  readonly config: T5Config;
  readonly shared: Tensor;
  readonly encoderBlocks: T5Block[];
  readonly encoderFinalLn: T5LayerNorm;
  readonly decoderBlocks: T5Block[];
  readonly decoderFinalLn: T5LayerNorm;
  readonly lmHead: Tensor | null;
  training = false;

  /**
   * Randomly initialised per HF `_init_weights`; `seed` seeds the engine's global generator first.
   * `init: false` leaves weights at zero (layer norms at one) for a checkpoint load to fill.
   */
  constructor(config: T5Config, opts: { seed?: number; init?: boolean } = {}) {
    const cfg = validateConfig({ ...config });
    this.config = cfg;
    if (opts.seed !== undefined) T.manualSeed(opts.seed);
    const f = cfg.initializerFactor;
    randomInit = opts.init ?? true;
    try {
      this.shared = param([cfg.vocabSize, cfg.dModel], f * 1.0);
      this.encoderBlocks = Array.from({ length: cfg.numLayers }, (_, i) => new T5Block(cfg, false, i === 0));
      this.encoderFinalLn = new T5LayerNorm(cfg.dModel, cfg.layerNormEpsilon);
      this.decoderBlocks = Array.from({ length: cfg.numDecoderLayers }, (_, i) => new T5Block(cfg, true, i === 0));
      this.decoderFinalLn = new T5LayerNorm(cfg.dModel, cfg.layerNormEpsilon);
      this.lmHead = cfg.tieWordEmbeddings ? null : param([cfg.vocabSize, cfg.dModel], f * 1.0);
    } finally {
      randomInit = true;
    }
  }

  train(on = true): this {
    this.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Unique parameters with their canonical HF names (shared once; lm_head only when untied). */
  namedParameters(): Named {
    const n: Named = [['shared.weight', this.shared]];
    this.encoderBlocks.forEach((b, i) => n.push(...b.named(`encoder.block.${i}`)));
    n.push(...this.encoderFinalLn.named('encoder.final_layer_norm'));
    this.decoderBlocks.forEach((b, i) => n.push(...b.named(`decoder.block.${i}`)));
    n.push(...this.decoderFinalLn.named('decoder.final_layer_norm'));
    if (this.lmHead) n.push(['lm_head.weight', this.lmHead]);
    return n;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** All keys of HF's state_dict(), tied aliases included (same order as torch's module registration). */
  stateDict(): Map<string, Tensor> {
    const m = new Map<string, Tensor>();
    m.set('shared.weight', this.shared);
    m.set('encoder.embed_tokens.weight', this.shared);
    this.encoderBlocks.forEach((b, i) => b.named(`encoder.block.${i}`).forEach(([k, t]) => m.set(k, t)));
    m.set('encoder.final_layer_norm.weight', this.encoderFinalLn.weight);
    m.set('decoder.embed_tokens.weight', this.shared);
    this.decoderBlocks.forEach((b, i) => b.named(`decoder.block.${i}`).forEach(([k, t]) => m.set(k, t)));
    m.set('decoder.final_layer_norm.weight', this.decoderFinalLn.weight);
    m.set('lm_head.weight', this.lmHead ?? this.shared);
    return m;
  }

  /**
   * For inference under bf16 autocast only: every linear layer's weight (attention q/k/v/o, FFN, an untied LM head) is
   * kept in bf16, which is what autocast casts it to at each matmul, instead of fp32, so outputs are unchanged and
   * the weights take less memory (no fp32 copy; the fast decoder's casts of the unfused ones become views). The
   * embedding is also a lookup: it becomes bf16 only when every value already is one (a bf16 file, as the shipped
   * base), so the lookup (cast back to fp32, embed()) is exact; else it stays fp32, as the norms and position biases.
   * Such a model can no longer be trained or run in fp32. Returns the count of weights converted.
   */
  keepLinearWeightsInBf16(): number {
    let n = 0;
    T.noGrad(() => {
      for (const [name, p] of this.namedParameters()) {
        if (p.dtype === 'bfloat16') continue;
        if (!LINEAR_WEIGHT.test(name) && !(name === 'shared.weight' && bf16Exact(p))) continue;
        T.tidy(() => {
          p.setData_(p.to('bfloat16'));
        });
        n++;
      }
    });
    return n;
  }

  /** The embeddings of `ids` in fp32, the residual stream's dtype (the table may be bf16: keepLinearWeightsInBf16). */
  embed(ids: Tensor): Tensor {
    const e = T.embedding(this.shared, ids);
    return e.dtype === 'bfloat16' ? e.float() : e;
  }

  /** Free every parameter. The model is unusable afterwards. */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
  }

  /** Additive mask bias [B, 1, 1, S] from a [B, S] attention mask: 0 where attended, finfo.min where padded. */
  static maskBias(attentionMask: Tensor): Tensor {
    const [b, s] = attentionMask.shape;
    return T.where(attentionMask.gt(0).view([b, 1, 1, s]), 0, F32_MIN);
  }

  /** Relative position bias [1, H, qLen, kLen] of a stack (its first layer owns the embedding). */
  private positionBias(decoder: boolean, qStart: number, qLen: number, kLen: number): Tensor {
    const cfg = this.config;
    const blocks = decoder ? this.decoderBlocks : this.encoderBlocks;
    const w = blocks[0].selfAttn.relativeAttentionBias!;
    const buckets = bucketMatrix(
      qStart,
      qLen,
      kLen,
      !decoder,
      cfg.relativeAttentionNumBuckets,
      cfg.relativeAttentionMaxDistance,
    );
    const ids = T.tensor(buckets, [qLen, kLen], 'int64');
    return T.embedding(w, ids).permute([2, 0, 1]).unsqueeze(0);
  }

  /** Encoder: ids int64 [B, S] (+ mask [B, S]) -> hidden states [B, S, D]. */
  encode(inputIds: Tensor, attentionMask?: Tensor | null): Tensor {
    const cfg = this.config;
    const tr = this.training;
    const s = inputIds.shape[1];
    let h = drop(this.embed(inputIds), cfg.dropoutRate, tr);
    let bias = this.positionBias(false, 0, s, s);
    if (attentionMask) bias = bias.add(T5ForConditionalGeneration.maskBias(attentionMask));
    // One tidy() per block: only its output stays (and, in training, what autograd saved).
    for (const blk of this.encoderBlocks) {
      const prev = h;
      h = T.tidy(() => blk.forward(prev, bias, tr).hidden);
      prev.dispose();
    }
    return drop(this.encoderFinalLn.forward(h), cfg.dropoutRate, tr);
  }

  /** Cross-attention keys/values of every decoder layer, computed once per encoded batch. */
  crossKV(encoderHidden: Tensor): KV[] {
    return this.decoderBlocks.map((b) => b.crossAttn!.project(encoderHidden));
  }

  /**
   * Decoder + LM head. Without a cache: full teacher-forced pass over decoderInputIds [B, T].
   * With a cache (from `emptyCache` or a previous call): the ids are the next positions; returns the grown cache.
   * encoderMaskBias: [B, 1, 1, S] from maskBias(), or null when the source has no padding.
   */
  decode(
    decoderInputIds: Tensor,
    encoderHidden: Tensor | null,
    encoderMaskBias: Tensor | null,
    cache?: DecoderCache | null,
  ): { logits: Tensor; cache: DecoderCache | null } {
    const r = this.decoderHidden(decoderInputIds, encoderHidden, encoderMaskBias, cache);
    return { logits: this.lmLogits(r.hidden), cache: r.cache };
  }

  /** decode() without the LM head: the final decoder hidden states [B, T, D] (the loss applies the head to some rows only). */
  decoderHidden(
    decoderInputIds: Tensor,
    encoderHidden: Tensor | null,
    encoderMaskBias: Tensor | null,
    cache?: DecoderCache | null,
  ): { hidden: Tensor; cache: DecoderCache | null } {
    const cfg = this.config;
    const tr = this.training;
    const t = decoderInputIds.shape[1];
    const past = cache ? cache.length : 0;
    const kLen = past + t;
    let h = drop(this.embed(decoderInputIds), cfg.dropoutRate, tr);
    let selfBias = this.positionBias(true, past, t, kLen);
    if (t > 1) {
      // Causal mask; a single new position may attend to everything cached.
      const allowed = new Uint8Array(t * kLen);
      for (let i = 0; i < t; i++) allowed.fill(1, i * kLen, i * kLen + past + i + 1);
      selfBias = selfBias.add(T.where(T.tensor(allowed, [1, 1, t, kLen], 'bool'), 0, F32_MIN));
    }
    const cross = cache ? null : this.crossKV(this.requireEncoder(encoderHidden));
    const newLayers: LayerCache[] = [];
    this.decoderBlocks.forEach((blk, i) => {
      const ckv = cache ? cache.layers[i].cross : cross![i];
      // One tidy() per block (see encode); the self-attention keys/values stay only for a cache.
      const prev = h;
      const out = T.tidy(() => {
        const o = blk.forward(prev, selfBias, tr, cache?.layers[i].self ?? null, { kv: ckv, bias: encoderMaskBias });
        return cache ? o : { hidden: o.hidden, selfKV: null };
      });
      prev.dispose();
      h = out.hidden;
      if (out.selfKV) newLayers.push({ self: out.selfKV, cross: ckv });
    });
    h = drop(this.decoderFinalLn.forward(h), cfg.dropoutRate, tr);
    return { hidden: h, cache: cache ? { length: kLen, layers: newLayers } : null };
  }

  /** A cache holding only the cross-attention K/V; feed it to decode() step by step. */
  emptyCache(encoderHidden: Tensor): DecoderCache {
    return { length: 0, layers: this.crossKV(encoderHidden).map((cross) => ({ self: null, cross })) };
  }

  /** hidden [.., D] -> logits [.., V]; with scaleDecoderOutputs (v1.0) rescaled by d_model^-0.5 first (mesh-tf convention). */
  lmLogits(h: Tensor): Tensor {
    const x = this.config.scaleDecoderOutputs ? h.mul(this.config.dModel ** -0.5) : h;
    return T.linear(x, this.lmHead ?? this.shared);
  }

  private requireEncoder(e: Tensor | null): Tensor {
    if (!e) throw new Error('T5 decode: encoderHidden is required without a cache');
    return e;
  }

  /** Full forward as HF's T5ForConditionalGeneration.forward: logits [B, T, V] and, given labels, the mean CE loss. */
  forward(batch: Seq2SeqBatch): { logits: Tensor; loss: Tensor | null } {
    const enc = this.encode(batch.inputIds, batch.attentionMask);
    const maskBias = batch.attentionMask ? T5ForConditionalGeneration.maskBias(batch.attentionMask) : null;
    let dec = batch.decoderInputIds ?? null;
    if (!dec) {
      if (!batch.labels) throw new Error('T5 forward: need decoderInputIds or labels');
      dec = shiftRight(batch.labels, this.config.decoderStartTokenId, this.config.padTokenId);
    }
    const { logits } = this.decode(dec, enc, maskBias, null);
    let loss: Tensor | null = null;
    if (batch.labels) {
      // log-softmax of the labelled rows only: padded rows would be ignored by the mean anyway.
      const [b, t, v] = logits.shape;
      const { rows, targets } = labelledRows(batch.labels);
      loss = T.crossEntropy(logits.reshape([b * t, v]).indexSelect(0, rows), targets); // in fp32 for bf16 logits too
    }
    return { logits, loss };
  }

  /**
   * forward(batch).loss (mean cross-entropy over labels != -100, same gradients) without the full logits: the LM head
   * and log-softmax run on the labelled decoder rows only, where padded [B*T, V] rows cost a fifth of a train step.
   */
  loss(batch: Seq2SeqBatch & { labels: Tensor }): Tensor {
    const enc = this.encode(batch.inputIds, batch.attentionMask);
    const maskBias = batch.attentionMask ? T5ForConditionalGeneration.maskBias(batch.attentionMask) : null;
    const dec =
      batch.decoderInputIds ?? shiftRight(batch.labels, this.config.decoderStartTokenId, this.config.padTokenId);
    const h = this.decoderHidden(dec, enc, maskBias).hidden;
    const [b, t, d] = h.shape;
    const { rows, targets } = labelledRows(batch.labels);
    return T.crossEntropy(this.lmLogits(h.reshape([b * t, d]).indexSelect(0, rows)), targets); // fp32 math, bf16 logits read as they are
  }
}

/** Flat indices [N] of the labels != -100 of [B, T] labels, and those labels (int64 [N]). */
export function labelledRows(labels: Tensor): { rows: Tensor; targets: Tensor } {
  const all = labels.toInt32Array();
  let n = 0;
  for (let i = 0; i < all.length; i++) if (all[i] !== -100) n++;
  const rows = new Int32Array(n);
  const targets = new Int32Array(n);
  for (let i = 0, j = 0; i < all.length; i++) {
    if (all[i] !== -100) {
      rows[j] = i;
      targets[j++] = all[i]!;
    }
  }
  return {
    rows: T.tensor(rows, [n], 'int64', { device: labels.device }),
    targets: T.tensor(targets, [n], 'int64', { device: labels.device }),
  };
}

/** HF `_shift_right`: decoder inputs = [start, labels[:-1]], with -100 replaced by pad. */
export function shiftRight(labels: Tensor, decoderStartTokenId: number, padTokenId: number): Tensor {
  const [b, t] = labels.shape;
  const start = T.full([b, 1], decoderStartTokenId, { dtype: 'int64' });
  const shifted = T.cat([start, labels.narrow(1, 0, t - 1).to('int64')], 1);
  return T.where(shifted.eq(-100), padTokenId, shifted).to('int64');
}
