import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig } from '../../../src/cycle/config';
import { nameHeldScores, splitNames } from '../../../src/cycle/name-holdout';
import { selectionScore } from '../../../src/cycle/selection';
import { trainCycle } from '../../../src/cycle/trainer';
import { HALF_COVERED_WORLD, TINY_RUN, tinyWorld } from '../../helpers/cycle-helpers';

T.setNumThreads(1);

const S = [
  'Paris is in France .', // Paris, France
  'Angela Merkel visited Berlin .', // Angela Merkel, Berlin
  'nothing here',
  'Berlin and Paris', // Berlin, Paris
  'Jeff Bezos founded Amazon .', // Jeff Bezos, Amazon
];
const Q = [
  'Paris <sep> location <sep> France <sep> location',
  'Angela Merkel <sep> person',
  'Berlin <sep> location',
  'Jeff Bezos <sep> person <sep> Amazon <sep> organization',
  'Tokyo <sep> location', // never matched in S: never held out
];

test('name holdout: a share of the matched names leaves Q and S with every sequence and sentence that holds one', () => {
  // Matched names, sorted: Amazon, Angela Merkel, Berlin, France, Jeff Bezos, Paris; 2 of 6 evenly spaced: 0 and 3.
  const h = splitNames(S, Q, 1 / 3);
  assert.deepEqual([...h.names].sort(), ['Amazon', 'France']);
  assert.deepEqual(h.Q, [Q[1], Q[2], Q[4]]);
  assert.deepEqual(h.S, [S[1], S[2], S[3]]);
  assert.deepEqual(h.heldS, [S[0], S[4]]);
  // Capped, evenly spaced.
  assert.deepEqual(splitNames(S, Q, 1 / 3, 1).heldS, [S[0]]);
  assert.throws(
    () => splitNames(S, Q, 0.01),
    /--name-holdout 0.01: the gazetteer from Q matches 6 distinct names in S, so none would be held out/,
  );
  assert.throws(
    () => splitNames(S, Q.slice(0, 4), 1),
    /--name-holdout 1 leaves 0 sequences of Q and 1 sentences of S to train on/,
  );
});

test('name holdout scores: silver P/R/F1 against the whole gazetteer, recall of the held-out names alone', () => {
  const h = splitNames(S, Q, 1 / 3);
  const outputs = [
    'Paris <sep> location <sep> France <sep> person', // France with the wrong type: not found
    'Jeff Bezos <sep> person <sep> Amazon <sep> organization <sep> Seattle <sep> location',
  ];
  const r = nameHeldScores(h, h.heldS, outputs);
  // Gold: Paris, France, Jeff Bezos, Amazon (4); predicted 5, of which Paris, Jeff Bezos, Amazon match.
  assert.equal(r.p, 3 / 5);
  assert.equal(r.r, 3 / 4);
  assert.ok(Math.abs((r.f1 as number) - 2 / 3) < 1e-12);
  assert.equal(r.heldR, 1 / 2, 'of the held-out names France and Amazon, Amazon found');
  assert.equal(nameHeldScores(h, [S[2] as string], ['']).heldR, null, 'no held-out name in these sentences');
  assert.throws(
    () => makeConfig({ selectOn: 'name-held-recall' }, 'run.json'),
    /^Error: run\.json: selectOn name-held-recall needs nameHoldout > 0 \(--name-holdout F\): it scores the sentences that holds out$/,
  );
  assert.throws(() => makeConfig({ selectOn: 'held-silver-f1' }), /selectOn held-silver-f1 needs silverHoldout > 0/);
  const ev = { devSLoss: null, devELoss: null, devF1: null, devBagF1: null, nameHeldF1: 0.4, nameHeldRecall: 0.7 };
  assert.equal(selectionScore('name-held-f1', ev), -0.4);
  assert.equal(selectionScore('name-held-recall', ev), -0.7);
});

test('name holdout in a run: training sizes shrink, every evaluation scores the held-out sentences and selects on them', async () => {
  const { world, tok, mk } = tinyWorld(HALF_COVERED_WORLD);
  const h = splitNames(world.S, world.Q, 0.25);
  assert.ok(h.heldS.length > 0 && h.names.size > 0);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-names-'));
  try {
    const models = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const cfg = makeConfig({ ...TINY_RUN, nameHoldout: 0.25, selectOn: 'name-held-recall' });
    const lines: string[] = [];
    const r = await trainCycle(models, { S: world.S, Q: world.Q }, cfg, path.join(root, 'run'), {
      log: (l) => lines.push(l),
    });
    assert.ok(
      lines.includes(
        `name holdout: ${h.names.size} names held out with ${h.heldS.length} of their sentences scored; training on ${h.Q.length} sequences of Q and ${h.S.length} sentences of S`,
      ),
      lines.join('\n'),
    );
    const saved = JSON.parse(fs.readFileSync(path.join(root, 'run', 'config.json'), 'utf8')) as {
      sizes: { S: number; Q: number };
    };
    assert.deepEqual(
      saved.sizes,
      { ...saved.sizes, S: h.S.length, Q: h.Q.length },
      'held-out names are out of training',
    );
    assert.deepEqual(
      r.evals.map((e) => e.step),
      [2, 4],
      'evaluated without dev data: the criterion needs only S and Q',
    );
    for (const e of r.evals) {
      assert.equal(typeof e.nameHeldF1, 'number');
      assert.ok(e.nameHeldRecall === null || typeof e.nameHeldRecall === 'number');
    }
    assert.ok(r.bestStep !== null, 'selected on the held-out names');
    models.s2e.dispose();
    models.e2s.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
