// Child process of tensor-bf16-sweep.test.ts (a crash must fail that test, not kill the test runner).
// Runs, forward and backward under bf16 autocast, every shape class of oneDNN bf16 matmul that a `tiny` T5
// pretraining step creates (ONEDNN_VERBOSE census of 320 steps: ~17k distinct matmul primitives, all of them
// brgemm): the d 32 / d_ff 64 projections with every row count 1..130 (their weight gradients have K = rows, so every
// K tail), the 16000-wide LM head, and the attention products with head dim 8 for query/key lengths on both sides
// of each multiple of 8, 16 and 32 (the K, M and N tails of the AMX and AVX-512 kernels), in the layouts autograd
// uses (plain, transposed, batched). Prints `ok <matmuls> <max abs error vs float32>` on success.
import * as T from '../../src/tensor';

const LENGTHS = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 29, 31, 32, 33, 63, 64, 65, 127, 128, 129];
let matmuls = 0;
let worst = 0;

/** Loss of fn under bf16 autocast, its gradients, and the same in float32 for a sanity bound on the values. */
function run(inputs: T.Tensor[], fn: (xs: T.Tensor[]) => T.Tensor, count: number): void {
  T.tidy(() => {
    const grads = (bf16: boolean): number[] => {
      for (const x of inputs) x.zeroGrad();
      const loss = bf16 ? T.autocast(() => fn(inputs).float().sum()) : fn(inputs).sum();
      loss.backward();
      return inputs.map((x) => x.grad!.abs().sum().item());
    };
    const a = grads(true);
    const b = grads(false);
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  });
  matmuls += count;
}

T.manualSeed(0);
const param = (shape: number[]) => T.tidy(() => T.randn(shape).mul(0.2).setRequiresGrad(true).keep());
const w1 = param([64, 32]);
const w2 = param([32, 64]);
const lmHead = param([16000, 32]);

// Feed-forward and projection shapes: [M, 32] x [32, 64] x [64, 32], M = every row count of a batch.
for (let m = 1; m <= 130; m++) {
  const x = param([m, 32]);
  run([x, w1, w2], ([a, p, q]) => T.linear(T.linear(a!, p!).relu(), q!), 6);
  x.dispose();
}
// LM head: [M, 32] x [32, 16000].
for (const m of LENGTHS) {
  const x = param([m, 32]);
  run([x, lmHead], ([a, p]) => T.linear(a!, p!), 3);
  x.dispose();
}
// Attention, 2 sequences x 4 heads x head dim 8: scores [Lq, 8] x [8, Lk], context [Lq, Lk] x [Lk, 8].
for (const lq of LENGTHS)
  for (const lk of LENGTHS) {
    const q = param([2, 4, lq, 8]);
    const k = param([2, 4, lk, 8]);
    const v = param([2, 4, lk, 8]);
    run([q, k, v], ([a, b, c]) => a!.matmul(b!.transpose(-1, -2)).float().softmax(-1).matmul(c!), 6);
    for (const t of [q, k, v]) t.dispose();
  }
process.stdout.write(`ok ${matmuls} ${worst.toExponential(2)}\n`);
