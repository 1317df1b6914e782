// Integration: on a synthetic world (template sentences from typed gazetteers; S and Q drawn
// independently; Q covers only part of the names; some names are both person and place), a tiny
// randomly initialised T5 pair goes from F1 ≈ 0, through an unsupervised fragment warm-up on S
// alone (spans right, types unknown), to a clearly higher F1 by cycle training with grounded
// decoding. This is exactly what `cyclener demo` runs. Thresholds were set from measurements (docs/cycle.md).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { runSyntheticDemo } from '../../../src/demo/demo';

// One intra-op thread: these models are tiny (no gain from two), the numbers are then the same on every
// run of this build, and a busy 2-core machine is not oversubscribed.
T.setNumThreads(1);

test('synthetic world: fragment warm-up + grounded cycle training beats its own start and the Lexical Matcher', async () => {
  const run = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-syn-'));
  try {
    const { f1, evals } = await runSyntheticDemo(run);
    const warmup = f1.warmup as number;
    console.log(
      `synthetic world F1 (exact): random ${f1.random.toFixed(3)}, after fragment warm-up ${warmup.toFixed(3)}, after cycles ${f1.cycle.toFixed(3)} (plain decoding ${f1.cycleOtherDecoding.toFixed(3)}); Lexical Matcher ${f1.lexicalMatcher.toFixed(3)}`,
    );
    assert.ok(f1.random < 0.1, `random init is near zero (${f1.random})`);
    assert.ok(f1.cycle > warmup + 0.05, `cycle training improves on the warm-up (${warmup} -> ${f1.cycle})`);
    assert.ok(
      f1.cycle > f1.cycleOtherDecoding,
      `grounded decoding beats plain decoding of the same model (${f1.cycle} vs ${f1.cycleOtherDecoding})`,
    );
    assert.deepEqual(evals, [], 'no dev evaluations by default');
    assert.ok(
      f1.cycle > f1.lexicalMatcher + 0.02,
      `cycle training beats the Lexical Matcher (${f1.cycle} vs ${f1.lexicalMatcher})`,
    );
  } finally {
    fs.rmSync(run, { recursive: true, force: true });
  }
});

test('synthetic world options: plain cycles without warm-up, with dev evaluations (the docs/cycle.md ablation rows)', async () => {
  const run = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-syn-'));
  try {
    const lines: string[] = [];
    const r = await runSyntheticDemo(run, (l) => lines.push(l), {
      warmupSteps: 0,
      cycleSteps: 2,
      evalEvery: 1,
      grounded: false,
    });
    assert.equal(r.f1.warmup, null);
    assert.equal(r.seconds.warmup, 0);
    assert.deepEqual(
      r.evals.map((e) => e.step),
      [1, 2],
    );
    for (const e of r.evals)
      assert.ok(e.devF1 !== null && e.devELoss !== null && Number.isFinite(e.devELoss), JSON.stringify(e));
    const cfg = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as {
      grounded: boolean;
      groundedEval: boolean;
      evalEvery: number;
      maxSteps: number;
    };
    assert.deepEqual([cfg.grounded, cfg.groundedEval, cfg.evalEvery, cfg.maxSteps], [false, false, 1, 2]);
    assert.ok(
      lines.some((l) => l.startsWith('plain cycle training (2 steps')),
      lines.join('\n'),
    );
    assert.ok(!lines.some((l) => l.startsWith('fragment warm-up')), lines.join('\n'));
  } finally {
    fs.rmSync(run, { recursive: true, force: true });
  }
});
