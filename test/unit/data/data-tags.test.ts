import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chunks,
  chunksToTags,
  conllevalChunks,
  convertTags,
  detectScheme,
  repairTags,
  validateTags,
} from '../../../src/data/tags';

const spans = (tags: string[]) => conllevalChunks(tags).map((c) => `${c.label}[${c.start},${c.end})`);

test('IOB1: I- opens a chunk, B- separates adjacent chunks of one type', () => {
  assert.deepEqual(spans(['I-LOC', 'B-LOC', 'O', 'I-PER', 'I-PER']), ['LOC[0,1)', 'LOC[1,2)', 'PER[3,5)']);
});

test('type change inside a chunk splits it', () => {
  assert.deepEqual(spans(['B-ORG', 'I-ORG', 'I-MISC', 'I-MISC']), ['ORG[0,2)', 'MISC[2,4)']);
});

test('B- after I- of the same type starts a new chunk', () => {
  assert.deepEqual(spans(['B-PER', 'I-PER', 'B-PER', 'O']), ['PER[0,2)', 'PER[2,3)']);
});

test('IOB2 sequence starting with I- is read as a chunk, as conlleval does', () => {
  assert.deepEqual(spans(['O', 'I-PER', 'I-PER']), ['PER[1,3)']);
});

test('IOBES singletons stay separate (conlleval itself would merge S-X S-X)', () => {
  assert.deepEqual(
    chunks(['S-LOC', 'S-LOC', 'B-PER', 'E-PER'], 'IOBES').map((c) => `${c.label}[${c.start},${c.end})`),
    ['LOC[0,1)', 'LOC[1,2)', 'PER[2,4)'],
  );
});

test('conversion between schemes', () => {
  const iob1 = ['I-LOC', 'B-LOC', 'O', 'I-PER', 'I-PER', 'I-ORG'];
  assert.deepEqual(convertTags(iob1, 'IOB1', 'IOB2'), ['B-LOC', 'B-LOC', 'O', 'B-PER', 'I-PER', 'B-ORG']);
  assert.deepEqual(convertTags(iob1, 'IOB1', 'IOBES'), ['S-LOC', 'S-LOC', 'O', 'B-PER', 'E-PER', 'S-ORG']);
  assert.deepEqual(convertTags(iob1, 'IOB1', 'BILOU'), ['U-LOC', 'U-LOC', 'O', 'B-PER', 'L-PER', 'U-ORG']);
  const iob2 = convertTags(iob1, 'IOB1', 'IOB2');
  assert.deepEqual(convertTags(iob2, 'IOB2', 'IOB1'), iob1);
  assert.deepEqual(convertTags(convertTags(iob2, 'IOB2', 'IOBES'), 'IOBES', 'IOB2'), iob2);
});

test('validation reports invalid sequences per scheme', () => {
  assert.deepEqual(
    validateTags(['O', 'I-PER'], 'IOB2').map((i) => i.index),
    [1],
  );
  assert.deepEqual(validateTags(['O', 'I-PER'], 'IOB1'), []);
  assert.deepEqual(
    validateTags(['O', 'B-PER'], 'IOB1').map((i) => i.index),
    [1],
  );
  assert.deepEqual(
    validateTags(['B-PER', 'O'], 'IOBES').map((i) => i.index),
    [0],
  );
  assert.deepEqual(validateTags(['B-PER', 'E-PER', 'S-LOC'], 'IOBES'), []);
  assert.match(validateTags(['B-PER', 'X'], 'IOB2')[0]!.problem, /invalid tag "X"/);
});

test('repair re-encodes from the lenient reading and counts changes', () => {
  const r = repairTags(['O', 'I-PER', 'I-PER', 'I-LOC'], 'IOB2');
  assert.deepEqual(r.tags, ['O', 'B-PER', 'I-PER', 'B-LOC']);
  assert.equal(r.changed, 2);
});

test('scheme detection', () => {
  assert.equal(detectScheme([['I-PER', 'O', 'I-LOC', 'B-LOC']]), 'IOB1');
  assert.equal(detectScheme([['B-PER', 'I-PER', 'O']]), 'IOB2');
  assert.equal(detectScheme([['S-PER', 'O']]), 'IOBES');
  assert.equal(detectScheme([['U-PER', 'O']]), 'BILOU');
  assert.equal(detectScheme([['O', 'O']]), 'IOB2');
});

test('chunksToTags rejects overlapping chunks', () => {
  assert.throws(
    () =>
      chunksToTags(
        3,
        [
          { start: 0, end: 2, label: 'A' },
          { start: 1, end: 3, label: 'B' },
        ],
        'IOB2',
      ),
    /overlapping/,
  );
});
