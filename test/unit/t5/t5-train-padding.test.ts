// Padding-free training paths: the loss over labelled rows only (T5ForConditionalGeneration.loss) and length-grouped
// micro-batches (groupByLength, Seq2SeqTrainer's groupByLength option) give the losses and gradients of the plain paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import { presetConfig, type T5Config } from '../../../src/t5/config';
import { T5ForConditionalGeneration } from '../../../src/t5/model';
import {
  addPadding,
  collate,
  groupByLength,
  newPaddingStats,
  paddingShare,
  Seq2SeqTrainer,
  type Seq2SeqExample,
} from '../../../src/t5/train';
import { prng } from '../../helpers/tensor-helpers';

const tinyV10 = (): T5Config => presetConfig('tiny', { dropoutRate: 0 });
const tinyV11 = (): T5Config =>
  presetConfig('tiny', {
    dropoutRate: 0,
    feedForwardProj: 'gated-gelu',
    tieWordEmbeddings: false,
    scaleDecoderOutputs: false,
  });

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Examples with lengths in [1, maxS] x [1, maxT] (ids < 100, ending in </s> = 1). */
function examples(n: number, seed: number, maxS = 20, maxT = 12): Seq2SeqExample[] {
  const rnd = prng(seed);
  const seq = (max: number) => [
    ...Array.from({ length: Math.floor(rnd() * max) }, () => 2 + Math.floor(rnd() * 97)),
    1,
  ];
  return Array.from({ length: n }, () => ({ source: seq(maxS), target: seq(maxT) }));
}

/** Loss and every parameter's gradient of one backward pass of `lossOf`. */
function lossAndGrads(
  model: T5ForConditionalGeneration,
  lossOf: () => T.Tensor,
): { loss: number; grads: Float32Array[] } {
  for (const p of model.parameters()) p.zeroGrad();
  const loss = T.tidy(() => {
    const l = lossOf();
    l.backward();
    return l.item();
  });
  const grads = model.parameters().map((p) => T.tidy(() => p.grad!.toFloat32Array()));
  for (const p of model.parameters()) p.zeroGrad();
  return { loss, grads };
}

test('loss on labelled rows only equals the full-logits cross-entropy (value and gradients), tied and untied heads', () => {
  for (const [name, cfg] of [
    ['v1.0 tied', tinyV10()],
    ['v1.1 untied', tinyV11()],
  ] as const) {
    const model = new T5ForConditionalGeneration(cfg, { seed: 21 }).train();
    const batch = T.tidy(() => {
      const c = collate(examples(6, 5), 0);
      return { inputIds: c.inputIds.keep(), attentionMask: c.attentionMask.keep(), labels: c.labels.keep() };
    });
    const [b, t] = batch.labels.shape;
    const full = lossAndGrads(model, () => {
      // The reference: logits for every decoder position, cross-entropy ignoring -100.
      const logits = model.forward({
        inputIds: batch.inputIds,
        attentionMask: batch.attentionMask,
        labels: batch.labels,
      }).logits;
      return T.crossEntropy(logits.reshape([b * t, cfg.vocabSize]), batch.labels.reshape([b * t]), {
        ignoreIndex: -100,
      });
    });
    const rows = lossAndGrads(model, () => model.loss(batch));
    const viaForward = lossAndGrads(model, () => model.forward(batch).loss!);
    assert.ok(Number.isFinite(full.loss) && full.loss > 0);
    for (const [what, r] of [
      ['loss()', rows],
      ['forward().loss', viaForward],
    ] as const) {
      assert.ok(Math.abs(r.loss - full.loss) < 1e-5, `${name} ${what}: ${r.loss} vs ${full.loss}`);
      let d = 0;
      full.grads.forEach((g, i) => (d = Math.max(d, maxAbsDiff(g, r.grads[i]!))));
      assert.ok(d < 1e-5, `${name} ${what}: max grad diff ${d}`);
    }
    // Full logits are still there for callers that want them.
    const shape = T.noGrad(() => T.tidy(() => model.forward(batch).logits.shape));
    assert.deepEqual(shape, [b, t, cfg.vocabSize]);
    T.dispose([batch.inputIds, batch.attentionMask, batch.labels]);
    model.dispose();
  }
});

test('groupByLength: every example once, deterministic, overall padding within the bound, larger groups when allowed', () => {
  assert.deepEqual(groupByLength([]), []);
  const one = examples(1, 1);
  assert.deepEqual(groupByLength(one), [one]);
  for (const seed of [1, 2, 3]) {
    const ex = examples(40, seed, 60, 40);
    const plain = paddingShare(addPadding(newPaddingStats(), [ex])).all;
    for (const maxPadFraction of [0, 0.1, 0.2, 0.5]) {
      for (const groupCost of [0, 16, 128, 1e6]) {
        const g = groupByLength(ex, { maxPadFraction, groupCost });
        const flat = g.flat();
        assert.equal(flat.length, ex.length);
        assert.equal(new Set(flat).size, ex.length, 'each example exactly once');
        assert.ok(g.every((m) => m.length > 0));
        assert.deepEqual(groupByLength(ex, { maxPadFraction, groupCost }), g, 'deterministic');
        const share = paddingShare(addPadding(newPaddingStats(), g)).all;
        assert.ok(
          share <= maxPadFraction + 1e-12,
          `seed ${seed} max ${maxPadFraction} cost ${groupCost}: padding ${share} (ungrouped ${plain})`,
        );
      }
    }
    assert.ok(plain > 0.3, `the test batch is padded (${plain})`);
    // Costlier groups -> fewer of them; no bound and a huge cost -> one batch.
    const count = (groupCost: number) => groupByLength(ex, { maxPadFraction: 0.2, groupCost }).length;
    assert.ok(count(1024) <= count(128) && count(128) <= count(8), `${count(1024)} ${count(128)} ${count(8)}`);
    assert.equal(groupByLength(ex, { maxPadFraction: 1, groupCost: 1e9 }).length, 1);
  }
  // Equal lengths stay together at no padding.
  const same = Array.from({ length: 9 }, (_, i) => ({ source: [i + 2, 5, 1], target: [7, 1] }));
  assert.deepEqual(groupByLength(same, { maxPadFraction: 0 }), [same]);
});

test('trainer with length grouping: same loss and gradient as one batch; evaluate agrees; padding reported', async () => {
  const cfg = tinyV11();
  const ex = examples(12, 9, 24, 16);
  const run = async (grouping: boolean) => {
    const model = new T5ForConditionalGeneration(cfg, { seed: 33 });
    let snap: Float32Array[] = [];
    const opt = {
      lr: 0,
      step: () => {
        snap = model.parameters().map((p) => T.tidy(() => p.grad!.toFloat32Array()));
      },
      zeroGrad: () => model.parameters().forEach((p) => p.zeroGrad()),
    };
    const trainer = new Seq2SeqTrainer(model, opt, grouping ? { groupByLength: { maxPadFraction: 0.1 } } : {});
    const r = await trainer.step([ex.slice(0, 7), ex.slice(7)]);
    const val = trainer.evaluate(ex);
    model.dispose();
    return { r, snap, val };
  };
  const one = await run(false);
  const grouped = await run(true);
  assert.ok(Math.abs(one.r.loss - grouped.r.loss) < 1e-5, `${one.r.loss} vs ${grouped.r.loss}`);
  assert.ok(Math.abs(one.val - grouped.val) < 1e-5, `evaluate ${one.val} vs ${grouped.val}`);
  assert.equal(one.r.tokens, grouped.r.tokens);
  let d = 0;
  one.snap.forEach((g, i) => (d = Math.max(d, maxAbsDiff(g, grouped.snap[i]!))));
  assert.ok(d < 1e-5, `max grad diff ${d}`);
  const pOne = one.r.padding,
    pGrouped = grouped.r.padding;
  assert.equal(
    pOne.sourceTokens,
    ex.reduce((a, e) => a + e.source.length, 0),
  );
  assert.equal(pGrouped.targetTokens, pOne.targetTokens);
  assert.ok(
    paddingShare(pGrouped).all <= 0.1 + 1e-12 && paddingShare(pOne).all > 0.2,
    `${JSON.stringify(pOne)} ${JSON.stringify(pGrouped)}`,
  );
});
