// Resumable run checkpoints: RUN/ckpt/{s2e,e2s} (HF layout, fp32), both optimizer states
// (safetensors), engine RNG state and the data position in state.json. The whole ckpt/ directory is
// replaced atomically (temp dir + rename), so a kill at any moment leaves the previous checkpoint.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import type { AdamW } from '../tensor';
import { readSafetensors, writeSafetensors, type RawTensor } from '../t5/safetensors';
import { loadStateDict } from '../t5/checkpoint';
import { readModelWeights } from '../t5/safetensors';
import type { T5ForConditionalGeneration } from '../t5/model';
import type { T5Tokenizer } from '../t5/tokenizer';
import { saveModelDir, type ModelMeta } from './model-io';
import { atomicDir } from '../util/fs';

export interface Position {
  epoch: number;
  /** Steps done in the current epoch. */
  stepInEpoch: number;
  globalStep: number;
}

export interface RunState {
  position: Position;
  bestScore: number | null;
  bestStep: number | null;
  evalsWithoutImprovement: number;
  stopped: boolean;
  trainerSteps: { s2e: number; e2s: number };
  /** Collapse rollbacks done so far (onCollapse 'rollback'). */
  rollbacks: number;
  /** Data-parallel workers of the sitting that wrote it (absent: 1); a resume may use another number. */
  workers?: number;
}

interface StateFile extends RunState {
  version: 1;
  engineRng: string;
  optim: {
    s2e: { step: number; hyper: Record<string, unknown> };
    e2s: { step: number; hyper: Record<string, unknown> };
  };
}

function optimTensors(opt: AdamW): { step: number; hyper: Record<string, unknown>; raw: Map<string, RawTensor> } {
  const sd = opt.stateDict();
  const raw = new Map<string, RawTensor>();
  for (const [k, t] of Object.entries(sd.tensors)) {
    raw.set(k, { dtype: 'F32', shape: [...t.shape], data: t.contiguous().toBuffer() });
    t.dispose();
  }
  return { step: sd.step, hyper: sd.hyper, raw };
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
  atomicDir(path.join(runDir, 'ckpt'), (tmp) => {
    saveModelDir(path.join(tmp, 's2e'), parts.s2e, parts.tokenizer, parts.metaS2E);
    saveModelDir(path.join(tmp, 'e2s'), parts.e2s, parts.tokenizer, parts.metaE2S);
    const os = T.tidy(() => optimTensors(parts.optS2E));
    const oe = T.tidy(() => optimTensors(parts.optE2S));
    writeSafetensors(path.join(tmp, 'optim-s2e.safetensors'), os.raw);
    writeSafetensors(path.join(tmp, 'optim-e2s.safetensors'), oe.raw);
    const file: StateFile = {
      version: 1,
      ...state,
      engineRng: Buffer.from(T.getRngState()).toString('base64'),
      optim: { s2e: { step: os.step, hyper: os.hyper }, e2s: { step: oe.step, hyper: oe.hyper } },
    };
    fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(file, null, 2) + '\n');
  });
}

export function hasRunCheckpoint(runDir: string): boolean {
  return fs.existsSync(path.join(runDir, 'ckpt', 'state.json'));
}

function loadOptim(opt: AdamW, file: string, step: number, hyper: Record<string, unknown>): void {
  const st = readSafetensors(file);
  T.tidy(() => {
    const tensors: Record<string, T.Tensor> = {};
    for (const [k, r] of st.tensors) tensors[k] = T.fromBuffer(new Uint8Array(r.data), 'float32', r.shape);
    opt.loadStateDict({ step, tensors, hyper });
  });
}

/** Restore parameters, optimizer states and engine RNG in place; returns the run state. */
export function loadRunCheckpoint(runDir: string, parts: Omit<Parts, 'tokenizer' | 'metaS2E' | 'metaE2S'>): RunState {
  const dir = path.join(runDir, 'ckpt');
  const p = path.join(dir, 'state.json');
  let s: StateFile;
  try {
    s = JSON.parse(fs.readFileSync(p, 'utf8')) as StateFile;
  } catch (e) {
    throw new Error(`${p}: cannot read the run state (${(e as Error).message})`);
  }
  if (s.version !== 1) throw new Error(`${p}: unknown state version ${String(s.version)}`);
  loadStateDict(parts.s2e, readModelWeights(path.join(dir, 's2e')).tensors, `checkpoint ${dir}/s2e`);
  loadStateDict(parts.e2s, readModelWeights(path.join(dir, 'e2s')).tensors, `checkpoint ${dir}/e2s`);
  loadOptim(parts.optS2E, path.join(dir, 'optim-s2e.safetensors'), s.optim.s2e.step, s.optim.s2e.hyper);
  loadOptim(parts.optE2S, path.join(dir, 'optim-e2s.safetensors'), s.optim.e2s.step, s.optim.e2s.hyper);
  T.setRngState(new Uint8Array(Buffer.from(s.engineRng, 'base64')));
  return {
    position: s.position,
    bestScore: s.bestScore,
    bestStep: s.bestStep,
    evalsWithoutImprovement: s.evalsWithoutImprovement,
    stopped: s.stopped,
    trainerSteps: s.trainerSteps,
    rollbacks: s.rollbacks ?? 0,
  };
}
