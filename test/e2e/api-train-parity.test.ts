// `cyclener train` / `train-supervised` and the library's train() / trainSupervised() share their run setup
// (src/cycle/run-setup.ts): the same operation through both gives the same run folder, and the library's resume is
// checked as the CLI's (a run from before bf16 stays fp32; a changed config or changed data is refused).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { SYN_TYPES } from '../../src/demo/synthetic';
import { train, trainSupervised } from '../../src/api/train';
import { cli, tinySyntheticBase } from '../helpers/cli-helpers';

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

/** Time fields of metrics records, state.json and cyclener.json: the only thing two runs of one operation differ in. */
const TIME_KEYS = new Set(['elapsed', 'seconds', 'created', 'savedAt', 'time', 'date']);
function withoutTimes(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(withoutTimes);
  if (x && typeof x === 'object')
    return Object.fromEntries(
      Object.entries(x)
        .filter(([k]) => !TIME_KEYS.has(k))
        .map(([k, v]) => [k, withoutTimes(v)]),
    );
  return x;
}

function filesUnder(dir: string, at = ''): string[] {
  return fs
    .readdirSync(path.join(dir, at), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(dir, path.join(at, e.name)) : [path.join(at, e.name)]))
    .filter((f) => f !== '.lock')
    .sort();
}

/**
 * Two run folders of the same operation: the same files; weights, tokenizers and inputs.json byte-identical (the same
 * input files); metrics.jsonl and every other JSON file identical but for time fields and the folder's own path.
 */
function assertSameRun(a: string, b: string): void {
  assert.deepEqual(filesUnder(b), filesUnder(a));
  for (const f of filesUnder(a)) {
    const [x, y] = [fs.readFileSync(path.join(a, f)), fs.readFileSync(path.join(b, f))];
    if (f.endsWith('.safetensors') || f.endsWith('tokenizer.json') || path.basename(f) === 'inputs.json')
      assert.ok(x.equals(y), `${f} byte-identical`);
    else if (f.endsWith('.json') || f.endsWith('.jsonl')) {
      const parse = (t: Buffer, dir: string) => {
        const text = t.toString('utf8').split(dir).join('RUN').trim();
        return (f.endsWith('.jsonl') ? text.split('\n') : [text]).map((l) => withoutTimes(JSON.parse(l)));
      };
      assert.deepEqual(parse(y, b), parse(x, a), f);
    } else assert.equal(y.toString('utf8').split(b).join('RUN'), x.toString('utf8').split(a).join('RUN'), f);
  }
}

/** The synthetic world's files: S, Q, dev S/Q, labelled train/dev JSONL, pairs TSV, a verbaliser. */
function worldFiles(root: string) {
  const { world, base } = tinySyntheticBase(root);
  const f = (name: string, lines: string[]) => {
    fs.writeFileSync(path.join(root, name), lines.join('\n') + '\n');
    return path.join(root, name);
  };
  const q = (x: string) => (x === '' ? '<none>' : x);
  const jsonl = (ss: typeof world.evalSet.sentences) =>
    ss.map((s) =>
      JSON.stringify({
        text: s.text,
        entities: s.entities.map((e) => ({ start: e.charStart, end: e.charEnd, label: e.label })),
      }),
    );
  const ev = world.evalSet.sentences;
  return {
    world,
    base,
    S: f('S.txt', world.S.slice(0, 7)),
    Q: f('Q.txt', world.Q.slice(0, 4).map(q)),
    devS: f('dev_S.txt', world.S.slice(7)),
    devQ: f('dev_Q.txt', world.Q.slice(4).map(q)),
    train: f('train.jsonl', jsonl([...ev, ...ev.slice(0, 2)])),
    dev: f('dev.jsonl', jsonl(ev.slice(3))),
    pairs: f(
      'pairs.tsv',
      ev.map((s) => `${s.text}\t${s.entities.map((e) => `${e.surface} <sep> ${SYN_TYPES[e.label]!}`).join(' <sep> ')}`),
    ),
    verbalizer: f('verb.json', [JSON.stringify(SYN_TYPES)]),
  };
}

test('train: files through the CLI and through the library give the same run folder, and so does a resume', () =>
  inTmp(async (root) => {
    const w = worldFiles(root);
    const cfgFile = path.join(root, 'run.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...CONFIG, maxSteps: 3, evalEvery: 2 }));
    const argv = (out: string, steps: number, resume: boolean) => [
      'train',
      ...['--sentences', w.S, '--entities', w.Q, '--dev-sentences', w.devS, '--dev-entities', w.devQ],
      ...['--dev-gold', w.dev, '--test-gold', w.dev, '--verbalizer', w.verbalizer, '--base-model', w.base],
      ...['--out', out, '--config', cfgFile, '--seed', '3', '--max-steps', String(steps)],
      ...(resume ? ['--resume'] : []),
    ];
    const lib = (out: string, steps: number, resume: boolean) =>
      train({
        sentences: w.S,
        entities: w.Q,
        devSentences: w.devS,
        devEntities: w.devQ,
        devGold: w.dev,
        testGold: w.dev,
        verbalizer: w.verbalizer,
        baseModel: w.base,
        out,
        config: cfgFile,
        configFlags: { seed: 3, 'max-steps': steps },
        resume,
      });
    // The same folder name: the run's curves are titled by it.
    const [viaCli, viaLib] = [path.join(root, 'cli', 'run'), path.join(root, 'lib', 'run')];
    const c = await cli(argv(viaCli, 3, false));
    assert.equal(c.code, 0, c.err);
    const r = await lib(viaLib, 3, false);
    assert.equal(r.steps, 3);
    assertSameRun(viaCli, viaLib);
    const c2 = await cli(argv(viaCli, 5, true));
    assert.equal(c2.code, 0, c2.err);
    assert.match(c2.out, /^done: 2 steps this run; best step \d+ \(dev-e-loss [\d.]+\); models in .*best$/m);
    const r2 = await lib(viaLib, 5, true);
    assert.deepEqual([r2.steps, r2.best?.final, r2.selectOn], [2, false, 'dev-e-loss']);
    assertSameRun(viaCli, viaLib);
    // The library refuses as the command does, in the command's words.
    const refusal = /--resume: the command differs .*\n {2}--batch: run has 4, command line says 2$/;
    const c3 = await cli([...argv(viaCli, 6, true), '--batch', '2']);
    assert.equal(c3.code, 2);
    assert.match(c3.err.trim(), refusal);
    await assert.rejects(
      train({
        sentences: w.S,
        entities: w.Q,
        devSentences: w.devS,
        devEntities: w.devQ,
        devGold: w.dev,
        testGold: w.dev,
        verbalizer: w.verbalizer,
        baseModel: w.base,
        out: viaLib,
        config: cfgFile,
        configFlags: { seed: 3, 'max-steps': 6, batch: 2 },
        resume: true,
      }),
      (e: Error) => refusal.test(e.message),
    );
  }));

test('train-supervised: a labelled file with --num/--dev through the CLI and the library, resumed, gives the same folder', () =>
  inTmp(async (root) => {
    const w = worldFiles(root);
    const argv = (out: string, extra: string[]) => [
      'train-supervised',
      ...['--train', w.train, '--num', '5', '--dev', w.dev, '--eval-every', '2', '--batch', '2', '--seed', '3'],
      ...['--lr', '0.003', '--fp32', '--base-model', w.base, '--out', out, ...extra],
    ];
    // The same folder name: the run's curves are titled by it.
    const [viaCli, viaLib] = [path.join(root, 'cli', 'run'), path.join(root, 'lib', 'run')];
    const c = await cli(argv(viaCli, ['--steps', '3']));
    assert.equal(c.code, 0, c.err);
    const logs: string[] = [];
    const r = await trainSupervised({
      train: w.train,
      num: 5,
      dev: { gold: w.dev, evalEvery: 2 },
      batchSize: 2,
      seed: 3,
      lr: 0.003,
      precision: 'fp32',
      baseModel: w.base,
      out: viaLib,
      steps: 3,
      onProgress: (e) => (e.kind === 'log' ? logs.push(e.message) : undefined),
    });
    assert.equal(r.steps, 3);
    assert.deepEqual(logs.slice(0, 2), c.err.split('\n').slice(0, 2), 'the same lines the command prints');
    assertSameRun(viaCli, viaLib);
    assert.equal((readJson(path.join(viaLib, 'inputs.json')).settings as { lr: number }).lr, 0.003);

    // A resume takes the recorded settings (--lr, --num, --dev, --eval-every are not repeated) and a new budget.
    const c2 = await cli([
      'train-supervised',
      ...['--train', w.train, '--dev', w.dev, '--base-model', w.base, '--out', viaCli, '--resume', '--steps', '5'],
    ]);
    assert.equal(c2.code, 0, c2.err);
    assert.match(c2.err, /resumed from .* at step 3/);
    const r2 = await trainSupervised({
      train: w.train,
      dev: { gold: w.dev },
      baseModel: w.base,
      out: viaLib,
      resume: true,
      steps: 5,
    });
    assert.equal(r2.steps, 5);
    assertSameRun(viaCli, viaLib);

    // Another learning rate on a resume is refused alike (the library names the flag, as inputs.json records it).
    const refusal = /--resume: the command differs .*\n {2}--lr: run has 0\.003, command line says 0\.01$/;
    const c3 = await cli(argv(viaCli, ['--steps', '6', '--resume', '--lr', '0.01']));
    assert.equal(c3.code, 2);
    assert.match(c3.err.trim(), refusal);
    await assert.rejects(
      trainSupervised({ train: w.train, dev: { gold: w.dev }, baseModel: w.base, out: viaLib, resume: true, lr: 0.01 }),
      (e: Error) => e.name === 'RunDirError' && refusal.test(e.message),
    );
  }));

test('train-supervised: a pairs file through the CLI and the library (bf16, --no-ground, --types) gives the same folder', () =>
  inTmp(async (root) => {
    const w = worldFiles(root);
    // The same folder name: the run's curves are titled by it.
    const [viaCli, viaLib] = [path.join(root, 'cli', 'run'), path.join(root, 'lib', 'run')];
    const c = await cli([
      'train-supervised',
      ...['--pairs', w.pairs, '--dev', w.dev, '--verbalizer', w.verbalizer, '--epochs', '1', '--batch', '2'],
      ...['--no-ground', '--max-new-tokens', '40', '--types', 'person, location,organization'],
      ...['--base-model', w.base, '--out', viaCli],
    ]);
    assert.equal(c.code, 0, c.err);
    await trainSupervised({
      pairs: w.pairs,
      dev: { gold: w.dev },
      verbalizer: w.verbalizer,
      epochs: 1,
      batchSize: 2,
      decode: { grounded: false, maxNewTokens: 40 },
      types: 'person, location,organization',
      baseModel: w.base,
      out: viaLib,
    });
    assertSameRun(viaCli, viaLib);
    // A --verbalizer file only verbalises --dev: pairs are type words already, the model records no label map.
    const m = readJson(path.join(viaLib, 'cyclener.json'));
    assert.deepEqual(
      [m.verbalizer, m.types, m.decode],
      [undefined, ['person', 'location', 'organization'], { grounded: false, maxNewTokens: 40 }],
    );
  }));

test('trainSupervised: in-memory pairs record inputs.json as the pairs file of those lines would', () =>
  inTmp(async (root) => {
    const w = worldFiles(root);
    const pairs = fs
      .readFileSync(w.pairs, 'utf8')
      .trim()
      .split('\n')
      .map((l) => ({ sentence: l.split('\t')[0]!, entities: l.split('\t')[1]! }));
    const out = path.join(root, 'mem');
    await trainSupervised({ pairs, baseModel: w.base, out, steps: 1, batchSize: 2 });
    const mem = readJson(path.join(out, 'inputs.json')) as unknown as Inputs & {
      files: Record<string, { path: string; sha256: string }[]>;
      settings: Record<string, unknown>;
    };
    const c = await cli([
      'train-supervised',
      '--pairs',
      w.pairs,
      '--steps',
      '1',
      '--batch',
      '2',
      '--base-model',
      w.base,
      '--out',
      path.join(root, 'file'),
    ]);
    assert.equal(c.code, 0, c.err);
    const file = readJson(path.join(root, 'file', 'inputs.json')) as typeof mem;
    assert.equal(mem.files.pairs![0]!.path, '(in memory: pairs)');
    assert.equal(mem.files.pairs![0]!.sha256, file.files.pairs![0]!.sha256);
    assert.deepEqual(mem.settings, file.settings);
    // ... and a resume with other pairs is refused.
    await assert.rejects(
      trainSupervised({ pairs: pairs.slice(1), baseModel: w.base, out, steps: 2, batchSize: 2, resume: true }),
      (e: Error) => e.name === 'RunDirError' && /--pairs: .*changed/.test(e.message),
    );
  }));

test('train: a gold label the guessed verbaliser has no word for is warned about, as the command warns', () =>
  inTmp(async (root) => {
    const { world, base } = tinySyntheticBase(root);
    const gold = world.evalSet.sentences.map((s, i) =>
      i === 0 ? { ...s, entities: s.entities.map((e) => ({ ...e, label: 'GENRE' })) } : s,
    );
    const logs: string[] = [];
    await train({
      sentences: world.S,
      entities: world.Q,
      baseModel: base,
      out: path.join(root, 'run'),
      config: { ...CONFIG, maxSteps: 1 },
      devGold: gold,
      onProgress: (e) => (e.kind === 'log' ? logs.push(e.message) : undefined),
    });
    assert.ok(
      logs.some((l) =>
        /^warning: label "GENRE" has no word in the conll2003 verbaliser .*: its type word is "genre"/.test(l),
      ),
      logs.join('\n'),
    );
  }));
