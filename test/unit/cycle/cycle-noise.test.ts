// Noised S′ in the E-cycle (--e2s-noise): word drop and local shuffle around Q's names, kept whole; S′'s diversity.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig } from '../../../src/cycle/config';
import { distinct2, namesOf, noiseSentence } from '../../../src/cycle/noise';
import { trainCycle } from '../../../src/cycle/trainer';
import { Rng } from '../../../src/util/rng';
import { tinyWorld } from '../../helpers/cycle-helpers';

T.setNumThreads(1);

test('noiseSentence: names whole and never dropped; other words dropped at rate p and moved at most 3 places', () => {
  const s = 'w0 w1 Jeff Bezos w2 w3 founded Amazon in w4 w5 Seattle w6 w7 w8 w9';
  const names = namesOf('Jeff Bezos <sep> person <sep> Amazon <sep> organization <sep> Seattle <sep> location');
  assert.deepEqual(names, ['Jeff Bezos', 'Amazon', 'Seattle']);
  assert.equal(noiseSentence(s, names, 0, new Rng(1)), s, 'p = 0: unchanged');
  assert.equal(noiseSentence(s, names, 0.3, new Rng(5)), noiseSentence(s, names, 0.3, new Rng(5)), 'deterministic');
  let dropped = 0;
  let others = 0;
  for (let seed = 0; seed < 400; seed++) {
    const out = noiseSentence(s, names, 0.3, new Rng(seed));
    for (const n of names) assert.ok(` ${out} `.includes(` ${n} `), `${n} whole in "${out}"`);
    const words = out.split(' ');
    const kept = s.split(' ').filter((w) => /^w\d$|^founded$|^in$/.test(w));
    others += kept.length;
    dropped += kept.filter((w) => !words.includes(w)).length;
  }
  assert.ok(Math.abs(dropped / others - 0.3) < 0.03, `drop rate ${dropped / others}`);
  // Without drops, a unit moves at most SHUFFLE_WINDOW (3) places among the units.
  const units = 'a b c d e f g h i j k l'.split(' ');
  for (let seed = 0; seed < 200; seed++) {
    const out = noiseSentence(units.join(' '), [], 1e-12, new Rng(seed)).split(' ');
    assert.deepEqual([...out].sort(), [...units].sort());
    out.forEach((w, i) => assert.ok(Math.abs(units.indexOf(w) - i) <= 3, `${w} moved ${units.indexOf(w)} -> ${i}`));
  }
});

test('distinct2: distinct word bigrams over all bigrams', () => {
  assert.equal(distinct2(['a b a b', 'a b']), 2 / 4); // bigrams: ab ba ab | ab -> {ab, ba} of 4
  assert.equal(distinct2(['one']), null);
});

test('e2sNoise: the E-cycle learns from noised S′ (the S-cycle is unchanged); logged diversity; a resume is exact', async () => {
  const { world, tok, mk } = tinyWorld({ seed: 6, nS: 12, nQ: 8, nEval: 4, namesPerType: 6, ambiguous: 1 });
  const cfg = (maxSteps: number, e2sNoise: number) =>
    makeConfig({
      batchSize: 4,
      epochs: 5,
      maxSteps,
      lrS2E: 1e-3,
      lrE2S: 1e-3,
      s2eDecode: { maxNewTokens: 12 },
      e2sDecode: { maxNewTokens: 14 },
      samples: 0,
      e2sNoise,
      precision: 'fp32',
    });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-noise-'));
  try {
    const run = async (dir: string, maxSteps: number, noise: number, resume = false) => {
      const m = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
      const r = await trainCycle(m, { S: world.S, Q: world.Q }, cfg(maxSteps, noise), path.join(root, dir), { resume });
      m.s2e.dispose();
      m.e2s.dispose();
      return r;
    };
    const noised = await run('noised', 4, 0.5);
    const plain = await run('plain', 4, 0);
    assert.equal(noised.losses[0]!.lossS, plain.losses[0]!.lossS, 'the first S-cycle is the same');
    assert.notDeepEqual(
      noised.losses.map((l) => l.lossE),
      plain.losses.map((l) => l.lossE),
      'the E-cycle learns from noised S′',
    );
    const steps = fs
      .readFileSync(path.join(root, 'noised', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.type === 'step');
    assert.ok(steps.every((r) => r.sDistinct2 === null || (typeof r.sDistinct2 === 'number' && r.sDistinct2 > 0)));
    await run('resumed', 2, 0.5);
    const resumed = await run('resumed', 4, 0.5, true);
    assert.deepEqual(resumed.losses, noised.losses.slice(2), 'a resume draws the same noise');
    assert.throws(() => makeConfig({ e2sNoise: 1 }), /e2sNoise/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
