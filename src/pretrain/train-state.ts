// Resumable training state in <out>/checkpoint/: the model in HF layout (fp32, exact), optimizer moments
// (optimizer.safetensors), and state.json (step, tokens, recipe, data position + data Rng words, engine RNG).
// Written to a temp directory and renamed into place (atomicDir), so a crash leaves either the old or the new checkpoint.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import { loadModel, saveCheckpoint } from '../t5/checkpoint';
import type { T5ForConditionalGeneration } from '../t5/model';
import { readSafetensors, writeSafetensors, type RawTensor } from '../t5/safetensors';
import type { DataState } from './sampler';
import type { SpanInputs } from './objectives';
import type { GroupOptions } from '../t5/train';
import { atomicDir, readJsonFile, recoverSwaps } from '../util/fs';
import type { ModelSource } from '../hub';

export const CHECKPOINT_DIR = 'checkpoint';

export type Optimizer = T.AdamW | T.Adafactor;

export interface Recipe {
  /** absent in checkpoints written before the option existed: adamw */
  optimizer?: 'adamw' | 'adafactor';
  mixture: string;
  /** absent in checkpoints written before the option existed: 'sentences' (the old span inputs) */
  spanInputs?: SpanInputs;
  batch: number;
  accum: number;
  lr: number;
  warmup: number;
  schedule: string;
  steps: number | null;
  seed: number;
  bf16: boolean;
  dropout: number;
  maxSource: number;
  maxTarget: number;
  holdoutEvery: number;
  chunkDocs: number;
  corpus: string[];
  init: string | null;
  /** --init's origin (Hub repo, revision, commit when it came from the Hub); absent in older checkpoints */
  initSource?: ModelSource | null;
  /** length grouping of each batch (null = off); absent in checkpoints written before the option: the defaults */
  lengthGrouping?: GroupOptions | null;
}

export interface TrainState {
  version: 1;
  step: number;
  tokens: number;
  /** minutes of training over all sittings */
  minutes: number;
  recipe: Recipe;
  data: DataState;
  /** engine generator state, base64 */
  engineRng: string;
  optimizerStep: number;
  optimizerHyper: Record<string, unknown>;
  /** dropout_rate written to config.json (the model trains with recipe.dropout) */
  configDropout: number;
  /** data-parallel workers of the sitting that wrote it (absent: 1). Rank r of N trains on slice r of the batch at the
   *  global data position, so a resume with another N continues the same data order. */
  workers?: number;
}

export function checkpointPath(out: string): string {
  return path.join(out, CHECKPOINT_DIR);
}

export function saveTrainState(
  out: string,
  model: T5ForConditionalGeneration,
  opt: Optimizer,
  state: Omit<TrainState, 'engineRng' | 'optimizerStep' | 'optimizerHyper'>,
): void {
  atomicDir(checkpointPath(out), (tmp) => {
    saveCheckpoint(tmp, model); // fp32: the resumed run must start from exactly these weights
    const sd = opt.stateDict();
    try {
      const raw = new Map<string, RawTensor>();
      for (const [k, t] of Object.entries(sd.tensors)) {
        if (t.dtype !== 'float32') throw new Error(`optimizer state ${k} is ${t.dtype}, expected float32`);
        raw.set(k, { dtype: 'F32', shape: [...t.shape], data: T.tidy(() => t.contiguous().toBuffer()) });
      }
      writeSafetensors(path.join(tmp, 'optimizer.safetensors'), raw);
    } finally {
      T.dispose(Object.values(sd.tensors));
    }
    const full: TrainState = {
      ...state,
      engineRng: Buffer.from(T.getRngState()).toString('base64'),
      optimizerStep: sd.step,
      optimizerHyper: sd.hyper,
    };
    fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(full, null, 1) + '\n');
  });
}

/** The checkpoint directory to resume from. A checkpoint left half-swapped by a kill between the two renames
 *  (`checkpoint/` gone, `checkpoint.old-PID` there) is renamed back first (recoverSwaps; notes go to `log`). */
export function findCheckpoint(out: string, log: (line: string) => void = () => undefined): string | null {
  for (const note of recoverSwaps(out)) log(`${out}: ${note}`);
  const final = checkpointPath(out);
  return fs.existsSync(path.join(final, 'state.json')) ? final : null;
}

export function readTrainState(dir: string): TrainState {
  const s = readJsonFile<TrainState>(path.join(dir, 'state.json'));
  if (s.version !== 1) throw new Error(`${dir}/state.json: unknown version ${String(s.version)}`);
  return s;
}

export function loadTrainModel(dir: string): T5ForConditionalGeneration {
  return loadModel(dir);
}

/** Restore optimizer moments/steps and the engine RNG saved with the checkpoint. */
export function restoreOptimizerAndRng(dir: string, opt: Optimizer, s: TrainState): void {
  const file = readSafetensors(path.join(dir, 'optimizer.safetensors'));
  const tensors: Record<string, T.Tensor> = {};
  try {
    for (const [k, r] of file.tensors) tensors[k] = T.fromBuffer(new Uint8Array(r.data), 'float32', r.shape);
    opt.loadStateDict({ step: s.optimizerStep, tensors, hyper: s.optimizerHyper });
  } finally {
    T.dispose(Object.values(tensors));
  }
  T.setRngState(new Uint8Array(Buffer.from(s.engineRng, 'base64')));
}
