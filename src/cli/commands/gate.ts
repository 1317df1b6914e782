// `cyclener gate`: is a base model good enough for CycleNER? Supervised S2E on N gold sentences
// (same budget for every candidate), dev P/R/F1 next to the Lexical Matcher from the same sentences.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  cachedGateRow,
  formatGateTable,
  gateBase,
  gateKey,
  lexicalGate,
  type GateRow,
  type GateSettings,
} from '../../supervised/gate';
import { redoLine } from '../../util/cache-key';
import { pairsFromSentences, sampleSentences } from '../../supervised/supervised';
import { typesOf } from '../../data/entity-seq';
import { atomicWriteFile, writeJsonFile } from '../../util/fs';
import { claimOutputs, inputInside, type Inputs } from '../../util/output';
import { UsageError } from '../args';
import { GATE_SETTINGS as G, SUPERVISED_SETTINGS as S } from '../../supervised/settings';
import { registerCommand, type Io } from '../registry';
import { modelDirArg } from '../model-arg';
import {
  chooseVerbalizer,
  corpusLabels,
  PRECISION_FLAG,
  precisionOf,
  READER_FLAGS,
  readLabeledWithFlags,
  VERBALIZER_FLAGS,
} from '../common';

/** The folder of a candidate's fine-tuned model under --out. */
const candidateDir = (out: string, label: string) => path.join(out, label.replace(/[^A-Za-z0-9._#-]+/g, '-'));

/** A candidate's folder receives its fine-tuned model: never an input, nor a folder gate did not write. */
function refuseCandidateDir(dir: string, inputs: Inputs): void {
  const input = inputInside(dir, inputs);
  if (input)
    throw new UsageError(
      `gate would write a fine-tuned model into ${dir}, which holds the ${input.flag} ${input.path}: give another --out`,
    );
  const entries = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  if (entries.length > 0 && !entries.includes('gate.json') && !entries.includes('metrics.jsonl'))
    throw new UsageError(
      `gate would write a fine-tuned model into ${dir}, which holds files gate did not write: give another --out`,
    );
}

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
    const bases = f['base-model']
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== '');
    const out = f.out;
    // Before any work: --out created and writable, OUT/.lock keeps a second gate out (released by the dispatcher).
    // No --force: gate.json and gate.md are rewritten on every run, the rows they hold are reused.
    const inputs = { '--base-model': bases, '--train': f.train, '--dev': f.dev, '--verbalizer': f.verbalizer };
    claimOutputs(
      { '--out': [path.join(out, 'gate.json'), path.join(out, 'gate.md')] },
      { force: true, createFolders: true, lock: path.join(out, '.lock'), inputs },
    );
    const dirs = new Map<string, string>();
    for (const b of bases) dirs.set(b, (await modelDirArg(b, '--base-model', io)) as string);
    for (const b of bases)
      if (!fs.existsSync(path.join(dirs.get(b)!, 'config.json')))
        throw new UsageError(`--base-model ${b}: no config.json there`);
    const trainFile = f.train;
    const devFile = f.dev;
    if (/(^|[/\\._-])test([/\\._-]|$)/i.test(path.basename(devFile)))
      throw new UsageError(`--dev ${devFile} looks like a test split; the gate selects models, so it runs on dev only`);
    const train = readLabeledWithFlags(trainFile, f);
    const devAll = readLabeledWithFlags(devFile, f);
    const v = chooseVerbalizer(f, [...corpusLabels(train), ...corpusLabels(devAll)], undefined, {
      warn: (l) => io.err(l),
      corpora: [train, devAll],
    });
    const s: GateSettings = {
      num: f.num,
      steps: f.steps,
      batchSize: f.batch,
      lr: f.lr,
      seed: f.seed,
      devSentences: f['dev-num'],
      grounded: f['no-ground'] !== true,
      maxNewTokens: f['max-new-tokens'],
      predictBatch: f['predict-batch'],
      precision: precisionOf(f),
    };
    if (s.num > train.sentences.length)
      throw new UsageError(`--num ${s.num}: ${trainFile} has only ${train.sentences.length} sentences`);
    const dev = s.devSentences > 0 ? { ...devAll, sentences: devAll.sentences.slice(0, s.devSentences) } : devAll;
    const sents = sampleSentences(train.sentences, s.num, s.seed);
    const pairs = pairsFromSentences(sents, v);
    const types = typesOf(pairs.map((p) => p.sequence));
    io.err(
      `gate: ${sents.length} gold sentences of ${trainFile} (seed ${s.seed}), ${s.steps} steps × ${s.batchSize}, lr ${s.lr}; ${dev.sentences.length} sentences of ${devFile}`,
    );

    const rows: GateRow[] = [lexicalGate(sents, dev, v)];
    // Rows are labelled by the base's folder name (#N when two bases share one).
    const used = new Set<string>();
    const candidates = bases.map((b, i) => {
      const name = path.basename(path.resolve(b));
      const label = used.has(name) ? `${name}#${i + 1}` : name;
      used.add(name);
      return { base: dirs.get(b)!, randomInit: false, label };
    });
    if (f['random-init'] === true)
      candidates.push({ base: dirs.get(bases[0]!)!, randomInit: true, label: 'random init' });
    for (const c of candidates)
      refuseCandidateDir(candidateDir(out, c.label), { ...inputs, '--base-model': [...dirs.values()] });
    // Settings outside GateSettings that change a row: how the files are read and the label -> type word map.
    const reading = {
      tagColumn: f['tag-column'] ?? null,
      scheme: f.scheme ?? null,
      repairTags: f['repair-tags'] === true,
      offsets: f.offsets,
      verbalizer: v.toJSON(),
    };
    for (const c of candidates) {
      const dir = candidateDir(out, c.label);
      const key = gateKey({ train: trainFile, dev: devFile, base: c.base }, c.randomInit, s, reading);
      const cached = cachedGateRow(dir, key);
      if (cached.status === 'valid') {
        io.err(`${c.label}: reusing ${path.join(dir, 'gate.json')}`);
        rows.push({ ...cached.value, label: c.label });
        continue;
      }
      const redo = redoLine(path.join(dir, 'gate.json'), cached);
      if (redo) io.err(`${c.label}: ${redo}`);
      io.err(`${c.label}: fine-tuning ${c.randomInit ? `a randomly initialised ${c.base}` : c.base}`);
      rows.push(
        await gateBase(c.base, c.randomInit, c.label, pairs, dev, v, types, s, dir, (l) => io.err(`  ${l}`), key),
      );
    }
    writeJsonFile(path.join(out, 'gate.json'), { train: trainFile, dev: devFile, target: f.target, settings: s, rows });
    const table = formatGateTable(rows, f.target);
    atomicWriteFile(path.join(out, 'gate.md'), `${table}\n`);
    if (f.json === true) io.out(JSON.stringify(rows, null, 2));
    else io.out(table);
    return 0;
  },
});
