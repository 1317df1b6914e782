// The base-model gate of the pretraining issue: is a base T5 good enough for CycleNER? Fine-tune its
// S2E *supervised* on N gold sentences for a fixed budget (the same for every candidate), score it
// on dev sentences, and compare with the Lexical Matcher built from the same N sentences' entity
// sequences. CycleNER cannot beat its own supervised version, so a base that does not clear the
// Lexical Matcher here will not make the cycles work either. Never run on a test split.

import * as fs from 'node:fs';
import type { Precision } from '../t5/precision';
import * as path from 'node:path';
import { Gazetteer, scoreLexicalMatcher } from '../baselines/lexical-matcher';
import type { LabeledCorpus } from '../data/readers';
import type { LabeledSentence } from '../data/types';
import type { Verbalizer } from '../data/verbalizer';
import { compareSequences } from '../eval/compare';
import { evaluate, type EvalReport } from '../eval/metrics';
import { DEFAULT_S2E_PREFIX, loadModelDir, reinitialise } from '../cycle/model-io';
import { predictWithModelDir } from '../cycle/predict';
import { cacheKey, fieldProblem, readCached, type Cached, type CacheKey } from '../util/cache-key';
import { writeJsonFile } from '../util/fs';
import { modelWeightFiles } from '../util/run-dir';
import { supervisedConfig } from './settings';
import { trainSupervised, type Pair } from './supervised';

export interface GateSettings {
  /** Gold training sentences (drawn by `sampleSentences` with `seed`). */
  num: number;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Dev sentences scored (the first ones of the dev file). */
  devSentences: number;
  grounded: boolean;
  maxNewTokens: number;
  predictBatch: number;
  /** bf16 autocast (default) or fp32, for fine-tuning and prediction. */
  precision?: Precision;
}

export interface GateScore {
  exact: { precision: number; recall: number; f1: number };
  bag: { precision: number; recall: number; f1: number };
}

export interface GateRow extends GateScore {
  label: string;
  /** Model directory, or "" for the Lexical Matcher. */
  base: string;
  randomInit: boolean;
  trainSeconds: number;
  evalSeconds: number;
  finalLoss?: number;
  /** Generated entities that could not be placed in their sentence. */
  hallucinated?: number;
  settings?: GateSettings;
  /** What the row was computed from (data files, base model, settings): a row is reused only with the same key. */
  key?: CacheKey;
}

function score(r: EvalReport): GateScore {
  const pick = (t: EvalReport['exact']) => ({ precision: t.micro.precision, recall: t.micro.recall, f1: t.micro.f1 });
  return { exact: pick(r.exact), bag: pick(r.bag) };
}

/** The paper's Lexical Matcher with a gazetteer from the training sentences' gold entities. */
export function lexicalGate(train: readonly LabeledSentence[], dev: LabeledCorpus, v: Verbalizer): GateRow {
  const t0 = Date.now();
  const g = new Gazetteer(
    train.map((s) => s.entities.map((e) => ({ surface: e.surface, type: v.verbalize(e.label) }))),
  );
  const { report } = scoreLexicalMatcher(g, dev, v);
  return {
    label: 'Lexical Matcher',
    base: '',
    randomInit: false,
    trainSeconds: 0,
    evalSeconds: (Date.now() - t0) / 1000,
    ...score(report),
  };
}

/** Fine-tune one base (or its random-init control) on `pairs`, then score it on `dev`. The model is written to `outDir`. */
export async function gateBase(
  base: string,
  randomInit: boolean,
  label: string,
  pairs: readonly Pair[],
  dev: LabeledCorpus,
  v: Verbalizer,
  types: readonly string[],
  s: GateSettings,
  outDir: string,
  log: (l: string) => void = () => undefined,
  key?: CacheKey,
): Promise<GateRow> {
  const m = loadModelDir(base);
  if (randomInit) reinitialise(m, s.seed);
  let trained: { losses: number[]; seconds: number };
  try {
    trained = await trainSupervised(
      m.model,
      m.tokenizer,
      pairs,
      supervisedConfig({
        prefix: DEFAULT_S2E_PREFIX,
        batchSize: s.batchSize,
        steps: s.steps,
        lr: s.lr,
        seed: s.seed,
        precision: s.precision,
      }),
      outDir,
      { types: [...types], verbalizer: v.toJSON() },
      { log },
    );
  } finally {
    m.model.dispose();
  }
  const t0 = Date.now();
  const p = await predictWithModelDir(
    outDir,
    dev.sentences.map((x) => x.text),
    { grounded: s.grounded, batch: s.predictBatch, maxNewTokens: s.maxNewTokens, numBeams: 1, precision: s.precision },
  );
  const cmp = compareSequences(dev, outDir, p.seqs, v);
  const row: GateRow = {
    label,
    base,
    randomInit,
    trainSeconds: trained.seconds,
    evalSeconds: (Date.now() - t0) / 1000,
    finalLoss: trained.losses[trained.losses.length - 1],
    hallucinated: cmp.align.hallucinated,
    settings: s,
    ...score(evaluate(cmp.sentences)),
    ...(key ? { key } : {}),
  };
  writeJsonFile(path.join(outDir, 'gate.json'), row);
  return row;
}

/** The fields a cached row must hold to be shown again. */
const ROW_FIELDS = {
  label: 'string',
  base: 'string',
  randomInit: 'boolean',
  trainSeconds: 'number',
  evalSeconds: 'number',
  'exact.precision': 'number',
  'exact.recall': 'number',
  'exact.f1': 'number',
  'bag.precision': 'number',
  'bag.recall': 'number',
  'bag.f1': 'number',
} as const;

/**
 * The row an earlier `gateBase` saved in `outDir` (so a long gate can resume), reused only when whole and computed
 * with the same key (`gateKey`): other train/dev data, base weights or settings make it stale.
 */
export function cachedGateRow(outDir: string, key: CacheKey): Cached<GateRow> {
  return readCached<GateRow>(path.join(outDir, 'gate.json'), key, (v) => fieldProblem(v, ROW_FIELDS));
}

/** The cache key of a gate row: sha256 of the train and dev files and of the base model's files, and the settings. */
export function gateKey(
  files: { train: string; dev: string; base: string },
  randomInit: boolean,
  s: GateSettings,
  extra: Record<string, unknown>,
): CacheKey {
  const model = ['config.json', 'spiece.model', 'tokenizer.json']
    .map((f) => path.join(files.base, f))
    .filter((f) => fs.existsSync(f));
  return cacheKey(
    { '--train': files.train, '--dev': files.dev, '--base-model': [...modelWeightFiles(files.base), ...model] },
    { ...s, randomInit, ...extra },
  );
}

const f3 = (x: number) => x.toFixed(3);

/** Markdown table: one row per system, the gate verdict per base. */
export function formatGateTable(rows: readonly GateRow[], target: number): string {
  const lex = rows.find((r) => r.base === '');
  const lines = ['| system | exact P / R / F1 | bag F1 | train s | eval s | gate |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const verdict =
      r.base === ''
        ? ''
        : r.bag.f1 >= target && (!lex || r.bag.f1 > lex.bag.f1)
          ? `pass (≥ ${target})`
          : `fail (< ${target}${lex && r.bag.f1 <= lex.bag.f1 ? ', ≤ Lexical Matcher' : ''})`;
    lines.push(
      `| ${r.label} | ${f3(r.exact.precision)} / ${f3(r.exact.recall)} / ${f3(r.exact.f1)} | ${f3(r.bag.f1)} | ${r.base === '' ? '–' : r.trainSeconds.toFixed(0)} | ${r.evalSeconds.toFixed(0)} | ${verdict} |`,
    );
  }
  return lines.join('\n');
}
