// What `cyclener train` and the library's train() share, so that they cannot drift: the run's config (defaults, a
// config file or object, flags; on a resume the saved config with only the step budget changeable), the verbaliser
// recorded for dev/test F1, and RUN/inputs.json (fingerprints of the inputs, checked on a resume).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../util/errors';
import type { SettingValue } from '../data/setting';
import { DataError } from '../data/errors';
import { readUtf8 } from '../data/readers';
import type { Fingerprint } from '../util/fs';
import {
  compareInputs,
  INPUTS_FILE,
  readRunInputs,
  refuseDifferences,
  writeRunInputs,
  type RunDir,
  type RunInputs,
} from '../util/run-dir';
import { makeConfig, resumableOf, type CycleConfig } from './config';
import { applyFlags, configDifferences, RESUMABLE_FLAGS } from './config-flags';

/** A JSON file (a config file, RUN/config.json); invalid JSON is a DataError naming the file. */
export function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readUtf8(file)) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(file, undefined, `invalid JSON (${(e as Error).message})`);
  }
}

/** Starting models: compared on a resume only when given (the resume continues from RUN/checkpoint). */
export const CYCLE_MODEL_INPUTS: ReadonlySet<string> = new Set(['base-model', 's2e-model', 'e2s-model']);

export interface CycleRunConfig {
  cfg: CycleConfig;
  /** A resume of a run that saved its config: `diffs` lists what the command would change in it. */
  resuming: boolean;
  diffs: string[];
}

/**
 * The config of a cycle run. A new run: DEFAULT_CONFIG, then `configFile`'s values, then the given `flags`. A resume
 * of a run with RUN/config.json: that config (a run from before bf16 keeps fp32), with the step budget of the file
 * and the flags; any other key they would change is listed in `diffs` (refused by checkRunInputs).
 */
export function cycleRunConfig(o: {
  runDir: string;
  resume: boolean;
  configFile?: { file: string; values: Partial<CycleConfig> } | undefined;
  flags?: Readonly<Record<string, SettingValue>>;
}): CycleRunConfig {
  const flags = o.flags ?? {};
  const savedCfg = path.join(o.runDir, 'config.json');
  const resuming = o.resume && fs.existsSync(savedCfg);
  if (resuming) {
    const saved = readJson(savedCfg);
    delete saved.sizes;
    if (!('precision' in saved)) saved.precision = 'fp32'; // runs from before bf16 became the default
    const cfg = makeConfig(saved as Partial<CycleConfig>, savedCfg);
    const diffs = configDifferences(cfg, flags, o.configFile);
    // The step budget may change: the file's, then the flags'.
    Object.assign(cfg, resumableOf(o.configFile?.values));
    applyFlags(cfg, flags, 'resumable');
    return { cfg, resuming, diffs };
  }
  const cfg = makeConfig(o.configFile?.values ?? {}, o.configFile?.file ?? 'config');
  applyFlags(cfg, flags);
  if (cfg.warmup !== 'none' && cfg.warmupSteps === 0) throw new UsageError('--warmup needs --warmup-steps N');
  return { cfg, resuming, diffs: [] };
}

/**
 * Record the verbaliser (dataset label -> type word) the dev/test F1 is computed with: the run's, when it has one;
 * an `explicit` choice (--verbalizer/--dataset, or the library's option) that differs from it is a difference.
 */
export function settleVerbalizer(
  r: CycleRunConfig,
  v: Record<string, string>,
  explicit: boolean,
  what = '--verbalizer/--dataset',
): void {
  const had = r.cfg.verbalizer;
  if (r.resuming && had && explicit && JSON.stringify(v) !== JSON.stringify(had))
    r.diffs.push(`${what}: run has ${JSON.stringify(had)}, command line says ${JSON.stringify(v)}`);
  r.cfg.verbalizer = had ?? v;
}

/** The fingerprint of lines given in memory (the library's arrays), in the shape of a file's. */
export function fingerprintLines(label: string, lines: readonly string[]): Fingerprint {
  const text = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  return {
    path: `(in memory: ${label})`,
    bytes: Buffer.byteLength(text, 'utf8'),
    lines: lines.length,
    sha256: crypto.createHash('sha256').update(text, 'utf8').digest('hex'),
  };
}

/**
 * The resume check and record of a cycle run (rank 0): compare the inputs with RUN/inputs.json (the starting models
 * only when given), refuse the resume when they or the config differ, and record them on a new run.
 */
export function checkRunInputs(
  run: RunDir,
  o: { resume: boolean; inputs: RunInputs['files']; diffs: readonly string[]; log: (line: string) => void },
): void {
  const recorded = o.resume ? readRunInputs(run.dir) : null;
  const diffs = [...o.diffs];
  if (recorded) diffs.push(...compareInputs(recorded.files, o.inputs, CYCLE_MODEL_INPUTS));
  else if (o.resume && run.previous.length > 0)
    o.log(`${run.dir} has no ${INPUTS_FILE} (a run from an older version): input files not checked, recorded now`);
  refuseDifferences(run.dir, diffs, RESUMABLE_FLAGS);
  if (!recorded) writeRunInputs(run.dir, { command: 'train', files: o.inputs, settings: {} });
}
