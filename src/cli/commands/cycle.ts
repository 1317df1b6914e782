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
import type { ParsedArgs } from '../args';
import { UsageError } from '../args';
import { registerCommand, type Io } from '../registry';
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

registerCommand({
  name: 'train',
  summary: 'CycleNER training (S-cycle + E-cycle) from unpaired sentences S and entity sequences Q',
  flags: {
    sentences: { type: 'string', arg: 'FILE', help: 'S file: one sentence per line' },
    entities: { type: 'string', arg: 'FILE', help: 'Q file: one entity sequence per line (<none> = no entities)' },
    'dev-sentences': { type: 'string', arg: 'FILE', help: 'held-out S for the dev cycle losses' },
    'dev-entities': { type: 'string', arg: 'FILE', help: 'held-out Q for the dev cycle losses (best/ = lowest dev E-cycle loss)' },
    'dev-gold': { type: 'string', arg: 'FILE', help: 'labelled dev file: F1 logged at each evaluation (not used for selection unless --select-on dev-f1)' },
    'base-model': { type: 'string', arg: 'DIR', help: 'HF T5 directory both directions start from' },
    's2e-model': { type: 'string', arg: 'DIR', help: 'start S2E from this directory instead' },
    'e2s-model': { type: 'string', arg: 'DIR', help: 'start E2S from this directory instead' },
    out: { type: 'string', arg: 'RUN', help: 'run directory', required: true },
    config: { type: 'string', arg: 'FILE', help: 'run.json with config keys (see src/cycle/config.ts); flags override it' },
    resume: { type: 'boolean', help: 'continue RUN from RUN/ckpt with RUN/config.json (only --epochs/--max-steps may change)' },
    epochs: { type: 'int', arg: 'N', help: 'epochs over the larger of S and Q' },
    'max-steps': { type: 'int', arg: 'N', help: 'stop after N steps in total' },
    batch: { type: 'int', arg: 'N', help: 'batch size' },
    'lr-s2e': { type: 'number', arg: 'LR', help: 'S2E learning rate' },
    'lr-e2s': { type: 'number', arg: 'LR', help: 'E2S learning rate' },
    seed: { type: 'int', arg: 'N', help: 'seed (data order, sampling)' },
    'no-ground': { type: 'boolean', help: 'plain S2E decoding inside the cycles and for dev F1 (the paper\'s setting)' },
    'eval-every': { type: 'int', arg: 'N', help: 'evaluate every N steps (default: each epoch)' },
    patience: { type: 'int', arg: 'N', help: 'early stop after N evaluations without improvement' },
    'select-on': { type: 'string', arg: 'C', help: 'selection criterion for best/', choices: ['dev-e-loss', 'dev-f1'] },
    'test-gold': { type: 'string', arg: 'FILE', help: "labelled test file: P/R/F1 logged at each evaluation (the paper's Figure 4); never used for selection" },
    'cycle-allow-empty': { type: 'boolean', help: 'grounded S2E may emit the empty sequence inside the cycles (off by default: an easy collapse for a weak S2E)' },
    warmup: { type: 'string', arg: 'W', help: 'unsupervised warm-up before the cycles: fragments (S alone) or lexical (silver pairs: gazetteer from Q matched over S)', choices: ['none', 'fragments', 'lexical'] },
    'warmup-steps': { type: 'int', arg: 'N', help: 'warm-up steps (batch as --batch)' },
    'warmup-lr': { type: 'number', arg: 'LR', help: 'warm-up learning rate (default 5e-4)' },
    'warmup-directions': { type: 'string', arg: 'D', help: 'which models the warm-up trains', choices: ['both', 's2e', 'e2s'] },
    'on-collapse': { type: 'string', arg: 'A', help: 'when S2E collapses at a dev evaluation: warn, stop, or rollback to best/ with halved learning rates', choices: ['warn', 'stop', 'rollback'] },
    'e2s-no-repeat-ngram': { type: 'int', arg: 'N', help: 'E2S cycle decoding never repeats an n-gram of this size (0 = off)' },
    'e2s-repetition-penalty': { type: 'number', arg: 'P', help: 'E2S cycle decoding repetition penalty (1 = off)' },
    ...PRECISION_FLAG,
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
  },
  details: 'Writes RUN/config.json, RUN/metrics.jsonl (steps, evaluations, sample triplets, warnings), RUN/ckpt/ (resumable) and RUN/best/{s2e,e2s}.',
  async run(args: ParsedArgs, io: Io): Promise<number> {
    const f = args.flags;
    const runDir = str(f.out) as string;
    let cfg: CycleConfig;
    if (f.resume === true && fs.existsSync(path.join(runDir, 'config.json'))) {
      const saved = readJson(path.join(runDir, 'config.json'));
      delete saved.sizes;
      if (!('precision' in saved)) saved.precision = 'fp32'; // runs from before bf16 became the default
      cfg = makeConfig(saved as Partial<CycleConfig>, path.join(runDir, 'config.json'));
    } else {
      cfg = makeConfig(str(f.config) ? (readJson(str(f.config) as string) as Partial<CycleConfig>) : {}, str(f.config) ?? 'config');
      if (num(f.batch) !== undefined) cfg.batchSize = num(f.batch) as number;
      if (f.fp32 === true) cfg.precision = 'fp32';
      if (num(f['lr-s2e']) !== undefined) cfg.lrS2E = num(f['lr-s2e']) as number;
      if (num(f['lr-e2s']) !== undefined) cfg.lrE2S = num(f['lr-e2s']) as number;
      if (num(f.seed) !== undefined) cfg.seed = num(f.seed) as number;
      if (f['no-ground'] === true) { cfg.grounded = false; cfg.groundedEval = false; }
      if (num(f['eval-every']) !== undefined) cfg.evalEvery = num(f['eval-every']) as number;
      if (num(f.patience) !== undefined) cfg.patience = num(f.patience) as number;
      if (str(f['select-on'])) cfg.selectOn = str(f['select-on']) as CycleConfig['selectOn'];
      if (str(f.warmup)) cfg.warmup = str(f.warmup) as CycleConfig['warmup'];
      if (num(f['warmup-steps']) !== undefined) cfg.warmupSteps = num(f['warmup-steps']) as number;
      if (num(f['warmup-lr']) !== undefined) cfg.warmupLr = num(f['warmup-lr']) as number;
      if (str(f['warmup-directions'])) cfg.warmupDirections = str(f['warmup-directions']) as CycleConfig['warmupDirections'];
      if (cfg.warmup !== 'none' && cfg.warmupSteps === 0) throw new UsageError('--warmup needs --warmup-steps N');
      if (f['cycle-allow-empty'] === true) cfg.cycleAllowEmpty = true;
      if (str(f['on-collapse'])) cfg.onCollapse = str(f['on-collapse']) as CycleConfig['onCollapse'];
      if (num(f['e2s-no-repeat-ngram']) !== undefined) cfg.e2sDecode = { ...cfg.e2sDecode, noRepeatNgramSize: num(f['e2s-no-repeat-ngram']) as number };
      if (num(f['e2s-repetition-penalty']) !== undefined) cfg.e2sDecode = { ...cfg.e2sDecode, repetitionPenalty: num(f['e2s-repetition-penalty']) as number };
    }
    if (num(f.epochs) !== undefined) cfg.epochs = num(f.epochs) as number;
    if (num(f['max-steps']) !== undefined) cfg.maxSteps = num(f['max-steps']) as number;
    const sFile = str(f.sentences);
    const qFile = str(f.entities);
    if (!sFile || !qFile) throw new UsageError('--sentences and --entities are required');
    const S = readSentenceLines(sFile);
    const Q = qLinesToModel(qFile);
    const devS = str(f['dev-sentences']) ? readSentenceLines(str(f['dev-sentences']) as string) : undefined;
    const devQ = str(f['dev-entities']) ? qLinesToModel(str(f['dev-entities']) as string) : undefined;
    let devGold: LabeledCorpus | undefined;
    if (str(f['dev-gold'])) {
      devGold = readLabeledWithFlags(str(f['dev-gold']) as string, f);
      const v = chooseVerbalizer(f, corpusLabels(devGold));
      cfg.verbalizer = cfg.verbalizer ?? v.toJSON();
    }
    const testGold = str(f['test-gold']) ? readLabeledWithFlags(str(f['test-gold']) as string, f) : undefined;
    if (testGold && !cfg.verbalizer) cfg.verbalizer = chooseVerbalizer(f, corpusLabels(testGold)).toJSON();
    cfg.types = cfg.types ?? typesOf(Q);
    const ckptDir = path.join(runDir, 'ckpt');
    const resume = f.resume === true && fs.existsSync(path.join(ckptDir, 'state.json'));
    const base = str(f['base-model']);
    const s2eDir = resume ? path.join(ckptDir, 's2e') : (str(f['s2e-model']) ?? base);
    const e2sDir = resume ? path.join(ckptDir, 'e2s') : (str(f['e2s-model']) ?? base);
    if (!s2eDir || !e2sDir) throw new UsageError('give --base-model DIR (or --s2e-model and --e2s-model)');
    const a = loadModelDir(s2eDir);
    const b = loadModelDir(e2sDir, s2eDir);
    io.err(`S2E from ${s2eDir}, E2S from ${e2sDir}; ${S.length} sentences, ${Q.length} entity sequences, types ${cfg.types.join(', ')}; grounded cycles ${cfg.grounded}`);
    const interrupt = onInterrupt((l) => io.err(l));
    try {
      const r = await trainCycle({ s2e: a.model, e2s: b.model, tokenizer: a.tokenizer }, { S, Q, devS, devQ, devGold, testGold }, cfg, runDir, { resume, log: (l) => io.err(l), signal: interrupt.signal });
      if (r.interrupted) {
        io.err(`interrupted after ${r.steps} steps this run; continue with the same command and --resume`);
        return 130;
      }
      io.out(`done: ${r.steps} steps this run; best step ${r.bestStep ?? '-'} (${cfg.selectOn} ${r.bestScore?.toFixed(4) ?? '-'}); models in ${path.join(runDir, 'best')}`);
    } finally {
      interrupt.dispose();
      a.model.dispose();
      b.model.dispose();
    }
    return 0;
  },
});

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
    num: { type: 'int', arg: 'N', help: 'use N random sentences of --train (seeded)' },
    'base-model': { type: 'string', arg: 'DIR', help: 'HF T5 directory to start from', required: true },
    out: { type: 'string', arg: 'DIR', help: 'output model directory', required: true },
    steps: { type: 'int', arg: 'N', help: 'optimizer steps (default: from --epochs)' },
    epochs: { type: 'number', arg: 'N', help: 'epochs over the pairs (default 3 when --steps is absent)' },
    lr: { type: 'number', arg: 'LR', help: 'learning rate', default: 5e-4 },
    batch: { type: 'int', arg: 'N', help: 'batch size', default: 32 },
    seed: { type: 'int', arg: 'N', help: 'seed', default: 42 },
    prefix: { type: 'string', arg: 'TEXT', help: 'task prefix', default: DEFAULT_S2E_PREFIX },
    'random-init': { type: 'boolean', help: 'same architecture and tokenizer as --base-model, weights randomly initialised (seeded): the no-pretraining control' },
    types: { type: 'string', arg: 'LIST', help: 'comma-separated type words for grounded prediction (default: from the data)' },
    ...PRECISION_FLAG,
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
  },
  async run(args: ParsedArgs, io: Io): Promise<number> {
    const f = args.flags;
    const { pairs, verbalizer } = readPairs(f, io);
    const batch = num(f.batch) as number;
    const steps = num(f.steps) ?? Math.ceil(((num(f.epochs) ?? 3) * pairs.length) / batch);
    const types = str(f.types) ? (str(f.types) as string).split(',').map((t) => t.trim()) : typesOf(pairs.map((p) => p.sequence));
    const m = loadModelDir(str(f['base-model']) as string);
    if (f['random-init'] === true) reinitialise(m, num(f.seed) as number);
    try {
      const r = await trainSupervised(m.model, m.tokenizer, pairs, {
        prefix: str(f.prefix) as string, batchSize: batch, steps, lr: num(f.lr) as number, weightDecay: 0, maxGradNorm: 1,
        seed: num(f.seed) as number, maxSourceTokens: 192, maxTargetTokens: 192, logEvery: 20, precision: precisionOf(f),
      }, str(f.out) as string, { types, ...(verbalizer ? { verbalizer } : {}) }, (l) => io.err(l));
      io.out(`trained ${steps} steps in ${r.seconds.toFixed(0)}s; final loss ${r.losses[r.losses.length - 1]?.toFixed(4)}; model in ${str(f.out)}`);
    } finally {
      m.model.dispose();
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
  'max-new-tokens': { type: 'int' as const, arg: 'N', help: 'longest entity sequence in tokens', default: 128 },
  beams: { type: 'int' as const, arg: 'N', help: 'beam width (1 = greedy)', default: 1 },
  'predict-batch': { type: 'int' as const, arg: 'N', help: 'sentences per generation batch', default: 32 },
  ...PRECISION_FLAG,
};

registerCommand({
  name: 'predict',
  summary: 'tag sentences with an S2E model (text lines, CoNLL or JSONL in; JSONL with character offsets or CoNLL out)',
  flags: {
    model: { type: 'string', arg: 'DIR', help: 'S2E model directory, a run\'s best/, or a run', required: true },
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
    const p = await predictWithModelDir(str(f.model) as string, input.sentences.map((s) => s.text), {
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
