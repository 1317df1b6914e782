import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import '../../src/cli/commands';
import { parseArgs } from '../../src/cli/args';
import { listCommands, runCli } from '../../src/cli/registry';
import { inRange } from '../../src/util/range';
import {
  comparedSettings,
  PRETRAIN_DEFAULTS,
  PRETRAIN_SETTINGS,
  pretrainOptions,
  recipeSettings,
  RESUME_ALLOWED,
  type PretrainSetting,
} from '../../src/pretrain/settings';
import type { Recipe } from '../../src/pretrain/train-state';
import { compareSettings } from '../../src/util/run-dir';
import { corpusLines, tmpDir } from '../helpers/pretrain-helpers';

const pretrainFlags = () => listCommands().find((c) => c.name === 'pretrain')!.flags;
const parsePretrain = (argv: string[]) => parseArgs(argv, pretrainFlags(), [], 'pretrain');

/** The recipe flags a resume would compare: every one with a value on this command line. */
function recipeDiffs(recipe: Recipe, argv: string[]): string[] {
  const now = comparedSettings(parsePretrain(argv).flags, 'recipe');
  return compareSettings(
    recipeSettings(recipe),
    now,
    Object.keys(now).filter((k) => now[k] !== undefined),
  );
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await runCli(argv, {
    out: (t) => {
      out += `${t}\n`;
    },
    err: (t) => {
      err += `${t}\n`;
    },
  });
  return { code, out, err };
}

test('cyclener pretrain: help, and one-line errors for bad flags and files', async () => {
  const h = await cli('pretrain', '--help');
  assert.equal(h.code, 0);
  for (const f of [
    '--corpus',
    '--mixture',
    '--span-inputs',
    '--max-minutes',
    '--resume',
    '--init',
    '--fp32',
    '--accum',
  ])
    assert.match(h.out, new RegExp(f));
  assert.match((await cli('--help')).out, /pretrain/);
  const dir = tmpDir('pcli');
  const missing = await cli('pretrain', '--corpus', path.join(dir, 'none.txt.xz'), '--out', path.join(dir, 'o'));
  assert.equal(missing.code, 2);
  assert.match(missing.err, /none\.txt\.xz: no such file/);
  const corpus = path.join(dir, 'c.txt');
  fs.writeFileSync(corpus, 'A line of text that is long enough.\n');
  const bad = await cli(
    'pretrain',
    '--corpus',
    corpus,
    '--out',
    path.join(dir, 'o'),
    '--mixture',
    'span=1,spam=2',
    '--tokenizer',
    dir,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.err, /unknown objective "spam"/);
  assert.equal((await cli('pretrain', '--corpus', corpus, '--out', dir, '--batch', '0')).code, 2);
  const mode = await cli('pretrain', '--corpus', corpus, '--out', dir, '--span-inputs', 'words');
  assert.equal(mode.code, 2);
  assert.match(mode.err, /--span-inputs must be one of packed, sentences/);
  assert.equal((await cli('pretrain', '--corpus', corpus, '--out', dir, '--tokenizer', dir, '--init', dir)).code, 2);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('pretrain settings: one spec gives the flags, their defaults (PRETRAIN_DEFAULTS) and the options', () => {
  const flags = pretrainFlags();
  for (const [name, s] of Object.entries(PRETRAIN_SETTINGS) as [string, PretrainSetting][]) {
    assert.equal(flags[name], s, `--${name} is the spec's`);
    if (s.range && s.default !== undefined) assert.ok(inRange(s.default as number, s.range), name);
    if (s.choices && s.default !== undefined) assert.ok(s.choices.includes(s.default as string), name);
  }
  assert.deepEqual(RESUME_ALLOWED, [
    'max-minutes',
    'steps',
    'checkpoint-minutes',
    'eval-every',
    'log-every',
    'save-dtype',
    'threads',
  ]);
  // No flag given: the options are PRETRAIN_DEFAULTS, bf16, and nothing for the settings without a default.
  const o = pretrainOptions(parsePretrain(['--corpus', 'c.txt', '--out', 'o']).flags);
  assert.deepEqual(o, {
    ...PRETRAIN_DEFAULTS,
    tokenizerDir: null,
    init: null,
    maxMinutes: null,
    steps: null,
    schedule: null,
    bf16: true,
  });
  // Every flag that sets an option sets a field of pretrain()'s options (and each option comes from one flag).
  const options = Object.values(PRETRAIN_SETTINGS as Record<string, PretrainSetting>).flatMap((s) =>
    s.option ? [s.option] : [],
  );
  assert.equal(new Set(options).size, options.length);
  const set = pretrainOptions(
    parsePretrain([
      ...['--corpus', 'c.txt', '--out', 'o', '--fp32', '--lr-warmup-steps', '5', '--span-inputs', 'sentences'],
      ...['--schedule', 'constant', '--steps', '9', '--tokenizer', 'tok', '--save-dtype', 'bfloat16'],
    ]).flags,
  );
  assert.deepEqual(
    [set.bf16, set.warmup, set.spanInputs, set.schedule, set.steps, set.tokenizerDir, set.saveDtype],
    [false, 5, 'sentences', 'constant', 9, 'tok', 'bfloat16'],
  );
});

test('cyclener pretrain end to end: bf16, accumulation, shipped tokenizer, --resume with more --steps', async () => {
  const shipped = path.join(__dirname, '..', '..', '..', 'models', 'base-news-11m');
  if (!fs.existsSync(path.join(shipped, 'tokenizer.json'))) return;
  const dir = tmpDir('pcli-e2e');
  const corpus = path.join(dir, 'c.txt');
  fs.writeFileSync(corpus, corpusLines(60, 8).join('\n') + '\n');
  const out = path.join(dir, 'o');
  const common = ['pretrain', '--corpus', corpus, '--out', out, '--log-every', '1', '--eval-every', '2'];
  const r1 = await cli(
    ...common,
    '--tokenizer',
    shipped,
    '--arch',
    'tiny',
    '--accum',
    '2',
    '--batch',
    '4',
    '--steps',
    '2',
    '--lr-warmup-steps',
    '1',
  );
  assert.equal(r1.code, 0, r1.err);
  // The recipe the checkpoint records compares equal to the command line that made it, flag by flag.
  const r1Recipe = (
    JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { recipe: Recipe }
  ).recipe;
  const r1Args = [...common.slice(1), '--tokenizer', shipped, '--arch', 'tiny', '--accum', '2', '--batch', '4'];
  assert.deepEqual(recipeDiffs(r1Recipe, [...r1Args, '--lr-warmup-steps', '1']), []);
  assert.deepEqual(recipeDiffs(r1Recipe, [...r1Args, '--warmup-steps', '2', '--fp32']), [
    '--lr-warmup-steps: run has 1, command line says 2',
    '--fp32: run has false, command line says true',
  ]);
  assert.match(r1.err, /step 2\/2 \| loss [0-9.]+ \| val [0-9.]+ \| lr .* tok\/s .* ETA/);
  // A previous run is refused without --resume/--force; a resume with another recipe or corpus is refused.
  const again = await cli(...common, '--tokenizer', shipped, '--arch', 'tiny', '--steps', '2');
  assert.equal(again.code, 2);
  assert.match(
    again.err,
    /holds a previous pretrain run \(checkpoint, metrics\.jsonl, pretrain_summary\.json, model\.safetensors, config\.json\): pass --resume/,
  );
  fs.appendFileSync(corpus, 'One more document line for the changed corpus.\n');
  const changed = await cli(...common, '--resume', '--steps', '3', '--batch', '8', '--accum', '2', '--arch', 'small');
  assert.equal(changed.code, 2);
  assert.match(
    changed.err,
    /only --max-minutes, --steps, --checkpoint-minutes, --eval-every, --log-every, --save-dtype, --threads may change/,
  );
  assert.match(
    changed.err,
    /\n {2}--batch: run has 4, command line says 8\n {2}--arch: run has tiny, command line says small\n {2}--corpus: c\.txt changed \(sha256 [0-9a-f]{12}…, 61 lines; run was 60 lines/,
  );
  assert.doesNotMatch(changed.err, /--accum/, 'an unchanged flag is no difference');
  fs.writeFileSync(corpus, corpusLines(60, 8).join('\n') + '\n');
  // Killed between the two renames of the checkpoint swap: the old checkpoint is renamed back.
  const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
  fs.renameSync(path.join(out, 'checkpoint'), path.join(out, `checkpoint.old-${dead}`));
  const r2 = await cli(...common, '--resume', '--steps', '3');
  assert.equal(r2.code, 0, r2.err);
  assert.match(r2.err, new RegExp(`restored checkpoint/ from checkpoint\\.old-${dead}`));
  assert.match(r2.err, /resume: step 2/);
  assert.match(r2.err, /done: step 3/);
  const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8'));
  assert.equal(state.recipe.bf16, true, 'bf16 autocast by default (--fp32 opts out)');
  assert.equal(state.recipe.accum, 2);
  assert.equal(state.recipe.spanInputs, 'packed', 'packed span inputs by default');
  assert.match(r1.err, /span inputs packed: 141 raw tokens -> source 128 \/ target 29/);
  assert.match(
    r1.err,
    /span inputs packed: \d+ examples, mean source 1[0-9.]+ \/ target [0-9.]+ tokens; \d+ window\(s\) ran out/,
  );
  assert.equal(state.step, 3);
  fs.rmSync(dir, { recursive: true, force: true });
});
