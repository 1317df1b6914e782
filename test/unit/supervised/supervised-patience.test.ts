// Supervised fine-tuning with a budget that converges: dev loss every N steps, the output holds the best
// evaluation's model, patience stops the run; the train-supervised flags and their errors.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import '../../../src/cli/commands';
import { loadModelDir } from '../../../src/cycle/model-io';
import { Direction, evalLoss } from '../../../src/cycle/seq2seq';
import { trainSupervised, type Pair, type SupervisedConfig } from '../../../src/supervised/supervised';
import { SYN_TYPES } from '../../../src/demo/synthetic';
import { cli, tinySyntheticBase } from '../../helpers/cli-helpers';

T.setNumThreads(1);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-sup-'));
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const { world, base } = tinySyntheticBase(root);
const pairs: Pair[] = world.evalSet.sentences.map((s) => ({
  sentence: s.text,
  sequence: s.entities.map((e) => `${e.surface} <sep> ${SYN_TYPES[e.label] ?? e.label}`).join(' <sep> '),
}));
const cfg = (o: Partial<SupervisedConfig>): SupervisedConfig => ({
  prefix: 'entities: ',
  batchSize: 2,
  steps: 6,
  lr: 3e-2,
  weightDecay: 0,
  maxGradNorm: 1,
  seed: 3,
  maxSourceTokens: 64,
  maxTargetTokens: 64,
  logEvery: 100,
  precision: 'fp32',
  ...o,
});

async function devLossOf(dir: string): Promise<number> {
  const m = loadModelDir(dir);
  try {
    const d = new Direction(m.model, m.tokenizer, 'entities: ', { maxSourceTokens: 64, maxTargetTokens: 64 }, 'fp32');
    const opt = new T.AdamW(m.model.parameters(), { lr: 0 });
    try {
      return (
        await evalLoss(
          d,
          d.trainer(opt, {}),
          pairs.map((p) => p.sentence),
          pairs.map((p) => p.sequence),
          2,
        )
      ).loss;
    } finally {
      opt.dispose();
    }
  } finally {
    m.model.dispose();
  }
}

test('trainSupervised with dev pairs: the output is the model of the lowest dev loss, evaluations logged', async () => {
  const m = loadModelDir(base);
  const out = path.join(root, 'best');
  const r = await trainSupervised(
    m.model,
    m.tokenizer,
    pairs,
    cfg({ dev: { pairs, evalEvery: 1, patience: 0 } }),
    out,
    { types: ['person'] },
  );
  m.model.dispose();
  assert.equal(r.steps, 6);
  assert.equal(r.evals.length, 6);
  const min = Math.min(...r.evals.map((e) => e.devLoss));
  assert.equal(r.bestDevLoss, min);
  assert.equal(r.bestStep, r.evals.find((e) => e.devLoss === min)!.step);
  assert.ok(Math.abs((await devLossOf(out)) - min) < 1e-5, "the saved model is the best evaluation's");
  const recs = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; best?: boolean; step: number; epochs?: number });
  assert.equal(recs.filter((x) => x.type === 'eval').length, 6);
  assert.equal(recs.filter((x) => x.type === 'eval' && x.best).at(-1)!.step, r.bestStep);
  assert.equal(recs.filter((x) => x.type === 'step').at(-1)!.epochs, (6 * 2) / pairs.length);
});

test('trainSupervised: patience stops the run after N evaluations without a lower dev loss', async () => {
  const m = loadModelDir(base);
  // lr 0: the weights never change, so the dev loss never improves after the first evaluation.
  const r = await trainSupervised(
    m.model,
    m.tokenizer,
    pairs,
    cfg({ lr: 0, steps: 50, dev: { pairs, evalEvery: 2, patience: 2 } }),
    path.join(root, 'flat'),
    { types: ['person'] },
  );
  m.model.dispose();
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.steps, 6);
  assert.deepEqual(
    r.evals.map((e) => e.step),
    [2, 4, 6],
  );
  assert.equal(r.bestStep, 2);
  assert.ok(fs.existsSync(path.join(root, 'flat', 'model.safetensors')));
});

test('cli: train-supervised --dev/--patience, and their errors', async () => {
  const f = (n: string, lines: string[]) => {
    fs.writeFileSync(path.join(root, n), lines.join('\n') + '\n');
    return path.join(root, n);
  };
  const gold = f(
    'gold.jsonl',
    world.evalSet.sentences.map((s) =>
      JSON.stringify({
        text: s.text,
        entities: s.entities.map((e) => ({ start: e.charStart, end: e.charEnd, label: e.label })),
      }),
    ),
  );
  const verb = f('verb.json', [JSON.stringify(SYN_TYPES)]);
  const out = path.join(root, 'sup');
  const common = [
    'train-supervised',
    '--train',
    gold,
    '--base-model',
    base,
    '--out',
    out,
    '--batch',
    '2',
    '--verbalizer',
    verb,
  ];
  let r = await cli([
    ...common,
    '--steps',
    '4',
    '--dev',
    gold,
    '--dev-num',
    '3',
    '--eval-every',
    '2',
    '--patience',
    '3',
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /dev: 3 labelled sentences from .*gold\.jsonl, dev loss every 2 steps, patience 3/);
  assert.match(r.err, /eval @ step 2 \(epoch 0\.80\): dev loss \d/);
  assert.match(
    r.out,
    /^trained 4 steps \(1\.60 epochs\) in \d+s; final loss [\d.]+; best dev loss [\d.]+ at step [24]; model in /,
  );
  r = await cli([...common, '--steps', '2', '--patience', '2']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--eval-every, --patience and --dev-num need --dev FILE/);
  const test = f('test.jsonl', fs.readFileSync(gold, 'utf8').trim().split('\n'));
  r = await cli([...common, '--steps', '2', '--dev', test]);
  assert.equal(r.code, 2);
  assert.match(r.err, /looks like a test split/);
});
