// Several S′ per Q in the E-cycle (--e2s-samples K): K sampled sentences for each entity sequence, S2E learning from
// all K pairs, the silver mix scaled with them; refused with greedy decoding (K copies of one sentence).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig } from '../../../src/cycle/config';
import { applyFlags, CYCLE_FLAGS } from '../../../src/cycle/config-flags';
import { Direction } from '../../../src/cycle/seq2seq';
import { cycleStep, type Learn } from '../../../src/cycle/step';
import { trainCycle } from '../../../src/cycle/trainer';
import { tinyWorld } from '../../helpers/cycle-helpers';

T.setNumThreads(1);

const { world, tok, mk } = tinyWorld({ seed: 6, nS: 12, nQ: 8, nEval: 4, namesPerType: 6, ambiguous: 1 });
const sampled = { maxNewTokens: 14, doSample: true, topK: 10 };

test('e2sSamples: a key with a range and a flag; K > 1 needs sampled E2S decoding', () => {
  assert.equal(makeConfig().e2sSamples, 1);
  assert.throws(
    () => makeConfig({ e2sSamples: 3 }, 'run.json'),
    /^Error: run\.json: e2sSamples 3 needs sampled E2S decoding \(e2sDecode\.doSample, --e2s-sample\)/,
  );
  assert.throws(() => makeConfig({ e2sSamples: 0, e2sDecode: sampled }), /e2sSamples/);
  assert.throws(() => makeConfig({ e2sSamples: 1.5, e2sDecode: sampled }), /e2sSamples/);
  assert.equal(makeConfig({ e2sSamples: 3, e2sDecode: sampled }).e2sSamples, 3);
  assert.equal(CYCLE_FLAGS['e2s-samples'].type, 'int');
  const c = makeConfig();
  applyFlags(c, { 'e2s-samples': 4, 'e2s-sample': true });
  assert.equal(c.e2sSamples, 4);
  assert.equal(c.e2sDecode.doSample, true);
});

test('cycleStep with e2sSamples 3: S2E learns 3 sampled S′ of each Q (then the silver pairs), S-cycle unchanged', async () => {
  const m = { s2e: mk(1), e2s: mk(2) };
  try {
    const limits = { maxSourceTokens: 64, maxTargetTokens: 64 };
    const cfg = makeConfig({ e2sSamples: 3, e2sDecode: sampled, silverMix: 0.5, precision: 'fp32' });
    const e2s = new Direction(m.e2s, tok, cfg.e2sPrefix, limits, cfg.precision);
    const calls: { which: string; sources: readonly string[]; targets: readonly string[] }[] = [];
    const learn: Learn = async (which, sources, targets) => {
      calls.push({ which, sources, targets });
      return {
        loss: 1,
        tokens: 1,
        gradNorm: 0,
        padding: { sourceTokens: 1, sourcePositions: 1, targetTokens: 1, targetPositions: 1 },
      };
    };
    const S = world.S.slice(0, 4);
    const Q = world.Q.slice(0, 4);
    const silver = [{ sentence: 'a silver sentence', sequence: 'silver <sep> person' }];
    const r = await cycleStep(
      {
        cfg,
        s2eGenerate: async (s) => ({ texts: s.map(() => 'q'), meanLogProbs: s.map(() => -1) }),
        e2s,
        learn,
        silverBatch: () => silver,
      },
      S,
      Q,
      0,
    );
    assert.deepEqual(
      calls.map((c) => c.which),
      ['e2s', 's2e'],
    );
    assert.deepEqual(calls[0]!.targets, S, 'the S-cycle learns each sentence once');
    const e = calls[1]!;
    assert.deepEqual(e.targets, [...Q.flatMap((q) => [q, q, q]), silver[0]!.sequence]);
    assert.deepEqual(e.sources, [...r.sPrime, silver[0]!.sentence]);
    assert.equal(r.sPrime.length, 12);
    const distinctPerQ = Q.map((_, i) => new Set(r.sPrime.slice(3 * i, 3 * i + 3)).size);
    assert.ok(
      distinctPerQ.some((n) => n > 1),
      `sampled S′ of one Q differ: ${JSON.stringify(r.sPrime)}`,
    );
    // The same sentences as sampling the repeated Q directly (one draw stream over the rows, same seed).
    const direct = await e2s.generate(
      Q.flatMap((q) => [q, q, q]),
      cfg.e2sDecode,
      undefined,
      cfg.seed * 1000003 + 1,
    );
    assert.deepEqual(r.sPrime, direct);
  } finally {
    m.s2e.dispose();
    m.e2s.dispose();
  }
});

test('trainCycle with e2sSamples 2: the silver mix keeps its share of the E-cycle batch (round(batch x K x W) pairs)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-e2sk-'));
  try {
    const run = async (dir: string, K: number) => {
      const m = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
      const cfg = makeConfig({
        batchSize: 4,
        maxSteps: 2,
        s2eDecode: { maxNewTokens: 12 },
        e2sDecode: sampled,
        e2sSamples: K,
        silverMix: 0.5,
        samples: 0,
        precision: 'fp32',
      });
      await trainCycle(m, { S: world.S, Q: world.Q }, cfg, path.join(root, dir));
      m.s2e.dispose();
      m.e2s.dispose();
      return fs
        .readFileSync(path.join(root, dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((x) => x.type === 'step');
    };
    const one = await run('k1', 1);
    const two = await run('k2', 2);
    assert.deepEqual(
      one.map((s) => s.silver),
      [2, 2],
    );
    assert.deepEqual(
      two.map((s) => s.silver),
      [4, 4],
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
