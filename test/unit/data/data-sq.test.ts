import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSQ, lengthDistribution } from '../../../src/data/sq';
import { Rng } from '../../../src/util/rng';
import { cosine, entityVector, loadTextVectors, trainVectors } from '../../../src/data/wordvec';
import { DataError } from '../../../src/data/errors';
import type { SeqEntity } from '../../../src/data/entity-seq';
import type { LabeledSentence } from '../../../src/data/types';

const tmp = mkdtempSync(join(tmpdir(), 'cyclener-sq-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
// Two clear clusters in 3-d: fruit-like words and city-like words.
const vecFile = join(tmp, 'vec.txt');
writeFileSync(
  vecFile,
  ['6 3', 'apple 1 0 0', 'pear 0.9 0.1 0', 'plum 0.95 0 0.05', 'paris 0 1 0', 'rome 0.1 0.9 0', 'oslo 0 0.95 0.1'].join(
    '\n',
  ) + '\n',
);

const seeds: SeqEntity[] = [
  { surface: 'Apple', type: 'organization' },
  { surface: 'Pear', type: 'organization' },
  { surface: 'Plum', type: 'organization' },
  { surface: 'Paris', type: 'location' },
  { surface: 'Rome', type: 'location' },
  { surface: 'Oslo', type: 'location' },
];

test('SQ groups semantically similar seeds and follows the length distribution', () => {
  const vectors = loadTextVectors(vecFile);
  const r = buildSQ({ numQ: 12, seeds, lengthDist: [0, 0, 1], vectors, rng: new Rng(1), topK: 2 });
  assert.equal(r.Q.length, 12);
  for (const q of r.Q) {
    assert.equal(q.length, 2);
    assert.equal(new Set(q.map((e) => e.type)).size, 1, `mixed cluster: ${JSON.stringify(q)}`);
    assert.notEqual(q[0]!.surface, q[1]!.surface);
  }
  // Every seed is an anchor at least once (anchors cycle).
  assert.equal(new Set(r.Q.flat().map((e) => e.surface)).size, 6);
});

test('SQ is deterministic under a seed and changes with it', () => {
  const vectors = loadTextVectors(vecFile);
  const run = (s: number) => buildSQ({ numQ: 30, seeds, lengthDist: [0, 2, 2, 1], vectors, rng: new Rng(s) }).Q;
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5), run(6));
});

test('length distribution counts entities per sentence with entities', () => {
  const mk = (n: number) => ({ entities: Array.from({ length: n }) }) as unknown as LabeledSentence;
  assert.deepEqual(lengthDistribution([mk(0), mk(1), mk(1), mk(3)]), [0, 2, 0, 1]);
});

test('trained PPMI+SVD vectors are deterministic and capture co-occurrence', () => {
  const sents: string[] = [];
  for (let i = 0; i < 40; i++) {
    sents.push(`the king of france met the queen of spain in paris number ${i}`);
    sents.push(`the striker scored a goal for the team in the match number ${i}`);
  }
  const a = trainVectors(sents, { dim: 8, seed: 3 });
  const b = trainVectors(sents, { dim: 8, seed: 3 });
  assert.deepEqual(Array.from(a.get('king')!), Array.from(b.get('king')!));
  const sim = (x: string, y: string) => cosine(entityVector(x, a)!, entityVector(y, a)!);
  assert.ok(
    sim('king', 'queen') > sim('king', 'goal'),
    `king~queen ${sim('king', 'queen')} vs king~goal ${sim('king', 'goal')}`,
  );
  assert.equal(entityVector('Zzyzx', a), undefined);
});

test('vector file errors name the line', () => {
  const bad = join(tmp, 'bad.txt');
  writeFileSync(bad, 'a 1 2 3\nb 1 2\n');
  assert.throws(
    () => loadTextVectors(bad),
    (e: unknown) => e instanceof DataError && e.line === 2 && /has 2 values, expected 3/.test(e.problem),
  );
});
