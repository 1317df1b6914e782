// Scoped disposal semantics, the GC safety net, and a 1,000-step training loop that must not grow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import { Tensor } from '../../../src/tensor';

const gc = (globalThis as { gc?: () => void }).gc;

test('tidy disposes intermediates, keeps returned tensors (nested in arrays/objects) and kept ones', () => {
  const live0 = T.liveTensors();
  let inner: Tensor | undefined;
  let kept: Tensor | undefined;
  const out = T.tidy(() => {
    const a = T.ones([2]);
    inner = a.add(1);
    kept = a.mul(3).keep();
    return { sum: inner.add(a), list: [a.sub(1)], n: 5 };
  });
  assert.equal(inner!.isDisposed, true);
  assert.equal(kept!.isDisposed, false);
  assert.deepEqual(out.sum.toArray(), [3, 3]);
  assert.deepEqual(out.list[0]!.toArray(), [0, 0]);
  assert.equal(T.liveTensors(), live0 + 3);
  T.dispose([out.sum, out.list, kept!]);
  assert.equal(T.liveTensors(), live0);
});

test('nested tidy: a result moves to the enclosing scope and is freed there', () => {
  const live0 = T.liveTensors();
  let fromInner: Tensor | undefined;
  T.tidy(() => {
    fromInner = T.tidy(() => T.ones([3]).mul(2));
    assert.equal(fromInner.isDisposed, false);
  });
  assert.equal(fromInner!.isDisposed, true);
  assert.equal(T.liveTensors(), live0);
});

test('tidy does not dispose tensors created outside it, even when returned', () => {
  const outer = T.ones([2]);
  const r = T.tidy(() => T.tidy(() => outer));
  assert.equal(r, outer);
  assert.equal(outer.isDisposed, false);
  outer.dispose();
});

test('tidy disposes everything when fn throws, and rejects async functions', () => {
  const live0 = T.liveTensors();
  assert.throws(
    () =>
      T.tidy(() => {
        T.ones([4]);
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(T.liveTensors(), live0);
  assert.throws(() => T.tidy(() => Promise.resolve(T.ones([1]))), /synchronous/);
  assert.equal(T.liveTensors(), live0);
});

test('dispose is idempotent and a disposed tensor throws a clear error', () => {
  const t = T.ones([2]);
  t.dispose();
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.add(1), { message: 'tensor used after dispose (op: add)' });
  const u = T.ones([2]);
  assert.throws(() => u.matmul(t), { message: 'tensor used after dispose (op: matmul)' });
  u.dispose();
});

test('T.keep and grad handles', () => {
  const live0 = T.liveTensors();
  const p = T.ones([2], { requiresGrad: true });
  const g = T.tidy(() => {
    p.mul(2).sum().backward();
    return T.keep(p.grad!);
  });
  assert.deepEqual(g.toArray(), [2, 2]);
  T.dispose([g, p]);
  assert.equal(T.liveTensors(), live0);
});

test(
  'the GC finalizer frees tensors that escaped every scope',
  { skip: gc === undefined ? 'needs --expose-gc' : false },
  async () => {
    const live0 = T.liveTensors();
    (() => {
      for (let i = 0; i < 100; i++) T.zeros([10]);
    })();
    assert.equal(T.liveTensors(), live0 + 100);
    for (let i = 0; i < 20 && T.liveTensors() > live0; i++) {
      gc!();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(T.liveTensors(), live0);
  },
);

test('1,000 training steps of a small MLP keep live tensors and RSS flat', () => {
  T.manualSeed(0);
  const params = T.tidy(() =>
    [T.randn([64, 32]).mul(0.1), T.zeros([64]), T.randn([10, 64]).mul(0.1), T.zeros([10])].map((p) =>
      p.setRequiresGrad(true).keep(),
    ),
  );
  const opt = new T.AdamW(params, { lr: 1e-3 });
  const x = T.randn([32, 32]).keep();
  const y = T.tidy(() => T.randn([32, 10]).argmax(1).keep());
  const step = (): number =>
    T.tidy(() => {
      const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
      const h = T.dropout(T.linear(x, w1, b1).relu(), 0.1, true);
      const loss = T.crossEntropy(T.linear(h, w2, b2), y);
      loss.backward();
      T.clipGradNorm(params, 1);
      opt.step();
      opt.zeroGrad();
      return loss.item();
    });
  for (let i = 0; i < 100; i++) step();
  gc?.();
  const live1 = T.liveTensors();
  const rss1 = process.memoryUsage.rss();
  let first = NaN;
  let last = NaN;
  for (let i = 0; i < 1000; i++) {
    last = step();
    if (i === 0) first = last;
  }
  gc?.();
  const rss2 = process.memoryUsage.rss();
  assert.equal(T.liveTensors(), live1, 'live tensor count grew');
  // The loop allocates ~30 MB of tensors in total; 16 MB of slack covers allocator noise.
  assert.ok(rss2 - rss1 < 16 * 2 ** 20, `RSS grew by ${((rss2 - rss1) / 2 ** 20).toFixed(1)} MB`);
  assert.ok(last < first, `loss did not decrease (${first} -> ${last})`);
  T.dispose([params, x, y]);
  opt.dispose();
});
