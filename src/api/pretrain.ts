// `pretrain`: the one implementation of `cyclener pretrain` (a base T5 from raw text): the run folder (lock, --force,
// --resume), the resume checks against the checkpoint's recipe and DIR/inputs.json, the corpus checks, then the
// engine's sitting (src/pretrain/pretrain.ts). The CLI command parses flags, starts --nproc workers and calls it.

import * as path from 'node:path';
import * as T from '../tensor';
import { pretrain as runSitting, type PretrainResult } from '../pretrain/pretrain';
import {
  comparedSettings,
  currentNames,
  flagsOfOptions,
  pretrainOptions,
  recipeSettings,
  RESUME_ALLOWED,
} from '../pretrain/settings';
import { checkCorpusFiles } from '../pretrain/corpus';
import type { SpanInputs } from '../pretrain/objectives';
import type { ScheduleKind } from '../pretrain/schedule';
import { readTrainState } from '../pretrain/train-state';
import { recoverCheckpoint } from '../run/checkpoint';
import { RUN_FILES } from '../run/layout';
import { callbackSink } from '../run/metrics';
import type { SettingValue } from '../data/setting';
import type { Precision } from '../t5/precision';
import { UsageError } from '../util/errors';
import {
  compareInputs,
  compareSettings,
  fingerprintFiles,
  INPUTS_FILE,
  openRunDir,
  readRunInputs,
  refuseDifferences,
  writeRunInputs,
  type RunDirSpec,
} from '../util/run-dir';
import { modelRefDir } from './model-ref';
import type { RunHooks } from './train';

/**
 * Options of `pretrain`: the run folder's, then one per `cyclener pretrain` flag, named as the flag in camelCase
 * (`--vocab-size`: vocabSize; `--fp32`: precision 'fp32'). Unset ones take the flag's default (src/pretrain/settings.ts);
 * on a resume the run keeps its recipe, and a given setting that differs from the run's is refused.
 */
export interface PretrainOptions extends RunHooks {
  /** Corpus file(s), one document per line, plain or .xz. */
  corpus: string | readonly string[];
  /** The run folder: the exported model (HF layout), checkpoint/, metrics.jsonl, inputs.json. */
  out: string;
  /** Continue from out/checkpoint (only the step budget and bookkeeping may change). */
  resume?: boolean;
  /** Start over in a folder that holds a previous run. */
  force?: boolean;
  /** Architecture: a preset (tiny, mini, small, ...), a config.json, or a model directory giving the dims. */
  arch?: string;
  vocabSize?: number;
  /** Reuse this tokenizer (a directory or Hub id) instead of training one. */
  tokenizer?: string;
  /** Continue pretraining this model (a directory or Hub id); reuses its tokenizer. */
  init?: string;
  mixture?: string;
  spanInputs?: SpanInputs;
  maxMinutes?: number;
  steps?: number;
  batch?: number;
  accum?: number;
  optimizer?: 'adamw' | 'adafactor';
  lr?: number;
  lrWarmupSteps?: number;
  schedule?: ScheduleKind;
  seed?: number;
  precision?: Precision;
  dropout?: number;
  checkpointMinutes?: number;
  evalEvery?: number;
  logEvery?: number;
  maxSource?: number;
  maxTarget?: number;
  spmSentences?: number;
  saveDtype?: 'float32' | 'bfloat16';
  /** Engine threads (process-wide). */
  threads?: number;
}

/** What a sitting did (the engine's result), and whether an abort stopped it (out/checkpoint continues it). */
export interface PretrainSummary extends PretrainResult {
  out: string;
  interrupted: boolean;
}

/** pretrain's run folder: what marks a previous run, and what --force deletes (tokenizer files stay: --tokenizer may name DIR). */
export const PRETRAIN_RUN: RunDirSpec = {
  command: 'pretrain',
  markers: [RUN_FILES.checkpoint, RUN_FILES.metrics, 'pretrain_summary.json', 'model.safetensors', 'config.json'],
  clear: [
    RUN_FILES.checkpoint,
    RUN_FILES.metrics,
    'pretrain_summary.json',
    'model.safetensors',
    'model.safetensors.index.json',
    'config.json',
    'generation_config.json',
    'loss.svg',
    INPUTS_FILE,
  ],
  own: ['tokenizer.json', 'spiece.model'],
};

/** On a resume from a checkpoint: refuse given settings that differ from the run's and a changed corpus; record the
 *  inputs of a fresh start. */
function checkResume(
  out: string,
  f: Readonly<Record<string, SettingValue>>,
  given: ReadonlySet<string>,
  resume: boolean,
  corpus: string[],
  log: (line: string) => void,
): void {
  const ck = resume ? recoverCheckpoint(out, log) : null;
  const files = fingerprintFiles({ corpus });
  if (!ck) {
    writeRunInputs(out, { command: 'pretrain', files, settings: comparedSettings(f, 'start') });
    return;
  }
  const recorded = readRunInputs(out);
  const diffs = compareSettings(recipeSettings(readTrainState(ck).recipe), comparedSettings(f, 'recipe'), given);
  if (recorded) {
    diffs.push(...compareSettings(currentNames(recorded.settings), comparedSettings(f, 'start'), given));
    diffs.push(...compareInputs(recorded.files, files));
  } else log(`${out} has no ${INPUTS_FILE} (a run from an older version): corpus files not checked, recorded now`);
  refuseDifferences(out, diffs, RESUME_ALLOWED);
  if (!recorded) writeRunInputs(out, { command: 'pretrain', files, settings: {} });
}

/**
 * Pretrain a base T5 (`cyclener pretrain`): trains or reuses a tokenizer, runs one sitting of the objective mixture
 * until the step or time budget (or an abort: `interrupted`, checkpoint written), and exports an HF model folder to
 * `out` that works as a base model. In a process group (`--nproc`) every rank calls it; rank 0 owns the run folder.
 */
export async function pretrain(o: PretrainOptions): Promise<PretrainSummary> {
  const on = o.onProgress;
  const log = (message: string) => on?.({ kind: 'log', message });
  const { flags: f, given } = flagsOfOptions(o as unknown as Record<string, unknown>);
  if (o.threads !== undefined) T.setNumThreads(o.threads);
  if (o.tokenizer && o.init) throw new UsageError('--tokenizer and --init both give a tokenizer; pass one');
  const out = o.out;
  const corpus = (typeof o.corpus === 'string' ? o.corpus.split(',') : [...o.corpus]).filter(Boolean);
  if (o.force === true && o.init && path.resolve(o.init) === path.resolve(out))
    throw new UsageError('--force would delete the --init model: it is the output directory');
  checkCorpusFiles(corpus); // a missing corpus file is reported before the run folder is touched
  // Rank 0 owns the run folder (lock, --force, resume checks); the others start once it is ready.
  const lead = T.dist.rank() === 0;
  const run = lead
    ? openRunDir(out, PRETRAIN_RUN, {
        resume: o.resume === true,
        force: o.force === true,
        log,
        inputs: { '--corpus': corpus, '--init': o.init }, // not --tokenizer: it may name DIR (--force keeps its files)
      })
    : null;
  try {
    if (lead) checkResume(out, f, given, o.resume === true, corpus, log);
    await T.dist.barrier();
    const r = await runSitting({
      ...pretrainOptions(f), // a resumed run keeps its recipe (the engine reads it from the checkpoint)
      corpus,
      out,
      tokenizerDir: o.tokenizer === undefined ? null : await modelRefDir(o.tokenizer, '--tokenizer', log),
      init: o.init === undefined ? null : await modelRefDir(o.init, '--init', log),
      resume: o.resume === true,
      log,
      ...(on ? { metrics: callbackSink((record) => on({ kind: 'metrics', record })) } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return { ...r, out, interrupted: r.stoppedBy === 'signal' };
  } finally {
    run?.release();
  }
}
