// The library API (src/index.ts, imported as the built package entry): NerModel on a tiny model (long texts split
// without truncation, offsets mapped back, code-point offsets, streaming), train / trainSupervised with progress and
// an abort that checkpoints, evaluate equal to the CLI's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { loadModelDir } from '../../src/cycle/model-io';
import { alignAll, predictWithModelDir } from '../../src/cycle/predict';
import { SYN_TYPES } from '../../src/demo/synthetic';
import { tokenizeText } from '../../src/data/detok';
import { cli, tinyTaggerBase } from '../helpers/cli-helpers';

// The package's own entry, as `require('cyclener')` resolves it (package.json "main").
const REPO = path.resolve(__dirname, '..', '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lib = require(REPO) as typeof import('../../src/index');
const { NerModel } = lib;
type ProgressEvent = import('../../src/index').ProgressEvent;

T.setNumThreads(1);

type Scored = { score?: number };
/** Equal entities, scores in [0, 1] and close (a text over the limit is split: its pieces are scored on their own). */
function sameEntities(got: readonly (readonly Scored[])[], want: readonly (readonly Scored[])[], what = ''): void {
  const strip = (xs: readonly (readonly Scored[])[]) => xs.map((es) => es.map(({ score: _, ...e }) => e));
  assert.deepEqual(strip(got), strip(want), what);
  got.forEach((es, i) =>
    es.forEach((e, j) => {
      const w = want[i]![j]!.score!;
      assert.ok(e.score! >= 0 && e.score! <= 1 && Math.abs(e.score! - w) < 0.02, `${what} score ${e.score} vs ${w}`);
    }),
  );
}

test('package: require and import of the built entry from another project; types shipped', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
    main: string;
    types: string;
    exports: Record<string, Record<string, string>>;
  };
  for (const f of [pkg.main, pkg.types, pkg.exports['.']!.require, pkg.exports['.']!.import, pkg.exports['.']!.types])
    assert.ok(fs.existsSync(path.join(REPO, f as string)), f);
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-consumer-'));
  try {
    fs.mkdirSync(path.join(other, 'node_modules'));
    fs.symlinkSync(REPO, path.join(other, 'node_modules', 'cyclener'));
    const cjs = execFileSync(
      process.execPath,
      [
        '-e',
        "const c = require('cyclener'); console.log(typeof c.NerModel.load, typeof c.train, typeof c.trainSupervised, typeof c.evaluate, typeof c.startServer)",
      ],
      { cwd: other, encoding: 'utf8' },
    );
    assert.equal(cjs.trim(), 'function function function function function');
    fs.writeFileSync(
      path.join(other, 'm.mjs'),
      "import { NerModel, evaluate } from 'cyclener';\nconsole.log(typeof NerModel.load, typeof evaluate);\n",
    );
    assert.equal(
      execFileSync(process.execPath, ['m.mjs'], { cwd: other, encoding: 'utf8' }).trim(),
      'function function',
    );
  } finally {
    fs.rmSync(other, { recursive: true, force: true });
  }
});

test('NerModel: predict equals `predict` for sentences; long texts split and mapped back, never truncated; codepoints; stream; dispose', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-api-'));
  try {
    const { world, base } = tinyTaggerBase(root);
    const sents = world.evalSet.sentences.map((s) => s.text);
    // Reference: the CLI's prediction path, aligned the way `predict --format jsonl` does.
    const ref = await predictWithModelDir(base, sents, { grounded: true, batch: 32, maxNewTokens: 128, numBeams: 1 });
    const refEntities = alignAll(
      sents.map((text) => ({ text, offsets: tokenizeText(text) })),
      ref.seqs,
      ref.verbalizer,
      ref.scores,
    ).map((a, i) =>
      a.entities.map((e) => ({
        start: e.charStart,
        end: e.charEnd,
        text: sents[i]!.slice(e.charStart, e.charEnd),
        label: e.label,
        score: e.score,
      })),
    );

    const tok = loadModelDir(base).tokenizer;
    const count = async (t: string) => (await tok.encode('entities: ' + t)).length;
    const [a, b] = world.S.filter((s) => /^[A-Z]/.test(s)) as [string, string];
    const limit = Math.max(await count(a), await count(b));
    const two = `${a} ${b}`;
    assert.ok((await count(two)) > limit, 'the two sentences together exceed the limit');

    const ner = await NerModel.load(base, { threads: 1, maxSourceTokens: limit, overlapTokens: 3 });
    assert.deepEqual(ner.info.types, ['location', 'organization', 'person']);
    assert.equal(ner.info.decode.grounded, true);
    const got = await ner.predict(sents);
    sameEntities(got, refEntities);
    assert.ok(
      got.some((es) => es.length > 0),
      'the tiny model tags something',
    );
    for (const [i, es] of got.entries()) for (const e of es) assert.equal(e.text, sents[i]!.slice(e.start, e.end));

    // Two sentences over the limit: each predicted alone, the second's offsets shifted by its position.
    const [ea, eb, e2] = await ner.predict([a, b, two]);
    assert.ok(ea!.length + eb!.length > 0);
    sameEntities(
      [e2!],
      [[...ea!, ...eb!.map((e) => ({ ...e, start: e.start + a.length + 1, end: e.end + a.length + 1 }))]],
    );

    // One sentence of 40 words (no boundary to cut at): overlapping windows, nothing truncated.
    const long = Array.from({ length: 8 }, () => a.replace(/[.!?]$/, '')).join(' and ');
    assert.ok((await count(long)) > 3 * limit);
    const before = { ...ner.stats };
    const [el] = await ner.predict([long]);
    assert.equal(ner.stats.truncated, 0);
    assert.ok(ner.stats.pieces - before.pieces >= 4, `${ner.stats.pieces - before.pieces} pieces`);
    assert.ok(el!.length > 0);
    for (let i = 0; i < el!.length; i++) {
      assert.equal(el![i]!.text, long.slice(el![i]!.start, el![i]!.end));
      if (i > 0) assert.ok(el![i]!.start >= el![i - 1]!.end, 'sorted, no overlaps');
    }
    // What the unsplit path does with it: cut to the limit (counted).
    await ner.sequences([long]);
    assert.equal(ner.stats.truncated, 1);

    // Offsets in code points: one emoji (2 UTF-16 units) before the text shifts every offset by one less.
    const emo = `\u{1F600} ${a}`;
    const [u16] = await ner.predict([emo]);
    const [cps] = await ner.predict([emo], { offsets: 'codepoints' });
    assert.ok(u16!.length > 0);
    sameEntities([cps!], [u16!.map((e) => ({ ...e, start: e.start - 1, end: e.end - 1 }))]);

    // Streaming: same results, in order, from an async source.
    async function* gen() {
      for (const s of sents) yield s;
    }
    const streamed = [];
    for await (const es of ner.predictStream(gen(), { batchSize: 2 })) streamed.push(es);
    sameEntities(streamed, refEntities);

    assert.deepEqual(await ner.predict(['   ']), [[]]);
    await assert.rejects(ner.predict([3 as unknown as string]), /texts must be an array of strings/);
    ner.dispose();
    await assert.rejects(ner.predict(['x']), /used after dispose\(\)/);
    await assert.rejects(NerModel.load(path.join(root, 'nope')), /no such model directory/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('train, trainSupervised, evaluate: progress events, abort = checkpoint, resume, scores equal the CLI', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-api-train-'));
  try {
    const { world, base } = tinyTaggerBase(root);
    const toType = SYN_TYPES as Record<string, string>;
    const pairs = world.evalSet.sentences.map((s) => ({
      sentence: s.text,
      entities: s.entities.map((e) => ({ surface: e.surface, type: toType[e.label]! })),
    }));

    // trainSupervised, aborted before it starts: one step runs, its model is saved, the abort is reported.
    const events: ProgressEvent[] = [];
    const ac = new AbortController();
    ac.abort();
    const sup = path.join(root, 'sup');
    const rs = await lib.trainSupervised({
      pairs,
      baseModel: base,
      out: sup,
      steps: 5,
      batchSize: 2,
      verbalizer: SYN_TYPES,
      signal: ac.signal,
      onProgress: (e) => events.push(e),
    });
    assert.equal(rs.interrupted, true);
    assert.equal(rs.steps, 1);
    assert.ok(fs.existsSync(path.join(sup, 'model.safetensors')));
    assert.ok(events.some((e) => e.kind === 'log' && e.message === 'interrupted at step 1'));
    assert.deepEqual(
      events.filter((e) => e.kind === 'metrics').map((e) => [e.record!.type, e.record!.step]),
      [
        ['step', 1],
        ['end', 1],
      ],
    );

    // train: aborted after step 1 with a checkpoint, then resumed to 3 steps.
    const run = path.join(root, 'run');
    const config = {
      batchSize: 4,
      maxSteps: 3,
      evalEvery: 0,
      s2eDecode: { maxNewTokens: 12 },
      e2sDecode: { maxNewTokens: 14 },
      evalDecode: { maxNewTokens: 12 },
      logEvery: 1,
    };
    const steps: number[] = [];
    const onProgress = (e: ProgressEvent) => {
      if (e.kind === 'metrics' && e.record.type === 'step') steps.push(e.record.step);
    };
    const r1 = await lib.train({
      sentences: world.S,
      entities: world.Q,
      baseModel: base,
      out: run,
      config,
      signal: ac.signal,
      onProgress,
    });
    assert.equal(r1.interrupted, true);
    assert.equal(r1.steps, 1);
    assert.ok(fs.existsSync(path.join(run, 'checkpoint', 'state.json')));
    const r2 = await lib.train({
      sentences: world.S,
      entities: world.Q,
      baseModel: base,
      out: run,
      config,
      resume: true,
      onProgress,
    });
    assert.equal(r2.interrupted, false);
    assert.equal(r2.steps, 2);
    assert.deepEqual(steps, [1, 1, 2, 3], 'step 1 again: a resume rewrites metrics.jsonl up to its checkpoint');
    assert.ok(fs.existsSync(path.join(run, 'best', 's2e', 'model.safetensors')));

    // evaluate == `cyclener evaluate --model --json`.
    const gold = path.join(root, 'gold.jsonl');
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
    const verb = path.join(root, 'verb.json');
    fs.writeFileSync(verb, JSON.stringify(SYN_TYPES));
    const ev = await lib.evaluate({ gold, model: sup, verbalizer: SYN_TYPES });
    const c = await cli(['evaluate', '--gold', gold, '--model', sup, '--verbalizer', verb, '--json']);
    assert.equal(c.code, 0, c.err);
    const want = JSON.parse(c.out) as {
      exact: unknown;
      bag: unknown;
      sentences: number;
      modelOutput: unknown;
      thresholds: { threshold: number; best: unknown; sweep: unknown[] };
    };
    assert.equal(ev.sentences, 5);
    assert.deepEqual([ev.exact, ev.bag, ev.modelOutput], [want.exact, want.bag, want.modelOutput]);
    assert.deepEqual([ev.thresholds.best, ev.thresholds.sweep], [want.thresholds.best, want.thresholds.sweep]);
    assert.equal(ev.thresholds.sweep.length, 101);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
