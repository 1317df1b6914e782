// `cyclener gate` is a shell over the library's gate() (src/api/gate.ts): the same gate through the CLI and the
// library gives the same rows, gate.md, fine-tuned weights and progress lines; the library checks its options.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import '../../src/cli/commands';
import { gate } from '../../src/index'; // the package entry exports it
import type { GateRow } from '../../src/supervised/gate';
import { UsageError } from '../../src/util/errors';
import { cli, conll, gateFixture, tinySyntheticBase } from '../helpers/cli-helpers';

T.setNumThreads(1);

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
/** A row without its wall times (the only fields two identical runs differ in). */
const untimed = ({ trainSeconds, evalSeconds, ...rest }: GateRow) => (void trainSeconds, void evalSeconds, rest);

test('gate: the CLI and the library give the same rows, gate.md, weights and progress lines', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-gate-parity-'));
  try {
    const { base } = tinySyntheticBase(root);
    const { train, dev } = gateFixture(root, [['London I-LOC', 'and O', 'Obama I-PER']]);
    const viaCli = path.join(root, 'cli');
    const viaLib = path.join(root, 'lib');
    const flags = ['--base-model', base, '--random-init', '--train', train, '--dev', dev, '--num', '3'];
    flags.push('--steps', '2', '--batch', '2', '--max-new-tokens', '8', '--fp32');
    const c = await cli(['gate', ...flags, '--out', viaCli]);
    assert.equal(c.code, 0, c.err);
    const lines: string[] = [];
    const r = await gate({
      baseModels: [base],
      randomInit: true,
      train,
      dev,
      num: 3,
      steps: 2,
      batchSize: 2,
      maxNewTokens: 8,
      precision: 'fp32',
      out: viaLib,
      onProgress: (e) => {
        if (e.kind === 'log') lines.push(e.message);
      },
    });
    assert.deepEqual(
      r.rows.map((x) => x.label),
      ['Lexical Matcher', 'base', 'random init'],
    );
    // gate.md and the printed table: identical (times round to 0 s here); gate.json: identical but for wall times.
    const md = fs.readFileSync(path.join(viaCli, 'gate.md'), 'utf8');
    assert.equal(fs.readFileSync(path.join(viaLib, 'gate.md'), 'utf8'), md);
    assert.equal(`${r.table}\n`, md);
    assert.equal(c.out, md);
    type GateJson = { train: string; dev: string; target: number; settings: unknown; rows: GateRow[] };
    const read = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'gate.json'), 'utf8')) as GateJson;
    const [jc, jl] = [read(viaCli), read(viaLib)];
    assert.deepEqual({ ...jl, rows: jl.rows.map(untimed) }, { ...jc, rows: jc.rows.map(untimed) });
    assert.deepEqual(
      { train: r.train, dev: r.dev, target: r.target, settings: r.settings, rows: r.rows.map(untimed) },
      { ...jl, rows: jl.rows.map(untimed) },
    );
    for (const d of ['base', 'random-init']) {
      assert.equal(sha(path.join(viaLib, d, 'model.safetensors')), sha(path.join(viaCli, d, 'model.safetensors')), d);
      assert.deepEqual(
        untimed(read(path.join(viaLib, d)) as unknown as GateRow),
        untimed(read(path.join(viaCli, d)) as unknown as GateRow),
      );
    }
    // The CLI's stderr is the library's progress lines.
    const norm = (l: string) =>
      l
        .split(viaCli)
        .join('OUT')
        .split(viaLib)
        .join('OUT')
        .replace(/[\d.]+ pairs\/s/, 'N pairs/s');
    assert.deepEqual(lines.map(norm), c.err.trimEnd().split('\n').map(norm));
    assert.match(
      lines[0]!,
      /^gate: 3 gold sentences of .*train\.txt \(seed 42\), 2 steps × 2, lr 0\.0005; 2 sentences/,
    );

    // Run again: both reuse every row; --json prints the rows of gate.json.
    const again = await cli(['gate', ...flags, '--out', viaCli, '--json']);
    assert.equal(again.code, 0, again.err);
    assert.deepEqual(JSON.parse(again.out), read(viaCli).rows);
    assert.match(again.err, /base: reusing .*\nrandom init: reusing/);
    const relog: string[] = [];
    const r2 = await gate({
      baseModels: base,
      randomInit: true,
      ...{ train, dev, num: 3, steps: 2, batchSize: 2, maxNewTokens: 8, precision: 'fp32', out: viaLib },
      onProgress: (e) => e.kind === 'log' && relog.push(e.message),
    });
    assert.deepEqual(r2.rows, read(viaLib).rows);
    assert.ok(
      relog.some((l) => /^random init: reusing /.test(l)),
      relog.join('\n'),
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('gate: the library refuses bad options before writing anything, naming the option or file', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-gate-opts-'));
  try {
    const { base } = tinySyntheticBase(root);
    const train = path.join(root, 'train.txt');
    fs.writeFileSync(train, conll([['Paris I-LOC', 'is O']]));
    const out = path.join(root, 'g');
    const o = { baseModels: base, train, dev: train, out };
    await assert.rejects(
      gate({ ...o, num: 0 }),
      (e) => e instanceof UsageError && /^gate: num must be >= 1, got 0$/.test(e.message),
    );
    await assert.rejects(gate({ ...o, lr: -1 }), /gate: lr must be > 0, got -1/);
    await assert.rejects(gate({ ...o, target: 2 }), /gate: target must be in \[0, 1\], got 2/);
    assert.ok(!fs.existsSync(out), 'nothing written');
    const testSplit = path.join(root, 'test.txt');
    fs.copyFileSync(train, testSplit);
    await assert.rejects(gate({ ...o, dev: testSplit }), /--dev .*test\.txt looks like a test split/);
    await assert.rejects(gate({ ...o, num: 5 }), /--num 5: .*train\.txt has only 1 sentences/);
    await assert.rejects(
      gate({ ...o, verbalizer: { PER: 'person' } }),
      /the verbaliser has no word for label\(s\) LOC/,
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
