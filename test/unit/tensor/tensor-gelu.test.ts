// The vectorised tanh-GELU (forward and its custom autograd backward, native/src/kernels.inc) against libtorch's own
// at::gelu(approximate='tanh'), which runs for float64 and is itself checked by finite differences in tensor-grad.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';

function compare(dtype: 'float32' | 'bfloat16', shape: number[], fwdTol: number, bwdTol: number): void {
  T.tidy(() => {
    T.manualSeed(7);
    const base = T.randn(shape).mul(3); // covers both branches of tanh (|inner| below and above 0.55) and saturation
    const g = T.randn(shape).to(dtype);
    const x = base.to(dtype).detach().setRequiresGrad(true);
    const y = x.gelu('tanh');
    y.backward(g);
    const ref = base.to(dtype).to('float64').detach().setRequiresGrad(true);
    const yr = ref.gelu('tanh');
    yr.backward(g.to('float64'));
    assert.equal(y.dtype, dtype);
    assert.equal(x.grad!.dtype, dtype);
    const fe = y.to('float64').sub(yr).abs().max().item();
    const be = x.grad!.to('float64').sub(ref.grad!).abs().max().item();
    assert.ok(fe <= fwdTol, `${dtype} forward: max |fast - libtorch| = ${fe}`);
    assert.ok(be <= bwdTol, `${dtype} backward: max |fast - libtorch| = ${be}`);
  });
}

test('tanh-GELU forward and backward equal libtorch (float32 to 2e-6; bf16 to its rounding)', () => {
  compare('float32', [37, 333], 2e-6, 5e-6);
  // bf16: one rounding of values up to ~|10| (ulp 0.0625) and of gradients up to ~|4|: libtorch's own bf16 is 0.05 off.
  compare('bfloat16', [37, 333], 0.04, 0.04);
});

test('tanh-GELU on a non-contiguous view and inside a graph', () =>
  T.tidy(() => {
    const w = T.randn([6, 10]).setRequiresGrad(true);
    const view = w.transpose(0, 1); // not contiguous
    const loss = view.gelu('tanh').mul(view).sum();
    loss.backward();
    const w64 = w.detach().to('float64').setRequiresGrad(true);
    const v64 = w64.transpose(0, 1);
    v64.gelu('tanh').mul(v64).sum().backward();
    const e = w.grad!.to('float64').sub(w64.grad!).abs().max().item();
    assert.ok(e < 1e-5, `max grad error ${e}`);
  }));
