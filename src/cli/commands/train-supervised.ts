// `cyclener train-supervised`: supervised S2E fine-tuning on ⟨sentence → entity sequence⟩ pairs (the paper's Table 4
// baseline), from a TSV of pairs or a labelled file. This module only parses the flags and calls the library's
// trainSupervised() (src/api/train-supervised.ts), which reads the inputs, guards --out and keeps the run's settings.

import { trainSupervised } from '../../api/train-supervised';
import { SUPERVISED_EPOCHS, SUPERVISED_SETTINGS as S } from '../../supervised/settings';
import { AT_LEAST_1, NON_NEGATIVE, POSITIVE, type FlagValue } from '../args';
import { registerCommand, type Io } from '../registry';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';
import {
  givenOptions,
  trainingHooks,
  PRECISION_FLAG,
  READER_FLAGS,
  readerSettingsOf,
  VERBALIZER_FLAGS,
} from '../common';

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
    // Flags with a default are passed only when given: a resume takes the run's recorded value for the others.
    const given = <T extends FlagValue>(k: string, v: T): T | undefined => (args.given.has(k) ? v : undefined);
    const fp32 = given('fp32', f.fp32);
    const grounded = f['no-ground'] === undefined ? undefined : !f['no-ground'];
    const run = trainingHooks(log);
    try {
      const r = await trainSupervised({
        ...givenOptions({
          pairs: f.pairs,
          train: f.train,
          num: f.num,
          steps: f.steps,
          epochs: f.epochs,
          lr: given('lr', f.lr),
          batchSize: given('batch', f.batch),
          seed: given('seed', f.seed),
          prefix: given('prefix', f.prefix),
          precision: fp32 === undefined ? undefined : fp32 ? ('fp32' as const) : ('bf16' as const),
          randomInit: f['random-init'],
          types: f.types,
          verbalizer: f.verbalizer,
          dataset: f.dataset,
        }),
        baseModel: f['base-model'],
        out: f.out,
        read: readerSettingsOf(f, args.given),
        decode: givenOptions({ grounded, maxNewTokens: given('max-new-tokens', f['max-new-tokens']) }),
        dev: givenOptions({ gold: f.dev, num: f['dev-num'], evalEvery: f['eval-every'], patience: f.patience }),
        resume: f.resume === true,
        force: f.force === true,
        ...run.hooks,
      });
      await finishWorker();
      if (r.interrupted) {
        io.err(`interrupted at step ${r.steps}: checkpoint written; continue with the same command and --resume`);
        return 130;
      }
      const trained = `trained ${r.steps} steps (${r.epochs.toFixed(2)} epochs) in ${r.seconds.toFixed(0)}s; final loss ${r.losses[r.losses.length - 1]?.toFixed(4)}`;
      const chosen = f.dev
        ? `; best dev loss ${r.bestDevLoss?.toFixed(4)} at step ${String(r.bestStep)}${r.stoppedEarly ? ' (stopped early)' : ''}`
        : '';
      io.out(`${trained}${chosen}; model in ${f.out}`);
      return 0;
    } finally {
      run.dispose();
    }
  },
});
