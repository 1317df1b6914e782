// Grounded decoding and prediction on sentences with accents, emoji and odd whitespace: no dead
// ends inside a word, no empty surfaces, original spellings and offsets in both conventions.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import '../../../src/cli/commands';
import { sentenceTokens, SpanConstraint, typeTokenSeqs, type SentenceTokens } from '../../../src/cycle/grounding';
import { coversWholeWords, finishSequence } from '../../../src/cycle/predict';
import { parseEntitySequence } from '../../../src/data/entity-seq';
import { readLabeled } from '../../../src/data/readers';
import { Rng } from '../../../src/util/rng';
import { saveModelDir } from '../../../src/cycle/model-io';
import { presetConfig } from '../../../src/t5/config';
import { T5ForConditionalGeneration } from '../../../src/t5/model';
import { identityText } from '../../../src/t5/normalize';
import { T5Tokenizer } from '../../../src/t5/tokenizer';
import { cli } from '../../helpers/cli-helpers';

T.setNumThreads(1);
const BASE = path.join(__dirname, '..', '..', '..', '..', 'models', 'base-news-11m');
const spm = T5Tokenizer.fromDir(BASE);

const SEP = 3;
const EOS = 1;
const UNK = 2;
const TYPE = 20;
const allowedSet = (c: SpanConstraint, p: number[]) => new Set(c.allowed(Int32Array.from(p)));

test('span constraint: a word with <unk> is never started, so decoding cannot stop at "Bayern M"', () => {
  // "▁Bayer n ▁M <unk> nch en ▁won": the raw tokenizer on "Bayern München won".
  const s: SentenceTokens = {
    ids: [10, 11, 12, UNK, 13, 14, 15],
    wordStart: [true, false, true, false, false, false, true],
    canEnd: [false, true, false, false, false, true, true],
  };
  const c = new SpanConstraint(s, [[TYPE]], SEP, EOS, {}, UNK);
  assert.deepEqual(allowedSet(c, []), new Set([EOS, 10, 15]), '"▁M" is not offered: its word cannot be completed');
  assert.deepEqual(allowedSet(c, [10]), new Set([11]));
  assert.deepEqual(allowedSet(c, [10, 11]), new Set([SEP]), 'after "Bayern" only <sep>: "Bayern M" would dead-end');
  assert.deepEqual(allowedSet(c, [10, 11, SEP, TYPE]), new Set([SEP, EOS]), '"won" is still ahead');
  // Spans longer than maxSpanTokens are not started either.
  const short = new SpanConstraint(s, [[TYPE]], SEP, EOS, { maxSpanTokens: 1 }, UNK);
  assert.deepEqual(allowedSet(short, []), new Set([EOS, 15]));
});

test('span constraint: a lone "▁" is never a whole surface (emoji, runs of spaces)', () => {
  // "▁ <unk> ▁Obama" (an emoji), then "▁ ’ tis" (a word starting with a non-initial piece).
  const s: SentenceTokens = {
    ids: [33, UNK, 489, 33, 40, 41],
    wordStart: [true, false, true, true, false, false],
    canEnd: [false, true, true, true, false, true],
    blank: [true, false, false, true, false, false],
  };
  const c = new SpanConstraint(s, [[TYPE]], SEP, EOS, { allowEmpty: false }, UNK);
  assert.deepEqual(allowedSet(c, []), new Set([489, 33]));
  assert.deepEqual(
    allowedSet(c, [33]),
    new Set([40]),
    'no <sep> after "▁" alone, and never the <unk> after the first one',
  );
  assert.deepEqual(allowedSet(c, [33, 40]), new Set([41]));
  assert.deepEqual(allowedSet(c, [33, 40, 41]), new Set([SEP]));
  // Only blank and <unk> tokens: nothing to extract, so the empty sequence is allowed after all.
  const none = new SpanConstraint(
    { ids: [33, UNK], wordStart: [true, false], canEnd: [false, true], blank: [true, false] },
    [[TYPE]],
    SEP,
    EOS,
    { allowEmpty: false },
    UNK,
  );
  assert.deepEqual(allowedSet(none, []), new Set([EOS]));
});

test('sentence tokens of the shipped tokenizer: normalised, and word starts right after an emoji (code-point offsets)', async () => {
  const [s] = await sentenceTokens(spm, ['He said 👍 Obama and José Müller']);
  const pieces = s!.ids.map((i) => spm.inner.idToToken(i));
  assert.deepEqual(pieces, ['▁He', '▁said', '▁Obama', '▁and', '▁Jose', '▁Muller']);
  assert.deepEqual(s!.wordStart, [true, true, true, true, true, true]);
  const [e] = await sentenceTokens(spm, ['x 👨‍👩‍👧 y']);
  assert.ok(!e!.ids.includes(spm.unkId));
  assert.deepEqual(
    e!.ids.map((i, k) => (e!.blank![k] ? spm.inner.idToToken(i) : '')).filter((p) => p !== ''),
    ['▁', '▁'],
    'the lone "▁" pieces are blank',
  );
});

test('grounded decoding on the shipped tokenizer: 600 random walks never dead-end, cut a word or emit an empty surface', async () => {
  const sents = [
    'He said 👍 Obama met José Müller in São Paulo .',
    'Bayern München beat Ann  Lee 👨‍👩‍👧 today',
    '👍👍 Zoë said Ça va\tà Straße Nuñez-Gómez',
    'Москва and Kraków , Ærø “Dvořák”',
  ];
  const tok = spm.withSep();
  const types = await typeTokenSeqs(tok, ['person', 'location']);
  const sts = await sentenceTokens(tok, sents);
  const rng = new Rng(11);
  const seen = new Set<string>();
  for (let si = 0; si < sents.length; si++) {
    const c = new SpanConstraint(sts[si]!, types, tok.sepId, tok.eosId, { allowEmpty: true }, tok.unkId);
    for (let walk = 0; walk < 150; walk++) {
      const prefix: number[] = [];
      for (;;) {
        const allowed = c.allowed(Int32Array.from(prefix));
        assert.ok(allowed.length > 0, `dead end after ${JSON.stringify(await tok.decode(prefix))}`);
        const next = allowed[rng.int(allowed.length)] as number;
        if (next === tok.eosId) break;
        prefix.push(next);
        assert.ok(prefix.length < 200);
      }
      const seq = await tok.decode(prefix);
      const r = finishSequence(tok.normalize(sents[si]!), seq);
      assert.deepEqual(r.issues, { cut: false, dropped: [] }, `"${seq}" on "${sents[si]}"`);
      for (const e of parseEntitySequence(r.seq).entities) {
        const at = sents[si]!.indexOf(e.surface);
        assert.ok(
          e.surface.trim() !== '' && at >= 0 && coversWholeWords(sents[si]!, at, at + e.surface.length),
          `"${e.surface}" is whole words of "${sents[si]}"`,
        );
        seen.add(e.surface);
      }
    }
  }
  for (const w of ['José Müller', 'São Paulo', 'München', 'Zoë', 'Ærø', 'Straße', 'Kraków'])
    assert.ok(
      [...seen].some((s) => s.includes(w)),
      `"${w}" was extracted in its original spelling`,
    );
  // A span may run across an emoji (a space to the model: "said 👍 Obama") but never starts or ends on one,
  // and never contains a word the vocabulary cannot spell.
  assert.deepEqual(
    [...seen].filter((s) => /Москва|^\p{Extended_Pictographic}|\p{Extended_Pictographic}$/u.test(s)),
    [],
  );
  assert.ok(
    [...seen].some((x) => x.includes('said 👍 Obama')),
    'a span runs across the emoji',
  );
  assert.ok(
    [...seen].every((x) => /[\p{L}\p{N}]/u.test(x[0] ?? '')),
    'every span starts with a letter or digit',
  );
});

test('finishSequence: cut tails and empty or partial-word surfaces are counted; surfaces get the original spelling; the kept entities keep their log-probs', () => {
  const n = spm.normalize('Bayern   München und José Müller');
  assert.equal(n.text, 'Bayern   Munchen und Jose Muller');
  assert.deepEqual(
    finishSequence(n, 'Bayern Munchen <sep> organization <sep> Jose Muller <sep> person', [-0.1, -0.2]),
    {
      seq: 'Bayern   München <sep> organization <sep> José Müller <sep> person',
      issues: { cut: false, dropped: [] },
      logProbs: [-0.1, -0.2],
    },
  );
  assert.deepEqual(finishSequence(n, 'Bayern Munchen <sep> organization <sep> Jose M', [-0.5]), {
    seq: 'Bayern   München <sep> organization',
    issues: { cut: true, dropped: [] },
    logProbs: [-0.5],
  });
  assert.deepEqual(
    finishSequence(n, 'Munch <sep> location <sep> <sep> person <sep> Muller <sep> person', [-1, -2, -3]),
    {
      seq: 'Müller <sep> person',
      logProbs: [-3],
      issues: {
        cut: false,
        dropped: [
          { surface: 'Munch', type: 'location', why: 'partial-word' },
          { surface: '', type: 'person', why: 'empty-surface' },
        ],
      },
    },
  );
  assert.deepEqual(
    finishSequence(n, 'Muller <sep>'),
    { seq: '', issues: { cut: true, dropped: [] }, logProbs: [] },
    'an empty type is a cut',
  );
  // A punctuation-only surface names nothing: dropped as empty.
  assert.deepEqual(finishSequence(identityText('Ann met Bob .'), 'Ann <sep> person <sep> . <sep> location', [-1, -2]), {
    seq: 'Ann <sep> person',
    issues: { cut: false, dropped: [{ surface: '.', type: 'location', why: 'empty-surface' }] },
    logProbs: [-1],
  });
  // Not in the sentence at all: kept as generated (alignment counts it as a hallucination).
  assert.deepEqual(finishSequence(identityText('Ann met Bob'), 'Carl <sep> person', [-0.7]), {
    seq: 'Carl <sep> person',
    issues: { cut: false, dropped: [] },
    logProbs: [-0.7],
  });
  assert.deepEqual(finishSequence(identityText('Ann met Bob'), ''), {
    seq: '',
    issues: { cut: false, dropped: [] },
    logProbs: [],
  });
});

test('cli: predict keeps original spellings, writes utf16 or codepoint offsets, counts cut output; evaluate reads codepoint JSONL', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-uni-'));
  try {
    const tok = spm.withSep();
    const m = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize }), { seed: 1 });
    saveModelDir(path.join(root, 'base'), m, tok, { task: 's2e', prefix: 'entities: ', types: [] });
    m.dispose();
    const sents = ['👍 José Müller visited São Paulo', 'Bayern München beat Ann  Lee 👨‍👩‍👧 today'];
    const f = (n: string, lines: string[]) => {
      fs.writeFileSync(path.join(root, n), lines.join('\n') + '\n');
      return path.join(root, n);
    };
    const pairs = f('pairs.tsv', [
      `${sents[0]}\tJosé Müller <sep> person <sep> São Paulo <sep> location`,
      `${sents[1]}\tBayern München <sep> organization <sep> Ann  Lee <sep> person`,
    ]);
    const sup = path.join(root, 'sup');
    let r = await cli([
      'train-supervised',
      '--pairs',
      pairs,
      '--base-model',
      path.join(root, 'base'),
      '--out',
      sup,
      '--steps',
      '100',
      '--batch',
      '2',
      '--lr',
      '1e-2',
      '--types',
      'person,location,organization',
    ]);
    assert.equal(r.code, 0, r.err);
    const input = f('in.txt', sents);
    type Rec = { text: string; entities: { start: number; end: number; label: string }[]; issues?: unknown };
    const out: Record<string, Rec[]> = {};
    for (const unit of ['utf16', 'codepoints']) {
      const file = path.join(root, `p-${unit}.jsonl`);
      r = await cli(['predict', '--model', sup, '--input', input, '--out', file, '--offsets', unit]);
      assert.equal(r.code, 0, r.err);
      assert.match(
        r.err,
        /2 sentences, 4 entities written to .*; 0 sentences had output cut or entities dropped \(0 cut: .*; 0 entities dropped: 0 empty surface, 0 partial word, 0 not placed\)/,
      );
      out[unit] = fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Rec);
    }
    const want = [
      ['José Müller', 'São Paulo'],
      ['Bayern München', 'Ann  Lee'],
    ];
    out.utf16!.forEach((rec, i) =>
      assert.deepEqual(
        rec.entities.map((e) => rec.text.slice(e.start, e.end)),
        want[i],
        'JS slicing with utf16 offsets',
      ),
    );
    out.codepoints!.forEach((rec, i) =>
      assert.deepEqual(
        rec.entities.map((e) => Array.from(rec.text).slice(e.start, e.end).join('')),
        want[i],
        'Python slicing with codepoint offsets',
      ),
    );
    // One emoji before the entity: the conventions differ by one; none before it: they agree.
    assert.deepEqual(
      out.utf16![0]!.entities.map((e) => [e.start, e.end]),
      [
        [3, 14],
        [23, 32],
      ],
    );
    assert.deepEqual(
      out.codepoints![0]!.entities.map((e) => [e.start, e.end]),
      [
        [2, 13],
        [22, 31],
      ],
    );
    assert.deepEqual(out.codepoints![1]!.entities, out.utf16![1]!.entities);
    assert.ok(
      out.utf16!.every((x) => !('issues' in x)),
      'no "issues" field when nothing went wrong',
    );
    // Reading the codepoint file back with --offsets codepoints gives the same spans as the utf16 file.
    const cp = readLabeled(path.join(root, 'p-codepoints.jsonl'), { offsets: 'codepoints' });
    const u16 = readLabeled(path.join(root, 'p-utf16.jsonl'));
    assert.deepEqual(
      cp.sentences.map((s) => s.entities),
      u16.sentences.map((s) => s.entities),
    );
    r = await cli([
      'evaluate',
      '--gold',
      path.join(root, 'p-codepoints.jsonl'),
      '--offsets',
      'codepoints',
      '--model',
      sup,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /model output: 0 sentences had output cut or entities dropped/);
    // Exact spans and the bag of (surface, type): the generated surfaces carry the original ü, é, ã.
    assert.equal(r.out.match(/micro\s+1\.000\s+1\.000\s+1\.000\s+4\s+4\s+4/g)?.length, 2, r.out);
    // Read as utf16, the codepoint offsets are off by one after the emoji (and here cut into a word).
    assert.throws(
      () => readLabeled(path.join(root, 'p-codepoints.jsonl')),
      /p-codepoints\.jsonl:1: entities\[0\]: span " José Mülle" starts or ends with whitespace \(offsets are read as UTF-16 units.*pass --offsets codepoints\)/,
    );
    // Too few new tokens: the sequence stops inside an entity; it is counted and marked per sentence.
    r = await cli([
      'predict',
      '--model',
      sup,
      '--input',
      input,
      '--out',
      path.join(root, 'cut.jsonl'),
      '--max-new-tokens',
      '2',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /2 sentences, 0 entities written to .*; 2 sentences had output cut or entities dropped \(2 cut: /,
    );
    const cut = fs
      .readFileSync(path.join(root, 'cut.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Rec);
    assert.deepEqual(
      cut.map((x) => x.issues),
      [
        { cut: true, dropped: [] },
        { cut: true, dropped: [] },
      ],
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
