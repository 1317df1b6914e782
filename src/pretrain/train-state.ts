// Resumable training state in <out>/checkpoint/ (the run kit's folder, run/checkpoint.ts): the model in HF layout
// (fp32, exact), optimizer moments (optimizer.safetensors), and state.json (step, tokens, recipe, data position + data
// Rng words, engine RNG). Written to a temp directory and renamed into place, so a crash leaves either the old or the
// new checkpoint.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { saveCheckpoint } from '../t5/checkpoint';
import type { T5ForConditionalGeneration } from '../t5/model';
import type { DataState } from './sampler';
import type { SpanInputs } from './objectives';
import type { GroupOptions } from '../t5/train';
import { readJsonFile } from '../util/fs';
import type { ModelSource } from '../hub';
import {
  engineRngState,
  loadOptimizer,
  restoreEngineRng,
  saveOptimizer,
  writeCheckpoint,
  type StatefulOptimizer,
} from '../run/checkpoint';

export type Optimizer = StatefulOptimizer;

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

export function saveTrainState(
  out: string,
  model: T5ForConditionalGeneration,
  opt: Optimizer,
  state: Omit<TrainState, 'engineRng' | 'optimizerStep' | 'optimizerHyper'>,
): void {
  writeCheckpoint(out, (tmp) => {
    saveCheckpoint(tmp, model); // fp32: the resumed run must start from exactly these weights
    const o = saveOptimizer(path.join(tmp, OPTIMIZER_FILE), opt);
    const full: TrainState = { ...state, engineRng: engineRngState(), optimizerStep: o.step, optimizerHyper: o.hyper };
    fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(full, null, 1) + '\n');
  });
}

export function readTrainState(dir: string): TrainState {
  const s = readJsonFile<TrainState>(path.join(dir, 'state.json'));
  if (s.version !== 1) throw new Error(`${dir}/state.json: unknown version ${String(s.version)}`);
  return s;
}

/** Restore optimizer moments/steps and the engine RNG saved with the checkpoint. */
export function restoreOptimizerAndRng(dir: string, opt: Optimizer, s: TrainState): void {
  loadOptimizer(path.join(dir, OPTIMIZER_FILE), opt, { step: s.optimizerStep, hyper: s.optimizerHyper });
  restoreEngineRng(s.engineRng);
}

const OPTIMIZER_FILE = 'optimizer.safetensors';
