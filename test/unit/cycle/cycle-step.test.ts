// cycleStep (cycle/step.ts) is the step trainCycle runs: called by hand on the first batch, with the parts trainCycle
// builds, it gives the losses of a one-step run (bench/jobs.ts times this function).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig } from '../../../src/cycle/config';
import { cycleS2EGenerate } from '../../../src/cycle/grounding';
import { EpochOrder } from '../../../src/cycle/order';
import { Direction, trainStep } from '../../../src/cycle/seq2seq';
import { cycleStep } from '../../../src/cycle/step';
import { trainCycle, typesOf } from '../../../src/cycle/trainer';
import { tinyWorld } from '../../helpers/cycle-helpers';

T.setNumThreads(1);

const { world, tok, mk } = tinyWorld({ seed: 11, nS: 12, nQ: 8, nEval: 4, namesPerType: 6, ambiguous: 1 }, 0.1);
const cfg = makeConfig({
  batchSize: 4,
  maxSteps: 1,
  eCycleFilter: 'copied',
  selfTrainMinProb: 0.01,
  s2eDecode: { maxNewTokens: 12 },
  e2sDecode: { maxNewTokens: 14 },
  logEvery: 1000,
  precision: 'fp32',
});

test('cycleStep on the first batch = the first step of trainCycle (losses, kept pairs)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-step-'));
  try {
    const a = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const run = await trainCycle(a, { S: world.S, Q: world.Q }, cfg, path.join(root, 'run'));
    a.s2e.dispose();
    a.e2s.dispose();

    const m = { s2e: mk(1), e2s: mk(2) };
    const limits = { maxSourceTokens: cfg.maxSourceTokens, maxTargetTokens: cfg.maxTargetTokens };
    const s2e = new Direction(m.s2e, tok, cfg.s2ePrefix, limits, cfg.precision);
    const e2s = new Direction(m.e2s, tok, cfg.e2sPrefix, limits, cfg.precision);
    const optS = new T.AdamW(m.s2e.parameters(), { lr: cfg.lrS2E, weightDecay: cfg.weightDecay });
    const optE = new T.AdamW(m.e2s.parameters(), { lr: cfg.lrE2S, weightDecay: cfg.weightDecay });
    const trS = s2e.trainer(optS, { maxGradNorm: cfg.maxGradNorm });
    const trE = e2s.trainer(optE, { maxGradNorm: cfg.maxGradNorm });
    T.manualSeed(cfg.seed); // as trainCycle seeds a new run
    const n = Math.max(world.S.length, world.Q.length);
    const oS = new EpochOrder(cfg.seed, 'S', world.S.length);
    const oQ = new EpochOrder(cfg.seed, 'Q', world.Q.length);
    const ks = Array.from({ length: Math.min(cfg.batchSize, n) }, (_, k) => k);
    const r = await cycleStep(
      {
        cfg,
        s2eGenerate: cycleS2EGenerate(s2e, cfg.s2eDecode, typesOf(world.Q), { grounded: true, allowEmpty: false }),
        e2s,
        learn: (which, src, tgt) => (which === 's2e' ? trainStep(s2e, trS, src, tgt) : trainStep(e2s, trE, src, tgt)),
      },
      ks.map((k) => world.S[oS.at(0, k)]!),
      ks.map((k) => world.Q[oQ.at(0, k)]!),
      0,
    );
    optS.dispose();
    optE.dispose();
    m.s2e.dispose();
    m.e2s.dispose();
    assert.deepEqual(run.losses, [{ step: 1, lossS: r.sCycle.loss, lossE: r.eCycle?.loss ?? null }]);
    assert.equal(r.sPrime.length, ks.length);
    assert.ok(r.eKept !== null && r.eKept <= ks.length);
    assert.ok(r.selfKept !== null);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
