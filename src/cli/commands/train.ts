// `cyclener train`: CycleNER training (S-cycle + E-cycle) from unpaired S and Q files. The flags that set config keys
// come from the config's spec (src/cycle/config.ts, config-flags.ts); this module reads the inputs, guards the run
// folder and calls trainCycle.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { rareTypeWarnings, typesOf } from '../../data/entity-seq';
import { capLongLines, capLongSequences, readQFile, readSentenceLines } from '../../data/readers';
import { makeConfig, type CycleConfig } from '../../cycle/config';
import { CYCLE_FLAGS, RESUMABLE_FLAGS } from '../../cycle/config-flags';
import { checkRunInputs, cycleRunConfig, readJson, settleVerbalizer } from '../../cycle/run-setup';
import { loadCyclePair } from '../../cycle/model-io';
import { CYCLE_RUN, trainCycle } from '../../cycle/trainer';
import * as T from '../../tensor';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';
import { UsageError } from '../args';
import { modelDirArg } from '../model-arg';
import { modelSource } from '../../hub';
import { registerCommand, type Io } from '../registry';
import { fingerprintFiles, modelWeightFiles, openRunDir } from '../../util/run-dir';
import { findCheckpoint } from '../../run/checkpoint';
import { checkpointDir } from '../../run/layout';
import {
  chooseVerbalizer,
  corpusLabels,
  onInterrupt,
  optFiles as opt,
  READER_FLAGS,
  readLabeledWithFlags,
  VERBALIZER_FLAGS,
} from '../common';

/** Q lines parsed and cut to what the models read (capLongSequences), with the warnings (rare types, cut lines). */
function qLinesToModel(file: string, maxTokens: number, warn: (line: string) => void): string[] {
  const seqs = readQFile(file);
  for (const w of rareTypeWarnings(file, seqs)) warn(w);
  const r = capLongSequences(file, seqs, maxTokens);
  if (r.warning) warn(r.warning);
  return r.lines;
}

/** S lines cut to what the models read (capLongLines), with the warning. */
function sentencesToModel(file: string, maxTokens: number, warn: (line: string) => void): string[] {
  const r = capLongLines(file, readSentenceLines(file), maxTokens);
  if (r.warning) warn(r.warning);
  return r.lines;
}

/** A --config file, checked key by key (makeConfig) before anything uses it. */
function readConfigFile(file: string): Partial<CycleConfig> {
  const values = readJson(file) as Partial<CycleConfig>;
  makeConfig(values, file);
  return values;
}

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
    const sFile = f.sentences;
    const qFile = f.entities;
    if (!sFile || !qFile) throw new UsageError('--sentences and --entities are required');
    const log = (l: string) => io.err(l);
    // Rank 0 owns RUN (lock, --force, the resume checks); the others load once it is ready.
    const run = worker.lead
      ? openRunDir(runDir, CYCLE_RUN, {
          resume: f.resume === true,
          force: f.force === true,
          log,
          inputs: {
            '--sentences': sFile,
            '--entities': qFile,
            '--dev-sentences': f['dev-sentences'],
            '--dev-entities': f['dev-entities'],
            '--dev-gold': f['dev-gold'],
            '--test-gold': f['test-gold'],
            '--base-model': f['base-model'],
            '--s2e-model': f['s2e-model'],
            '--e2s-model': f['e2s-model'],
            '--config': f.config,
            '--verbalizer': f.verbalizer,
          },
        })
      : null;
    try {
      const configFile = f.config ? { file: f.config, values: readConfigFile(f.config) } : undefined;
      const setup = cycleRunConfig({ runDir, resume: f.resume === true, configFile, flags: f });
      const { cfg } = setup;
      // S lines are S2E sources and E2S targets, Q lines the reverse: cut to the longer of the two limits.
      const maxTokens = Math.max(cfg.maxSourceTokens, cfg.maxTargetTokens);
      const S = sentencesToModel(sFile, maxTokens, log);
      const Q = qLinesToModel(qFile, maxTokens, log);
      const devS = f['dev-sentences'] ? sentencesToModel(f['dev-sentences'], maxTokens, log) : undefined;
      const devQ = f['dev-entities'] ? qLinesToModel(f['dev-entities'], maxTokens, log) : undefined;
      const devGold = f['dev-gold'] ? readLabeledWithFlags(f['dev-gold'], f) : undefined;
      const testGold = f['test-gold'] ? readLabeledWithFlags(f['test-gold'], f) : undefined;
      const goldForTypes = devGold ?? testGold;
      if (goldForTypes) {
        const v = chooseVerbalizer(f, corpusLabels(goldForTypes), undefined, {
          warn: log,
          corpora: [goldForTypes],
        }).toJSON();
        settleVerbalizer(setup, v, Boolean(f.verbalizer || f.dataset));
      }
      cfg.types = cfg.types ?? typesOf(Q);
      // Hub ids resolve to their cached snapshot (downloaded if needed) before anything is fingerprinted or loaded.
      const base = await modelDirArg(f['base-model'], '--base-model', io);
      const s2eArg = await modelDirArg(f['s2e-model'], '--s2e-model', io);
      const e2sArg = await modelDirArg(f['e2s-model'], '--e2s-model', io);
      if (run) {
        const inputs = fingerprintFiles({
          sentences: [sFile],
          entities: [qFile],
          'dev-sentences': opt(f['dev-sentences']),
          'dev-entities': opt(f['dev-entities']),
          'dev-gold': opt(f['dev-gold']),
          'test-gold': opt(f['test-gold']),
          'base-model': base ? modelWeightFiles(base) : undefined,
          's2e-model': opt(s2eArg, modelWeightFiles),
          'e2s-model': opt(e2sArg, modelWeightFiles),
        });
        checkRunInputs(run, { resume: f.resume === true, inputs, diffs: setup.diffs, log });
      }
      await T.dist.barrier();

      const ckptDir = f.resume === true ? findCheckpoint(runDir) : null;
      const resume = ckptDir !== null;
      if (f.resume === true && !resume) log(`no checkpoint in ${checkpointDir(runDir)}: starting from step 0`);
      const s2eDir = ckptDir ? path.join(ckptDir, 's2e') : (s2eArg ?? base);
      const e2sDir = ckptDir ? path.join(ckptDir, 'e2s') : (e2sArg ?? base);
      if (!s2eDir || !e2sDir) throw new UsageError('give --base-model DIR (or --s2e-model and --e2s-model)');
      const { s2e: a, e2s: b } = loadCyclePair(s2eDir, e2sDir);
      if (!resume) cfg.baseModels = { s2e: modelSource(s2eDir), e2s: modelSource(e2sDir) };
      io.err(
        `S2E from ${s2eDir}, E2S from ${e2sDir}; ${S.length} sentences, ${Q.length} entity sequences, types ${cfg.types.join(', ')}; grounded cycles ${cfg.grounded}`,
      );
      const interrupt = onInterrupt(log);
      try {
        const r = await trainCycle(
          { s2e: a.model, e2s: b.model, tokenizer: a.tokenizer },
          { S, Q, devS, devQ, devGold, testGold },
          cfg,
          runDir,
          { resume, log, signal: interrupt.signal },
        );
        await finishWorker();
        if (r.interrupted) {
          io.err(`interrupted after ${r.steps} steps this run; continue with the same command and --resume`);
          return 130;
        }
        const best = path.join(runDir, 'best');
        const info = fs.existsSync(path.join(best, 'info.json')) ? readJson(path.join(best, 'info.json')) : null;
        const where = !fs.existsSync(best)
          ? `no evaluation selected a model, so there is no best/ (the latest models are in ${checkpointDir(runDir)})`
          : info?.final === true
            ? `models in ${best} (the final models of step ${String(info.step)}: no dev data to select on)`
            : `models in ${best}`;
        io.out(
          `done: ${r.steps} steps this run; best step ${r.bestStep ?? '-'} (${cfg.selectOn} ${r.bestScore?.toFixed(4) ?? '-'}); ${where}`,
        );
      } finally {
        interrupt.dispose();
        a.model.dispose();
        b.model.dispose();
      }
      return 0;
    } finally {
      run?.release();
    }
  },
});
