// Optimizers against hand-computed float64 updates, gradient clipping, schedules, and exact resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import { Tensor } from '../../../src/tensor';
import { assertClose, prng, randomArray } from '../../helpers/tensor-helpers';

// loss = sum(c * p^2) -> grad = 2 c p, so each step's gradient depends on the updated parameter.
function quadLoss(p: Tensor, c: number[]): void {
  T.tidy(() =>
    p
      .pow(2)
      .mul(T.tensor(c, p.shape, p.dtype))
      .sum()
      .backward(),
  );
}

interface AdamWRef {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
}
function adamwRef(p0: number[], c: number[], steps: number, o: AdamWRef): number[] {
  const p = p0.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  for (let t = 1; t <= steps; t++) {
    const bc1 = 1 - o.b1 ** t;
    const bc2 = 1 - o.b2 ** t;
    for (let i = 0; i < p.length; i++) {
      const g = 2 * c[i]! * p[i]!;
      p[i] = p[i]! * (1 - o.lr * o.wd);
      m[i] = o.b1 * m[i]! + (1 - o.b1) * g;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * g * g;
      const denom = Math.sqrt(v[i]!) / Math.sqrt(bc2) + o.eps;
      p[i] = p[i]! - (o.lr / bc1) * (m[i]! / denom);
    }
  }
  return p;
}

const rnd = prng(42);
const P0 = randomArray(12, rnd);
const C = randomArray(12, rnd, 0.5, 2);

for (const [label, dtype, layout, tol] of [
  ['float64, fused loop', 'float64', 'contiguous', 1e-12],
  ['float32, fused loop', 'float32', 'contiguous', 2e-6],
  ['float64, op-by-op path (non-contiguous param)', 'float64', 'transposed', 1e-12],
] as const) {
  test(`AdamW matches hand-computed updates (${label})`, () => {
    const o = { lr: 0.05, b1: 0.9, b2: 0.99, eps: 1e-8, wd: 0.1 };
    // A transposed leaf has a non-contiguous grad, which forces the generic at:: path.
    const p =
      layout === 'contiguous'
        ? T.tensor(P0, [3, 4], dtype).setRequiresGrad(true)
        : T.tensor(P0, [4, 3], dtype).transpose(0, 1).setRequiresGrad(true);
    const cRowMajor = layout === 'contiguous' ? C : transpose(C, 4, 3);
    const pRowMajor = layout === 'contiguous' ? P0 : transpose(P0, 4, 3);
    const opt = new T.AdamW([p], { lr: o.lr, betas: [o.b1, o.b2], eps: o.eps, weightDecay: o.wd });
    for (let s = 0; s < 3; s++) {
      quadLoss(p, cRowMajor);
      opt.step();
      opt.zeroGrad();
    }
    assertClose(p.toArray(), adamwRef(pRowMajor, cRowMajor, 3, o), tol, tol, 'param');
    opt.dispose();
    p.dispose();
  });
}

function transpose(a: number[], rows: number, cols: number): number[] {
  // a is [rows, cols] row-major; returns a^T row-major
  const out: number[] = [];
  for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) out.push(a[i * cols + j]!);
  return out;
}

test('AdamW skips params without a grad and keeps their step count', () => {
  const a = T.tensor([1, 2], [2], 'float64').setRequiresGrad(true);
  const b = T.tensor([3, 4], [2], 'float64').setRequiresGrad(true);
  const opt = new T.AdamW([a, b], { lr: 0.1 });
  quadLoss(a, [1, 1]);
  opt.step();
  assert.deepEqual(b.toArray(), [3, 4]);
  assert.deepEqual(opt.stateDict().hyper.paramSteps, [1, 0]);
  T.dispose([a, b]);
  opt.dispose();
});

interface AdafactorRef {
  lr: number | null;
  eps1: number;
  eps2: number;
  clip: number;
  decay: number;
  beta1: number | null;
  wd: number;
  scale: boolean;
  relative: boolean;
  warmup: boolean;
}
/** transformers' Adafactor.step, written out in float64 for a 1-D or 2-D parameter. */
function adafactorRef(p0: number[], shape: number[], c: number[], steps: number, o: AdafactorRef): number[] {
  const p = p0.slice();
  const n = p.length;
  const factored = shape.length === 2;
  const [R, K] = factored ? [shape[0]!, shape[1]!] : [1, n];
  const row = new Array<number>(R).fill(0);
  const col = new Array<number>(K).fill(0);
  const v = new Array<number>(n).fill(0);
  const m = new Array<number>(n).fill(0);
  for (let t = 1; t <= steps; t++) {
    const g = p.map((x, i) => 2 * c[i]! * x);
    const rmsP = Math.sqrt(p.reduce((s, x) => s + x * x, 0) / n);
    let rel = o.lr ?? NaN;
    if (o.relative) rel = Math.min(o.warmup ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t));
    const lr = (o.scale ? Math.max(o.eps2, rmsP) : 1) * rel;
    const beta2t = 1 - t ** o.decay;
    const u = g.map((x) => x * x + o.eps1);
    let upd: number[];
    if (factored) {
      for (let i = 0; i < R; i++) {
        let s = 0;
        for (let j = 0; j < K; j++) s += u[i * K + j]!;
        row[i] = beta2t * row[i]! + (1 - beta2t) * (s / K);
      }
      for (let j = 0; j < K; j++) {
        let s = 0;
        for (let i = 0; i < R; i++) s += u[i * K + j]!;
        col[j] = beta2t * col[j]! + (1 - beta2t) * (s / R);
      }
      const rowMean = row.reduce((a, b) => a + b, 0) / R;
      upd = g.map((x, idx) => x / Math.sqrt(row[Math.floor(idx / K)]! / rowMean) / Math.sqrt(col[idx % K]!));
    } else {
      for (let i = 0; i < n; i++) v[i] = beta2t * v[i]! + (1 - beta2t) * u[i]!;
      upd = g.map((x, i) => x / Math.sqrt(v[i]!));
    }
    const rmsU = Math.sqrt(upd.reduce((s, x) => s + x * x, 0) / n);
    const denom = Math.max(rmsU / o.clip, 1);
    upd = upd.map((x) => (x / denom) * lr);
    if (o.beta1 !== null) {
      for (let i = 0; i < n; i++) m[i] = o.beta1 * m[i]! + (1 - o.beta1) * upd[i]!;
      upd = m.slice();
    }
    for (let i = 0; i < n; i++) {
      if (o.wd !== 0) p[i] = p[i]! + p[i]! * (-o.wd * lr);
      p[i] = p[i]! - upd[i]!;
    }
  }
  return p;
}

const AF_DEFAULTS: AdafactorRef = {
  lr: null,
  eps1: 1e-30,
  eps2: 1e-3,
  clip: 1,
  decay: -0.8,
  beta1: null,
  wd: 0,
  scale: true,
  relative: true,
  warmup: false,
};
for (const [label, over] of [
  ['HF defaults (relative step, parameter scaling)', {}],
  ['T5 fine-tuning settings (lr 1e-3, no scaling)', { lr: 1e-3, scale: false, relative: false }],
  ['beta1, weight decay, tight clipping', { beta1: 0.9, wd: 0.01, clip: 0.5 }],
  // warmup-init steps are ~1e-6 * step: below float32 resolution of the check, so float64 only
  ['warmup init, weight decay', { warmup: true, wd: 0.1 }],
] as const) {
  for (const [path, dtype, layout, tol] of [
    ['fused loop, float64', 'float64', 'contiguous', 1e-12],
    ['fused loop, float32', 'float32', 'contiguous', 2e-6],
    ['op-by-op path, float64', 'float64', 'transposed', 1e-12],
  ] as const) {
    if (dtype === 'float32' && 'warmup' in over) continue;
    test(`Adafactor matches hand-computed updates: ${label}; ${path}`, () => {
      const o: AdafactorRef = { ...AF_DEFAULTS, ...over };
      for (const shape of [[3, 4], [12]]) {
        // A transposed leaf has a non-contiguous grad, which forces the generic at:: path.
        const p =
          layout === 'transposed' && shape.length === 2
            ? T.tensor(transpose(P0, 3, 4), [4, 3], dtype)
                .transpose(0, 1)
                .setRequiresGrad(true)
            : T.tensor(P0, shape, dtype).setRequiresGrad(true);
        const opt = new T.Adafactor([p], {
          lr: o.lr,
          eps: [o.eps1, o.eps2],
          clipThreshold: o.clip,
          decayRate: o.decay,
          beta1: o.beta1,
          weightDecay: o.wd,
          scaleParameter: o.scale,
          relativeStep: o.relative,
          warmupInit: o.warmup,
        });
        for (let s = 0; s < 4; s++) {
          quadLoss(p, C);
          opt.step();
          opt.zeroGrad();
        }
        const expected = adafactorRef(P0, shape, C, 4, o);
        assertClose(p.toArray(), expected, tol, tol, `param [${shape}]`);
        // the update must be larger than the tolerance, otherwise this test could not fail
        assert.ok(expected.some((x, i) => Math.abs(x - P0[i]!) > 100 * tol * (1 + Math.abs(x))));
        opt.dispose();
        p.dispose();
      }
    });
  }
}

test('Adafactor on a 3-D parameter: fused loop equals the op-by-op path', () => {
  // [2,3,4] is factored per leading index: row state [2,3], col state [2,4].
  const vals = randomArray(24, prng(3));
  const run = (transposed: boolean): number[] => {
    const p = transposed
      ? T.tidy(() =>
          T.tensor(vals, [2, 3, 4], 'float64')
            .permute([2, 1, 0])
            .contiguous()
            .permute([2, 1, 0])
            .setRequiresGrad(true)
            .keep(),
        )
      : T.tensor(vals, [2, 3, 4], 'float64').setRequiresGrad(true);
    const opt = new T.Adafactor([p], { beta1: 0.8, weightDecay: 0.1 });
    for (let s = 0; s < 3; s++) {
      T.tidy(() => p.pow(3).sum().backward());
      opt.step();
      opt.zeroGrad();
    }
    const sd = opt.stateDict();
    assert.deepEqual(sd.tensors['0.exp_avg_sq_row']!.shape, [2, 3]);
    assert.deepEqual(sd.tensors['0.exp_avg_sq_col']!.shape, [2, 4]);
    const out = p.toArray();
    T.dispose([p, sd.tensors]);
    opt.dispose();
    return out;
  };
  const fused = run(false);
  assertClose(fused, run(true), 1e-12, 1e-12, 'fused vs op-by-op');
  assert.ok(fused.some((x, i) => Math.abs(x - vals[i]!) > 1e-6));
});

test('Adafactor rejects inconsistent options like HF', () => {
  const p = T.zeros([2], { requiresGrad: true });
  assert.throws(() => new T.Adafactor([p], { lr: 1e-3 }), /relativeStep/);
  assert.throws(() => new T.Adafactor([p], { lr: 1e-3, relativeStep: false, warmupInit: true }), /warmupInit/);
  p.dispose();
});

test('Adafactor keeps fp32 state for a bf16 parameter and updates it', () => {
  const p = T.tensor(P0, [3, 4], 'bfloat16').setRequiresGrad(true);
  const before = p.toArray();
  const opt = new T.Adafactor([p], { lr: 1e-2, relativeStep: false, scaleParameter: false });
  quadLoss(p, C);
  opt.step();
  const sd = opt.stateDict();
  assert.equal(sd.tensors['0.exp_avg_sq_row']!.dtype, 'float32');
  assert.deepEqual(sd.tensors['0.exp_avg_sq_col']!.shape, [4]);
  assert.equal(p.dtype, 'bfloat16');
  assert.ok(p.toArray().some((x, i) => x !== before[i]));
  T.dispose(sd.tensors);
  opt.dispose();
  p.dispose();
});

test('clipGradNorm returns the total norm and rescales only when above maxNorm', () => {
  const a = T.tensor([1, 2], [2], 'float64').setRequiresGrad(true);
  const b = T.tensor([3], [1], 'float64').setRequiresGrad(true);
  T.tidy(() =>
    a
      .mul(T.tensor([3, 4], [2], 'float64'))
      .sum()
      .add(b.mul(12).sum())
      .backward(),
  ); // grads [3,4], [12]
  const total = T.clipGradNorm([a, b], 6.5);
  assert.ok(Math.abs(total - 13) < 1e-12);
  const coef = 6.5 / (13 + 1e-6);
  T.tidy(() => {
    assertClose(a.grad!.toArray(), [3 * coef, 4 * coef], 1e-12, 0);
    assertClose(b.grad!.toArray(), [12 * coef], 1e-12, 0);
  });
  const again = T.clipGradNorm([a, b], 100);
  assert.ok(Math.abs(again - 6.5) < 1e-5);
  T.tidy(() => assertClose(b.grad!.toArray(), [12 * coef], 1e-12, 0));
  T.dispose([a, b]);
});

test('learning-rate schedules', () => {
  assert.equal(T.schedules.constant(0.1)(1234), 0.1);
  const lin = T.schedules.linearWarmupDecay({ lr: 1, warmupSteps: 10, totalSteps: 110 });
  assert.deepEqual([0, 5, 10, 60, 110, 200].map(lin), [0, 0.5, 1, 0.5, 0, 0]);
  const t5 = T.schedules.inverseSqrt({ warmupSteps: 10000 });
  assert.equal(t5(0), 0.01);
  assert.equal(t5(10000), 0.01);
  assert.equal(t5(40000), 0.005);
  const hf = T.schedules.inverseSqrt({ lr: 2, warmupSteps: 100 });
  assert.deepEqual([0, 50, 100, 400].map(hf), [0, 1, 2, 1]);
});

// ---- exact resume ----
function makeMlp(): Tensor[] {
  T.manualSeed(123);
  return T.tidy(() =>
    [T.randn([16, 8]).mul(0.3), T.zeros([16]), T.randn([4, 16]).mul(0.3), T.zeros([4])].map((t) =>
      t.setRequiresGrad(true).keep(),
    ),
  );
}

function trainStep(params: Tensor[], opt: T.AdamW | T.Adafactor, step: number): void {
  T.tidy(() => {
    const [w1, b1, w2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
    const x = T.randn([6, 8]);
    const targets = T.tensor([0, 1, 2, 3, 1, -100], [6], 'int64');
    const h = T.dropout(T.linear(x, w1, b1).gelu('tanh'), 0.2, true);
    T.crossEntropy(T.linear(h, w2, b2), targets, { labelSmoothing: 0.1 }).backward();
    T.clipGradNorm(params, 1.0);
    if (opt instanceof T.AdamW)
      opt.lr = T.schedules.linearWarmupDecay({ lr: 1e-2, warmupSteps: 3, totalSteps: 20 })(step);
    opt.step();
    opt.zeroGrad();
  });
}

const bytes = (ps: Tensor[]): Buffer => Buffer.concat(ps.map((p) => Buffer.from(p.toBuffer())));

for (const kind of ['AdamW', 'Adafactor'] as const) {
  test(`${kind}: restoring params + optimizer state + RNG state reproduces the next steps bit for bit`, () => {
    const live0 = T.liveTensors();
    const make = (ps: Tensor[]): T.AdamW | T.Adafactor =>
      kind === 'AdamW'
        ? new T.AdamW(ps, { lr: 1e-2, weightDecay: 0.01 })
        : new T.Adafactor(ps, { beta1: 0.9, weightDecay: 0.01 });
    const params = makeMlp();
    const opt = make(params);
    for (let s = 0; s < 3; s++) trainStep(params, opt, s);
    const saved = T.tidy(() => ({
      params: params.map((p) => p.detach().clone()),
      opt: opt.stateDict(),
      rng: T.getRngState(),
    }));
    trainStep(params, opt, 3);
    trainStep(params, opt, 4);
    const expected = bytes(params);
    assert.notDeepEqual(expected, bytes(saved.params));

    // Resume into fresh objects, after the generator has moved on.
    T.dispose(T.randn([100]));
    const params2 = makeMlp();
    T.noGrad(() => params2.forEach((p, i) => p.copy_(saved.params[i]!)));
    const opt2 = make(params2);
    opt2.loadStateDict(saved.opt);
    T.setRngState(saved.rng);
    trainStep(params2, opt2, 3);
    trainStep(params2, opt2, 4);
    assert.ok(bytes(params2).equals(expected), 'resumed parameters differ');
    assert.equal(opt2.stepCount, 5);

    T.dispose([params, params2, saved.params, saved.opt.tensors]);
    opt.dispose();
    opt2.dispose();
    assert.equal(T.liveTensors(), live0);
  });
}

test('loadStateDict rejects a state of the wrong shape', () => {
  const p = T.zeros([3], { requiresGrad: true });
  const q = T.zeros([4], { requiresGrad: true });
  const a = new T.AdamW([p]);
  const b = new T.AdamW([q]);
  const sd = a.stateDict();
  assert.throws(() => b.loadStateDict(sd), /'0\.exp_avg' has shape \[3\] but the optimizer expects \[4\]/);
  T.dispose([p, q, sd.tensors]);
  a.dispose();
  b.dispose();
});
