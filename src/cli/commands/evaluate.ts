// `cyclener evaluate --gold FILE --pred FILE | --model DIR`: the flags of the library's `evaluate` (src/api/evaluate.ts),
// its report printed as a table or JSON, and the curve / reliability SVGs written.

import * as fs from 'node:fs';
import {
  evaluate,
  evaluationJson,
  formatEvaluation,
  looksLikeTestSplit,
  type CalibrationMethod,
} from '../../api/evaluate';
import { registerCommand, type Io } from '../registry';
import { predictOptions, PREDICT_FLAGS } from '../predict-flags';
import { UsageError } from '../args';
import { modelDirArg } from '../model-arg';
import { chooseVerbalizer, READER_FLAGS, readLabeledWithFlags, readOptionsOf, VERBALIZER_FLAGS } from '../common';
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
    const modelArg = f.model;
    if ((modelArg === undefined) === (f.pred === undefined))
      throw new UsageError('give exactly one of --pred FILE and --model DIR');
    const tuning = f.calibrate === true || f['record-threshold'] === true;
    if (!modelArg && (tuning || f.curve !== undefined || f.reliability !== undefined || f.threshold !== undefined))
      throw new UsageError(
        '--threshold, --curve, --reliability, --calibrate and --record-threshold need --model (scores come from it)',
      );
    if (tuning) {
      if (looksLikeTestSplit(goldFile))
        throw new UsageError(
          `--gold ${goldFile} looks like a test split; --calibrate and --record-threshold tune the model on dev data only`,
        );
      if (!fs.existsSync(modelArg as string))
        throw new UsageError('--calibrate and --record-threshold write into a local model folder, not a Hub id');
    }
    const plots: Record<string, string> = {};
    if (f.curve !== undefined) plots['--curve'] = f.curve;
    if (f.reliability !== undefined) plots['--reliability'] = f.reliability;
    if (Object.keys(plots).length > 0)
      claimOutputs(plots, { force: f.force === true, inputs: { '--gold': goldFile, '--model': modelArg } });
    const gold = readLabeledWithFlags(goldFile, f, f['gold-format']);
    const model = modelArg === undefined ? undefined : ((await modelDirArg(modelArg, '--model', io)) as string);
    const p = model === undefined ? undefined : predictOptions(f);
    const r = await evaluate({
      gold,
      ...(model !== undefined ? { model, modelName: modelArg } : { pred: f.pred as string }),
      predFormat: f['pred-format'] as 'auto',
      read: readOptionsOf(f),
      verbalizer: (labels) => chooseVerbalizer(f, labels, undefined, { warn: (l) => io.err(l), corpora: [gold] }),
      fallback: f['no-fallback'] !== true,
      ...(p
        ? {
            batchSize: p.batch,
            precision: p.precision,
            ...(p.grounded !== undefined ? { grounded: p.grounded } : {}),
            ...(p.maxNewTokens !== undefined ? { maxNewTokens: p.maxNewTokens } : {}),
            ...(p.numBeams !== undefined ? { numBeams: p.numBeams } : {}),
          }
        : {}),
      ...(f.threshold !== undefined ? { threshold: f.threshold } : {}),
      calibrate: f.calibrate === true,
      calibration: f.calibration as CalibrationMethod,
      recordThreshold: f['record-threshold'] === true,
      curve: f.curve !== undefined,
      reliabilityDiagram: f.reliability !== undefined,
    });
    const notes: string[] = [];
    if (r.notes.calibration) notes.push(r.notes.calibration);
    if (f.reliability !== undefined && r.svg.reliability !== undefined) {
      atomicWriteFile(f.reliability, r.svg.reliability);
      notes.push(`reliability diagram written to ${f.reliability}`);
    }
    if (r.notes.threshold) notes.push(r.notes.threshold);
    if (f.curve !== undefined && r.svg.curve !== undefined) {
      atomicWriteFile(f.curve, r.svg.curve);
      notes.push(`precision-recall curve written to ${f.curve}`);
    }
    if (f.json === true) {
      io.out(JSON.stringify(evaluationJson(r), null, 2));
      for (const n of notes) io.err(n);
      return 0;
    }
    for (const l of formatEvaluation(r)) io.out(l);
    for (const n of notes) io.out(n);
    return 0;
  },
});
