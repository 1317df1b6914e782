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
import { openRunDir } from '../../util/run-dir';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';
import {
  chooseVerbalizer,
  corpusLabels,
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
  if (pairsFile && f.train) throw new UsageError('give --pairs FILE or --train FILE, not both');
  if (pairsFile && f.num !== undefined)
    throw new UsageError('--num draws sentences of --train; --pairs uses every pair');
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
    force: { type: 'boolean', help: 'replace a model or run already in --out (train-supervised cannot resume)' },
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
    const { pairs, verbalizer } = readPairs(f, io);
    const batch = f.batch;
    const steps = f.steps ?? Math.ceil(((f.epochs ?? SUPERVISED_EPOCHS) * pairs.length) / batch);
    const devFile = f.dev;
    if (!devFile && (f['eval-every'] !== undefined || f.patience !== undefined || f['dev-num'] !== undefined))
      throw new UsageError('--eval-every, --patience and --dev-num need --dev FILE');
    let dev: { pairs: Pair[]; evalEvery: number; patience: number } | undefined;
    if (devFile) {
      if (/(^|[/\\._-])test([/\\._-]|$)/i.test(path.basename(devFile)))
        throw new UsageError(`--dev ${devFile} looks like a test split; model selection runs on dev only`);
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
        sequence: formatEntitySequence(
          s.entities.map((e) => ({ surface: e.surface, type: toType(e.label) as string })),
        ),
      }));
      dev = {
        pairs: devPairs,
        evalEvery: f['eval-every'] ?? Math.max(1, Math.ceil(pairs.length / batch)),
        patience: f.patience ?? 0,
      };
      io.err(
        `dev: ${devPairs.length} labelled sentences from ${devFile}, dev loss every ${dev.evalEvery} steps${dev.patience > 0 ? `, patience ${dev.patience}` : ''}`,
      );
    }
    const types = f.types ? f.types.split(',').map((t) => t.trim()) : typesOf(pairs.map((p) => p.sequence));
    const out = f.out;
    if (path.resolve(out) === path.resolve(f['base-model']))
      throw new UsageError('--out is the --base-model directory: write the fine-tuned model elsewhere');
    const run = worker.lead
      ? openRunDir(out, SUPERVISED_RUN, {
          resume: false,
          force: f.force === true,
          log: (l) => io.err(l),
          inputs: {
            '--base-model': f['base-model'],
            '--train': f.train,
            '--pairs': f.pairs,
            '--dev': f.dev,
            '--verbalizer': f.verbalizer,
          },
        })
      : null;
    let m: ReturnType<typeof loadModelDir>;
    let baseDir: string;
    try {
      baseDir = (await modelDirArg(f['base-model'], '--base-model', io)) as string;
      m = loadModelDir(baseDir);
    } catch (e) {
      run?.release();
      throw e;
    }
    if (f['random-init'] === true) reinitialise(m, f.seed);
    try {
      const decode = { grounded: f['no-ground'] !== true, maxNewTokens: f['max-new-tokens'] };
      const r = await trainSupervised(
        m.model,
        m.tokenizer,
        pairs,
        supervisedConfig({
          prefix: f.prefix,
          batchSize: batch,
          steps,
          lr: f.lr,
          seed: f.seed,
          precision: precisionOf(f),
          ...(dev ? { dev } : {}),
        }),
        out,
        { types, ...(verbalizer ? { verbalizer } : {}), baseModel: modelSource(baseDir), decode },
        (l) => io.err(l),
      );
      const trained = `trained ${r.steps} steps (${r.epochs.toFixed(2)} epochs) in ${r.seconds.toFixed(0)}s; final loss ${r.losses[r.losses.length - 1]?.toFixed(4)}`;
      const chosen = dev
        ? `; best dev loss ${r.bestDevLoss?.toFixed(4)} at step ${String(r.bestStep)}${r.stoppedEarly ? ' (stopped early)' : ''}`
        : '';
      io.out(`${trained}${chosen}; model in ${out}`);
      await finishWorker();
    } finally {
      m.model.dispose();
      run?.release();
    }
    return 0;
  },
});
