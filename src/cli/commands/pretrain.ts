// `cyclener pretrain`: make a base T5 from raw text (tokenizer, objective mixture, resumable time-boxed training).

import * as T from '../../tensor';
import { DEFAULT_MIXTURE, formatMixture, OBJECTIVES, parseMixture, SPAN_INPUTS } from '../../pretrain/objectives';
import { pretrain, PRETRAIN_DEFAULTS as D } from '../../pretrain/pretrain';
import { SCHEDULES, type ScheduleKind } from '../../pretrain/schedule';
import { ADDED_TOKENS } from '../../pretrain/spm';
import * as path from 'node:path';
import { checkCorpusFiles } from '../../pretrain/corpus';
import { findCheckpoint, readTrainState, type Recipe } from '../../pretrain/train-state';
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
import { AT_LEAST_1, DROPOUT, NON_NEGATIVE, POSITIVE, SEED, UsageError } from '../args';
import { num, onInterrupt, PRECISION_FLAG, precisionOf, str } from '../common';
import { registerCommand, type Io } from '../registry';
import { modelDirArg } from '../model-arg';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';

/** pretrain's run folder: what marks a previous run, and what --force deletes (tokenizer files stay: --tokenizer may name DIR). */
const PRETRAIN_RUN: RunDirSpec = {
  command: 'pretrain',
  markers: ['checkpoint', 'metrics.jsonl', 'pretrain_summary.json', 'model.safetensors', 'config.json'],
  clear: [
    'checkpoint',
    'metrics.jsonl',
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
/** Flags a resume may change: the budget, bookkeeping and the export dtype; the recipe and inputs must match. */
const RESUME_ALLOWED = [
  'steps',
  'max-minutes',
  'threads',
  'checkpoint-minutes',
  'log-every',
  'eval-every',
  'save-dtype',
];

/** The recipe as flag values, for the resume check. */
function recipeFlags(r: Recipe): Record<string, unknown> {
  return {
    mixture: r.mixture,
    'span-inputs': r.spanInputs ?? 'sentences',
    batch: r.batch,
    accum: r.accum,
    optimizer: r.optimizer ?? 'adamw',
    lr: r.lr,
    'warmup-steps': r.warmup,
    schedule: r.schedule,
    seed: r.seed,
    fp32: !r.bf16,
    dropout: r.dropout,
    'max-source': r.maxSource,
    'max-target': r.maxTarget,
    init: r.init,
  };
}

/** The command line's values for the same flags (only the given ones are compared). */
function commandRecipeFlags(f: Record<string, FlagValue>): Record<string, unknown> {
  return {
    mixture: formatMixture(parseMixture(str(f.mixture) as string)),
    'span-inputs': str(f['span-inputs']),
    batch: num(f.batch),
    accum: num(f.accum),
    optimizer: str(f.optimizer),
    lr: num(f.lr),
    'warmup-steps': num(f['warmup-steps']),
    schedule: str(f.schedule),
    seed: num(f.seed),
    fp32: f.fp32 === true,
    dropout: num(f.dropout),
    'max-source': num(f['max-source']),
    'max-target': num(f['max-target']),
    init: str(f.init) ? path.resolve(str(f.init) as string) : null,
  };
}

/** Settings that neither the recipe nor the checkpoint records (the model and tokenizer of a fresh start). */
function startSettings(f: Record<string, FlagValue>): Record<string, unknown> {
  return {
    model: str(f.model),
    'vocab-size': num(f['vocab-size']),
    tokenizer: str(f.tokenizer) ? path.resolve(str(f.tokenizer) as string) : null,
    'spm-sentences': num(f['spm-sentences']),
  };
}

/** On --resume from a checkpoint: refuse given flags that differ from the run's and a changed corpus; record the inputs of a fresh start. */
function checkResume(
  out: string,
  f: Record<string, FlagValue>,
  given: ReadonlySet<string>,
  corpus: string[],
  log: (line: string) => void,
): void {
  const ck = f.resume === true ? findCheckpoint(out, log) : null;
  const files = fingerprintFiles({ corpus });
  if (!ck) {
    writeRunInputs(out, { command: 'pretrain', files, settings: startSettings(f) });
    return;
  }
  const recorded = readRunInputs(out);
  const diffs = compareSettings(recipeFlags(readTrainState(ck).recipe), commandRecipeFlags(f), given);
  if (recorded) {
    diffs.push(...compareSettings(recorded.settings, startSettings(f), given));
    diffs.push(...compareInputs(recorded.files, files));
  } else log(`${out} has no ${INPUTS_FILE} (a run from an older version): corpus files not checked, recorded now`);
  refuseDifferences(out, diffs, RESUME_ALLOWED);
  if (!recorded) writeRunInputs(out, { command: 'pretrain', files, settings: {} });
}

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
    model: {
      type: 'string',
      arg: 'NAME|FILE',
      help: 'preset (tiny, mini, small, ...), a config.json, or a model directory whose config.json gives the dims',
      default: D.model,
    },
    'vocab-size': {
      type: 'int',
      arg: 'N',
      help: 'total vocabulary when training a tokenizer (SentencePiece pieces + 100 sentinels + <sep>)',
      default: D.vocabSize,
      range: { min: ADDED_TOKENS + 8 },
    },
    tokenizer: {
      type: 'string',
      arg: 'DIR|HUB_ID',
      help: 'reuse tokenizer.json/spiece.model from DIR instead of training one',
    },
    init: {
      type: 'string',
      arg: 'DIR|HUB_ID',
      help: 'continue pretraining this checkpoint (domain adaptation); reuses its tokenizer',
    },
    mixture: {
      type: 'string',
      arg: 'SPEC',
      help: `objectives and weights (${OBJECTIVES.join(', ')})`,
      default: DEFAULT_MIXTURE,
    },
    'span-inputs': {
      type: 'string',
      arg: 'MODE',
      help: 'span objective inputs: packed = fixed-length windows of consecutive text, exactly --max-source tokens after corruption (T5); sentences = 1-3 sentences (the models/base-news-11m recipe)',
      default: D.spanInputs,
      choices: SPAN_INPUTS,
    },
    'max-minutes': {
      type: 'number',
      arg: 'M',
      help: 'stop this sitting after M minutes of training (checkpointed; continue with --resume)',
      range: POSITIVE,
    },
    steps: {
      type: 'int',
      arg: 'N',
      help: 'total optimizer steps (over all sittings); enables the linear schedule',
      range: AT_LEAST_1,
    },
    resume: {
      type: 'boolean',
      help: `continue from DIR/checkpoint with the saved recipe (only ${RESUME_ALLOWED.map((a) => `--${a}`).join(', ')} may change; other flags and the corpus must match)`,
    },
    force: {
      type: 'boolean',
      help: 'start over in a DIR that holds a previous run (deletes its checkpoint/, metrics.jsonl and exported model)',
    },
    batch: { type: 'int', arg: 'N', help: 'examples per micro-batch', default: D.batch, range: AT_LEAST_1 },
    accum: {
      type: 'int',
      arg: 'K',
      help: 'micro-batches per optimizer step (gradient accumulation)',
      default: D.accum,
      range: AT_LEAST_1,
    },
    optimizer: {
      type: 'string',
      arg: 'O',
      help: 'adamw (betas 0.9/0.98, weight decay 0.01) or adafactor (external lr, no parameter scaling)',
      default: 'adamw',
      choices: ['adamw', 'adafactor'],
    },
    lr: { type: 'number', arg: 'LR', help: 'peak learning rate', default: D.lr, range: POSITIVE },
    'warmup-steps': {
      type: 'int',
      arg: 'N',
      help: 'linear warmup steps (0 = none)',
      default: D.warmup,
      range: NON_NEGATIVE,
      aliases: ['warmup'],
    },
    schedule: {
      type: 'string',
      arg: 'S',
      help: 'decay after warmup (default: linear with --steps, else inverse-sqrt)',
      choices: SCHEDULES,
    },
    seed: {
      type: 'int',
      arg: 'N',
      help: 'seed of model init, data sampling and tokenizer sample',
      default: D.seed,
      range: SEED,
    },
    ...PRECISION_FLAG,
    dropout: {
      type: 'number',
      arg: 'P',
      help: 'dropout while pretraining (config.json keeps the fine-tuning rate)',
      default: D.dropout,
      range: DROPOUT,
    },
    'checkpoint-minutes': {
      type: 'number',
      arg: 'M',
      help: 'write DIR/checkpoint every M minutes',
      default: D.checkpointMinutes,
      range: POSITIVE,
    },
    'eval-every': {
      type: 'int',
      arg: 'N',
      help: 'validation loss every N steps',
      default: D.evalEvery,
      range: AT_LEAST_1,
    },
    'log-every': {
      type: 'int',
      arg: 'N',
      help: 'progress line and metrics record every N steps',
      default: D.logEvery,
      range: AT_LEAST_1,
    },
    'max-source': { type: 'int', arg: 'N', help: 'max source tokens', default: D.maxSource, range: AT_LEAST_1 },
    'max-target': { type: 'int', arg: 'N', help: 'max target tokens', default: D.maxTarget, range: AT_LEAST_1 },
    'spm-sentences': {
      type: 'int',
      arg: 'N',
      help: 'sentences sampled to train the tokenizer',
      default: D.spmSentences,
      range: AT_LEAST_1,
    },
    'save-dtype': {
      type: 'string',
      arg: 'T',
      help: 'dtype of the exported model.safetensors',
      default: 'float32',
      choices: ['float32', 'bfloat16'],
    },
    ...NPROC_FLAG,
    threads: {
      type: 'int',
      arg: 'N',
      help: 'intra-op threads (default: CYCLENER_THREADS or physical cores)',
      range: AT_LEAST_1,
    },
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
        corpus,
        out,
        model: f.model,
        vocabSize: f['vocab-size'],
        tokenizerDir: (await modelDirArg(f.tokenizer, '--tokenizer', io)) ?? null,
        init: (await modelDirArg(f.init, '--init', io)) ?? null,
        mixture: f.mixture,
        spanInputs: f['span-inputs'] === 'sentences' ? 'sentences' : 'packed',
        maxMinutes: f['max-minutes'] ?? null,
        steps: f.steps ?? null,
        resume: f.resume === true,
        batch: f.batch,
        accum: f.accum,
        optimizer: f.optimizer === 'adafactor' ? 'adafactor' : 'adamw',
        lr: f.lr,
        warmup: f['warmup-steps'],
        schedule: (f.schedule as ScheduleKind | undefined) ?? null,
        seed: f.seed,
        bf16: precisionOf(f) === 'bf16', // a resumed run keeps its recipe's precision
        dropout: f.dropout,
        maxSource: f['max-source'],
        maxTarget: f['max-target'],
        checkpointMinutes: f['checkpoint-minutes'],
        evalEvery: f['eval-every'],
        logEvery: f['log-every'],
        valDocs: D.valDocs,
        valBatches: D.valBatches,
        valBatchSize: D.valBatchSize,
        holdoutEvery: D.holdoutEvery,
        chunkDocs: D.chunkDocs,
        spmSentences: f['spm-sentences'],
        saveDtype: f['save-dtype'] === 'bfloat16' ? 'bfloat16' : 'float32',
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
