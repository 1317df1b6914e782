// Resumable cycle checkpoints: RUN/checkpoint/{s2e,e2s} (HF layout, fp32), both optimizer states
// (safetensors), engine RNG state and the data position in state.json. The folder, its atomic swap and the optimizer
// and RNG pieces are the run kit's (run/checkpoint.ts); a run written before it resumes from its RUN/ckpt/.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AdamW } from '../tensor';
import { loadWeightsFromDir } from '../t5/checkpoint';
import type { T5ForConditionalGeneration } from '../t5/model';
import type { T5Tokenizer } from '../t5/tokenizer';
import type { BestState } from '../run/best';
import type { StopReason } from '../run/stop';
import { checkedSelectOn, type ResolvedSelectOn } from './selection';
import {
  engineRngState,
  loadOptimizer,
  restoreEngineRng,
  saveOptimizer,
  writeCheckpoint,
  type OptimizerRecord,
} from '../run/checkpoint';
import { saveModelDir, type ModelMeta } from './model-io';

export interface Position {
  epoch: number;
  /** Steps done in the current epoch. */
  stepInEpoch: number;
  globalStep: number;
}

export interface RunState extends BestState {
  position: Position;
  stopped: boolean;
  trainerSteps: { s2e: number; e2s: number };
  /** Collapse rollbacks done so far (onCollapse 'rollback'). */
  rollbacks: number;
  /** Why a stopped run stopped (absent in checkpoints written before the run kit). */
  stoppedBy?: StopReason;
  /** Data-parallel workers of the sitting that wrote it (absent: 1); a resume may use another number. */
  workers?: number;
  /** The criterion bestScore is of ('auto' resolved; absent in checkpoints written before session 18). */
  selectOn?: ResolvedSelectOn;
}

interface StateFile extends RunState {
  version: 1;
  engineRng: string;
  optim: { s2e: OptimizerRecord; e2s: OptimizerRecord };
}

export interface Parts {
  s2e: T5ForConditionalGeneration;
  e2s: T5ForConditionalGeneration;
  optS2E: AdamW;
  optE2S: AdamW;
  tokenizer: T5Tokenizer;
  metaS2E: ModelMeta;
  metaE2S: ModelMeta;
}

export function saveRunCheckpoint(runDir: string, parts: Parts, state: RunState): void {
  writeCheckpoint(runDir, (tmp) => {
    saveModelDir(path.join(tmp, 's2e'), parts.s2e, parts.tokenizer, parts.metaS2E);
    saveModelDir(path.join(tmp, 'e2s'), parts.e2s, parts.tokenizer, parts.metaE2S);
    const os = saveOptimizer(path.join(tmp, 'optim-s2e.safetensors'), parts.optS2E);
    const oe = saveOptimizer(path.join(tmp, 'optim-e2s.safetensors'), parts.optE2S);
    const file: StateFile = { version: 1, ...state, engineRng: engineRngState(), optim: { s2e: os, e2s: oe } };
    fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(file, null, 2) + '\n');
  });
}

/** Restore parameters, optimizer states and engine RNG in place from the checkpoint folder `dir`; returns the run state. */
export function loadRunCheckpoint(dir: string, parts: Omit<Parts, 'tokenizer' | 'metaS2E' | 'metaE2S'>): RunState {
  const p = path.join(dir, 'state.json');
  let s: StateFile;
  try {
    s = JSON.parse(fs.readFileSync(p, 'utf8')) as StateFile;
  } catch (e) {
    throw new Error(`${p}: cannot read the run state (${(e as Error).message})`);
  }
  if (s.version !== 1) throw new Error(`${p}: unknown state version ${String(s.version)}`);
  loadWeightsFromDir(parts.s2e, path.join(dir, 's2e'), `checkpoint ${dir}/s2e`);
  loadWeightsFromDir(parts.e2s, path.join(dir, 'e2s'), `checkpoint ${dir}/e2s`);
  loadOptimizer(path.join(dir, 'optim-s2e.safetensors'), parts.optS2E, s.optim.s2e);
  loadOptimizer(path.join(dir, 'optim-e2s.safetensors'), parts.optE2S, s.optim.e2s);
  restoreEngineRng(s.engineRng);
  return {
    position: s.position,
    bestScore: s.bestScore,
    bestStep: s.bestStep,
    evalsWithoutImprovement: s.evalsWithoutImprovement,
    stopped: s.stopped,
    trainerSteps: s.trainerSteps,
    rollbacks: s.rollbacks ?? 0,
    ...(s.stoppedBy ? { stoppedBy: s.stoppedBy } : {}),
    ...(s.selectOn !== undefined ? { selectOn: checkedSelectOn(s.selectOn, p) } : {}),
  };
}
