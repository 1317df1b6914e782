// Entity scores: the decoder's probability of each entity (its tokens' log-probs, collected while generating), carried
// through prediction; thresholds; temperature calibration; the output shapes.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { entityLogProbs } from '../../../src/data/entity-seq';
import { generate } from '../../../src/t5/generation';
import { groundingHook } from '../../../src/cycle/grounding';
import { loadModelDir } from '../../../src/cycle/model-io';
import { predictWithModelDir } from '../../../src/cycle/predict';
import { mulberry32 } from '../../../src/t5/generation';
import {
  applyIsotonic,
  entityScore,
  fitIsotonic,
  fitTemperature,
  reliability,
  applyBeta,
  applyScoreMap,
  fitBeta,
  type ScoreMap,
} from '../../../src/eval/calibration';
import { NerModel, type NerEntity } from '../../../src/index';
import { thresholdGrid, type ThresholdRow } from '../../../src/eval/thresholds';
import { cli, tinyTaggerBase, tinyTunedTagger } from '../../helpers/cli-helpers';

T.setNumThreads(1);

test('entityLogProbs: an entity owns the <sep> before it, its surface, the <sep> after it and its type', () => {
  const [SEP, EOS] = [99, 1];
  // "A1 A2 <sep> T1 <sep> B1 <sep> T2 </s>": EOS (-9) belongs to no entity.
  const toks = [10, 11, SEP, 20, SEP, 12, SEP, 21, EOS];
  assert.deepEqual(entityLogProbs(toks, [-1, -2, -3, -4, -5, -6, -7, -8, -9], SEP, EOS), [-10, -26]);
  // A surface without its type (cut by the length limit) is not an entity; an empty type field still pairs up.
  assert.deepEqual(entityLogProbs([10, SEP, 20, SEP, 12], [-1, -2, -3, -4, -5], SEP, EOS), [-6]);
  assert.deepEqual(entityLogProbs([10, SEP, SEP, 12, SEP, 20], [-1, -2, -3, -4, -5, -6], SEP, EOS), [-3, -18]);
  assert.deepEqual(entityLogProbs([EOS], [-0.5], SEP, EOS), []);
});

test('grounded greedy decoding: the entities log-probs and the EOS one sum to the sequence score', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-scores-'));
  try {
    const { world, base } = tinyTaggerBase(root);
    const m = loadModelDir(base);
    const sents = world.evalSet.sentences.map((s) => s.text);
    const src = await m.tokenizer.encodeBatch(sents.map((s) => 'entities: ' + s));
    const hook = await groundingHook(m.tokenizer, sents, m.meta!.types);
    const out = generate(m.model, src, { maxNewTokens: 64, allowedTokens: hook });
    let entities = 0;
    out.sequences.forEach((seq, i) => {
      const lps = out.tokenLogProbs[i]!;
      const per = entityLogProbs(seq, lps, m.tokenizer.sepId, m.tokenizer.eosId);
      entities += per.length;
      assert.equal(seq[seq.length - 1], m.tokenizer.eosId);
      const total = per.reduce((a, x) => a + x, 0) + lps[lps.length - 1]!;
      assert.ok(Math.abs(total - out.scores[i]!) < 1e-9, `${total} vs ${out.scores[i]}`);
      assert.ok(per.every((x) => x <= 0));
    });
    assert.ok(entities > 0, 'the tiny model emits entities');
    m.model.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('prediction scores are in [0, 1] under every decoding; grounded >= plain for the same output; temperature', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-scores-'));
  try {
    const { world, model } = await tinyTunedTagger(root);
    const sents = world.evalSet.sentences.map((s) => s.text);
    const run = (o: { grounded: boolean; numBeams: number; temperature?: number }) =>
      predictWithModelDir(model, sents, { batch: 8, maxNewTokens: 48, precision: 'fp32', ...o });
    const got: Record<string, Awaited<ReturnType<typeof run>>> = {};
    for (const o of [
      { grounded: true, numBeams: 1 },
      { grounded: false, numBeams: 1 },
      { grounded: true, numBeams: 3 },
      { grounded: false, numBeams: 3 },
    ]) {
      const p = await run(o);
      got[JSON.stringify(o)] = p;
      const n = p.seqs.map((q) => (q === '' ? 0 : q.split(' <sep> ').length / 2));
      assert.deepEqual(
        p.scores.map((s) => s.length),
        n,
        `one score per entity (${JSON.stringify(o)})`,
      );
      assert.ok(p.scores.flat().length > 0 && p.scores.flat().every((s) => s > 0 && s <= 1), JSON.stringify(o));
    }
    // The same entities decoded plain and grounded: the constraint only removes competitors, so the score only rises.
    for (const beams of [1, 3]) {
      const g = got[JSON.stringify({ grounded: true, numBeams: beams })]!;
      const p = got[JSON.stringify({ grounded: false, numBeams: beams })]!;
      const same = g.seqs.flatMap((q, i) => (q !== '' && q === p.seqs[i] ? [i] : []));
      assert.ok(same.length > 0, `beams ${beams}: some outputs agree`);
      for (const i of same)
        g.scores[i]!.forEach((s, k) => assert.ok(s >= p.scores[i]![k]! - 1e-6, `${s} vs plain ${p.scores[i]![k]}`));
    }
    // A temperature rescales the log-scores and changes nothing else.
    const t1 = got[JSON.stringify({ grounded: true, numBeams: 1 })]!;
    const t2 = await run({ grounded: true, numBeams: 1, temperature: 2 });
    assert.deepEqual(t2.seqs, t1.seqs);
    assert.deepEqual(t2.score, { temperature: 2, threshold: 0 });
    t1.scores.flat().forEach((s, i) => assert.ok(Math.abs(t2.scores.flat()[i]! - Math.sqrt(s)) < 1e-12));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('NerModel: a threshold drops exactly the entities scored below it; formats', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-scores-'));
  try {
    const { world, base } = tinyTaggerBase(root);
    const sents = world.evalSet.sentences.map((s) => s.text);
    const ner = await NerModel.load(base, { threads: 1 });
    assert.deepEqual(ner.info.score, { temperature: 1, threshold: 0 });
    const all = await ner.predict(sents);
    const scores = all
      .flat()
      .map((e) => e.score)
      .sort((a, b) => a - b);
    // Between two scores, so that rounding differences of another batch composition (the stream's) cannot cross it.
    const mid = Math.floor(scores.length / 2);
    const t = (scores[mid - 1]! + scores[mid]!) / 2;
    const kept = await ner.predict(sents, { threshold: t });
    assert.deepEqual(
      kept,
      all.map((es) => es.filter((e) => e.score >= t)),
    );
    assert.ok(kept.flat().length < all.flat().length && kept.flat().length > 0);
    // predictStream applies the same threshold and format, batch by batch (spaCy docs carry no scores to round).
    const streamed: unknown[] = [];
    for await (const r of ner.predictStream(sents, { threshold: t, batchSize: 2, format: 'spacy' })) streamed.push(r);
    assert.deepEqual(streamed, await ner.predict(sents, { threshold: t, format: 'spacy' }));
    // The same text in every shape.
    const text = sents.find((_, i) => all[i]!.length > 0)!;
    const [es] = await ner.predict([text]);
    const [hf] = await ner.predict([text], { format: 'hf' });
    assert.deepEqual(
      hf,
      es!.map((e) => ({ entity_group: e.label, score: e.score, word: e.text, start: e.start, end: e.end })),
    );
    const [doc] = await ner.predict([text], { format: 'spacy' });
    assert.deepEqual(doc, { text, ents: es!.map((e) => ({ start: e.start, end: e.end, label: e.label })) });
    await assert.rejects(ner.predict([text], { threshold: 2 }), /threshold must be in \[0, 1\], got 2/);
    await assert.rejects(
      ner.predict([text], { format: 'xml' as 'hf' }),
      /format must be one of cyclener, hf, spacy, conll, got xml/,
    );
    ner.dispose();
    // A load option sets the default threshold.
    const strict = await NerModel.load(base, { threads: 1, threshold: t });
    assert.deepEqual(await strict.predict(sents), kept);
    strict.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('calibration: the fitted temperature recovers the one that generated the outcomes; ECE falls', () => {
  const rand = mulberry32(7);
  for (const T0 of [0.5, 2.5]) {
    const xs = Array.from({ length: 20000 }, () => {
      const logProb = -3 * rand();
      return { logProb, correct: rand() < entityScore(logProb, T0) ? 1 : 0 };
    });
    const T1 = fitTemperature(xs);
    assert.ok(Math.abs(T1 - T0) / T0 < 0.05, `fitted ${T1} for ${T0}`);
    // Soft labels equal to the true probabilities: the log-loss's minimum is exactly T0.
    assert.ok(Math.abs(fitTemperature(xs.map((x) => ({ ...x, correct: entityScore(x.logProb, T0) }))) - T0) < 1e-6);
    const at = (T: number) =>
      reliability(xs.map((x) => ({ score: entityScore(x.logProb, T), correct: x.correct }))).ece;
    assert.ok(at(T1) < 0.02 && at(1) > 0.1, `ECE ${at(1)} -> ${at(T1)}`);
  }
  assert.throws(() => fitTemperature([{ logProb: -1, correct: 1 }]), /needs both correct and incorrect/);
  // Deciles: the last bin holds a score of 1.
  const r = reliability(
    [
      { score: 0.05, correct: 0 },
      { score: 0.95, correct: 1 },
      { score: 1, correct: 1 },
    ],
    10,
  );
  assert.deepEqual(
    r.bins.map((b) => b.count),
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 2],
  );
  assert.ok(Math.abs(r.ece - (0.05 + 2 * 0.025) / 3) < 1e-12);
});

test('isotonic calibration: pool-adjacent-violators gives block precisions, non-decreasing; the map interpolates', () => {
  // Scores 0.1..0.6 with outcomes 0 1 0 0 1 1: the violation (1 then 0 0) pools the middle three.
  const xs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6].map((score, i) => ({ score, correct: [0, 1, 0, 0, 1, 1][i]! }));
  const m = fitIsotonic(xs);
  assert.deepEqual(m, { x: [0.1, 0.3, 0.55], y: [0, 0.333333, 1] });
  assert.equal(applyIsotonic(m, 0.05), 0, 'constant below the first knot');
  assert.equal(applyIsotonic(m, 0.9), 1, 'and above the last');
  assert.ok(Math.abs(applyIsotonic(m, 0.2) - 0.333333 / 2) < 1e-12, 'linear between knots');
  assert.equal(applyIsotonic(m, 0.3), 0.333333);
  // On miscalibrated outcomes (precision rises slower than the score) the map is monotone and the in-sample ECE small.
  const rand = mulberry32(3);
  const ys = Array.from({ length: 20000 }, () => {
    const score = rand();
    return { score, correct: rand() < 0.2 + 0.4 * score ? 1 : 0 };
  });
  const fit = fitIsotonic(ys);
  assert.ok(
    fit.y.every((y, i) => i === 0 || y > fit.y[i - 1]!),
    'strictly rising block precisions',
  );
  const before = reliability(ys).ece;
  const after = reliability(ys.map((x) => ({ score: applyIsotonic(fit, x.score), correct: x.correct }))).ece;
  assert.ok(before > 0.15 && after < 0.02, `ECE ${before} -> ${after}`);
  assert.equal(entityScore(Math.log(0.5), 1, { method: 'isotonic', ...fit }), applyIsotonic(fit, 0.5));
  assert.throws(() => fitIsotonic([{ score: 0.5, correct: 0 }]), /needs both correct and incorrect/);
});

test('beta calibration: recovers the map that generated the outcomes; caps an over-confident top where a temperature cannot', () => {
  const rand = mulberry32(11);
  const truth = { a: 0.6, b: 0.3, c: 0.4 };
  const xs = Array.from({ length: 30000 }, () => {
    const score = rand();
    return { score, correct: rand() < applyBeta(truth, score) ? 1 : 0 };
  });
  const fit = fitBeta(xs);
  for (const k of ['a', 'b', 'c'] as const)
    assert.ok(Math.abs(fit[k] - truth[k]) < 0.08, `${k}: ${fit[k]} for ${truth[k]}`);
  for (let p = 0.05; p < 1; p += 0.1) assert.ok(applyBeta(fit, p + 0.05) > applyBeta(fit, p), 'monotone');
  const ece = (f: (p: number) => number) => reliability(xs.map((x) => ({ score: f(x.score), correct: x.correct }))).ece;
  // The outcomes' precision at the top is applyBeta(truth, 1-) < 1: p^(1/T) always reaches 1 there.
  const T = fitTemperature(xs.map((x) => ({ logProb: Math.log(x.score), correct: x.correct })));
  const [eBeta, eTemp] = [ece((p) => applyBeta(fit, p)), ece((p) => entityScore(Math.log(p), T))];
  assert.ok(eBeta < 0.015 && eTemp > 2 * eBeta, `ECE beta ${eBeta}, temperature ${eTemp}`);
  assert.equal(entityScore(Math.log(0.5), 1, { method: 'beta', ...fit }), applyBeta(fit, 0.5));
  assert.ok(Number.isFinite(applyBeta(fit, 1)) && Number.isFinite(applyBeta(fit, 0)), 'scores of exactly 0 and 1');
  // Outcomes that fall with the score: no monotone fit but a constant (a = b = 0 after the refit).
  const falling = Array.from({ length: 2000 }, (_, i) => ({ score: (i + 0.5) / 2000, correct: i < 1000 ? 1 : 0 }));
  const flat = fitBeta(falling);
  assert.ok(flat.a >= 0 && flat.b >= 0, JSON.stringify(flat));
  assert.throws(() => fitBeta([{ score: 0.5, correct: 1 }]), /needs both correct and incorrect/);
});

test('cli: predict --format and --threshold; evaluate sweeps, draws the curve, calibrates and records', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-scores-cli-'));
  try {
    const { world, model } = await tinyTunedTagger(root);
    const sents = world.evalSet.sentences.map((s) => s.text);
    const input = path.join(root, 'in.txt');
    fs.writeFileSync(input, sents.join('\n') + '\n');
    const ner = await NerModel.load(model, { precision: 'fp32', threads: 1 });
    const lines = async (format: string, ...more: string[]) => {
      const out = path.join(root, `out-${format}-${more.join('')}`);
      const r = await cli([
        'predict',
        '--model',
        model,
        '--input',
        input,
        '--out',
        out,
        '--fp32',
        '--format',
        format,
        '--force',
        ...more,
      ]);
      assert.equal(r.code, 0, r.err);
      return fs
        .readFileSync(out, 'utf8')
        .trimEnd()
        .split(format === 'conll' ? '\n\n' : '\n');
    };
    const all = await ner.predict(sents);
    const cyc = (es: NerEntity[]) => es.map((e) => ({ start: e.start, end: e.end, label: e.label, score: e.score }));
    assert.deepEqual(
      (await lines('jsonl')).map((l) => JSON.parse(l) as unknown),
      sents.map((text, i) => ({ text, entities: cyc(all[i]!) })),
    );
    const kept = await ner.predict(sents, { threshold: 0.95 });
    assert.ok(kept.flat().length < all.flat().length);
    assert.deepEqual(
      (await lines('cyclener', '--threshold', '0.95')).map((l) => JSON.parse(l) as unknown),
      sents.map((text, i) => ({ text, entities: cyc(kept[i]!) })),
    );
    for (const format of ['hf', 'spacy'] as const)
      assert.deepEqual(
        (await lines(format, '--threshold', '0.95')).map((l) => JSON.parse(l) as unknown),
        await ner.predict(sents, { format, threshold: 0.95 }),
      );
    assert.deepEqual(
      await lines('conll', '--threshold', '0.95'),
      await ner.predict(sents, { format: 'conll', threshold: 0.95 }),
    );
    // Raw sequences keep the entities at or above the threshold, in order.
    const seqs = await lines('seq', '--threshold', '0.95');
    assert.deepEqual(
      seqs.map((q) => (q === '' ? 0 : q.split(' <sep> ').length / 2)),
      kept.map((es) => es.length),
    );

    const gold = path.join(root, 'dev.jsonl');
    fs.writeFileSync(
      gold,
      world.evalSet.sentences
        .map((s) =>
          JSON.stringify({
            text: s.text,
            entities: s.entities.map((e) => ({ start: e.charStart, end: e.charEnd, label: e.label })),
          }),
        )
        .join('\n') + '\n',
    );
    const curve = path.join(root, 'pr.svg');
    let r = await cli(['evaluate', '--gold', gold, '--model', model, '--fp32', '--curve', curve, '--json']);
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(r.out) as { thresholds: { threshold: number; best: ThresholdRow; sweep: ThresholdRow[] } };
    assert.equal(rep.thresholds.threshold, 0);
    assert.deepEqual(
      rep.thresholds.sweep.map((x) => x.threshold),
      thresholdGrid(100),
    );
    // The sweep's row at 0.95 counts what predict --threshold 0.95 keeps.
    assert.equal(rep.thresholds.sweep[95]!.pred, kept.flat().length);
    assert.match(fs.readFileSync(curve, 'utf8'), /^<svg[^]*best F1 [\d.]+ at threshold [\d.]+<\/text>/);
    r = await cli(['evaluate', '--gold', gold, '--model', model, '--fp32']);
    assert.match(r.out, /\nthreshold {2}precision {2}recall {5}F1 {2}predicted\n {5}0\.00 /);
    assert.match(r.out, /\nbest F1 [\d.]+ at threshold [\d.]+ \(P [\d.]+, R [\d.]+; thresholds in steps of 0\.01\)\n/);
    assert.match(
      r.out,
      /\nscore decile {2}entities {2}mean score {2}precision {3}\(expected calibration error [\d.]+\)\n\[0\.0, 0\.1\) /,
    );

    // Calibration and the recorded threshold land in cyclener.json, and become predict's defaults.
    r = await cli([
      'evaluate',
      '--gold',
      gold,
      '--model',
      model,
      '--fp32',
      '--calibrate',
      '--calibration',
      'temperature',
      '--record-threshold',
    ]);
    assert.equal(r.code, 0, r.err);
    const meta = JSON.parse(fs.readFileSync(path.join(model, 'cyclener.json'), 'utf8')) as {
      score: { temperature: number; threshold: number; fittedOn: unknown };
    };
    assert.ok(meta.score.temperature > 0 && meta.score.threshold >= 0 && meta.score.threshold <= 1);
    assert.deepEqual(meta.score.fittedOn, { gold, sentences: 5, entities: all.flat().length });
    assert.match(
      r.out,
      /calibrated: temperature [\d.]+ fitted on \d+ entities \(\d+ right\); ECE [\d.]+ -> [\d.]+; recorded in /,
    );
    const recorded = await NerModel.load(model, { precision: 'fp32', threads: 1 });
    assert.deepEqual(recorded.info.score, { temperature: meta.score.temperature, threshold: meta.score.threshold });
    const calibrated = await recorded.predict(sents, { threshold: 0 });
    calibrated
      .flat()
      .forEach((e, i) => assert.ok(Math.abs(e.score - all.flat()[i]!.score ** (1 / meta.score.temperature)) < 1e-9));
    assert.deepEqual(
      (await lines('jsonl')).map((l) => JSON.parse(l) as unknown),
      sents.map((text, i) => ({ text, entities: cyc(calibrated[i]!.filter((e) => e.score >= meta.score.threshold)) })),
    );
    recorded.dispose();

    // The default calibration is a beta map of the decoder's probabilities (--calibration isotonic: a step fit); it
    // replaces the temperature.
    const diagram = path.join(root, 'reliability.svg');
    for (const method of ['isotonic', 'beta'] as const) {
      r = await cli([
        'evaluate',
        '--gold',
        gold,
        '--model',
        model,
        '--fp32',
        '--calibrate',
        ...(method === 'beta' ? [] : ['--calibration', method]),
        '--reliability',
        diagram,
        '--force',
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(
        r.out,
        method === 'beta'
          ? /calibrated: beta calibration \(a [\d.]+, b [\d.]+, c -?[\d.]+\) fitted on/
          : /calibrated: an isotonic map \(\d+ knots\) fitted on/,
      );
      const cal = JSON.parse(fs.readFileSync(path.join(model, 'cyclener.json'), 'utf8')) as {
        score: { temperature: number; threshold: number; map: ScoreMap };
      };
      assert.equal(cal.score.temperature, 1);
      assert.equal(cal.score.map.method, method);
      // The diagram: raw and calibrated series, one point per occupied decile, their ECEs as the evaluation printed.
      const svg = fs.readFileSync(diagram, 'utf8');
      const eceAfter = /ECE [\d.]+ -> ([\d.]+)/.exec(r.out)![1]!;
      assert.match(svg, new RegExp(`calibrated \\(${method}\\): ECE ${Number(eceAfter).toFixed(3)}</text>`));
      assert.match(svg, /raw: ECE [\d.]+<\/text>/);
      const points = (svg.match(/<circle /g) ?? []).length;
      const occupied = (svg.match(/: \d+ entities, mean score/g) ?? []).length;
      assert.ok(points > 0 && points === occupied);
      assert.equal(cal.score.threshold, meta.score.threshold, 'the recorded threshold is kept');
      const calModel = await NerModel.load(model, { precision: 'fp32', threads: 1 });
      const calScores = (await calModel.predict(sents, { threshold: 0 })).flat().map((e) => e.score);
      assert.deepEqual(
        calScores,
        all.flat().map((e) => applyScoreMap(cal.score.map, e.score)),
      );
      calModel.dispose();
    }
    const given = await NerModel.load(model, { precision: 'fp32', threads: 1, temperature: 1 });
    assert.deepEqual(
      given.info.score,
      { temperature: 1, threshold: meta.score.threshold },
      'a given temperature replaces it',
    );
    given.dispose();
    ner.dispose();

    const test = path.join(root, 'test.jsonl');
    fs.copyFileSync(gold, test);
    r = await cli(['evaluate', '--gold', test, '--model', model, '--calibrate']);
    assert.equal(r.code, 2);
    assert.match(r.err, /looks like a test split; --calibrate and --record-threshold tune the model on dev data only/);
    r = await cli(['evaluate', '--gold', gold, '--pred', test, '--threshold', '0.5']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--threshold, --curve, --reliability, --calibrate and --record-threshold need --model/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
