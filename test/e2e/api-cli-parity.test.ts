// `cyclener evaluate` and `cyclener predict` are shells over the library's evaluate() and predictFile()
// (src/api/evaluate.ts, src/api/predict.ts): the same operation through the CLI and through the library gives the
// same report, the same written files and the same model records.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { evaluate, evaluationJson, formatEvaluation } from '../../src/api/evaluate';
import { predictFile } from '../../src/api/predict';
import { NerModel } from '../../src/api/ner-model';
import { buildSyntheticWorld, SYN_TYPES } from '../../src/demo/synthetic';
import type { SyntheticWorld } from '../../src/demo/synthetic';
import { cli, tinyTunedTagger } from '../helpers/cli-helpers';

T.setNumThreads(1);

const jsonl = (w: SyntheticWorld) =>
  w.evalSet.sentences
    .map((s) =>
      JSON.stringify({
        text: s.text,
        entities: s.entities.map((e) => ({ start: e.charStart, end: e.charEnd, label: e.label })),
      }),
    )
    .join('\n') + '\n';

test('evaluate: the CLI and the library give the same report, SVGs and recorded calibration/threshold', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-eval-parity-'));
  try {
    const { world, model } = await tinyTunedTagger(root, 60);
    const more = buildSyntheticWorld({ seed: 9, nS: 4, nQ: 4, nEval: 40, namesPerType: 4, ambiguous: 0 });
    const gold = path.join(root, 'dev.jsonl');
    // A sentence longer than NerModel's 192-token default: evaluation sees it whole (512), as the CLI always did.
    const long = world.evalSet.sentences[0]!;
    const longText = `${'and then the rain came down on the fields '.repeat(30)}${long.text}`;
    const shift = longText.length - long.text.length;
    const longLine = JSON.stringify({
      text: longText,
      entities: long.entities.map((e) => ({ start: e.charStart + shift, end: e.charEnd + shift, label: e.label })),
    });
    fs.writeFileSync(gold, jsonl(world) + jsonl(more) + longLine + '\n');
    const verb = path.join(root, 'verb.json');
    fs.writeFileSync(verb, JSON.stringify(SYN_TYPES));
    const viaCli = path.join(root, 'm-cli');
    const viaLib = path.join(root, 'm-lib');
    fs.cpSync(model, viaCli, { recursive: true });
    fs.cpSync(model, viaLib, { recursive: true });

    const curve = path.join(root, 'pr.svg');
    const rel = path.join(root, 'rel.svg');
    const c = await cli([
      'evaluate',
      '--gold',
      gold,
      '--model',
      viaCli,
      '--verbalizer',
      verb,
      '--calibrate',
      '--record-threshold',
      '--curve',
      curve,
      '--reliability',
      rel,
      '--json',
    ]);
    assert.equal(c.code, 0, c.err);
    const r = await evaluate({
      gold,
      model: viaLib,
      verbalizer: SYN_TYPES,
      calibrate: true,
      recordThreshold: true,
      curve: true,
      reliabilityDiagram: true,
    });
    assert.equal(r.interrupted, false);
    const norm = (t: string) => t.split(viaLib).join('MODEL').split(viaCli).join('MODEL');
    assert.equal(norm(JSON.stringify(evaluationJson(r), null, 2) + '\n'), norm(c.out));
    assert.ok(r.calibration && r.calibration.method === 'beta');
    assert.equal(r.svg.curve, fs.readFileSync(curve, 'utf8'));
    assert.equal(r.svg.reliability, fs.readFileSync(rel, 'utf8'));
    assert.equal(
      fs.readFileSync(path.join(viaLib, 'cyclener.json'), 'utf8'),
      fs.readFileSync(path.join(viaCli, 'cyclener.json'), 'utf8'),
    );
    assert.deepEqual(
      c.err.trimEnd().split('\n').map(norm),
      [
        r.notes.calibration,
        `reliability diagram written to ${rel}`,
        r.notes.threshold,
        `precision-recall curve written to ${curve}`,
      ].map((x) => norm(x as string)),
    );

    // Now calibrated and thresholded: the text report, and a loaded NerModel (its own 192-token limit) scored alike
    // on the sentences that fit.
    const t = await cli(['evaluate', '--gold', gold, '--model', viaCli, '--verbalizer', verb]);
    const rt = await evaluate({ gold, model: viaLib, verbalizer: SYN_TYPES });
    assert.equal(norm(formatEvaluation(rt).join('\n') + '\n'), norm(t.out));
    assert.match(t.out, /^entities scored below [\d.]+ dropped/);
    const short = path.join(root, 'short.jsonl');
    fs.writeFileSync(short, jsonl(world) + jsonl(more));
    const ner = await NerModel.load(viaLib);
    try {
      const a = await evaluate({ gold: short, model: ner });
      const b = await evaluate({ gold: short, model: viaLib });
      assert.deepEqual(evaluationJson({ ...a, pred: b.pred }), evaluationJson(b));
      // An abort between batches: nothing scored.
      const ac = new AbortController();
      const lines: string[] = [];
      const ab = await evaluate({
        gold: short,
        model: ner,
        batchSize: 8,
        signal: ac.signal,
        onProgress: (e) => {
          if (e.kind === 'log') lines.push(e.message);
          ac.abort();
        },
      });
      assert.equal(ab.interrupted, true);
      assert.equal(ab.sentences, 0);
      // The longest batch comes first (lengthBatches): the 5 longest sentences, 45 = 5 x 8 + 5.
      assert.deepEqual(lines, ['predicted 5/45 sentences', 'interrupted after 5 of 45 sentences']);
    } finally {
      ner.dispose();
    }

    // A prediction file: entity sequences and JSONL, as the CLI reads and scores them.
    const seqFile = path.join(root, 'pred.seq');
    fs.writeFileSync(
      seqFile,
      world.evalSet.sentences
        .map((s, i) => (i === 1 ? '<none>' : `${s.entities[0]!.surface} <sep> person`))
        .join('\n') + '\n',
    );
    const goldSmall = path.join(root, 'gold.jsonl');
    fs.writeFileSync(goldSmall, jsonl(world));
    for (const pred of [seqFile, goldSmall]) {
      const p = await cli(['evaluate', '--gold', goldSmall, '--pred', pred, '--verbalizer', verb, '--json']);
      assert.equal(p.code, 0, p.err);
      const lib = await evaluate({ gold: goldSmall, pred, verbalizer: SYN_TYPES });
      assert.equal(JSON.stringify(evaluationJson(lib), null, 2) + '\n', p.out);
      const text = await cli(['evaluate', '--gold', goldSmall, '--pred', pred, '--verbalizer', verb]);
      assert.equal(formatEvaluation(lib).join('\n') + '\n', text.out);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('predict: the CLI and the library write the same file and counts, streamed or not, in every format', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-predict-parity-'));
  try {
    const { world, model } = await tinyTunedTagger(root, 60);
    const input = path.join(root, 'in.txt');
    fs.writeFileSync(input, world.evalSet.sentences.map((s) => s.text).join('\n') + '\n');
    const gold = path.join(root, 'gold.jsonl');
    fs.writeFileSync(gold, jsonl(world));
    for (const [file, format] of [
      [input, 'jsonl'],
      [input, 'seq'],
      [input, 'conll'],
      [gold, 'hf'],
      [gold, 'conll'],
    ] as const) {
      const outCli = path.join(root, `cli-${format}-${path.basename(file)}`);
      const outLib = path.join(root, `lib-${format}-${path.basename(file)}`);
      const c = await cli([
        'predict',
        '--model',
        model,
        '--input',
        file,
        '--out',
        outCli,
        '--format',
        format,
        '--fp32',
      ]);
      assert.equal(c.code, 0, c.err);
      const s = await predictFile({ model, input: file, out: outLib, format, precision: 'fp32' });
      assert.equal(fs.readFileSync(outLib, 'utf8'), fs.readFileSync(outCli, 'utf8'), `${format} ${file}`);
      const what = format === 'seq' ? '' : `, ${s.entities} entities`;
      assert.equal(c.err, `${s.sentences} sentences${what} written to ${outCli}; ${s.issues}\n`);
      assert.equal(s.sentences, 5);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
