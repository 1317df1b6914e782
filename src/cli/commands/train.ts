// `cyclener train`: CycleNER training (S-cycle + E-cycle) from unpaired S and Q files. The flags that set config keys
// come from the config's spec (src/cycle/config.ts, config-flags.ts); this module only parses the flags and calls the
// library's train() (src/api/train.ts), which reads the inputs, guards the run folder and trains.

import { train } from '../../api/train';
import { CYCLE_FLAGS, RESUMABLE_FLAGS } from '../../cycle/config-flags';
import { checkpointDir } from '../../run/layout';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';
import { UsageError } from '../args';
import { registerCommand, type Io } from '../registry';
import { givenOptions, trainingHooks, READER_FLAGS, readerSettingsOf, str, VERBALIZER_FLAGS } from '../common';

registerCommand({
  name: 'train',
  summary: 'CycleNER training (S-cycle + E-cycle) from unpaired sentences S and entity sequences Q',
  flags: {
    sentences: { type: 'string', arg: 'FILE', help: 'S file: one sentence per line' },
    entities: { type: 'string', arg: 'FILE', help: 'Q file: one entity sequence per line (<none> = no entities)' },
    'dev-sentences': { type: 'string', arg: 'FILE', help: 'held-out S for the dev cycle losses' },
    'dev-entities': {
      type: 'string',
      arg: 'FILE',
      help: 'held-out Q for the dev cycle losses (best/ = lowest dev E-cycle loss)',
    },
    'dev-gold': {
      type: 'string',
      arg: 'FILE',
      help: 'labelled dev file: F1 logged at each evaluation (not used for selection unless --select-on dev-f1)',
    },
    'test-gold': {
      type: 'string',
      arg: 'FILE',
      help: "labelled test file: P/R/F1 logged at each evaluation (the paper's Figure 4); never used for selection",
    },
    'base-model': { type: 'string', arg: 'DIR|HUB_ID', help: 'HF T5 directory both directions start from' },
    's2e-model': { type: 'string', arg: 'DIR|HUB_ID', help: 'start S2E from this directory instead' },
    'e2s-model': { type: 'string', arg: 'DIR|HUB_ID', help: 'start E2S from this directory instead' },
    out: { type: 'string', arg: 'RUN', help: 'run directory', required: true },
    config: {
      type: 'string',
      arg: 'FILE',
      help: 'run.json with config keys (see src/cycle/config.ts); flags override it',
    },
    resume: {
      type: 'boolean',
      help: `continue RUN from RUN/checkpoint with RUN/config.json (only ${RESUMABLE_FLAGS.map((b) => `--${b}`).join('/')} may change; other flags and the input files must match the run)`,
    },
    force: {
      type: 'boolean',
      help: 'start over in a RUN that holds a previous run (deletes its config.json, metrics.jsonl, checkpoint/, best/)',
    },
    ...CYCLE_FLAGS,
    ...NPROC_FLAG,
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
  },
  details: [
    'Writes RUN/config.json, RUN/inputs.json (sha256 of the input files), RUN/metrics.jsonl (steps, evaluations, sample triplets,',
    'warnings, the end of each sitting), RUN/checkpoint/ (resumable; a run of an older version resumes from its RUN/ckpt/)',
    'and RUN/best/{s2e,e2s} (without dev data: the final models). RUN/.lock keeps a second process out; a RUN holding a',
    'previous run needs --resume or --force. The saved S2E records its decoding (grounding, --max-new-tokens): predict',
    'and evaluate --model use it, so the reported F1 is decoded as the dev F1 was.',
    'With --nproc N (or under torchrun) each batch is split over the workers (generation and training), the gradients of',
    'both models are summed, and rank 0 writes RUN; --resume may use another N.',
  ].join('\n'),
  async run(args, cliIo: Io): Promise<number> {
    const f = args.flags;
    const worker = await startWorker(f.nproc, cliIo);
    if (typeof worker === 'number') return worker;
    const io = worker.io;
    const runDir = f.out;
    if (!f.sentences || !f.entities) throw new UsageError('--sentences and --entities are required');
    const log = (l: string) => io.err(l);
    const run = trainingHooks(log);
    try {
      const r = await train({
        sentences: f.sentences,
        entities: f.entities,
        ...givenOptions({
          devSentences: f['dev-sentences'],
          devEntities: f['dev-entities'],
          devGold: f['dev-gold'],
          testGold: f['test-gold'],
          verbalizer: str(f.verbalizer),
          dataset: str(f.dataset),
          baseModel: f['base-model'],
          s2eModel: f['s2e-model'],
          e2sModel: f['e2s-model'],
          config: f.config,
        }),
        read: readerSettingsOf(f),
        out: runDir,
        configFlags: Object.fromEntries(Object.keys(CYCLE_FLAGS).map((k) => [k, f[k as keyof typeof f]])),
        resume: f.resume === true,
        force: f.force === true,
        ...run.hooks,
      });
      await finishWorker();
      if (r.interrupted) {
        io.err(`interrupted after ${r.steps} steps this run; continue with the same command and --resume`);
        return 130;
      }
      const where = !r.best
        ? `no evaluation selected a model, so there is no best/ (the latest models are in ${checkpointDir(runDir)})`
        : r.best.final
          ? `models in ${r.best.dir} (the final models of step ${String(r.best.step)}: no dev data to select on)`
          : `models in ${r.best.dir}`;
      io.out(
        `done: ${r.steps} steps this run; best step ${r.bestStep ?? '-'} (${r.selectOn} ${r.bestScore?.toFixed(4) ?? '-'}); ${where}`,
      );
      return 0;
    } finally {
      run.dispose();
    }
  },
});
