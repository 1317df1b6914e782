// result.json of a cell: what ran (commands, base model, preset) and what it scored, in a shape
// the report reads without knowing the CLI's full JSON output.

import { pearson } from '../cycle/plot';
import type { BaseModelInfo } from './files';
import type { CellKind } from './plan';
import type { CacheKey } from '../util/cache-key';

export interface Micro {
  precision: number;
  recall: number;
  f1: number;
  correct?: number;
  pred?: number;
  gold?: number;
}

export interface TestScores {
  sentences: number;
  exact: {
    micro: Micro;
    macro?: { precision: number; recall: number; f1: number };
    perType: (Micro & { type: string })[];
  };
  bag: { micro: Micro };
  withEntitiesOnly: { sentences: number; exact: { micro: Micro }; bag: { micro: Micro } };
  errors: Record<string, number>;
  /** Generated entities that could not be placed in the sentence (model cells only). */
  hallucinated: number | null;
  malformedSequences: number | null;
  unknownTypeEntities: number | null;
}

export interface EvalRecord {
  step: number;
  epoch: number;
  devSLoss: number | null;
  devELoss: number | null;
  devF1: number | null;
  /** Label-free silver F1 on dev S and on a sample of S (src/cycle/silver.ts); absent in runs before them. */
  devSilverF1?: number | null;
  sSilverF1?: number | null;
  /** The same on sentences of S held out of training (--silver-holdout); absent without it. */
  heldSilverF1?: number | null;
  /** On the --name-holdout sentences: silver F1, and the held-out names' recall; absent without it. */
  nameHeldF1?: number | null;
  nameHeldRecall?: number | null;
  testP?: number | null;
  testR?: number | null;
  testF1?: number | null;
}

/** One subprocess of a cell (failed and interrupted ones included: `exit` says which). */
export interface CommandRecord {
  stage: string;
  /** Shell-quoted, relative to `cwd`. */
  cmd: string;
  argv: string[];
  cwd: string;
  seconds: number;
  exit: number | null;
  at: string;
}

export interface CellResult {
  version: 1;
  /** What the result was computed from (see cellKey): a rerun reuses it only with the same key. */
  key?: CacheKey;
  experiment: string;
  cellId: string;
  kind: CellKind;
  dataset: string;
  dataConfig: string | null;
  seed: number;
  preset: string;
  baseModel: BaseModelInfo | null;
  dataDir: string;
  /** The labelled file of the final evaluation, and which split it is. */
  evalFile: string;
  evalSplit: 'test' | 'dev';
  threads: string | null;
  commands: CommandRecord[];
  wallSeconds: Record<string, number>;
  test: TestScores;
  /** Cycle cells: the eval records of RUN/metrics.jsonl. */
  evals: EvalRecord[];
  /** Model cells: optimizer steps run, epochs over the training data, and the step whose model was evaluated. */
  training?: TrainingSummary;
  /** Pearson of each dev loss with F1 per evaluation (test F1 when logged, else dev F1). */
  pearson: {
    against: 'testF1' | 'devF1' | null;
    eLoss: number | null;
    sLoss: number | null;
    eLossDevF1: number | null;
    sLossDevF1: number | null;
    /** Silver F1 (dev S, sample of S) with dev F1: higher is better for these, so a good criterion has ρ > 0. */
    devSilverDevF1?: number | null;
    sSilverDevF1?: number | null;
    heldSilverDevF1?: number | null;
  } | null;
  notes: string[];
  finishedAt: string;
}

type J = Record<string, unknown>;
const obj = (v: unknown): J => (v !== null && typeof v === 'object' ? (v as J) : {});
const micro = (v: unknown): Micro => {
  const m = obj(v);
  const n = (k: string) => (typeof m[k] === 'number' ? (m[k] as number) : 0);
  return {
    precision: n('precision'),
    recall: n('recall'),
    f1: n('f1'),
    correct: n('correct'),
    pred: n('pred'),
    gold: n('gold'),
  };
};

/** The fields of a result.json the report reads (a result.json without one of them is damaged). */
export const RESULT_FIELDS = {
  experiment: 'string',
  cellId: 'string',
  kind: 'string',
  preset: 'string',
  seed: 'number',
  'test.sentences': 'number',
  'test.exact.micro.precision': 'number',
  'test.exact.micro.recall': 'number',
  'test.exact.micro.f1': 'number',
  'test.bag.micro.f1': 'number',
  evals: 'array',
  commands: 'array',
} as const;

/** The scores kept from `evaluate --json` / `baseline lexical --json` output. */
export function summarizeEval(json: unknown): TestScores {
  const j = obj(json);
  const exact = obj(j.exact);
  const w = obj(j.withEntitiesOnly);
  const align = j.alignment === undefined ? null : obj(j.alignment);
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  return {
    sentences: num(j.sentences) ?? 0,
    exact: {
      micro: micro(exact.micro),
      ...(exact.macro ? { macro: micro(exact.macro) } : {}),
      perType: (Array.isArray(exact.perType) ? exact.perType : []).map((t) => ({
        type: String(obj(t).type),
        ...micro(t),
      })),
    },
    bag: { micro: micro(obj(j.bag).micro) },
    withEntitiesOnly: {
      sentences: num(w.sentences) ?? 0,
      exact: { micro: micro(obj(w.exact).micro) },
      bag: { micro: micro(obj(w.bag).micro) },
    },
    errors: Object.fromEntries(Object.entries(obj(j.errors)).filter(([, v]) => typeof v === 'number')) as Record<
      string,
      number
    >,
    hallucinated: align ? num(align.hallucinated) : null,
    malformedSequences: num(j.malformedSequences),
    unknownTypeEntities: num(j.unknownTypeEntities),
  };
}

/** The records of a metrics.jsonl (optionally only lines holding `must`); malformed lines are skipped: the run may be
 *  live, its last line half written. */
function* metricsRecords(metricsText: string, must = ''): Generator<J> {
  for (const line of metricsText.split('\n')) {
    if (line.trim() === '' || !line.includes(must)) continue;
    try {
      yield JSON.parse(line) as J;
    } catch {
      continue;
    }
  }
}

/** Eval records of a cycle run's metrics.jsonl (malformed lines are skipped: the run may be live). */
export function evalRecords(metricsText: string): EvalRecord[] {
  const out: EvalRecord[] = [];
  for (const r of metricsRecords(metricsText, '"eval"')) {
    if (r.type !== 'eval') continue;
    const n = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : null);
    const rec: EvalRecord = {
      step: n('step') ?? 0,
      epoch: n('epoch') ?? 0,
      devSLoss: n('devSLoss'),
      devELoss: n('devELoss'),
      devF1: n('devF1'),
    };
    for (const k of [
      'devSilverF1',
      'sSilverF1',
      'heldSilverF1',
      'nameHeldF1',
      'nameHeldRecall',
      'testP',
      'testR',
      'testF1',
    ] as const)
      if (k in r) rec[k] = n(k);
    out.push(rec);
  }
  return out;
}

export interface TrainingSummary {
  steps: number;
  epochs: number | null;
  bestStep: number | null;
}

/** Steps and epochs of a run (the last `step` record of its metrics.jsonl) and the step of its last `best` eval. */
export function trainingSummary(metricsText: string): TrainingSummary {
  let steps = 0;
  let epochs: number | null = null;
  let bestStep: number | null = null;
  for (const r of metricsRecords(metricsText)) {
    if (r.type === 'step' && typeof r.step === 'number' && r.step >= steps) {
      steps = r.step;
      epochs = typeof r.epochs === 'number' ? r.epochs : null;
    }
    if (r.type === 'eval' && r.best === true && typeof r.step === 'number') bestStep = r.step;
  }
  return { steps, epochs, bestStep };
}

/**
 * Seconds the training processes of a run spent, summed over its resumes: each process's step records carry the
 * seconds since it started (`elapsed`, and `seconds` on its `end` record), so a drop starts the next process. A process
 * killed before it recorded its stage (a session's end) is counted up to its last step; the stage records alone would
 * count only the process that finished.
 */
export function trainedSeconds(metricsText: string): number {
  let total = 0;
  let segment = 0;
  for (const r of metricsRecords(metricsText)) {
    const t = r.type === 'step' ? r.elapsed : r.type === 'end' ? r.seconds : undefined;
    if (typeof t !== 'number') continue;
    if (t < segment) total += segment;
    segment = t;
  }
  return total + segment;
}

export function correlations(evals: readonly EvalRecord[]): NonNullable<CellResult['pearson']> {
  const hasTest = evals.some((e) => typeof e.testF1 === 'number');
  const hasDev = evals.some((e) => typeof e.devF1 === 'number');
  const f1 = evals.map((e) => (hasTest ? (e.testF1 ?? null) : e.devF1));
  const dev = evals.map((e) => e.devF1);
  return {
    against: hasTest ? 'testF1' : hasDev ? 'devF1' : null,
    eLoss: pearson(
      evals.map((e) => e.devELoss),
      f1,
    ),
    sLoss: pearson(
      evals.map((e) => e.devSLoss),
      f1,
    ),
    eLossDevF1: pearson(
      evals.map((e) => e.devELoss),
      dev,
    ),
    sLossDevF1: pearson(
      evals.map((e) => e.devSLoss),
      dev,
    ),
    devSilverDevF1: pearson(
      evals.map((e) => e.devSilverF1 ?? null),
      dev,
    ),
    sSilverDevF1: pearson(
      evals.map((e) => e.sSilverF1 ?? null),
      dev,
    ),
    heldSilverDevF1: pearson(
      evals.map((e) => e.heldSilverF1 ?? null),
      dev,
    ),
  };
}

/** POSIX shell quoting, for command lines a user can paste. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Where a reconstructed record's numbers were read: a commit of the repository and the file at that commit. */
export interface Provenance {
  /** Full commit hash whose `file` printed the values. */
  from: string;
  file: string;
  note: string;
}

/** A score as printed for one seed (3 decimals; hallucinated and malformed 1; epochs 2); null = printed nowhere. */
export interface ReconstructedScores {
  precision: number | null;
  recall: number | null;
  f1: number | null;
  f1WithEntities: number | null;
  hallucinated: number | null;
  malformed: number | null;
  epochs: number | null;
}

/**
 * `reconstructed.json`: a cell whose result.json was lost with the machine that ran it, rebuilt from what an earlier
 * docs/results.md printed for it (`reconstructed.from`). Only printed values: null (or a missing stage in
 * `wallMinutes`, `commands: null`) where nothing recorded the value for this seed. A row averaged over several seeds
 * whose per-seed values were never printed has a `summary.json` beside its seed folders (ReconstructedSummary).
 */
export interface ReconstructedResult {
  version: 1;
  reconstructed: Provenance;
  experiment: string;
  cellId: string;
  kind: CellKind;
  dataset: string;
  dataConfig: string | null;
  seed: number;
  preset: string;
  evalSplit: 'test' | 'dev';
  baseModel: BaseModelInfo | null;
  threads: string | null;
  scores: ReconstructedScores;
  /** Minutes per stage, as printed (1 decimal); `total` alone where only the row's wall time was printed. */
  wallMinutes: Record<string, number>;
  /** The command lines as printed (failed ones were marked in them); null = not recorded. */
  commands: string[] | null;
  /** Cycle cells: the Figure 4 row as printed for this seed (null where the row averaged seeds). */
  figure4: {
    evaluations: number | null;
    against: 'testF1' | 'devF1' | null;
    eLoss: number | null;
    sLoss: number | null;
    eLossDevF1: number | null;
    sLossDevF1: number | null;
    bestStep: number | null;
  } | null;
  /** The committed curves SVG of this run, a file beside this record (its evaluation records are lost); null = none. */
  curve: string | null;
  notes: string[];
}

/** Mean ± sample std as printed (std null for one seed). */
export interface PrintedStat {
  mean: number;
  std: number | null;
}

/** `summary.json`: the mean ± std a multi-seed reconstructed row printed, for values never printed per seed. */
export interface ReconstructedSummary {
  version: 1;
  reconstructed: Provenance;
  preset: string;
  experiment: string;
  /** The row: a cell id without its seed. */
  row: string;
  seeds: number[];
  scores: Record<keyof ReconstructedScores, PrintedStat | null>;
  wallMinutes: PrintedStat | null;
  figure4: Record<'eLoss' | 'sLoss' | 'eLossDevF1' | 'sLossDevF1', PrintedStat | null> | null;
}

export const RECONSTRUCTED_FIELDS = {
  'reconstructed.from': 'string',
  'reconstructed.file': 'string',
  experiment: 'string',
  cellId: 'string',
  kind: 'string',
  preset: 'string',
  dataset: 'string',
  seed: 'number',
  evalSplit: 'string',
  notes: 'array',
} as const;

export const SUMMARY_FIELDS = {
  'reconstructed.from': 'string',
  'reconstructed.file': 'string',
  preset: 'string',
  experiment: 'string',
  row: 'string',
  seeds: 'array',
} as const;
