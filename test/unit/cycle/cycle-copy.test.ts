// E2S's copy rate of Q's names into S′ (logged per step and evaluation) and the E-cycle filter that trains S2E only
// on pairs whose names were all copied.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig } from '../../../src/cycle/config';
import { copyCounts, copyRate, nameCopy } from '../../../src/cycle/copy';
import { trainCycle } from '../../../src/cycle/trainer';
import { tinyWorld } from '../../helpers/cycle-helpers';

T.setNumThreads(1);

test('nameCopy / copyCounts: names of Q found verbatim in S′', () => {
  assert.deepEqual(nameCopy('Jeff Bezos <sep> person <sep> Amazon <sep> organization', 'Jeff Bezos founded Amazon.'), {
    names: 2,
    copied: 2,
  });
  assert.deepEqual(
    nameCopy('Jeff Bezos <sep> person <sep> Amazon <sep> organization', 'Bezos founded amazon.'),
    { names: 2, copied: 0 },
    'partial or re-cased names are not copies',
  );
  assert.deepEqual(nameCopy('', 'Anything.'), { names: 0, copied: 0 });
  assert.deepEqual(
    nameCopy('Paris <sep> location <sep> Paris <sep> location', 'Paris is nice.'),
    { names: 2, copied: 2 },
    'repeats count each time',
  );
  const c = copyCounts(
    ['Ann <sep> person', 'Bob <sep> person <sep> Oslo <sep> location', ''],
    ['Ann runs.', 'Bob left.', 'Nothing.'],
  );
  assert.deepEqual(c, { names: 3, copied: 2 });
  assert.equal(copyRate(c), 2 / 3);
  assert.equal(copyRate({ names: 0, copied: 0 }), null);
});

test("eCycleFilter copied: S2E is updated only by E-cycle pairs whose S′ holds all of Q's names; copy rates logged", async () => {
  const { world, tok, mk } = tinyWorld({ seed: 3, nS: 8, nQ: 8, nEval: 4, namesPerType: 4, ambiguous: 0 });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-copy-'));
  try {
    const data = {
      S: world.S,
      Q: world.Q.filter((q) => q !== ''),
      devS: world.S.slice(0, 4),
      devQ: world.Q.filter((q) => q !== '').slice(0, 4),
    };
    const m = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const before = m.s2e.parameters().map((p) => p.toFloat32Array());
    const cfg = makeConfig({
      batchSize: 4,
      epochs: 1,
      maxSteps: 2,
      lrS2E: 1e-2,
      lrE2S: 1e-2,
      evalEvery: 2,
      s2eDecode: { maxNewTokens: 8 },
      e2sDecode: { maxNewTokens: 10 },
      evalDecode: { maxNewTokens: 8 },
      logEvery: 1,
      samples: 0,
      eCycleFilter: 'copied',
      precision: 'fp32',
    });
    const lines: string[] = [];
    const r = await trainCycle(m, data, cfg, path.join(root, 'run'), { log: (l) => lines.push(l) });
    const recs = fs
      .readFileSync(path.join(root, 'run', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = recs.filter((x) => x.type === 'step');
    assert.equal(steps.length, 2);
    for (const s of steps) {
      assert.equal(typeof s.copyRate, 'number');
      assert.equal(typeof s.eKept, 'number');
      // A batch the filter emptied has no S2E loss; a kept one has.
      assert.equal(s.lossE === null, s.eKept === 0);
    }
    const changed = m.s2e.parameters().some((p, i) => !p.toFloat32Array().every((v, k) => v === before[i]![k]));
    assert.equal(
      changed,
      steps.some((s) => (s.eKept as number) > 0),
      'S2E changes only if some E-cycle pair was kept',
    );
    assert.equal(r.losses.filter((l) => l.lossE === null).length, steps.filter((s) => s.eKept === 0).length);
    const ev = recs.find((x) => x.type === 'eval')!;
    assert.equal(typeof ev.devCopyRate, 'number');
    assert.ok('devSilverF1' in ev && 'sSilverF1' in ev, 'the silver criteria are logged at every evaluation');
    for (const k of ['devEntities', 'devEmpty', 'devSelfLoss'])
      assert.equal(typeof ev[k], 'number', `${k}: S2E's output statistics on dev S are logged`);
    assert.equal(ev.qEntities, data.Q.reduce((a, q) => a + q.split(' <sep> ').length / 2, 0) / data.Q.length);
    assert.ok((ev.devSelfLoss as number) >= 0 && (ev.devEmpty as number) >= 0 && (ev.devEmpty as number) <= 1);
    assert.ok(lines.some((l) => /E2S copies (\d+%|-) of Q's names/.test(l)));
    assert.ok(lines.some((l) => /eval @ step 2: .* copy \d+%/.test(l)));
    m.s2e.dispose();
    m.e2s.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('self-training: S2E also learns its own outputs whose mean token probability reaches the threshold', async () => {
  const { world, tok, mk } = tinyWorld({ seed: 4, nS: 8, nQ: 8, nEval: 4, namesPerType: 4, ambiguous: 0 });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-self-'));
  try {
    const data = { S: world.S, Q: world.Q };
    const run = async (selfTrainMinProb: number) => {
      const m = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
      const cfg = makeConfig({
        batchSize: 4,
        epochs: 1,
        maxSteps: 2,
        lrS2E: 1e-2,
        lrE2S: 1e-2,
        s2eDecode: { maxNewTokens: 8 },
        e2sDecode: { maxNewTokens: 10 },
        logEvery: 1,
        samples: 0,
        selfTrainMinProb,
        precision: 'fp32',
      });
      const dir = path.join(root, `run-${selfTrainMinProb}`);
      await trainCycle(m, data, cfg, dir);
      const steps = fs
        .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((x) => x.type === 'step');
      const p = m.s2e.parameters().map((t) => t.toFloat32Array());
      m.s2e.dispose();
      m.e2s.dispose();
      return { steps, p };
    };
    // A random model's tokens have probability ~1/vocab: 1e-9 keeps every output, 0.999 none.
    const all = await run(1e-9);
    const none = await run(0.999);
    const off = await run(0);
    assert.deepEqual(
      all.steps.map((s) => s.selfKept),
      [4, 4],
    );
    assert.deepEqual(
      none.steps.map((s) => s.selfKept),
      [0, 0],
    );
    assert.ok(off.steps.every((s) => !('selfKept' in s)));
    const same = (a: Float32Array[], b: Float32Array[]) => a.every((x, i) => x.every((v, k) => v === b[i]![k]));
    assert.ok(same(none.p, off.p), 'nothing kept = no self-training update');
    assert.ok(!same(all.p, off.p), 'kept outputs change S2E');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('sampled E-cycle (e2sDecode.doSample): the dev E-cycle loss, the selection criterion, still decodes greedily', async () => {
  const { world, tok, mk } = tinyWorld({ seed: 5, nS: 8, nQ: 8, nEval: 4, namesPerType: 4, ambiguous: 0 });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-sample-'));
  try {
    const Q = world.Q.filter((q) => q !== '');
    const data = { S: world.S, Q, devS: world.S.slice(0, 4), devQ: Q.slice(0, 4) };
    // The step-0 evaluation follows a warm-up of S2E alone, so E2S is the same untrained model in both runs.
    const devELossAtStart = async (doSample: boolean) => {
      const m = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
      const cfg = makeConfig({
        batchSize: 4,
        maxSteps: 1,
        evalEvery: 1,
        warmup: 'fragments',
        warmupSteps: 1,
        warmupDirections: 's2e',
        s2eDecode: { maxNewTokens: 8 },
        e2sDecode: { maxNewTokens: 10, ...(doSample ? { doSample: true, topK: 0, temperature: 2 } : {}) },
        evalDecode: { maxNewTokens: 8 },
        samples: 0,
        precision: 'fp32',
      });
      const dir = path.join(root, `run-${doSample}`);
      await trainCycle(m, data, cfg, dir);
      m.s2e.dispose();
      m.e2s.dispose();
      const evals = fs
        .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((x) => x.type === 'eval' && x.step === 0);
      assert.equal(evals.length, 1, 'one evaluation at step 0');
      return evals[0]!.devELoss as number;
    };
    const greedy = await devELossAtStart(false);
    assert.equal(typeof greedy, 'number');
    assert.equal(await devELossAtStart(true), greedy);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
