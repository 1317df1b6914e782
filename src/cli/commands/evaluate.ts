// `cyclener evaluate --gold FILE --pred FILE`: conlleval-exact scores, bag of mentions, error
// breakdown and the sentences-with-entities variant, as a table or JSON.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSequenceLines, sniffFormat, type LabeledCorpus } from '../../data/readers';
import { compareCorpora, compareSequences } from '../../eval/compare';
import { evaluate, type EvalSentence } from '../../eval/metrics';
import { formatReport } from '../../eval/report';
import { registerCommand, type Io } from '../registry';
import { issueCounts, predictWithModelDir, type SentenceIssues } from '../../cycle/predict';
import { issueSummary, predictOptions, PREDICT_FLAGS } from '../predict-flags';
import { UsageError } from '../args';
import { modelDirArg } from '../model-arg';
import { chooseVerbalizer, corpusLabels, READER_FLAGS, readLabeledWithFlags, VERBALIZER_FLAGS } from '../common';
import {
  entityScore,
  fitBeta,
  fitIsotonic,
  fitTemperature,
  reliability,
  reliabilitySvg,
  scoreCalibration,
  type ScoreMap,
} from '../../eval/calibration';
import {
  bestF1,
  predictionsAbove,
  prCurveSvg,
  scoredOutcomes,
  sweepThresholds,
  thresholdGrid,
  type ThresholdRow,
} from '../../eval/thresholds';
import { recordScoreDefaults, resolveS2EDir, type ScoreSettings } from '../../cycle/model-io';
import { claimOutputs } from '../../util/output';
import { atomicWriteFile } from '../../util/fs';

registerCommand({
  name: 'evaluate',
  summary: 'score predictions against gold annotations (per-type P/R/F1, conlleval-exact)',
  flags: {
    gold: { type: 'string', arg: 'FILE', help: 'gold file: CoNLL columns, CoNLL-2012 or JSONL', required: true },
    pred: {
      type: 'string',
      arg: 'FILE',
      help: 'predictions: CoNLL columns (same tokens), JSONL (same texts) or entity sequences (one line per gold sentence)',
    },
    model: {
      type: 'string',
      arg: 'DIR|HUB_ID',
      help: 'instead of --pred: predict the gold sentences with this S2E model (or run / best/) first',
    },
    ...PREDICT_FLAGS,
    'gold-format': {
      type: 'string',
      arg: 'F',
      help: 'gold format',
      default: 'auto',
      choices: ['auto', 'conll', 'conll2012', 'jsonl'],
    },
    'pred-format': {
      type: 'string',
      arg: 'F',
      help: 'prediction format (seq = entity sequences)',
      default: 'auto',
      choices: ['auto', 'conll', 'conll2012', 'jsonl', 'seq'],
    },
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
    'no-fallback': {
      type: 'boolean',
      help: 'seq: only exact (case-sensitive) matches when placing entities in the sentence',
    },
    json: { type: 'boolean', help: 'print the full report as JSON' },
    curve: {
      type: 'string',
      arg: 'FILE',
      help: '--model: write the precision-recall curve over the score thresholds as SVG (its folder must exist)',
    },
    reliability: {
      type: 'string',
      arg: 'FILE',
      help: '--model: write the reliability diagram (precision per score decile; before and after --calibrate) as SVG',
    },
    force: { type: 'boolean', help: 'overwrite an existing --curve or --reliability' },
    calibrate: {
      type: 'boolean',
      help: "--model: fit the scores' calibration on this (dev) gold and record it in the model's cyclener.json",
    },
    calibration: {
      type: 'string',
      arg: 'M',
      choices: ['beta', 'isotonic', 'temperature'],
      default: 'beta',
      help: 'with --calibrate: beta calibration (3 parameters, smooth, monotone), an isotonic map (a monotone step fit) or one temperature',
    },
    'record-threshold': {
      type: 'boolean',
      help: "--model: record the best-F1 threshold of the sweep in the model's cyclener.json (predict's default)",
    },
  },
  details: [
    "Exact scores are conlleval's (chunks by its IOB1/IOB2 rules, micro P/R/F1 over all mentions; macro = mean over gold types).",
    'The bag-of-mentions variant compares per sentence the multisets of (surface, type), ignoring positions.',
    'For entity-sequence predictions, entities that cannot be placed in the sentence count as wrong predictions.',
    "With --model every entity has a score: the report is at --threshold (default: the model's recorded threshold, else 0),",
    'followed by P/R/F1 at thresholds 0, 0.05, ..., 0.95 and the best-F1 threshold (searched in steps of 0.01).',
    "--calibrate fits a monotone map of the decoder's own probabilities p to right-vs-wrong: beta calibration",
    'sigmoid(a ln p - b ln(1-p) + c) by logistic regression (the default), an isotonic map (pool-adjacent-violators), or a',
    'temperature T (scores = p^(1/T), minimising the log-loss). Run it on dev data, never on a test split (refused).',
  ].join('\n'),
  async run(args, io: Io): Promise<number> {
    const f = args.flags;
    const goldFile = f.gold;
    const modelDir = f.model;
    if ((modelDir === undefined) === (f.pred === undefined))
      throw new UsageError('give exactly one of --pred FILE and --model DIR');
    const predFile = modelDir ?? (f.pred as string);
    const tuning = f.calibrate === true || f['record-threshold'] === true;
    if (!modelDir && (tuning || f.curve !== undefined || f.reliability !== undefined || f.threshold !== undefined))
      throw new UsageError(
        '--threshold, --curve, --reliability, --calibrate and --record-threshold need --model (scores come from it)',
      );
    if (tuning) {
      if (/(^|[/\\._-])test([/\\._-]|$)/i.test(path.basename(goldFile)))
        throw new UsageError(
          `--gold ${goldFile} looks like a test split; --calibrate and --record-threshold tune the model on dev data only`,
        );
      if (!fs.existsSync(modelDir as string))
        throw new UsageError('--calibrate and --record-threshold write into a local model folder, not a Hub id');
    }
    const plots: Record<string, string> = {};
    if (f.curve !== undefined) plots['--curve'] = f.curve;
    if (f.reliability !== undefined) plots['--reliability'] = f.reliability;
    if (Object.keys(plots).length > 0)
      claimOutputs(plots, { force: f.force === true, inputs: { '--gold': goldFile, '--model': modelDir } });
    const gold = readLabeledWithFlags(goldFile, f, f['gold-format']);
    let pf: string = f['pred-format'];
    let modelLines: string[] | undefined;
    let modelScores: number[][] | undefined;
    let issues: SentenceIssues[] | undefined;
    let score: ScoreSettings | undefined;
    let s2eDir: string | undefined;
    if (modelDir) {
      s2eDir = resolveS2EDir((await modelDirArg(modelDir, '--model', io)) as string);
      const p = await predictWithModelDir(
        s2eDir,
        gold.sentences.map((s) => s.text),
        {
          ...predictOptions(f),
          // Calibration fits on the decoder's own probabilities.
          ...(f.calibrate === true ? { temperature: 1 } : {}),
        },
      );
      modelLines = p.seqs;
      modelScores = p.scores;
      issues = p.issues;
      score = { ...p.score, threshold: f.threshold ?? p.score.threshold };
      pf = 'seq';
    } else if (pf === 'auto') {
      const sniffed = sniffFormat(predFile, readSequenceLines(predFile).join('\n'));
      pf = sniffed === 'q' ? 'seq' : sniffed === 'text' ? 'conll' : sniffed;
    }
    let sentences: EvalSentence[];
    const extra: Record<string, unknown> = { gold: goldFile, pred: predFile, predFormat: pf, goldScheme: gold.scheme };
    if (issues) extra.modelOutput = issueCounts(issues);
    const notes: string[] = [];
    let sweep: ThresholdRow[] | undefined;
    let rawOutcomes: { score: number; correct: number }[] | undefined;
    let rel: ReturnType<typeof reliability> | undefined;
    if (pf === 'seq') {
      const v = chooseVerbalizer(f, corpusLabels(gold), undefined, { warn: (l) => io.err(l), corpora: [gold] });
      const r = compareSequences(
        gold,
        predFile,
        modelLines ?? readSequenceLines(predFile),
        v,
        { fallback: f['no-fallback'] !== true },
        modelScores,
      );
      sentences = r.sentences;
      if (score && s2eDir) {
        const fittedOn = {
          gold: goldFile,
          sentences: gold.sentences.length,
          entities: sentences.reduce((n, x) => n + x.pred.length, 0),
        };
        if (f.calibrate === true) {
          const before = scoredOutcomes(sentences);
          rawOutcomes = before;
          const method = f.calibration;
          const T =
            method === 'temperature'
              ? fitTemperature(before.map((o) => ({ logProb: Math.max(Math.log(o.score), -700), correct: o.correct })))
              : 1;
          const map: ScoreMap | undefined =
            method === 'beta'
              ? { method, ...fitBeta(before) }
              : method === 'isotonic'
                ? { method, ...fitIsotonic(before) }
                : undefined;
          sentences = sentences.map((x) => ({
            gold: x.gold,
            pred: x.pred.map((m) => ({ ...m, score: entityScore(Math.log(m.score as number), T, map) })),
          }));
          const after = scoredOutcomes(sentences);
          // Recording one method clears another's value.
          recordScoreDefaults(s2eDir, { temperature: T, map, fittedOn });
          Object.assign(score, { temperature: T, map });
          const ece = (xs: typeof before) => reliability(xs).ece.toFixed(4);
          const what =
            map?.method === 'beta'
              ? `beta calibration (a ${map.a}, b ${map.b}, c ${map.c})`
              : map?.method === 'isotonic'
                ? `an isotonic map (${map.x.length} knots)`
                : `temperature ${T.toFixed(4)}`;
          notes.push(
            `calibrated: ${what} fitted on ${before.length} entities (${after.filter((o) => o.correct === 1).length} right); ECE ${ece(before)} -> ${ece(after)}; recorded in ${path.join(s2eDir, 'cyclener.json')}`,
          );
          extra.calibration = {
            method: f.calibration,
            temperature: T,
            ...(map ? { map } : {}),
            entities: before.length,
            eceBefore: reliability(before).ece,
            eceAfter: reliability(after).ece,
          };
        }
        rel = reliability(scoredOutcomes(sentences));
        extra.reliability = rel;
        if (f.reliability !== undefined) {
          const before = extra.calibration as { eceBefore: number } | undefined;
          const series = [{ name: before ? `calibrated (${f.calibration})` : 'scores', ...rel }];
          if (before) series.unshift({ name: 'raw', ...reliability(rawOutcomes ?? []) });
          atomicWriteFile(f.reliability, reliabilitySvg(series, `reliability: ${path.basename(goldFile)}`));
          notes.push(`reliability diagram written to ${f.reliability}`);
        }
        sweep = sweepThresholds(sentences, thresholdGrid(100));
        const best = bestF1(sweep);
        if (f['record-threshold'] === true) {
          recordScoreDefaults(s2eDir, { threshold: best.threshold, fittedOn });
          notes.push(`recorded threshold ${best.threshold} in ${path.join(s2eDir, 'cyclener.json')}`);
        }
        extra.thresholds = { threshold: score.threshold, temperature: score.temperature, best, sweep };
        if (f.curve !== undefined) {
          atomicWriteFile(
            f.curve,
            prCurveSvg(sweep, `precision-recall over score thresholds: ${path.basename(goldFile)}`),
          );
          notes.push(`precision-recall curve written to ${f.curve}`);
        }
        sentences = predictionsAbove(sentences, score.threshold);
      }
      Object.assign(extra, { alignment: r.align, malformedSequences: r.malformed, unknownTypeEntities: r.unknownType });
    } else {
      const pred: LabeledCorpus = readLabeledWithFlags(predFile, { ...f, scheme: undefined }, pf);
      sentences = compareCorpora(gold, pred);
      extra.predScheme = pred.scheme;
    }
    const report = evaluate(sentences);
    if (f.json === true) {
      io.out(JSON.stringify({ ...extra, ...report }, null, 2));
      for (const n of notes) io.err(n);
      return 0;
    }
    if (score && (score.threshold > 0 || scoreCalibration(score) !== 'none'))
      io.out(
        `entities scored below ${score.threshold} dropped (scores calibrated by ${score.map ? `a ${score.map.method} map` : `temperature ${score.temperature}`})\n`,
      );
    io.out(formatReport(report));
    if (pf === 'seq') {
      const a = extra.alignment as {
        entities: number;
        exact: number;
        fallback: number;
        outOfOrder: number;
        hallucinated: number;
        partialToken: number;
      };
      io.out(
        `\nalignment of generated entities: ${a.entities} with known types; ${a.exact} exact, ${a.fallback} case/space fallback, ${a.outOfOrder} out of order, ${a.partialToken} inside a token, ${a.hallucinated} not found (hallucinated); ${String(extra.malformedSequences)} malformed sequences; ${String(extra.unknownTypeEntities)} entities of unknown type`,
      );
    }
    if (issues) io.out(`model output: ${issueSummary(issues)}`);
    if (sweep) {
      const pct = (x: number) => (100 * x).toFixed(2).padStart(6);
      io.out('\nthreshold  precision  recall     F1  predicted');
      for (const r of sweep.filter((_, i) => i % 5 === 0 && i < 100))
        io.out(
          `${r.threshold.toFixed(2).padStart(9)}  ${pct(r.precision).padStart(9)}  ${pct(r.recall)} ${pct(r.f1)}  ${String(r.pred).padStart(9)}`,
        );
      const b = bestF1(sweep);
      io.out(
        `best F1 ${pct(b.f1).trim()} at threshold ${b.threshold} (P ${pct(b.precision).trim()}, R ${pct(b.recall).trim()}; thresholds in steps of 0.01)`,
      );
    }
    if (rel) {
      io.out(`\nscore decile  entities  mean score  precision   (expected calibration error ${rel.ece.toFixed(4)})`);
      for (const b of rel.bins)
        io.out(
          `${`[${b.lo.toFixed(1)}, ${b.hi.toFixed(1)}${b.hi === 1 ? ']' : ')'}`.padEnd(12)}  ${String(b.count).padStart(8)}  ${b.count > 0 ? b.meanScore.toFixed(3).padStart(10) : '         -'}  ${b.count > 0 ? b.precision.toFixed(3).padStart(9) : '        -'}`,
        );
    }
    for (const n of notes) io.out(n);
    return 0;
  },
});
