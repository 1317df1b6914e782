// Creation, conversion, dtypes and forward values of the ops (gradients are in tensor-grad.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import { assertClose } from '../../helpers/tensor-helpers';

const live0 = T.liveTensors();
const t = (v: T.NestedNumbers, dtype?: T.DType): T.Tensor => T.tensor(v, undefined, dtype);

test('creation from JS data: default dtypes, shapes, typed arrays, nested arrays', () =>
  T.tidy(() => {
    const a = t([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(a.shape, [2, 3]);
    assert.equal(a.dtype, 'float32');
    assert.equal(a.device, 'cpu');
    assert.equal(a.ndim, 2);
    assert.equal(a.numel(), 6);
    assert.deepEqual(a.toArray(), [1, 2, 3, 4, 5, 6]);
    assert.equal(T.tensor(new Int32Array([1, -2])).dtype, 'int32');
    assert.equal(T.tensor(new Float64Array([1.5])).dtype, 'float64');
    assert.deepEqual(T.tensor(new BigInt64Array([2n ** 40n, -3n])).toArray(), [2 ** 40, -3]);
    assert.deepEqual(T.tensor(new Uint8Array([0, 1, 1])).toArray(), [0, 1, 1]);
    assert.equal(T.tensor(new Uint8Array([0, 1])).dtype, 'bool');
    // number[] to int64 is exact up to 2^53
    assert.deepEqual(T.tensor([2 ** 53, -7], [2], 'int64').toArray(), [2 ** 53, -7]);
    assert.deepEqual(T.tensor([1, 2, 3, 4], [2, 2]).shape, [2, 2]);
    assert.deepEqual(T.tensor(new Float32Array([0.5, 0.25])).toFloat32Array(), new Float32Array([0.5, 0.25]));
    assert.deepEqual(t([3.7, -1.2], 'int32').toInt32Array(), new Int32Array([3, -1]));
  }));

test('factories', () =>
  T.tidy(() => {
    assert.deepEqual(T.zeros([2]).toArray(), [0, 0]);
    assert.deepEqual(T.ones([2], { dtype: 'int64' }).toArray(), [1, 1]);
    assert.deepEqual(T.full([3], -2.5).toArray(), [-2.5, -2.5, -2.5]);
    assert.equal(T.arange(4).dtype, 'int64');
    assert.deepEqual(T.arange(4).toArray(), [0, 1, 2, 3]);
    assert.deepEqual(T.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
    assert.equal(T.arange(1, 2, 0.25).dtype, 'float32');
    const z = T.zerosLike(T.ones([2, 2], { dtype: 'float64' }));
    assert.equal(z.dtype, 'float64');
    assert.deepEqual(T.onesLike(z).toArray(), [1, 1, 1, 1]);
    assert.equal(T.zeros([2], { requiresGrad: true }).requiresGrad, true);
    const ri = T.randint(-2, 3, [1000]);
    assert.equal(ri.dtype, 'int64');
    assert.deepEqual([...new Set(ri.toArray())].sort(), [-1, -2, 0, 1, 2]);
    const r = T.rand([1000]).toArray();
    assert.ok(r.every((x) => x >= 0 && x < 1));
    const n = T.randn([4000]);
    assert.ok(Math.abs(n.mean().item()) < 0.1 && Math.abs(n.pow(2).mean().item() - 1) < 0.1);
  }));

test("rand() draws libtorch's uniform_ numbers bit for bit and leaves the generator where it would (float32, any size)", () =>
  T.tidy(() => {
    // rand() and dropout's masks run the generator's recurrence in blocks (native randUniform); uniform_ is libtorch's
    // own serial loop. Sizes around the 624-word state regeneration, from fresh seeds and mid-stream.
    const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    for (const seed of [0, 7, 123456789])
      for (const shape of [[1], [623], [624], [625], [3, 417], [5000]]) {
        T.manualSeed(seed);
        const warm = T.rand([seed % 5]).toFloat32Array();
        const ours = T.rand(shape).toFloat32Array();
        const next = T.rand([700]).toFloat32Array();
        const state = T.getRngState();
        T.manualSeed(seed);
        const ref = [[seed % 5], shape, [700]].map((s) => T.zeros(s).uniform_(0, 1).toFloat32Array());
        assert.ok(same(warm, ref[0]!) && same(ours, ref[1]!) && same(next, ref[2]!), `seed ${seed}, shape [${shape}]`);
        assert.deepEqual(T.getRngState(), state, `generator state after seed ${seed}, shape [${shape}]`);
      }
    // Normal draws around it (libtorch caches a spare normal sample beside the engine state) continue as they would.
    const around = (fast: boolean) => {
      T.manualSeed(9);
      const before = [...T.randn([3]).toArray(), ...T.randn([1], { dtype: 'float64' }).toArray()];
      if (fast) T.rand([1000]);
      else T.zeros([1000]).uniform_(0, 1);
      return [...before, ...T.randn([5]).toArray(), ...T.randn([1], { dtype: 'float64' }).toArray()];
    };
    assert.deepEqual(around(true), around(false));
    // Other dtypes keep libtorch's path (one call per element; float64 takes 64-bit draws).
    T.manualSeed(3);
    const d = T.rand([10], { dtype: 'float64' }).toArray();
    T.manualSeed(3);
    assert.deepEqual(d, T.zeros([10], { dtype: 'float64' }).uniform_(0, 1).toArray());
  }));

test('bf16 and fp16 round trip via fromBuffer/toBuffer', () =>
  T.tidy(() => {
    const values = [1.5, -2, 0.15625, 2 ** 100, -0, 65280];
    const f32 = new Float32Array(values);
    // bf16 = upper 16 bits of the float32 pattern (exact for these values)
    const u32 = new Uint32Array(f32.buffer);
    const bf16 = new Uint16Array(u32.length);
    u32.forEach((v, i) => {
      bf16[i] = v >>> 16;
    });
    const bytes = new Uint8Array(bf16.buffer);
    const x = T.fromBuffer(bytes, 'bfloat16', [2, 3]);
    assert.equal(x.dtype, 'bfloat16');
    assert.deepEqual(x.toFloat32Array(), f32);
    assert.deepEqual(x.toBuffer(), bytes);
    // unaligned source view (as inside a safetensors file)
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes, 1);
    assert.deepEqual(T.fromBuffer(padded.subarray(1), 'bfloat16', [6]).toBuffer(), bytes);
    // rounding on conversion: 1 + 2^-9 is below bf16 resolution
    assert.deepEqual(
      t([1 + 2 ** -9, 1 + 2 ** -7])
        .to('bfloat16')
        .toArray(),
      [1, 1 + 2 ** -7],
    );
    const h = t([0.5, -1.25, 1024]).to('float16');
    assert.deepEqual(T.fromBuffer(h.toBuffer(), 'float16', [3]).toArray(), [0.5, -1.25, 1024]);
    assert.deepEqual(T.fromBuffer(new Uint8Array(new Float64Array([Math.PI]).buffer), 'float64', [1]).toArray(), [
      Math.PI,
    ]);
  }));

test('shape ops', () =>
  T.tidy(() => {
    const a = T.arange(6).reshape([2, 3]);
    assert.deepEqual(a.transpose(0, 1).contiguous().toArray(), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(a.permute([1, 0]).shape, [3, 2]);
    assert.deepEqual(a.view([3, 2]).shape, [3, 2]);
    assert.deepEqual(a.narrow(1, 1, 2).toArray(), [1, 2, 4, 5]);
    assert.deepEqual(a.unsqueeze(0).shape, [1, 2, 3]);
    assert.deepEqual(a.unsqueeze(0).squeeze(0).shape, [2, 3]);
    assert.deepEqual(t([1, 2]).unsqueeze(1).expand([2, 3]).toArray(), [1, 1, 1, 2, 2, 2]);
    assert.deepEqual(T.zeros([2, 3, 4]).flatten(1).shape, [2, 12]);
    assert.deepEqual(T.zeros([2, 3, 4]).flatten().shape, [24]);
    assert.deepEqual(T.cat([a, a], 0).shape, [4, 3]);
    assert.deepEqual(T.stack([a, a], 1).shape, [2, 2, 3]);
    assert.deepEqual(a.clone().toArray(), a.toArray());
  }));

test('elementwise math, comparisons and masks', () =>
  T.tidy(() => {
    const a = t([1, 4, 9]);
    assert.deepEqual(a.add(1).toArray(), [2, 5, 10]);
    assert.deepEqual(a.sub(t([1, 1, 1])).toArray(), [0, 3, 8]);
    assert.deepEqual(a.mul(2).toArray(), [2, 8, 18]);
    assert.deepEqual(a.div(2).toArray(), [0.5, 2, 4.5]);
    assert.deepEqual(a.sqrt().toArray(), [1, 2, 3]);
    assert.deepEqual(a.rsqrt().toArray(), [1, 0.5, 1 / 3].map(Math.fround));
    assert.deepEqual(a.pow(0.5).toArray(), [1, 2, 3]);
    assert.deepEqual(a.neg().abs().toArray(), [1, 4, 9]);
    assertClose(a.log().exp().toArray(), [1, 4, 9], 1e-5, 1e-6);
    assert.deepEqual(t([-1, 0, 2]).relu().toArray(), [0, 0, 2]);
    assertClose(t([0, 1]).tanh().toArray(), [0, Math.tanh(1)], 1e-7, 0);
    // GELU tanh form ("gelu_new") vs exact erf form
    const x = 1.3;
    const geluTanh = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    assertClose(t([x], 'float64').gelu('tanh').toArray(), [geluTanh], 1e-12, 0);
    assertClose(t([x], 'float64').gelu().toArray(), [0.5 * x * (1 + erf(x / Math.SQRT2))], 1e-7, 0);
    assert.deepEqual(a.minimum(4).toArray(), [1, 4, 4]);
    assert.deepEqual(a.maximum(t([2, 2, 20])).toArray(), [2, 4, 20]);
    assert.deepEqual(a.clamp(2).toArray(), [2, 4, 9]);
    assert.deepEqual(a.clamp(undefined, 5).toArray(), [1, 4, 5]);
    assert.deepEqual(a.clamp(2, 5).toArray(), [2, 4, 5]);
    assert.deepEqual(a.eq(4).toArray(), [0, 1, 0]);
    assert.equal(a.eq(4).dtype, 'bool');
    assert.deepEqual(a.ne(4).toArray(), [1, 0, 1]);
    assert.deepEqual(a.lt(4).toArray(), [1, 0, 0]);
    assert.deepEqual(a.le(4).toArray(), [1, 1, 0]);
    assert.deepEqual(a.gt(t([0, 5, 5])).toArray(), [1, 0, 1]);
    assert.deepEqual(a.ge(9).toArray(), [0, 0, 1]);
    assert.deepEqual(a.gt(1).logicalAnd(a.lt(9)).toArray(), [0, 1, 0]);
    assert.deepEqual(a.lt(2).logicalOr(a.gt(8)).toArray(), [1, 0, 1]);
    assert.deepEqual(a.lt(2).logicalNot().toArray(), [0, 1, 1]);
    assert.deepEqual(a.maskedFill(a.gt(3), -1).toArray(), [1, -1, -1]);
    assert.deepEqual(T.where(a.gt(3), a, 0).toArray(), [0, 4, 9]);
    assert.deepEqual(T.where(a.gt(3), 1, 0).toArray(), [0, 1, 1]);
    assert.deepEqual(T.where(a.gt(3), -1, a).toArray(), [1, -1, -1]);
    // integer tensors stay integral with integral scalars, like Python ints
    assert.equal(t([1, 2], 'int64').add(2).dtype, 'int64');
    assert.equal(t([1, 2], 'int64').mul(0.5).dtype, 'float32');
    assert.deepEqual(T.triu(T.ones([3, 3]), 1).toArray(), [0, 1, 1, 0, 0, 1, 0, 0, 0]);
    assert.deepEqual(T.tril(T.ones([2, 2])).toArray(), [1, 0, 1, 1]);
  }));

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse; use a series (fine for |x| < 3).
  let sum = x;
  let term = x;
  for (let n = 1; n < 60; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

test('linear algebra', () =>
  T.tidy(() => {
    const a = t([
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(a.matmul(a).toArray(), [7, 10, 15, 22]);
    assert.deepEqual(T.stack([a, a]).matmul(a).shape, [2, 2, 2]);
    assert.deepEqual(
      T.stack([a, a])
        .bmm(T.stack([a, a]))
        .toArray(),
      [7, 10, 15, 22, 7, 10, 15, 22],
    );
    assert.deepEqual(
      T.linear(
        a,
        t([
          [1, 0],
          [0, 1],
          [1, 1],
        ]),
        t([0, 0, 10]),
      ).toArray(),
      [1, 2, 13, 3, 4, 17],
    );
  }));

test('reductions', () =>
  T.tidy(() => {
    const a = t([
      [1, 5, 2],
      [7, 0, 3],
    ]);
    assert.equal(a.sum().item(), 18);
    assert.deepEqual(a.sum(0).toArray(), [8, 5, 5]);
    assert.deepEqual(a.sum(1, true).shape, [2, 1]);
    assert.deepEqual(a.sum([0, 1]).toArray(), [18]);
    assert.deepEqual(a.mean(1).toArray(), [8 / 3, 10 / 3].map(Math.fround));
    assert.equal(a.max().item(), 7);
    assert.deepEqual(a.max(1).toArray(), [5, 7]);
    assert.deepEqual(a.min(0).toArray(), [1, 0, 2]);
    assert.deepEqual(a.argmax(1).toArray(), [1, 0]);
    assert.equal(a.argmax(1).dtype, 'int64');
    const { values, indices } = a.topk(2, 1);
    assert.deepEqual(values.toArray(), [5, 2, 7, 3]);
    assert.deepEqual(indices.toArray(), [1, 2, 0, 2]);
    assert.deepEqual(a.topk(1, 1, false).values.toArray(), [1, 0]);
    const s = a.sort(1, true);
    assert.deepEqual(s.values.toArray(), [5, 2, 1, 7, 3, 0]);
    assert.deepEqual(s.indices.toArray(), [1, 2, 0, 0, 2, 1]);
    assertClose(
      a.logsumexp(1).toArray(),
      [Math.log(Math.E + Math.E ** 5 + Math.E ** 2), Math.log(Math.E ** 7 + 1 + Math.E ** 3)],
      1e-5,
      1e-6,
    );
    assertClose(
      t([0, Math.log(3)])
        .softmax(0)
        .toArray(),
      [0.25, 0.75],
      1e-7,
      0,
    );
    assertClose(
      t([0, Math.log(3)])
        .logSoftmax(0)
        .toArray(),
      [Math.log(0.25), Math.log(0.75)],
      1e-6,
      0,
    );
    assert.deepEqual(a.cumsum(1).toArray(), [1, 6, 8, 7, 7, 10]);
  }));

test('indexing', () =>
  T.tidy(() => {
    const a = t([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const i64 = (v: T.NestedNumbers): T.Tensor => t(v, 'int64');
    assert.deepEqual(
      a
        .gather(
          1,
          i64([
            [2, 0],
            [1, 1],
          ]),
        )
        .toArray(),
      [3, 1, 5, 5],
    );
    assert.deepEqual(a.indexSelect(1, i64([2, 0])).toArray(), [3, 1, 6, 4]);
    assert.deepEqual(a.scatter(1, i64([[0], [2]]), t([[9], [8]])).toArray(), [9, 2, 3, 4, 5, 8]);
    assert.deepEqual(a.scatter(1, i64([[1], [0]]), 0).toArray(), [1, 0, 3, 0, 5, 6]);
    assert.deepEqual(T.embedding(a, i64([[1, 0]])).shape, [1, 2, 3]);
    assert.deepEqual(T.embedding(a, i64([1, 0])).toArray(), [4, 5, 6, 1, 2, 3]);
  }));

test('crossEntropy: ignore_index, label smoothing, reductions', () =>
  T.tidy(() => {
    const logits = t(
      [
        [2, 0, -1],
        [0.5, 0.5, 0.5],
        [1, 3, 0],
      ],
      'float64',
    );
    const targets = t([0, -100, 1], 'int64');
    const lse = (r: number[]): number => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const rows = [
      [2, 0, -1],
      [1, 3, 0],
    ];
    const nll = [lse(rows[0]!) - 2, lse(rows[1]!) - 3];
    assertClose([T.crossEntropy(logits, targets).item()], [(nll[0]! + nll[1]!) / 2], 1e-12, 0);
    assertClose([T.crossEntropy(logits, targets, { reduction: 'sum' }).item()], [nll[0]! + nll[1]!], 1e-12, 0);
    assertClose(T.crossEntropy(logits, targets, { reduction: 'none' }).toArray(), [nll[0]!, 0, nll[1]!], 1e-12, 0);
    // label smoothing eps: (1-eps)*nll + eps * mean_c(-log p_c)
    const eps = 0.1;
    const smooth = rows.map((r, k) => (1 - eps) * nll[k]! + (eps * r.reduce((s, v) => s + (lse(r) - v), 0)) / 3);
    assertClose(
      [T.crossEntropy(logits, targets, { labelSmoothing: eps }).item()],
      [(smooth[0]! + smooth[1]!) / 2],
      1e-12,
      0,
    );
    assertClose(
      [T.crossEntropy(logits, t([1, 1, -7], 'int64'), { ignoreIndex: -7 }).item()],
      [(lse(rows[0]!) - 0 + (lse([0.5, 0.5, 0.5]) - 0.5)) / 2],
      1e-12,
      0,
    );
  }));

test('rmsNorm (T5 layer norm) and dropout', () =>
  T.tidy(() => {
    const x = t([[1, 2, 3, 4]]);
    const w = t([1, 1, 2, 2]);
    const r = 1 / Math.sqrt((1 + 4 + 9 + 16) / 4 + 1e-6);
    assertClose(T.rmsNorm(x, w, 1e-6).toArray(), [r, 2 * r, 6 * r, 8 * r], 1e-6, 1e-6);
    // bf16 weight: statistics in fp32, result in bf16 (HF T5LayerNorm)
    assert.equal(T.rmsNorm(x.to('bfloat16'), w.to('bfloat16'), 1e-6).dtype, 'bfloat16');
    assert.equal(T.rmsNorm(x.to('bfloat16'), w, 1e-6).dtype, 'float32');
    const ones = T.ones([10000]);
    const d = T.dropout(ones, 0.3, true).toArray();
    const zeros = d.filter((v) => v === 0).length;
    assert.ok(zeros > 2700 && zeros < 3300, `${zeros} zeros`);
    assert.ok(d.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
    assert.deepEqual(T.dropout(t([1, 2]), 0.5, false).toArray(), [1, 2]);
    assert.throws(() => T.dropout(ones, 1.5, true), /p must be in \[0, 1\]/);
  }));

test('in-place initialisers and copy_ bypass autograd', () =>
  T.tidy(() => {
    const p = T.zeros([1000], { requiresGrad: true });
    p.normal_(1, 0.5);
    const v = p.toArray();
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    assert.ok(Math.abs(mean - 1) < 0.1);
    p.uniform_(-2, -1);
    assert.ok(p.toArray().every((x) => x >= -2 && x < -1));
    p.fill_(3);
    assert.ok(p.toArray().every((x) => x === 3));
    p.copy_(T.arange(1000, undefined, 1, { dtype: 'float32' }));
    assert.equal(p.toArray()[999], 999);
    assert.equal(p.requiresGrad, true);
  }));

test('indexCopy_ writes rows of src at the given indices along a dim, in place (float32, bfloat16), and checks shapes', () =>
  T.tidy(() => {
    const a = T.zeros([4, 3]);
    const view = a.view([12]); // shares storage: the write shows through it
    a.indexCopy_(
      0,
      T.tensor([3, 1], [2], 'int64'),
      t([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    );
    assert.deepEqual(a.toArray(), [0, 0, 0, 4, 5, 6, 0, 0, 0, 1, 2, 3]);
    assert.deepEqual(view.toArray().slice(9), [1, 2, 3]);
    const b = T.zeros([2, 3], { dtype: 'bfloat16' });
    b.indexCopy_(1, T.tensor([2], [1], 'int64'), t([[1.5], [-2]], 'bfloat16'));
    assert.equal(b.dtype, 'bfloat16');
    assert.deepEqual(b.float().toArray(), [0, 0, 1.5, 0, 0, -2]);
    assert.throws(() => a.indexCopy_(0, T.tensor([0], [1], 'int64'), t([[1, 2]])));
  }));

test('no tensors leaked by this file', () => {
  assert.equal(T.liveTensors(), live0);
});

test("setData_ (PyTorch's t.data = other): new dtype, shape and values, same handle, requires_grad kept", () =>
  T.tidy(() => {
    const p = T.tensor([1.5, 2.25, 3], [3]).setRequiresGrad(true);
    assert.equal(p.dtype, 'float32'); // metadata cached before the change
    assert.deepEqual(p.shape, [3]);
    T.noGrad(() => p.setData_(T.tensor([4, 5, 6, 7], [2, 2]).to('bfloat16')));
    assert.equal(p.dtype, 'bfloat16');
    assert.deepEqual(p.shape, [2, 2]);
    assert.deepEqual(p.to('float32').toArray(), [4, 5, 6, 7]);
    assert.equal(p.requiresGrad, true);
  }));
