// `cyclener pretrain`: make a base T5 from raw text (tokenizer, objective mixture, resumable time-boxed training).

import * as T from '../../tensor';
import { DEFAULT_MIXTURE, OBJECTIVES, SPAN_INPUTS } from '../../pretrain/objectives';
import { pretrain, PRETRAIN_DEFAULTS as D } from '../../pretrain/pretrain';
import { SCHEDULES, type ScheduleKind } from '../../pretrain/schedule';
import type { ParsedArgs } from '../args';
import { UsageError } from '../args';
import { num, onInterrupt, PRECISION_FLAG, precisionOf, str } from '../common';
import { registerCommand, type Io } from '../registry';
import { modelDirArg } from '../model-arg';

registerCommand({
  name: 'pretrain',
  summary: 'pretrain a base T5 from raw text (one document per line, plain or .xz): tokenizer, objective mixture, resumable runs',
  flags: {
    corpus: { type: 'string', arg: 'FILE[,FILE]', help: 'corpus file(s), one document per line, plain or .xz', required: true },
    out: { type: 'string', arg: 'DIR', help: 'output directory (HF layout; checkpoint/ inside for --resume)', required: true },
    model: { type: 'string', arg: 'NAME|FILE', help: 'preset (tiny, mini, small, ...), a config.json, or a model directory whose config.json gives the dims', default: D.model },
    'vocab-size': { type: 'int', arg: 'N', help: 'total vocabulary when training a tokenizer (SentencePiece pieces + 100 sentinels + <sep>)', default: D.vocabSize },
    tokenizer: { type: 'string', arg: 'DIR|HUB_ID', help: 'reuse tokenizer.json/spiece.model from DIR instead of training one' },
    init: { type: 'string', arg: 'DIR|HUB_ID', help: 'continue pretraining this checkpoint (domain adaptation); reuses its tokenizer' },
    mixture: { type: 'string', arg: 'SPEC', help: `objectives and weights (${OBJECTIVES.join(', ')})`, default: DEFAULT_MIXTURE },
    'span-inputs': { type: 'string', arg: 'MODE', help: 'span objective inputs: packed = fixed-length windows of consecutive text, exactly --max-source tokens after corruption (T5); sentences = 1-3 sentences (the models/base-news-11m recipe)', default: D.spanInputs, choices: SPAN_INPUTS },
    'max-minutes': { type: 'number', arg: 'M', help: 'stop this sitting after M minutes of training (checkpointed; continue with --resume)' },
    steps: { type: 'int', arg: 'N', help: 'total optimizer steps (over all sittings); enables the linear schedule' },
    resume: { type: 'boolean', help: 'continue from DIR/checkpoint with the saved recipe' },
    batch: { type: 'int', arg: 'N', help: 'examples per micro-batch', default: D.batch },
    accum: { type: 'int', arg: 'K', help: 'micro-batches per optimizer step (gradient accumulation)', default: D.accum },
    optimizer: { type: 'string', arg: 'O', help: 'adamw (betas 0.9/0.98, weight decay 0.01) or adafactor (external lr, no parameter scaling)', default: 'adamw', choices: ['adamw', 'adafactor'] },
    lr: { type: 'number', arg: 'LR', help: 'peak learning rate', default: D.lr },
    warmup: { type: 'int', arg: 'N', help: 'linear warmup steps', default: D.warmup },
    schedule: { type: 'string', arg: 'S', help: 'decay after warmup (default: linear with --steps, else inverse-sqrt)', choices: SCHEDULES },
    seed: { type: 'int', arg: 'N', help: 'seed of model init, data sampling and tokenizer sample', default: D.seed },
    ...PRECISION_FLAG,
    dropout: { type: 'number', arg: 'P', help: 'dropout while pretraining (config.json keeps the fine-tuning rate)', default: D.dropout },
    'checkpoint-minutes': { type: 'number', arg: 'M', help: 'write DIR/checkpoint every M minutes', default: D.checkpointMinutes },
    'eval-every': { type: 'int', arg: 'N', help: 'validation loss every N steps', default: D.evalEvery },
    'log-every': { type: 'int', arg: 'N', help: 'progress line and metrics record every N steps', default: D.logEvery },
    'max-source': { type: 'int', arg: 'N', help: 'max source tokens', default: D.maxSource },
    'max-target': { type: 'int', arg: 'N', help: 'max target tokens', default: D.maxTarget },
    'spm-sentences': { type: 'int', arg: 'N', help: 'sentences sampled to train the tokenizer', default: D.spmSentences },
    'save-dtype': { type: 'string', arg: 'T', help: 'dtype of the exported model.safetensors', default: 'float32', choices: ['float32', 'bfloat16'] },
    threads: { type: 'int', arg: 'N', help: 'intra-op threads (default: CYCLENER_THREADS or physical cores)' },
  },
  details: [
    'Objectives (as tools/gpu/pretrain_t5.py, its GPU twin): span = T5 span corruption (15% noise, mean span 3) over packed',
    'inputs (141 raw tokens of consecutive text, across sentences and documents -> 128 source / 29 target tokens at the',
    'default lengths; --span-inputs sentences: 1-3 sentences, the models/base-news-11m recipe; a checkpoint keeps its mode);',
    'denoise = masked sentence -> sentence; frag2sent = fragments -> sentence; sent2frag = sentence -> capitalised fragments.',
    'Output: config.json, model.safetensors, generation_config.json, tokenizer.json, spiece.model, metrics.jsonl, loss.svg,',
    'pretrain_summary.json, checkpoint/ (fp32 weights + optimizer + RNG + data position for --resume).',
    'Example: cyclener pretrain --corpus news.txt.xz --out runs/base --model tiny --max-minutes 30',
  ].join('\n'),
  async run(args: ParsedArgs, io: Io): Promise<number> {
    const f = args.flags;
    const pos = (name: string) => {
      const v = num(f[name]);
      if (v !== undefined && !(v > 0)) throw new UsageError(`--${name} must be positive, got ${v}`);
      return v;
    };
    for (const k of ['batch', 'accum', 'lr', 'warmup', 'checkpoint-minutes', 'eval-every', 'log-every', 'max-source', 'max-target', 'spm-sentences', 'vocab-size']) pos(k);
    if (num(f.threads) !== undefined) T.setNumThreads(pos('threads')!);
    if (str(f.tokenizer) && str(f.init)) throw new UsageError('--tokenizer and --init both give a tokenizer; pass one');
    const interrupt = onInterrupt((line) => io.err(line));
    let stoppedBy: string;
    try {
      ({ stoppedBy } = await pretrain({
        corpus: (str(f.corpus) as string).split(',').filter(Boolean),
        out: str(f.out) as string,
        model: str(f.model) as string,
        vocabSize: num(f['vocab-size']) as number,
        tokenizerDir: (await modelDirArg(str(f.tokenizer), '--tokenizer', io)) ?? null,
        init: (await modelDirArg(str(f.init), '--init', io)) ?? null,
        mixture: str(f.mixture) as string,
        spanInputs: str(f['span-inputs']) === 'sentences' ? 'sentences' : 'packed',
        maxMinutes: pos('max-minutes') ?? null,
        steps: pos('steps') ?? null,
        resume: f.resume === true,
        batch: num(f.batch) as number,
        accum: num(f.accum) as number,
        optimizer: str(f.optimizer) === 'adafactor' ? 'adafactor' : 'adamw',
        lr: num(f.lr) as number,
        warmup: num(f.warmup) as number,
        schedule: (str(f.schedule) as ScheduleKind | undefined) ?? null,
        seed: num(f.seed) as number,
        bf16: precisionOf(f) === 'bf16', // a resumed run keeps its recipe's precision
        dropout: num(f.dropout) as number,
        maxSource: num(f['max-source']) as number,
        maxTarget: num(f['max-target']) as number,
        checkpointMinutes: num(f['checkpoint-minutes']) as number,
        evalEvery: num(f['eval-every']) as number,
        logEvery: num(f['log-every']) as number,
        valDocs: D.valDocs,
        valBatches: D.valBatches,
        valBatchSize: D.valBatchSize,
        holdoutEvery: D.holdoutEvery,
        chunkDocs: D.chunkDocs,
        spmSentences: num(f['spm-sentences']) as number,
        saveDtype: str(f['save-dtype']) === 'bfloat16' ? 'bfloat16' : 'float32',
        log: (line) => io.err(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
        signal: interrupt.signal,
      }));
    } finally {
      interrupt.dispose();
    }
    if (stoppedBy !== 'signal') return 0;
    io.err(`interrupted: checkpoint and model written to ${str(f.out)}; continue with the same command and --resume`);
    return 130;
  },
});
