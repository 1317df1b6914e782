// Character normalisation for vocabularies without byte fallback (src/t5/normalize.ts) and the
// shipped tokenizer without `<unk>` holes for accented names and emoji.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CharNormalizer,
  codePointToUtf16,
  toNormalizedOffset,
  toOriginalRange,
  utf16ToCodePoint,
  type NormalizedText,
} from '../../../src/t5/normalize';
import { T5Tokenizer } from '../../../src/t5/tokenizer';

const ROOT = path.join(__dirname, '..', '..', '..', '..');
const BASE = path.join(ROOT, 'models', 'base-news-11m');
const ascii = new Set([...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,-\'"()’“”']);
const norm = new CharNormalizer(ascii, ['<sep>']);

/** Every original UTF-16 unit lies in the source range of some normalised unit, except dropped leading marks. */
function assertMapCovers(n: NormalizedText): void {
  const covered = new Uint8Array(n.original.length);
  for (let j = 0; j < n.text.length; j++) {
    const s = n.start[j] as number;
    const e = n.end[j] as number;
    assert.ok(s < e && e <= n.original.length, `unit ${j}: [${s}, ${e})`);
    if (j > 0) assert.ok(s >= (n.start[j - 1] as number), 'sources are in order');
    for (let k = s; k < e; k++) covered[k] = 1;
  }
  const missing = [...covered].flatMap((c, k) => (c ? [] : [k]));
  assert.deepEqual(missing, [], `original units without a normalised image in ${JSON.stringify(n.original)}`);
  if (n.text.length > 0) assert.deepEqual(toOriginalRange(n, 0, n.text.length), { start: 0, end: n.original.length });
}

/** The original text of each normalised word. */
function originalWords(n: NormalizedText): string[] {
  return [...n.text.matchAll(/\S+/g)].map((m) => {
    const r = toOriginalRange(n, m.index, m.index + m[0].length);
    return n.original.slice(r.start, r.end);
  });
}

test('normalise: accents, ß, dashes, quotes and whitespace map to covered characters; offsets map back', () => {
  const n = norm.normalize('José Müller, François Gonçalves & João\tßtraße – “ok” ‘x’\u00a0Ærø');
  assert.equal(
    n.text,
    "Jose Muller, Francois Goncalves   Joao sstrasse - “ok” 'x’ AEro",
    '’ is covered and stays; ‘ is not',
  );
  assertMapCovers(n);
  assert.deepEqual(originalWords(n), [
    'José',
    'Müller,',
    'François',
    'Gonçalves',
    'João',
    'ßtraße',
    '–',
    '“ok”',
    '‘x’',
    'Ærø',
  ]);
  // ß → ss: both units come from the one original character.
  const i = n.text.indexOf('strasse');
  assert.deepEqual(toOriginalRange(n, i + 4, i + 6), {
    start: n.original.indexOf('ße'),
    end: n.original.indexOf('ße') + 1,
  });
  assert.equal(toNormalizedOffset(n, n.original.indexOf('Müller')), n.text.indexOf('Muller'));
});

test('normalise: emoji (surrogate pairs, ZWJ sequences, modifiers) become spaces; decomposed marks stay with their letter', () => {
  const text = '👍 Ann 👨‍👩‍👧 met Jose\u0301 Mu\u0308ller👍🏽 in  São\tPaulo';
  const n = norm.normalize(text);
  assert.equal(n.text, '  Ann     met Jose Muller   in  Sao Paulo');
  assertMapCovers(n);
  assert.deepEqual(originalWords(n), ['Ann', 'met', 'Jose\u0301', 'Mu\u0308ller', 'in', 'São', 'Paulo']);
  // A range ending on the decomposed letter takes its combining mark along.
  const j = n.text.indexOf('Jose');
  assert.equal(text.slice(toOriginalRange(n, j, j + 4).start, toOriginalRange(n, j, j + 4).end), 'Jose\u0301');
  // A combining mark at the very start has no letter to join: it is dropped (and covered by nothing).
  const lead = norm.normalize('\u0301Ann');
  assert.equal(lead.text, 'Ann');
  assert.deepEqual(toOriginalRange(lead, 0, 3), { start: 1, end: 4 });
});

test('normalise: covered characters, protected tokens and unspellable letters are left alone', () => {
  assert.equal(norm.normalizeString('Ann <sep> person'), 'Ann <sep> person', 'nothing to change: the same string');
  assert.equal(
    norm.normalize('Zoë <sep> person').text,
    'Zoe <sep> person',
    '<sep> is protected although < and > are not covered',
  );
  // Letters with no covered spelling stay (one <unk> inside their word) rather than splitting the word.
  assert.equal(norm.normalize('Москва and 東京').text, 'Москва and 東京');
  const withE = new CharNormalizer(new Set([...ascii, 'é']));
  assert.equal(withE.normalize('José Müller').text, 'José Muller', 'a vocabulary that has é keeps é');
});

test('offset units: UTF-16 and code points convert both ways around astral characters', () => {
  const text = 'a👍b👨‍👩‍👧c';
  const u16 = codePointToUtf16(text);
  const cp = utf16ToCodePoint(text);
  assert.deepEqual([...u16], [0, 1, 3, 4, 6, 7, 9, 10, 12, 13]);
  assert.equal(Array.from(text).length, u16.length - 1);
  for (let k = 0; k < u16.length; k++) assert.equal(cp[u16[k] as number], k);
  assert.equal(cp[2], 1, 'the low half of a pair belongs to its code point');
});

test('normaliser from tokenizer.json: by vocabulary coverage; none for byte fallback or word-level vocabularies', () => {
  const json = JSON.parse(fs.readFileSync(path.join(BASE, 'tokenizer.json'), 'utf8')) as {
    model: Record<string, unknown>;
  };
  const n = CharNormalizer.fromTokenizerJson(json as unknown as Record<string, unknown>);
  assert.ok(n);
  for (const c of 'azAZ09.,-\'"’“”') assert.ok(n.covered.has(c), c);
  for (const c of 'éüçãß–‘👍#@▁') assert.ok(!n.covered.has(c), c);
  assert.equal(CharNormalizer.fromTokenizerJson({ ...json, model: { ...json.model, byte_fallback: true } }), null);
  assert.equal(
    CharNormalizer.fromTokenizerJson({ model: { type: 'WordLevel', vocab: { a: 0 }, unk_token: '<unk>' } }),
    null,
  );
  // The test fixture's 220-piece vocabulary has é and ü: they stay.
  const fx = T5Tokenizer.fromFile(path.join(ROOT, 'test', 'fixtures', 't5', 'tokenizer', 'tokenizer.json'));
  assert.equal(fx.normalize('Zürich José').text, 'Zürich José');
});

test('the shipped tokenizer: no <unk> for accented names and emoji once normalised; the raw tokenizer had them', async () => {
  const tok = T5Tokenizer.fromDir(BASE);
  assert.equal(tok.unkId, 2);
  const sents = [
    'José Müller from São Paulo',
    'Bayern München beat Galatasaray ç ã',
    'He said 👍 Obama',
    'x 👨‍👩‍👧 y',
    'Jose\u0301  Mu\u0308ller\tand\u00a0Straße – “quoted”',
  ];
  const raw = await tok.encodeBatch(sents, { addEos: false, normalize: false });
  assert.ok(
    raw.every((ids) => ids.includes(tok.unkId)),
    'each sentence has a hole in the raw tokenizer',
  );
  const ids = await tok.encodeBatch(sents, { addEos: false });
  ids.forEach((s, i) =>
    assert.ok(
      !s.includes(tok.unkId),
      `no <unk> in ${JSON.stringify(sents[i])}: ${s.map((x) => tok.inner.idToToken(x)).join(' ')}`,
    ),
  );
  assert.equal(await tok.decode(await tok.encode('José Müller from São Paulo')), 'Jose Muller from Sao Paulo');
  // Entity sequences keep <sep> as one token.
  const seq = await tok.encode('José Müller <sep> person', { addEos: false });
  assert.equal(seq.filter((x) => x === tok.sepId).length, 1);
});
