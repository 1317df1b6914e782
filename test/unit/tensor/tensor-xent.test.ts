// Cross-entropy: bf16 logits take the fused path (native crossEntropyOp: logsumexp rows forward, softmax - onehot
// backward), float32 and float64 libtorch's cross_entropy_loss (checked by finite differences in tensor-grad); each
// against float64 on the same values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';

const V = 1000;

function check(dtype: 'float32' | 'bfloat16', reduction: 'mean' | 'sum', lossTol: number, gradTol: number): void {
  T.tidy(() => {
    T.manualSeed(3);
    const base = T.randn([13, V]).mul(4);
    const targets = T.tensor([5, 999, -100, 0, 17, 17, 500, -100, 3, 998, 1, 2, 250], [13], 'int64');
    const x = base.to(dtype).detach().setRequiresGrad(true);
    const loss = T.crossEntropy(x, targets, { reduction });
    loss.mul(0.7).backward();
    const ref = base.to(dtype).to('float64').detach().setRequiresGrad(true);
    const lossRef = T.crossEntropy(ref, targets, { reduction });
    lossRef.mul(0.7).backward();
    assert.equal(loss.dtype, 'float32', 'the loss is float32 for bf16 logits too');
    assert.equal(x.grad!.dtype, dtype);
    const le = Math.abs(loss.item() - lossRef.item());
    assert.ok(
      le <= lossTol * Math.max(1, Math.abs(lossRef.item())),
      `${dtype} ${reduction}: loss ${loss.item()} vs ${lossRef.item()}`,
    );
    const ge = x.grad!.to('float64').sub(ref.grad!).abs().max().item();
    assert.ok(ge <= gradTol, `${dtype} ${reduction}: max grad error ${ge}`);
    const ignored = x.grad!.narrow(0, 2, 1).abs().sum().item();
    assert.equal(ignored, 0, 'ignored rows get no gradient');
  });
}

test('cross-entropy equals libtorch in float64: loss and gradient, mean and sum, float32 and bf16 (fused) logits', () => {
  check('float32', 'mean', 1e-6, 1e-7);
  check('bfloat16', 'sum', 1e-6, 2e-3);
  // bf16: the same bf16 values in float64 as reference; the gradient is rounded to bf16 once (relative 2^-8).
  check('bfloat16', 'mean', 1e-6, 2e-3);
});

test('fused cross-entropy: bad targets, no labelled row, fallbacks', () =>
  T.tidy(() => {
    const x = T.randn([3, 10]).to('bfloat16');
    assert.throws(() => T.crossEntropy(x, T.tensor([1, 10, 2], [3], 'int64')), /Target 10 is out of bounds/);
    assert.throws(() => T.crossEntropy(x, T.tensor([1, -5, 2], [3], 'int64')), /Target -5 is out of bounds/);
    assert.ok(
      Number.isNaN(T.crossEntropy(x, T.tensor([-100, -100, -100], [3], 'int64')).item()),
      'mean over no rows is NaN, as torch',
    );
    const fast = T.crossEntropy(x, T.tensor([1, 2, 3], [3], 'int64')).item();
    const viaStrided = T.crossEntropy(
      x.transpose(0, 1).contiguous().transpose(0, 1),
      T.tensor([1, 2, 3], [3], 'int64'),
    ).item();
    const smoothed = T.crossEntropy(x, T.tensor([1, 2, 3], [3], 'int64'), { labelSmoothing: 0.1 }).item();
    assert.ok(
      Math.abs(fast - viaStrided) < 1e-5,
      "non-contiguous logits take libtorch's path (in float32), same value",
    );
    assert.ok(smoothed !== fast, 'label smoothing still applies');
  }));
