import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import '../src/cli/commands';
import { runCli } from '../src/cli/registry';
import { corpusLines, tmpDir } from './pretrain-helpers';

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

test('cyclener pretrain end to end: bf16, accumulation, shipped tokenizer, --resume with more --steps', async () => {
  const shipped = path.join(__dirname, '..', '..', 'models', 'base-news-11m');
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
    '--model',
    'tiny',
    '--accum',
    '2',
    '--batch',
    '4',
    '--steps',
    '2',
    '--warmup-steps',
    '1',
  );
  assert.equal(r1.code, 0, r1.err);
  assert.match(r1.err, /step 2\/2 \| loss [0-9.]+ \| val [0-9.]+ \| lr .* tok\/s .* ETA/);
  // A previous run is refused without --resume/--force; a resume with another recipe or corpus is refused.
  const again = await cli(...common, '--tokenizer', shipped, '--model', 'tiny', '--steps', '2');
  assert.equal(again.code, 2);
  assert.match(
    again.err,
    /holds a previous pretrain run \(checkpoint, metrics\.jsonl, pretrain_summary\.json, model\.safetensors, config\.json\): pass --resume/,
  );
  fs.appendFileSync(corpus, 'One more document line for the changed corpus.\n');
  const changed = await cli(...common, '--resume', '--steps', '3', '--batch', '8', '--accum', '2', '--model', 'small');
  assert.equal(changed.code, 2);
  assert.match(
    changed.err,
    /only --steps, --max-minutes, --threads, --checkpoint-minutes, --log-every, --eval-every, --save-dtype may change/,
  );
  assert.match(
    changed.err,
    /\n {2}--batch: run has 4, command line says 8\n {2}--model: run has tiny, command line says small\n {2}--corpus: c\.txt changed \(sha256 [0-9a-f]{12}…, 61 lines; run was 60 lines/,
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
