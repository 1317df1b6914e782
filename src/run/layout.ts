// The names inside a run folder, the same for the three trainers (train, train-supervised, pretrain).

import * as path from 'node:path';
import { INPUTS_FILE } from '../util/run-dir';

/** Names inside a run folder. */
export const RUN_FILES = {
  metrics: 'metrics.jsonl',
  inputs: INPUTS_FILE,
  checkpoint: 'checkpoint',
  /** The checkpoint folder of cycle runs written before the run kit: resumed from, never written. */
  legacyCheckpoints: ['ckpt'] as readonly string[],
  state: 'state.json',
} as const;

/** The folders of a run that hold (or held) its checkpoint: what marks a previous run and what --force deletes. */
export const CHECKPOINT_ENTRIES: readonly string[] = [RUN_FILES.checkpoint, ...RUN_FILES.legacyCheckpoints];

export function checkpointDir(runDir: string): string {
  return path.join(runDir, RUN_FILES.checkpoint);
}
