// Model directories: Hugging Face layout plus `cyclener.json` (task prefix, type words, label map),
// so `cyclener predict --model DIR` needs no other flags. DIR may be a model, a run's `best/` or a run.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../t5/checkpoint';
import { T5ForConditionalGeneration } from '../t5/model';
import type { Precision } from '../t5/precision';
import { T5Tokenizer } from '../t5/tokenizer';
import { readJsonFile, writeJsonFile } from '../util/fs';
import type { ScoreMap } from '../eval/calibration';
import type { ModelSource } from '../hub';
import { CHECKPOINT_ENTRIES } from '../run/layout';

export const META_FILE = 'cyclener.json';
/** Task prefixes the base models were pretrained with (tools/gpu/pretrain_t5.py). */
export const DEFAULT_S2E_PREFIX = 'entities: ';
export const DEFAULT_E2S_PREFIX = 'sentence: ';

export interface ModelMeta {
  task: 's2e' | 'e2s';
  prefix: string;
  /** Type words S2E may emit (grounded decoding), e.g. ["location", "person"]. */
  types: string[];
  /** Dataset label -> type word, when known (for CoNLL/JSONL output). */
  verbalizer?: Record<string, string>;
  /** The model this one was fine-tuned from (path; Hub repo, revision, commit), when known. */
  baseModel?: ModelSource;
  /** S2E: how `predict` and `evaluate --model` decode by default (flags override); for a cycle run, its dev F1's. */
  decode?: DecodeDefaults;
  /** S2E: entity scores' temperature (`evaluate --calibrate`) and default threshold (`evaluate --record-threshold`). */
  score?: ScoreDefaults;
}

export interface ScoreDefaults {
  /** Scores are exp(log-probability / temperature): calibrated on labelled dev data when recorded. */
  temperature?: number;
  /** A monotone map of the score applied after the temperature (`evaluate --calibrate`: beta or isotonic). */
  map?: ScoreMap;
  /** Entities scored below it are dropped by predict, the library and serve unless they are given another. */
  threshold?: number;
  /** Where the values came from: the gold file and what was fitted or swept on it. */
  fittedOn?: { gold: string; sentences: number; entities: number };
}

/** How an S2E model's entity scores are made and filtered (src/eval/calibration.ts). */
export interface ScoreSettings {
  temperature: number;
  threshold: number;
  map?: ScoreMap;
}

/** The recorded score settings of an S2E model (no temperature: 1, no threshold: 0, keeps everything). */
export function scoreDefaults(meta: ModelMeta | null): ScoreSettings {
  const map = meta?.score?.map;
  return {
    temperature: meta?.score?.temperature ?? 1,
    threshold: meta?.score?.threshold ?? 0,
    ...(map ? { map } : {}),
  };
}

/**
 * The score settings in use: the recorded ones, with `threshold` and `temperature` given over them. A given
 * temperature replaces the recorded calibration as a whole (a recorded map was fitted on the recorded temperature).
 */
export function scoreSettings(
  recorded: ScoreSettings,
  given: { temperature?: number; threshold?: number },
): ScoreSettings {
  const threshold = given.threshold ?? recorded.threshold;
  return given.temperature !== undefined ? { temperature: given.temperature, threshold } : { ...recorded, threshold };
}

/** Record score settings in DIR's cyclener.json (merged over the ones there); the rest of the file is kept. */
export function recordScoreDefaults(dir: string, score: ScoreDefaults): ModelMeta {
  const meta = readMeta(dir);
  if (!meta) throw new Error(`${dir}: no ${META_FILE} to record the score settings in`);
  const next: ModelMeta = { ...meta, score: { ...meta.score, ...score } };
  writeJsonFile(path.join(dir, META_FILE), next);
  return next;
}

export interface DecodeDefaults {
  grounded: boolean;
  maxNewTokens: number;
  numBeams?: number;
}

/** Decoding of a model that records none (a supervised model or a run from before the setting was recorded). */
export const FALLBACK_DECODE: DecodeDefaults = { grounded: true, maxNewTokens: 128 };

/**
 * The S2E model's default decoding: its cyclener.json's, else (an S2E saved by an older `train` in RUN/best/s2e or
 * RUN/checkpoint/s2e, or an older run's RUN/ckpt/s2e) the grounded/evalDecode of RUN/config.json, else FALLBACK_DECODE.
 */
export function decodeDefaults(dir: string, meta: ModelMeta | null): DecodeDefaults {
  if (meta?.decode) return meta.decode;
  const runConfig = path.join(dir, '..', '..', 'config.json');
  const inRun =
    path.basename(dir) === 's2e' &&
    ['best', ...CHECKPOINT_ENTRIES].includes(path.basename(path.dirname(path.resolve(dir))));
  if (meta?.task === 's2e' && inRun && fs.existsSync(runConfig)) {
    try {
      const c = readJsonFile<{ groundedEval?: unknown; evalDecode?: { maxNewTokens?: unknown; numBeams?: unknown } }>(
        runConfig,
      );
      if (typeof c.groundedEval === 'boolean' && typeof c.evalDecode?.maxNewTokens === 'number') {
        return {
          grounded: c.groundedEval,
          maxNewTokens: c.evalDecode.maxNewTokens,
          ...(typeof c.evalDecode.numBeams === 'number' ? { numBeams: c.evalDecode.numBeams } : {}),
        };
      }
    } catch {
      // not a run's config: the fallback below
    }
  }
  return FALLBACK_DECODE;
}

/** The S2E model directory inside DIR (a model, a run's best/ or checkpoint/, or a run). */
export function resolveS2EDir(dir: string): string {
  for (const c of [dir, path.join(dir, 's2e'), path.join(dir, 'best', 's2e')]) {
    // A run directory has a config.json too (the run's): a model also has weights.
    if (
      fs.existsSync(path.join(c, 'config.json')) &&
      (fs.existsSync(path.join(c, 'model.safetensors')) || fs.existsSync(path.join(c, 'model.safetensors.index.json')))
    )
      return c;
  }
  throw new Error(`${dir}: not a model directory (no config.json + model.safetensors in it, in s2e/ or in best/s2e/)`);
}

export function readMeta(dir: string): ModelMeta | null {
  const p = path.join(dir, META_FILE);
  if (!fs.existsSync(p)) return null;
  return readJsonFile<ModelMeta>(p);
}

export interface Loaded {
  model: T5ForConditionalGeneration;
  tokenizer: T5Tokenizer;
  meta: ModelMeta | null;
}

/** Load in fp32 (bf16 checkpoints are upcast), with a tokenizer that has `<sep>`. */
export function loadModelDir(dir: string, tokenizerDir?: string): Loaded {
  const ck = loadCheckpoint(dir);
  let tok = ck.tokenizer;
  if (!tok && tokenizerDir) tok = T5Tokenizer.fromDir(tokenizerDir);
  if (!tok) {
    ck.model.dispose();
    throw new Error(`${dir}: no tokenizer.json or spiece.model (pass a model directory that has its tokenizer)`);
  }
  tok = tok.withSep();
  if (tok.vocabSize > ck.config.vocabSize) {
    ck.model.dispose();
    throw new Error(`${dir}: tokenizer has ${tok.vocabSize} tokens but the model only ${ck.config.vocabSize}`);
  }
  return { model: ck.model, tokenizer: tok, meta: readMeta(dir) };
}

/**
 * loadModelDir for prediction only (predict, serve, NerModel): at bf16 precision the linear weights stay in bf16
 * (T5ForConditionalGeneration.keepLinearWeightsInBf16: same outputs, less memory); the model cannot be trained.
 */
export function loadForInference(dir: string, precision: Precision): Loaded {
  const m = loadModelDir(dir);
  if (precision === 'bf16') m.model.keepLinearWeightsInBf16();
  return m;
}

/**
 * S2E and E2S for a cycle run. The cycles pass token ids between them with one tokenizer, so both must have the same
 * one (E2S without its own uses S2E's); otherwise ids of one are out of the other's range or mean other words.
 */
export function loadCyclePair(s2eDir: string, e2sDir: string): { s2e: Loaded; e2s: Loaded } {
  const s2e = loadModelDir(s2eDir);
  let e2s: Loaded;
  try {
    e2s = loadModelDir(e2sDir, s2eDir);
  } catch (e) {
    s2e.model.dispose();
    throw e;
  }
  if (s2e.tokenizer.json !== e2s.tokenizer.json || s2e.model.config.vocabSize !== e2s.model.config.vocabSize) {
    s2e.model.dispose();
    e2s.model.dispose();
    throw new Error(
      `S2E (${s2eDir}) and E2S (${e2sDir}) have different tokenizers or vocabularies (${s2e.tokenizer.vocabSize} and ${e2s.tokenizer.vocabSize} tokens): the cycles need one tokenizer; start both from models of the same base`,
    );
  }
  return { s2e, e2s };
}

/** Save a model directory (fp32 unless told) with its tokenizer and meta; atomic per file. */
export function saveModelDir(
  dir: string,
  model: T5ForConditionalGeneration,
  tokenizer: T5Tokenizer,
  meta: ModelMeta,
): void {
  saveCheckpoint(dir, model, { tokenizer });
  writeJsonFile(path.join(dir, META_FILE), meta);
}

/** The no-pretraining control: `loaded`'s architecture and tokenizer with fresh, seeded random weights. */
export function reinitialise(loaded: Loaded, seed: number): void {
  const cfg = loaded.model.config;
  loaded.model.dispose();
  loaded.model = new T5ForConditionalGeneration(cfg, { seed });
}
