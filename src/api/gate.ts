// `gate`: the one implementation of `cyclener gate` (is a base model good enough for CycleNER?): supervised S2E on N
// gold sentences for each candidate base (same budget each), dev P/R/F1 next to the Lexical Matcher from the same
// sentences. It claims --out, resolves the bases, reads the files, reuses the rows already computed with the same key,
// fine-tunes the others and writes gate.json / gate.md. The domain parts are src/supervised/gate.ts; the CLI command
// parses flags, calls it and prints the table or the rows.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { typesOf } from '../data/entity-seq';
import { readLabeled, type ReadOptions } from '../data/readers';
import { settingProblem, type Setting } from '../data/setting';
import { Verbalizer } from '../data/verbalizer';
import { chooseVerbalizer, corpusLabels } from '../data/verbalizer-choice';
import {
  cachedGateRow,
  formatGateTable,
  gateBase,
  gateKey,
  lexicalGate,
  type GateRow,
  type GateSettings,
} from '../supervised/gate';
import { GATE_SETTINGS as G, SUPERVISED_SETTINGS as S } from '../supervised/settings';
import { pairsFromSentences, sampleSentences } from '../supervised/supervised';
import type { Precision } from '../t5/precision';
import { redoLine } from '../util/cache-key';
import { UsageError } from '../util/errors';
import { atomicWriteFile, writeJsonFile } from '../util/fs';
import { claimOutputs, inputInside, type Inputs } from '../util/output';
import { modelRefDir } from './model-ref';
import type { RunHooks } from './train';

/** Dataset label -> the model's type word: a JSON file ({"PER": "person", ...}), a map, a Verbalizer, or a choice made
 *  from the labels of the train and dev files (default: the default verbaliser that knows them). */
/** A JSON file {"LABEL": "type word", ...} (`--verbalizer FILE`), such a map, or a verbaliser. */
export type GateVerbalizer = string | Record<string, string> | Verbalizer;

export interface GateOptions extends Pick<RunHooks, 'onProgress'> {
  /** Candidate base models (directories or Hub ids), the same budget each. */
  baseModels: string | readonly string[];
  /** Add the no-pretraining control: the first base's architecture and tokenizer, random weights. */
  randomInit?: boolean;
  /** Labelled training file the N gold sentences are drawn from (CoNLL, CoNLL-2012, JSONL). */
  train: string;
  /** Labelled dev file (never a test split: refused). */
  dev: string;
  /** How both files are read (format, tag column, scheme, repair, JSONL offsets). */
  read?: ReadOptions;
  verbalizer?: GateVerbalizer;
  /** Without `verbalizer`: the named dataset's default verbaliser (`--dataset`), else the default that knows the labels. */
  dataset?: string;
  /** Gold training sentences (default 1000), optimizer steps (300), batch size (32), learning rate (5e-4), seed (42). */
  num?: number;
  steps?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** Score the first N dev sentences (default 500; 0 = all). */
  devNum?: number;
  /** Bag-of-mentions F1 a base must reach, and beat the Lexical Matcher (default 0.75). */
  target?: number;
  /** Grounded decoding (default true), longest entity sequence (128), sentences per generation batch (32). */
  grounded?: boolean;
  maxNewTokens?: number;
  predictBatch?: number;
  precision?: Precision;
  /** Fine-tuned models, their gate.json, and gate.json / gate.md for the table (default runs/gate). */
  out?: string;
}

export interface GateResult {
  train: string;
  dev: string;
  target: number;
  settings: GateSettings;
  /** The Lexical Matcher first, then each base (and the random-init control), as gate.json holds them. */
  rows: GateRow[];
  /** The markdown table of gate.md, with the verdicts. */
  table: string;
}

/** The options' numbers: the flags' defaults and ranges. */
const NUMBERS = {
  num: G.num,
  steps: G.steps,
  batchSize: S.batch,
  lr: S.lr,
  seed: S.seed,
  devNum: G['dev-num'],
  target: G.target,
  maxNewTokens: S['max-new-tokens'],
  predictBatch: G['predict-batch'],
} satisfies Record<string, Setting & { default: number }>;

function numbers(o: GateOptions): Record<keyof typeof NUMBERS, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(NUMBERS) as [string, Setting & { default: number }][]) {
    const v = (o as unknown as Record<string, unknown>)[name];
    const problem = v === undefined ? null : settingProblem(s, v);
    if (problem) throw new UsageError(`gate: ${name} ${problem}`);
    out[name] = (v as number | undefined) ?? s.default;
  }
  return out as Record<keyof typeof NUMBERS, number>;
}

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

/** The verbaliser of the option, checked to know every label of the files. */
/** The candidates, labelled by the base's folder name (#N when two bases share one), then the random-init control. */
function candidates(bases: readonly string[], dirs: ReadonlyMap<string, string>, randomInit: boolean) {
  const used = new Set<string>();
  const list = bases.map((b, i) => {
    const name = path.basename(path.resolve(b));
    const label = used.has(name) ? `${name}#${i + 1}` : name;
    used.add(name);
    return { base: dirs.get(b)!, randomInit: false, label };
  });
  if (randomInit) list.push({ base: dirs.get(bases[0]!)!, randomInit: true, label: 'random init' });
  return list;
}

/** The base-model gate (`cyclener gate`): see the top of this file and docs/pretraining.md. */
export async function gate(o: GateOptions): Promise<GateResult> {
  const log = (message: string) => o.onProgress?.({ kind: 'log', message });
  const n = numbers(o);
  const bases = typeof o.baseModels === 'string' ? [o.baseModels] : [...o.baseModels];
  if (bases.length === 0) throw new UsageError('gate: give at least one base model');
  const out = o.out ?? 'runs/gate';
  // Before any work: --out created and writable, OUT/.lock keeps a second gate out. No --force: gate.json and gate.md
  // are rewritten on every run, the rows they hold are reused.
  const verbalizerFile = typeof o.verbalizer === 'string' ? o.verbalizer : undefined;
  const inputs = { '--base-model': bases, '--train': o.train, '--dev': o.dev, '--verbalizer': verbalizerFile };
  const claim = claimOutputs(
    { '--out': [path.join(out, 'gate.json'), path.join(out, 'gate.md')] },
    { force: true, createFolders: true, lock: path.join(out, '.lock'), inputs },
  );
  try {
    const dirs = new Map<string, string>();
    for (const b of bases) dirs.set(b, await modelRefDir(b, '--base-model', log));
    for (const b of bases)
      if (!fs.existsSync(path.join(dirs.get(b)!, 'config.json')))
        throw new UsageError(`--base-model ${b}: no config.json there`);
    if (/(^|[/\\._-])test([/\\._-]|$)/i.test(path.basename(o.dev)))
      throw new UsageError(`--dev ${o.dev} looks like a test split; the gate selects models, so it runs on dev only`);
    const read = o.read ?? {};
    const train = readLabeled(o.train, read);
    const devAll = readLabeled(o.dev, read);
    const corpora = [train, devAll];
    const v =
      o.verbalizer instanceof Verbalizer
        ? o.verbalizer
        : chooseVerbalizer({ verbalizer: o.verbalizer, dataset: o.dataset }, corpora.flatMap(corpusLabels), undefined, {
            warn: log,
            corpora,
          });
    const s: GateSettings = {
      num: n.num,
      steps: n.steps,
      batchSize: n.batchSize,
      lr: n.lr,
      seed: n.seed,
      devSentences: n.devNum,
      grounded: o.grounded !== false,
      maxNewTokens: n.maxNewTokens,
      predictBatch: n.predictBatch,
      precision: o.precision ?? 'bf16',
    };
    if (s.num > train.sentences.length)
      throw new UsageError(`--num ${s.num}: ${o.train} has only ${train.sentences.length} sentences`);
    const dev = s.devSentences > 0 ? { ...devAll, sentences: devAll.sentences.slice(0, s.devSentences) } : devAll;
    const sents = sampleSentences(train.sentences, s.num, s.seed);
    const pairs = pairsFromSentences(sents, v);
    const types = typesOf(pairs.map((p) => p.sequence));
    log(
      `gate: ${sents.length} gold sentences of ${o.train} (seed ${s.seed}), ${s.steps} steps × ${s.batchSize}, lr ${s.lr}; ${dev.sentences.length} sentences of ${o.dev}`,
    );
    const rows: GateRow[] = [lexicalGate(sents, dev, v)];
    const list = candidates(bases, dirs, o.randomInit === true);
    for (const c of list)
      refuseCandidateDir(candidateDir(out, c.label), { ...inputs, '--base-model': [...dirs.values()] });
    // Settings outside GateSettings that change a row: how the files are read and the label -> type word map.
    const reading = {
      tagColumn: read.tagColumn ?? null,
      scheme: read.scheme ?? null,
      repairTags: read.repair === true,
      offsets: read.offsets ?? 'utf16',
      verbalizer: v.toJSON(),
    };
    for (const c of list) {
      const dir = candidateDir(out, c.label);
      const key = gateKey({ train: o.train, dev: o.dev, base: c.base }, c.randomInit, s, reading);
      const cached = cachedGateRow(dir, key);
      if (cached.status === 'valid') {
        log(`${c.label}: reusing ${path.join(dir, 'gate.json')}`);
        rows.push({ ...cached.value, label: c.label });
        continue;
      }
      const redo = redoLine(path.join(dir, 'gate.json'), cached);
      if (redo) log(`${c.label}: ${redo}`);
      log(`${c.label}: fine-tuning ${c.randomInit ? `a randomly initialised ${c.base}` : c.base}`);
      rows.push(await gateBase(c.base, c.randomInit, c.label, pairs, dev, v, types, s, dir, (l) => log(`  ${l}`), key));
    }
    const target = n.target;
    writeJsonFile(path.join(out, 'gate.json'), { train: o.train, dev: o.dev, target, settings: s, rows });
    const table = formatGateTable(rows, target);
    atomicWriteFile(path.join(out, 'gate.md'), `${table}\n`);
    return { train: o.train, dev: o.dev, target, settings: s, rows, table };
  } finally {
    claim.release();
  }
}
