// `cyclener train` (cycle training), `cyclener train-supervised` (S2E on labelled pairs) and
// `cyclener predict` (S2E inference to JSONL with character offsets or CoNLL columns).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatEntitySequence, parseQLine, toQLine } from '../../data/entity-seq';
import { DataError } from '../../data/errors';
import { jsonlRecord, readQFile, readSentenceLines, readUtf8, splitLines, type LabeledCorpus } from '../../data/readers';
import { tokenizeText } from '../../data/detok';
import type { LabeledSentence, Range } from '../../data/types';
import { makeConfig, type CycleConfig } from '../../cycle/config';
import { DEFAULT_S2E_PREFIX, loadModelDir, reinitialise } from '../../cycle/model-io';
import { alignAll, issueCounts, predictWithModelDir, type SentenceIssues } from '../../cycle/predict';
import { pairsFromSentences, sampleSentences, trainSupervised, type Pair } from '../../cycle/supervised';
import { trainCycle, typesOf } from '../../cycle/trainer';
import type { FlagValue, ParsedArgs } from '../args';
import { AT_LEAST_1, NON_NEGATIVE, POSITIVE, PROBABILITY_BELOW_1, SEED, UsageError } from '../args';
import { modelDirArg } from '../model-arg';
import { modelSource } from '../../hub';
import { registerCommand, type Io } from '../registry';
import { compareInputs, fingerprintFiles, INPUTS_FILE, modelWeightFiles, openRunDir, readRunInputs, refuseDifferences, writeRunInputs, type RunDirSpec } from '../../util/run-dir';
import { chooseVerbalizer, corpusLabels, offsetsOf, onInterrupt, PRECISION_FLAG, precisionOf, READER_FLAGS, readLabeledWithFlags, str, num, VERBALIZER_FLAGS, writeLines } from '../common';

function qLinesToModel(file: string): string[] {
  return readQFile(file).map((es) => (es.length === 0 ? '' : formatEntitySequence(es)));
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readUtf8(file)) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(file, undefined, `invalid JSON (${(e as Error).message})`);
  }
}

/** Train's run folder: what marks a previous run, and what --force deletes. */
const TRAIN_RUN: RunDirSpec = {
  command: 'train',
  markers: ['config.json', 'metrics.jsonl', 'ckpt', 'best'],
  clear: ['config.json', 'metrics.jsonl', 'ckpt', 'best', INPUTS_FILE, 'curves.svg'],
};
/** The only flags a resume may change (the step budget); all others must match the run's. */
const TRAIN_RESUME_ALLOWED = ['epochs', 'max-steps'];
/** Starting models: compared on a resume only when given (the resume continues from RUN/ckpt). */
const MODEL_FLAGS = new Set(['base-model', 's2e-model', 'e2s-model']);

/** train flags that set config keys: applied to a fresh config, probed against a resumed run's. */
const CONFIG_FLAGS: Record<string, (c: CycleConfig, v: FlagValue) => void> = {
  batch: (c, v) => { c.batchSize = v as number; },
  fp32: (c) => { c.precision = 'fp32'; },
  'lr-s2e': (c, v) => { c.lrS2E = v as number; },
  'lr-e2s': (c, v) => { c.lrE2S = v as number; },
  seed: (c, v) => { c.seed = v as number; },
  'no-ground': (c) => { c.grounded = false; c.groundedEval = false; },
  'eval-every': (c, v) => { c.evalEvery = v as number; },
  patience: (c, v) => { c.patience = v as number; },
  'select-on': (c, v) => { c.selectOn = v as CycleConfig['selectOn']; },
  warmup: (c, v) => { c.warmup = v as CycleConfig['warmup']; },
  'warmup-steps': (c, v) => { c.warmupSteps = v as number; },
  'warmup-lr': (c, v) => { c.warmupLr = v as number; },
  'warmup-directions': (c, v) => { c.warmupDirections = v as CycleConfig['warmupDirections']; },
  'cycle-allow-empty': (c) => { c.cycleAllowEmpty = true; },
  'on-collapse': (c, v) => { c.onCollapse = v as CycleConfig['onCollapse']; },
  'e2s-no-repeat-ngram': (c, v) => { c.e2sDecode = { ...c.e2sDecode, noRepeatNgramSize: v as number }; },
  'e2s-repetition-penalty': (c, v) => { c.e2sDecode = { ...c.e2sDecode, repetitionPenalty: v as number }; },
  'self-train': (c, v) => { c.selfTrainMinProb = v as number; },
  'e-cycle-filter': (c, v) => { c.eCycleFilter = v as CycleConfig['eCycleFilter']; },
};

/** "--batch: run has 16, command line says 8" for each given flag (or --config key) that would change the run's config. */
function configDifferences(saved: CycleConfig, f: Record<string, FlagValue>): string[] {
  const show = (c: CycleConfig, keys: string[]) => {
    const v = (k: string) => { const x = (c as unknown as Record<string, unknown>)[k]; return typeof x === 'string' ? x : JSON.stringify(x); };
    return keys.length === 1 ? v(keys[0]!) : keys.map((k) => `${k}=${v(k)}`).join(', ');
  };
  const changed = (probe: CycleConfig) => Object.keys(saved).filter((k) => JSON.stringify((probe as unknown as Record<string, unknown>)[k]) !== JSON.stringify((saved as unknown as Record<string, unknown>)[k]));
  const diffs: string[] = [];
  for (const [flag, apply] of Object.entries(CONFIG_FLAGS)) {
    if (f[flag] === undefined || f[flag] === false) continue;
    const probe = structuredClone(saved);
    apply(probe, f[flag]);
    const keys = changed(probe);
    if (keys.length > 0) diffs.push(`--${flag}: run has ${show(saved, keys)}, command line says ${show(probe, keys)}`);
  }
  const file = str(f.config);
  if (file) {
    const probe = { ...saved, ...(readJson(file) as Partial<CycleConfig>), epochs: saved.epochs, maxSteps: saved.maxSteps };
    const keys = changed(probe);
    if (keys.length > 0) diffs.push(`--config ${file}: run has ${show(saved, keys)}, the file says ${show(probe, keys)}`);
  }
  return diffs;
}

/** [file] (or `map(file)`) when the flag is given. */
function opt(file: string | undefined, map: (f: string) => string[] = (x) => [x]): string[] | undefined {
  return file === undefined ? undefined : map(file);
}

registerCommand({
  name: 'train',
  summary: 'CycleNER training (S-cycle + E-cycle) from unpaired sentences S and entity sequences Q',
  flags: {
    sentences: { type: 'string', arg: 'FILE', help: 'S file: one sentence per line' },
    entities: { type: 'string', arg: 'FILE', help: 'Q file: one entity sequence per line (<none> = no entities)' },
    'dev-sentences': { type: 'string', arg: 'FILE', help: 'held-out S for the dev cycle losses' },
    'dev-entities': { type: 'string', arg: 'FILE', help: 'held-out Q for the dev cycle losses (best/ = lowest dev E-cycle loss)' },
    'dev-gold': { type: 'string', arg: 'FILE', help: 'labelled dev file: F1 logged at each evaluation (not used for selection unless --select-on dev-f1)' },
    'base-model': { type: 'string', arg: 'DIR|HUB_ID', help: 'HF T5 directory both directions start from' },
    's2e-model': { type: 'string', arg: 'DIR|HUB_ID', help: 'start S2E from this directory instead' },
    'e2s-model': { type: 'string', arg: 'DIR|HUB_ID', help: 'start E2S from this directory instead' },
    out: { type: 'string', arg: 'RUN', help: 'run directory', required: true },
    config: { type: 'string', arg: 'FILE', help: 'run.json with config keys (see src/cycle/config.ts); flags override it' },
    resume: { type: 'boolean', help: 'continue RUN from RUN/ckpt with RUN/config.json (only --epochs/--max-steps may change; other flags and the input files must match the run)' },
    force: { type: 'boolean', help: 'start over in a RUN that holds a previous run (deletes its config.json, metrics.jsonl, ckpt/, best/)' },
    epochs: { type: 'int', arg: 'N', help: 'epochs over the larger of S and Q (default 10)', range: AT_LEAST_1 },
    'max-steps': { type: 'int', arg: 'N', help: 'stop after N steps in total (default: only --epochs)', range: AT_LEAST_1 },
    batch: { type: 'int', arg: 'N', help: 'batch size (default 32)', range: AT_LEAST_1 },
    'lr-s2e': { type: 'number', arg: 'LR', help: 'S2E learning rate (default 3e-4)', range: POSITIVE },
    'lr-e2s': { type: 'number', arg: 'LR', help: 'E2S learning rate (default 3e-4)', range: POSITIVE },
    seed: { type: 'int', arg: 'N', help: 'seed (data order, sampling; default 42)', range: SEED },
    'no-ground': { type: 'boolean', help: 'plain S2E decoding inside the cycles and for dev F1 (the paper\'s setting)' },
    'eval-every': { type: 'int', arg: 'N', help: 'evaluate every N steps (0, the default: at the end of each epoch)', range: NON_NEGATIVE },
    patience: { type: 'int', arg: 'N', help: 'early stop after N evaluations without improvement (0, the default: never)', range: NON_NEGATIVE },
    'select-on': { type: 'string', arg: 'C', help: 'selection criterion for best/', choices: ['dev-e-loss', 'dev-f1'] },
    'test-gold': { type: 'string', arg: 'FILE', help: "labelled test file: P/R/F1 logged at each evaluation (the paper's Figure 4); never used for selection" },
    'cycle-allow-empty': { type: 'boolean', help: 'grounded S2E may emit the empty sequence inside the cycles (off by default: an easy collapse for a weak S2E)' },
    warmup: { type: 'string', arg: 'W', help: 'unsupervised warm-up before the cycles: fragments (S alone) or lexical (silver pairs: gazetteer from Q matched over S)', choices: ['none', 'fragments', 'lexical'] },
    'warmup-steps': { type: 'int', arg: 'N', help: 'warm-up steps (batch as --batch)', range: AT_LEAST_1 },
    'warmup-lr': { type: 'number', arg: 'LR', help: 'warm-up learning rate (default 5e-4)', range: POSITIVE },
    'warmup-directions': { type: 'string', arg: 'D', help: 'which models the warm-up trains', choices: ['both', 's2e', 'e2s'] },
    'on-collapse': { type: 'string', arg: 'A', help: 'when S2E collapses at a dev evaluation: warn, stop, or rollback to best/ with halved learning rates', choices: ['warn', 'stop', 'rollback'] },
    'e2s-no-repeat-ngram': { type: 'int', arg: 'N', help: 'E2S cycle decoding never repeats an n-gram of this size (0 = off; default 3)', range: NON_NEGATIVE },
    'e2s-repetition-penalty': { type: 'number', arg: 'P', help: 'E2S cycle decoding repetition penalty (1 = off, the default; below 1 favours repeats)', range: POSITIVE },
    'self-train': { type: 'number', arg: 'P', help: 'self-training of S2E: after each S-cycle, also train S2E on its own outputs for the sentences whose mean token probability is >= P (0 = off; beyond the paper)', range: PROBABILITY_BELOW_1 },
    'e-cycle-filter': { type: 'string', arg: 'F', help: "E-cycle pairs S2E learns from: none (all, the paper) or copied (only those whose generated sentence holds each of Q's names verbatim)", choices: ['none', 'copied'] },
    ...PRECISION_FLAG,
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
  },
  details: [
    'Writes RUN/config.json, RUN/inputs.json (sha256 of the input files), RUN/metrics.jsonl (steps, evaluations, sample triplets,',
    'warnings), RUN/ckpt/ (resumable) and RUN/best/{s2e,e2s} (without dev data: the final models). RUN/.lock keeps a second',
    'process out; a RUN holding a previous run needs --resume or --force.',
  ].join('\n'),
  async run(args: ParsedArgs, io: Io): Promise<number> {
    const f = args.flags;
    const runDir = str(f.out) as string;
    const sFile = str(f.sentences);
    const qFile = str(f.entities);
    if (!sFile || !qFile) throw new UsageError('--sentences and --entities are required');
    const log = (l: string) => io.err(l);
    const run = openRunDir(runDir, TRAIN_RUN, { resume: f.resume === true, force: f.force === true, log });
    try {
      const diffs: string[] = [];
      const savedCfg = path.join(runDir, 'config.json');
      let cfg: CycleConfig;
      const resumingConfig = f.resume === true && fs.existsSync(savedCfg);
      if (resumingConfig) {
        const saved = readJson(savedCfg);
        delete saved.sizes;
        if (!('precision' in saved)) saved.precision = 'fp32'; // runs from before bf16 became the default
        cfg = makeConfig(saved as Partial<CycleConfig>, savedCfg);
        diffs.push(...configDifferences(cfg, f));
      } else {
        cfg = makeConfig(str(f.config) ? (readJson(str(f.config) as string) as Partial<CycleConfig>) : {}, str(f.config) ?? 'config');
        for (const [flag, apply] of Object.entries(CONFIG_FLAGS)) if (f[flag] !== undefined && f[flag] !== false) apply(cfg, f[flag]);
        if (cfg.warmup !== 'none' && cfg.warmupSteps === 0) throw new UsageError('--warmup needs --warmup-steps N');
      }
      if (num(f.epochs) !== undefined) cfg.epochs = num(f.epochs) as number;
      if (num(f['max-steps']) !== undefined) cfg.maxSteps = num(f['max-steps']) as number;
      const S = readSentenceLines(sFile);
      const Q = qLinesToModel(qFile);
      const devS = str(f['dev-sentences']) ? readSentenceLines(str(f['dev-sentences']) as string) : undefined;
      const devQ = str(f['dev-entities']) ? qLinesToModel(str(f['dev-entities']) as string) : undefined;
      const devGold = str(f['dev-gold']) ? readLabeledWithFlags(str(f['dev-gold']) as string, f) : undefined;
      const testGold = str(f['test-gold']) ? readLabeledWithFlags(str(f['test-gold']) as string, f) : undefined;
      const goldForTypes = devGold ?? testGold;
      if (goldForTypes) {
        const v = chooseVerbalizer(f, corpusLabels(goldForTypes)).toJSON();
        if (resumingConfig && cfg.verbalizer && (str(f.verbalizer) || str(f.dataset)) && JSON.stringify(v) !== JSON.stringify(cfg.verbalizer)) {
          diffs.push(`--verbalizer/--dataset: run has ${JSON.stringify(cfg.verbalizer)}, command line says ${JSON.stringify(v)}`);
        }
        cfg.verbalizer = cfg.verbalizer ?? v;
      }
      cfg.types = cfg.types ?? typesOf(Q);
      // Hub ids resolve to their cached snapshot (downloaded if needed) before anything is fingerprinted or loaded.
      const base = await modelDirArg(str(f['base-model']), '--base-model', io);
      const s2eArg = await modelDirArg(str(f['s2e-model']), '--s2e-model', io);
      const e2sArg = await modelDirArg(str(f['e2s-model']), '--e2s-model', io);
      const inputs = fingerprintFiles({
        sentences: [sFile], entities: [qFile], 'dev-sentences': opt(str(f['dev-sentences'])), 'dev-entities': opt(str(f['dev-entities'])),
        'dev-gold': opt(str(f['dev-gold'])), 'test-gold': opt(str(f['test-gold'])),
        'base-model': base ? modelWeightFiles(base) : undefined, 's2e-model': opt(s2eArg, modelWeightFiles), 'e2s-model': opt(e2sArg, modelWeightFiles),
      });
      const recorded = f.resume === true ? readRunInputs(runDir) : null;
      if (recorded) diffs.push(...compareInputs(recorded.files, inputs, MODEL_FLAGS));
      else if (f.resume === true && run.previous.length > 0) log(`${runDir} has no ${INPUTS_FILE} (a run from an older version): input files not checked, recorded now`);
      refuseDifferences(runDir, diffs, TRAIN_RESUME_ALLOWED);
      if (!recorded) writeRunInputs(runDir, { command: 'train', files: inputs, settings: {} });

      const ckptDir = path.join(runDir, 'ckpt');
      const resume = f.resume === true && fs.existsSync(path.join(ckptDir, 'state.json'));
      if (f.resume === true && !resume) log(`no checkpoint in ${ckptDir}: starting from step 0`);
      const s2eDir = resume ? path.join(ckptDir, 's2e') : (s2eArg ?? base);
      const e2sDir = resume ? path.join(ckptDir, 'e2s') : (e2sArg ?? base);
      if (!s2eDir || !e2sDir) throw new UsageError('give --base-model DIR (or --s2e-model and --e2s-model)');
      const a = loadModelDir(s2eDir);
      const b = loadModelDir(e2sDir, s2eDir);
      if (!resume) cfg.baseModels = { s2e: modelSource(s2eDir), e2s: modelSource(e2sDir) };
      io.err(`S2E from ${s2eDir}, E2S from ${e2sDir}; ${S.length} sentences, ${Q.length} entity sequences, types ${cfg.types.join(', ')}; grounded cycles ${cfg.grounded}`);
      const interrupt = onInterrupt(log);
      try {
        const r = await trainCycle({ s2e: a.model, e2s: b.model, tokenizer: a.tokenizer }, { S, Q, devS, devQ, devGold, testGold }, cfg, runDir, { resume, log, signal: interrupt.signal });
        if (r.interrupted) {
          io.err(`interrupted after ${r.steps} steps this run; continue with the same command and --resume`);
          return 130;
        }
        const best = path.join(runDir, 'best');
        const info = fs.existsSync(path.join(best, 'info.json')) ? readJson(path.join(best, 'info.json')) : null;
        const where = !fs.existsSync(best) ? `no evaluation selected a model, so there is no best/ (the latest models are in ${ckptDir})`
          : info?.final === true ? `models in ${best} (the final models of step ${String(info.step)}: no dev data to select on)` : `models in ${best}`;
        io.out(`done: ${r.steps} steps this run; best step ${r.bestStep ?? '-'} (${cfg.selectOn} ${r.bestScore?.toFixed(4) ?? '-'}); ${where}`);
      } finally {
        interrupt.dispose();
        a.model.dispose();
        b.model.dispose();
      }
      return 0;
    } finally {
      run.release();
    }
  },
});

/** train-supervised's --out: a model directory with its metrics.jsonl. */
const SUPERVISED_RUN: RunDirSpec = {
  command: 'train-supervised',
  markers: ['metrics.jsonl', 'config.json', 'model.safetensors', 'model.safetensors.index.json'],
  clear: ['metrics.jsonl', 'config.json', 'model.safetensors', 'model.safetensors.index.json', 'generation_config.json', 'cyclener.json', 'tokenizer.json', 'spiece.model'],
};

/** Pairs from --pairs (TSV: sentence \t entity-sequence line) or a labelled file. */
function readPairs(f: Record<string, unknown>, io: Io): { pairs: Pair[]; verbalizer?: Record<string, string> } {
  const pairsFile = str(f.pairs as string);
  if (pairsFile) {
    const pairs = splitLines(readUtf8(pairsFile)).map((l, i) => {
      const tab = l.indexOf('\t');
      if (tab < 0) throw new DataError(pairsFile, i + 1, 'expected "sentence<TAB>entity sequence"');
      const p = parseQLine(l.slice(tab + 1));
      if (p.problems.length > 0) throw new DataError(pairsFile, i + 1, p.problems.join('; '));
      return { sentence: l.slice(0, tab), sequence: p.entities.length === 0 ? '' : formatEntitySequence(p.entities) };
    });
    return { pairs };
  }
  const trainFile = str(f.train as string);
  if (!trainFile) throw new UsageError('give --pairs FILE or --train FILE');
  const corpus = readLabeledWithFlags(trainFile, f as never);
  const v = chooseVerbalizer(f as never, corpusLabels(corpus));
  const sents: LabeledSentence[] = sampleSentences(corpus.sentences, num(f.num as number), num(f.seed as number) ?? 42);
  io.err(`${sents.length} labelled sentences from ${trainFile}`);
  return { pairs: pairsFromSentences(sents, v), verbalizer: v.toJSON() };
}

registerCommand({
  name: 'train-supervised',
  summary: 'supervised S2E fine-tuning on ⟨sentence → entity sequence⟩ pairs (the paper\'s Table 4 baseline)',
  flags: {
    pairs: { type: 'string', arg: 'FILE', help: 'TSV: sentence<TAB>entity sequence (<none> for none)' },
    train: { type: 'string', arg: 'FILE', help: 'labelled CoNLL / CoNLL-2012 / JSONL file' },
    num: { type: 'int', arg: 'N', help: 'use N random sentences of --train (seeded)', range: AT_LEAST_1 },
    'base-model': { type: 'string', arg: 'DIR|HUB_ID', help: 'HF T5 directory to start from', required: true },
    out: { type: 'string', arg: 'DIR', help: 'output model directory', required: true },
    steps: { type: 'int', arg: 'N', help: 'optimizer steps (default: from --epochs)', range: AT_LEAST_1 },
    epochs: { type: 'number', arg: 'N', help: 'epochs over the pairs, may be fractional (default 3 when --steps is absent)', range: POSITIVE },
    lr: { type: 'number', arg: 'LR', help: 'learning rate', default: 5e-4, range: POSITIVE },
    batch: { type: 'int', arg: 'N', help: 'batch size', default: 32, range: AT_LEAST_1 },
    seed: { type: 'int', arg: 'N', help: 'seed', default: 42, range: SEED },
    prefix: { type: 'string', arg: 'TEXT', help: 'task prefix', default: DEFAULT_S2E_PREFIX },
    force: { type: 'boolean', help: 'replace a model or run already in --out (train-supervised cannot resume)' },
    'random-init': { type: 'boolean', help: 'same architecture and tokenizer as --base-model, weights randomly initialised (seeded): the no-pretraining control' },
    types: { type: 'string', arg: 'LIST', help: 'comma-separated type words for grounded prediction (default: from the data)' },
    dev: { type: 'string', arg: 'FILE', help: 'labelled dev file (never a test split): --out keeps the model with the lowest dev loss' },
    'dev-num': { type: 'int', arg: 'N', help: 'use the first N sentences of --dev (default: all)', range: AT_LEAST_1 },
    'eval-every': { type: 'int', arg: 'N', help: 'dev loss every N steps (default: once per epoch; needs --dev)', range: AT_LEAST_1 },
    patience: { type: 'int', arg: 'N', help: 'stop after N dev evaluations without a lower dev loss (needs --dev; 0 = run all steps, the default)', range: NON_NEGATIVE },
    ...PRECISION_FLAG,
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
  },
  details: 'With --dev, training is a budget that converges: --steps/--epochs is the most it may run, --patience stops it when the dev loss stops improving, and --out holds the model of the best evaluation (its step is printed and logged in metrics.jsonl).',
  async run(args: ParsedArgs, io: Io): Promise<number> {
    const f = args.flags;
    const { pairs, verbalizer } = readPairs(f, io);
    const batch = num(f.batch) as number;
    const steps = num(f.steps) ?? Math.ceil(((num(f.epochs) ?? 3) * pairs.length) / batch);
    const devFile = str(f.dev);
    if (!devFile && (num(f['eval-every']) !== undefined || num(f.patience) !== undefined || num(f['dev-num']) !== undefined)) throw new UsageError('--eval-every, --patience and --dev-num need --dev FILE');
    let dev: { pairs: Pair[]; evalEvery: number; patience: number } | undefined;
    if (devFile) {
      if (/(^|[/\\._-])test([/\\._-]|$)/i.test(path.basename(devFile))) throw new UsageError(`--dev ${devFile} looks like a test split; model selection runs on dev only`);
      const corpus = readLabeledWithFlags(devFile, f);
      const v = verbalizer ? null : chooseVerbalizer(f, corpusLabels(corpus));
      const toType = (label: string) => (verbalizer ? verbalizer[label] : v!.verbalize(label));
      const unknown = [...new Set(corpus.sentences.flatMap((s) => s.entities.map((e) => e.label)))].filter((l) => toType(l) === undefined);
      if (unknown.length > 0) throw new DataError(devFile, undefined, `label(s) ${unknown.join(', ')} do not occur in the training data`);
      const sents = corpus.sentences.slice(0, num(f['dev-num']) ?? corpus.sentences.length);
      const devPairs = sents.map((s) => ({ sentence: s.text, sequence: formatEntitySequence(s.entities.map((e) => ({ surface: e.surface, type: toType(e.label) as string }))) }));
      dev = { pairs: devPairs, evalEvery: num(f['eval-every']) ?? Math.max(1, Math.ceil(pairs.length / batch)), patience: num(f.patience) ?? 0 };
      io.err(`dev: ${devPairs.length} labelled sentences from ${devFile}, dev loss every ${dev.evalEvery} steps${dev.patience > 0 ? `, patience ${dev.patience}` : ''}`);
    }
    const types = str(f.types) ? (str(f.types) as string).split(',').map((t) => t.trim()) : typesOf(pairs.map((p) => p.sequence));
    const out = str(f.out) as string;
    if (path.resolve(out) === path.resolve(str(f['base-model']) as string)) throw new UsageError('--out is the --base-model directory: write the fine-tuned model elsewhere');
    const run = openRunDir(out, SUPERVISED_RUN, { resume: false, force: f.force === true, log: (l) => io.err(l) });
    let m: ReturnType<typeof loadModelDir>;
    let baseDir: string;
    try {
      baseDir = (await modelDirArg(str(f['base-model']), '--base-model', io)) as string;
      m = loadModelDir(baseDir);
    } catch (e) {
      run.release();
      throw e;
    }
    if (f['random-init'] === true) reinitialise(m, num(f.seed) as number);
    try {
      const r = await trainSupervised(m.model, m.tokenizer, pairs, {
        prefix: str(f.prefix) as string, batchSize: batch, steps, lr: num(f.lr) as number, weightDecay: 0, maxGradNorm: 1,
        seed: num(f.seed) as number, maxSourceTokens: 192, maxTargetTokens: 192, logEvery: 20, precision: precisionOf(f), ...(dev ? { dev } : {}),
      }, out, { types, ...(verbalizer ? { verbalizer } : {}), baseModel: modelSource(baseDir) }, (l) => io.err(l));
      const trained = `trained ${r.steps} steps (${r.epochs.toFixed(2)} epochs) in ${r.seconds.toFixed(0)}s; final loss ${r.losses[r.losses.length - 1]?.toFixed(4)}`;
      const chosen = dev ? `; best dev loss ${r.bestDevLoss?.toFixed(4)} at step ${String(r.bestStep)}${r.stoppedEarly ? ' (stopped early)' : ''}` : '';
      io.out(`${trained}${chosen}; model in ${out}`);
    } finally {
      m.model.dispose();
      run.release();
    }
    return 0;
  },
});

export interface InputSentences {
  sentences: { text: string; offsets: readonly Range[]; tokens?: readonly string[] }[];
  corpus?: LabeledCorpus;
}

/** JSONL when lines are objects, CoNLL when most lines end in a tag column, else plain text. */
function guessInputFormat(file: string): string {
  const lines = splitLines(readUtf8(file).slice(0, 20000)).filter((l) => l.trim() !== '').slice(0, 30);
  if (lines.length > 0 && lines[0]!.trimStart().startsWith('{')) return 'jsonl';
  if (lines.length > 0 && lines[0]!.startsWith('#begin document')) return 'conll2012';
  const tagged = lines.filter((l) => /\s(O|[BIESLU]-\S+)$/.test(l.trim()) || l.startsWith('-DOCSTART-')).length;
  return tagged > lines.length / 2 ? 'auto' : 'text';
}

/** Text lines, or a labelled file (CoNLL/JSONL: its labels are ignored for prediction). */
export function readInput(file: string, format: string, f: Record<string, unknown>): InputSentences {
  const fmt = format === 'auto' ? guessInputFormat(file) : format;
  if (fmt === 'text') {
    const lines = splitLines(readUtf8(file));
    lines.forEach((l, i) => { if (l.trim() === '') throw new DataError(file, i + 1, 'empty line (one sentence per line)'); });
    return { sentences: lines.map((text) => ({ text, offsets: tokenizeText(text) })) };
  }
  const corpus = readLabeledWithFlags(file, f as never, fmt);
  return { sentences: corpus.sentences.map((s) => ({ text: s.text, offsets: s.offsets, tokens: s.tokens })), corpus };
}

export const PREDICT_FLAGS = {
  'no-ground': { type: 'boolean' as const, help: 'plain decoding: S2E may emit any text (grounded decoding is the default)' },
  'max-new-tokens': { type: 'int' as const, arg: 'N', help: 'longest entity sequence in tokens', default: 128, range: AT_LEAST_1 },
  beams: { type: 'int' as const, arg: 'N', help: 'beam width (1 = greedy)', default: 1, range: AT_LEAST_1 },
  'predict-batch': { type: 'int' as const, arg: 'N', help: 'sentences per generation batch', default: 32, range: AT_LEAST_1 },
  ...PRECISION_FLAG,
};

registerCommand({
  name: 'predict',
  summary: 'tag sentences with an S2E model (text lines, CoNLL or JSONL in; JSONL with character offsets or CoNLL out)',
  flags: {
    model: { type: 'string', arg: 'DIR|HUB_ID', help: 'S2E model directory, a run\'s best/, or a run', required: true },
    input: { type: 'string', arg: 'FILE', help: 'text (one sentence per line), CoNLL or JSONL', required: true },
    'input-format': { type: 'string', arg: 'F', help: 'input format', default: 'auto', choices: ['auto', 'text', 'conll', 'conll2012', 'jsonl'] },
    out: { type: 'string', arg: 'FILE', help: 'output file', required: true },
    format: { type: 'string', arg: 'F', help: 'output format (seq = raw entity sequences, one per line)', default: 'jsonl', choices: ['jsonl', 'conll', 'seq'] },
    grounded: { type: 'boolean', help: 'grounded decoding (the default; kept for explicitness)' },
    ...PREDICT_FLAGS,
    ...READER_FLAGS,
    offsets: { ...READER_FLAGS.offsets!, help: 'unit of JSONL start/end, read and written: utf16 (JavaScript string indices) or codepoints (Python str indices, spaCy)' },
  },
  details: [
    'JSONL out: {"text", "entities": [{"start", "end", "label"}]} with end-exclusive offsets in --offsets units; a sentence whose',
    'generated sequence was cut or lost entities also gets "issues": {"cut": bool, "dropped": [{"surface", "type", "why"}]}.',
    'Entity surfaces are always the input\'s own text (the model may have seen it normalised: é as e, emoji as a space).',
  ].join('\n'),
  async run(args: ParsedArgs, io: Io): Promise<number> {
    const f = args.flags;
    const input = readInput(str(f.input) as string, str(f['input-format']) as string, f);
    const p = await predictWithModelDir((await modelDirArg(str(f.model), '--model', io)) as string, input.sentences.map((s) => s.text), {
      grounded: f['no-ground'] !== true, batch: num(f['predict-batch']) as number, maxNewTokens: num(f['max-new-tokens']) as number, numBeams: num(f.beams) as number, precision: precisionOf(f),
    });
    const out = str(f.out) as string;
    const fmt = str(f.format);
    if (fmt === 'seq') {
      writeLines(out, p.seqs.map((s) => (s === '' ? '' : s)));
      io.err(`${input.sentences.length} sentences written to ${out}; ${issueSummary(p.issues)}`);
      return 0;
    }
    const al = alignAll(input.sentences, p.seqs, p.verbalizer);
    if (fmt === 'jsonl') {
      writeLines(out, al.map((a, i) => {
        const is = p.issues[i] as SentenceIssues;
        const dropped = [...is.dropped, ...a.unplaced.map((u) => ({ surface: u.surface, type: u.type, why: u.why }))];
        const extra = is.cut || dropped.length > 0 ? { issues: { cut: is.cut, dropped } } : {};
        return jsonlRecord({ text: input.sentences[i]!.text, entities: a.entities }, offsetsOf(f), extra);
      }));
    } else {
      const blocks = al.map((a, i) => {
        const s = input.sentences[i]!;
        const toks = s.tokens ?? s.offsets.map((o) => s.text.slice(o.start, o.end));
        return toks.map((t, k) => `${t} ${a.tags[k]}`).join('\n');
      });
      fs.writeFileSync(out, blocks.join('\n\n') + '\n');
    }
    const entities = al.reduce((n, a) => n + a.entities.length, 0);
    io.err(`${input.sentences.length} sentences, ${entities} entities written to ${out}; ${issueSummary(p.issues, al.map((a) => a.unplaced.length))}`);
    return 0;
  },
});

/**
 * "K sentences had output cut or entities dropped (...)": the end-of-run count of predict and evaluate --model.
 * `unplaced[i]`: entities of sentence i that alignment could not place (not in the sentence, unknown type, overlap).
 */
export function issueSummary(issues: readonly SentenceIssues[], unplaced: readonly number[] = []): string {
  const c = issueCounts(issues);
  const sentences = issues.filter((x, i) => x.cut || x.dropped.length > 0 || (unplaced[i] ?? 0) > 0).length;
  const u = unplaced.reduce((a, b) => a + b, 0);
  const why = [`${c.emptySurface} empty surface`, `${c.partialWord} partial word`, ...(unplaced.length > 0 ? [`${u} not placed`] : [])];
  return `${sentences} sentences had output cut or entities dropped (${c.cut} cut: malformed or stopped by --max-new-tokens; ${c.emptySurface + c.partialWord + u} entities dropped: ${why.join(', ')})`;
}

export { toQLine };
