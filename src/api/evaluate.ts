// `evaluate`: the one implementation of `cyclener evaluate` (gold + a model or a prediction file; threshold, the
// threshold sweep, reliability, score calibration and the recorded threshold, the curve and reliability SVGs). The CLI
// command parses flags, calls it, prints `formatEvaluation` / `evaluationJson` and writes the SVG files.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AlignCounts } from '../data/align';
import { readLabeled, readSequenceLines, sniffFormat, type LabeledCorpus, type ReadOptions } from '../data/readers';
import { Verbalizer, verbalizerForLabels } from '../data/verbalizer';
import { compareCorpora, compareSequences } from '../eval/compare';
import { evaluate as scoreSentences, type EvalReport, type EvalSentence } from '../eval/metrics';
import { formatReport } from '../eval/report';
import {
  entityScore,
  fitBeta,
  fitIsotonic,
  fitTemperature,
  reliability,
  reliabilitySvg,
  scoreCalibration,
  type ReliabilityBin,
  type ScoreMap,
} from '../eval/calibration';
import {
  bestF1,
  predictionsAbove,
  prCurveSvg,
  scoredOutcomes,
  sweepThresholds,
  thresholdGrid,
  type ThresholdRow,
} from '../eval/thresholds';
import {
  recordScoreDefaults,
  resolveS2EDir,
  readMeta,
  scoreDefaults,
  scoreSettings,
  type ScoreSettings,
} from '../cycle/model-io';
import {
  issueCounts,
  openPredictor,
  verbalizerForTypes,
  type Predictions,
  type SentenceIssues,
} from '../cycle/predict';
import { lengthBatches } from '../cycle/seq2seq';
import { DEFAULT_PRECISION, type Precision } from '../t5/precision';
import { parseModelId } from '../hub';
import { modelDir } from './model-ref';
import { NerModel } from './ner-model';
import { IssueTally } from './issues';
import type { RunHooks } from './train';

export type CalibrationMethod = 'beta' | 'isotonic' | 'temperature';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['beta', 'isotonic', 'temperature'];
/** Formats of a prediction file (`seq`: one entity sequence per gold sentence). */
export type PredFormat = 'auto' | 'conll' | 'conll2012' | 'jsonl' | 'seq';

/** Dataset label -> the model's type word: a map, a Verbalizer, or a choice made from the gold labels when needed. */
export type VerbalizerChoice =
  Record<string, string> | Verbalizer | ((labels: readonly string[], gold: LabeledCorpus) => Verbalizer);

export interface EvaluateOptions extends RunHooks {
  /** Gold sentences: a labelled file (CoNLL, CoNLL-2012, JSONL) or a corpus read with readLabeled. */
  gold: string | LabeledCorpus;
  /** The model: loaded, or a directory / Hub id (loaded and disposed here). Give `model` or `pred`. */
  model?: NerModel | string;
  /** Predictions instead of a model: a file (CoNLL columns, JSONL or entity sequences) or entity sequences. */
  pred?: string | readonly string[];
  /** Format of a `pred` file (default 'auto': sniffed; entity sequences when it holds `<sep>` / `<none>`). */
  predFormat?: PredFormat;
  /** How `gold` and `pred` files are read (tag column, scheme, repair, offsets); a pred file ignores `scheme`. */
  read?: ReadOptions;
  /** Dataset label -> the model's type word (default: the model's own map; for a pred file, guessed from the labels). */
  verbalizer?: VerbalizerChoice;
  /** Entity sequences: place entities by a case/space-insensitive fallback too (default true). */
  fallback?: boolean;
  /** Sentences per generation batch (default 32). */
  batchSize?: number;
  /** Entities scored below it are not counted (default: the model's recorded threshold, else 0). */
  threshold?: number;
  /** Decoding of a model directory (default: as the model records it); a loaded NerModel keeps its own. */
  grounded?: boolean;
  maxNewTokens?: number;
  numBeams?: number;
  precision?: Precision;
  /** Fit a calibration of the scores on this (dev) gold and record it in the model's cyclener.json. */
  calibrate?: boolean;
  /** With `calibrate` (default 'beta'). */
  calibration?: CalibrationMethod;
  /** Record the best-F1 threshold of the sweep in the model's cyclener.json. */
  recordThreshold?: boolean;
  /** Return the precision-recall curve / the reliability diagram as SVG text (`svg.curve`, `svg.reliability`). */
  curve?: boolean;
  reliabilityDiagram?: boolean;
  /** How the report names the model (default: \`model\` as given, or the NerModel's directory). */
  modelName?: string;
}

export interface CalibrationFit {
  method: CalibrationMethod;
  temperature: number;
  map?: ScoreMap;
  entities: number;
  eceBefore: number;
  eceAfter: number;
}

type Reliability = { bins: ReliabilityBin[]; ece: number };

export interface Evaluation extends EvalReport {
  /** The gold and prediction names as the report gives them (a model evaluation: the model's path). */
  gold: string;
  pred: string;
  predFormat: Exclude<PredFormat, 'auto'>;
  goldScheme: string;
  /** A labelled prediction file's tag scheme. */
  predScheme?: string;
  /** Entity sequences: how their entities were placed in the sentences. */
  alignment?: AlignCounts;
  malformedSequences?: number;
  unknownTypeEntities?: number;
  /** A model: sentences whose generated output was cut or lost entities (`issues`: per sentence). */
  modelOutput?: ReturnType<typeof issueCounts>;
  issues?: SentenceIssues[];
  /** A model: the score settings the report is at (threshold, temperature, calibration map). */
  score?: ScoreSettings;
  /** A model: the threshold (and the scores' temperature) of the report, exact P/R/F1 at thresholds 0, 0.01, ..., 1
   *  and the best-F1 one of them. */
  thresholds?: { threshold: number; temperature: number; best: ThresholdRow; sweep: ThresholdRow[] };
  /** A model: precision per score decile and the expected calibration error (after calibration, when fitted). */
  reliability?: Reliability;
  /** `calibrate`: the fit, and where it was recorded. */
  calibration?: CalibrationFit;
  /** `recordThreshold`: the threshold recorded. */
  recordedThreshold?: number;
  /** The cyclener.json the calibration / threshold were recorded in. */
  recordedIn?: string;
  /** What `calibrate` / `recordThreshold` did, one line each (as the CLI prints them). */
  notes: { calibration?: string; threshold?: string };
  svg: { curve?: string; reliability?: string };
  /** Aborted before every sentence was predicted: nothing was scored (report fields are of zero sentences). */
  interrupted: boolean;
}

/** An evaluation with a model: the threshold sweep, the model output counts and the reliability are always there. */
export interface ModelEvaluation extends Evaluation {
  thresholds: { threshold: number; temperature: number; best: ThresholdRow; sweep: ThresholdRow[] };
  modelOutput: ReturnType<typeof issueCounts>;
  score: ScoreSettings;
  reliability: Reliability;
}

/** A file name that reads as a test split (`test.txt`, `eng.testb`, `x_test.jsonl`): never tuned on. */
export function looksLikeTestSplit(file: string): boolean {
  return /(^|[/\\._-])test([/\\._-]|$)/i.test(path.basename(file));
}

/** `cyclener evaluate`: score a model's predictions (or a prediction file) against gold annotations. */
export async function evaluate(o: EvaluateOptions & { model: NerModel | string }): Promise<ModelEvaluation>;
export async function evaluate(o: EvaluateOptions): Promise<Evaluation>;
export async function evaluate(o: EvaluateOptions): Promise<Evaluation> {
  if ((o.model === undefined) === (o.pred === undefined))
    throw new Error('evaluate: give exactly one of model and pred');
  const tuning = o.calibrate === true || o.recordThreshold === true;
  if (
    o.model === undefined &&
    (tuning || o.curve === true || o.reliabilityDiagram === true || o.threshold !== undefined)
  )
    throw new Error('evaluate: threshold, curve, reliabilityDiagram, calibrate and recordThreshold need a model');
  const goldName = typeof o.gold === 'string' ? o.gold : o.gold.file;
  if (tuning) {
    if (looksLikeTestSplit(goldName))
      throw new Error(
        `evaluate: gold ${goldName} looks like a test split; calibrate and recordThreshold tune on dev data only`,
      );
    if (typeof o.model !== 'string' || !fs.existsSync(o.model))
      throw new Error('evaluate: calibrate and recordThreshold write into a local model folder (give its path)');
  }
  const gold = typeof o.gold === 'string' ? readLabeled(o.gold, o.read) : o.gold;
  if (o.model !== undefined) return evaluateModel(o, o.model, gold, goldName);

  const pred = o.pred as string | readonly string[];
  const predName = typeof pred === 'string' ? pred : 'pred';
  let pf = o.predFormat ?? 'auto';
  if (typeof pred !== 'string') pf = 'seq';
  else if (pf === 'auto') {
    const sniffed = sniffFormat(pred, readSequenceLines(pred).join('\n'));
    pf = sniffed === 'q' ? 'seq' : sniffed === 'text' ? 'conll' : sniffed;
  }
  const base = { gold: goldName, pred: predName, predFormat: pf, goldScheme: gold.scheme };
  if (pf === 'seq') {
    const lines = typeof pred === 'string' ? readSequenceLines(pred) : [...pred];
    const r = compareSequences(gold, predName, lines, chooseVerbalizer(o.verbalizer, gold), {
      fallback: o.fallback !== false,
    });
    return {
      ...base,
      ...scoreSentences(r.sentences),
      alignment: r.align,
      malformedSequences: r.malformed,
      unknownTypeEntities: r.unknownType,
      notes: {},
      svg: {},
      interrupted: false,
    };
  }
  const { scheme: _, ...read } = o.read ?? {};
  const predCorpus = readLabeled(pred as string, { ...read, format: pf });
  return {
    ...base,
    ...scoreSentences(compareCorpora(gold, predCorpus)),
    predScheme: predCorpus.scheme,
    notes: {},
    svg: {},
    interrupted: false,
  };
}

function goldLabels(c: LabeledCorpus): string[] {
  return [...new Set(c.sentences.flatMap((s) => s.entities.map((e) => e.label)))].sort();
}

function chooseVerbalizer(v: VerbalizerChoice | undefined, gold: LabeledCorpus, model?: Verbalizer): Verbalizer {
  if (v instanceof Verbalizer) return v;
  if (typeof v === 'function') return v(goldLabels(gold), gold);
  if (v) return new Verbalizer(v);
  return model ?? verbalizerForLabels(goldLabels(gold)).verbalizer;
}

/** `fn` over the texts in the batches `generateAll` makes of them in one call (lengthBatches: the same scores to the
 *  last digit as one call), so an abort can stop between batches. Returns null when aborted. */
async function inSortedBatches(
  texts: readonly string[],
  batch: number,
  fn: (part: readonly string[]) => Promise<Predictions>,
  hooks: RunHooks,
): Promise<Predictions | null> {
  const out: Predictions = {
    seqs: new Array(texts.length),
    scores: new Array(texts.length),
    issues: new Array(texts.length),
  };
  let done = 0;
  for (const idx of lengthBatches(texts, batch)) {
    if (hooks.signal?.aborted) {
      hooks.onProgress?.({ kind: 'log', message: `interrupted after ${done} of ${texts.length} sentences` });
      return null;
    }
    const p = await fn(idx.map((k) => texts[k]!));
    idx.forEach((k, j) => {
      out.seqs[k] = p.seqs[j]!;
      out.scores[k] = p.scores[j]!;
      out.issues[k] = p.issues[j]!;
    });
    done += idx.length;
    hooks.onProgress?.({ kind: 'log', message: `predicted ${done}/${texts.length} sentences` });
  }
  return out;
}

async function evaluateModel(
  o: EvaluateOptions,
  model: NerModel | string,
  gold: LabeledCorpus,
  goldName: string,
): Promise<ModelEvaluation> {
  const m = await modelPredictions(o, model, gold);
  const { predicted, s2eDir } = m;
  let score = m.score;
  if (predicted === null) return interruptedEvaluation(o, model, gold, goldName, score, s2eDir);
  score = { ...score, threshold: o.threshold ?? score.threshold };
  const predName = o.modelName ?? (typeof model === 'string' ? model : s2eDir);
  const v = chooseVerbalizer(o.verbalizer, gold, m.modelVerbalizer);
  const r = compareSequences(gold, predName, predicted.seqs, v, { fallback: o.fallback !== false }, predicted.scores);
  let sentences: EvalSentence[] = r.sentences;
  const fittedOn = {
    gold: goldName,
    sentences: gold.sentences.length,
    entities: sentences.reduce((n, x) => n + x.pred.length, 0),
  };
  const metaFile = path.join(s2eDir, 'cyclener.json');
  const notes: Evaluation['notes'] = {};
  const svg: Evaluation['svg'] = {};
  let calibration: CalibrationFit | undefined;
  let raw: Reliability | undefined;
  if (o.calibrate === true) {
    const c = calibrateScores(o.calibration ?? 'beta', sentences, score, s2eDir, fittedOn);
    ({ sentences, score, calibration, raw } = c);
    notes.calibration = c.note;
  }
  const rel = reliability(scoredOutcomes(sentences));
  if (o.reliabilityDiagram === true) {
    const series = [{ name: calibration ? `calibrated (${calibration.method})` : 'scores', ...rel }];
    if (calibration && raw) series.unshift({ name: 'raw', ...raw });
    svg.reliability = reliabilitySvg(series, `reliability: ${path.basename(goldName)}`);
  }
  const sweep = sweepThresholds(sentences, thresholdGrid(100));
  const best = bestF1(sweep);
  if (o.recordThreshold === true) {
    recordScoreDefaults(s2eDir, { threshold: best.threshold, fittedOn });
    notes.threshold = `recorded threshold ${best.threshold} in ${metaFile}`;
  }
  if (o.curve === true)
    svg.curve = prCurveSvg(sweep, `precision-recall over score thresholds: ${path.basename(goldName)}`);
  return {
    ...scoreSentences(predictionsAbove(sentences, score.threshold)),
    gold: goldName,
    pred: predName,
    predFormat: 'seq',
    goldScheme: gold.scheme,
    alignment: r.align,
    malformedSequences: r.malformed,
    unknownTypeEntities: r.unknownType,
    modelOutput: issueCounts(predicted.issues),
    issues: predicted.issues,
    score,
    thresholds: { threshold: score.threshold, temperature: score.temperature, best, sweep },
    reliability: rel,
    ...(calibration ? { calibration } : {}),
    ...(o.recordThreshold === true ? { recordedThreshold: best.threshold } : {}),
    ...(tuningRecorded(o) ? { recordedIn: metaFile } : {}),
    notes,
    svg,
    interrupted: false,
  };
}

/** The model's entity sequences for the gold sentences (null when aborted), with its score settings, its verbaliser
 *  and its s2e folder: a folder or Hub id is opened (and disposed) here, a loaded NerModel is used as it is. */
async function modelPredictions(
  o: EvaluateOptions,
  model: NerModel | string,
  gold: LabeledCorpus,
): Promise<{ predicted: Predictions | null; score: ScoreSettings; modelVerbalizer: Verbalizer; s2eDir: string }> {
  const batch = o.batchSize ?? 32;
  const texts = gold.sentences.map((s) => s.text);
  const log = (message: string) => o.onProgress?.({ kind: 'log', message });
  if (typeof model !== 'string') {
    const s2eDir = model.info.dir;
    const score = { ...model.info.score };
    const modelVerbalizer = model.labelMap();
    const predicted = await inSortedBatches(texts, batch, (part) => model.sequences(part, batch), o);
    return { predicted, score, modelVerbalizer, s2eDir };
  }
  // A path that is not there is named by resolveS2EDir (as for any model folder); a Hub id is resolved first.
  const s2eDir = resolveS2EDir(!fs.existsSync(model) && parseModelId(model) ? await modelDir(model, log) : model);
  // Calibration fits on the decoder's own probabilities (temperature 1, no map).
  const temperature = o.calibrate === true ? 1 : undefined;
  const predictor = openPredictor(s2eDir, {
    ...(o.grounded !== undefined ? { grounded: o.grounded } : {}),
    ...(o.maxNewTokens !== undefined ? { maxNewTokens: o.maxNewTokens } : {}),
    ...(o.numBeams !== undefined ? { numBeams: o.numBeams } : {}),
    ...(temperature !== undefined ? { temperature } : {}),
    batch,
    precision: o.precision ?? DEFAULT_PRECISION,
  });
  try {
    const meta = readMeta(s2eDir);
    const score = scoreSettings(scoreDefaults(meta), { temperature });
    const modelVerbalizer = verbalizerForTypes(meta?.types ?? [], meta?.verbalizer);
    const predicted = await inSortedBatches(texts, batch, (part) => predictor.predict(part), o);
    return { predicted, score, modelVerbalizer, s2eDir };
  } finally {
    predictor.dispose();
  }
}

/** An evaluation aborted before every sentence was predicted: the report of zero sentences. */
function interruptedEvaluation(
  o: EvaluateOptions,
  model: NerModel | string,
  gold: LabeledCorpus,
  goldName: string,
  score: ScoreSettings,
  s2eDir: string,
): ModelEvaluation {
  const none = sweepThresholds([], [0]);
  return {
    ...scoreSentences([]),
    gold: goldName,
    pred: o.modelName ?? (typeof model === 'string' ? model : s2eDir),
    predFormat: 'seq',
    goldScheme: gold.scheme,
    modelOutput: issueCounts([]),
    issues: [],
    score,
    thresholds: { threshold: 0, temperature: score.temperature, best: none[0]!, sweep: none },
    reliability: reliability([]),
    notes: {},
    svg: {},
    interrupted: true,
  };
}

/** Fits `method` on the entities' scores against the gold, rescores them, records the fit in the model's
 *  cyclener.json and says so (`note`); `raw` is the reliability before. */
function calibrateScores(
  method: CalibrationMethod,
  sentences: EvalSentence[],
  score: ScoreSettings,
  s2eDir: string,
  fittedOn: { gold: string; sentences: number; entities: number },
): { sentences: EvalSentence[]; score: ScoreSettings; calibration: CalibrationFit; raw: Reliability; note: string } {
  const metaFile = path.join(s2eDir, 'cyclener.json');
  const before = scoredOutcomes(sentences);
  const T =
    method === 'temperature'
      ? fitTemperature(before.map((x) => ({ logProb: Math.max(Math.log(x.score), -700), correct: x.correct })))
      : 1;
  const map: ScoreMap | undefined =
    method === 'beta'
      ? { method, ...fitBeta(before) }
      : method === 'isotonic'
        ? { method, ...fitIsotonic(before) }
        : undefined;
  const rescored = sentences.map((x) => ({
    gold: x.gold,
    pred: x.pred.map((m) => ({ ...m, score: entityScore(Math.log(m.score as number), T, map) })),
  }));
  const after = scoredOutcomes(rescored);
  // Recording one method clears another's value.
  recordScoreDefaults(s2eDir, { temperature: T, map, fittedOn });
  const calibrated: ScoreSettings = { ...score, temperature: T, ...(map ? { map } : {}) };
  if (!map) delete calibrated.map;
  const raw = reliability(before);
  const eceAfter = reliability(after).ece;
  const what =
    map?.method === 'beta'
      ? `beta calibration (a ${map.a}, b ${map.b}, c ${map.c})`
      : map?.method === 'isotonic'
        ? `an isotonic map (${map.x.length} knots)`
        : `temperature ${T.toFixed(4)}`;
  return {
    sentences: rescored,
    score: calibrated,
    calibration: {
      method,
      temperature: T,
      ...(map ? { map } : {}),
      entities: before.length,
      eceBefore: raw.ece,
      eceAfter,
    },
    raw,
    note: `calibrated: ${what} fitted on ${before.length} entities (${after.filter((x) => x.correct === 1).length} right); ECE ${raw.ece.toFixed(4)} -> ${eceAfter.toFixed(4)}; recorded in ${metaFile}`,
  };
}

const tuningRecorded = (o: EvaluateOptions) => o.calibrate === true || o.recordThreshold === true;

/** The report's fields (EvalReport) of an evaluation, in their order. */
function reportOf(r: Evaluation): EvalReport {
  return {
    sentences: r.sentences,
    sentencesWithEntities: r.sentencesWithEntities,
    exact: r.exact,
    bag: r.bag,
    errors: r.errors,
    withEntitiesOnly: r.withEntitiesOnly,
  };
}

/** `cyclener evaluate --json`: the evaluation as one JSON object (without the per-sentence issues and the SVGs). */
export function evaluationJson(r: Evaluation): Record<string, unknown> {
  return {
    gold: r.gold,
    pred: r.pred,
    predFormat: r.predFormat,
    goldScheme: r.goldScheme,
    ...(r.modelOutput ? { modelOutput: r.modelOutput } : {}),
    ...(r.calibration ? { calibration: r.calibration } : {}),
    ...(r.reliability ? { reliability: r.reliability } : {}),
    ...(r.thresholds ? { thresholds: r.thresholds } : {}),
    ...(r.alignment
      ? { alignment: r.alignment, malformedSequences: r.malformedSequences, unknownTypeEntities: r.unknownTypeEntities }
      : {}),
    ...(r.predScheme !== undefined ? { predScheme: r.predScheme } : {}),
    ...reportOf(r),
  };
}

/** `cyclener evaluate`'s text report, line by line (without the notes of what was written where). */
export function formatEvaluation(r: Evaluation): string[] {
  const out: string[] = [];
  const score = r.score;
  if (score && (score.threshold > 0 || scoreCalibration(score) !== 'none'))
    out.push(
      `entities scored below ${score.threshold} dropped (scores calibrated by ${score.map ? `a ${score.map.method} map` : `temperature ${score.temperature}`})\n`,
    );
  out.push(formatReport(reportOf(r)));
  const a = r.alignment;
  if (a)
    out.push(
      `\nalignment of generated entities: ${a.entities} with known types; ${a.exact} exact, ${a.fallback} case/space fallback, ${a.outOfOrder} out of order, ${a.partialToken} inside a token, ${a.hallucinated} not found (hallucinated); ${String(r.malformedSequences)} malformed sequences; ${String(r.unknownTypeEntities)} entities of unknown type`,
    );
  if (r.issues) out.push(`model output: ${new IssueTally().add(r.issues).summary()}`);
  if (r.thresholds) {
    const sweep = r.thresholds.sweep;
    const pct = (x: number) => (100 * x).toFixed(2).padStart(6);
    out.push('\nthreshold  precision  recall     F1  predicted');
    for (const x of sweep.filter((_, i) => i % 5 === 0 && i < 100))
      out.push(
        `${x.threshold.toFixed(2).padStart(9)}  ${pct(x.precision).padStart(9)}  ${pct(x.recall)} ${pct(x.f1)}  ${String(x.pred).padStart(9)}`,
      );
    const b = r.thresholds.best;
    out.push(
      `best F1 ${pct(b.f1).trim()} at threshold ${b.threshold} (P ${pct(b.precision).trim()}, R ${pct(b.recall).trim()}; thresholds in steps of 0.01)`,
    );
  }
  const rel = r.reliability;
  if (rel) {
    out.push(`\nscore decile  entities  mean score  precision   (expected calibration error ${rel.ece.toFixed(4)})`);
    for (const b of rel.bins)
      out.push(
        `${`[${b.lo.toFixed(1)}, ${b.hi.toFixed(1)}${b.hi === 1 ? ']' : ')'}`.padEnd(12)}  ${String(b.count).padStart(8)}  ${b.count > 0 ? b.meanScore.toFixed(3).padStart(10) : '         -'}  ${b.count > 0 ? b.precision.toFixed(3).padStart(9) : '        -'}`,
      );
  }
  return out;
}
