import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { groundingHook, sentenceTokens, SpanConstraint, typeTokenSeqs } from '../../../src/cycle/grounding';
import { Direction } from '../../../src/cycle/seq2seq';
import { typesOf, collapseStats } from '../../../src/cycle/trainer';
import { fragmentSequence } from '../../../src/cycle/warmup';
import { EpochOrder } from '../../../src/cycle/order';
import { lossF1Svg, pearson } from '../../../src/cycle/plot';
import { wordTokenizerJson } from '../../../src/demo/synthetic';
import { presetConfig } from '../../../src/t5/config';
import { T5ForConditionalGeneration } from '../../../src/t5/model';
import { T5Tokenizer } from '../../../src/t5/tokenizer';

const words = [
  'Ann',
  'Lee',
  'visited',
  'Paris',
  'Paris-based',
  'last',
  'week',
  '.',
  'person',
  'location',
  'work',
  'of',
  'art',
  'entities:',
];
const tok = T5Tokenizer.fromJSON(wordTokenizerJson(words));
const id = (w: string) => tok.inner.tokenToId(w) as number;

test('span constraint: spans start at words, then <sep>, a known type, then <sep> or </s>', async () => {
  const [s] = await sentenceTokens(tok, ['Ann Lee visited Paris last week .']);
  const types = await typeTokenSeqs(tok, ['person', 'work of art']);
  const c = new SpanConstraint(s!, types, tok.sepId, tok.eosId);
  const set = (p: number[]) => new Set(c.allowed(Int32Array.from(p)));
  const start = set([]);
  assert.ok(start.has(tok.eosId), 'the empty sequence is allowed at inference');
  for (const w of ['Ann', 'Lee', 'visited', 'Paris']) assert.ok(start.has(id(w)), w);
  assert.ok(!start.has(id('.')), 'a span never starts on punctuation: "." alone would name nothing');
  assert.ok(!start.has(tok.sepId));
  assert.deepEqual(set([id('Ann')]), new Set([id('Lee'), tok.sepId]));
  assert.deepEqual(set([id('Ann'), tok.sepId]), new Set([id('person'), id('work')]));
  assert.deepEqual(set([id('Ann'), tok.sepId, id('work')]), new Set([id('of')]));
  assert.deepEqual(set([id('Ann'), tok.sepId, id('person')]), new Set([tok.sepId, tok.eosId]));
  const again = set([id('Ann'), tok.sepId, id('person'), tok.sepId]);
  assert.ok(!again.has(tok.eosId), 'no trailing <sep> before </s>');
  assert.ok(again.has(id('Paris')));
  assert.ok(!again.has(id('Ann')), 'entities follow sentence order without overlap');
  // After the last word there is nothing left to extract: a complete type may only end the sequence.
  assert.deepEqual(set([id('week'), tok.sepId, id('person')]), new Set([tok.eosId]));
  const noEmpty = new SpanConstraint(s!, types, tok.sepId, tok.eosId, { allowEmpty: false });
  assert.ok(!new Set(noEmpty.allowed(new Int32Array(0))).has(tok.eosId));
});

test('word starts from SentencePiece offsets: pieces inside a word never start a span', async () => {
  const spm = T5Tokenizer.fromDir(path.join(__dirname, '..', '..', '..', '..', 'models', 'base-news-11m')).withSep();
  const text = 'EU rejects Paris-based call .';
  const [s] = await sentenceTokens(spm, [text]);
  const pieces = s!.ids.map((i) => spm.inner.idToToken(i));
  const starts = pieces.filter((_, i) => s!.wordStart[i]).map((p) => p ?? '');
  assert.deepEqual(
    starts.map((p) => p.startsWith('▁')),
    starts.map(() => true),
  );
  // A surface tokenised on its own has the sentence's sub-tokens (what the trie relies on).
  // Spans may end before punctuation inside a word ("Paris" of "Paris-based") but not inside letters.
  const ends = pieces.filter((_, i) => s!.canEnd![i]);
  assert.ok(ends.includes('▁Paris'));
  assert.ok(!ends.includes('▁reject'), `"rejects" is not cut: ${pieces.join(' ')}`);
  const alone = await spm.encode('Paris', { addEos: false });
  const at = s!.ids.indexOf(alone[0]!);
  assert.ok(at >= 0 && s!.wordStart[at]);
});

test('grounded generation from a random model yields only well-formed spans of the input', async () => {
  const model = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize, dropoutRate: 0 }), {
    seed: 3,
  });
  try {
    const dir = new Direction(model, tok, 'entities: ', { maxSourceTokens: 64, maxTargetTokens: 64 });
    const sents = ['Ann Lee visited Paris last week .', 'Paris visited Ann .'];
    const before = T.liveTensors();
    const hook = await groundingHook(tok, sents, ['person', 'location']);
    const outs = await dir.generate(sents, { maxNewTokens: 40 }, hook);
    assert.equal(T.liveTensors(), before, 'generation leaks no tensors');
    assert.equal(outs.length, 2);
    outs.forEach((o, i) => {
      const fields = o === '' ? [] : o.split(' <sep> ');
      fields.forEach((x, k) => {
        if (k % 2 === 0)
          assert.ok(` ${sents[i]} `.includes(` ${x} `), `"${x}" is a span of "${sents[i]}" (output "${o}")`);
        else assert.ok(['person', 'location'].includes(x), `"${x}" is a known type (output "${o}")`);
      });
    });
  } finally {
    model.dispose();
  }
});

test('helpers: types of Q, collapse statistics, fragments, seeded epoch order', () => {
  assert.deepEqual(typesOf(['A <sep> person <sep> B <sep> location', '', 'C <sep> person']), ['location', 'person']);
  const c = collapseStats(['x', 'x', 'x', '']);
  assert.equal(c.top, 'x');
  assert.equal(c.topShare, 0.75);
  assert.equal(c.emptyShare, 0.25);
  assert.equal(
    fragmentSequence('the Big Apple met Ann in May .'),
    'Big Apple <sep> entity <sep> Ann <sep> entity <sep> May <sep> entity',
  );
  assert.equal(fragmentSequence('nothing here .'), '');
  const o = new EpochOrder(5, 'S', 7);
  const e0 = Array.from({ length: 14 }, (_, k) => o.at(0, k));
  assert.deepEqual([...e0.slice(0, 7)].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...e0.slice(7)].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assert.notDeepEqual(
    e0.slice(0, 7),
    Array.from({ length: 7 }, (_, k) => o.at(1, k)),
    'reshuffled each epoch',
  );
  assert.deepEqual(
    e0,
    Array.from({ length: 14 }, (_, k) => new EpochOrder(5, 'S', 7).at(0, k)),
    'a function of the seed',
  );
});

test('plot: Pearson correlation and an SVG with the three curves', () => {
  assert.ok(Math.abs((pearson([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]) as number) - 1) < 1e-12);
  assert.ok(Math.abs((pearson([1, 2, 3, 4], [0.4, 0.3, 0.2, 0.1]) as number) + 1) < 1e-12);
  assert.equal(pearson([1, 2], [1, 2]), null);
  const svg = lossF1Svg(
    [
      { epoch: 1, devSLoss: 2, devELoss: 1, devF1: 0.2 },
      { epoch: 2, devSLoss: 1.5, devELoss: 0.8, devF1: 0.3 },
      { epoch: 3, devSLoss: 1.4, devELoss: 0.7, devF1: 0.35 },
    ],
    'run',
  );
  assert.match(svg, /^<svg/);
  assert.equal((svg.match(/<path /g) ?? []).length, 3);
  assert.match(svg, /Pearson E-loss vs F1: -1\.00/);
});
