// Ctrl-C during `cyclener pretrain` and `cyclener train`: the run stops after its current step, writes its
// checkpoint, exits 130, and `--resume` continues from exactly that step.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cli, tinySyntheticBase } from '../helpers/cli-helpers';
import { corpusLines, tmpDir } from '../helpers/pretrain-helpers';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

/** Run the CLI in a child process; send SIGINT once `ready()` holds; resolve with its exit code and stderr. */
function interruptWhen(
  args: string[],
  ready: (stderr: string) => boolean,
): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CYCLENER_THREADS: '1' },
    });
    let err = '';
    let sent = false;
    const timer = setInterval(() => {
      if (!sent && ready(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    }, 50);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({ code, err });
    });
  });
}

test('pretrain: SIGINT checkpoints the current step, exits 130, --resume continues from it', async () => {
  const shipped = path.join(__dirname, '..', '..', '..', 'models', 'base-news-11m');
  const dir = tmpDir('intr-pre');
  try {
    const corpus = path.join(dir, 'c.txt');
    fs.writeFileSync(corpus, corpusLines(60, 3).join('\n') + '\n');
    const out = path.join(dir, 'o');
    const args = [
      'pretrain',
      '--corpus',
      corpus,
      '--out',
      out,
      '--tokenizer',
      shipped,
      '--model',
      'tiny',
      '--batch',
      '4',
      '--lr-warmup-steps',
      '1',
      '--log-every',
      '1',
      '--eval-every',
      '1000',
      '--checkpoint-minutes',
      '100',
      '--max-minutes',
      '10',
    ];
    const r = await interruptWhen(args, (e) => /step 3 \|/.test(e));
    assert.equal(r.code, 130, r.err);
    assert.match(r.err, /SIGINT: stopping after the current step/);
    assert.match(r.err, /stopped by signal/);
    assert.match(r.err, /interrupted: checkpoint and model written/);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { step: number };
    assert.ok(state.step >= 3, `checkpoint at step ${state.step}`);
    assert.ok(fs.existsSync(path.join(out, 'model.safetensors')), 'the model is exported as at the end of a sitting');
    const r2 = await cli(['pretrain', '--corpus', corpus, '--out', out, '--resume', '--steps', String(state.step + 1)]);
    assert.equal(r2.code, 0, r2.err);
    assert.match(r2.err, new RegExp(`resume: step ${state.step},`));
    assert.match(r2.err, new RegExp(`done: step ${state.step + 1},`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('train: SIGINT checkpoints the current step, exits 130, --resume continues from it', async () => {
  const root = tmpDir('intr-train');
  try {
    const { world: w, base } = tinySyntheticBase(root);
    const S = path.join(root, 'S.txt');
    const Q = path.join(root, 'Q.txt');
    fs.writeFileSync(S, w.S.join('\n') + '\n');
    fs.writeFileSync(Q, w.Q.map((q) => (q === '' ? '<none>' : q)).join('\n') + '\n');
    const run = path.join(root, 'run');
    const common = ['train', '--sentences', S, '--entities', Q, '--base-model', base, '--out', run, '--batch', '2'];
    const metrics = path.join(run, 'metrics.jsonl');
    const r = await interruptWhen(
      [...common, '--max-steps', '1000'],
      () => fs.existsSync(metrics) && /"type":"step"/.test(fs.readFileSync(metrics, 'utf8')),
    );
    assert.equal(r.code, 130, r.err);
    assert.match(r.err, /interrupted at step (\d+): checkpoint written/);
    const k = Number(/interrupted at step (\d+)/.exec(r.err)![1]);
    assert.ok(k >= 1 && k < 1000);
    assert.ok(!fs.existsSync(path.join(run, 'best')), 'an interrupted run without dev data has no final best/ yet');
    const r2 = await cli([...common, '--max-steps', String(k + 1), '--resume']);
    assert.equal(r2.code, 0, r2.err);
    assert.match(r2.err, new RegExp(`resumed from .* at step ${k} `));
    assert.match(r2.out, /done: 1 steps this run/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('train-supervised: SIGINT checkpoints the current step, exits 130, --resume ends as an uninterrupted run', async () => {
  const root = tmpDir('intr-sup');
  try {
    const { world: w, base } = tinySyntheticBase(root);
    const pairs = path.join(root, 'pairs.tsv');
    fs.writeFileSync(pairs, w.S.map((s, i) => `${s}\t${w.Q[i] || '<none>'}`).join('\n') + '\n');
    const common = ['train-supervised', '--pairs', pairs, '--base-model', base, '--batch', '3', '--fp32'];
    const out = path.join(root, 'sup');
    const metrics = path.join(out, 'metrics.jsonl');
    const r = await interruptWhen(
      [...common, '--out', out, '--steps', '100000'],
      () => fs.existsSync(metrics) && /"type":"step"/.test(fs.readFileSync(metrics, 'utf8')),
    );
    assert.equal(r.code, 130, r.err);
    const k = Number(
      /interrupted at step (\d+): checkpoint written; continue with the same command and --resume/.exec(r.err)![1],
    );
    assert.ok(k >= 1 && k < 100000);
    const r2 = await cli([...common, '--out', out, '--steps', String(k + 2), '--resume']);
    assert.equal(r2.code, 0, r2.err);
    assert.match(r2.err, new RegExp(`resumed from .* at step ${k}`));
    const straight = path.join(root, 'straight');
    const r3 = await cli([...common, '--out', straight, '--steps', String(k + 2)]);
    assert.equal(r3.code, 0, r3.err);
    const weights = (d: string) => fs.readFileSync(path.join(d, 'model.safetensors'));
    assert.ok(weights(out).equals(weights(straight)), 'bit-identical to the uninterrupted run');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
