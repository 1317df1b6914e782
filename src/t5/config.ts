// T5 configuration: the subset of Hugging Face `T5Config` that defines the architecture,
// parsed from / written to `config.json` so checkpoints round-trip with transformers.

export type DenseAct = 'relu' | 'gelu' | 'gelu_new';

export interface T5Config {
  vocabSize: number;
  dModel: number;
  dKv: number;
  dFf: number;
  numLayers: number;
  numDecoderLayers: number;
  numHeads: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  dropoutRate: number;
  layerNormEpsilon: number;
  initializerFactor: number;
  /** HF spelling: 'relu' | 'gated-gelu' | 'gelu' | 'gated-relu' | 'gelu_new' ... */
  feedForwardProj: string;
  tieWordEmbeddings: boolean;
  /**
   * Multiply the decoder output by d_model^-0.5 before the LM head (mesh-tf convention for tied embeddings).
   * transformers 4.x ties this to tie_word_embeddings; 5.x stores it as `scale_decoder_outputs`.
   */
  scaleDecoderOutputs: boolean;
  padTokenId: number;
  eosTokenId: number;
  decoderStartTokenId: number;
}

/** Derived from feedForwardProj exactly as HF does: "gated-X" -> gated, "gated-gelu" -> gelu_new. */
export function ffnKind(cfg: T5Config): { gated: boolean; act: DenseAct } {
  const parts = cfg.feedForwardProj.split('-');
  if (parts.length > 2 || (parts.length === 2 && parts[0] !== 'gated')) {
    throw new Error(
      `T5 config: feed_forward_proj "${cfg.feedForwardProj}" is not of the form "{ACT}" or "gated-{ACT}"`,
    );
  }
  const gated = parts.length === 2;
  let act = parts[parts.length - 1];
  if (cfg.feedForwardProj === 'gated-gelu') act = 'gelu_new';
  if (act !== 'relu' && act !== 'gelu' && act !== 'gelu_new') {
    throw new Error(
      `T5 config: activation "${act}" (feed_forward_proj "${cfg.feedForwardProj}") is not supported (relu, gelu, gelu_new)`,
    );
  }
  return { gated, act };
}

// HF T5Config defaults (t5-small dims); decoder_start_token_id 0 as in every released T5 config.
const DEFAULTS: T5Config = {
  vocabSize: 32128,
  dModel: 512,
  dKv: 64,
  dFf: 2048,
  numLayers: 6,
  numDecoderLayers: 6,
  numHeads: 8,
  relativeAttentionNumBuckets: 32,
  relativeAttentionMaxDistance: 128,
  dropoutRate: 0.1,
  layerNormEpsilon: 1e-6,
  initializerFactor: 1.0,
  feedForwardProj: 'relu',
  tieWordEmbeddings: true,
  scaleDecoderOutputs: true,
  padTokenId: 0,
  eosTokenId: 1,
  decoderStartTokenId: 0,
};

export const PRESETS: Record<string, Partial<T5Config>> = {
  /** For unit tests: a few thousand parameters per layer. */
  tiny: {
    vocabSize: 128,
    dModel: 32,
    dKv: 8,
    dFf: 64,
    numLayers: 2,
    numDecoderLayers: 2,
    numHeads: 4,
    relativeAttentionNumBuckets: 8,
    relativeAttentionMaxDistance: 20,
  },
  /** Small enough to train on a laptop CPU in minutes. */
  mini: { dModel: 256, dKv: 32, dFf: 1024, numLayers: 4, numDecoderLayers: 4, numHeads: 8 },
  /** t5-small (v1.0): ReLU FFN, tied embeddings. */
  small: {},
  /** t5-base (v1.0). */
  base: { dModel: 768, dFf: 3072, numLayers: 12, numDecoderLayers: 12, numHeads: 12 },
  /** google/t5-v1_1-small: gated-GELU, untied lm_head. */
  'v1_1-small': {
    vocabSize: 32128,
    dModel: 512,
    dKv: 64,
    dFf: 1024,
    numLayers: 8,
    numDecoderLayers: 8,
    numHeads: 6,
    feedForwardProj: 'gated-gelu',
    tieWordEmbeddings: false,
    scaleDecoderOutputs: false,
  },
  /** google/flan-t5-small: same architecture as v1_1-small. */
  'flan-t5-small': {
    vocabSize: 32128,
    dModel: 512,
    dKv: 64,
    dFf: 1024,
    numLayers: 8,
    numDecoderLayers: 8,
    numHeads: 6,
    feedForwardProj: 'gated-gelu',
    tieWordEmbeddings: false,
    scaleDecoderOutputs: false,
  },
};

export function presetConfig(name: string, overrides: Partial<T5Config> = {}): T5Config {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown T5 preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return validateConfig({ ...DEFAULTS, ...p, ...overrides });
}

function posInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`T5 config: ${name} must be a positive integer, got ${v}`);
}

export function validateConfig(c: T5Config): T5Config {
  for (const k of [
    'vocabSize',
    'dModel',
    'dKv',
    'dFf',
    'numLayers',
    'numDecoderLayers',
    'numHeads',
    'relativeAttentionNumBuckets',
    'relativeAttentionMaxDistance',
  ] as const) {
    posInt(k, c[k]);
  }
  if (!(c.dropoutRate >= 0 && c.dropoutRate < 1))
    throw new Error(`T5 config: dropout_rate must be in [0,1), got ${c.dropoutRate}`);
  if (!(c.layerNormEpsilon > 0))
    throw new Error(`T5 config: layer_norm_epsilon must be > 0, got ${c.layerNormEpsilon}`);
  if (!(c.initializerFactor > 0))
    throw new Error(`T5 config: initializer_factor must be > 0, got ${c.initializerFactor}`);
  for (const k of ['padTokenId', 'eosTokenId', 'decoderStartTokenId'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 0 || c[k] >= c.vocabSize)
      throw new Error(`T5 config: ${k} ${c[k]} is outside the vocabulary [0, ${c.vocabSize})`);
  }
  ffnKind(c); // throws on an unsupported activation
  return c;
}

type Json = Record<string, unknown>;

function num(j: Json, key: string, dflt: number): number {
  const v = j[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number') throw new Error(`T5 config: "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** Parse a Hugging Face config.json object (missing keys take T5Config's defaults). */
export function configFromHF(j: Json): T5Config {
  if (j.model_type !== undefined && j.model_type !== 't5')
    throw new Error(`T5 config: model_type is "${String(j.model_type)}", expected "t5"`);
  const numLayers = num(j, 'num_layers', DEFAULTS.numLayers);
  const eos = Array.isArray(j.eos_token_id)
    ? (j.eos_token_id[0] as number)
    : num(j, 'eos_token_id', DEFAULTS.eosTokenId);
  const ffp = j.feed_forward_proj ?? DEFAULTS.feedForwardProj;
  if (typeof ffp !== 'string') throw new Error('T5 config: "feed_forward_proj" must be a string');
  const tie = j.tie_word_embeddings ?? DEFAULTS.tieWordEmbeddings;
  if (typeof tie !== 'boolean') throw new Error('T5 config: "tie_word_embeddings" must be a boolean');
  const scale = j.scale_decoder_outputs ?? tie;
  if (typeof scale !== 'boolean') throw new Error('T5 config: "scale_decoder_outputs" must be a boolean');
  const pad = num(j, 'pad_token_id', DEFAULTS.padTokenId);
  return validateConfig({
    vocabSize: num(j, 'vocab_size', DEFAULTS.vocabSize),
    dModel: num(j, 'd_model', DEFAULTS.dModel),
    dKv: num(j, 'd_kv', DEFAULTS.dKv),
    dFf: num(j, 'd_ff', DEFAULTS.dFf),
    numLayers,
    numDecoderLayers: num(j, 'num_decoder_layers', numLayers),
    numHeads: num(j, 'num_heads', DEFAULTS.numHeads),
    relativeAttentionNumBuckets: num(j, 'relative_attention_num_buckets', DEFAULTS.relativeAttentionNumBuckets),
    relativeAttentionMaxDistance: num(j, 'relative_attention_max_distance', DEFAULTS.relativeAttentionMaxDistance),
    dropoutRate: num(j, 'dropout_rate', DEFAULTS.dropoutRate),
    layerNormEpsilon: num(j, 'layer_norm_epsilon', DEFAULTS.layerNormEpsilon),
    initializerFactor: num(j, 'initializer_factor', DEFAULTS.initializerFactor),
    feedForwardProj: ffp,
    tieWordEmbeddings: tie,
    scaleDecoderOutputs: scale,
    padTokenId: pad,
    eosTokenId: eos,
    // transformers falls back to pad_token_id for T5 when decoder_start_token_id is absent.
    decoderStartTokenId: num(j, 'decoder_start_token_id', pad),
  });
}

/** config.json as transformers' save_pretrained writes it (keys transformers reads back). */
export function configToHF(c: T5Config): Json {
  const { gated, act } = ffnKind(c);
  return {
    architectures: ['T5ForConditionalGeneration'],
    model_type: 't5',
    vocab_size: c.vocabSize,
    d_model: c.dModel,
    d_kv: c.dKv,
    d_ff: c.dFf,
    num_layers: c.numLayers,
    num_decoder_layers: c.numDecoderLayers,
    num_heads: c.numHeads,
    relative_attention_num_buckets: c.relativeAttentionNumBuckets,
    relative_attention_max_distance: c.relativeAttentionMaxDistance,
    dropout_rate: c.dropoutRate,
    layer_norm_epsilon: c.layerNormEpsilon,
    initializer_factor: c.initializerFactor,
    feed_forward_proj: c.feedForwardProj,
    dense_act_fn: act,
    is_gated_act: gated,
    tie_word_embeddings: c.tieWordEmbeddings,
    // Read by transformers >= 5; 4.x scales iff tie_word_embeddings (the two agree for every released T5).
    scale_decoder_outputs: c.scaleDecoderOutputs,
    is_encoder_decoder: true,
    use_cache: true,
    pad_token_id: c.padTokenId,
    eos_token_id: c.eosTokenId,
    decoder_start_token_id: c.decoderStartTokenId,
  };
}

/** Parameter count, for logs. */
export function numParameters(c: T5Config): number {
  const { gated } = ffnKind(c);
  const inner = c.numHeads * c.dKv;
  const attn = 4 * c.dModel * inner;
  const ffn = (gated ? 3 : 2) * c.dModel * c.dFf;
  const bias = c.relativeAttentionNumBuckets * c.numHeads;
  const enc = c.numLayers * (attn + ffn + 2 * c.dModel) + bias + c.dModel;
  const dec = c.numDecoderLayers * (2 * attn + ffn + 3 * c.dModel) + bias + c.dModel;
  return c.vocabSize * c.dModel * (c.tieWordEmbeddings ? 1 : 2) + enc + dec;
}
