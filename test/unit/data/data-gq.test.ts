import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGQ } from '../../../src/data/gq';
import { Rng } from '../../../src/util/rng';
import { chunksToTags } from '../../../src/data/tags';
import { detokenize } from '../../../src/data/detok';
import { defaultVerbalizer } from '../../../src/data/verbalizer';
import type { LabeledSentence } from '../../../src/data/types';

const v = defaultVerbalizer('conll2003');

/** n distinct sentences; every 3rd has no entity. */
function corpus(n: number): LabeledSentence[] {
  return Array.from({ length: n }, (_, i) => {
    const tokens = [`Name${i}`, 'visited', `Town${i}`, '.'];
    const spans =
      i % 3 === 2
        ? []
        : [
            { start: 0, end: 1, label: 'PER' },
            { start: 2, end: 3, label: 'LOC' },
          ];
    const { text, offsets } = detokenize(tokens);
    return {
      tokens,
      tags: chunksToTags(4, spans, 'IOB2'),
      scheme: 'IOB2' as const,
      text,
      offsets,
      entities: spans.map((s) => ({
        ...s,
        charStart: offsets[s.start]!.start,
        charEnd: offsets[s.end - 1]!.end,
        surface: tokens[s.start]!,
      })),
    };
  });
}

test('GQ independence: no sentence of S contributes to Q', () => {
  const c = corpus(60);
  const r = buildGQ(c, { numS: 30, numQ: 20, rng: new Rng(1), verbalizer: v });
  assert.equal(r.S.length, 30);
  assert.equal(r.Q.length, 20);
  const sIdx = new Set(r.sIndices);
  assert.ok(r.qIndices.every((i) => !sIdx.has(i)));
  // Also by content: no Q surface comes from an S sentence (surfaces are unique per sentence here).
  const sText = new Set(r.S);
  for (const q of r.Q)
    for (const e of q) {
      const re = new RegExp(`\\b${e.surface}\\b`);
      assert.ok(![...sText].some((t) => re.test(t)), `${e.surface} leaked from S`);
    }
  assert.ok(
    r.Q.every((q) => q.length > 0),
    'sentences without entities are not drawn into Q by default',
  );
  assert.deepEqual(
    r.Q[0]!.map((e) => e.type),
    ['person', 'location'],
  );
});

test('GQ caps S to keep independence, with a notice; --allow-overlap restores the size', () => {
  const c = corpus(30);
  const r = buildGQ(c, { numS: 'full', numQ: 10, rng: new Rng(2), verbalizer: v });
  assert.equal(r.S.length, 20);
  assert.deepEqual(r.notices, []);
  const capped = buildGQ(c, { numS: 25, numQ: 10, rng: new Rng(2), verbalizer: v });
  assert.equal(capped.S.length, 20);
  assert.match(capped.notices[0]!, /capped at 20/);
  const ov = buildGQ(c, { numS: 25, numQ: 10, rng: new Rng(2), verbalizer: v, allowOverlap: true });
  assert.equal(ov.S.length, 25);
});

test('GQ is reproducible under a seed; Q is shared by configs differing only in #S', () => {
  const c = corpus(80);
  const a = buildGQ(c, { numS: 20, numQ: 10, rng: new Rng(9), verbalizer: v });
  const b = buildGQ(c, { numS: 40, numQ: 10, rng: new Rng(9), verbalizer: v });
  const d = buildGQ(c, { numS: 20, numQ: 10, rng: new Rng(10), verbalizer: v });
  assert.deepEqual(buildGQ(c, { numS: 20, numQ: 10, rng: new Rng(9), verbalizer: v }), a);
  assert.deepEqual(b.Q, a.Q);
  assert.notDeepEqual(d.sIndices, a.sIndices);
});

test('empty sequences enter Q only when asked', () => {
  const c = corpus(9);
  const r = buildGQ(c, { numS: 1, numQ: 8, rng: new Rng(1), verbalizer: v, includeEmptyQ: true });
  assert.ok(r.Q.some((q) => q.length === 0));
  const without = buildGQ(c, { numS: 1, numQ: 8, rng: new Rng(1), verbalizer: v });
  assert.equal(without.Q.length, 6);
  assert.match(without.notices[0]!, /only 6 sentences with entities/);
});
