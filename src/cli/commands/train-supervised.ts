// `cyclener train-supervised`: supervised S2E fine-tuning on ⟨sentence → entity sequence⟩ pairs (the paper's Table 4
// baseline), from a TSV of pairs or a labelled file.

import * as path from 'node:path';
import { formatEntitySequence, parseQLine, rareTypeWarnings, typesOf } from '../../data/entity-seq';
import { DataError } from '../../data/errors';
import { readUtf8, splitLines } from '../../data/readers';
import type { LabeledSentence } from '../../data/types';
import { loadModelDir, reinitialise } from '../../cycle/model-io';
import {
  pairsFromSentences,
  sampleSentences,
  SUPERVISED_RUN,
  trainSupervised,
  type Pair,
} from '../../supervised/supervised';
import { SUPERVISED_EPOCHS, SUPERVISED_SETTINGS as S, supervisedConfig } from '../../supervised/settings';
import type { FlagValue } from '../args';
import { AT_LEAST_1, NON_NEGATIVE, POSITIVE, UsageError } from '../args';
import { modelDirArg } from '../model-arg';
import { modelSource } from '../../hub';
import { registerCommand, type Io } from '../registry';
import {
  compareInputs,
  fingerprintFiles,
  modelWeightFiles,
  openRunDir,
  readRunInputs,
  refuseDifferences,
  writeRunInputs,
} from '../../util/run-dir';
import { findCheckpoint } from '../../run/checkpoint';
import * as T from '../../tensor';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';
import {
  chooseVerbalizer,
  corpusLabels,
  onInterrupt,
  optFiles as opt,
  PRECISION_FLAG,
  precisionOf,
  READER_FLAGS,
  readLabeledWithFlags,
  VERBALIZER_FLAGS,
} from '../common';

/** Pairs from --pairs (TSV: sentence \t entity-sequence line) or a labelled file. */
function readPairs(
  f: { pairs?: string; train?: string; num?: number; seed: number } & Record<string, FlagValue>,
  io: Io,
): { pairs: Pair[]; verbalizer?: Record<string, string> } {
  const pairsFile = f.pairs;
  if (pairsFile) {
    const parsed = splitLines(readUtf8(pairsFile)).map((l, i) => {
      const tab = l.indexOf('\t');
      if (tab < 0) throw new DataError(pairsFile, i + 1, 'expected "sentence<TAB>entity sequence"');
      const p = parseQLine(l.slice(tab + 1));
      if (p.problems.length > 0) throw new DataError(pairsFile, i + 1, p.problems.join('; '));
      return { sentence: l.slice(0, tab), entities: p.entities };
    });
    for (const w of rareTypeWarnings(
      pairsFile,
      parsed.map((p) => p.entities),
    ))
      io.err(w);
    const pairs = parsed.map((p) => ({
      sentence: p.sentence,
      sequence: p.entities.length === 0 ? '' : formatEntitySequence(p.entities),
    }));
    return { pairs };
  }
  const trainFile = f.train;
  if (!trainFile) throw new UsageError('give --pairs FILE or --train FILE');
  const corpus = readLabeledWithFlags(trainFile, f);
  const v = chooseVerbalizer(f, corpusLabels(corpus), undefined, { warn: (l) => io.err(l), corpora: [corpus] });
  const sents: LabeledSentence[] = sampleSentences(corpus.sentences, f.num, f.seed);
  io.err(`${sents.length} labelled sentences from ${trainFile}`);
  return { pairs: pairsFromSentences(sents, v), verbalizer: v.toJSON() };
}

/** Flag combinations that are usage errors: refused before the output folder is touched. */
function checkFlags(f: Record<string, FlagValue>): void {
  if (f.pairs && f.train) throw new UsageError('give --pairs FILE or --train FILE, not both');
  if (f.pairs && f.num !== undefined) throw new UsageError('--num draws sentences of --train; --pairs uses every pair');
  const devFile = f.dev;
  if (!devFile && (f['eval-every'] !== undefined || f.patience !== undefined || f['dev-num'] !== undefined))
    throw new UsageError('--eval-every, --patience and --dev-num need --dev FILE');
  if (typeof devFile === 'string' && /(^|[/\\._-])test([/\\._-]|$)/i.test(path.basename(devFile)))
    throw new UsageError(`--dev ${devFile} looks like a test split; model selection runs on dev only`);
}

/** --dev: labelled dev pairs for model selection (never a test split), with their evaluation cadence and patience. */
function readDev(
  f: { dev?: string; 'dev-num'?: number; 'eval-every'?: number; patience?: number; batch: number } & Record<
    string,
    FlagValue
  >,
  verbalizer: Record<string, string> | undefined,
  nPairs: number,
  io: Io,
): { pairs: Pair[]; evalEvery: number; patience: number } | undefined {
  const devFile = f.dev;
  if (!devFile) return undefined;
  const corpus = readLabeledWithFlags(devFile, f);
  const v = verbalizer
    ? null
    : chooseVerbalizer(f, corpusLabels(corpus), undefined, { warn: (l) => io.err(l), corpora: [corpus] });
  const toType = (label: string) => (verbalizer ? verbalizer[label] : v!.verbalize(label));
  const unknown = [...new Set(corpus.sentences.flatMap((s) => s.entities.map((e) => e.label)))].filter(
    (l) => toType(l) === undefined,
  );
  if (unknown.length > 0)
    throw new DataError(devFile, undefined, `label(s) ${unknown.join(', ')} do not occur in the training data`);
  const sents = corpus.sentences.slice(0, f['dev-num'] ?? corpus.sentences.length);
  const devPairs = sents.map((s) => ({
    sentence: s.text,
    sequence: formatEntitySequence(s.entities.map((e) => ({ surface: e.surface, type: toType(e.label) as string }))),
  }));
  const dev = {
    pairs: devPairs,
    evalEvery: f['eval-every'] ?? Math.max(1, Math.ceil(nPairs / f.batch)),
    patience: f.patience ?? 0,
  };
  io.err(
    `dev: ${devPairs.length} labelled sentences from ${devFile}, dev loss every ${dev.evalEvery} steps${dev.patience > 0 ? `, patience ${dev.patience}` : ''}`,
  );
  return dev;
}

/** The flags that make a run what it is, recorded in OUT/inputs.json at the start; a resume keeps them. */
const RUN_SETTINGS = [
  'lr',
  'batch',
  'seed',
  'prefix',
  'num',
  'random-init',
  'types',
  'no-ground',
  'max-new-tokens',
  'dev-num',
  'eval-every',
  'patience',
  'fp32',
  'tag-column',
  'scheme',
  'repair-tags',
  'offsets',
  'dataset',
] as const;

/** What a resume may change: the step budget. */
const RESUME_ALLOWED = ['steps', 'epochs'];

function settingsOf(f: Record<string, FlagValue>): Record<string, unknown> {
  return Object.fromEntries(RUN_SETTINGS.filter((k) => f[k] !== undefined).map((k) => [k, f[k]]));
}

/** Take the recorded settings into `f` (as `train --resume` takes RUN/config.json); returns the given flags whose
 *  value differs from the run's. */
function adoptRecorded(
  f: Record<string, FlagValue>,
  given: ReadonlySet<string>,
  recorded: Record<string, unknown>,
): string[] {
  const diffs: string[] = [];
  const show = (v: unknown) => (v === undefined ? 'unset' : typeof v === 'string' ? v : JSON.stringify(v));
  for (const k of RUN_SETTINGS) {
    const was = recorded[k] as FlagValue;
    if (given.has(k) && JSON.stringify(f[k]) !== JSON.stringify(was))
      diffs.push(`--${k}: run has ${show(was)}, command line says ${show(f[k])}`);
    else if (was === undefined) delete f[k];
    else f[k] = was;
  }
  return diffs;
}

registerCommand({
  name: 'train-supervised',
  summary: "supervised S2E fine-tuning on ⟨sentence → entity sequence⟩ pairs (the paper's Table 4 baseline)",
  flags: {
    pairs: { type: 'string', arg: 'FILE', help: 'TSV: sentence<TAB>entity sequence (<none> for none)' },
    train: { type: 'string', arg: 'FILE', help: 'labelled CoNLL / CoNLL-2012 / JSONL file' },
    num: { type: 'int', arg: 'N', help: 'use N random sentences of --train (seeded)', range: AT_LEAST_1 },
    'base-model': { type: 'string', arg: 'DIR|HUB_ID', help: 'HF T5 directory to start from', required: true },
    out: { type: 'string', arg: 'DIR', help: 'output model directory', required: true },
    steps: { type: 'int', arg: 'N', help: 'optimizer steps (default: from --epochs)', range: AT_LEAST_1 },
    epochs: {
      type: 'number',
      arg: 'N',
      help: `epochs over the pairs, may be fractional (default ${SUPERVISED_EPOCHS} when --steps is absent)`,
      range: POSITIVE,
    },
    lr: S.lr,
    batch: S.batch,
    seed: S.seed,
    prefix: S.prefix,
    resume: {
      type: 'boolean',
      help: 'continue the run in --out from --out/checkpoint with its recorded settings (only --steps/--epochs may change; the input files must match the run)',
    },
    force: {
      type: 'boolean',
      help: 'start over in an --out that holds a previous run (deletes its model, metrics.jsonl, checkpoint/)',
    },
    'random-init': {
      type: 'boolean',
      help: 'same architecture and tokenizer as --base-model, weights randomly initialised (seeded): the no-pretraining control',
    },
    types: {
      type: 'string',
      arg: 'LIST',
      help: 'comma-separated type words for grounded prediction (default: from the data)',
    },
    'no-ground': {
      type: 'boolean',
      help: "record plain decoding as the model's default for predict/evaluate (grounded otherwise)",
    },
    'max-new-tokens': S['max-new-tokens'],
    dev: {
      type: 'string',
      arg: 'FILE',
      help: 'labelled dev file (never a test split): --out keeps the model with the lowest dev loss',
    },
    'dev-num': { type: 'int', arg: 'N', help: 'use the first N sentences of --dev (default: all)', range: AT_LEAST_1 },
    'eval-every': {
      type: 'int',
      arg: 'N',
      help: 'dev loss every N steps (default: once per epoch; needs --dev)',
      range: AT_LEAST_1,
    },
    patience: {
      type: 'int',
      arg: 'N',
      help: 'stop after N dev evaluations without a lower dev loss (needs --dev; 0 = run all steps, the default)',
      range: NON_NEGATIVE,
    },
    ...PRECISION_FLAG,
    ...NPROC_FLAG,
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
  },
  details:
    'With --nproc N (or under torchrun) each batch is split over the workers; rank 0 writes the output. With --dev, training is a budget that converges: --steps/--epochs is the most it may run, --patience stops it when the dev loss stops improving, and --out holds the model of the best evaluation (its step is printed and logged in metrics.jsonl).',
  async run(args, cliIo: Io): Promise<number> {
    const f = args.flags;
    const worker = await startWorker(f.nproc, cliIo);
    if (typeof worker === 'number') return worker;
    const io = worker.io;
    const log = (l: string) => io.err(l);
    const out = f.out;
    checkFlags(f);
    if (path.resolve(out) === path.resolve(f['base-model']))
      throw new UsageError('--out is the --base-model directory: write the fine-tuned model elsewhere');
    // Rank 0 owns the run folder (lock, --force, the resume checks); the others start once it is ready.
    const run = worker.lead
      ? openRunDir(out, SUPERVISED_RUN, {
          resume: f.resume === true,
          force: f.force === true,
          log,
          inputs: {
            '--base-model': f['base-model'],
            '--train': f.train,
            '--pairs': f.pairs,
            '--dev': f.dev,
            '--verbalizer': f.verbalizer,
          },
        })
      : null;
    try {
      await T.dist.barrier(); // every rank reads the folder once rank 0 has cleaned it up
      // A resume runs with the settings recorded at the start: a flag given with another value is a difference.
      const resume = f.resume === true && findCheckpoint(out) !== null;
      const recorded = resume ? readRunInputs(out) : null;
      const diffs = recorded ? adoptRecorded(f as Record<string, FlagValue>, args.given, recorded.settings) : [];
      const { pairs, verbalizer } = readPairs(f, io);
      const steps =
        f.steps ??
        (f.epochs === undefined && typeof recorded?.settings.steps === 'number'
          ? recorded.settings.steps
          : Math.ceil(((f.epochs ?? SUPERVISED_EPOCHS) * pairs.length) / f.batch));
      const dev = readDev(f, verbalizer, pairs.length, io);
      const types = f.types ? f.types.split(',').map((t) => t.trim()) : typesOf(pairs.map((p) => p.sequence));
      const baseDir = (await modelDirArg(f['base-model'], '--base-model', io)) as string;
      const m = loadModelDir(baseDir); // a base that cannot be loaded leaves the folder as it was
      const interrupt = onInterrupt(log);
      try {
        if (run) {
          const files = fingerprintFiles({
            train: opt(f.train),
            pairs: opt(f.pairs),
            dev: opt(f.dev),
            verbalizer: opt(f.verbalizer),
            'base-model': modelWeightFiles(baseDir),
          });
          if (recorded) refuseDifferences(out, [...diffs, ...compareInputs(recorded.files, files)], RESUME_ALLOWED);
          else {
            // A checkpoint without inputs.json was written by the library: its settings are checked by trainSupervised.
            if (resume) log(`${out} has no inputs.json: input files not checked, recorded now`);
            writeRunInputs(out, { command: 'train-supervised', files, settings: { ...settingsOf(f), steps } });
          }
        }
        await T.dist.barrier();
        if (f['random-init'] === true) reinitialise(m, f.seed);
        const decode = { grounded: f['no-ground'] !== true, maxNewTokens: f['max-new-tokens'] };
        const r = await trainSupervised(
          m.model,
          m.tokenizer,
          pairs,
          supervisedConfig({
            prefix: f.prefix,
            batchSize: f.batch,
            steps,
            lr: f.lr,
            seed: f.seed,
            precision: precisionOf(f),
            ...(dev ? { dev } : {}),
          }),
          out,
          { types, ...(verbalizer ? { verbalizer } : {}), baseModel: modelSource(baseDir), decode },
          { log, signal: interrupt.signal, checkpoint: true, resume },
        );
        await finishWorker();
        if (r.interrupted) {
          io.err(`interrupted at step ${r.steps}: checkpoint written; continue with the same command and --resume`);
          return 130;
        }
        const trained = `trained ${r.steps} steps (${r.epochs.toFixed(2)} epochs) in ${r.seconds.toFixed(0)}s; final loss ${r.losses[r.losses.length - 1]?.toFixed(4)}`;
        const chosen = dev
          ? `; best dev loss ${r.bestDevLoss?.toFixed(4)} at step ${String(r.bestStep)}${r.stoppedEarly ? ' (stopped early)' : ''}`
          : '';
        io.out(`${trained}${chosen}; model in ${out}`);
      } finally {
        interrupt.dispose();
        m.model.dispose();
      }
      return 0;
    } finally {
      run?.release();
    }
  },
});
