// Numeric flags: every int/number flag of every command declares its range; parseArgs refuses values outside it
// (UsageError naming the flag, the value and the range) and --help shows it; config files follow the same rules.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import '../../../src/cli/commands';
import { formatHelp, parseArgs, UsageError, type FlagSpec } from '../../../src/cli/args';
import { listCommands } from '../../../src/cli/registry';
import { CONFIG_KEYS, DEFAULT_CONFIG, makeConfig, specOf } from '../../../src/cycle/config';
import { describeRange, inRange, rangeProblem } from '../../../src/util/range';
import { parseSeeds } from '../../../src/experiments/plan';

const FLAGS: Record<string, FlagSpec> = {
  steps: { type: 'int', arg: 'N', help: 'steps', range: { min: 1 } },
  lr: { type: 'number', arg: 'LR', help: 'learning rate', range: { min: 0, minExclusive: true } },
  dropout: { type: 'number', arg: 'P', help: 'dropout', default: 0.1, range: { min: 0, max: 1, maxExclusive: true } },
  target: { type: 'number', arg: 'F1', help: 'target', range: { min: 0, max: 1 } },
  column: { type: 'int', arg: 'N', help: 'column', range: {} },
};
const parse = (...argv: string[]) => parseArgs(argv, FLAGS, [], 'x').flags;
const usage = (argv: string[], message: string) =>
  assert.throws(
    () => parseArgs(argv, FLAGS, [], 'x'),
    (e: unknown) => e instanceof UsageError && e.message === message,
  );

test('parseArgs: values inside the range pass, bounds included unless exclusive', () => {
  assert.deepEqual(parse('--steps', '1', '--lr', '1e-9', '--dropout', '0', '--target', '1', '--column', '-2'), {
    steps: 1,
    lr: 1e-9,
    dropout: 0,
    target: 1,
    column: -2,
  });
  assert.equal(parse('--steps=7').steps, 7);
  assert.equal(parse('--dropout', '0.999').dropout, 0.999);
});

test('parseArgs: below the minimum, above the maximum and on an exclusive bound are UsageErrors naming flag, range and value', () => {
  usage(['--steps', '-5'], '--steps must be >= 1, got -5');
  usage(['--steps=0'], '--steps must be >= 1, got 0');
  usage(['--lr', '0'], '--lr must be > 0, got 0');
  usage(['--lr', '-1'], '--lr must be > 0, got -1');
  usage(['--dropout', '1'], '--dropout must be in [0, 1), got 1');
  usage(['--dropout', '-0.1'], '--dropout must be in [0, 1), got -0.1');
  usage(['--target', '1.5'], '--target must be in [0, 1], got 1.5');
});

test('parseArgs: int vs number, and non-numbers', () => {
  usage(['--steps', '2.5'], '--steps needs an integer, got "2.5"');
  assert.equal(parse('--lr', '2.5').lr, 2.5);
  usage(['--lr', 'fast'], '--lr needs a decimal number (e.g. 16, 0.001, 5e-4), got "fast"');
  usage(['--lr', 'Infinity'], '--lr needs a decimal number (e.g. 16, 0.001, 5e-4), got "Infinity"');
  usage(['--column', 'NaN'], '--column needs a whole number in decimal notation (e.g. 16), got "NaN"');
});

test('parseArgs: numbers in decimal notation only (0x10 is not 16)', () => {
  assert.deepEqual(parse('--lr', '5e-4', '--steps', '16', '--target', '0.001', '--column', '-2'), {
    lr: 5e-4,
    steps: 16,
    target: 0.001,
    column: -2,
    dropout: 0.1,
  });
  assert.equal(parse('--lr', '.5').lr, 0.5);
  assert.equal(parse('--lr', '2.').lr, 2);
  assert.equal(parse('--lr', '1E-3').lr, 1e-3);
  assert.equal(parse('--steps', '1e3').steps, 1000);
  for (const raw of [
    '0x10',
    '0X10',
    '0o17',
    '0b11',
    '',
    ' ',
    ' 5',
    '5 ',
    '\t5',
    '-Infinity',
    '1_000',
    '1e',
    '.',
    '5e-4x',
  ])
    usage(['--lr', raw], `--lr needs a decimal number (e.g. 16, 0.001, 5e-4), got "${raw}"`);
  usage(['--steps=0x10'], '--steps needs a whole number in decimal notation (e.g. 16), got "0x10"'); // an int flag says so
  assert.deepEqual(parseSeeds('1, 2,3'), [1, 2, 3]);
  assert.throws(() => parseSeeds('1,0x10'), {
    message: '--seeds needs comma-separated non-negative integers, got "1,0x10"',
  });
});

test('formatHelp shows each range next to the default; an unbounded flag shows none', () => {
  const help = formatHelp('x', 'summary', FLAGS, []);
  const line = (flag: string) => help.split('\n').find((l) => l.trimStart().startsWith(`--${flag} `)) ?? '';
  assert.match(line('steps'), /steps \(>= 1\)$/);
  assert.match(line('lr'), /learning rate \(> 0\)$/);
  assert.match(line('dropout'), /dropout \(default 0\.1; in \[0, 1\)\)$/);
  assert.match(line('target'), /target \(in \[0, 1\]\)$/);
  assert.match(line('column'), /column$/);
});

test('range helpers: describeRange, inRange and rangeProblem for config values', () => {
  assert.equal(describeRange({ min: 0, max: 1, minExclusive: true }), 'in (0, 1]');
  assert.equal(describeRange({ max: 5, maxExclusive: true }), '< 5');
  assert.equal(describeRange({}), '');
  assert.equal(inRange(0, { min: 0, minExclusive: true }), false);
  assert.equal(inRange(NaN, {}), true); // NaN is refused by rangeProblem's type check, not by the bounds
  assert.equal(rangeProblem(NaN, {}, false), 'must be a number, got NaN');
  assert.equal(rangeProblem('5', { min: 1 }, true), 'must be an integer >= 1, got "5"');
  assert.equal(rangeProblem(1.5, { min: 1 }, true), 'must be an integer, got 1.5');
  assert.equal(rangeProblem(3, { min: 1 }, true), null);
});

test('every int/number flag of every command declares a range, and its default lies in it', () => {
  const numeric: string[] = [];
  for (const c of listCommands()) {
    for (const [name, spec] of Object.entries(c.flags)) {
      if (spec.type !== 'int' && spec.type !== 'number') continue;
      numeric.push(`${c.name} --${name}`);
      assert.ok(spec.range !== undefined, `cyclener ${c.name} --${name} declares no range`);
      if (spec.default !== undefined)
        assert.equal(
          rangeProblem(spec.default, spec.range, spec.type === 'int'),
          null,
          `cyclener ${c.name} --${name}: default ${String(spec.default)}`,
        );
    }
  }
  // The walk saw the flags of the issue (so it is walking the real registry).
  for (const f of [
    'train --max-steps',
    'train --lr-s2e',
    'train --epochs',
    'train-supervised --lr',
    'train-supervised --steps',
    'predict --predict-batch',
    'predict --beams',
    'evaluate --predict-batch',
    'pretrain --threads',
    'pretrain --dropout',
    'gate --target',
  ]) {
    assert.ok(numeric.includes(f), f);
  }
});

test('ranges of the flags whose meaning sets them (0 = off where it means off)', () => {
  const spec = (cmd: string, flag: string) => listCommands().find((c) => c.name === cmd)!.flags[flag]!;
  const ok = (cmd: string, flag: string, v: number) =>
    rangeProblem(v, spec(cmd, flag).range!, spec(cmd, flag).type === 'int') === null;
  assert.equal(ok('train', 'eval-every', 0), true); // 0 = at the end of each epoch
  assert.equal(ok('train', 'patience', 0), true); // 0 = never stop early
  assert.equal(ok('train', 'e2s-no-repeat-ngram', 0), true); // 0 = off
  assert.equal(ok('train', 'epochs', 0), false);
  assert.equal(ok('train', 'seed', 0), true);
  assert.equal(ok('train', 'seed', 2 ** 32), false); // the data RNG takes 32 bits
  assert.equal(ok('train-supervised', 'epochs', 0.5), true);
  assert.equal(ok('pretrain', 'lr-warmup-steps', 0), true);
  assert.equal(ok('pretrain', 'dropout', 1), false);
  assert.equal(ok('pretrain', 'vocab-size', 108), false);
  assert.equal(ok('gate', 'dev-num', 0), true); // 0 = all
  assert.equal(ok('gate', 'target', 1.01), false);
  assert.equal(ok('predict', 'tag-column', -1), true);
});

test('makeConfig checks every numeric key with the same rules, naming the file and the key', () => {
  const bad = (over: Record<string, unknown>, message: string) =>
    assert.throws(() => makeConfig(over as never, 'run.json'), { message });
  bad({ maxSteps: -5 }, 'run.json: maxSteps must be >= 0, got -5');
  bad({ lrS2E: -1 }, 'run.json: lrS2E must be > 0, got -1');
  bad({ epochs: 0 }, 'run.json: epochs must be >= 1, got 0');
  bad({ batchSize: 2.5 }, 'run.json: batchSize must be an integer, got 2.5');
  bad({ seed: '7' }, 'run.json: seed must be an integer in [0, 4294967295], got "7"');
  bad({ collapseShare: 1.5 }, 'run.json: collapseShare must be in [0, 1], got 1.5');
  bad({ e2sDecode: { maxNewTokens: 0 } }, 'run.json: e2sDecode.maxNewTokens must be >= 1, got 0');
  bad({ evalDecode: { maxNewTokens: 8, numBeams: 0 } }, 'run.json: evalDecode.numBeams must be >= 1, got 0');
  bad(
    { s2eDecode: { maxNewTokens: 8, repetitionPenalty: -1 } },
    'run.json: s2eDecode.repetitionPenalty must be > 0, got -1',
  );
  assert.equal(makeConfig({ maxSteps: 0, patience: 0, evalEvery: 0 }).maxSteps, 0);
  // Every numeric key of the config has its rule, and the defaults follow them.
  const numericKeys = Object.entries(DEFAULT_CONFIG)
    .filter(([, v]) => typeof v === 'number')
    .map(([k]) => k)
    .sort();
  assert.deepEqual(CONFIG_KEYS.filter((k) => specOf(k).range !== undefined).sort(), numericKeys);
});

test('makeConfig checks every key of a config file for type and value, naming the file, the key, the value and what is allowed', () => {
  const bad = (over: Record<string, unknown>, message: string) =>
    assert.throws(() => makeConfig(over as never, 'run.json'), { message });
  bad(
    { selectOn: 'dev_f1' },
    'run.json: selectOn must be dev-e-loss, auto, dev-s-loss, dev-cycle-loss, dev-silver-f1, s-silver-f1, s-silver-f1-min, held-silver-f1, name-held-f1, name-held-recall, dev-rate-gap, dev-empty, dev-self-loss or dev-f1, got "dev_f1"',
  );
  for (const v of [null, 5, ['selectOn']])
    assert.throws(() => makeConfig(v as never, 'run.json'), {
      message: `run.json: must be a JSON object {"key": value, ...}, got ${JSON.stringify(v)}`,
    });
  bad({ grounded: 'no' }, 'run.json: grounded must be true or false, got "no"');
  bad({ groundedEval: 0 }, 'run.json: groundedEval must be true or false, got 0');
  bad({ cycleAllowEmpty: null }, 'run.json: cycleAllowEmpty must be true or false, got null');
  bad({ onCollapse: 'panic' }, 'run.json: onCollapse must be warn, stop or rollback, got "panic"');
  bad({ warmupDirections: 'all' }, 'run.json: warmupDirections must be both, s2e or e2s, got "all"');
  bad({ precision: 'fp16' }, 'run.json: precision must be bf16 or fp32, got "fp16"');
  bad({ s2ePrefix: 3 }, 'run.json: s2ePrefix must be a string, got 3');
  bad({ lrS2E: '3e-4' }, 'run.json: lrS2E must be a number > 0, got "3e-4"');
  bad({ types: 'person' }, 'run.json: types must be null or an array of type words, got "person"');
  bad({ types: ['person', ''] }, 'run.json: types[1] must be a non-empty type word without <sep>, got ""');
  bad(
    { verbalizer: ['PER'] },
    'run.json: verbalizer must be null or an object {"LABEL": "type word", ...}, got ["PER"]',
  );
  bad({ verbalizer: { PER: 1 } }, 'run.json: verbalizer.PER must be a string, got 1');
  bad(
    { baseModels: { s2e: 'x' } },
    'run.json: baseModels must be null or {"s2e": {"path": ...}, "e2s": {"path": ...}}, got {"s2e":"x"}',
  );
  bad({ evalDecode: 'greedy' }, 'run.json: evalDecode must be an object with maxNewTokens, got "greedy"');
  bad(
    { e2sDecode: { maxNewTokens: 8, doSample: 'yes' } },
    'run.json: e2sDecode.doSample must be true or false, got "yes"',
  );
  bad(
    { evalDecode: { maxNewTokens: 8, beams: 2 } },
    'run.json: evalDecode: unknown key "beams" (known: maxNewTokens, numBeams, doSample, temperature, topP, topK, noRepeatNgramSize, repetitionPenalty)',
  );
  // Names every object inherits are unknown keys too (JSON.parse makes "__proto__" an own key).
  for (const k of ['constructor', 'toString', 'hasOwnProperty', '__proto__'])
    assert.throws(() => makeConfig(JSON.parse(`{"${k}": 1}`), 'run.json'), {
      message: new RegExp(`^run\\.json: unknown key "${k}"`),
    });
  // Every key is checked: a value of the wrong kind is refused for each, naming it.
  for (const k of Object.keys(DEFAULT_CONFIG))
    assert.throws(
      () => makeConfig({ [k]: { bogus: true } } as never, 'run.json'),
      (e: unknown) => e instanceof Error && e.message.startsWith(`run.json: ${k}`) && !/internal/.test(e.message),
      k,
    );
  // Valid values of every kind pass.
  const ok = makeConfig({
    selectOn: 'dev-f1',
    grounded: false,
    types: ['person'],
    verbalizer: { PER: 'person' },
    baseModels: { s2e: { path: 'a' }, e2s: { path: 'b', repoId: 'x/y', revision: 'main', commit: 'c' } },
    e2sDecode: { maxNewTokens: 8, doSample: true, topK: 5 },
  });
  assert.equal(ok.selectOn, 'dev-f1');
});
