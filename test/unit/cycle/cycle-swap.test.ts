import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig } from '../../../src/cycle/config';
import { trainCycle } from '../../../src/cycle/trainer';
import { tinyWorld } from '../../helpers/cycle-helpers';
import { namesByType, swapNames } from '../../../src/cycle/swap';
import { lexicalSilverPairs } from '../../../src/cycle/warmup';
import { parseEntitySequence } from '../../../src/data/entity-seq';
import { Rng } from '../../../src/util/rng';

T.setNumThreads(1);

const Q = [
  'Paris <sep> location <sep> France <sep> location',
  'Paris Hilton <sep> person',
  'Angela Merkel <sep> person <sep> Berlin <sep> location',
  'Paris <sep> location',
];
const S = ['Paris Hilton flew from Paris to France , then Berlin .', 'nothing matches here'];

test('namesByType: distinct names per type, in order of first appearance', () => {
  assert.deepEqual(
    [...namesByType(Q)],
    [
      ['location', ['Paris', 'France', 'Berlin']],
      ['person', ['Paris Hilton', 'Angela Merkel']],
    ],
  );
});

test('swapNames: every name replaced by one of its type, in the sentence and the sequence alike', () => {
  const [pair] = lexicalSilverPairs(S, Q);
  assert.ok(pair?.spans);
  const names = namesByType(Q);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const out = swapNames(pair, names, 1, new Rng(i));
    const ents = parseEntitySequence(out.sequence).entities;
    assert.deepEqual(
      ents.map((e) => e.type),
      ['person', 'location', 'location', 'location'],
      'the types and their order stay',
    );
    for (const e of ents) assert.ok(names.get(e.type)?.includes(e.surface), `${e.surface} is a ${e.type} of Q`);
    // The sentence is the original with each span replaced, the words around the names untouched.
    const [a, b, c, d] = ents.map((e) => e.surface);
    assert.equal(out.sentence, `${a} flew from ${b} to ${c} , then ${d} .`);
    seen.add(out.sequence);
  }
  assert.ok(seen.size > 20, `draws vary (${seen.size} distinct sequences in 200)`);
  // Deterministic in the generator: the same seed gives the same pair.
  assert.deepEqual(swapNames(pair, names, 0.5, new Rng(7)), swapNames(pair, names, 0.5, new Rng(7)));
});

test('swapNames: p = 0, or a pair without spans (a refreshed one), comes back unchanged', () => {
  const [pair] = lexicalSilverPairs(S, Q);
  assert.ok(pair);
  const names = namesByType(Q);
  const plain = { sentence: pair.sentence, sequence: pair.sequence };
  assert.deepEqual(swapNames(pair, names, 0, new Rng(1)), plain);
  assert.deepEqual(swapNames(plain, names, 1, new Rng(1)), plain);
  // p in between: some spans keep their original surface, and the draws for later spans do not depend on that.
  let kept = 0;
  for (let i = 0; i < 100; i++) {
    const out = parseEntitySequence(swapNames(pair, names, 0.5, new Rng(i)).sequence).entities;
    if (out[0]?.surface === 'Paris Hilton') kept++;
  }
  assert.ok(kept > 40 && kept < 85, `the first name kept ${kept}/100 times (p 0.5, or drawn again)`);
});

test('--silver-swap is a probability (config)', () => {
  assert.equal(makeConfig({ silverSwap: 0.5 }).silverSwap, 0.5);
  assert.equal(makeConfig({}).silverSwap, 0);
  assert.throws(() => makeConfig({ silverSwap: 1.5 }), /silverSwap/);
});

test('--silver-swap reaches the lexical warm-up: S2E trains on swapped pairs', async () => {
  const { world, tok, mk } = tinyWorld({ seed: 6, nS: 12, nQ: 8, nEval: 4, namesPerType: 6, ambiguous: 0 });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-swap-'));
  const warmupLosses = async (silverSwap: number) => {
    const m = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const cfg = makeConfig({
      batchSize: 4,
      maxSteps: 1,
      s2eDecode: { maxNewTokens: 12 },
      e2sDecode: { maxNewTokens: 14 },
      logEvery: 1000,
      samples: 0,
      warmup: 'lexical',
      warmupSteps: 3,
      silverSwap,
      precision: 'fp32',
    });
    const dir = path.join(root, `swap${silverSwap}`);
    await trainCycle(m, { S: world.S, Q: world.Q }, cfg, dir);
    m.s2e.dispose();
    m.e2s.dispose();
    const w = fs
      .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; s2eLoss?: number; e2sLoss?: number })
      .find((r) => r.type === 'warmup');
    assert.ok(w);
    return [w.s2eLoss, w.e2sLoss];
  };
  try {
    const plain = await warmupLosses(0);
    assert.deepEqual(await warmupLosses(0), plain, 'the warm-up is deterministic');
    const swapped = await warmupLosses(1);
    assert.notEqual(swapped[0], plain[0], 'S2E learned from other pairs');
    assert.notEqual(swapped[1], plain[1], 'and so did E2S');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
