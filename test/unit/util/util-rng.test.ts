import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../src/util/rng';

test('same seed, same stream; different seeds differ', () => {
  const a = new Rng(42),
    b = new Rng(42),
    c = new Rng(43);
  const xs = Array.from({ length: 20 }, () => a.nextU32());
  assert.deepEqual(
    Array.from({ length: 20 }, () => b.nextU32()),
    xs,
  );
  assert.notDeepEqual(
    Array.from({ length: 20 }, () => c.nextU32()),
    xs,
  );
});

test('int stays in range and covers it; shuffle is a permutation', () => {
  const r = new Rng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const x = r.int(7);
    assert.ok(x >= 0 && x < 7 && Number.isInteger(x));
    seen.add(x);
  }
  assert.equal(seen.size, 7);
  const p = r.permutation(50);
  assert.deepEqual(
    [...p].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
  const f = r.float();
  assert.ok(f >= 0 && f < 1);
});

test('forks are deterministic and independent of the parent position', () => {
  const a = new Rng(5);
  const fa = a.fork('x').nextU32();
  a.nextU32();
  assert.equal(a.fork('x').nextU32(), fa);
  assert.notEqual(new Rng(5).fork('y').nextU32(), fa);
});

test('weighted draws follow the weights', () => {
  const r = new Rng(3);
  const n = [0, 0, 0];
  for (let i = 0; i < 3000; i++) n[r.weighted([0, 1, 3])]!++;
  assert.equal(n[0], 0);
  assert.ok(n[2]! > 2 * n[1]!, `counts ${n.join(',')}`);
});
