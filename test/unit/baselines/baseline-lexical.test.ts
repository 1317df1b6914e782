import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gazetteer, matchSentence, predictEntities } from '../../../src/baselines/lexical-matcher';
import { detokenize } from '../../../src/data/detok';
import { defaultVerbalizer } from '../../../src/data/verbalizer';
import type { LabeledSentence } from '../../../src/data/types';

const q = [
  [
    { surface: 'New York', type: 'location' },
    { surface: 'York', type: 'person' },
  ],
  [
    { surface: 'New York Times', type: 'organization' },
    { surface: 'Jordan', type: 'person' },
  ],
  [
    { surface: 'Jordan', type: 'location' },
    { surface: 'Jordan', type: 'location' },
  ],
  [{ surface: 'U.S.', type: 'location' }],
];

test('gazetteer keeps the most frequent type per surface', () => {
  const g = new Gazetteer(q);
  assert.equal(g.entries.get('Jordan'), 'location');
  assert.equal(g.entries.get('New York'), 'location');
  assert.equal(g.size, 5);
});

test('longest match first, left to right, whole tokens, case-sensitive', () => {
  const g = new Gazetteer(q);
  const s = detokenize([
    'The',
    'New',
    'York',
    'Times',
    'says',
    'New',
    'York',
    'and',
    'York',
    'and',
    'new',
    'york',
    'and',
    'Yorkshire',
    'and',
    'U.S.',
    '.',
  ]);
  const m = matchSentence(g, s).map((x) => `${s.text.slice(x.charStart, x.charEnd)}/${x.type}`);
  assert.deepEqual(m, ['New York Times/organization', 'New York/location', 'York/person', 'U.S./location']);
});

test('predictions map type words back to dataset labels', () => {
  const g = new Gazetteer(q);
  const { text, offsets } = detokenize(['Jordan', 'visited', 'New', 'York']);
  const s = {
    tokens: ['Jordan', 'visited', 'New', 'York'],
    tags: [],
    scheme: 'IOB2',
    text,
    offsets,
    entities: [],
  } as unknown as LabeledSentence;
  const v = defaultVerbalizer('conll2003');
  assert.deepEqual(
    predictEntities(g, s, (t) => v.label(t)).map((e) => [e.label, e.start, e.end]),
    [
      ['LOC', 0, 1],
      ['LOC', 2, 4],
    ],
  );
});
