// Splitting long texts for the model's input limit and merging the pieces' entities (src/api/chunk.ts), with a
// word-counting "tokenizer": prefix + EOS = 2 tokens, one token per whitespace-separated word, one per 5 chars of a
// longer word.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { chunkText, mergePieces, sentenceRanges } from '../../../src/api/chunk';

const tokens = (t: string) =>
  2 +
  t
    .split(/\s+/)
    .filter((w) => w !== '')
    .reduce((n, w) => n + Math.max(1, Math.ceil(w.length / 5)), 0);
const count = async (xs: string[]) => xs.map(tokens);

test('chunk: a text that fits is one piece (trimmed); whitespace is none', async () => {
  assert.deepEqual(await chunkText('  Anna met Bob. ', count, { maxTokens: 10, overlapTokens: 1 }), [
    { start: 2, end: 15 },
  ]);
  assert.deepEqual(await chunkText(' \n ', count, { maxTokens: 10, overlapTokens: 1 }), []);
});

test('chunk: a long text is cut at sentence boundaries first', async () => {
  const text = 'Anna met Bob in Rome. Then Carl went to Oslo! Did Dora call? Yes.';
  assert.deepEqual(
    sentenceRanges(text).map((r) => text.slice(r.start, r.end)),
    ['Anna met Bob in Rome.', 'Then Carl went to Oslo!', 'Did Dora call?', 'Yes.'],
  );
  const pieces = await chunkText(text, count, { maxTokens: 8, overlapTokens: 1 });
  assert.deepEqual(
    pieces.map((p) => text.slice(p.start, p.end)),
    ['Anna met Bob in Rome.', 'Then Carl went to Oslo!', 'Did Dora call?', 'Yes.'],
  );
});

test('chunk: an over-long sentence becomes overlapping word windows that each fit', async () => {
  const words = Array.from({ length: 30 }, (_, i) => `w${i}`);
  const text = words.join(' ');
  const pieces = await chunkText(text, count, { maxTokens: 12, overlapTokens: 3 });
  const got = pieces.map((p) => text.slice(p.start, p.end).split(' '));
  // 10 words of room per window; each next window starts 3 words back.
  assert.deepEqual(
    got.map((w) => [w[0], w[w.length - 1]]),
    [
      ['w0', 'w9'],
      ['w7', 'w16'],
      ['w14', 'w23'],
      ['w21', 'w29'],
    ],
  );
  for (const p of pieces) assert.ok(tokens(text.slice(p.start, p.end)) <= 12);
  // Every word is in some window.
  assert.deepEqual([...new Set(got.flat())].length, 30);
});

test('chunk: one word longer than the limit is cut into character runs that fit', async () => {
  const text = `see ${'x'.repeat(200)} now`;
  const pieces = await chunkText(text, count, { maxTokens: 12, overlapTokens: 2 });
  for (const p of pieces) assert.ok(tokens(text.slice(p.start, p.end)) <= 12, text.slice(p.start, p.end));
  assert.equal(pieces[0]!.start, 0);
  assert.equal(pieces[pieces.length - 1]!.end, text.length);
});

test('merge: offsets shifted to the text, duplicates from overlaps kept once, a name cut at an edge loses', () => {
  // Text "... New York City ..."; window A ends inside the name, window B has it whole.
  const pieces = [
    { start: 0, end: 50 },
    { start: 40, end: 90 },
  ];
  const a = [
    { start: 2, end: 6, label: 'PER' },
    { start: 45, end: 50, label: 'LOC' },
    { start: 42, end: 44, label: 'ORG' },
  ];
  const b = [
    { start: 5, end: 18, label: 'LOC' },
    { start: 2, end: 4, label: 'ORG' },
    { start: 30, end: 35, label: 'PER' },
  ];
  assert.deepEqual(mergePieces(pieces, [a, b]), [
    { start: 2, end: 6, label: 'PER' },
    { start: 42, end: 44, label: 'ORG' },
    { start: 45, end: 58, label: 'LOC' },
    { start: 70, end: 75, label: 'PER' },
  ]);
});
