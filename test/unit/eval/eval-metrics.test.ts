import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conllevalChunks } from '../../../src/data/tags';
import {
  bagScores,
  conllevalStream,
  errorBreakdown,
  evaluate,
  exactScores,
  type EvalSentence,
} from '../../../src/eval/metrics';
import { formatReport } from '../../../src/eval/report';
import { Rng } from '../../../src/util/rng';
import { readJsonlText } from '../../../src/data/readers';
import { defaultVerbalizer } from '../../../src/data/verbalizer';
import { compareSequences } from '../../../src/eval/compare';

const fromTags = (gold: string[], pred: string[]): EvalSentence => ({
  gold: conllevalChunks(gold),
  pred: conllevalChunks(pred),
});

// Hand-computed case mixing conlleval corner cases (gold IOB1, predictions IOB2):
//  s1 gold I-PER I-PER O I-LOC B-LOC O -> PER[0,2) LOC[3,4) LOC[4,5)   (B- after I- of same type)
//     pred B-PER I-PER O B-LOC I-LOC O -> PER[0,2) LOC[3,5)
//  s2 gold O I-ORG I-MISC O            -> ORG[1,2) MISC[2,3)          (type change inside a chunk)
//     pred O B-ORG I-ORG O             -> ORG[1,3)
//  s3 gold I-PER O / pred I-PER O      -> PER[0,1) both                (I- at sentence start)
// gold 6, pred 4, correct 2 (both PER) -> P 0.5, R 1/3, F1 0.4
const GOLD = [
  ['I-PER', 'I-PER', 'O', 'I-LOC', 'B-LOC', 'O'],
  ['O', 'I-ORG', 'I-MISC', 'O'],
  ['I-PER', 'O'],
];
const PRED = [
  ['B-PER', 'I-PER', 'O', 'B-LOC', 'I-LOC', 'O'],
  ['O', 'B-ORG', 'I-ORG', 'O'],
  ['I-PER', 'O'],
];

test('exact scores on a hand-computed case with conlleval corner cases', () => {
  const t = exactScores(GOLD.map((g, i) => fromTags(g, PRED[i]!)));
  assert.deepEqual({ c: t.micro.correct, p: t.micro.pred, g: t.micro.gold }, { c: 2, p: 4, g: 6 });
  assert.equal(t.micro.precision, 0.5);
  assert.ok(Math.abs(t.micro.recall - 1 / 3) < 1e-12);
  assert.ok(Math.abs(t.micro.f1 - 0.4) < 1e-12);
  const row = (ty: string) => t.perType.find((r) => r.type === ty)!;
  assert.deepEqual([row('PER').precision, row('PER').recall, row('PER').f1], [1, 1, 1]);
  assert.deepEqual([row('LOC').gold, row('LOC').pred, row('LOC').correct], [2, 1, 0]);
  assert.deepEqual([row('MISC').gold, row('MISC').pred, row('MISC').f1], [1, 0, 0]);
  assert.equal(t.macro.f1, 0.25); // (1 + 0 + 0 + 0) / 4 gold types
});

test('the line-by-line conlleval port agrees on the hand-computed case', () => {
  const c = conllevalStream(GOLD, PRED);
  assert.deepEqual([c.correctChunk, c.foundGuessed, c.foundCorrect], [2, 4, 6]);
  assert.equal(c.tokens, 12);
  // identical tag strings: s1 I-PER, O, O (3); s2 O, O (2); s3 I-PER, O (2)
  assert.equal(c.correctTags, 7);
});

test('span matching equals the conlleval loop on random tag sequences', () => {
  const rng = new Rng(11);
  const alphabet = ['O', 'O', 'O', 'B-A', 'I-A', 'B-B', 'I-B'];
  for (let trial = 0; trial < 300; trial++) {
    const gold: string[][] = [],
      pred: string[][] = [];
    for (let s = 0; s < 4; s++) {
      const n = 1 + rng.int(8);
      gold.push(Array.from({ length: n }, () => alphabet[rng.int(alphabet.length)]!));
      pred.push(Array.from({ length: n }, () => alphabet[rng.int(alphabet.length)]!));
    }
    const stream = conllevalStream(gold, pred);
    const spans = exactScores(gold.map((g, i) => fromTags(g, pred[i]!)));
    assert.deepEqual(
      [spans.micro.correct, spans.micro.pred, spans.micro.gold],
      [stream.correctChunk, stream.foundGuessed, stream.foundCorrect],
      JSON.stringify({ gold, pred }),
    );
    for (const r of spans.perType) {
      const c = stream.perType.get(r.type) ?? { correct: 0, pred: 0, gold: 0 };
      assert.deepEqual([r.correct, r.pred, r.gold], [c.correct, c.pred, c.gold]);
    }
  }
});

test('bag of mentions ignores positions but respects multiplicity', () => {
  const s: EvalSentence = {
    gold: [
      { start: 0, end: 1, label: 'LOC', surface: 'Paris' },
      { start: 4, end: 5, label: 'LOC', surface: 'Paris' },
      { start: 6, end: 7, label: 'PER', surface: 'Bob' },
    ],
    pred: [
      { start: 2, end: 3, label: 'LOC', surface: 'Paris' },
      { start: 5, end: 6, label: 'LOC', surface: 'Paris' },
      { start: 7, end: 8, label: 'LOC', surface: 'Paris' },
      { start: 6, end: 7, label: 'ORG', surface: 'Bob' },
    ],
  };
  const b = bagScores([s]);
  assert.deepEqual([b.micro.correct, b.micro.pred, b.micro.gold], [2, 4, 3]);
  assert.equal(exactScores([s]).micro.correct, 0);
});

test('error breakdown classes', () => {
  const s: EvalSentence = {
    gold: [
      { start: 0, end: 2, label: 'PER' },
      { start: 3, end: 4, label: 'LOC' },
      { start: 5, end: 7, label: 'ORG' },
      { start: 8, end: 9, label: 'MISC' },
      { start: 10, end: 11, label: 'PER' },
    ],
    pred: [
      { start: 0, end: 2, label: 'PER' }, // correct
      { start: 3, end: 4, label: 'ORG' }, // wrong type
      { start: 5, end: 6, label: 'ORG' }, // wrong boundary
      { start: 7, end: 9, label: 'LOC' }, // overlaps MISC only with other type and boundary
      { start: 12, end: 13, label: 'PER' }, // spurious
      { start: -1, end: -1, label: 'PER' }, // unplaceable (hallucinated) prediction
    ],
  };
  assert.deepEqual(errorBreakdown([s]), {
    correct: 1,
    wrongType: 1,
    wrongBoundary: 1,
    wrongBoundaryAndType: 1,
    spurious: 2,
    missed: 1,
  });
});

test('sentences-with-entities variant drops sentences without gold mentions', () => {
  const sents: EvalSentence[] = [
    {
      gold: [{ start: 0, end: 1, label: 'PER', surface: 'A' }],
      pred: [{ start: 0, end: 1, label: 'PER', surface: 'A' }],
    },
    { gold: [], pred: [{ start: 0, end: 1, label: 'PER', surface: 'B' }] },
  ];
  const r = evaluate(sents);
  assert.equal(r.exact.micro.precision, 0.5);
  assert.equal(r.withEntitiesOnly.sentences, 1);
  assert.equal(r.withEntitiesOnly.exact.micro.precision, 1);
  assert.match(formatReport(r), /micro\s+0\.500\s+1\.000\s+0\.667\s+1\s+2\s+1/);
});

test('no predictions and no gold give zeros, not NaN', () => {
  const r = evaluate([{ gold: [], pred: [] }]);
  assert.deepEqual([r.exact.micro.precision, r.exact.micro.recall, r.exact.micro.f1, r.exact.macro.f1], [0, 0, 0, 0]);
});

test('a dangling surface in a generated sequence (a name without a type) counts as a wrong prediction', () => {
  // Gold: John PER, Narnia LOC. Predicted: John person (right) and "Narnia <sep>" / "Narnia" (no type: wrong).
  // exact and bag: correct 1, pred 2, gold 2 -> P 1/2, R 1/2, F1 1/2 (not P 1, F1 2/3 as if Narnia were not said).
  const gold = readJsonlText(
    'gold.jsonl',
    JSON.stringify({
      text: 'John visited Narnia',
      entities: [
        { start: 0, end: 4, label: 'PER' },
        { start: 13, end: 19, label: 'LOC' },
      ],
    }),
  );
  for (const line of ['John <sep> person <sep> Narnia <sep>', 'John <sep> person <sep> Narnia']) {
    const cmp = compareSequences(gold, 'pred.txt', [line], defaultVerbalizer('conll2003'));
    const r = evaluate(cmp.sentences);
    for (const t of [r.exact, r.bag]) {
      assert.deepEqual(
        { c: t.micro.correct, p: t.micro.pred, g: t.micro.gold },
        { c: 1, p: 2, g: 2 },
        `${line}: ${JSON.stringify(t.micro)}`,
      );
      assert.equal(t.micro.precision, 0.5);
      assert.equal(t.micro.recall, 0.5);
      assert.equal(t.micro.f1, 0.5);
    }
    assert.equal(cmp.malformed, 1);
    assert.equal(r.errors.spurious, 1);
  }
});
