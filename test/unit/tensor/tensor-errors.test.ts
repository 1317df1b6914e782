// libtorch errors surface as JS Errors naming the op and its inputs' dtypes/shapes; nothing aborts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';

const idx = (v: number[]): T.Tensor => T.tensor(v, [v.length], 'int64');

const cases: [string, () => unknown, RegExp][] = [
  [
    'matmul shape mismatch',
    () => T.ones([2, 3]).matmul(T.ones([4, 5])),
    /^matmul\(float32\[2,3\], float32\[4,5\]\): mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)$/,
  ],
  [
    'matmul dtype mismatch',
    () => T.ones([2, 2]).matmul(T.ones([2, 2], { dtype: 'int64' })),
    /^matmul\(float32\[2,2\], int64\[2,2\]\): expected scalar type Float but found Long$/,
  ],
  [
    'broadcast mismatch',
    () => T.ones([2, 3]).add(T.ones([4])),
    /^add\(float32\[2,3\], float32\[4\]\): The size of tensor a/,
  ],
  [
    'gather index out of range',
    () => T.ones([2, 3]).gather(1, T.tensor([[5]], undefined, 'int64')),
    /^gather\(float32\[2,3\], int64\[1,1\]\): index 5 is out of bounds/,
  ],
  [
    'gather float index',
    () => T.ones([2, 3]).gather(1, T.tensor([[0]])),
    /^gather\(float32\[2,3\], float32\[1,1\]\): .*int64/,
  ],
  [
    'embedding id out of range',
    () => T.embedding(T.ones([3, 2]), idx([3])),
    /^embedding\(float32\[3,2\], int64\[1\]\): index out of range/,
  ],
  [
    'indexSelect out of range',
    () => T.ones([2, 3]).indexSelect(1, idx([7])),
    /^indexSelect\(float32\[2,3\], int64\[1\]\)/,
  ],
  [
    'crossEntropy float targets',
    () => T.crossEntropy(T.ones([2, 3]), T.tensor([0, 1])),
    /^crossEntropy\(float32\[2,3\], float32\[2\]\): expected scalar type Long/,
  ],
  ['crossEntropy target out of range', () => T.crossEntropy(T.ones([2, 3]), idx([0, 7])), /Target 7 is out of bounds/],
  ['bad reshape', () => T.ones([2, 3]).reshape([4, 2]), /^reshape\(float32\[2,3\]\): shape '\[4, 2\]' is invalid/],
  [
    'narrow past the end',
    () => T.ones([2, 3]).narrow(1, 2, 5),
    /^narrow\(float32\[2,3\]\): start \(2\) \+ length \(5\) exceeds/,
  ],
  ['dim out of range', () => T.ones([2]).softmax(3), /^softmax\(float32\[2\]\): Dimension out of range/],
  [
    'cat size mismatch',
    () => T.cat([T.ones([2, 3]), T.ones([4, 5])], 1),
    /^cat\(\[float32\[2,3\], float32\[4,5\]\]\): Sizes/,
  ],
  [
    'backward of a non-scalar',
    () => T.ones([2], { requiresGrad: true }).mul(2).backward(),
    /^backward\(float32\[2\]\): grad can be implicitly created only for scalar outputs/,
  ],
  [
    'item of a vector',
    () => T.ones([2]).item(),
    /^item\(float32\[2\]\): item\(\) needs a tensor with exactly one element/,
  ],
  [
    'fromBuffer size mismatch',
    () => T.fromBuffer(new Uint8Array(6), 'float32', [2]),
    /^fromBytes\(\): data has 6 bytes but shape \[2\] of float32 needs 8/,
  ],
  ['negative dimension', () => T.zeros([-1]), /^zeros\(\): .*negative dimension/],
  ['unknown dtype', () => T.zeros([2], { dtype: 'int8' as T.DType }), /unknown dtype 'int8'/],
  ['bad RNG state', () => T.setRngState(new Uint8Array(3)), /^setRngState\(\): not an RNG state blob$/],
  ['ragged nested array', () => T.tensor([[1, 2], [3]]), /ragged/],
];

if (!T.cudaAvailable()) {
  cases.push([
    'cuda without CUDA',
    () => T.zeros([2], { device: 'cuda' }),
    /^zeros\(\): device 'cuda' requested but this libtorch build has no CUDA/,
  ]);
}

for (const [name, fn, re] of cases) {
  test(`readable error: ${name}`, () => {
    T.tidy(() =>
      assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof Error, 'not an Error');
        assert.match(e.message, re);
        assert.ok(!e.message.includes('Exception raised from'), 'C++ backtrace leaked into the message');
        return true;
      }),
    );
  });
}

test('the engine keeps working after errors and no tensors leak from failed ops', () => {
  const live0 = T.liveTensors();
  for (let i = 0; i < 100; i++) {
    T.tidy(() => assert.throws(() => T.ones([2, 3]).matmul(T.ones([4, 5]))));
  }
  assert.equal(T.liveTensors(), live0);
  T.tidy(() =>
    assert.deepEqual(
      T.ones([2, 2])
        .matmul(T.ones([2, 1]))
        .toArray(),
      [2, 2],
    ),
  );
});
