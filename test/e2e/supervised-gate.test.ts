// `cyclener gate`: the Lexical Matcher row on a hand-computed case, model rows equal to
// `evaluate --model` on the same dev sentences, reuse of finished rows, refusal of test splits.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import '../../src/cli/commands';
import type { GateRow } from '../../src/supervised/gate';
import { cli, conll, gateFixture, tinySyntheticBase } from '../helpers/cli-helpers';

T.setNumThreads(1);

test('cli: gate (Lexical Matcher row, model rows = evaluate --model, reuse, errors)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-gate-'));
  try {
    const { base } = tinySyntheticBase(root);
    // Gazetteer {Paris: location, Obama: person, Rome: location}. Dev gold: Paris LOC, Obama ORG, London LOC, Rome LOC.
    // Matches: Paris LOC (right), Obama PER (wrong type), Rome LOC (right); London missed.
    // exact P = 2/3, R = 2/4, F1 = 2·(2/3)(1/2)/(2/3+1/2) = 4/7.
    const { train, dev } = gateFixture(root);
    const out = path.join(root, 'gate');
    const args = [
      'gate',
      '--base-model',
      base,
      '--random-init',
      '--train',
      train,
      '--dev',
      dev,
      '--num',
      '2',
      '--steps',
      '2',
      '--batch',
      '2',
      '--max-new-tokens',
      '8',
      '--out',
      out,
    ];
    let r = await cli(args);
    assert.equal(r.code, 0, r.err);
    const g = JSON.parse(fs.readFileSync(path.join(out, 'gate.json'), 'utf8')) as { rows: GateRow[] };
    assert.deepEqual(
      g.rows.map((x) => x.label),
      ['Lexical Matcher', 'base', 'random init'],
    );
    const lex = g.rows[0]!;
    assert.ok(
      Math.abs(lex.exact.precision - 2 / 3) < 1e-12 && Math.abs(lex.exact.recall - 1 / 2) < 1e-12,
      JSON.stringify(lex.exact),
    );
    assert.ok(Math.abs(lex.exact.f1 - 4 / 7) < 1e-12);
    assert.match(r.out, /\| Lexical Matcher \| 0\.667 \/ 0\.500 \/ 0\.571 \|/);
    assert.match(r.out, /\| base \| .* \| fail \(< 0\.75/);
    for (const row of g.rows.slice(1)) {
      const e = await cli([
        'evaluate',
        '--gold',
        dev,
        '--model',
        path.join(out, row.label.replace(' ', '-')),
        '--max-new-tokens',
        '8',
        '--json',
      ]);
      assert.equal(e.code, 0, e.err);
      const rep = JSON.parse(e.out) as {
        exact: { micro: { f1: number; precision: number } };
        bag: { micro: { f1: number } };
      };
      assert.equal(row.exact.f1, rep.exact.micro.f1, row.label);
      assert.equal(row.exact.precision, rep.exact.micro.precision, row.label);
      assert.equal(row.bag.f1, rep.bag.micro.f1, row.label);
    }
    // Same settings: rows are reused, not retrained; other settings retrain.
    r = await cli(args);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /base: reusing/);
    assert.match(r.err, /random init: reusing/);
    r = await cli([...args.filter((a) => a !== '--random-init'), '--lr', '1e-3']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /base: fine-tuning/);

    // Errors: a test split, too few sentences, a missing base.
    const test = path.join(root, 'test.txt');
    fs.copyFileSync(dev, test);
    r = await cli(['gate', '--base-model', base, '--train', train, '--dev', test, '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.err, /looks like a test split/);
    r = await cli(['gate', '--base-model', base, '--train', train, '--dev', dev, '--num', '3', '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--num 3: .*train\.txt has only 2 sentences/);
    r = await cli(['gate', '--base-model', path.join(root, 'nope'), '--train', train, '--dev', dev, '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.err, /nope: no config\.json/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('cli: gate reuses a row only for the same data and settings; stale or damaged rows are redone, saying why', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-gate-key-'));
  try {
    const { base } = tinySyntheticBase(root);
    const train = path.join(root, 'train.txt');
    const dev = path.join(root, 'dev.txt');
    fs.writeFileSync(
      train,
      conll([
        ['Paris I-LOC', 'is O', 'nice O'],
        ['Obama I-PER', 'visited O', 'Rome I-LOC'],
      ]),
    );
    fs.writeFileSync(dev, conll([['Paris I-LOC', 'and O', 'Obama I-PER']]));
    const out = path.join(root, 'gate');
    const args = ['gate', '--base-model', base, '--train', train, '--dev', dev, '--num', '2', '--steps', '2'];
    args.push('--batch', '2', '--max-new-tokens', '8', '--out', out);
    const row = () => (JSON.parse(fs.readFileSync(path.join(out, 'gate.json'), 'utf8')) as { rows: GateRow[] }).rows;
    let r = await cli(args);
    assert.equal(r.code, 0, r.err);
    r = await cli(args);
    assert.match(r.err, /base: reusing/);

    // Other dev data under the same name (e.g. WNUT-17 copied over CoNLL): redone, not the old F1 printed.
    fs.writeFileSync(
      dev,
      conll([
        ['Rome I-LOC', 'calls O', 'Paris I-LOC'],
        ['Obama I-PER', 'left O'],
      ]),
    );
    r = await cli(args);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /base: redoing: \S+base\/gate\.json is stale \(--dev: dev\.txt changed \(sha256 [0-9a-f]{12}… → [0-9a-f]{12}…\)\)\n/,
    );
    assert.match(r.err, /base: fine-tuning/);
    const ev = await cli([
      ...['evaluate', '--gold', dev, '--model', path.join(out, 'base'), '--max-new-tokens', '8', '--json'],
    ]);
    assert.equal(ev.code, 0, ev.err);
    assert.equal(row()[1]!.exact.f1, (JSON.parse(ev.out) as { exact: { micro: { f1: number } } }).exact.micro.f1);
    // Other training data: redone.
    fs.appendFileSync(train, '\nLondon X X I-LOC\n');
    r = await cli(args);
    assert.match(r.err, /base: redoing: \S+ is stale \(--train: train\.txt changed/);
    // A setting: redone, naming it.
    r = await cli([...args, '--lr', '1e-3']);
    assert.match(r.err, /base: redoing: \S+ is stale \(lr 0\.0005 → 0\.001\)/);

    // Damaged: cut short, or a field missing.
    const g = path.join(out, 'base', 'gate.json');
    const text = fs.readFileSync(g, 'utf8');
    fs.writeFileSync(g, text.slice(0, text.length >> 1));
    r = await cli([...args, '--lr', '1e-3']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /base: redoing: \S+base\/gate\.json is damaged \(not valid JSON/);
    const saved = JSON.parse(fs.readFileSync(g, 'utf8')) as Record<string, unknown>;
    delete saved.exact;
    fs.writeFileSync(g, JSON.stringify(saved));
    r = await cli([...args, '--lr', '1e-3']);
    assert.match(r.err, /base: redoing: \S+ is damaged \(field exact\.precision is missing or not a number\)/);
    r = await cli([...args, '--lr', '1e-3']);
    assert.match(r.err, /base: reusing/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
