// `cyclener pretrain`: the flags of the library's `pretrain` (src/api/pretrain.ts: run folder, resume checks, the
// sitting), --nproc workers (each rank calls it), Ctrl-C as its abort signal.

import { pretrain, type PretrainOptions } from '../../api/pretrain';
import { optionsOfFlags, PRETRAIN_SETTINGS, RESUME_ALLOWED } from '../../pretrain/settings';
import { onInterrupt } from '../common';
import { registerCommand, type Io } from '../registry';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';

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
    'Example: cyclener pretrain --corpus news.txt.xz --out runs/base --arch tiny --max-minutes 30',
  ].join('\n'),
  async run(args, cliIo: Io): Promise<number> {
    const f = args.flags;
    const worker = await startWorker(f.nproc, cliIo);
    if (typeof worker === 'number') return worker;
    const io = worker.io;
    const interrupt = onInterrupt((line) => io.err(line));
    let interrupted: boolean;
    try {
      ({ interrupted } = await pretrain({
        // Only the settings given: a resume compares those with the run's, the library fills in the defaults.
        ...(optionsOfFlags(f, args.given) as Partial<PretrainOptions>),
        corpus: f.corpus,
        out: f.out,
        resume: f.resume === true,
        force: f.force === true,
        onProgress: (e) => {
          if (e.kind === 'log') io.err(`[${new Date().toISOString().slice(11, 19)}] ${e.message}`);
        },
        signal: interrupt.signal,
      }));
      await finishWorker();
    } finally {
      interrupt.dispose();
    }
    if (!interrupted) return 0;
    io.err(`interrupted: checkpoint and model written to ${f.out}; continue with the same command and --resume`);
    return 130;
  },
});
