// The server's dynamic batching queue (src/serve/batcher.ts) on its own: batch sizes, waiting for a batch to fill,
// batches in order, and `concurrency` batches running at once (continuous batching) with drain() waiting for all.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Batcher } from '../../../src/serve/batcher';

/** A run function whose batches finish only when the test says so. */
function heldRun() {
  const batches: { items: number[]; finish: () => void }[] = [];
  const run = (items: number[]) =>
    new Promise<number[]>((resolve) => batches.push({ items, finish: () => resolve(items.map((x) => x * 10)) }));
  return { batches, run };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test('batcher: one batch at a time by default; texts that arrive meanwhile form the next batch when it ends', async () => {
  const { batches, run } = heldRun();
  const b = new Batcher<number, number>(run, { maxBatch: 2, maxWaitMs: 0, maxQueue: 16 });
  const first = b.submit([1, 2, 3]);
  await tick();
  assert.deepEqual(
    batches.map((x) => x.items),
    [[1, 2]],
  );
  const second = b.submit([4]);
  await tick();
  assert.equal(batches.length, 1, 'the next batch waits for the running one');
  assert.deepEqual(b.stats().running, 2);
  batches[0]!.finish();
  await tick();
  assert.deepEqual(
    batches.map((x) => x.items),
    [
      [1, 2],
      [3, 4],
    ],
  );
  batches[1]!.finish();
  assert.deepEqual(await first, [10, 20, 30]);
  assert.deepEqual(await second, [40]);
});

test('batcher: concurrency 2 runs two batches at once, a third waits; drain() resolves only when all are done', async () => {
  const { batches, run } = heldRun();
  const b = new Batcher<number, number>(run, { maxBatch: 1, maxWaitMs: 0, maxQueue: 16, concurrency: 2 });
  const answers = [b.submit([1]), b.submit([2]), b.submit([3])];
  await tick();
  assert.deepEqual(
    batches.map((x) => x.items),
    [[1], [2]],
  );
  assert.deepEqual(b.stats(), { batches: 2, items: 2, sizes: { 1: 2 }, waiting: 1, running: 2 });
  let drained = false;
  const d = b.drain().then(() => (drained = true));
  batches[1]!.finish(); // the second ends first: the third starts in its place
  await tick();
  assert.deepEqual(
    batches.map((x) => x.items),
    [[1], [2], [3]],
  );
  batches[2]!.finish();
  await tick();
  assert.equal(drained, false, 'the first batch is still running');
  batches[0]!.finish();
  await d;
  assert.deepEqual(await Promise.all(answers), [[10], [20], [30]]);
  assert.deepEqual(b.stats().running, 0);
  assert.throws(() => new Batcher(run, { maxBatch: 1, maxWaitMs: 0, maxQueue: 1, concurrency: 0 }), /concurrency/);
});
