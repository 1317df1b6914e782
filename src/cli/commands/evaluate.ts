// `cyclener evaluate --gold FILE --pred FILE`: conlleval-exact scores, bag of mentions, error
// breakdown and the sentences-with-entities variant, as a table or JSON.

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
  },
  details: [
    "Exact scores are conlleval's (chunks by its IOB1/IOB2 rules, micro P/R/F1 over all mentions; macro = mean over gold types).",
    'The bag-of-mentions variant compares per sentence the multisets of (surface, type), ignoring positions.',
    'For entity-sequence predictions, entities that cannot be placed in the sentence count as wrong predictions.',
  ].join('\n'),
  async run(args, io: Io): Promise<number> {
    const f = args.flags;
    const goldFile = f.gold;
    const modelDir = f.model;
    if ((modelDir === undefined) === (f.pred === undefined))
      throw new UsageError('give exactly one of --pred FILE and --model DIR');
    const predFile = modelDir ?? (f.pred as string);
    const gold = readLabeledWithFlags(goldFile, f, f['gold-format']);
    let pf: string = f['pred-format'];
    let modelLines: string[] | undefined;
    let issues: SentenceIssues[] | undefined;
    if (modelDir) {
      const p = await predictWithModelDir(
        (await modelDirArg(modelDir, '--model', io)) as string,
        gold.sentences.map((s) => s.text),
        predictOptions(f),
      );
      modelLines = p.seqs;
      issues = p.issues;
      pf = 'seq';
    } else if (pf === 'auto') {
      const sniffed = sniffFormat(predFile, readSequenceLines(predFile).join('\n'));
      pf = sniffed === 'q' ? 'seq' : sniffed === 'text' ? 'conll' : sniffed;
    }
    let sentences: EvalSentence[];
    const extra: Record<string, unknown> = { gold: goldFile, pred: predFile, predFormat: pf, goldScheme: gold.scheme };
    if (issues) extra.modelOutput = issueCounts(issues);
    if (pf === 'seq') {
      const v = chooseVerbalizer(f, corpusLabels(gold), undefined, { warn: (l) => io.err(l), corpora: [gold] });
      const r = compareSequences(gold, predFile, modelLines ?? readSequenceLines(predFile), v, {
        fallback: f['no-fallback'] !== true,
      });
      sentences = r.sentences;
      Object.assign(extra, { alignment: r.align, malformedSequences: r.malformed, unknownTypeEntities: r.unknownType });
    } else {
      const pred: LabeledCorpus = readLabeledWithFlags(predFile, { ...f, scheme: undefined }, pf);
      sentences = compareCorpora(gold, pred);
      extra.predScheme = pred.scheme;
    }
    const report = evaluate(sentences);
    if (f.json === true) {
      io.out(JSON.stringify({ ...extra, ...report }, null, 2));
      return 0;
    }
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
    return 0;
  },
});
