import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignEntities, alignPrediction } from '../../../src/data/align';
import { detokenize } from '../../../src/data/detok';
import { defaultVerbalizer } from '../../../src/data/verbalizer';

const v = defaultVerbalizer('conll2003');
const sent = (tokens: string[]) => detokenize(tokens);

test('repeated surfaces map in order: the 2nd Paris takes the 2nd occurrence', () => {
  const s = sent(['Paris', 'beat', 'Lyon', 'and', 'Paris', 'won', '.']);
  const r = alignPrediction(s, 'Paris <sep> organization <sep> Lyon <sep> organization <sep> Paris <sep> location', v);
  assert.deepEqual(
    r.entities.map((e) => [e.surface, e.label, e.start, e.end, e.charStart]),
    [
      ['Paris', 'ORG', 0, 1, 0],
      ['Lyon', 'ORG', 2, 3, 11],
      ['Paris', 'LOC', 4, 5, 20],
    ],
  );
  assert.deepEqual(r.tags, ['B-ORG', 'O', 'B-ORG', 'O', 'B-LOC', 'O', 'O']);
  assert.equal(r.counts.exact, 3);
  assert.equal(r.counts.outOfOrder, 0);
});

test('entities absent from the sentence are counted as hallucinated, not placed', () => {
  const s = sent(['EU', 'rejects', 'German', 'call']);
  const r = alignPrediction(s, 'EU <sep> organization <sep> France <sep> location <sep> German <sep> miscellaneous', v);
  assert.deepEqual(
    r.entities.map((e) => e.surface),
    ['EU', 'German'],
  );
  assert.equal(r.counts.hallucinated, 1);
  assert.deepEqual(r.unplaced, [{ surface: 'France', type: 'location', label: 'LOC', why: 'hallucinated' }]);
});

test('a third Paris when the sentence has two is a hallucination', () => {
  const r = alignEntities('Paris and Paris', [
    { surface: 'Paris', type: 'location' },
    { surface: 'Paris', type: 'location' },
    { surface: 'Paris', type: 'location' },
  ]);
  assert.deepEqual(
    r.aligned.map((a) => a.charStart),
    [0, 10],
  );
  assert.equal(r.counts.hallucinated, 1);
});

test('token-boundary matches are preferred over matches inside a word', () => {
  const r = alignEntities('Parisian food in Paris', [{ surface: 'Paris', type: 'location' }]);
  assert.equal(r.aligned[0]!.charStart, 17);
  assert.equal(r.aligned[0]!.partialToken, false);
});

test('case/whitespace fallback is used and counted, or refused', () => {
  const s = sent(['New', 'York', 'is', 'big']);
  const r = alignPrediction(s, 'new york <sep> location', v);
  assert.deepEqual(
    r.entities.map((e) => [e.surface, e.start, e.end]),
    [['New York', 0, 2]],
  );
  assert.equal(r.generated[0], 'new york');
  assert.equal(r.counts.fallback, 1);
  const strict = alignPrediction(s, 'new york <sep> location', v, { fallback: false });
  assert.equal(strict.entities.length, 0);
  assert.equal(strict.counts.hallucinated, 1);
});

test('out-of-order entities are placed when free, and counted', () => {
  const r = alignEntities('Bob met Alice', [
    { surface: 'Alice', type: 'person' },
    { surface: 'Bob', type: 'person' },
  ]);
  assert.deepEqual(
    r.aligned.map((a) => [a.surface, a.outOfOrder]),
    [
      ['Alice', false],
      ['Bob', true],
    ],
  );
  const none = alignEntities(
    'Bob met Alice',
    [
      { surface: 'Alice', type: 'person' },
      { surface: 'Bob', type: 'person' },
    ],
    undefined,
    { outOfOrder: false },
  );
  assert.equal(none.counts.hallucinated, 1);
});

test('malformed sequences and unknown types are flagged', () => {
  const s = sent(['EU', 'rejects', 'it']);
  const r = alignPrediction(s, 'EU <sep> company <sep> rejects', v);
  assert.equal(r.malformed, true);
  assert.equal(r.unknownType, 1);
  assert.deepEqual(r.entities, []);
  assert.deepEqual(r.tags, ['O', 'O', 'O']);
  const empty = alignPrediction(s, '', v);
  assert.equal(empty.malformed, false);
  assert.deepEqual(empty.entities, []);
});
