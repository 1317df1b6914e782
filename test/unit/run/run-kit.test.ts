// The run kit (src/run) the three trainers share: per-rank seeds, best/patience, the metrics schema and its sinks
// (resume cut-back, replay, older files read in the new names), the checkpoint folder lookup, the curve plotter.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freshBest, patienceSpent, recordScore } from '../../../src/run/best';
import { findCheckpoint, writeCheckpoint } from '../../../src/run/checkpoint';
import { callbackSink, MetricsLog, readMetricsFile, type MetricsRecord } from '../../../src/run/metrics';
import { rankSeed } from '../../../src/run/seed';
import { lossF1Svg } from '../../../src/cycle/plot';
import { trainingSummary } from '../../../src/experiments/result';

const tmp = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `cyc-runkit-${label}-`));

test('rankSeed: the formula every saved run was seeded with (seed + 7919 * rank + step)', () => {
  assert.equal(rankSeed(42, 0), 42);
  assert.equal(rankSeed(42, 0, 10), 52);
  assert.equal(rankSeed(42, 3), 42 + 3 * 7919);
  assert.equal(rankSeed(7, 2, 100), 7 + 2 * 7919 + 100);
});

test('recordScore / patienceSpent: lower is better, null neither improves nor counts, ineligible counts', () => {
  const s = freshBest();
  assert.equal(recordScore(s, 2, 1), true);
  assert.equal(recordScore(s, null, 2), false);
  assert.equal(s.evalsWithoutImprovement, 0);
  assert.equal(recordScore(s, 1, 3, false), false, 'a collapsed evaluation is never the best');
  assert.equal(recordScore(s, 2.5, 4), false);
  assert.deepEqual(s, { bestScore: 2, bestStep: 1, evalsWithoutImprovement: 2 });
  assert.equal(patienceSpent(s, 3), false);
  assert.equal(patienceSpent(s, 2), true);
  assert.equal(patienceSpent(s, 0), false, 'patience 0: never');
  assert.equal(recordScore(s, 1.5, 5), true);
  assert.deepEqual(s, { bestScore: 1.5, bestStep: 5, evalsWithoutImprovement: 0 });
});

test('MetricsLog: a new run empties the file; a resume cuts it back to its step and replays the kept records', () => {
  const dir = tmp('metrics');
  try {
    const file = path.join(dir, 'metrics.jsonl');
    const seen: MetricsRecord[] = [];
    const sink = callbackSink((r) => seen.push(r));
    let m = MetricsLog.open({ file, resumedAt: null, sinks: [sink] });
    for (let step = 1; step <= 4; step++)
      m.emit({ type: 'step', step, epoch: 1, epochs: step / 4, loss: 1 / step, gradNorm: null, elapsed: 0 });
    m.emit({ type: 'end', step: 4, stoppedBy: 'signal', steps: 4, seconds: 1 });
    assert.deepEqual(
      seen.map((r) => r.step),
      [1, 2, 3, 4, 4],
    );
    fs.appendFileSync(file, '{"type":"step","step":5,"lo'); // cut short by a kill
    const notes: string[] = [];
    seen.length = 0;
    m = MetricsLog.open({ file, resumedAt: 2, sinks: [sink], log: (l) => notes.push(l) });
    assert.deepEqual(
      seen.map((r) => [r.type, r.step]),
      [
        ['step', 1],
        ['step', 2],
      ],
      'the sink sees what the file keeps',
    );
    assert.match(notes.join('\n'), /dropped 1 unreadable line\(s\)/);
    m.emit({ type: 'step', step: 3, epoch: 1, epochs: 0.75, loss: 0.3, gradNorm: 1, elapsed: 0 });
    assert.deepEqual(
      readMetricsFile(file).map((r) => r.step),
      [1, 2, 3],
    );
    // Ranks other than 0 write nothing.
    MetricsLog.open({ file: null, resumedAt: null, sinks: [sink] }).emit({
      type: 'end',
      step: 9,
      stoppedBy: 'steps',
      steps: 0,
      seconds: 0,
    });
    assert.equal(seen.at(-1)!.step, 3);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('readMetricsFile: pretraining lines of older runs (snake_case, no type) are read in the new names', () => {
  const dir = tmp('legacy');
  try {
    const file = path.join(dir, 'metrics.jsonl');
    const old = [
      { step: 0, tokens: 0, minutes: 0, lr: 0, train_loss: null, tokens_per_s: 0, val_loss: { span: 9 }, val_mean: 9 },
      {
        step: 2,
        tokens: 100,
        minutes: 0.1,
        lr: 0.001,
        train_loss: 8,
        tokens_per_s: 50,
        pad_source: 0.1,
        pad_target: 0,
      },
      {
        step: 4,
        tokens: 200,
        minutes: 0.2,
        lr: 0.002,
        train_loss: 7,
        tokens_per_s: 60,
        val_loss: { span: 6.5, denoise: 7.5 },
        val_mean: 7,
      },
    ];
    fs.writeFileSync(file, old.map((r) => JSON.stringify(r)).join('\n') + '\n');
    assert.deepEqual(readMetricsFile(file), [
      { type: 'eval', step: 0, tokens: 0, minutes: 0, valLoss: { span: 9 }, valMean: 9 },
      {
        type: 'step',
        step: 2,
        tokens: 100,
        minutes: 0.1,
        lr: 0.001,
        trainLoss: 8,
        tokensPerS: 50,
        padSource: 0.1,
        padTarget: 0,
      },
      { type: 'step', step: 4, tokens: 200, minutes: 0.2, lr: 0.002, trainLoss: 7, tokensPerS: 60 },
      { type: 'eval', step: 4, tokens: 200, minutes: 0.2, valLoss: { span: 6.5, denoise: 7.5 }, valMean: 7 },
    ]);
    // A resume of such a run continues in the new schema: the kept lines are rewritten in it.
    MetricsLog.open({ file, resumedAt: 2 });
    assert.deepEqual(
      fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { type: string }).type),
      ['eval', 'step'],
    );
    // The experiments' reader sees the steps of a run in either schema.
    assert.equal(trainingSummary(fs.readFileSync(file, 'utf8')).steps, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('findCheckpoint: RUN/checkpoint, else the RUN/ckpt of an older cycle run; writeCheckpoint retires ckpt/', () => {
  const dir = tmp('ckpt');
  try {
    assert.equal(findCheckpoint(dir), null);
    fs.mkdirSync(path.join(dir, 'ckpt'));
    fs.writeFileSync(path.join(dir, 'ckpt', 'state.json'), '{}');
    assert.equal(findCheckpoint(dir), path.join(dir, 'ckpt'));
    writeCheckpoint(dir, (tmpDir) => fs.writeFileSync(path.join(tmpDir, 'state.json'), '{"new":1}'));
    assert.equal(findCheckpoint(dir), path.join(dir, 'checkpoint'));
    assert.deepEqual(fs.readdirSync(dir), ['checkpoint']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('plot: the cycle figure drawn by the shared plotter is byte-identical to the one of earlier versions', () => {
  const pts = [
    { epoch: 0, step: 0, devSLoss: 3.2, devELoss: 2.5, devF1: null },
    { epoch: 0.5, step: 10, devSLoss: 2.1, devELoss: 1.9, devF1: 0.21, testF1: 0.2 },
    { epoch: 1, step: 20, devSLoss: 1.7, devELoss: null, devF1: 0.35, testF1: 0.31 },
    { epoch: 1.5, step: 30, devSLoss: 1.5, devELoss: 1.4, devF1: 0.4, testF1: 0.38 },
  ];
  const noTest = pts.map(({ testF1: _, ...p }) => p);
  const h = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
  // sha256 of lossF1Svg's output before the plotter moved to src/run (docs/results-curves are drawn by it).
  assert.equal(
    h(lossF1Svg(pts, 'run <a>', { x: 'step' })),
    '9b9df5eb682f50d62e00224d0b6e67af223cc41d00977b003b41b3cd9231bb57',
  );
  assert.equal(h(lossF1Svg(noTest, 'run')), 'b6ccb54cc7634a0b4dbd213f9944005a2713a8d8a9e32462d63bf511ba8578a5');
  assert.equal(h(lossF1Svg([], 'empty')), '726c8de8ee4dd95f8d5ac096881006fb4e36bce40177c66059328b9ae86eec8f');
});
