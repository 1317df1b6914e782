import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig, type CycleConfig } from '../../../src/cycle/config';
import { buildSyntheticWorld, syntheticTokenizer } from '../../../src/demo/synthetic';
import { trainCycle } from '../../../src/cycle/trainer';
import { commonWords, lexicalSilverPairs, pairWarmup } from '../../../src/cycle/warmup';
import { presetConfig } from '../../../src/t5/config';
import { T5ForConditionalGeneration } from '../../../src/t5/model';
import { tinyWorld } from '../../helpers/cycle-helpers';

T.setNumThreads(1);

test('lexical silver pairs: gazetteer from Q, longest match first, sentences without a match left out', () => {
  const S = ['Paris is in France .', 'nothing here', 'Jeff Bezos met Paris Hilton', 'Parisian food'];
  const Q = ['Paris <sep> location <sep> France <sep> location', 'Paris Hilton <sep> person', ''];
  assert.deepEqual(lexicalSilverPairs(S, Q), [
    {
      sentence: 'Paris is in France .',
      sequence: 'Paris <sep> location <sep> France <sep> location',
      spans: [
        { start: 0, end: 5, type: 'location' },
        { start: 12, end: 18, type: 'location' },
      ],
    },
    {
      sentence: 'Jeff Bezos met Paris Hilton',
      sequence: 'Paris Hilton <sep> person',
      spans: [{ start: 15, end: 27, type: 'person' }],
    },
  ]);
});

test('silver filter and prune: only pairs whose capitalised words are all matched; one-word names S writes in lower case dropped', () => {
  const S = [
    'The minister met Angela Merkel in Paris .', // "The" starts the sentence; every other capital matched
    'Angela Merkel met Emmanuel Macron in Paris .', // "Emmanuel Macron" unmatched
    '" Yes , Merkel said , " the talks were good .', // the first word after the quote starts the sentence
    'the vote in Paris was close .', // lower-case start: "Paris" matched
    'An aide said the vote was late .', // only "An" would match, a sentence-initial common word
  ];
  const Q = [
    'Angela Merkel <sep> person <sep> Paris <sep> location',
    'Merkel <sep> person',
    'An <sep> person <sep> Yes <sep> organization',
  ];
  const sentences = (o: Parameters<typeof lexicalSilverPairs>[2]) => lexicalSilverPairs(S, Q, o).map((p) => p.sentence);
  assert.deepEqual(sentences({}), S, 'all: every sentence with a match');
  assert.deepEqual(sentences({ filter: 'covered' }), [S[0], S[2], S[3], S[4]]);
  // "An": 'an' never occurs in S, so it stays; "the" occurs, but no Q name is "The".
  assert.deepEqual([...commonWords(S)].sort(), ['The']);
  const S2 = [...S, 'an apple and an orange .'];
  assert.ok(commonWords(S2).has('An'), 'lower-case "an" twice, "An" never inside a sentence');
  assert.deepEqual(
    lexicalSilverPairs(S2, Q, { prune: true }).map((p) => p.sequence),
    [
      'Angela Merkel <sep> person <sep> Paris <sep> location',
      'Angela Merkel <sep> person <sep> Paris <sep> location',
      'Yes <sep> organization <sep> Merkel <sep> person',
      'Paris <sep> location',
    ],
    'the pruned "An" no longer gives the fifth sentence a pair',
  );
  const cfg = makeConfig({ silverFilter: 'covered', silverPrune: true });
  assert.equal(cfg.silverFilter, 'covered');
  assert.throws(() => makeConfig({ silverFilter: 'some' as 'all' }), /silverFilter/);
});

test('warm-up is part of the run: logged, evaluated at step 0, not repeated on resume (bit-identical); runs are seeded by their config', async () => {
  const { world, tok, mk } = tinyWorld({ seed: 3, nS: 12, nQ: 8, nEval: 4, namesPerType: 6, ambiguous: 1 }, 0.1);
  const cfg = (maxSteps: number) =>
    makeConfig({
      batchSize: 4,
      epochs: 5,
      maxSteps,
      lrS2E: 1e-3,
      lrE2S: 1e-3,
      evalEvery: 2,
      s2eDecode: { maxNewTokens: 12 },
      e2sDecode: { maxNewTokens: 14 },
      evalDecode: { maxNewTokens: 12 },
      logEvery: 1000,
      samples: 0,
      warmup: 'lexical',
      warmupSteps: 3,
    });
  const data = { S: world.S, Q: world.Q, devS: world.S.slice(0, 4), devQ: world.Q.slice(0, 4) };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-warmup-'));
  try {
    const a = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const ra = await trainCycle(a, data, cfg(4), path.join(root, 'a'));
    const b = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    T.manualSeed(4242); // whatever the engine RNG held before: the run seeds its dropout draws from the config
    const rb1 = await trainCycle(b, data, cfg(2), path.join(root, 'b'));
    assert.deepEqual(rb1.losses, ra.losses.slice(0, 2), 'a run is a function of its config (dropout on)');
    const b2 = { s2e: mk(5), e2s: mk(6), tokenizer: tok };
    T.manualSeed(999);
    const rb = await trainCycle(b2, data, cfg(4), path.join(root, 'b'), { resume: true });
    assert.deepEqual(rb.losses, ra.losses.slice(2));
    const recs = fs
      .readFileSync(path.join(root, 'b', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const w = recs.filter((r) => r.type === 'warmup');
    assert.equal(w.length, 1, 'one warm-up record after the resume');
    assert.ok((w[0]!.pairs as number) > 0 && (w[0]!.pairs as number) <= world.S.length);
    assert.deepEqual(
      recs.filter((r) => r.type === 'eval').map((r) => r.step),
      [0, 2, 4],
    );
    a.s2e.dispose();
    a.e2s.dispose();
    b.s2e.dispose();
    b.e2s.dispose();
    b2.s2e.dispose();
    b2.e2s.dispose();
    assert.throws(() => makeConfig({ warmup: 'gold' as never }), /warmup must be none, fragments or lexical/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('silver mix: lexical silver pairs join the E-cycle batch with a linearly decaying share; a resume draws the same ones', async () => {
  const { world, tok, mk } = tinyWorld({ seed: 4, nS: 12, nQ: 8, nEval: 4, namesPerType: 6, ambiguous: 1 });
  const cfg = (maxSteps: number, silverMix: number) =>
    makeConfig({
      batchSize: 4,
      epochs: 5,
      maxSteps,
      lrS2E: 1e-3,
      lrE2S: 1e-3,
      s2eDecode: { maxNewTokens: 12 },
      e2sDecode: { maxNewTokens: 14 },
      logEvery: 1,
      samples: 0,
      silverMix,
      silverDecaySteps: 4,
      precision: 'fp32',
    });
  const data = { S: world.S, Q: world.Q };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-silvermix-'));
  const steps = (dir: string) =>
    fs
      .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.type === 'step');
  try {
    const run = async (dir: string, maxSteps: number, mix: number, resume = false, silverSwap = 0) => {
      const m = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
      const r = await trainCycle(m, data, { ...cfg(maxSteps, mix), silverSwap }, path.join(root, dir), { resume });
      m.s2e.dispose();
      m.e2s.dispose();
      return r;
    };
    const mixed = await run('mixed', 4, 0.5);
    // round(4 x 0.5 x (1 - step/4)) for steps 0..3: 2, 1.5 -> 2, 1, 0.5 -> 1.
    assert.deepEqual(
      steps(path.join(root, 'mixed')).map((r) => r.silver),
      [2, 2, 1, 1],
    );
    const plain = await run('plain', 4, 0);
    assert.ok(
      steps(path.join(root, 'plain')).every((r) => !('silver' in r)),
      'off: no silver field',
    );
    assert.equal(
      mixed.losses[0]!.lossS,
      plain.losses[0]!.lossS,
      'the first S-cycle (before any S2E update) is the same',
    );
    assert.notDeepEqual(
      mixed.losses.map((l) => l.lossE),
      plain.losses.map((l) => l.lossE),
      'the E-cycle S2E batch holds the silver pairs',
    );
    await run('resumed', 2, 0.5);
    const resumed = await run('resumed', 4, 0.5, true);
    assert.deepEqual(resumed.losses, mixed.losses.slice(2), 'a resume draws the same silver pairs');
    // --silver-swap: the mix's pairs carry other names of Q; drawn from (seed, step), so a resume is exact too.
    const swapped = await run('swapped', 4, 0.5, false, 1);
    assert.equal(swapped.losses[0]!.lossS, mixed.losses[0]!.lossS, 'the S-cycle is untouched');
    assert.notEqual(swapped.losses[0]!.lossE, mixed.losses[0]!.lossE, 'the silver pairs of the E-cycle are swapped');
    await run('swap-resumed', 2, 0.5, false, 1);
    const swapResumed = await run('swap-resumed', 4, 0.5, true, 1);
    assert.deepEqual(swapResumed.losses, swapped.losses.slice(2), 'a resume draws the same swaps');
    assert.throws(() => makeConfig({ silverMix: -1 }), /silverMix/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('silver refresh and holdout: held-out sentences never trained on, scored at each evaluation; the refreshed pool is part of the run (a resume is exact)', async () => {
  // Q names half of the names (the gazetteer misses the rest); S2E first learns complete sequences, so that its outputs
  // hold the gazetteer's matches and more: what the refresh takes in.
  const world = buildSyntheticWorld({
    seed: 5,
    nS: 16,
    nQ: 12,
    nEval: 4,
    namesPerType: 4,
    qCoverage: 0.5,
    ambiguous: 0,
  });
  const TYPE: Record<string, string> = { PER: 'person', LOC: 'location', ORG: 'organization' };
  const allNames = Object.entries(world.gazetteer).flatMap(([l, ns]) => ns.map((n) => `${n} <sep> ${TYPE[l]}`));
  const tok = syntheticTokenizer(world);
  const startS2E = async () => {
    const s2e = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize, dropoutRate: 0 }), {
      seed: 1,
    });
    const e2s = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize, dropoutRate: 0 }), {
      seed: 2,
    });
    const full = lexicalSilverPairs(world.S, allNames);
    await pairWarmup(s2e, e2s, tok, full, {
      steps: 60,
      batchSize: 4,
      lr: 3e-3,
      seed: 9,
      s2ePrefix: '',
      e2sPrefix: '',
      directions: 's2e',
      precision: 'fp32',
    });
    return { s2e, e2s, tokenizer: tok };
  };
  const cfg = (maxSteps: number, over: Partial<CycleConfig> = {}) =>
    makeConfig({
      batchSize: 4,
      epochs: 5,
      maxSteps,
      evalEvery: 2,
      lrS2E: 1e-3,
      lrE2S: 1e-3,
      s2eDecode: { maxNewTokens: 12 },
      e2sDecode: { maxNewTokens: 14 },
      evalDecode: { maxNewTokens: 12 },
      s2ePrefix: '',
      e2sPrefix: '',
      samples: 0,
      silverMix: 0.5,
      silverRefresh: true,
      silverHoldout: 4,
      selectOn: 'held-silver-f1',
      precision: 'fp32',
      ...over,
    });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-refresh-'));
  const lines: string[] = [];
  try {
    const run = async (dir: string, maxSteps: number, resume = false, over: Partial<CycleConfig> = {}) => {
      const m = await startS2E();
      const r = await trainCycle(m, { S: world.S, Q: world.Q }, cfg(maxSteps, over), path.join(root, dir), {
        resume,
        log: (l) => lines.push(l),
      });
      m.s2e.dispose();
      m.e2s.dispose();
      return r;
    };
    const full = await run('full', 4);
    const saved = JSON.parse(fs.readFileSync(path.join(root, 'full', 'config.json'), 'utf8')) as {
      sizes: { S: number };
    };
    assert.equal(saved.sizes.S, world.S.length - 4, 'the held-out sentences are out of training');
    assert.deepEqual(
      full.evals.map((e) => e.step),
      [2, 4],
      'evaluated without dev data: the held-out silver F1 needs only S and Q',
    );
    for (const e of full.evals) assert.equal(typeof e.heldSilverF1, 'number', 'held-out silver F1 at every evaluation');
    assert.ok(full.bestStep !== null, 'selected on the held-out silver F1');
    const refreshed = lines.flatMap((l) => {
      const m = /^silver refresh at step \d+: S2E's output replaces (\d+) of \d+/.exec(l);
      return m ? [Number(m[1])] : [];
    });
    assert.equal(refreshed.length, 2, 'a refresh after each evaluation');
    assert.ok(refreshed[0]! > 0, `S2E's outputs replaced some lexical pairs (${refreshed.join(', ')})`);
    const pool = JSON.parse(fs.readFileSync(path.join(root, 'full', 'silver-pool.json'), 'utf8')) as {
      step: number;
      pairs: unknown[];
    };
    assert.equal(pool.step, 4);
    await run('resumed', 2);
    const resumed = await run('resumed', 4, true);
    assert.deepEqual(resumed.losses, full.losses.slice(2), 'a resume draws from the same refreshed pool');
    const noRefresh = await run('plain', 4, false, { silverRefresh: false });
    assert.deepEqual(
      noRefresh.losses.slice(0, 2),
      full.losses.slice(0, 2),
      'the same until the first refresh is drawn',
    );
    assert.notDeepEqual(
      noRefresh.losses.slice(2).map((l) => l.lossE),
      full.losses.slice(2).map((l) => l.lossE),
      'after the step-2 refresh the E-cycle batch draws refreshed pairs',
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
