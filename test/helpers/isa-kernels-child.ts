// Child of test tensor-isa: prints a hash of every elementwise fast path's output (forward and backward), so that the
// parent can compare the AVX-512 build with the AVX2 one (CYCLENER_NO_AVX512=1) bit for bit.
import { createHash } from 'node:crypto';
import * as T from '../../src/tensor';

const hash = (t: T.Tensor) => createHash('md5').update(Buffer.from(t.float().toFloat32Array().buffer)).digest('hex');
const out: Record<string, string> = {};
T.manualSeed(11);
// Odd sizes (vector tails), both branches of tanh, saturation, and the special values.
const special = T.tensor([0, -0, 1e-30, -1e-30, 1e30, -1e30, Infinity, -Infinity, NaN, 0.5493, -0.5493, 87.5, -87.5]);
const base = T.cat([T.randn([100_003]).mul(4), special]);
for (const dtype of ['float32', 'bfloat16'] as const) {
  const g = T.randn(base.shape).to(dtype);
  const x = base.to(dtype).detach().setRequiresGrad(true);
  const y = x.gelu('tanh');
  y.backward(g);
  out[`gelu ${dtype}`] = `${hash(y)} ${hash(x.grad!)}`;
  T.manualSeed(5);
  const x2 = base.to(dtype).detach().setRequiresGrad(true);
  const d = T.uniformDropout(x2, 0.1);
  d.backward(g);
  out[`dropout ${dtype}`] = `${hash(d)} ${hash(x2.grad!)}`;
  const logits = T.randn([37, 1001]).mul(3).to(dtype).detach().setRequiresGrad(true);
  const targets = T.randint(0, 1001, [37]);
  const loss = T.crossEntropy(logits, targets);
  loss.backward();
  out[`crossEntropy ${dtype}`] = `${hash(loss)} ${hash(logits.grad!)}`;
}
out['to bf16 and back'] = hash(base.to('bfloat16').to('float32'));
process.stdout.write(JSON.stringify(out));
