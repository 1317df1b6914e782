import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig, type CycleConfig } from '../../../src/cycle/config';
import { saveModelDir } from '../../../src/cycle/model-io';
import { rollbackTo, trainCycle } from '../../../src/cycle/trainer';
import { tinyWorld } from '../../helpers/cycle-helpers';

const { world, tok, mk } = tinyWorld({ seed: 5, nS: 12, nQ: 8, nEval: 4, namesPerType: 6, ambiguous: 1 });
const cfg = (over: Partial<CycleConfig>) =>
  makeConfig({
    batchSize: 4,
    epochs: 5,
    lrS2E: 1e-3,
    lrE2S: 1e-3,
    evalEvery: 2,
    s2eDecode: { maxNewTokens: 12 },
    e2sDecode: { maxNewTokens: 14 },
    evalDecode: { maxNewTokens: 12 },
    logEvery: 1000,
    samples: 0,
    ...over,
  });
const data = { S: world.S, Q: world.Q, devS: world.S.slice(0, 4), devQ: world.Q.slice(0, 4) };
const records = (run: string) =>
  fs
    .readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

T.setNumThreads(1);

test('rollbackTo: parameters back to best/, optimizer state cleared, learning rate scaled', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-rollback-'));
  try {
    const best = { s2e: mk(1), e2s: mk(2) };
    saveModelDir(path.join(dir, 's2e'), best.s2e, tok, { task: 's2e', prefix: '', types: ['person'] });
    saveModelDir(path.join(dir, 'e2s'), best.e2s, tok, { task: 'e2s', prefix: '', types: ['person'] });
    const cur = { s2e: mk(3), e2s: mk(4) };
    const optS2E = new T.AdamW(cur.s2e.parameters(), { lr: 1e-3 });
    const optE2S = new T.AdamW(cur.e2s.parameters(), { lr: 4e-3 });
    // Give the optimizers some state.
    for (const [m, o] of [
      [cur.s2e, optS2E],
      [cur.e2s, optE2S],
    ] as const) {
      T.tidy(() => {
        m.parameters()
          .reduce((a, p) => a.add(p.mul(p).sum()), T.tensor([0], [1]))
          .sum()
          .backward();
      });
      o.step();
      o.zeroGrad();
    }
    rollbackTo(dir, { ...cur, optS2E, optE2S }, 0.5);
    for (const [a, b] of [
      [cur.s2e, best.s2e],
      [cur.e2s, best.e2s],
    ] as const) {
      a.parameters().forEach((p, i) =>
        assert.deepEqual(p.toFloat32Array(), b.parameters()[i]!.toFloat32Array(), `parameter ${i}`),
      );
    }
    assert.equal(optS2E.lr, 5e-4);
    assert.equal(optE2S.lr, 2e-3);
    for (const o of [optS2E, optE2S]) {
      const sd = o.stateDict();
      assert.equal(sd.step, 0);
      assert.ok((sd.hyper.paramSteps as number[]).every((x) => x === 0));
      for (const t of Object.values(sd.tensors)) {
        assert.ok(t.toFloat32Array().every((x) => x === 0));
        t.dispose();
      }
      o.dispose();
    }
    for (const m of [best.s2e, best.e2s, cur.s2e, cur.e2s]) m.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('onCollapse: stop ends the run and never selects a collapsed model; rollback rolls back, then stops after maxRollbacks', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-collapse-'));
  try {
    // collapseShare 0: every evaluation counts as collapsed.
    const a = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const ra = await trainCycle(
      a,
      data,
      cfg({ maxSteps: 6, collapseShare: 0, onCollapse: 'stop' }),
      path.join(root, 'stop'),
    );
    assert.equal(ra.steps, 2);
    assert.ok(ra.stoppedEarly);
    assert.equal(ra.bestStep, null);
    assert.ok(!fs.existsSync(path.join(root, 'stop', 'best')), 'a collapsed model is not selected');
    assert.ok(
      records(path.join(root, 'stop')).some(
        (r) => r.type === 'warning' && /stopped on collapse \(onCollapse stop\)/.test(String(r.message)),
      ),
    );
    a.s2e.dispose();
    a.e2s.dispose();

    // First 2 steps without collapse detection (best/ at step 2), then resume with every evaluation collapsed.
    const run = path.join(root, 'rb');
    const b = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    await trainCycle(b, data, cfg({ maxSteps: 2 }), run);
    const rb = await trainCycle(
      b,
      data,
      cfg({ maxSteps: 8, collapseShare: 0, onCollapse: 'rollback', maxRollbacks: 1 }),
      run,
      { resume: true },
    );
    assert.equal(rb.steps, 4, 'rollback at step 4, stop at step 6');
    assert.ok(rb.stoppedEarly);
    assert.equal(rb.bestStep, 2);
    const recs = records(run);
    const rollbacks = recs.filter((r) => r.type === 'rollback');
    assert.deepEqual(
      rollbacks.map((r) => [r.step, r.toStep, r.lrS2E, r.lrE2S]),
      [[4, 2, 5e-4, 5e-4]],
    );
    assert.ok(recs.some((r) => r.type === 'warning' && r.step === 6 && /1 rollbacks used/.test(String(r.message))));
    b.s2e.dispose();
    b.e2s.dispose();
    assert.throws(() => makeConfig({ onCollapse: 'panic' as never }), /onCollapse must be warn, stop or rollback/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
