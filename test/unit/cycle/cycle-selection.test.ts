import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { makeConfig, type CycleConfig } from '../../../src/cycle/config';
import type { EvalResult } from '../../../src/cycle/evaluate';
import {
  collapseMessage,
  collapseStats,
  resolveSelectOn,
  savedSelectOn,
  sittingSelectOn,
  saveBest,
  Selection,
  selectionScore,
  type Decision,
  type SelectionState,
} from '../../../src/cycle/selection';
import {
  gazetteerOf,
  holdsAll,
  meanEntities,
  outputStats,
  refreshSilverPairs,
  silverScores,
  splitHoldout,
} from '../../../src/cycle/silver';
import { trainCycle } from '../../../src/cycle/trainer';
import { matchSentence } from '../../../src/baselines/lexical-matcher';
import { tokenizeText } from '../../../src/data/detok';
import { HALF_COVERED_WORLD, TINY_RUN, tinyWorld } from '../../helpers/cycle-helpers';

T.setNumThreads(1);

const ev = (over: Partial<EvalResult>): EvalResult => ({
  devSLoss: 1,
  devELoss: null,
  devF1: null,
  devBagF1: null,
  ...over,
});
const fresh = (): SelectionState => ({ bestScore: null, bestStep: null, evalsWithoutImprovement: 0, rollbacks: 0 });
const at = (globalStep: number) => ({ epoch: 0, stepInEpoch: globalStep, globalStep });
const healthy = collapseStats(['a <sep> person', 'b <sep> location', 'c <sep> person', 'd <sep> person']); // top share 0.25
const collapsed = collapseStats(['a <sep> person', 'a <sep> person', 'a <sep> person', 'b <sep> person']); // top share 0.75

/** A Selection whose best/ writer records the info and creates the directory (what rollback decisions look at). */
function harness(over: Partial<CycleConfig>) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-select-'));
  const written: Record<string, unknown>[] = [];
  const bestDir = path.join(root, 'best');
  const sel = new Selection(makeConfig(over), fresh(), bestDir, (info) => {
    written.push(info);
    fs.mkdirSync(bestDir, { recursive: true });
  });
  return { sel, written, done: () => fs.rmSync(root, { recursive: true, force: true }) };
}

const brief = (d: Decision) => [d.improved, d.stop?.message ?? null, d.rollback, d.warnings.length];

test('selection: a lower dev E-loss is the new best/ (info.json fields), patience counts the others and stops', () => {
  const h = harness({ patience: 2 });
  try {
    const losses = [1.0, 0.8, 0.9, 0.8];
    const ds = losses.map((l, i) => brief(h.sel.decide(ev({ devELoss: l }), healthy, at(i + 1))));
    assert.deepEqual(ds, [
      [true, null, false, 0],
      [true, null, false, 0],
      [false, null, false, 0],
      [false, 'early stop: no better dev-e-loss in 2 evaluations', false, 0], // equal is not better
    ]);
    assert.deepEqual(h.sel.state, { bestScore: 0.8, bestStep: 2, evalsWithoutImprovement: 2, rollbacks: 0 });
    assert.deepEqual(h.written, [
      { step: 1, epoch: 1, selectOn: 'dev-e-loss', devSLoss: 1, devELoss: 1.0, devF1: null, devBagF1: null },
      { step: 2, epoch: 1, selectOn: 'dev-e-loss', devSLoss: 1, devELoss: 0.8, devF1: null, devBagF1: null },
    ]);
  } finally {
    h.done();
  }
});

test('selection: dev-f1 selects the highest F1; an evaluation without the criterion neither selects nor counts', () => {
  const h = harness({ selectOn: 'dev-f1', patience: 1 });
  try {
    assert.deepEqual(brief(h.sel.decide(ev({ devF1: 0.4, devELoss: 0.5 }), null, at(1))), [true, null, false, 0]);
    assert.deepEqual(brief(h.sel.decide(ev({ devF1: null, devELoss: 0.1 }), null, at(2))), [false, null, false, 0]);
    assert.equal(h.sel.state.evalsWithoutImprovement, 0);
    assert.deepEqual(brief(h.sel.decide(ev({ devF1: 0.6 }), null, at(3))), [true, null, false, 0]);
    assert.equal(h.sel.state.bestScore, -0.6);
    assert.deepEqual(brief(h.sel.decide(ev({ devF1: 0.5 }), null, at(4))), [
      false,
      'early stop: no better dev-f1 in 1 evaluations',
      false,
      0,
    ]);
  } finally {
    h.done();
  }
});

test('silver scores: S2E outputs against the gazetteer from Q matched over the sentences, as bags per sentence', () => {
  const g = gazetteerOf(['Paris <sep> location <sep> Ann Lee <sep> person', 'Acme <sep> organization']);
  const sentences = ['Ann Lee flew to Paris and Paris again .', 'Acme hired Bob .', 'Nothing here .'];
  // Silver: Ann Lee/person, Paris/location x2, Acme/organization = 4 hits. S2E: Paris once (1 match), Bob (no match),
  // Acme typed wrong (no match), an entity in the third sentence (no match).
  const outputs = [
    'Paris <sep> location <sep> Paris <sep> location <sep> Paris <sep> location',
    'Acme <sep> person <sep> Bob <sep> person',
    'here <sep> location',
  ];
  const s = silverScores(g, sentences, outputs);
  assert.equal(s.p, 2 / 6, 'a repeat counts only as often as the gazetteer matched it');
  assert.equal(s.r, 2 / 4);
  assert.equal(s.f1, (2 * (2 / 6) * (2 / 4)) / (2 / 6 + 2 / 4));
  assert.deepEqual(silverScores(g, ['Nothing here .'], ['']), { p: null, r: null, f1: null });
  assert.deepEqual(silverScores(g, ['Acme .'], ['']), { p: null, r: 0, f1: null });
});

test("output statistics: S2E's density, empties and names beyond Q's on real sentences, no labels read", () => {
  const Q = ['Paris <sep> location <sep> Ann Lee <sep> person', 'Acme <sep> organization', ''];
  const g = gazetteerOf(Q);
  assert.equal(meanEntities(Q), 1);
  const outputs = [
    'Paris <sep> location <sep> Bob <sep> person',
    '',
    'Acme Corp <sep> organization',
    'Ann Lee <sep> person',
  ];
  // 4 entities over 4 sentences, 1 empty; Bob and Acme Corp are no name of Q (a longer surface is a new name).
  assert.deepEqual(outputStats(g, outputs), { entities: 1, empty: 0.25, novel: 0.5 });
  assert.deepEqual(outputStats(g, ['', '']), { entities: 0, empty: 1, novel: null });
  assert.deepEqual(outputStats(g, []), { entities: 0, empty: 0, novel: null });
  assert.equal(meanEntities([]), 0);
});

test('silver refresh: S2E output replaces a lexical sequence only where it holds every gazetteer match (with repeats)', () => {
  const lexical = [
    { sentence: 'Paris and Paris met Ann Lee .', sequence: 'Paris <sep> location <sep> Paris <sep> location' },
    { sentence: 'Acme hired Bob .', sequence: 'Acme <sep> organization' },
    { sentence: 'Acme again .', sequence: 'Acme <sep> organization' },
  ];
  const outputs = [
    'Paris <sep> location <sep> Ann Lee <sep> person', // one Paris: misses a repeat, kept lexical
    'Acme <sep> organization <sep> Bob <sep> person', // holds Acme and adds Bob: refreshed
    'Acme <sep> person', // wrong type: kept lexical
  ];
  assert.equal(holdsAll(outputs[1]!, lexical[1]!.sequence), true);
  assert.equal(holdsAll(outputs[0]!, lexical[0]!.sequence), false);
  assert.equal(holdsAll('', ''), true);
  const r = refreshSilverPairs(lexical, outputs);
  assert.equal(r.refreshed, 1);
  assert.deepEqual(r.pairs, [lexical[0], { sentence: 'Acme hired Bob .', sequence: outputs[1] }, lexical[2]]);
  assert.deepEqual(
    refreshSilverPairs(
      lexical,
      lexical.map((p) => p.sequence),
    ).refreshed,
    0,
    'the same is no refresh',
  );
});

test('silver holdout: n evenly spaced sentences out of training, the rest in order; all of S is refused', () => {
  const S = Array.from({ length: 10 }, (_, i) => `s${i}`);
  assert.deepEqual(splitHoldout(S, 3), {
    train: ['s1', 's2', 's4', 's5', 's7', 's8', 's9'],
    heldOut: ['s0', 's3', 's6'],
  });
  assert.deepEqual(splitHoldout(S, 0), { train: S, heldOut: [] });
  assert.throws(() => splitHoldout(S, 10), /--silver-holdout 10 would hold out all 10 sentences of S/);
});

test('selectionScore: every criterion, lower is better; silver F1 and dev F1 negated', () => {
  const r = ev({ devSLoss: 2, devELoss: 3, devF1: 0.4, devSilverF1: 0.6, sSilverF1: 0.7, heldSilverF1: 0.8 });
  assert.equal(selectionScore('dev-e-loss', r), 3);
  assert.equal(selectionScore('dev-s-loss', r), 2);
  assert.equal(selectionScore('dev-cycle-loss', r), 5, 'both cycle losses, summed');
  assert.equal(selectionScore('dev-cycle-loss', ev({ devSLoss: 2 })), null, 'one loss alone is not the criterion');
  assert.equal(selectionScore('dev-cycle-loss', ev({ devSLoss: null, devELoss: 3 })), null);
  assert.equal(selectionScore('dev-silver-f1', r), -0.6);
  assert.equal(selectionScore('s-silver-f1', r), -0.7);
  assert.equal(selectionScore('held-silver-f1', r), -0.8);
  assert.equal(selectionScore('dev-f1', r), -0.4);
  assert.equal(selectionScore('dev-silver-f1', ev({})), null, 'not measured');
  // S2E's outputs on dev S: density against Q's (both directions count), empties, confidence on its own outputs.
  const o = ev({ devEntities: 1, qEntities: 2, devEmpty: 0.25, devSelfLoss: 0.5 });
  assert.equal(selectionScore('dev-rate-gap', o), Math.log(2));
  assert.equal(selectionScore('dev-rate-gap', ev({ devEntities: 4, qEntities: 2 })), Math.log(2));
  assert.equal(selectionScore('dev-rate-gap', ev({ devEntities: 0, qEntities: 2 })), Infinity, 'no entity predicted');
  assert.equal(selectionScore('dev-rate-gap', ev({ devEntities: 1, qEntities: null })), null);
  assert.equal(selectionScore('dev-empty', o), 0.25);
  assert.equal(selectionScore('dev-self-loss', o), 0.5);
  assert.equal(selectionScore('dev-self-loss', ev({})), null);
  // The least fitted to Q's names: silver F1 on S as it is, lowest first.
  assert.equal(selectionScore('s-silver-f1-min', r), 0.7);
  assert.equal(selectionScore('s-silver-f1-min', ev({})), null);
  assert.throws(() => selectionScore('auto', r), /selectOn auto is resolved from the data before a run selects/);
  assert.throws(
    () => makeConfig({ selectOn: 'dev_f1' as CycleConfig['selectOn'] }),
    /selectOn must be dev-e-loss, auto, dev-s-loss, dev-cycle-loss, dev-silver-f1, s-silver-f1, s-silver-f1-min, held-silver-f1, name-held-f1, name-held-recall, dev-rate-gap, dev-empty, dev-self-loss or dev-f1, got "dev_f1"/,
  );
});

test("selectOn auto: both cycle losses, unless dev S holds none of Q's names after a lexical warm-up", () => {
  const Q = ['Paris <sep> location', 'Jeff Bezos <sep> person'];
  const S = ['Paris is big .', 'we met .'];
  const covered = ['Jeff Bezos spoke .', 'it rained .'];
  const newNames = ['Zorblax spoke .', 'it rained .'];
  const lexical = { selectOn: 'auto', warmup: 'lexical', warmupSteps: 200 } as const;
  assert.deepEqual(
    resolveSelectOn({ ...lexical, selectOn: 'dev-s-loss' }, { S, Q, devS: newNames }),
    { on: 'dev-s-loss', why: null },
    'another criterion is kept as it is',
  );
  assert.deepEqual(resolveSelectOn(lexical, { S, Q, devS: covered }), {
    on: 'dev-cycle-loss',
    why: 'auto selects on dev-cycle-loss: the gazetteer from Q matches a name in 1 of 2 dev sentences',
  });
  assert.deepEqual(resolveSelectOn(lexical, { S, Q, devS: newNames }), {
    on: 's-silver-f1-min',
    why: "auto selects on s-silver-f1-min: the gazetteer from Q matches a name in 0 of 2 dev sentences (its names are new to Q), so the model least fitted to Q's names is kept",
  });
  // Without the lexical warm-up the earliest models are the base's; without a match in S silver F1 on S is never
  // measured: the E-loss, which on tweets did better than the summed losses.
  const noWarmup =
    'auto selects on dev-e-loss: the gazetteer from Q matches a name in 0 of 2 dev sentences, but no lexical warm-up ran';
  assert.deepEqual(resolveSelectOn({ ...lexical, warmup: 'none' }, { S, Q, devS: newNames }), {
    on: 'dev-e-loss',
    why: noWarmup,
  });
  assert.deepEqual(resolveSelectOn({ ...lexical, warmupSteps: 0 }, { S, Q, devS: newNames }), {
    on: 'dev-e-loss',
    why: noWarmup,
  });
  assert.deepEqual(resolveSelectOn(lexical, { S: ['we met .'], Q, devS: newNames }), {
    on: 'dev-e-loss',
    why: 'auto selects on dev-e-loss: the gazetteer from Q matches a name in 0 of 2 dev sentences, and none of the 200 sentences of S that silver F1 on S reads',
  });
  assert.deepEqual(resolveSelectOn(lexical, { S, Q }), {
    on: 'dev-e-loss',
    why: 'auto selects on dev-e-loss: no dev sentences',
  });
  assert.deepEqual(resolveSelectOn(lexical, { S, Q, devS: [] }), {
    on: 'dev-e-loss',
    why: 'auto selects on dev-e-loss: no dev sentences',
  });
});

test('dev-cycle-loss keeps the lowest sum of the two losses, not the lowest E-loss', () => {
  const h = harness({ selectOn: 'dev-cycle-loss' });
  try {
    const pairs = [
      [1.5, 5.0],
      [1.2, 5.4], // the lowest E-loss, a higher sum
      [1.3, 4.6],
    ];
    const improved = pairs.map(([e, s], i) => h.sel.decide(ev({ devELoss: e, devSLoss: s }), healthy, at(i)).improved);
    assert.deepEqual(improved, [true, false, true]);
    assert.deepEqual(h.sel.state.bestStep, 2);
  } finally {
    h.done();
  }
});

test('a resumed run keeps the criterion of its saved best score, even where auto now resolves otherwise', () => {
  const now = {
    on: 'dev-cycle-loss' as const,
    why: 'auto selects on dev-cycle-loss: the gazetteer from Q matches a name in 5 of 9 dev sentences',
  };
  assert.deepEqual(sittingSelectOn('auto', now, undefined), now, 'a new run, or a checkpoint without one');
  assert.deepEqual(sittingSelectOn('auto', now, 'dev-cycle-loss'), now);
  assert.deepEqual(sittingSelectOn('auto', now, 'dev-e-loss'), {
    on: 'dev-e-loss',
    why: "auto keeps dev-e-loss, the criterion of this run's best so far (this build resolves it to dev-cycle-loss)",
  });
  assert.throws(
    () => sittingSelectOn('dev-s-loss', { on: 'dev-s-loss', why: null }, 'dev-e-loss'),
    /the checkpoint's best score is of dev-e-loss, not dev-s-loss: resume with the run's own selectOn/,
  );
});

test("the saved criterion: state.json's, else (older checkpoints) best/info.json's; a bad one is an error", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-saved-select-'));
  try {
    const info = (o: Record<string, unknown>) => fs.writeFileSync(path.join(dir, 'info.json'), JSON.stringify(o));
    assert.equal(savedSelectOn({ selectOn: 'dev-s-loss', bestStep: 3 }, dir), 'dev-s-loss');
    assert.equal(savedSelectOn({ bestStep: 3 }, dir), undefined, 'no best/info.json');
    info({ step: 3, selectOn: 'dev-e-loss' });
    assert.equal(
      savedSelectOn({ bestStep: 3 }, dir),
      'dev-e-loss',
      "an older auto run's best is of what it resolved to",
    );
    assert.equal(savedSelectOn({ bestStep: null }, dir), undefined, 'no best yet');
    info({ step: 3, selectOn: null, final: true });
    assert.equal(savedSelectOn({ bestStep: 3 }, dir), undefined, 'a final model, not selected');
    info({ step: 3, selectOn: 'auto' });
    assert.throws(
      () => savedSelectOn({ bestStep: 3 }, dir),
      /info\.json: selectOn must be one of dev-e-loss, dev-s-loss, dev-cycle-loss, .*, got "auto"/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('s-silver-f1-min: a zero silver F1 and a collapsed evaluation are never selected', () => {
  assert.equal(selectionScore('s-silver-f1-min', ev({ sSilverF1: 0 })), null, "finds none of Q's names");
  const cfg = { ...makeConfig({ selectOn: 's-silver-f1-min' }), onCollapse: 'warn' as const };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-ssilver-min-'));
  try {
    const written: number[] = [];
    const sel = new Selection(cfg, fresh(), dir, (info) => written.push(info.step as number));
    sel.decide(ev({ sSilverF1: 0.5 }), healthy, at(0));
    const collapsed = collapseStats(['x <sep> person', 'x <sep> person', 'x <sep> person', 'y <sep> person']);
    const d = sel.decide(ev({ sSilverF1: 0.1 }), collapsed, at(100));
    assert.equal(d.improved, false, 'collapsed: not a candidate even with onCollapse warn');
    assert.equal(d.stop, null, 'warn: the run goes on');
    assert.equal(sel.decide(ev({ sSilverF1: 0.3 }), healthy, at(200)).improved, true);
    assert.deepEqual(written, [0, 200]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('selectOn auto in a run: dev S without names of Q, after the lexical warm-up, selects the lowest silver F1 on S', async () => {
  const { world, tok, mk } = tinyWorld(HALF_COVERED_WORLD);
  const g = gazetteerOf(world.Q);
  // Sentences of the world with every match of Q's names cut out: none left for the gazetteer to match.
  const unnamed = (text: string) =>
    matchSentence(g, { text, offsets: tokenizeText(text) })
      .reverse()
      .reduce((t, m) => t.slice(0, m.charStart) + 'it' + t.slice(m.charEnd), text);
  const devS = world.S.slice(0, 6).map(unnamed);
  assert.ok(
    devS.some((t, i) => t !== world.S[i]),
    'names were cut',
  );
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-auto-'));
  try {
    const models = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
    const cfg = makeConfig({ ...TINY_RUN, warmup: 'lexical', warmupSteps: 40, warmupLr: 3e-3, selectOn: 'auto' });
    const lines: string[] = [];
    const data = { S: world.S, Q: world.Q, devS, devQ: world.Q.slice(0, 6) };
    const r = await trainCycle(models, data, cfg, path.join(root, 'run'), { log: (l) => lines.push(l) });
    assert.ok(
      lines.some((l) => l.startsWith('auto selects on s-silver-f1-min: the gazetteer from Q matches a name in 0 of 6')),
      lines.join('\n'),
    );
    const scored = r.evals.filter((e) => typeof e.sSilverF1 === 'number' && e.sSilverF1 > 0);
    assert.ok(scored.length >= 2, "silver F1 on S at the evaluations (the warm-up taught S2E some of Q's names)");
    const want = scored.reduce((a, e) => ((e.sSilverF1 as number) < (a.sSilverF1 as number) ? e : a));
    assert.equal(r.bestStep, want.step);
    assert.equal(r.selectOn, 's-silver-f1-min', 'the result names the criterion its best step is of');
    const info = JSON.parse(fs.readFileSync(path.join(root, 'run', 'best', 'info.json'), 'utf8')) as {
      selectOn: string;
    };
    assert.equal(info.selectOn, 's-silver-f1-min');
    const saved = JSON.parse(fs.readFileSync(path.join(root, 'run', 'config.json'), 'utf8')) as { selectOn: string };
    assert.equal(saved.selectOn, 'auto', 'the config keeps the choice');
    const state = JSON.parse(fs.readFileSync(path.join(root, 'run', 'checkpoint', 'state.json'), 'utf8')) as {
      selectOn: string;
    };
    assert.equal(state.selectOn, 's-silver-f1-min', 'the checkpoint keeps what it resolved to, for a resume to keep');
    models.s2e.dispose();
    models.e2s.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('collapse: warn still selects; stop never selects and stops; patience is checked first', () => {
  const warn = harness({ collapseShare: 0.5 });
  try {
    const d = warn.sel.decide(ev({ devELoss: 1 }), collapsed, at(1));
    assert.deepEqual(d, {
      improved: true,
      warnings: ['collapse: S2E emits the same sequence "a <sep> person" for 75% of the dev sentences'],
      stop: null,
      rollback: false,
    });
  } finally {
    warn.done();
  }
  const stop = harness({ collapseShare: 0.5, onCollapse: 'stop' });
  try {
    assert.deepEqual(brief(stop.sel.decide(ev({ devELoss: 1 }), healthy, at(1))), [true, null, false, 0]);
    const d = stop.sel.decide(ev({ devELoss: 0.5 }), collapsed, at(2));
    assert.deepEqual(d.stop, { on: 'collapse', message: 'stopped on collapse (onCollapse stop)' });
    assert.equal(d.improved, false, 'a collapsed evaluation is never selected, however low its loss');
    assert.deepEqual(stop.sel.state, { bestScore: 1, bestStep: 1, evalsWithoutImprovement: 1, rollbacks: 0 });
  } finally {
    stop.done();
  }
  const both = harness({ collapseShare: 0.5, onCollapse: 'stop', patience: 1 });
  try {
    assert.deepEqual(both.sel.decide(ev({ devELoss: 1 }), collapsed, at(1)).stop, {
      on: 'patience',
      message: 'early stop: no better dev-e-loss in 1 evaluations',
    });
  } finally {
    both.done();
  }
});

test('collapse: rollback needs a best/ and stops after maxRollbacks; rollback() restores best/ and scales the learning rates', () => {
  const { tok, mk } = tinyWorld({ seed: 5, nS: 4, nQ: 4, nEval: 2, namesPerType: 3, ambiguous: 0 });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-select-rb-'));
  const models = { s2e: mk(1), e2s: mk(2), tokenizer: tok };
  const metas = {
    s2e: { task: 's2e' as const, prefix: '', types: ['person'] },
    e2s: { task: 'e2s' as const, prefix: '', types: ['person'] },
  };
  const bestDir = path.join(root, 'best');
  const optS2E = new T.AdamW(models.s2e.parameters(), { lr: 1e-3 });
  const optE2S = new T.AdamW(models.e2s.parameters(), { lr: 2e-3 });
  try {
    const sel = new Selection(
      makeConfig({ collapseShare: 0.5, onCollapse: 'rollback', maxRollbacks: 1, rollbackLrFactor: 0.5 }),
      fresh(),
      bestDir,
      (info) => saveBest(bestDir, models, metas, info),
    );
    assert.deepEqual(brief(sel.decide(ev({ devELoss: 1 }), collapsed, at(1))), [
      false,
      'stopped on collapse (no earlier best/ to roll back to)',
      false,
      1,
    ]);
    assert.deepEqual(brief(sel.decide(ev({ devELoss: 2 }), healthy, at(2))), [true, null, false, 0]);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(bestDir, 'info.json'), 'utf8')), {
      step: 2,
      epoch: 1,
      selectOn: 'dev-e-loss',
      devSLoss: 1,
      devELoss: 2,
      devF1: null,
      devBagF1: null,
    });
    const atBest = models.s2e.parameters()[0]!.toFloat32Array();
    T.noGrad(() => models.s2e.parameters()[0]!.fill_(7)); // the model drifts after best/
    assert.deepEqual(brief(sel.decide(ev({ devELoss: 0.1 }), collapsed, at(3))), [false, null, true, 1]);
    sel.rollback({ ...models, optS2E, optE2S });
    assert.deepEqual(models.s2e.parameters()[0]!.toFloat32Array(), atBest);
    assert.deepEqual([optS2E.lr, optE2S.lr, sel.state.rollbacks], [5e-4, 1e-3, 1]);
    assert.deepEqual(brief(sel.decide(ev({ devELoss: 0.1 }), collapsed, at(4))), [
      false,
      'stopped on collapse (1 rollbacks used)',
      false,
      1,
    ]);
    // Without data for the criterion, best/ is the final model and says so.
    sel.saveFinal({ epoch: 2, stepInEpoch: 1, globalStep: 9 });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(bestDir, 'info.json'), 'utf8')), {
      step: 9,
      epoch: 3,
      selectOn: null,
      final: true,
      note: 'no dev data for dev-e-loss: the final model, not selected',
    });
  } finally {
    optS2E.dispose();
    optE2S.dispose();
    models.s2e.dispose();
    models.e2s.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('collapseMessage: one sequence or nothing, in the wording of the dev evaluation and of the training window', () => {
  const empty = collapseStats(['', '', '', '', '', '', '', '', '', 'x <sep> person']);
  assert.equal(collapseMessage(empty, 0.95, 'dev'), 'S2E outputs nothing for 90% of the dev sentences');
  assert.equal(collapseMessage(empty, 0.95, 'recent'), 'S2E outputs nothing for 90% of recent sentences');
  assert.equal(collapseMessage(collapsed, 0.75, 'recent'), 'S2E emits "a <sep> person" for 75% of recent sentences');
  assert.equal(collapseMessage(collapsed, 0.76, 'dev'), null);
  assert.equal(collapseMessage(healthy, 0.5, 'dev'), null);
});
