// The run folder of every trainer and its resumable checkpoint. One name for the checkpoint folder, RUN/checkpoint/
// (cycle runs before the run kit wrote RUN/ckpt/: still found, and replaced by checkpoint/ at their next save). A
// checkpoint is written whole into a temp folder and renamed into place (atomicDir), so a kill at any moment leaves
// the previous one; what goes in it is the trainer's (models, state.json), the pieces every trainer needs are here:
// optimizer moments, the engine RNG, the lookup on resume.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import { readSafetensors, writeSafetensors, type RawTensor } from '../t5/safetensors';
import { atomicDir, recoverSwaps } from '../util/fs';
import { CHECKPOINT_ENTRIES, checkpointDir, RUN_FILES } from './layout';

/**
 * The checkpoint to resume `runDir` from, or null. checkpoint/ wins over an older run's ckpt/ (both are there only
 * when a kill fell between writing the one and removing the other). It only looks: the ranks of a process group other
 * than 0 may call it while rank 0 owns the folder.
 */
export function findCheckpoint(runDir: string): string | null {
  for (const name of CHECKPOINT_ENTRIES) {
    const dir = path.join(runDir, name);
    if (fs.existsSync(path.join(dir, RUN_FILES.state))) return dir;
  }
  return null;
}

/** findCheckpoint after rolling back a swap cut by a kill (`checkpoint/` gone, `checkpoint.old-PID` there) and removing
 *  other leftovers of dead processes (recoverSwaps; notes go to `log`). */
export function recoverCheckpoint(runDir: string, log: (line: string) => void = () => undefined): string | null {
  for (const note of recoverSwaps(runDir)) log(`${runDir}: ${note}`);
  return findCheckpoint(runDir);
}

/** Replace RUN/checkpoint/ by what `write(tmp)` puts in a temp folder; an older run's ckpt/ goes once it is written. */
export function writeCheckpoint(runDir: string, write: (tmp: string) => void): void {
  atomicDir(checkpointDir(runDir), write);
  for (const old of RUN_FILES.legacyCheckpoints) fs.rmSync(path.join(runDir, old), { recursive: true, force: true });
}

export type StatefulOptimizer = T.AdamW | T.Adafactor;

/** What state.json records of an optimizer besides its tensors (the file holds those). */
export interface OptimizerRecord {
  step: number;
  hyper: Record<string, unknown>;
}

/** The optimizer's moments as safetensors (fp32: a resume must continue from exactly these values). */
export function saveOptimizer(file: string, opt: StatefulOptimizer): OptimizerRecord {
  const sd = opt.stateDict();
  try {
    const raw = new Map<string, RawTensor>();
    for (const [k, t] of Object.entries(sd.tensors)) {
      if (t.dtype !== 'float32') throw new Error(`optimizer state ${k} is ${t.dtype}, expected float32`);
      raw.set(k, { dtype: 'F32', shape: [...t.shape], data: T.tidy(() => t.contiguous().toBuffer()) });
    }
    writeSafetensors(file, raw);
  } finally {
    T.dispose(Object.values(sd.tensors));
  }
  return { step: sd.step, hyper: sd.hyper };
}

export function loadOptimizer(file: string, opt: StatefulOptimizer, rec: OptimizerRecord): void {
  const st = readSafetensors(file);
  const tensors: Record<string, T.Tensor> = {};
  try {
    for (const [k, r] of st.tensors) tensors[k] = T.fromBuffer(new Uint8Array(r.data), 'float32', r.shape);
    opt.loadStateDict({ step: rec.step, tensors, hyper: rec.hyper });
  } finally {
    T.dispose(Object.values(tensors));
  }
}

/** The engine generator's state (dropout draws), as state.json holds it. */
export function engineRngState(): string {
  return Buffer.from(T.getRngState()).toString('base64');
}

export function restoreEngineRng(state: string): void {
  T.setRngState(new Uint8Array(Buffer.from(state, 'base64')));
}
