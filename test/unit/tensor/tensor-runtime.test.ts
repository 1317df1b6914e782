// Threads, seeding and RNG state, no-grad and autocast scopes, configuration report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';

test('thread count: set at load from CYCLENER_THREADS / cores, and settable', () => {
  const expected = process.env.CYCLENER_THREADS ? Number(process.env.CYCLENER_THREADS) : T.physicalCores();
  assert.equal(T.getNumThreads(), expected);
  T.setNumThreads(1);
  assert.equal(T.getNumThreads(), 1);
  T.setNumThreads(expected);
  assert.equal(T.getNumThreads(), expected);
  assert.throws(() => T.setNumThreads(0), /thread count must be >= 1/);
});

test('manualSeed makes draws reproducible', () =>
  T.tidy(() => {
    T.manualSeed(1234);
    const a = T.randn([5]).toArray();
    const d1 = T.dropout(T.ones([20]), 0.5, true).toArray();
    T.manualSeed(1234);
    assert.deepEqual(T.randn([5]).toArray(), a);
    assert.deepEqual(T.dropout(T.ones([20]), 0.5, true).toArray(), d1);
    T.manualSeed(1235);
    assert.notDeepEqual(T.randn([5]).toArray(), a);
  }));

test('getRngState/setRngState restore the generator exactly', () =>
  T.tidy(() => {
    T.manualSeed(7);
    T.rand([3]);
    const s = T.getRngState();
    const next = [T.randn([4]).toArray(), T.rand([4]).toArray()];
    T.randn([100]);
    T.setRngState(s);
    assert.deepEqual([T.randn([4]).toArray(), T.rand([4]).toArray()], next);
    assert.ok(s.length > 1000);
  }));

test('noGrad: no graph is recorded inside, grad mode is restored after (also on throw)', () =>
  T.tidy(() => {
    const p = T.ones([2], { requiresGrad: true });
    assert.equal(T.noGrad(() => p.mul(2)).requiresGrad, false);
    assert.equal(p.mul(2).requiresGrad, true);
    assert.throws(() =>
      T.noGrad(() => {
        throw new Error('x');
      }),
    );
    assert.equal(T.isGradEnabled(), true);
    assert.equal(T.noGrad(() => T.enableGrad(() => p.mul(2))).requiresGrad, true);
  }));

test('autocast: matmul/linear in bf16 inside the scope, fp32 outside; cross-entropy in fp32 (as torch CPU autocast)', () =>
  T.tidy(() => {
    const x = T.randn([4, 8]);
    const w = T.randn([3, 8]);
    const inside = T.autocast(() => T.linear(x, w));
    assert.equal(inside.dtype, 'bfloat16');
    assert.equal(T.autocast(() => x.matmul(w.transpose(0, 1))).dtype, 'bfloat16');
    const targets = T.tensor([0, 1, 2, 0], [4], 'int64');
    assert.equal(T.autocast(() => T.crossEntropy(T.linear(x, w), targets)).dtype, 'float32');
    assert.equal(T.linear(x, w).dtype, 'float32');
    // nested scopes restore the outer state
    T.autocast(() => {
      T.autocast(() => T.linear(x, w));
      assert.equal(T.linear(x, w).dtype, 'bfloat16');
    });
    assert.equal(T.linear(x, w).dtype, 'float32');
    // bf16 result close to fp32 (bf16 has ~3 significant digits)
    const ref = T.linear(x, w).toArray();
    inside.toArray().forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 0.05 * (1 + Math.abs(ref[i]!))));
    // gradients flow back to fp32 params through the bf16 ops
    const p = T.randn([3, 8], { requiresGrad: true });
    T.autocast(() => T.linear(x, p).float().sum()).backward();
    assert.equal(p.grad!.dtype, 'float32');
  }));

test('config reports libtorch build, BLAS libraries in use, threads', () => {
  const c = T.config();
  assert.match(c, /PyTorch built with/);
  assert.match(c, /BLAS libraries loaded: /);
  assert.match(c, /intra-op threads: \d+/);
  assert.ok(Array.isArray(T.blasLibraries()));
});

test('devices: cpu by default; cuda only when libtorch has it', () => {
  assert.equal(T.defaultDevice, 'cpu');
  assert.equal(T.getDefaultDevice(), 'cpu');
  if (T.cudaAvailable()) {
    T.tidy(() => {
      const g = T.ones([2, 2]).toDevice('cuda');
      assert.equal(g.device, 'cuda');
      assert.deepEqual(g.matmul(g).toDevice('cpu').toArray(), [2, 2, 2, 2]);
    });
  } else {
    assert.throws(() => T.setDefaultDevice('cuda'), /CUDA is not available/);
  }
});

test('op profiler: libtorch ops inside the engine call that ran them, self times within totals', () => {
  T.tidy(() => {
    const a = T.randn([8, 8]).setRequiresGrad(true);
    T.profileStart();
    assert.throws(() => T.profileStart(), /already running/);
    const loss = a.matmul(a).sum();
    loss.backward();
    const rows = T.profileStop();
    assert.throws(() => T.profileStop(), /not running/);
    const top = rows.find((r) => r.name === 'cy::matmul' && r.parent === '' && r.call === '');
    assert.ok(top && top.count === 1 && top.totalUs >= top.selfUs, 'one cy::matmul engine call at the top');
    assert.ok(
      rows.some((r) => r.name === 'aten::mm' && r.call === 'cy::matmul'),
      'aten::mm inside the matmul call',
    );
    assert.ok(
      rows.some((r) => r.call === 'cy::backward' && /MmBackward/.test(r.name)),
      'the backward pass inside cy::backward',
    );
    for (const r of rows) assert.ok(r.selfUs >= 0 && r.selfUs <= r.totalUs + 1e-6, `${r.name}: self within total`);
  });
});
