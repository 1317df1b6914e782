// `cyclener baseline lexical`: the paper's Lexical Matcher (gazetteer from Q, longest match),
// scored like every other system.

import { Gazetteer, scoreLexicalMatcher } from '../../baselines/lexical-matcher';
import { jsonlRecord, readQFile } from '../../data/readers';
import { formatReport } from '../../eval/report';
import { registerCommand, type Io } from '../registry';
import { writeLines } from '../../util/fs';
import { claimOutputs } from '../../util/output';
import {
  chooseVerbalizer,
  corpusLabels,
  offsetsOf,
  READER_FLAGS,
  readLabeledWithFlags,
  VERBALIZER_FLAGS,
} from '../common';

registerCommand({
  name: 'baseline lexical',
  summary: "run the paper's Lexical Matcher (gazetteer from a Q file) on a labelled file and score it",
  flags: {
    q: { type: 'string', arg: 'FILE', help: 'Q file whose entity sequences form the gazetteer', required: true },
    gold: {
      type: 'string',
      arg: 'FILE',
      help: 'labelled sentences to tag and score (train or dev, never tuned on test)',
      required: true,
    },
    'gold-format': {
      type: 'string',
      arg: 'F',
      help: 'gold format',
      default: 'auto',
      choices: ['auto', 'conll', 'conll2012', 'jsonl'],
    },
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
    out: {
      type: 'string',
      arg: 'FILE',
      help: 'write the predictions as JSONL (character offsets; its folder must exist)',
    },
    force: { type: 'boolean', help: 'overwrite an existing --out' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  details:
    'Each Q surface maps to its most frequent type; matching is case-sensitive, over whole tokens, longest first, left to right.',
  run(args, io: Io): number {
    const f = args.flags;
    if (f.out)
      claimOutputs(
        { '--out': f.out },
        { force: f.force === true, inputs: { '--q': f.q, '--gold': f.gold, '--verbalizer': f.verbalizer } },
      );
    const gold = readLabeledWithFlags(f.gold, f, f['gold-format']);
    const v = chooseVerbalizer(f, corpusLabels(gold), undefined, { warn: (l) => io.err(l), corpora: [gold] });
    const q = readQFile(f.q, v.wordSet());
    const g = new Gazetteer(q);
    const { preds, report } = scoreLexicalMatcher(g, gold, v);
    if (f.out)
      writeLines(
        f.out,
        preds.map((p, i) => jsonlRecord({ text: gold.sentences[i]!.text, entities: p }, offsetsOf(f))),
      );
    const head = { q: f.q, gold: f.gold, qSequences: q.length, gazetteerEntries: g.size };
    if (f.json === true) {
      io.out(JSON.stringify({ ...head, ...report }, null, 2));
      return 0;
    }
    io.out(`Lexical Matcher: gazetteer of ${g.size} surfaces from ${q.length} sequences in ${head.q}\n`);
    io.out(formatReport(report));
    return 0;
  },
});
