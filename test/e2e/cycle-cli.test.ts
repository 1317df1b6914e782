// The train / train-supervised / predict / evaluate --model commands end to end on a tiny model.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import '../../src/cli/commands';
import { SYN_TYPES } from '../../src/demo/synthetic';
import { cli, tinySyntheticBase } from '../helpers/cli-helpers';

T.setNumThreads(1);

test('cli: train (cycles), train-supervised, predict (jsonl/conll/text), evaluate --model, resume, bad input', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-cli-'));
  try {
    const { world: w, base } = tinySyntheticBase(root);
    const f = (n: string, lines: string[]) => {
      fs.writeFileSync(path.join(root, n), lines.join('\n') + '\n');
      return path.join(root, n);
    };
    const S = f('S.txt', w.S);
    const Q = f(
      'Q.txt',
      w.Q.map((q) => (q === '' ? '<none>' : q)),
    );
    const gold = f(
      'gold.jsonl',
      w.evalSet.sentences.map((s) =>
        JSON.stringify({
          text: s.text,
          entities: s.entities.map((e) => ({ start: e.charStart, end: e.charEnd, label: e.label })),
        }),
      ),
    );
    const verb = f('verb.json', [JSON.stringify(SYN_TYPES)]);
    const run = path.join(root, 'run');
    const common = [
      '--sentences',
      S,
      '--entities',
      Q,
      '--dev-sentences',
      S,
      '--dev-entities',
      Q,
      '--dev-gold',
      gold,
      '--verbalizer',
      verb,
      '--base-model',
      base,
      '--out',
      run,
      '--batch',
      '4',
    ];
    let r = await cli(['train', ...common, '--max-steps', '2', '--eval-every', '2']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /eval @ step 2: dev L_phi\(S\) \d/);
    r = await cli(['train', ...common, '--max-steps', '3', '--resume']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /resumed from .* at step 2/);
    const cfg = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as {
      grounded: boolean;
      types: string[];
    };
    assert.equal(cfg.grounded, true, 'grounded cycles by default');
    assert.deepEqual(cfg.types, ['location', 'organization', 'person']);

    // predict from a run directory (best/s2e), JSONL with offsets, CoNLL columns and raw sequences.
    const text = f(
      'in.txt',
      w.evalSet.sentences.map((s) => s.text),
    );
    for (const fmt of ['jsonl', 'conll', 'seq']) {
      r = await cli([
        'predict',
        '--model',
        run,
        '--input',
        text,
        '--out',
        path.join(root, `p.${fmt}`),
        '--format',
        fmt,
        '--max-new-tokens',
        '16',
      ]);
      assert.equal(r.code, 0, r.err);
    }
    const pj = fs
      .readFileSync(path.join(root, 'p.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { text: string; entities: { start: number; end: number; label: string }[] });
    assert.equal(pj.length, 5);
    pj.forEach((p, i) => {
      assert.equal(p.text, w.evalSet.sentences[i]!.text);
      for (const e of p.entities)
        assert.ok(e.start >= 0 && e.end <= p.text.length && ['PER', 'LOC', 'ORG'].includes(e.label), JSON.stringify(e));
    });
    r = await cli([
      'evaluate',
      '--gold',
      gold,
      '--model',
      path.join(run, 'best'),
      '--verbalizer',
      verb,
      '--max-new-tokens',
      '16',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /exact spans \(conlleval\)/);

    r = await cli([
      'train-supervised',
      '--train',
      gold,
      '--base-model',
      base,
      '--out',
      path.join(root, 'sup'),
      '--steps',
      '2',
      '--batch',
      '2',
      '--verbalizer',
      verb,
    ]);
    assert.equal(r.code, 0, r.err);
    const meta = JSON.parse(fs.readFileSync(path.join(root, 'sup', 'cyclener.json'), 'utf8')) as {
      prefix: string;
      verbalizer: Record<string, string>;
    };
    assert.equal(meta.prefix, 'entities: ');
    assert.deepEqual(meta.verbalizer, SYN_TYPES);

    // Bad input names the file and line.
    const badQ = f('badQ.txt', ['Ann <sep> person', 'Bob <sep>']);
    r = await cli([
      'train',
      '--sentences',
      S,
      '--entities',
      badQ,
      '--base-model',
      base,
      '--out',
      path.join(root, 'bad'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /badQ\.txt:2: /);
    r = await cli(['evaluate', '--gold', gold]);
    assert.equal(r.code, 2);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
