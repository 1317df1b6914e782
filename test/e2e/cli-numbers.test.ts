// The numbers of the reliability issue at the CLI: out-of-range flags exit 2 naming the flag before anything is
// written; NaN/Inf weights are refused at load and save; a NaN/Inf training step stops the run and saves nothing from it.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { loadModelDir, saveModelDir } from '../../src/cycle/model-io';
import { syntheticTokenizer } from '../../src/demo/synthetic';
import { sentenceToJson } from '../../src/data/readers';
import { presetConfig } from '../../src/t5/config';
import { T5ForConditionalGeneration } from '../../src/t5/model';
import { readSafetensors, writeSafetensors } from '../../src/t5/safetensors';
import { NonFiniteStepError, Seq2SeqTrainer } from '../../src/t5/train';
import { cli, tinySyntheticBase } from '../helpers/cli-helpers';

T.setNumThreads(1);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-numbers-'));
const { world, base } = tinySyntheticBase(root);
const sFile = path.join(root, 'S.txt');
const qFile = path.join(root, 'Q.txt');
const pairs = path.join(root, 'pairs.tsv');
const text = path.join(root, 'text.txt');
const gold = path.join(root, 'gold.jsonl');
fs.writeFileSync(sFile, world.S.join('\n') + '\n');
fs.writeFileSync(qFile, world.Q.map((q) => q || '<none>').join('\n') + '\n');
fs.writeFileSync(pairs, world.S.map((s) => `${s}\t<none>`).join('\n') + '\n');
fs.writeFileSync(text, world.S.slice(0, 3).join('\n') + '\n');
fs.writeFileSync(gold, world.evalSet.sentences.map(sentenceToJson).join('\n') + '\n');

test.after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Weights finite everywhere under `dir` (each model folder loads: the loader refuses NaN/Inf). */
function modelDirsUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name === 'model.safetensors') out.push(e.parentPath ?? (e as unknown as { path: string }).path);
  return out;
}

test('the out-of-range flags of the issue exit 2 naming the flag and write nothing', async () => {
  const run = path.join(root, 'run-usage');
  const out = path.join(root, 'pred-usage.jsonl');
  const train = ['train', '--sentences', sFile, '--entities', qFile, '--base-model', base, '--out', run];
  const sup = ['train-supervised', '--pairs', pairs, '--base-model', base, '--out', run];
  const cases: [string[], string][] = [
    [[...train, '--max-steps', '-5'], '--max-steps must be >= 1, got -5'],
    [[...train, '--lr-s2e', '-1'], '--lr-s2e must be > 0, got -1'],
    [[...train, '--lr-e2s=0'], '--lr-e2s must be > 0, got 0'],
    [[...train, '--epochs', '0'], '--epochs must be >= 1, got 0'],
    [[...sup, '--lr', '-1'], '--lr must be > 0, got -1'],
    [[...sup, '--steps', '-5'], '--steps must be >= 1, got -5'],
    [[...sup, '--epochs', '0'], '--epochs must be > 0, got 0'],
    [
      ['predict', '--model', base, '--input', text, '--out', out, '--predict-batch', '0'],
      '--predict-batch must be >= 1, got 0',
    ],
    [
      ['predict', '--model', base, '--input', text, '--out', out, '--predict-batch', '-4'],
      '--predict-batch must be >= 1, got -4',
    ],
    [['predict', '--model', base, '--input', text, '--out', out, '--beams', '0'], '--beams must be >= 1, got 0'],
    [['evaluate', '--gold', gold, '--model', base, '--predict-batch', '0'], '--predict-batch must be >= 1, got 0'],
    [['pretrain', '--corpus', text, '--out', run, '--threads', '0'], '--threads must be >= 1, got 0'],
    [['pretrain', '--corpus', text, '--out', run, '--dropout', '1'], '--dropout must be in [0, 1), got 1'],
    [
      ['gate', '--base-model', base, '--train', gold, '--dev', gold, '--out', run, '--target', '2'],
      '--target must be in [0, 1], got 2',
    ],
    [
      ['data', 'build', '--train', gold, '--num-sentences', '-5', '--num-sequences', '2', '--mode', 'gq', '--out', run],
      '--num-sentences: bad count "-5" (expected e.g. 500, 1k, 3.4k or full)',
    ],
    [['demo', '--out', run, '--cycle-steps', '0'], '--cycle-steps must be >= 1, got 0'],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.err, `cyclener: ${message}\n`, argv.join(' '));
    assert.equal(fs.existsSync(run), false, `${argv.join(' ')} wrote ${run}`);
    assert.equal(fs.existsSync(out), false, `${argv.join(' ')} wrote ${out}`);
  }
});

test('train --config: a numeric key out of range is refused naming the file and key', async () => {
  const cfg = path.join(root, 'bad-run.json');
  fs.writeFileSync(cfg, JSON.stringify({ maxSteps: -5 }));
  const run = path.join(root, 'run-config');
  const r = await cli([
    'train',
    '--sentences',
    sFile,
    '--entities',
    qFile,
    '--base-model',
    base,
    '--out',
    run,
    '--config',
    cfg,
  ]);
  assert.equal(r.code, 1);
  assert.equal(r.err, `cyclener: ${cfg}: maxSteps must be >= 0, got -5\n`);
  assert.equal(fs.existsSync(run), false);
});

test('--help shows the ranges', async () => {
  const r = await cli(['train', '--help']);
  assert.equal(r.code, 0);
  // Defaults come from the config's spec (src/cycle/config.ts CYCLE_SPEC), next to the range.
  assert.match(r.out, /--lr-s2e LR +S2E learning rate \(default 0\.0003; > 0\)/);
  assert.match(r.out, /--eval-every N +evaluate every N steps \(0: at the end of each epoch\) \(default 0; >= 0\)/);
  assert.match(r.out, /--max-new-tokens N +.* \(default 128; >= 1\)/);
  assert.match((await cli(['predict', '--help'])).out, /--beams N +beam width \(1 = greedy\) \(default 1; >= 1\)/);
});

test('a base model with a NaN weight is refused at load, naming the file and the tensor', async () => {
  const dir = path.join(root, 'nan-base');
  fs.cpSync(base, dir, { recursive: true });
  const file = path.join(dir, 'model.safetensors');
  const st = readSafetensors(file);
  const name = 'encoder.final_layer_norm.weight';
  const raw = st.tensors.get(name)!;
  const vals = new Float32Array(new Uint8Array(raw.data).buffer);
  vals[3] = NaN;
  vals[5] = -Infinity;
  st.tensors.set(name, { ...raw, data: new Uint8Array(vals.buffer) });
  writeSafetensors(file, st.tensors, st.metadata);
  const message = `checkpoint ${dir}: tensor "${name}" in ${file} holds 1 NaN and 1 infinite value(s) of ${vals.length} (a diverged or corrupt model)`;
  assert.throws(() => loadModelDir(dir), { message });
  const out = path.join(root, 'nan-sup');
  const r = await cli([
    'train-supervised',
    '--pairs',
    pairs,
    '--base-model',
    dir,
    '--out',
    out,
    '--steps',
    '1',
    '--batch',
    '2',
  ]);
  assert.equal(r.code, 1);
  assert.equal(r.err, `cyclener: ${message}\n`);
  assert.equal(fs.existsSync(out), false);
  const p = await cli(['predict', '--model', dir, '--input', text, '--out', path.join(root, 'nan.jsonl')]);
  assert.equal(p.code, 1);
  assert.match(p.err, /holds 1 NaN and 1 infinite value/);
});

test('saving a model with NaN weights is refused and leaves no model file', () => {
  const tok = syntheticTokenizer(world);
  const m = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize }), { seed: 3 });
  try {
    const [name, p] = m.namedParameters().find(([n]) => n.endsWith('final_layer_norm.weight'))!;
    T.noGrad(() => p.fill_(NaN));
    const dir = path.join(root, 'nan-save');
    assert.throws(() => saveModelDir(dir, m, tok, { task: 's2e', prefix: 'entities: ', types: [] }), {
      message: `refusing to save a model whose parameter "${name}" holds ${p.numel()} NaN and 0 infinite value(s) of ${p.numel()}`,
    });
    assert.equal(fs.existsSync(path.join(dir, 'model.safetensors')), false);
  } finally {
    m.dispose();
  }
});

test('Seq2SeqTrainer.step: a NaN loss throws before the optimizer runs (weights and step count unchanged)', async () => {
  const tok = syntheticTokenizer(world);
  const m = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize }), { seed: 4 });
  const opt = new T.AdamW(m.parameters(), { lr: 1e-2 });
  try {
    const tr = new Seq2SeqTrainer(m, opt, { maxGradNorm: 1 });
    const batch = [
      [
        { source: [5, 6, 7, 1], target: [8, 9, 1] },
        { source: [10, 1], target: [11, 1] },
      ],
    ];
    assert.ok(Number.isFinite((await tr.step(batch)).loss));
    const p = m.namedParameters().find(([n]) => n.endsWith('decoder.final_layer_norm.weight'))![1];
    T.noGrad(() => p.fill_(NaN));
    const before = m
      .parameters()
      .filter((q) => q !== p)
      .map((q) => q.toFloat32Array());
    await assert.rejects(
      () => tr.step(batch),
      (e: unknown) =>
        e instanceof NonFiniteStepError &&
        e.what === 'loss' &&
        Number.isNaN(e.value) &&
        e.step === 2 &&
        e.message === 'training step 2: loss is NaN (the step was not applied)',
    );
    assert.equal(tr.stepCount, 1);
    const after = m
      .parameters()
      .filter((q) => q !== p)
      .map((q) => q.toFloat32Array());
    assert.deepEqual(after, before);
    assert.ok(
      m.parameters().every((q) => q.grad === null),
      'gradients dropped',
    );
  } finally {
    opt.dispose();
    m.dispose();
  }
});

test('train-supervised with a diverging learning rate stops with the step and saves no model', async () => {
  const out = path.join(root, 'sup-huge-lr');
  const r = await cli([
    'train-supervised',
    '--pairs',
    pairs,
    '--base-model',
    base,
    '--out',
    out,
    '--steps',
    '6',
    '--batch',
    '4',
    '--lr',
    '1e30',
  ]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    new RegExp(
      `^cyclener: step \\d: (loss|gradient norm) is (NaN|-?Infinity) — stopping; no model was saved to ${out}; lower --lr$`,
      'm',
    ),
  );
  assert.equal(r.out, '');
  assert.deepEqual(fs.readdirSync(out).sort(), ['inputs.json', 'metrics.jsonl']);
});

test('train with a diverging S2E learning rate stops; best/ and the checkpoint hold the last good step', async () => {
  const run = path.join(root, 'cycle-huge-lr');
  const r = await cli([
    'train',
    '--sentences',
    sFile,
    '--entities',
    qFile,
    '--dev-sentences',
    sFile,
    '--dev-entities',
    qFile,
    '--base-model',
    base,
    '--out',
    run,
    '--max-steps',
    '6',
    '--batch',
    '4',
    '--eval-every',
    '1',
    '--lr-s2e',
    '1e30',
  ]);
  assert.equal(r.code, 1);
  const m =
    /^cyclener: step (\d+): S2E (loss|gradient norm) is (NaN|-?Infinity) — stopping; the last checkpoint \(step (\d+)\) is intact; lower --lr-s2e \(in a new run: --resume keeps the saved config\)$/m.exec(
      r.err,
    );
  assert.ok(m, r.err);
  assert.equal(Number(m[4]), Number(m[1]) - 1);
  const state = JSON.parse(fs.readFileSync(path.join(run, 'checkpoint', 'state.json'), 'utf8')) as {
    position: { globalStep: number };
  };
  assert.equal(state.position.globalStep, Number(m[4]));
  const dirs = modelDirsUnder(run);
  assert.ok(dirs.length >= 2, dirs.join(', '));
  for (const d of dirs) loadModelDir(d, base).model.dispose(); // every saved model is finite (the loader checks)
  assert.equal(
    fs.readdirSync(run).some((f) => f.includes('.tmp-')),
    false,
  );
});
