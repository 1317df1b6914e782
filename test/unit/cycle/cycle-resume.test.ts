import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig } from '../../../src/cycle/config';
import { trainCycle, type CycleResult } from '../../../src/cycle/trainer';
import type { T5ForConditionalGeneration } from '../../../src/t5/model';
import { tinyWorld } from '../../helpers/cycle-helpers';

// Dropout on, so the engine RNG state must be restored too.
const { world, tok, mk } = tinyWorld({ seed: 11, nS: 12, nQ: 8, nEval: 4, namesPerType: 6, ambiguous: 1 }, 0.1);
const cfg = (maxSteps: number) =>
  makeConfig({
    batchSize: 4,
    epochs: 5,
    maxSteps,
    lrS2E: 1e-3,
    lrE2S: 2e-3,
    evalEvery: 2,
    s2eDecode: { maxNewTokens: 12 },
    e2sDecode: { maxNewTokens: 14 },
    evalDecode: { maxNewTokens: 12 },
    logEvery: 1000,
    samples: 1,
  });
const data = { S: world.S, Q: world.Q, devS: world.S.slice(0, 4), devQ: world.Q.slice(0, 4), devGold: world.evalSet };

function params(m: T5ForConditionalGeneration): Float32Array[] {
  return m.parameters().map((p) => p.toFloat32Array());
}

// One intra-op thread: these models are tiny (no gain from two), the numbers are then the same on every
// run of this build, and a busy 2-core machine is not oversubscribed.
T.setNumThreads(1);

test('resume: N steps straight equals N/2, stop, resume, N/2 (losses and parameters bit-identical)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-resume-'));
  const N = 6; // 3 steps per epoch: the run crosses an epoch boundary (reshuffle) after the resume
  try {
    const a = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const ra = await trainCycle(a, data, cfg(N), path.join(root, 'a'));
    const pa = [params(a.s2e), params(a.e2s)];
    a.s2e.dispose();
    a.e2s.dispose();

    const b1 = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const rb1 = await trainCycle(b1, data, cfg(N / 2), path.join(root, 'b'));
    b1.s2e.dispose();
    b1.e2s.dispose();
    // Fresh, differently initialised models: everything must come from the checkpoint.
    const b2 = { s2e: mk(7), e2s: mk(8), tokenizer: tok };
    T.manualSeed(12345);
    const rb2: CycleResult = await trainCycle(b2, data, cfg(N), path.join(root, 'b'), { resume: true });
    const pb = [params(b2.s2e), params(b2.e2s)];
    b2.s2e.dispose();
    b2.e2s.dispose();

    assert.equal(ra.losses.length, N);
    assert.deepEqual([...rb1.losses, ...rb2.losses], ra.losses);
    assert.deepEqual(
      rb2.evals.map((e) => [e.step, e.devELoss, e.devSLoss, e.devF1]),
      ra.evals.filter((e) => e.step > N / 2).map((e) => [e.step, e.devELoss, e.devSLoss, e.devF1]),
    );
    for (let m = 0; m < 2; m++)
      for (let i = 0; i < pa[m]!.length; i++) assert.deepEqual(pb[m]![i], pa[m]![i], `model ${m} parameter ${i}`);
    // The run directory holds what `predict` and a later resume need.
    for (const f of [
      'config.json',
      'metrics.jsonl',
      'checkpoint/state.json',
      'checkpoint/s2e/model.safetensors',
      'checkpoint/e2s/config.json',
      'checkpoint/optim-s2e.safetensors',
      'best/s2e/cyclener.json',
      'best/info.json',
    ]) {
      assert.ok(fs.existsSync(path.join(root, 'b', f)), f);
    }
    const steps = fs
      .readFileSync(path.join(root, 'b', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number })
      .filter((r) => r.type === 'step')
      .map((r) => r.step);
    assert.deepEqual(
      steps,
      Array.from({ length: N }, (_, i) => i + 1),
      'metrics log has each step once after the resume',
    );

    // A run written before the run kit has its checkpoint in RUN/ckpt/: found, continued exactly, replaced by checkpoint/.
    const c1 = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    await trainCycle(c1, data, cfg(N / 2), path.join(root, 'c'));
    c1.s2e.dispose();
    c1.e2s.dispose();
    fs.renameSync(path.join(root, 'c', 'checkpoint'), path.join(root, 'c', 'ckpt'));
    const c2 = { s2e: mk(7), e2s: mk(8), tokenizer: tok };
    const logs: string[] = [];
    const rc2 = await trainCycle(c2, data, cfg(N), path.join(root, 'c'), { resume: true, log: (l) => logs.push(l) });
    const pc = [params(c2.s2e), params(c2.e2s)];
    c2.s2e.dispose();
    c2.e2s.dispose();
    assert.ok(
      logs.some((l) => /resumed from .*ckpt at step 3 /.test(l)),
      logs.join('\n'),
    );
    assert.deepEqual(rc2.losses, rb2.losses);
    for (let m = 0; m < 2; m++)
      for (let i = 0; i < pa[m]!.length; i++)
        assert.deepEqual(pc[m]![i], pa[m]![i], `legacy: model ${m} parameter ${i}`);
    assert.ok(fs.existsSync(path.join(root, 'c', 'checkpoint', 'state.json')));
    assert.ok(!fs.existsSync(path.join(root, 'c', 'ckpt')), 'the old folder goes once checkpoint/ is written');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
