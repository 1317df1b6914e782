import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/data/rng';
import {
  capitalisedFragments, draftExample, parseMixture, randomFragments, randomSpansNoiseMask, reconstructSpans, roundHalfEven,
  serialise, spanCorrupt, splitSentences, wordsWithSpans,
} from '../src/pretrain';

const S0 = 1099; // <extra_id_0> of a 1,000-piece vocabulary + 100 sentinels
const EOS = 1;

function spans(mask: boolean[]): { noise: number[]; nonNoise: number[] } {
  const noise: number[] = [];
  const nonNoise: number[] = [];
  let i = 0;
  while (i < mask.length) {
    let j = i;
    while (j < mask.length && mask[j] === mask[i]) j++;
    (mask[i] ? noise : nonNoise).push(j - i);
    i = j;
  }
  return { noise, nonNoise };
}

test('roundHalfEven rounds like Python 3 and tf.round', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 4.5, 2.4, 2.6, 7].map(roundHalfEven), [0, 2, 2, 4, 2, 3, 7]);
});

test('noise mask: exact noise count, span count, non-noise first, T5 reference numbers', () => {
  const rng = new Rng(42);
  for (const len of [2, 3, 4, 10, 20, 30, 57, 114, 127]) {
    for (let rep = 0; rep < 20; rep++) {
      const m = randomSpansNoiseMask(len, rng);
      const numNoise = Math.min(Math.max(roundHalfEven(len * 0.15), 1), len - 1);
      assert.equal(m.filter(Boolean).length, numNoise, `len ${len}`);
      const expSpans = Math.min(Math.max(roundHalfEven(numNoise / 3), 1), numNoise, len - numNoise);
      const s = spans(m);
      assert.equal(s.noise.length, expSpans, `len ${len}: noise spans`);
      assert.equal(m[0], false, 'starts with non-noise');
      assert.equal(m[len - 1], true, 'ends with a noise span (interleaved pairs, as T5)');
    }
  }
  // 114 tokens (T5's 512-token setting scaled): round(17.1)=17 noise tokens in round(5.67)=6 spans.
  const s = spans(randomSpansNoiseMask(114, new Rng(1)));
  assert.equal(s.noise.reduce((a, b) => a + b, 0), 17);
  assert.equal(s.noise.length, 6);
});

test('noise mask statistics over many draws: density 0.15, mean span length ~3', () => {
  const rng = new Rng(7);
  let noise = 0, total = 0, spanCount = 0;
  for (let i = 0; i < 2000; i++) {
    const m = randomSpansNoiseMask(100, rng);
    noise += m.filter(Boolean).length;
    total += m.length;
    spanCount += spans(m).noise.length;
  }
  assert.equal(noise / total, 0.15);
  const meanSpan = noise / spanCount;
  assert.ok(Math.abs(meanSpan - 3) < 0.1, `mean span length ${meanSpan}`);
});

test('noise mask is reproducible from the seed', () => {
  assert.deepEqual(randomSpansNoiseMask(50, new Rng(3)), randomSpansNoiseMask(50, new Rng(3)));
  assert.notDeepEqual(randomSpansNoiseMask(50, new Rng(3)), randomSpansNoiseMask(50, new Rng(4)));
});

test('span corruption: sentinels in order from <extra_id_0>, targets sentinel-delimited, EOS, exact reconstruction', () => {
  const ids = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const mask = [false, true, true, false, false, true, false, false, true, true];
  const { source, target } = spanCorrupt(ids, mask, S0, EOS);
  assert.deepEqual(source, [10, S0, 13, 14, S0 - 1, 16, 17, S0 - 2, EOS]);
  assert.deepEqual(target, [S0, 11, 12, S0 - 1, 15, S0 - 2, 18, 19, EOS]);
  const rng = new Rng(11);
  for (let i = 0; i < 200; i++) {
    const len = 4 + rng.int(120);
    const x = Array.from({ length: len }, () => 3 + rng.int(900));
    const ex = spanCorrupt(x, randomSpansNoiseMask(len, rng), S0, EOS);
    assert.deepEqual(reconstructSpans(ex.source, ex.target, S0, 100, EOS), x);
    const sentinels = ex.source.filter((t) => t > 999 && t <= S0);
    assert.deepEqual(sentinels, sentinels.map((_, k) => S0 - k), 'sentinels count down from <extra_id_0>');
    assert.deepEqual(ex.target.filter((t) => t > 999 && t <= S0), sentinels);
    assert.equal(ex.source.at(-1), EOS);
    assert.equal(ex.target.at(-1), EOS);
  }
});

test('sentence splitting as the GPU script: after .!? before a capital/quote, 10..600 characters', () => {
  assert.deepEqual(splitSentences('  The U.S. economy grew. "It is fine," he said! Short. (Really) it is 3.5 percent?  '),
    ['The U.S. economy grew.', '"It is fine," he said!', '(Really) it is 3.5 percent?']);
  assert.deepEqual(splitSentences('x'.repeat(601)), []);
  assert.deepEqual(splitSentences(''), []);
  assert.equal(splitSentences('prices rose 3.5 percent in May.')[0], 'prices rose 3.5 percent in May.');
});

test('word spans follow the Python WORD_RE', () => {
  assert.deepEqual(wordsWithSpans("O'Neill's AT&T co-op, U.S. ($5)").map((w) => w.word), ["O'Neill's", 'AT&T', 'co-op', ',', 'U.S', '.', '(', '$', '5', ')']);
});

test('capitalised fragments on hand-made sentences', () => {
  const f = (s: string) => capitalisedFragments(s).map(([a, b]) => s.slice(a, b));
  assert.deepEqual(f('Angela Merkel met officials of the Bank of England in New York on Monday.'), ['Angela Merkel', 'Bank of England', 'New York', 'Monday']);
  assert.deepEqual(f('Yesterday the market fell.'), [], 'a lone sentence-initial capital is skipped');
  assert.deepEqual(f('The European Union said so.'), ['European Union'], 'leading function word stripped');
  assert.deepEqual(f('He met Tom and Jerry at Procter & Gamble.'), ['Tom and Jerry', 'Procter & Gamble']);
  assert.deepEqual(f('talks in São Paulo ended'), ['São Paulo']);
});

test('random fragments: 1-3 word non-overlapping spans in order', () => {
  const s = 'the quick brown fox jumps over the lazy dog near the river bank today';
  const rng = new Rng(5);
  for (let i = 0; i < 100; i++) {
    const fr = randomFragments(s, rng);
    assert.ok(fr.length >= 1 && fr.length <= 3);
    for (let k = 0; k < fr.length; k++) {
      const words = s.slice(fr[k]![0], fr[k]![1]).split(' ');
      assert.ok(words.length >= 1 && words.length <= 3);
      if (k > 0) assert.ok(fr[k]![0] > fr[k - 1]![1]);
    }
  }
  assert.deepEqual(randomFragments('two words', rng), []);
});

test('objective drafts: prefixes and formats', () => {
  const docs = [['Angela Merkel visited Paris on Monday with the Bank of England chief.', 'It rained in the afternoon and the talks went on for a long time.']];
  const rng = new Rng(9);
  const sent2frag = draftExample('sent2frag', [[docs[0]![0]!]], rng)!;
  assert.deepEqual(sent2frag, { kind: 'pair', objective: 'sent2frag', source: 'entities: ' + docs[0]![0], target: serialise([['Angela Merkel', 'entity'], ['Paris', 'entity'], ['Monday', 'entity'], ['Bank of England', 'entity']]) });
  assert.equal(serialise([['A B', 'person'], ['C', 'location']]), 'A B <sep> person <sep> C <sep> location');
  for (let i = 0; i < 50; i++) {
    const d = draftExample('denoise', docs, rng)!;
    assert.equal(d.kind, 'pair');
    if (d.kind === 'pair') {
      assert.ok(d.source.startsWith('denoise: '));
      assert.ok(docs[0]!.includes(d.target));
      const kept = d.source.slice(9).split(' ').filter((w) => w !== '<extra_id_0>');
      assert.ok(kept.every((w) => d.target.split(' ').includes(w)));
    }
    const e = draftExample('frag2sent', docs, rng)!;
    if (e.kind === 'pair') {
      assert.ok(e.source.startsWith('sentence: '));
      assert.ok(docs[0]!.includes(e.target));
    }
    const s = draftExample('span', docs, rng)!;
    assert.equal(s.kind, 'span');
  }
});

test('mixture parsing', () => {
  assert.deepEqual(parseMixture('span=0.3,denoise=0.2,frag2sent=0.25,sent2frag=0.25'), [['span', 0.3], ['denoise', 0.2], ['frag2sent', 0.25], ['sent2frag', 0.25]]);
  assert.deepEqual(parseMixture('span'), [['span', 1]]);
  assert.deepEqual(parseMixture('span=1,denoise=0'), [['span', 1]]);
  assert.throws(() => parseMixture('spam=1'), /unknown objective/);
  assert.throws(() => parseMixture('span=0'), /no objective/);
  assert.throws(() => parseMixture('span=x'), /cannot parse|bad weight/);
});
