// Every differentiable op's gradient against central finite differences, in float64.
// Loss = sum(op(inputs) * W) for a fixed random W, so every output element contributes.
// Tolerance: |analytic - numeric| <= 1e-6 + 1e-5 * |numeric| with step h = 1e-6
// (float64 central differences are accurate to ~1e-9 here; a wrong gradient is off by O(1)).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import { Tensor } from '../../../src/tensor';
import { assertClose, prng, randomArray, shapeSize } from '../../helpers/tensor-helpers';

interface Input {
  shape: number[];
  lo?: number;
  hi?: number;
  values?: number[];
}

const H = 1e-6;
const ATOL = 1e-6;
const RTOL = 1e-5;

function gradCheck(name: string, inputs: Input[], f: (xs: Tensor[]) => Tensor, seed = 1): void {
  const rnd = prng(seed);
  const values = inputs.map((i) => i.values ?? randomArray(shapeSize(i.shape), rnd, i.lo ?? -1, i.hi ?? 1));
  let weights: number[] | null = null;
  let outShape: number[] = [];

  const loss = (vals: number[][], withGrad: boolean): { value: number; grads: number[][] } =>
    T.tidy(() => {
      const xs = vals.map((v, k) => T.tensor(v, inputs[k]!.shape, 'float64', { requiresGrad: withGrad }));
      const out = f(xs);
      if (weights === null) {
        outShape = out.shape;
        weights = randomArray(out.numel(), rnd, 0.5, 1.5);
      }
      const l = out.mul(T.tensor(weights, outShape, 'float64')).sum();
      if (!withGrad) return { value: l.item(), grads: [] };
      l.backward();
      const grads = xs.map((x) => {
        const g = x.grad;
        return g ? g.toArray() : new Array<number>(x.numel()).fill(0);
      });
      return { value: l.item(), grads };
    });

  const analytic = loss(values, true).grads;
  for (let k = 0; k < inputs.length; k++) {
    const numeric: number[] = [];
    for (let j = 0; j < values[k]!.length; j++) {
      const plus = values.map((v) => v.slice());
      const minus = values.map((v) => v.slice());
      plus[k]![j]! += H;
      minus[k]![j]! -= H;
      numeric.push((loss(plus, false).value - loss(minus, false).value) / (2 * H));
    }
    assertClose(analytic[k]!, numeric, ATOL, RTOL, `${name}: d/dinput${k}`);
  }
}

const live0 = T.liveTensors();

test('elementwise ops', () => {
  const s = [2, 3];
  gradCheck('add', [{ shape: s }, { shape: [3] }], ([a, b]) => a!.add(b!));
  gradCheck('addScalar', [{ shape: s }], ([a]) => a!.add(2.5));
  gradCheck('sub', [{ shape: s }, { shape: s }], ([a, b]) => a!.sub(b!));
  gradCheck('mul', [{ shape: s }, { shape: [2, 1] }], ([a, b]) => a!.mul(b!));
  gradCheck('div', [{ shape: s }, { shape: s, lo: 0.5, hi: 2 }], ([a, b]) => a!.div(b!));
  gradCheck('divScalar', [{ shape: s }], ([a]) => a!.div(3));
  gradCheck('neg', [{ shape: s }], ([a]) => a!.neg());
  gradCheck('pow', [{ shape: s, lo: 0.2, hi: 2 }], ([a]) => a!.pow(2.5));
  gradCheck('sqrt', [{ shape: s, lo: 0.2, hi: 2 }], ([a]) => a!.sqrt());
  gradCheck('rsqrt', [{ shape: s, lo: 0.2, hi: 2 }], ([a]) => a!.rsqrt());
  gradCheck('exp', [{ shape: s }], ([a]) => a!.exp());
  gradCheck('log', [{ shape: s, lo: 0.2, hi: 2 }], ([a]) => a!.log());
  gradCheck('abs', [{ shape: s, values: [-1, -0.5, 0.3, 0.7, -2, 1.5] }], ([a]) => a!.abs());
  gradCheck('tanh', [{ shape: s }], ([a]) => a!.tanh());
  gradCheck('sigmoid', [{ shape: s }], ([a]) => a!.sigmoid());
  gradCheck('relu', [{ shape: s, values: [-1, -0.5, 0.3, 0.7, -2, 1.5] }], ([a]) => a!.relu());
  gradCheck('gelu', [{ shape: s, lo: -3, hi: 3 }], ([a]) => a!.gelu());
  gradCheck('gelu-tanh', [{ shape: s, lo: -3, hi: 3 }], ([a]) => a!.gelu('tanh'));
  gradCheck(
    'minimum',
    [
      { shape: [3], values: [1, 2, 3] },
      { shape: [3], values: [2, 1, 4] },
    ],
    ([a, b]) => a!.minimum(b!),
  );
  gradCheck(
    'maximum',
    [
      { shape: [3], values: [1, 2, 3] },
      { shape: [3], values: [2, 1, 4] },
    ],
    ([a, b]) => a!.maximum(b!),
  );
  gradCheck('clamp', [{ shape: [4], values: [-2, -0.5, 0.5, 2] }], ([a]) => a!.clamp(-1, 1));
  gradCheck('maskedFill', [{ shape: s }], ([a]) => a!.maskedFill(T.tensor([1, 0, 1, 0, 0, 1], s, 'bool'), 0));
  gradCheck('where', [{ shape: s }, { shape: s }], ([a, b]) =>
    T.where(T.tensor([1, 0, 1, 0, 0, 1], s, 'bool'), a!, b!),
  );
  gradCheck('whereScalar', [{ shape: s }], ([a]) => T.where(a!.gt(0), a!, 0.5));
});

test('linear algebra', () => {
  gradCheck('matmul', [{ shape: [2, 3] }, { shape: [3, 4] }], ([a, b]) => a!.matmul(b!));
  gradCheck('matmul-batched', [{ shape: [2, 2, 3] }, { shape: [3, 2] }], ([a, b]) => a!.matmul(b!));
  gradCheck('bmm', [{ shape: [2, 2, 3] }, { shape: [2, 3, 2] }], ([a, b]) => a!.bmm(b!));
  gradCheck('linear', [{ shape: [2, 3] }, { shape: [4, 3] }, { shape: [4] }], ([x, w, b]) => T.linear(x!, w!, b!));
  gradCheck('linear-nobias', [{ shape: [2, 2, 3] }, { shape: [4, 3] }], ([x, w]) => T.linear(x!, w!));
});

test('reductions and normalisation', () => {
  const s = [2, 3];
  gradCheck('sum-all', [{ shape: s }], ([a]) => a!.sum());
  gradCheck('sum-dim', [{ shape: s }], ([a]) => a!.sum(1, true));
  gradCheck('sum-dims', [{ shape: [2, 3, 2] }], ([a]) => a!.sum([0, 2]));
  gradCheck('mean', [{ shape: s }], ([a]) => a!.mean(-1));
  gradCheck('max-all', [{ shape: [4], values: [1, 5, 2, 3] }], ([a]) => a!.max());
  gradCheck('max-dim', [{ shape: s, values: [1, 5, 2, 3, 0, -1] }], ([a]) => a!.max(1));
  gradCheck('min-dim', [{ shape: s, values: [1, 5, 2, 3, 0, -1] }], ([a]) => a!.min(0));
  gradCheck('logsumexp', [{ shape: s }], ([a]) => a!.logsumexp(1));
  gradCheck('softmax', [{ shape: s }], ([a]) => a!.softmax(-1));
  gradCheck('logSoftmax', [{ shape: s }], ([a]) => a!.logSoftmax(0));
  gradCheck('cumsum', [{ shape: s }], ([a]) => a!.cumsum(1));
  gradCheck('topk', [{ shape: [5], values: [0.1, 0.9, 0.4, 0.7, 0.2] }], ([a]) => a!.topk(2).values);
  gradCheck('sort', [{ shape: [4], values: [0.3, -0.2, 0.8, 0.1] }], ([a]) => a!.sort(0, true).values);
  gradCheck('rmsNorm', [{ shape: [2, 4] }, { shape: [4] }], ([x, w]) => T.rmsNorm(x!, w!, 1e-6));
});

test('shape ops', () => {
  const s = [2, 3];
  gradCheck('reshape', [{ shape: s }], ([a]) => a!.reshape([3, 2]).mul(a!.reshape([3, 2])));
  gradCheck('view', [{ shape: s }], ([a]) => a!.view([6]).exp());
  gradCheck('permute', [{ shape: [2, 3, 2] }], ([a]) => a!.permute([2, 0, 1]).contiguous());
  gradCheck('transpose', [{ shape: s }], ([a]) => a!.transpose(0, 1));
  gradCheck('narrow', [{ shape: s }], ([a]) => a!.narrow(1, 1, 2));
  gradCheck('squeeze/unsqueeze', [{ shape: [2, 1, 3] }], ([a]) => a!.squeeze(1).unsqueeze(0));
  gradCheck('expand', [{ shape: [2, 1] }], ([a]) => a!.expand([2, 3]));
  gradCheck('flatten', [{ shape: [2, 3, 2] }], ([a]) => a!.flatten(1));
  gradCheck('cat', [{ shape: s }, { shape: [2, 2] }], ([a, b]) => T.cat([a!, b!], 1));
  gradCheck('stack', [{ shape: s }, { shape: s }], ([a, b]) => T.stack([a!, b!], 1));
  gradCheck('triu', [{ shape: [3, 3] }], ([a]) => T.triu(a!, 1));
  gradCheck('tril', [{ shape: [3, 3] }], ([a]) => T.tril(a!));
  gradCheck('clone', [{ shape: s }], ([a]) => a!.clone());
  gradCheck('to(float64)', [{ shape: s }], ([a]) => a!.to('float64').mul(2));
});

test('indexing', () => {
  const idx = (v: number[], shape: number[]): Tensor => T.tensor(v, shape, 'int64');
  gradCheck('gather', [{ shape: [2, 3] }], ([a]) => a!.gather(1, idx([0, 2, 1, 1], [2, 2])));
  gradCheck('indexSelect', [{ shape: [3, 2] }], ([a]) => a!.indexSelect(0, idx([2, 0, 2], [3])));
  gradCheck('scatter', [{ shape: [2, 3] }, { shape: [2, 2] }], ([a, src]) =>
    a!.scatter(1, idx([0, 2, 1, 0], [2, 2]), src!),
  );
  gradCheck('embedding', [{ shape: [5, 3] }], ([w]) => T.embedding(w!, idx([4, 0, 4, 2], [2, 2])));
});

test('losses and dropout', () => {
  const targets = (): Tensor => T.tensor([2, -100, 0, 1], [4], 'int64');
  gradCheck('crossEntropy', [{ shape: [4, 3], lo: -2, hi: 2 }], ([l]) => T.crossEntropy(l!, targets()));
  gradCheck('crossEntropy-sum-smoothing', [{ shape: [4, 3], lo: -2, hi: 2 }], ([l]) =>
    T.crossEntropy(l!, targets(), { reduction: 'sum', labelSmoothing: 0.1 }),
  );
  gradCheck('crossEntropy-none', [{ shape: [4, 3], lo: -2, hi: 2 }], ([l]) =>
    T.crossEntropy(l!, targets(), { reduction: 'none' }),
  );
  // Same mask on every evaluation: reseed before the forward pass.
  gradCheck('dropout', [{ shape: [4, 4] }], ([a]) => {
    T.manualSeed(7);
    return T.dropout(a!, 0.5, true);
  });
});

test('gradient accumulates over two backward passes and detach blocks it', () => {
  T.tidy(() => {
    const x = T.tensor([1, 2, 3], [3], 'float64', { requiresGrad: true });
    x.mul(x).sum().backward();
    x.mul(3).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [5, 7, 9]);
    const y = T.tensor([1, 2], [2], 'float64', { requiresGrad: true });
    y.detach().mul(2).add(y).sum().backward();
    assert.deepEqual(y.grad!.toArray(), [1, 1]);
    y.zeroGrad();
    assert.equal(y.grad, null);
  });
});

test('no tensors leaked by the gradient checks', () => {
  assert.equal(T.liveTensors(), live0);
});
