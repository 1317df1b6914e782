// train-supervised resumes as train and pretrain do: a run interrupted after step k and resumed from OUT/checkpoint
// ends with the same losses and bit-identical fp32 weights as a run that was never interrupted; the checkpoint's
// settings are the run's (only the step budget may change); the CLI records the run's settings and inputs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { loadModelDir } from '../../src/cycle/model-io';
import { callbackSink, readMetricsFile } from '../../src/run/metrics';
import { trainSupervised, type Pair, type SupervisedConfig } from '../../src/supervised/supervised';
import { presetConfig } from '../../src/t5/config';
import { T5ForConditionalGeneration } from '../../src/t5/model';
import { SYN_TYPES, syntheticTokenizer } from '../../src/demo/synthetic';
import { cli, tinySyntheticBase } from '../helpers/cli-helpers';
import { trainSupervised as libTrainSupervised } from '../../src/api/train';

T.setNumThreads(1);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-sup-resume-'));
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const { world, base } = tinySyntheticBase(root);
const tok = syntheticTokenizer(world);
const pairs: Pair[] = world.evalSet.sentences.map((s) => ({
  sentence: s.text,
  sequence: s.entities.map((e) => `${e.surface} <sep> ${SYN_TYPES[e.label] ?? e.label}`).join(' <sep> '),
}));
// Dropout on (the engine RNG must be restored too); 5 pairs in batches of 2: batches straddle epochs.
const mk = (seed: number) =>
  new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize, dropoutRate: 0.1 }), { seed });
const cfg = (o: Partial<SupervisedConfig> = {}): SupervisedConfig => ({
  prefix: 'entities: ',
  batchSize: 2,
  steps: 7,
  lr: 1e-2,
  weightDecay: 0,
  maxGradNorm: 1,
  seed: 3,
  maxSourceTokens: 64,
  maxTargetTokens: 64,
  logEvery: 100,
  precision: 'fp32',
  dev: { pairs: pairs.slice(0, 3), evalEvery: 2, patience: 0 },
  ...o,
});
const meta = { types: ['location', 'organization', 'person'] };
const weights = (dir: string) => fs.readFileSync(path.join(dir, 'model.safetensors'));

test('trainSupervised: interrupted after step 4 and resumed = uninterrupted (losses, evaluations, fp32 weights)', async () => {
  const a = mk(1);
  const straight = await trainSupervised(a, tok, pairs, cfg(), path.join(root, 'a'), meta, { checkpoint: true });
  a.dispose();
  assert.equal(straight.stoppedBy, 'steps');

  // Abort once step 4's record is out: the run stops after step 4 (an evaluation step: an abort is evaluated, which would
  // add a candidate for the best model elsewhere) and writes its checkpoint.
  const b = path.join(root, 'b');
  const ac = new AbortController();
  const stopAt4 = callbackSink((r) => {
    if (r.type === 'step' && r.step === 4) ac.abort();
  });
  const m1 = mk(1);
  const first = await trainSupervised(m1, tok, pairs, cfg(), b, meta, {
    checkpoint: true,
    signal: ac.signal,
    metrics: stopAt4,
  });
  m1.dispose();
  assert.deepEqual([first.steps, first.interrupted, first.stoppedBy], [4, true, 'signal']);
  // A differently initialised model: everything must come from the checkpoint.
  const m2 = mk(9);
  T.manualSeed(12345);
  const seen: number[] = [];
  const second = await trainSupervised(m2, tok, pairs, cfg(), b, meta, {
    checkpoint: true,
    resume: true,
    metrics: callbackSink((r) => r.type === 'step' && seen.push(r.step)),
  });
  m2.dispose();

  assert.deepEqual([...first.losses, ...second.losses], straight.losses);
  assert.equal(second.steps, 7);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7], 'the sink sees the kept records first, then the new ones');
  assert.deepEqual([...first.evals, ...second.evals], straight.evals);
  assert.equal(second.bestStep, straight.bestStep);
  assert.equal(second.bestDevLoss, straight.bestDevLoss);
  assert.ok(weights(path.join(root, 'a', 'checkpoint')).equals(weights(path.join(b, 'checkpoint'))), 'last weights');
  assert.ok(weights(path.join(root, 'a')).equals(weights(b)), 'the best model');
  const steps = readMetricsFile(path.join(b, 'metrics.jsonl')).filter((r) => r.type === 'step');
  assert.deepEqual(
    steps.map((r) => r.step),
    [1, 2, 3, 4, 5, 6, 7],
    'each step once in metrics.jsonl',
  );

  // The checkpoint's settings are the run's: another learning rate is refused, a larger budget continues.
  const m3 = mk(1);
  try {
    await assert.rejects(
      () => trainSupervised(m3, tok, pairs, cfg({ lr: 5e-3, steps: 9 }), b, meta, { checkpoint: true, resume: true }),
      /resume: .*checkpoint was trained with other settings \(lr: 0\.01, now 0\.005\); only the step budget may change/,
    );
    const more = await trainSupervised(m3, tok, pairs, cfg({ steps: 9 }), b, meta, { checkpoint: true, resume: true });
    assert.deepEqual([more.steps, more.losses.length], [9, 2]);
  } finally {
    m3.dispose();
  }
});

test('cli: train-supervised --resume keeps the recorded settings, refuses changed ones and changed inputs', async () => {
  const gold = path.join(root, 'gold.jsonl');
  const lines = world.evalSet.sentences.map((s) =>
    JSON.stringify({
      text: s.text,
      entities: s.entities.map((e) => ({ start: e.charStart, end: e.charEnd, label: e.label })),
    }),
  );
  fs.writeFileSync(gold, lines.join('\n') + '\n');
  const verb = path.join(root, 'verb.json');
  fs.writeFileSync(verb, JSON.stringify(SYN_TYPES));
  const common = ['train-supervised', '--train', gold, '--verbalizer', verb, '--base-model', base, '--fp32'];
  const run = (out: string, ...extra: string[]) => cli([...common, '--out', path.join(root, out), ...extra]);
  // --num 4 --seed 5 --lr 0.02: a resume without them must use them, or the pairs and steps would differ.
  const settings = ['--num', '4', '--seed', '5', '--lr', '0.02', '--batch', '2'];
  let r = await run('straight', ...settings, '--steps', '5');
  assert.equal(r.code, 0, r.err);
  r = await run('resumed', ...settings, '--steps', '2');
  assert.equal(r.code, 0, r.err);
  r = await run('resumed', '--resume', '--steps', '5');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /resumed from .*checkpoint at step 2/);
  assert.match(r.out, /^trained 5 steps/);
  const out = (d: string) => path.join(root, d);
  assert.ok(weights(out('straight')).equals(weights(out('resumed'))), 'same model as the uninterrupted run');
  loadModelDir(out('resumed')).model.dispose(); // a model directory, as before

  r = await run('resumed', '--resume', '--steps', '6', '--lr', '0.01', '--seed', '5');
  assert.equal(r.code, 2);
  assert.match(r.err, /only --steps, --epochs may change/);
  assert.match(r.err, /\n {2}--lr: run has 0\.02, command line says 0\.01\n/);
  assert.doesNotMatch(r.err, /--seed/);
  fs.appendFileSync(gold, lines[0] + '\n');
  r = await run('resumed', '--resume', '--steps', '6');
  assert.equal(r.code, 2);
  assert.match(r.err, /--train: gold\.jsonl changed/);
  const metrics = readMetricsFile(path.join(out('resumed'), 'metrics.jsonl'));
  assert.deepEqual(
    metrics.filter((x) => x.type === 'end').map((x) => [x.step, x.type === 'end' && x.stoppedBy]),
    [
      [2, 'steps'],
      [5, 'steps'],
    ],
    'refused resumes write nothing',
  );
});

test('cli: train-supervised --resume continues a run the library interrupted (its inputs.json checked; an older one without)', async () => {
  const tsv = path.join(root, 'pairs.tsv');
  fs.writeFileSync(tsv, pairs.map((p) => `${p.sentence}\t${p.sequence || '<none>'}`).join('\n') + '\n');
  const out = path.join(root, 'lib');
  const ac = new AbortController();
  ac.abort();
  const first = await libTrainSupervised({
    pairs: pairs.map((p) => ({ sentence: p.sentence, entities: p.sequence })),
    baseModel: base,
    out,
    steps: 3,
    batchSize: 2,
    signal: ac.signal,
  });
  assert.deepEqual([first.steps, first.stoppedBy], [1, 'signal']);
  // The library records its in-memory pairs as the pairs file of those lines: the command's resume accepts the file.
  const inputs = JSON.parse(fs.readFileSync(path.join(out, 'inputs.json'), 'utf8')) as {
    files: { pairs: { path: string }[] };
  };
  assert.equal(inputs.files.pairs[0]!.path, '(in memory: pairs)');
  const older = path.join(root, 'lib-older');
  fs.cpSync(out, older, { recursive: true });
  fs.rmSync(path.join(older, 'inputs.json'));
  const r = await cli(['train-supervised', '--pairs', tsv, '--base-model', base, '--out', out, '--batch', '2']);
  assert.equal(r.code, 2, 'a previous run: --resume or --force');
  const r2 = await cli([
    'train-supervised',
    '--pairs',
    tsv,
    '--base-model',
    base,
    '--out',
    out,
    '--batch',
    '2',
    '--steps',
    '3',
    '--resume',
  ]);
  assert.equal(r2.code, 0, r2.err);
  assert.doesNotMatch(r2.err, /has no inputs\.json/);
  assert.match(r2.err, /resumed from .*checkpoint at step 1/);
  assert.match(r2.out, /^trained 3 steps/);
  // A run of a library that did not record inputs.json yet resumes too, its inputs recorded now.
  const r3 = await cli([
    'train-supervised',
    '--pairs',
    tsv,
    '--base-model',
    base,
    '--out',
    older,
    '--batch',
    '2',
    '--steps',
    '3',
    '--resume',
  ]);
  assert.equal(r3.code, 0, r3.err);
  assert.match(r3.err, /has no inputs\.json: input files not checked, recorded now/);
  assert.ok(
    fs.readFileSync(path.join(out, 'model.safetensors')).equals(fs.readFileSync(path.join(older, 'model.safetensors'))),
  );
});
