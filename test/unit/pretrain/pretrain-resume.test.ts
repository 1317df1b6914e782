import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  pretrain,
  readMetrics,
  spmTrainAvailable,
  PRETRAIN_DEFAULTS,
  type PretrainOptions,
} from '../../../src/pretrain';
import { loadCheckpoint } from '../../../src/t5/checkpoint';
import * as T from '../../../src/tensor';
import { corpusLines, tmpDir } from '../../helpers/pretrain-helpers';

const skip = spmTrainAvailable() ? false : 'spm_train not installed (Debian package sentencepiece)';

function options(corpus: string, out: string, extra: Partial<PretrainOptions> = {}): PretrainOptions {
  return {
    ...PRETRAIN_DEFAULTS,
    corpus: [corpus],
    out,
    model: 'tiny',
    vocabSize: 101 + 200,
    softVocabLimit: true,
    steps: 8,
    batch: 6,
    accum: 2,
    lr: 3e-3,
    warmup: 2,
    schedule: 'linear',
    bf16: false,
    logEvery: 2,
    evalEvery: 4,
    valDocs: 4,
    valBatches: 1,
    valBatchSize: 8,
    holdoutEvery: 10,
    chunkDocs: 15,
    spmSentences: 2000,
    checkpointMinutes: 60,
    saveDtype: 'float32',
    log: () => {},
    ...extra,
  };
}

test(
  'pretrain N steps straight == N/2 + resume + N/2 (same losses, same weights); HF output loads; --init continues',
  { skip },
  async () => {
    const dir = tmpDir('resume');
    const corpus = path.join(dir, 'c.txt');
    fs.writeFileSync(corpus, corpusLines(120, 4).join('\n') + '\n');
    const live = T.liveTensors();
    const a = await pretrain(options(corpus, path.join(dir, 'a')));
    assert.equal(T.liveTensors(), live, 'no tensor leaks');
    assert.equal(a.losses.length, 8);
    assert.ok(a.losses.every(Number.isFinite));

    const bOut = path.join(dir, 'b');
    fs.mkdirSync(bOut);
    fs.copyFileSync(path.join(dir, 'a', 'tokenizer.json'), path.join(bOut, 'tokenizer.json')); // skip a second spm_train
    const b1 = await pretrain(options(corpus, bOut, { tokenizerDir: bOut, stopAfter: 4 }));
    assert.equal(b1.stoppedBy, 'stop-after');
    // A resumed run takes its recipe from the checkpoint, whatever the flags say.
    const b2 = await pretrain(options(corpus, bOut, { resume: true, lr: 1, batch: 1, seed: 99 }));
    assert.deepEqual([...b1.losses, ...b2.losses], a.losses);
    assert.equal(b2.step, 8);
    assert.equal(b2.tokens, a.tokens);
    const weights = (d: string) => fs.readFileSync(path.join(d, 'checkpoint', 'model.safetensors'));
    assert.ok(weights(path.join(dir, 'a')).equals(weights(bOut)), 'identical final weights');

    // Outputs: HF layout that loads, metrics for every logged step, a loss curve.
    for (const f of [
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'generation_config.json',
      'metrics.jsonl',
      'loss.svg',
      'pretrain_summary.json',
    ]) {
      assert.ok(fs.existsSync(path.join(bOut, f)), f);
    }
    const m = readMetrics(path.join(bOut, 'metrics.jsonl'));
    assert.deepEqual(
      m.map((r) => `${r.type} ${r.step}`),
      ['eval 0', 'step 2', 'step 4', 'eval 4', 'step 6', 'step 8', 'eval 8'],
    );
    const steps = m.filter((r) => r.type === 'step');
    const evals = m.filter((r) => r.type === 'eval');
    assert.deepEqual(
      steps.map((r) => r.trainLoss),
      [2, 4, 6, 8].map((k) => (a.losses[k - 2]! + a.losses[k - 1]!) / 2),
      'the mean train loss since the previous log point',
    );
    // Batches are split into length groups (default bound: 20% of positions padded); the share is logged.
    assert.ok(a.padding.all <= 0.2 + 1e-9 && a.padding.all >= 0, JSON.stringify(a.padding));
    assert.ok(steps.every((r) => r.padSource! >= 0 && r.padTarget! >= 0 && r.padSource! <= 1 && r.padTarget! <= 1));
    assert.ok(evals.every((r) => r.valMean > 0 && r.valLoss.span! > 0));
    // Each sitting ends with an `end` record (the first stopped after 4 steps, the resumed one at the budget).
    const ends = fs
      .readFileSync(path.join(bOut, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number; stoppedBy?: string })
      .filter((r) => r.type === 'end');
    assert.deepEqual(
      ends.map((r) => [r.step, r.stoppedBy]),
      [
        [4, 'stop-after'],
        [8, 'steps'],
      ],
    );
    assert.match(fs.readFileSync(path.join(bOut, 'loss.svg'), 'utf8'), /<path d="M[^"]+" fill="none" stroke="#1f77b4"/);
    const ck = loadCheckpoint(bOut);
    assert.equal(ck.config.dropoutRate, 0.1, 'config.json keeps the fine-tuning dropout');
    assert.equal(ck.tokenizer!.vocabSize, ck.config.vocabSize);
    ck.model.dispose();

    // Adafactor state resumes exactly too.
    const fa = await pretrain(
      options(corpus, path.join(dir, 'fa'), { tokenizerDir: bOut, optimizer: 'adafactor', steps: 4, lr: 1e-2 }),
    );
    const fbOut = path.join(dir, 'fb');
    const fb1 = await pretrain(
      options(corpus, fbOut, { tokenizerDir: bOut, optimizer: 'adafactor', steps: 4, lr: 1e-2, stopAfter: 2 }),
    );
    const fb2 = await pretrain(options(corpus, fbOut, { resume: true, steps: 4 }));
    assert.deepEqual([...fb1.losses, ...fb2.losses], fa.losses);
    assert.notDeepEqual(fa.losses, a.losses.slice(0, 4));

    // The recipe keeps the span inputs (default packed); a checkpoint without them (written before the option) resumes
    // as 'sentences', whatever the flags say.
    assert.equal(
      JSON.parse(fs.readFileSync(path.join(bOut, 'checkpoint', 'state.json'), 'utf8')).recipe.spanInputs,
      'packed',
    );
    const span = { tokenizerDir: bOut, steps: 4, mixture: 'span' };
    const sa = await pretrain(options(corpus, path.join(dir, 'sa'), { ...span, spanInputs: 'sentences' }));
    const sbOut = path.join(dir, 'sb');
    const sb1 = await pretrain(options(corpus, sbOut, { ...span, spanInputs: 'sentences', stopAfter: 2 }));
    const stateFile = path.join(sbOut, 'checkpoint', 'state.json');
    const st = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    assert.equal(st.recipe.spanInputs, 'sentences');
    delete st.recipe.spanInputs;
    fs.writeFileSync(stateFile, JSON.stringify(st));
    const sb2 = await pretrain(options(corpus, sbOut, { resume: true, steps: 4, spanInputs: 'packed' }));
    assert.deepEqual([...sb1.losses, ...sb2.losses], sa.losses);
    const pa = await pretrain(options(corpus, path.join(dir, 'pa'), span));
    assert.notDeepEqual(pa.losses, sa.losses);
    const meanSource = (r: typeof pa) => r.span!.sourceTokens / r.span!.examples;
    assert.ok(pa.span!.examples === 4 * 12 && pa.span!.short < 12, `packed: ${JSON.stringify(pa.span)}`);
    assert.ok(
      meanSource(pa) > 120 && meanSource(sa) < 100,
      `mean source tokens: packed ${meanSource(pa)}, sentences ${meanSource(sa)}`,
    );
    assert.equal(
      JSON.parse(fs.readFileSync(path.join(dir, 'pa', 'pretrain_summary.json'), 'utf8')).spanThisSitting.short,
      pa.span!.short,
    );

    // Continued pretraining from the result reuses its tokenizer.
    const c = await pretrain(options(corpus, path.join(dir, 'c'), { init: bOut, steps: 2, mixture: 'span' }));
    assert.equal(c.step, 2);
    assert.equal(
      fs.readFileSync(path.join(dir, 'c', 'tokenizer.json'), 'utf8'),
      fs.readFileSync(path.join(bOut, 'tokenizer.json'), 'utf8'),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  },
);
