// `cyclener predict` on a line longer than the model's input (512 tokens): the line goes through the library's
// windowing (src/api/chunk.ts, as NerModel.predict and serve do), so an entity near its end is found at the right
// offsets; the line used to be cut at 512 tokens, silently losing everything after.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { NerModel } from '../../src/api/ner-model';
import { loadModelDir } from '../../src/cycle/model-io';
import { cli, tinyTaggerBase } from '../helpers/cli-helpers';

T.setNumThreads(1);

interface Rec {
  text: string;
  entities: { start: number; end: number; label: string; score: number }[];
  issues?: unknown;
}

/** Equal spans and labels; scores equal to float32 precision (a piece's score depends in its last digits on its batch). */
function sameEntities(got: Rec['entities'], want: Rec['entities']): void {
  const spans = (es: Rec['entities']) => es.map(({ score: _, ...e }) => e);
  assert.deepEqual(spans(got), spans(want));
  got.forEach((e, i) => assert.ok(Math.abs(e.score - want[i]!.score) < 1e-5, `${e.score} vs ${want[i]!.score}`));
}

const readJsonl = (f: string) =>
  fs
    .readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Rec);

test('predict: a line over the input limit is split like the library does; entities near its end, offsets exact', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-predict-long-'));
  try {
    const { world, base } = tinyTaggerBase(root);
    const sentence = world.evalSet.sentences[0]!.text;
    const predict = async (lines: string[], name: string, format = 'jsonl') => {
      const input = path.join(root, `${name}.txt`);
      const out = path.join(root, `${name}.${format}`);
      fs.writeFileSync(input, lines.join('\n') + '\n');
      // fp32: a piece's result must not depend on the batch it shares.
      const r = await cli(['predict', '--model', base, '--input', input, '--out', out, '--format', format, '--fp32']);
      assert.equal(r.code, 0, r.err);
      return out;
    };
    const [one] = readJsonl(await predict([sentence], 'one'));
    assert.ok(one!.entities.length > 0, 'the tiny model tags the sentence');

    // 100 copies of the sentence on one line: far over 512 tokens.
    const copies = 100;
    const line = Array.from({ length: copies }, () => sentence).join(' ');
    const tok = loadModelDir(base).tokenizer;
    assert.ok((await tok.encode(`entities: ${line}`)).length > 600);
    const [long] = readJsonl(await predict([line], 'long'));
    // Each copy is one piece (the line is cut at its sentences), tagged as the sentence alone, shifted to its place.
    const want = Array.from({ length: copies }, (_, k) =>
      one!.entities.map((e) => ({
        ...e,
        start: e.start + k * (sentence.length + 1),
        end: e.end + k * (sentence.length + 1),
      })),
    ).flat();
    sameEntities(long!.entities, want);
    assert.equal(long!.issues, undefined);
    const last = long!.entities[long!.entities.length - 1]!;
    assert.ok(last.start > line.length - sentence.length, 'an entity in the last sentence of the line');
    assert.equal(
      line.slice(last.start, last.end),
      sentence.slice(one!.entities.at(-1)!.start, one!.entities.at(-1)!.end),
    );

    // CoNLL out: the tags over the line's tokens carry the same entities, the last sentence's included.
    const conll = fs
      .readFileSync(await predict([line], 'long', 'conll'), 'utf8')
      .trim()
      .split('\n');
    const oneConll = fs
      .readFileSync(await predict([sentence], 'one', 'conll'), 'utf8')
      .trim()
      .split('\n');
    assert.deepEqual(conll, Array.from({ length: copies }, () => oneConll).flat());

    // One sentence over the limit (no boundary to cut at): overlapping word windows, the library's answer exactly.
    const run = Array.from({ length: copies }, () => sentence.replace(/[.!?]$/, '')).join(' and ');
    assert.ok((await tok.encode(`entities: ${run}`)).length > 600);
    const [windowed] = readJsonl(await predict([run], 'run'));
    const ner = await NerModel.load(base, { precision: 'fp32', maxSourceTokens: 512, overlapTokens: 32 });
    try {
      const [lib] = await ner.predict([run]);
      assert.ok(ner.stats.pieces >= 2, `${ner.stats.pieces} pieces`);
      sameEntities(
        windowed!.entities,
        lib!.map((e) => ({ start: e.start, end: e.end, label: e.label, score: e.score })),
      );
    } finally {
      ner.dispose();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
