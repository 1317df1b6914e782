// The addon's small-tensor fast paths (native/src/kernels.inc: contiguous CPU float32/bf16 without autograd)
// against libtorch's own kernels, reached through a non-contiguous copy of the input or through autograd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import type { Tensor } from '../../../src/tensor';
import { assertClose } from '../../helpers/tensor-helpers';

/** The same values, non-contiguous: the op takes libtorch's path. */
function strided(t: Tensor): Tensor {
  return T.stack([t, t], -1).narrow(-1, 0, 1).squeeze(-1);
}

const SPECIAL = [0, -0, 1, -1, 1e-40, -1e-30, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 65504, 1.00390625, 1.01171875];

test('fast paths: to(bf16/float32) is bit-exact, argmax follows torch (first maximum, NaN wins, all -inf -> 0)', () => {
  T.manualSeed(1);
  T.noGrad(() =>
    T.tidy(() => {
      for (const x of [T.randn([300, 77]).mul(1000), T.tensor(SPECIAL)]) {
        assert.deepEqual(
          Array.from(x.to('bfloat16').toBuffer()),
          Array.from(strided(x).to('bfloat16').toBuffer()),
          'float32 -> bf16 bits',
        );
        const b = x.to('bfloat16');
        assert.deepEqual(
          Array.from(b.float().toBuffer()),
          Array.from(strided(b).float().toBuffer()),
          'bf16 -> float32 bits',
        );
      }
      const rows = T.tensor([
        [1, 3, 3, 2],
        [-Infinity, -Infinity, -Infinity, -Infinity],
        [1, NaN, 5, NaN],
        [0, 0, 0, 0],
        [-5, -Infinity, -4, -4],
      ]);
      for (const x of [rows, T.randn([7, 3000]), T.randn([2, 3, 513])]) {
        for (const dt of ['float32', 'bfloat16'] as const) {
          const y = x.to(dt);
          assert.deepEqual(
            y.argmax(-1, true).toArray(),
            strided(y).argmax(-1, true).toArray(),
            `argmax ${dt} ${x.shape}`,
          );
          assert.deepEqual(y.argmax(-1).shape, x.shape.slice(0, -1));
        }
      }
    }),
  );
});

test('fast paths: logsumexp, logSoftmax, rmsNorm and gelu(tanh) agree with libtorch', () => {
  T.manualSeed(2);
  T.noGrad(() =>
    T.tidy(() => {
      const x = T.randn([9, 16000]).mul(5);
      assertClose(
        x.logsumexp(-1, true).toFloat32Array(),
        strided(x).logsumexp(-1, true).toFloat32Array(),
        1e-5,
        1e-6,
        'logsumexp',
      );
      assertClose(
        x.logSoftmax(-1).toFloat32Array(),
        strided(x).logSoftmax(-1).toFloat32Array(),
        2e-5,
        1e-6,
        'logSoftmax',
      );
      const sp = T.tensor([
        [0, -Infinity, 1],
        [-Infinity, -Infinity, -Infinity],
        [Infinity, 1, 2],
        [NaN, 1, 2],
        [-3.4e38, 0, 1],
      ]);
      assert.deepEqual(
        sp.logsumexp(-1).toArray(),
        strided(sp).logsumexp(-1).toArray(),
        'logsumexp of infinite / NaN rows',
      );
      // rmsNorm takes its mean of squares from libtorch's kernels: bit-identical to the composite autograd runs.
      for (const n of [256, 37]) {
        const h = T.randn([6, n]).mul(3);
        const w = T.randn([n]);
        const viaAutograd = (xx: Tensor) =>
          T.enableGrad(() => T.rmsNorm(xx, w.clone().setRequiresGrad(true), 1e-6).detach());
        for (const xx of [h, h.to('bfloat16')])
          assert.deepEqual(
            T.rmsNorm(xx, w, 1e-6).toFloat32Array(),
            viaAutograd(xx).toFloat32Array(),
            `rmsNorm ${xx.dtype} ${n}`,
          );
      }
      // gelu(tanh): float32 within float rounding of libtorch's; bf16 bit-identical (libtorch 1.13's per-op bf16 rounding).
      const g = T.randn([16, 1280]).mul(3);
      for (const v of [g, g.narrow(1, 0, 640)])
        assertClose(v.gelu('tanh').toFloat32Array(), strided(v).gelu('tanh').toFloat32Array(), 1e-6, 2e-5, 'gelu tanh');
      const gb = T.cat([
        g.reshape([-1]),
        T.tensor([-100, -9, -1e-3, -1e-30, 0, 1e-30, 1e-3, 100, Infinity, -Infinity, NaN]),
      ]).to('bfloat16');
      assert.deepEqual(gb.gelu('tanh').toFloat32Array(), strided(gb).gelu('tanh').toFloat32Array(), 'gelu tanh bf16');
      const ends = T.tensor([-Infinity, Infinity, NaN, 0]);
      assert.deepEqual(
        Array.from(ends.gelu('tanh').toFloat32Array()),
        Array.from(strided(ends).gelu('tanh').toFloat32Array()),
      );
    }),
  );
  // With autograd the ops keep libtorch's kernels and their gradients.
  const x = T.randn([3, 5]).setRequiresGrad(true);
  x.logSoftmax(-1).gelu('tanh').sum().backward();
  assert.deepEqual(x.grad!.shape, [3, 5]);
  x.dispose();
});

test('T.attention = softmax(q k^T * scale + bias) v: broadcasting, strided views, bf16 rounding, autograd', () => {
  T.manualSeed(3);
  const composite = (q: Tensor, k: Tensor, v: Tensor, bias: Tensor | null, scale: number) => {
    let s = q.matmul(k.transpose(-2, -1)).mul(scale);
    if (bias) s = s.add(bias);
    return s.float().softmax(-1).to(v.dtype).matmul(v);
  };
  T.noGrad(() =>
    T.tidy(() => {
      // q [2, 4, 3, 8] against keys/values that are strided views of a bigger cache; bias broadcast over the batch.
      const q = T.randn([2, 4, 3, 8]);
      const cache = T.randn([2, 4, 10, 3, 8]);
      const k = cache.narrow(3, 1, 1).squeeze(3).narrow(2, 0, 7);
      const v = cache.narrow(3, 2, 1).squeeze(3).narrow(2, 0, 7);
      const bias = T.randn([1, 4, 1, 7]);
      for (const [b, scale] of [
        [bias, 1],
        [null, 0.125],
        [T.where(T.randn([2, 1, 1, 7]).gt(0), 0, -3.4028234663852886e38), 1],
      ] as const) {
        const got = T.attention(q, k, v, b, scale);
        assert.deepEqual(got.shape, [2, 4, 3, 8]);
        assertClose(
          got.toFloat32Array(),
          composite(q, k, v, b, scale).toFloat32Array(),
          1e-6,
          1e-5,
          `attention float32 (scale ${scale})`,
        );
      }
      // 3-D, single query (the decoder step's shape); bf16 rounds scores and probabilities as bf16 matmuls do.
      const q1 = T.randn([16, 1, 64]).to('bfloat16');
      const k1 = T.randn([16, 30, 64]).mul(0.2).to('bfloat16');
      const v1 = T.randn([16, 30, 64]).to('bfloat16');
      const b1 = T.randn([16, 1, 30]);
      const gb = T.attention(q1, k1, v1, b1);
      assert.equal(gb.dtype, 'bfloat16');
      assertClose(gb.toFloat32Array(), composite(q1, k1, v1, b1, 1).toFloat32Array(), 1e-2, 1e-2, 'attention bf16');
      // Under autocast float32 inputs take matmul's autocast (bf16) path, bf16 inputs the fused loop.
      const ac = T.autocast(() => T.attention(q, k, v, bias));
      assert.equal(ac.dtype, 'bfloat16');
      assertClose(
        ac.toFloat32Array(),
        composite(q, k, v, bias, 1).toFloat32Array(),
        5e-2,
        5e-2,
        'attention under autocast',
      );
      assert.throws(() => T.attention(q, T.randn([2, 4, 7, 5]), v), /attention/);
    }),
  );
  // Autograd: gradients through the composite path.
  const q = T.randn([2, 3, 4]).setRequiresGrad(true);
  const k = T.randn([2, 5, 4]);
  const v = T.randn([2, 5, 4]);
  T.attention(q, k, v, null, 0.5).sum().backward();
  const g1 = q.grad!.toFloat32Array();
  q.zeroGrad();
  T.softmax(q.matmul(k.transpose(1, 2)).mul(0.5), -1)
    .matmul(v)
    .sum()
    .backward();
  assertClose(g1, q.grad!.toFloat32Array(), 1e-6, 1e-5, 'attention gradient');
  T.dispose([q, k, v]);
});

test('uniformDropout: the composite maskedFill(rand(x.shape).lt(p), 0).mul(1/(1-p)) bit for bit, draws included', () => {
  const bits = (t: T.Tensor) => Array.from(t.float().toFloat32Array(), (v) => (Object.is(v, -0) ? '-0' : String(v)));
  for (const dtype of ['float32', 'bfloat16', 'float64'] as const) {
    for (const p of [0.1, 0.5]) {
      for (const shape of [[7], [33, 129], [3, 5, 301]]) {
        T.tidy(() => {
          const x0 = T.randn(shape).to(dtype);
          const gy = T.randn(shape).to(dtype);
          const run = (fused: boolean) => {
            const x = x0.clone().setRequiresGrad(true);
            T.manualSeed(5);
            const y = fused ? T.uniformDropout(x, p) : x.maskedFill(T.rand(x.shape).lt(p), 0).mul(1 / (1 - p));
            y.mul(gy).sum().backward();
            const noGrad = T.noGrad(() =>
              fused ? T.uniformDropout(x0, p) : x0.maskedFill(T.rand(x0.shape).lt(p), 0).mul(1 / (1 - p)),
            );
            return {
              y: bits(y),
              dtype: y.dtype,
              grad: bits(x.grad!),
              noGrad: bits(noGrad),
              next: T.rand([4]).toArray(),
            };
          };
          const want = run(false);
          const got = run(true);
          assert.deepEqual(got, want, `${dtype} p=${p} [${shape.join(',')}]`);
          if (want.y.length > 100)
            assert.ok(want.y.includes('0') && want.y.some((v) => v !== '0'), 'some elements dropped, some kept');
        });
      }
    }
  }
  assert.throws(() => T.uniformDropout(T.ones([2]), 1), /p must be in \[0, 1\)/);
});
