// Hugging Face model directories: config.json + model.safetensors (or shards + index)
// + generation_config.json (+ tokenizer.json). Names/shapes are T5ForConditionalGeneration's.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import type { Tensor, DType } from '../tensor';
import { T5Config, configFromHF, configToHF } from './config';
import { T5ForConditionalGeneration } from './model';
import { atomicWriteFile, readJsonFile, writeJsonFile } from '../util/fs';
import {
  RawTensor,
  StDType,
  ST_ITEMSIZE,
  openModelWeights,
  readTensorChunks,
  writeModelWeights,
  type TensorOnDisk,
} from './safetensors';
import { T5Tokenizer } from './tokenizer';

const TO_ENGINE: Partial<Record<StDType, DType>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  BOOL: 'bool',
};
const TO_ST: Partial<Record<DType, StDType>> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  bool: 'BOOL',
};

// Tied to `shared.weight`; save_pretrained drops them, older exports may carry only one of them.
const EMBED_ALIASES = ['shared.weight', 'encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'];
// Present in the original t5-* checkpoints and ignored by transformers (the cross attention never had a bias).
const IGNORED = /^decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$/;

export function readConfig(dir: string): T5Config {
  const p = path.join(dir, 'config.json');
  if (!fs.existsSync(p)) throw new Error(`checkpoint ${dir}: no config.json`);
  return configFromHF(readJsonFile<Record<string, unknown>>(p));
}

/**
 * NaN and ±Inf counts of a float tensor, or null when every value is finite. The common case costs one elementwise op
 * and one reduction (x * 0 is 0 exactly when x is finite, so the sum is 0 or NaN); counting runs only on failure.
 */
export function nonFiniteValues(t: Tensor): { nan: number; inf: number } | null {
  return T.tidy(() => {
    if (t.numel() === 0 || t.mul(0).sum().item() === 0) return null;
    return { nan: t.ne(t).sum().item(), inf: t.abs().eq(Infinity).sum().item() };
  });
}

function describeNonFinite(c: { nan: number; inf: number }, numel: number): string {
  return `${c.nan} NaN and ${c.inf} infinite value(s) of ${numel}`;
}

/**
 * Copy checkpoint tensors into a model's parameters (converted to the parameter dtype), validating names and shapes.
 * Tensors are in memory (RawTensor) or left in their files (openModelWeights), read a chunk at a time.
 */
export function loadStateDict(
  model: T5ForConditionalGeneration,
  tensors: Map<string, RawTensor | TensorOnDisk>,
  source = 'checkpoint',
): void {
  const named = model.namedParameters();
  const expected = new Set(named.map(([n]) => n));
  const used = new Set<string>();
  const lookup = (name: string): [string, RawTensor | TensorOnDisk] | null => {
    const candidates =
      name === 'shared.weight'
        ? [...EMBED_ALIASES, ...(model.config.tieWordEmbeddings ? ['lm_head.weight'] : [])]
        : [name];
    for (const c of candidates) {
      const t = tensors.get(c);
      if (t) return [c, t];
    }
    return null;
  };
  // Names, shapes and dtypes are validated before touching any parameter, so such a file leaves the model intact;
  // values (NaN/Inf) are checked as they are copied: callers drop a model whose load failed.
  const plan: Array<[Tensor, RawTensor | TensorOnDisk, string]> = [];
  for (const [name, p] of named) {
    const hit = lookup(name);
    if (!hit) throw new Error(`${source}: missing tensor "${name}" (expected shape [${p.shape.join(', ')}])`);
    const [found, raw] = hit;
    if (raw.shape.length !== p.shape.length || raw.shape.some((d, i) => d !== p.shape[i])) {
      throw new Error(
        `${source}: tensor "${found}" has shape [${raw.shape.join(', ')}] but the config expects [${p.shape.join(', ')}]`,
      );
    }
    if (!TO_ENGINE[raw.dtype] || raw.dtype === 'BOOL' || raw.dtype.startsWith('I'))
      throw new Error(`${source}: tensor "${found}" has dtype ${raw.dtype}, expected a float type`);
    plan.push([p, raw, found]);
    used.add(found);
  }
  for (const name of tensors.keys()) {
    if (used.has(name) || IGNORED.test(name)) continue;
    if (EMBED_ALIASES.includes(name) || (name === 'lm_head.weight' && model.config.tieWordEmbeddings)) continue; // tied duplicates
    if (!expected.has(name))
      throw new Error(`${source}: unexpected tensor "${name}" (not a parameter of this T5 config)`);
  }
  T.noGrad(() => {
    for (const [p, raw, name] of plan) {
      T.tidy(() => {
        // Each piece (a file chunk, or the in-memory tensor) is copied straight into the parameter's storage, so a
        // load's transient memory is one chunk, not the largest tensor two or three times over (chunks, their cat, the
        // dtype cast): tcmalloc keeps such a peak as RSS for the process's life. fromBuffer copies the bytes natively
        // (memcpy, any alignment), without a second JS copy waiting for the GC.
        const dtype = TO_ENGINE[raw.dtype]!;
        const flat = p.view([-1]);
        const bad = { nan: 0, inf: 0 };
        let at = 0;
        const put = (bytes: Uint8Array) =>
          T.tidy(() => {
            const src = T.fromBuffer(bytes, dtype, [bytes.byteLength / ST_ITEMSIZE[raw.dtype]]);
            const b = nonFiniteValues(src);
            if (b) {
              bad.nan += b.nan;
              bad.inf += b.inf;
            }
            flat.narrow(0, at, src.numel()).copy_(src.dtype === p.dtype ? src : src.to(p.dtype));
            at += src.numel();
          });
        if ('data' in raw) put(raw.data);
        else readTensorChunks(raw, put);
        // A diverged or corrupt model must not be trained on or predicted with (NaN spreads through every output).
        if (bad.nan + bad.inf > 0)
          throw new Error(
            `${source}: tensor "${name}"${raw.file ? ` in ${raw.file}` : ''} holds ${describeNonFinite(bad, p.numel())} (a diverged or corrupt model)`,
          );
      });
    }
  });
}

export interface LoadedCheckpoint {
  model: T5ForConditionalGeneration;
  config: T5Config;
  generationConfig: Record<string, unknown> | null;
  tokenizer: T5Tokenizer | null;
}

/**
 * Load a folder's weights (model.safetensors or its shards) into a model, read from the files a chunk at a time
 * (openModelWeights), not held whole in a JS buffer: a model load, a resume and the best-model reload alike.
 */
export function loadWeightsFromDir(model: T5ForConditionalGeneration, dir: string, source = `checkpoint ${dir}`): void {
  const weights = openModelWeights(dir);
  try {
    loadStateDict(model, weights.tensors, source);
  } finally {
    weights.close();
  }
}

/** Parameters are float32 (bf16/fp16 checkpoints are upcast); use autocast for bf16 compute. */
export function loadModel(dir: string): T5ForConditionalGeneration {
  const config = readConfig(dir);
  const model = new T5ForConditionalGeneration(config, { init: false });
  try {
    loadWeightsFromDir(model, dir);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model.eval();
}

export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const model = loadModel(dir);
  const gp = path.join(dir, 'generation_config.json');
  const generationConfig = fs.existsSync(gp) ? readJsonFile<Record<string, unknown>>(gp) : null;
  const hasTok = fs.existsSync(path.join(dir, 'tokenizer.json')) || fs.existsSync(path.join(dir, 'spiece.model'));
  return { model, config: model.config, generationConfig, tokenizer: hasTok ? T5Tokenizer.fromDir(dir) : null };
}

export interface SaveOptions {
  tokenizer?: T5Tokenizer | null;
  generationConfig?: Record<string, unknown>;
  /** Shard when the weights exceed this many bytes (default 5 GiB, as transformers). */
  maxShardBytes?: number;
  /** Store weights as bf16 to halve the file (default: parameter dtype). */
  dtype?: 'float32' | 'bfloat16';
}

export function defaultGenerationConfig(c: T5Config): Record<string, unknown> {
  return { decoder_start_token_id: c.decoderStartTokenId, eos_token_id: c.eosTokenId, pad_token_id: c.padTokenId };
}

/** Tensors under the names save_pretrained writes (tied aliases dropped). */
export function exportTensors(
  model: T5ForConditionalGeneration,
  dtype?: 'float32' | 'bfloat16',
): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  T.noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      T.tidy(() => {
        const bad = nonFiniteValues(p);
        if (bad)
          throw new Error(
            `refusing to save a model whose parameter "${name}" holds ${describeNonFinite(bad, p.numel())}`,
          );
        const t = dtype && p.dtype !== dtype ? p.to(dtype) : p;
        const st = TO_ST[t.dtype];
        if (!st) throw new Error(`save: parameter "${name}" has unsupported dtype ${t.dtype}`);
        out.set(name, { dtype: st, shape: [...t.shape], data: t.contiguous().toBuffer() });
      });
    }
  });
  return out;
}

/** Write a Hugging Face model directory that `T5ForConditionalGeneration.from_pretrained` can load. Every file is written atomically. */
export function saveCheckpoint(dir: string, model: T5ForConditionalGeneration, opts: SaveOptions = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = exportTensors(model, opts.dtype);
  writeModelWeights(dir, tensors, { maxShardBytes: opts.maxShardBytes, metadata: { format: 'pt' } });
  const cfg = configToHF(model.config);
  if (opts.dtype) cfg.torch_dtype = opts.dtype;
  writeJsonFile(path.join(dir, 'config.json'), cfg);
  const gen = { ...defaultGenerationConfig(model.config), ...(opts.generationConfig ?? {}) };
  writeJsonFile(path.join(dir, 'generation_config.json'), gen);
  if (opts.tokenizer) atomicWriteFile(path.join(dir, 'tokenizer.json'), opts.tokenizer.json);
}
