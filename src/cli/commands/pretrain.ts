// `cyclener pretrain`: make a base T5 from raw text (tokenizer, objective mixture, resumable time-boxed training).

import * as T from '../../tensor';
import { pretrain } from '../../pretrain/pretrain';
import {
  comparedSettings,
  PRETRAIN_SETTINGS,
  pretrainOptions,
  recipeSettings,
  RESUME_ALLOWED,
} from '../../pretrain/settings';
import * as path from 'node:path';
import { checkCorpusFiles } from '../../pretrain/corpus';
import { readTrainState } from '../../pretrain/train-state';
import { recoverCheckpoint } from '../../run/checkpoint';
import { RUN_FILES } from '../../run/layout';
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
} from '../../util/run-dir';
import type { FlagValue } from '../args';
import { UsageError } from '../args';
import { onInterrupt } from '../common';
import { registerCommand, type Io } from '../registry';
import { modelDirArg } from '../model-arg';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';

/** pretrain's run folder: what marks a previous run, and what --force deletes (tokenizer files stay: --tokenizer may name DIR). */
const PRETRAIN_RUN: RunDirSpec = {
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
/** On --resume from a checkpoint: refuse given flags that differ from the run's and a changed corpus; record the inputs of a fresh start. */
function checkResume(
  out: string,
  f: Record<string, FlagValue>,
  given: ReadonlySet<string>,
  corpus: string[],
  log: (line: string) => void,
): void {
  const ck = f.resume === true ? recoverCheckpoint(out, log) : null;
  const files = fingerprintFiles({ corpus });
  if (!ck) {
    writeRunInputs(out, { command: 'pretrain', files, settings: comparedSettings(f, 'start') });
    return;
  }
  const recorded = readRunInputs(out);
  const diffs = compareSettings(recipeSettings(readTrainState(ck).recipe), comparedSettings(f, 'recipe'), given);
  if (recorded) {
    diffs.push(...compareSettings(recorded.settings, comparedSettings(f, 'start'), given));
    diffs.push(...compareInputs(recorded.files, files));
  } else log(`${out} has no ${INPUTS_FILE} (a run from an older version): corpus files not checked, recorded now`);
  refuseDifferences(out, diffs, RESUME_ALLOWED);
  if (!recorded) writeRunInputs(out, { command: 'pretrain', files, settings: {} });
}

const { threads, ...settings } = PRETRAIN_SETTINGS;

registerCommand({
  name: 'pretrain',
  summary:
    'pretrain a base T5 from raw text (one document per line, plain or .xz): tokenizer, objective mixture, resumable runs',
  flags: {
    corpus: {
      type: 'string',
      arg: 'FILE[,FILE]',
      help: 'corpus file(s), one document per line, plain or .xz',
      required: true,
    },
    out: {
      type: 'string',
      arg: 'DIR',
      help: 'output directory (HF layout; checkpoint/ inside for --resume)',
      required: true,
    },
    resume: {
      type: 'boolean',
      help: `continue from DIR/checkpoint with the saved recipe (only ${RESUME_ALLOWED.map((a) => `--${a}`).join(', ')} may change; other flags and the corpus must match)`,
    },
    force: {
      type: 'boolean',
      help: 'start over in a DIR that holds a previous run (deletes its checkpoint/, metrics.jsonl and exported model)',
    },
    ...settings,
    ...NPROC_FLAG,
    threads,
  },
  details: [
    'Objectives (as tools/gpu/pretrain_t5.py, its GPU twin): span = T5 span corruption (15% noise, mean span 3) over packed',
    'inputs (141 raw tokens of consecutive text, across sentences and documents -> 128 source / 29 target tokens at the',
    'default lengths; --span-inputs sentences: 1-3 sentences, the models/base-news-11m recipe; a checkpoint keeps its mode);',
    'denoise = masked sentence -> sentence; frag2sent = fragments -> sentence; sent2frag = sentence -> capitalised fragments.',
    'Output: config.json, model.safetensors, generation_config.json, tokenizer.json, spiece.model, metrics.jsonl, loss.svg,',
    'pretrain_summary.json, checkpoint/ (fp32 weights + optimizer + RNG + data position for --resume).',
    'DIR/.lock keeps a second process out; a DIR holding a previous run needs --resume or --force; DIR/inputs.json records',
    "the corpus files' sha256, checked on --resume.",
    'Example: cyclener pretrain --corpus news.txt.xz --out runs/base --model tiny --max-minutes 30',
  ].join('\n'),
  async run(args, cliIo: Io): Promise<number> {
    const f = args.flags;
    const worker = await startWorker(f.nproc, cliIo);
    if (typeof worker === 'number') return worker;
    const io = worker.io;
    if (f.threads !== undefined) T.setNumThreads(f.threads);
    if (f.tokenizer && f.init) throw new UsageError('--tokenizer and --init both give a tokenizer; pass one');
    const out = f.out;
    const corpus = f.corpus.split(',').filter(Boolean);
    if (f.force === true && f.init && path.resolve(f.init) === path.resolve(out))
      throw new UsageError('--force would delete the --init model: it is the output directory');
    const log = (line: string) => io.err(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
    checkCorpusFiles(corpus); // a missing corpus file is reported before the run folder is touched
    // Rank 0 owns the run folder (lock, --force, resume checks); the others start once it is ready.
    const run = worker.lead
      ? openRunDir(out, PRETRAIN_RUN, {
          resume: f.resume === true,
          force: f.force === true,
          log,
          inputs: { '--corpus': corpus, '--init': f.init }, // not --tokenizer: it may name DIR (--force keeps its files)
        })
      : null;
    const interrupt = onInterrupt((line) => io.err(line));
    let stoppedBy: string;
    try {
      if (worker.lead) checkResume(out, f, args.given, corpus, log);
      await T.dist.barrier();
      ({ stoppedBy } = await pretrain({
        ...pretrainOptions(f), // a resumed run keeps its recipe (pretrain() reads it from the checkpoint)
        corpus,
        out,
        tokenizerDir: (await modelDirArg(f.tokenizer, '--tokenizer', io)) ?? null,
        init: (await modelDirArg(f.init, '--init', io)) ?? null,
        resume: f.resume === true,
        log,
        signal: interrupt.signal,
      }));
      await finishWorker();
    } finally {
      interrupt.dispose();
      run?.release();
    }
    if (stoppedBy !== 'signal') return 0;
    io.err(`interrupted: checkpoint and model written to ${f.out}; continue with the same command and --resume`);
    return 130;
  },
});
