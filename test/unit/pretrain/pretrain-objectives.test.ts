import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../../src/util/rng';
import {
  capitalisedFragments,
  draftExample,
  finishExamples,
  loadTokenizerDir,
  newSpanStats,
  parseMixture,
  randomFragments,
  randomSpansNoiseMask,
  reconstructSpans,
  roundHalfEven,
  serialise,
  spanCorrupt,
  spanCorruptedLengths,
  spanRawLength,
  splitSentences,
  wordsWithSpans,
  type BatchLimits,
  type Doc,
  type Draft,
} from '../../../src/pretrain';
import { corpusLines } from '../../helpers/pretrain-helpers';

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
  assert.equal(
    s.noise.reduce((a, b) => a + b, 0),
    17,
  );
  assert.equal(s.noise.length, 6);
});

test('noise mask statistics over many draws: density 0.15, mean span length ~3', () => {
  const rng = new Rng(7);
  let noise = 0,
    total = 0,
    spanCount = 0;
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
    assert.deepEqual(
      sentinels,
      sentinels.map((_, k) => S0 - k),
      'sentinels count down from <extra_id_0>',
    );
    assert.deepEqual(
      ex.target.filter((t) => t > 999 && t <= S0),
      sentinels,
    );
    assert.equal(ex.source.at(-1), EOS);
    assert.equal(ex.target.at(-1), EOS);
  }
});

test('sentence splitting as the GPU script: after .!? before a capital/quote, 10..600 characters', () => {
  assert.deepEqual(
    splitSentences('  The U.S. economy grew. "It is fine," he said! Short. (Really) it is 3.5 percent?  '),
    ['The U.S. economy grew.', '"It is fine," he said!', '(Really) it is 3.5 percent?'],
  );
  assert.deepEqual(splitSentences('x'.repeat(601)), []);
  assert.deepEqual(splitSentences(''), []);
  assert.equal(splitSentences('prices rose 3.5 percent in May.')[0], 'prices rose 3.5 percent in May.');
});

test('word spans follow the Python WORD_RE', () => {
  assert.deepEqual(
    wordsWithSpans("O'Neill's AT&T co-op, U.S. ($5)").map((w) => w.word),
    ["O'Neill's", 'AT&T', 'co-op', ',', 'U.S', '.', '(', '$', '5', ')'],
  );
});

test('capitalised fragments on hand-made sentences', () => {
  const f = (s: string) => capitalisedFragments(s).map(([a, b]) => s.slice(a, b));
  assert.deepEqual(f('Angela Merkel met officials of the Bank of England in New York on Monday.'), [
    'Angela Merkel',
    'Bank of England',
    'New York',
    'Monday',
  ]);
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
  const docs = [
    [
      'Angela Merkel visited Paris on Monday with the Bank of England chief.',
      'It rained in the afternoon and the talks went on for a long time.',
    ],
  ];
  const rng = new Rng(9);
  const sent2frag = draftExample('sent2frag', [[docs[0]![0]!]], rng)!;
  assert.deepEqual(sent2frag, {
    kind: 'pair',
    objective: 'sent2frag',
    source: 'entities: ' + docs[0]![0],
    target: serialise([
      ['Angela Merkel', 'entity'],
      ['Paris', 'entity'],
      ['Monday', 'entity'],
      ['Bank of England', 'entity'],
    ]),
  });
  assert.equal(
    serialise([
      ['A B', 'person'],
      ['C', 'location'],
    ]),
    'A B <sep> person <sep> C <sep> location',
  );
  for (let i = 0; i < 50; i++) {
    const d = draftExample('denoise', docs, rng)!;
    assert.equal(d.kind, 'pair');
    if (d.kind === 'pair') {
      assert.ok(d.source.startsWith('denoise: '));
      assert.ok(docs[0]!.includes(d.target));
      const kept = d.source
        .slice(9)
        .split(' ')
        .filter((w) => w !== '<extra_id_0>');
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
  assert.deepEqual(parseMixture('span=0.3,denoise=0.2,frag2sent=0.25,sent2frag=0.25'), [
    ['span', 0.3],
    ['denoise', 0.2],
    ['frag2sent', 0.25],
    ['sent2frag', 0.25],
  ]);
  assert.deepEqual(parseMixture('span'), [['span', 1]]);
  assert.deepEqual(parseMixture('span=1,denoise=0'), [['span', 1]]);
  assert.throws(() => parseMixture('spam=1'), /unknown objective/);
  assert.throws(() => parseMixture('span=0'), /no objective/);
  assert.throws(() => parseMixture('span=x'), /cannot parse|bad weight/);
});

test('spanRawLength = T5 random_spans_helper: the longest raw window whose corrupted input/target fit', () => {
  // T5 (Raffel et al.; random_spans_helper): inputs_length 512, density 0.15, mean span 3 -> 568 raw tokens, targets 114.
  // 568: round(85.2)=85 noise, 483 kept, round(85/3)=28 spans -> input 483+28+1 = 512, target 85+28+1 = 114.
  assert.deepEqual(spanRawLength(512), { tokens: 568, inputs: 512, targets: 114 });
  assert.deepEqual(spanRawLength(512, 114), { tokens: 568, inputs: 512, targets: 114 });
  // By hand for 128: 141 -> round(21.15)=21 noise, 120 kept, round(7)=7 spans -> 120+7+1 = 128 / 21+7+1 = 29;
  // 142 -> round(21.3)=21 noise, 121 kept, 7 spans -> input 129 > 128.
  assert.deepEqual(spanRawLength(128, 128), { tokens: 141, inputs: 128, targets: 29 });
  assert.deepEqual(spanRawLength(64, 64), { tokens: 70, inputs: 64, targets: 14 });
  // A binding target limit: 96 -> round(14.4)=14 noise, round(4.67)=5 spans -> target 20; 97 -> 15 noise -> 21.
  assert.deepEqual(spanRawLength(128, 20), { tokens: 96, inputs: 88, targets: 20 });
  // 564 -> round(84.6)=85 noise, 28 spans -> target 114 > 113; 563 -> 84 noise, 28 spans -> 113.
  assert.deepEqual(spanRawLength(512, 113), { tokens: 563, inputs: 508, targets: 113 });
  assert.throws(() => spanRawLength(2, 5), /cannot hold/);
  assert.throws(() => spanRawLength(Infinity), /finite/);
  // The lengths are those spanCorrupt really produces, and the window is the longest that fits.
  const rng = new Rng(21);
  for (let n = 2; n < 400; n++) {
    const ex = spanCorrupt(
      Array.from({ length: n }, (_, i) => 3 + (i % 50)),
      randomSpansNoiseMask(n, rng),
      S0,
      EOS,
    );
    assert.deepEqual(spanCorruptedLengths(n), { inputs: ex.source.length, targets: ex.target.length }, `n ${n}`);
  }
  for (let rep = 0; rep < 300; rep++) {
    const src = 3 + rng.int(600);
    const tgt = 3 + rng.int(200);
    const r = spanRawLength(src, tgt);
    const next = spanCorruptedLengths(r.tokens + 1);
    assert.ok(r.inputs <= src && r.targets <= tgt);
    assert.ok(next.inputs > src || next.targets > tgt, `${src}/${tgt}: ${r.tokens + 1} would fit too`);
    if (spanCorruptedLengths(r.tokens + 1).targets <= tgt)
      assert.equal(r.inputs, src, 'the input is filled exactly unless the target binds');
  }
});

const SHIPPED = path.join(__dirname, '..', '..', '..', '..', 'models', 'base-news-11m');
const noShipped = fs.existsSync(path.join(SHIPPED, 'tokenizer.json'))
  ? false
  : 'models/base-news-11m/tokenizer.json missing';

/** The chunk's token stream (each sentence tokenized on its own, concatenated) and where each sentence starts in it. */
async function tokenStream(
  docs: readonly Doc[],
  encode: (t: string[]) => Promise<number[][]>,
): Promise<{ stream: number[]; at: (doc: number, sent: number) => number }> {
  const sents = docs.flat();
  const ids = await encode(sents);
  const starts: number[] = [];
  const stream: number[] = [];
  for (const x of ids) {
    starts.push(stream.length);
    stream.push(...x);
  }
  const first = docs.map((_, k) => docs.slice(0, k).reduce((a, d) => a + d.length, 0));
  return { stream, at: (doc, sent) => starts[first[doc]! + sent]! };
}

test(
  'packed span inputs: exactly maxSource tokens, a contiguous window of the chunk across sentences and documents',
  { skip: noShipped },
  async () => {
    const tok = loadTokenizerDir(SHIPPED);
    const s0 = tok.inner.tokenToId('<extra_id_0>')!;
    const encode = (t: string[]) => tok.encodeBatch(t, { addEos: false });
    const docs = corpusLines(14, 11).map(splitSentences);
    const { stream, at } = await tokenStream(docs, encode);
    const lim: BatchLimits = { maxSource: 128, maxTarget: 128, spanInputs: 'packed' };
    const build = async (seed: number) => {
      const rng = new Rng(seed);
      const drafts = Array.from({ length: 60 }, () => draftExample('span', docs, rng, lim)!);
      const stats = newSpanStats();
      const ex = await finishExamples(drafts, tok, rng, lim, stats);
      return { drafts, ex, stats, rng: rng.getState() };
    };
    const { drafts, ex, stats, rng } = await build(4);
    assert.equal(ex.length, drafts.length, 'no span example dropped');
    let short = 0,
      crossDoc = 0,
      crossSent = 0;
    drafts.forEach((d, k) => {
      assert.equal(d.kind, 'span');
      const p = (d as Extract<Draft, { kind: 'span' }>).packed!;
      const from = at(p.doc, p.sent);
      const window = stream.slice(from, from + 141);
      const e = ex[k]!;
      assert.deepEqual(
        reconstructSpans(e.source, e.target, s0, 100, tok.eosId),
        window,
        `draft ${k}: input + target = the token window`,
      );
      if (window.length === 141) {
        assert.equal(e.source.length, 128, `draft ${k}: source length`);
        assert.equal(e.target.length, 29);
      } else {
        short++;
        assert.ok(e.source.length < 128);
      }
      const nextSent =
        p.sent + 1 < docs[p.doc]!.length
          ? at(p.doc, p.sent + 1)
          : p.doc + 1 < docs.length
            ? at(p.doc + 1, 0)
            : stream.length;
      if (from + 141 > nextSent) crossSent++;
      if (p.doc + 1 < docs.length && from + 141 > at(p.doc + 1, 0)) crossDoc++;
      assert.equal(e.source.at(-1), tok.eosId);
    });
    assert.equal(stats.short, short, 'windows that ran out of chunk text are counted');
    assert.ok(short > 0 && short < drafts.length / 2, `short ${short}`);
    assert.ok(crossDoc > drafts.length / 2, `windows crossing a document boundary: ${crossDoc}`);
    assert.ok(crossSent >= crossDoc);
    assert.equal(stats.examples, ex.length);
    assert.equal(
      stats.sourceTokens,
      ex.reduce((a, e) => a + e.source.length, 0),
    );
    // The draws are in a fixed order: the same seed gives the same examples and leaves the Rng in the same state.
    const again = await build(4);
    assert.deepEqual(again.ex, ex);
    assert.deepEqual(again.rng, rng);
    assert.notDeepEqual((await build(5)).ex, ex);

    // Text with long tokens (~14 characters each) tokenizes short at first: it is extended, tokenized again, still exact.
    const long = [
      Array.from({ length: 30 }, () => 'International administration unemployment representatives manufacturers.'),
    ];
    const ls = await tokenStream(long, encode);
    const lrng = new Rng(1);
    const ld = Array.from({ length: 6 }, () => draftExample('span', long, lrng, lim)!);
    const lstats = newSpanStats();
    const lex = await finishExamples(ld, tok, lrng, lim, lstats);
    assert.ok(lstats.retokenized > 0, 'the extension path ran');
    ld.forEach((d, k) => {
      const p = (d as Extract<Draft, { kind: 'span' }>).packed!;
      const w = ls.stream.slice(ls.at(p.doc, p.sent), ls.at(p.doc, p.sent) + 141);
      assert.deepEqual(reconstructSpans(lex[k]!.source, lex[k]!.target, s0, 100, tok.eosId), w);
      if (w.length === 141) assert.equal(lex[k]!.source.length, 128);
    });
  },
);

test(
  'sentences span inputs are unchanged: 1-3 sentences of one document, cut to maxSource-1 tokens',
  { skip: noShipped },
  async () => {
    const tok = loadTokenizerDir(SHIPPED);
    const docs = corpusLines(10, 2).map(splitSentences);
    for (const lim of [
      { maxSource: 16, maxTarget: 128 },
      { maxSource: 128, maxTarget: 128, spanInputs: 'sentences' as const },
    ]) {
      const rng = new Rng(8);
      const twin = new Rng(8);
      const drafts = Array.from({ length: 30 }, () => draftExample('span', docs, rng, lim)!);
      const texts = drafts.map(() => {
        const d = docs[twin.int(docs.length)]!;
        const i = twin.int(d.length);
        return d.slice(i, i + 1 + twin.int(3)).join(' ');
      });
      assert.deepEqual(
        drafts,
        texts.map((text) => ({ kind: 'span', objective: 'span', text })),
      );
      const ex = await finishExamples(drafts, tok, rng, lim);
      const ids = await tok.encodeBatch(texts, { addEos: false });
      const s0 = tok.inner.tokenToId('<extra_id_0>')!;
      const expected = ids
        .map((x) => x.slice(0, lim.maxSource - 1))
        .filter((x) => x.length >= 4)
        .map((x) => ({ ...spanCorrupt(x, randomSpansNoiseMask(x.length, twin), s0, tok.eosId), objective: 'span' }))
        .filter((e) => e.target.length <= lim.maxTarget);
      assert.deepEqual(ex, expected);
      assert.ok(ex.every((e) => e.source.length <= lim.maxSource));
      if (lim.maxSource === 16)
        assert.ok(
          ids.some((x) => x.length > 15),
          'some inputs are cut',
        );
    }
  },
);
