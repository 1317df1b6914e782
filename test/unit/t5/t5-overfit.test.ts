import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import { presetConfig } from '../../../src/t5/config';
import { T5ForConditionalGeneration } from '../../../src/t5/model';
import { generate } from '../../../src/t5/generation';
import { Seq2SeqExample, Seq2SeqTrainer } from '../../../src/t5/train';

/** Deterministic toy S2E task: sentences of word ids; entities are ids >= 40, joined by SEP. */
function dataset(n: number): Seq2SeqExample[] {
  let s = 12345;
  const rnd = (k: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % k;
  };
  const SEP = 60;
  const EOS = 1;
  const out: Seq2SeqExample[] = [];
  for (let i = 0; i < n; i++) {
    const len = 5 + rnd(5);
    const words = Array.from({ length: len }, () => 3 + rnd(37));
    const nEnt = 1 + rnd(2);
    for (let e = 0; e < nEnt; e++) words[rnd(len)] = 40 + rnd(20);
    const ents = words.filter((w) => w >= 40);
    const target: number[] = [];
    ents.forEach((w, j) => target.push(...(j > 0 ? [SEP, w] : [w])));
    out.push({ source: [...words, EOS], target: [...target, EOS] });
  }
  return out;
}

test('a tiny T5 overfits 64 sentence pairs to near-zero loss and then generates them exactly', async () => {
  const cfg = presetConfig('tiny', { vocabSize: 64, dModel: 64, dKv: 16, numHeads: 4, dFf: 128, dropoutRate: 0 });
  const model = new T5ForConditionalGeneration(cfg, { seed: 0 });
  const data = dataset(64);
  const opt = new T.AdamW(model.parameters(), { lr: 3e-3 });
  const trainer = new Seq2SeqTrainer(model, opt, { maxGradNorm: 1 });
  let loss = Infinity;
  let steps = 0;
  const t0 = Date.now();
  while (loss > 0.01 && steps < 600) {
    loss = (await trainer.step([data.slice(0, 32), data.slice(32)])).loss;
    steps++;
  }
  const secs = (Date.now() - t0) / 1000;
  assert.ok(loss < 0.01, `loss ${loss} after ${steps} steps (${secs.toFixed(1)} s)`);
  const out = generate(
    model,
    data.map((d) => d.source),
    { maxNewTokens: 12 },
  );
  const wrong = out.sequences
    .map((s, i) => (JSON.stringify(s) === JSON.stringify(data[i].target) ? null : i))
    .filter((i) => i !== null);
  assert.deepEqual(
    wrong,
    [],
    `all 64 targets generated exactly (loss ${loss.toFixed(4)}, ${steps} steps, ${secs.toFixed(1)} s)`,
  );
  const beams = generate(
    model,
    data.map((d) => d.source),
    { maxNewTokens: 12, numBeams: 3 },
  );
  assert.deepEqual(
    beams.sequences,
    data.map((d) => d.target),
  );
  model.dispose();
});
