// `cyclener gate`: is a base model good enough for CycleNER? The flags of the library's `gate` (src/api/gate.ts:
// supervised S2E on N gold sentences for each base, dev P/R/F1 next to the Lexical Matcher), its table printed.

import { gate } from '../../api/gate';
import { GATE_SETTINGS as G, SUPERVISED_SETTINGS as S } from '../../supervised/settings';
import { registerCommand, type Io } from '../registry';
import { PRECISION_FLAG, precisionOf, READER_FLAGS, readOptionsOf, VERBALIZER_FLAGS } from '../common';

registerCommand({
  name: 'gate',
  summary:
    'is a base model good enough for CycleNER? supervised S2E on N gold sentences vs the Lexical Matcher, on dev',
  flags: {
    'base-model': {
      type: 'string',
      arg: 'DIR|HUB_ID[,...]',
      help: 'base model directories to compare (same budget each)',
      required: true,
    },
    'random-init': {
      type: 'boolean',
      help: "add the no-pretraining control: the first base's architecture and tokenizer, random weights",
    },
    train: {
      type: 'string',
      arg: 'FILE',
      help: 'labelled training file to draw the N gold sentences from (e.g. conll2003/train.txt)',
      required: true,
    },
    dev: { type: 'string', arg: 'FILE', help: 'labelled dev file (never a test split)', required: true },
    num: G.num,
    steps: G.steps,
    batch: S.batch,
    lr: { ...S.lr, help: 'learning rate (AdamW, clip 1)' },
    seed: { ...S.seed, help: 'seed of the sentence draw, initialisation and dropout' },
    'dev-num': G['dev-num'],
    target: G.target,
    out: {
      type: 'string',
      arg: 'DIR',
      help: 'fine-tuned models, gate.json and gate.md (a row already there is reused when computed from the same data files, base model and settings; gate.json and gate.md are rewritten)',
      default: 'runs/gate',
    },
    'no-ground': { type: 'boolean', help: 'plain decoding instead of grounded' },
    'max-new-tokens': { ...S['max-new-tokens'], help: 'longest entity sequence in tokens' },
    'predict-batch': G['predict-batch'],
    json: { type: 'boolean', help: 'print the rows as JSON' },
    ...PRECISION_FLAG,
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
  },
  details: [
    "The pretraining issue's gate: CycleNER cannot beat its own supervised version, so a base whose supervised S2E does not",
    'clear the Lexical Matcher (gazetteer from the same N sentences) will not make the cycles work. Scores are conlleval-exact',
    'and bag-of-mentions micro P/R/F1; the verdict uses bag F1. Example:',
    '  cyclener gate --base-model models/base-news-11m --random-init --train conll2003/train.txt --dev conll2003/dev.txt',
  ].join('\n'),
  async run(args, io: Io): Promise<number> {
    const f = args.flags;
    const r = await gate({
      baseModels: f['base-model']
        .split(',')
        .map((b) => b.trim())
        .filter((b) => b !== ''),
      randomInit: f['random-init'] === true,
      train: f.train,
      dev: f.dev,
      read: readOptionsOf(f),
      // --verbalizer FILE (an input --out must not overwrite), else --dataset or the default that knows the labels.
      verbalizer: f.verbalizer,
      dataset: f.dataset,
      num: f.num,
      steps: f.steps,
      batchSize: f.batch,
      lr: f.lr,
      seed: f.seed,
      devNum: f['dev-num'],
      target: f.target,
      grounded: f['no-ground'] !== true,
      maxNewTokens: f['max-new-tokens'],
      predictBatch: f['predict-batch'],
      precision: precisionOf(f),
      out: f.out,
      onProgress: (e) => {
        if (e.kind === 'log') io.err(e.message);
      },
    });
    io.out(f.json === true ? JSON.stringify(r.rows, null, 2) : r.table);
    return 0;
  },
});
