// `cyclener train` / `train-supervised` and the library's train() / trainSupervised() share their run setup
// (src/cycle/run-setup.ts): the same operation through both gives the same run folder, and the library's resume is
// checked as the CLI's (a run from before bf16 stays fp32; a changed config or changed data is refused).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../src/tensor';
import { SYN_TYPES } from '../src/demo/synthetic';
import { train, trainSupervised } from '../src/api/train';
import { cli, tinySyntheticBase } from './cli-helpers';

T.setNumThreads(1);

const CONFIG = {
  batchSize: 4,
  maxSteps: 2,
  evalEvery: 0,
  precision: 'fp32',
  s2eDecode: { maxNewTokens: 12 },
  e2sDecode: { maxNewTokens: 14 },
  evalDecode: { maxNewTokens: 12 },
  logEvery: 1,
  samples: 0,
} as const;

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
type Inputs = { version: number; command: string; files: Record<string, { lines: number; sha256: string }[]> };
/** cyclener.json without what names where and when it was made. */
function meta(dir: string): Record<string, unknown> {
  const m = readJson(path.join(dir, 'cyclener.json'));
  for (const k of ['baseModel', 'created', 'savedAt', 'time', 'date']) delete m[k];
  return m;
}

test('train: the CLI and the library write the same run folder (config, inputs, model meta, weights)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-parity-'));
  try {
    const { world, base } = tinySyntheticBase(root);
    const sFile = path.join(root, 's.txt');
    const qFile = path.join(root, 'q.txt');
    const cfgFile = path.join(root, 'run.json');
    fs.writeFileSync(sFile, world.S.join('\n') + '\n');
    fs.writeFileSync(qFile, world.Q.map((q) => (q === '' ? '<none>' : q)).join('\n') + '\n');
    fs.writeFileSync(cfgFile, JSON.stringify(CONFIG));
    const viaCli = path.join(root, 'cli');
    const c = await cli([
      'train',
      '--sentences',
      sFile,
      '--entities',
      qFile,
      '--base-model',
      base,
      '--out',
      viaCli,
      '--config',
      cfgFile,
    ]);
    assert.equal(c.code, 0, c.err);
    const viaLib = path.join(root, 'lib');
    const r = await train({ sentences: world.S, entities: world.Q, baseModel: base, out: viaLib, config: CONFIG });
    assert.equal(r.interrupted, false);

    assert.deepEqual(readJson(path.join(viaLib, 'config.json')), readJson(path.join(viaCli, 'config.json')));
    const ic = readJson(path.join(viaCli, 'inputs.json')) as unknown as Inputs;
    const il = readJson(path.join(viaLib, 'inputs.json')) as unknown as Inputs;
    assert.deepEqual(Object.keys(il.files).sort(), Object.keys(ic.files).sort());
    assert.deepEqual([il.version, il.command], [ic.version, ic.command]);
    for (const k of Object.keys(ic.files))
      assert.deepEqual(
        il.files[k]!.map((x) => x.lines),
        ic.files[k]!.map((x) => x.lines),
        k,
      );
    // The sentences as lines hash as the file of those lines; the base model is the same files.
    assert.equal(il.files.sentences![0]!.sha256, ic.files.sentences![0]!.sha256);
    assert.deepEqual(il.files['base-model'], ic.files['base-model']);
    for (const d of ['s2e', 'e2s']) {
      const at = (run: string) => path.join(run, 'best', d);
      assert.deepEqual(meta(at(viaLib)), meta(at(viaCli)), `${d} cyclener.json`);
      assert.ok(
        fs
          .readFileSync(path.join(at(viaLib), 'model.safetensors'))
          .equals(fs.readFileSync(path.join(at(viaCli), 'model.safetensors'))),
        `${d} weights`,
      );
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** A one-step library run in root/run. */
async function oneStep(root: string) {
  const { world, base } = tinySyntheticBase(root);
  const out = path.join(root, 'run');
  const o = { sentences: world.S, entities: world.Q, baseModel: base, out };
  await train({ ...o, config: { ...CONFIG, maxSteps: 1 } });
  return { world, o, out };
}

async function inTmp(f: (root: string) => Promise<void>): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-lib-'));
  try {
    await f(root);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

test('train: a library resume of a run from before bf16 (no precision key) stays fp32', () =>
  inTmp(async (root) => {
    const { o, out } = await oneStep(root);
    const cfgPath = path.join(out, 'config.json');
    const saved = readJson(cfgPath);
    delete saved.precision;
    fs.writeFileSync(cfgPath, JSON.stringify(saved));
    const r = await train({ ...o, config: { maxSteps: 2 }, resume: true });
    assert.equal(r.steps, 1);
    assert.equal(readJson(cfgPath).precision, 'fp32');
    assert.equal(readJson(cfgPath).maxSteps, 2);
  }));

test('train: a library resume with another config (but the step budget) is refused with the CLI message', () =>
  inTmp(async (root) => {
    const { o } = await oneStep(root);
    await assert.rejects(
      train({ ...o, config: { maxSteps: 3, batchSize: 2 }, resume: true }),
      (e: Error) =>
        e.name === 'RunDirError' &&
        /^--resume: the command differs from the run in .*\n {2}--config options\.config: run has 4, the file says 2$/.test(
          e.message,
        ),
    );
  }));

test('train: the library records inputs.json (in-memory fingerprints) and refuses a resume with other data', () =>
  inTmp(async (root) => {
    const { world, o, out } = await oneStep(root);
    const inputs = readJson(path.join(out, 'inputs.json')) as unknown as Inputs & {
      files: Record<string, { path: string }[]>;
    };
    assert.deepEqual(Object.keys(inputs.files).sort(), ['base-model', 'entities', 'sentences']);
    assert.equal(inputs.files.sentences![0]!.path, '(in memory: sentences)');
    assert.equal(inputs.files.sentences![0]!.lines, world.S.length);
    await assert.rejects(
      train({ ...o, sentences: world.S.slice(1), config: { maxSteps: 3 }, resume: true }),
      (e: Error) => e.name === 'RunDirError' && /--sentences: .*changed/.test(e.message),
    );
  }));

test('train: devGold / testGold / verbalizer are used and recorded as --dev-gold / --test-gold / --verbalizer', () =>
  inTmp(async (root) => {
    const { world, base } = tinySyntheticBase(root);
    const g = path.join(root, 'gold');
    await train({
      sentences: world.S,
      entities: world.Q,
      baseModel: base,
      out: g,
      config: { ...CONFIG, maxSteps: 1, evalEvery: 1 },
      devGold: world.evalSet.sentences,
      testGold: world.evalSet,
      verbalizer: SYN_TYPES,
    });
    assert.deepEqual(readJson(path.join(g, 'config.json')).verbalizer, SYN_TYPES);
    const gi = readJson(path.join(g, 'inputs.json')) as unknown as Inputs;
    assert.equal(gi.files['dev-gold']![0]!.lines, world.evalSet.sentences.length);
    assert.equal(gi.files['dev-gold']![0]!.sha256, gi.files['test-gold']![0]!.sha256);
    const records = fs
      .readFileSync(path.join(g, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(
      records.some((x) => x.type === 'eval' && x.devF1 !== undefined),
      'dev F1 logged',
    );
  }));

test('trainSupervised: the library records the decoding in cyclener.json as train-supervised does', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sup-parity-'));
  try {
    const { world, base } = tinySyntheticBase(root);
    const pairs = world.evalSet.sentences.map((s) => ({
      sentence: s.text,
      entities: s.entities.map((e) => ({ surface: e.surface, type: SYN_TYPES[e.label]! })),
    }));
    const tsv = path.join(root, 'pairs.tsv');
    fs.writeFileSync(
      tsv,
      pairs
        .map(
          (p) => `${p.sentence}\t${p.entities.map((e) => `${e.surface} <sep> ${e.type}`).join(' <sep> ') || '<none>'}`,
        )
        .join('\n') + '\n',
    );
    const viaCli = path.join(root, 'cli');
    const c = await cli([
      'train-supervised',
      '--pairs',
      tsv,
      '--base-model',
      base,
      '--out',
      viaCli,
      '--steps',
      '1',
      '--batch',
      '2',
      '--fp32',
    ]);
    assert.equal(c.code, 0, c.err);
    const viaLib = path.join(root, 'lib');
    await trainSupervised({ pairs, baseModel: base, out: viaLib, steps: 1, batchSize: 2, precision: 'fp32' });
    assert.deepEqual(meta(viaLib).decode, { grounded: true, maxNewTokens: 128 });
    assert.deepEqual(meta(viaLib), meta(viaCli));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('train: the library cuts over-long S/Q lines and warns about misspelt type words as the CLI does', () =>
  inTmp(async (root) => {
    const { world, base } = tinySyntheticBase(root);
    // 192 tokens * 32 characters: longer lines are cut before tokenising (a Q line keeps its whole first entities).
    const longS = `${world.S[0]!} ${'word '.repeat(1400)}`;
    const longQ = Array.from({ length: 400 }, (_, i) => `Name${i} <sep> person`).join(' <sep> ');
    const S = [...world.S, longS];
    const Q = [...world.Q, longQ, 'Lolo <sep> persn'];
    const sFile = path.join(root, 's.txt');
    const qFile = path.join(root, 'q.txt');
    const cfgFile = path.join(root, 'run.json');
    fs.writeFileSync(sFile, S.join('\n') + '\n');
    fs.writeFileSync(qFile, Q.map((q) => (q === '' ? '<none>' : q)).join('\n') + '\n');
    const config = { ...CONFIG, maxSteps: 1 };
    fs.writeFileSync(cfgFile, JSON.stringify(config));
    const viaCli = path.join(root, 'cli');
    const argv = ['train', '--sentences', sFile, '--entities', qFile, '--base-model', base, '--config', cfgFile];
    const c = await cli([...argv, '--out', viaCli]);
    assert.equal(c.code, 0, c.err);
    const logs: string[] = [];
    const viaLib = path.join(root, 'lib');
    await train({
      sentences: S,
      entities: Q,
      baseModel: base,
      out: viaLib,
      config,
      onProgress: (e) => (e.kind === 'log' ? logs.push(e.message) : undefined),
    });
    const warnings = (lines: string[], s: string, q: string) =>
      lines.filter((l) => l.startsWith('warning: ')).map((l) => l.replace(s, 'S').replace(q, 'Q'));
    const want = warnings(c.err.split('\n'), sFile, qFile);
    assert.equal(want.filter((l) => /^warning: [SQ]\b/.test(l)).length, 3, c.err);
    assert.deepEqual(warnings(logs, 'sentences', 'entities'), want);
    const w = (run: string) => fs.readFileSync(path.join(run, 'best', 's2e', 'model.safetensors'));
    assert.ok(w(viaLib).equals(w(viaCli)), 'the same cut data trains the same weights');
  }));
