// One source of truth per setting: renamed flags keep their old names (with a warning), train's config spec gives
// the flag specs, --help defaults and the config, and decoding settings travel with the S2E model (cyclener.json).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { formatHelp, parseArgs, type FlagSpec } from '../../../src/cli/args';
import { listCommands } from '../../../src/cli/registry';
import { applyFlags, configDifferences, CYCLE_FLAGS } from '../../../src/cycle/config-flags';
import { cycleModelMeta, DEFAULT_CONFIG, makeConfig } from '../../../src/cycle/config';
import { decodeDefaults, loadModelDir, readMeta, saveModelDir } from '../../../src/cycle/model-io';
import { predictWithModelDir } from '../../../src/cycle/predict';
import { sniffFormat } from '../../../src/data/readers';
import { typesOf } from '../../../src/data/entity-seq';
import { typesOf as trainerTypesOf } from '../../../src/cycle/trainer';
import { getPreset } from '../../../src/experiments/plan';
import {
  GATE_SETTINGS,
  SUPERVISED_FIXED,
  SUPERVISED_SETTINGS,
  supervisedConfig,
} from '../../../src/supervised/settings';
import { cli, tinySyntheticBase } from '../../helpers/cli-helpers';

T.setNumThreads(1);

test('parseArgs: an old flag name sets the new one with a warning; a retired flag is ignored with one', () => {
  const flags = {
    'dev-num': { type: 'int', help: 'n', default: 500, range: { min: 0 }, aliases: ['dev-sentences'] },
    grounded: { type: 'boolean', help: '', deprecated: 'does nothing' },
  } satisfies Record<string, FlagSpec>;
  const a = parseArgs(['--dev-sentences', '7', '--grounded'], flags, [], 'gate');
  assert.equal(a.flags['dev-num'], 7);
  assert.deepEqual([...a.given].sort(), ['dev-num', 'grounded']);
  assert.deepEqual(a.warnings, [
    'warning: --dev-sentences is now --dev-num (the old name still works for now)',
    'warning: --grounded does nothing',
  ]);
  const b = parseArgs(['--dev-num=3'], flags, [], 'gate');
  assert.equal(b.flags['dev-num'], 3);
  assert.deepEqual(b.warnings, []);
});

test('train flags: --help shows DEFAULT_CONFIG values; given flags set config keys; resume differences name them', async () => {
  const specs = CYCLE_FLAGS;
  assert.equal(specs.batch.shownDefault, DEFAULT_CONFIG.batchSize);
  assert.equal(specs['lr-s2e'].shownDefault, DEFAULT_CONFIG.lrS2E);
  assert.equal(specs['warmup-lr'].shownDefault, DEFAULT_CONFIG.warmupLr);
  assert.equal(specs['e2s-no-repeat-ngram'].shownDefault, DEFAULT_CONFIG.e2sDecode.noRepeatNgramSize);
  assert.equal(specs['max-new-tokens'].shownDefault, DEFAULT_CONFIG.evalDecode.maxNewTokens);
  assert.equal(specs['max-steps'].shownDefault, undefined); // 0 (= only --epochs) is not a value of the flag
  assert.equal(specs['max-steps'].range?.min, 1);
  const help = (await cli(['train', '--help'])).out;
  assert.match(help, /--batch N +batch size \(default 32; >= 1\)/);
  assert.match(help, /--warmup W +.*\(default none; one of none\|fragments\|lexical\)/);

  const c = makeConfig();
  applyFlags(c, {
    batch: 8,
    'no-ground': true,
    'max-new-tokens': 64,
    'e2s-no-repeat-ngram': 0,
    epochs: 2,
    fp32: false,
  });
  assert.deepEqual(
    [c.batchSize, c.grounded, c.groundedEval, c.evalDecode, c.e2sDecode, c.epochs, c.precision],
    [8, false, false, { maxNewTokens: 64 }, { maxNewTokens: 128, noRepeatNgramSize: 0 }, 2, DEFAULT_CONFIG.precision],
  );
  assert.deepEqual(
    DEFAULT_CONFIG.e2sDecode,
    { maxNewTokens: 128, noRepeatNgramSize: 3 },
    'the default is not modified',
  );
  const budgetOnly = makeConfig();
  applyFlags(budgetOnly, { batch: 8, epochs: 2, 'max-steps': 5 }, 'resumable');
  assert.deepEqual([budgetOnly.batchSize, budgetOnly.epochs, budgetOnly.maxSteps], [32, 2, 5]);
  assert.deepEqual(configDifferences(makeConfig(), { 'max-new-tokens': 64, epochs: 3, batch: 32 }), [
    '--max-new-tokens: run has {"maxNewTokens":128}, command line says {"maxNewTokens":64}',
  ]);
});

test('E2S sampling knobs: --e2s-sample with top-k/top-p/temperature set e2sDecode and keep its other fields', () => {
  const c = makeConfig();
  applyFlags(c, { 'e2s-sample': true, 'e2s-top-k': 10, 'e2s-top-p': 0.9, 'e2s-temperature': 0.7 });
  assert.deepEqual(c.e2sDecode, {
    maxNewTokens: 128,
    noRepeatNgramSize: 3,
    doSample: true,
    topK: 10,
    topP: 0.9,
    temperature: 0.7,
  });
  assert.deepEqual(makeConfig().e2sDecode, { maxNewTokens: 128, noRepeatNgramSize: 3 }, 'greedy by default');
  assert.deepEqual(configDifferences(makeConfig(), { 'e2s-sample': true }), [
    '--e2s-sample: run has {"maxNewTokens":128,"noRepeatNgramSize":3}, command line says {"maxNewTokens":128,"noRepeatNgramSize":3,"doSample":true}',
  ]);
  const specs = CYCLE_FLAGS;
  assert.deepEqual(specs['e2s-top-p'].range, { min: 0, max: 1, minExclusive: true });
  assert.deepEqual(specs['e2s-temperature'].range, { min: 0, minExclusive: true });
});

test('supervised settings: train-supervised and gate take their defaults and ranges from one module', () => {
  const flags = (cmd: string) => listCommands().find((c) => c.name === cmd)!.flags;
  for (const [name, s] of Object.entries(SUPERVISED_SETTINGS)) {
    assert.equal(flags('train-supervised')[name], s, `train-supervised --${name}`);
    const g = flags('gate')[name];
    if (g) assert.deepEqual([g.default, g.range, g.type], [s.default, 'range' in s ? s.range : undefined, s.type]);
  }
  for (const [name, s] of Object.entries(GATE_SETTINGS)) assert.equal(flags('gate')[name], s, `gate --${name}`);
  const c = supervisedConfig({ prefix: 'p', batchSize: 4, steps: 2, lr: 1e-3, seed: 1 });
  assert.deepEqual(c, { ...SUPERVISED_FIXED, prefix: 'p', batchSize: 4, steps: 2, lr: 1e-3, seed: 1 });
});

test('one sniffer: JSONL, CoNLL-2012, entity sequences, CoNLL columns, text', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-sniff-'));
  try {
    const f = (name: string, text: string) => {
      fs.writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    assert.equal(sniffFormat(f('a.txt', '{"text": "x", "entities": []}\n')), 'jsonl');
    assert.equal(sniffFormat(f('b.jsonl', 'not json\n')), 'jsonl');
    assert.equal(sniffFormat(f('c.txt', '#begin document (x); part 000\n')), 'conll2012');
    assert.equal(sniffFormat(f('d.txt', 'EU <sep> organization\n<none>\n')), 'q');
    assert.equal(sniffFormat(f('e.txt', '-DOCSTART- O\n\nEU B-ORG\nrejects O\n')), 'conll');
    assert.equal(sniffFormat(f('f.txt', 'EU rejects German call .\nPeter Blackburn\n')), 'text');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('typesOf lives in entity-seq (the trainer re-exports it and re-parses nothing of its own)', () => {
  const q = ['EU <sep> organization <sep> German <sep> misc', '', 'Peter <sep> person', 'x <sep>'];
  assert.deepEqual(typesOf(q), ['misc', 'organization', 'person']);
  assert.equal(trainerTypesOf, typesOf);
});

test('decoding settings are stored with the model: cycle meta, run config fallback, predict defaults and overrides', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-decode-'));
  try {
    // A cycle run records the dev F1's decoding in its S2E.
    const meta = cycleModelMeta(
      makeConfig({ groundedEval: false, evalDecode: { maxNewTokens: 64 }, verbalizer: { PER: 'person' } }),
      ['person'],
    );
    assert.deepEqual(meta.s2e, {
      task: 's2e',
      prefix: 'entities: ',
      types: ['person'],
      verbalizer: { PER: 'person' },
      decode: { grounded: false, maxNewTokens: 64 },
    });
    assert.equal(meta.e2s.decode, undefined);

    // An S2E saved by an older train (no decode in cyclener.json) takes its run's config.json; elsewhere the fallback.
    const run = path.join(root, 'run');
    fs.mkdirSync(path.join(run, 'best', 's2e'), { recursive: true });
    fs.writeFileSync(
      path.join(run, 'config.json'),
      JSON.stringify({ groundedEval: false, evalDecode: { maxNewTokens: 96 } }),
    );
    const old = { task: 's2e' as const, prefix: 'entities: ', types: ['person'] };
    assert.deepEqual(decodeDefaults(path.join(run, 'best', 's2e'), old), { grounded: false, maxNewTokens: 96 });
    assert.deepEqual(
      decodeDefaults(path.join(run, 'best', 's2e'), { ...old, decode: { grounded: true, maxNewTokens: 5 } }),
      { grounded: true, maxNewTokens: 5 },
    );
    assert.deepEqual(decodeDefaults(root, old), { grounded: true, maxNewTokens: 128 });

    // A model recording plain decoding and no types: predict needs no --no-ground; forcing grounding fails.
    const { base } = tinySyntheticBase(root);
    const m = loadModelDir(base);
    const plain = path.join(root, 'plain');
    saveModelDir(plain, m.model, m.tokenizer, {
      task: 's2e',
      prefix: 'entities: ',
      types: [],
      decode: { grounded: false, maxNewTokens: 3 },
    });
    m.model.dispose();
    const p = await predictWithModelDir(plain, ['Anna went home .'], { batch: 2 });
    assert.deepEqual(p.decode, { grounded: false, maxNewTokens: 3, numBeams: 1 });
    assert.deepEqual((await predictWithModelDir(plain, ['x'], { batch: 2, maxNewTokens: 2 })).decode, {
      grounded: false,
      maxNewTokens: 2,
      numBeams: 1,
    });
    const input = path.join(root, 'in.txt');
    fs.writeFileSync(input, 'Anna went home .\n');
    let r = await cli(['predict', '--model', plain, '--input', input, '--out', path.join(root, 'out.jsonl')]);
    assert.equal(r.code, 0, r.err);
    r = await cli([
      'predict',
      '--model',
      plain,
      '--input',
      input,
      '--out',
      path.join(root, 'out.jsonl'),
      '--no-ground=false',
      '--force',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /no type words recorded \(cyclener\.json\); pass --no-ground/);
    r = await cli([
      'predict',
      '--model',
      plain,
      '--input',
      input,
      '--out',
      path.join(root, 'out.jsonl'),
      '--grounded',
      '--force',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /^cyclener: warning: --grounded does nothing: decoding follows the model's setting/);
    assert.doesNotMatch((await cli(['predict', '--help'])).out, /--grounded/);

    // train-supervised records its decoding (--no-ground, --max-new-tokens) with the model.
    const pairs = path.join(root, 'pairs.tsv');
    fs.writeFileSync(pairs, 'Anna went home .\tAnna <sep> person\nBob slept .\tBob <sep> person\n');
    const sup = path.join(root, 'sup');
    r = await cli([
      'train-supervised',
      '--pairs',
      pairs,
      '--base-model',
      base,
      '--out',
      sup,
      '--steps',
      '1',
      '--batch',
      '2',
      '--no-ground',
      '--max-new-tokens',
      '40',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readMeta(sup)?.decode, { grounded: false, maxNewTokens: 40 });
    assert.deepEqual(readMeta(sup)?.types, ['person']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('cpu-plain: plain decoding is trained into both models, so the evaluation repeats no --no-ground', () => {
  const p = getPreset('cpu-plain');
  assert.deepEqual(p.evalArgs, []);
  assert.ok(p.cycleArgs.includes('--no-ground'));
  assert.ok(p.supervisedArgs.includes('--no-ground'));
});

test('renamed flags: pretrain --warmup-steps and --warmup, gate --dev-sentences still parse as --lr-warmup-steps and --dev-num', () => {
  const required = {
    pretrain: ['--corpus', 'c.txt', '--out', 'o'],
    gate: ['--base-model', 'b', '--train', 't', '--dev', 'd'],
  };
  for (const [cmd, old, now] of [
    ['pretrain', 'warmup-steps', 'lr-warmup-steps'],
    ['pretrain', 'warmup', 'lr-warmup-steps'],
    ['gate', 'dev-sentences', 'dev-num'],
  ] as const) {
    const spec = listCommands().find((c) => c.name === cmd)!;
    const a = parseArgs([...required[cmd], `--${old}`, '7'], spec.flags, [], cmd);
    assert.equal(a.flags[now], 7);
    assert.ok(a.given.has(now));
    assert.deepEqual(a.warnings, [`warning: --${old} is now --${now} (the old name still works for now)`]);
    assert.equal(formatHelp(cmd, '', spec.flags, []).includes(`--${old} `), false, 'old names stay out of --help');
  }
});

test('distinct meanings, distinct names: --warmup-steps is the warm-up before the cycles, --lr-warmup-steps the learning-rate warm-up of pretrain', async () => {
  const flags = (cmd: string) => listCommands().find((c) => c.name === cmd)!.flags;
  const t = parseArgs(['--out', 'o', '--warmup-steps', '5'], flags('train'), [], 'train');
  assert.deepEqual([t.flags['warmup-steps'], t.warnings], [5, []]);
  const c = makeConfig();
  applyFlags(c, t.flags);
  assert.equal(c.warmupSteps, 5);
  assert.equal('lr-warmup-steps' in flags('train'), false);
  assert.match(flags('pretrain')['lr-warmup-steps']!.help, /learning-rate warm-up/);
  // The old name on the command line: the run goes on with a warning (here it stops at the missing corpus).
  const r = await cli(['pretrain', '--corpus', 'no-such-corpus.txt', '--out', 'o', '--warmup-steps', '3']);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /^cyclener: warning: --warmup-steps is now --lr-warmup-steps \(the old name still works for now\)\n/,
  );
  assert.match(r.err, /no-such-corpus\.txt: no such file/);
});
