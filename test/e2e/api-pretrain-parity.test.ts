// `cyclener pretrain` is a shell over the library's pretrain() (src/api/pretrain.ts): the same run through the CLI and
// the library gives the same output folder (weights byte for byte, checkpoint, metrics, inputs.json) and the same
// progress lines, a resume alike, an abort as Ctrl-C; the old --model flag still works, with one warning.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import '../../src/cli/commands';
import { pretrain } from '../../src/index'; // the package entry exports it
import type { MetricsRecord } from '../../src/run/metrics';
import { RunDirError } from '../../src/util/run-dir';
import { UsageError } from '../../src/util/errors';
import { cli } from '../helpers/cli-helpers';
import { corpusLines, tmpDir } from '../helpers/pretrain-helpers';

T.setNumThreads(1);

const SHIPPED = path.join(__dirname, '..', '..', '..', 'models', 'base-news-11m');
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const TIME = new Set(['minutes', 'tokensPerS', 'seconds', 'tokensPerSecond']);
/** JSON without its wall-time fields, at any depth. */
const untimed = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(untimed)
    : v !== null && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([k]) => !TIME.has(k))
            .map(([k, x]) => [k, untimed(x)]),
        )
      : v;
const jsonl = (f: string) =>
  fs
    .readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => untimed(JSON.parse(l)));
const json = (f: string) => untimed(JSON.parse(fs.readFileSync(f, 'utf8')));

/** Every file of two run folders compares equal: weights and optimizer state byte for byte, JSON but for wall times. */
function sameRun(a: string, b: string, rel = '.'): void {
  const names = fs.readdirSync(path.join(a, rel)).filter((n) => n !== 'loss.svg' && n !== '.lock');
  assert.deepEqual(
    fs
      .readdirSync(path.join(b, rel))
      .filter((n) => n !== 'loss.svg' && n !== '.lock')
      .sort(),
    names.sort(),
  );
  for (const n of names) {
    const [x, y] = [path.join(a, rel, n), path.join(b, rel, n)];
    if (fs.statSync(x).isDirectory()) sameRun(a, b, path.join(rel, n));
    else if (n.endsWith('.jsonl')) assert.deepEqual(jsonl(y), jsonl(x), n);
    else if (n.endsWith('.json')) assert.deepEqual(json(y), json(x), n);
    else assert.equal(sha(y), sha(x), path.join(rel, n));
  }
}

/** Log lines without timestamps, speeds, ETAs and the run folder's name. */
const norm = (lines: string[], dirs: string[]) =>
  lines.map((l) => {
    for (const d of dirs) l = l.split(d).join('OUT');
    return l
      .replace(/^\[\d\d:\d\d:\d\d\] /, '')
      .replace(/\d+ tok\/s/g, 'N tok/s')
      .replace(/\| [\d.]+ min( \| ETA [\d.]+ min)?/, '| T')
      .replace(/[\d.]+ min so far/, 'T so far');
  });

test('pretrain: the CLI and the library write the same run folder and lines; resume and abort alike', async () => {
  if (!fs.existsSync(path.join(SHIPPED, 'tokenizer.json'))) return;
  const dir = tmpDir('ppar');
  try {
    const corpus = path.join(dir, 'c.txt');
    fs.writeFileSync(corpus, corpusLines(60, 8).join('\n') + '\n');
    const [viaCli, viaLib] = [path.join(dir, 'cli'), path.join(dir, 'lib')];
    const flags = ['--corpus', corpus, '--tokenizer', SHIPPED, '--arch', 'tiny', '--batch', '4', '--fp32'];
    flags.push('--lr-warmup-steps', '1', '--log-every', '1', '--eval-every', '2', '--seed', '7', '--threads', '1');
    const c = await cli(['pretrain', ...flags, '--out', viaCli, '--steps', '4']);
    assert.equal(c.code, 0, c.err);
    const opts = {
      corpus,
      tokenizer: SHIPPED,
      arch: 'tiny',
      batch: 4,
      precision: 'fp32',
      lrWarmupSteps: 1,
      logEvery: 1,
      evalEvery: 2,
      seed: 7,
      threads: 1,
    } as const;
    const lines: string[] = [];
    const records: MetricsRecord[] = [];
    const onProgress = (e: { kind: 'log'; message: string } | { kind: 'metrics'; record: MetricsRecord }) =>
      e.kind === 'log' ? lines.push(e.message) : records.push(e.record);
    const r = await pretrain({ ...opts, out: viaLib, steps: 4, onProgress });
    assert.equal(r.interrupted, false);
    assert.equal(r.step, 4);
    assert.equal(r.stoppedBy, 'steps');
    sameRun(viaCli, viaLib);
    assert.ok(fs.existsSync(path.join(viaLib, 'model.safetensors')));
    // The callback got exactly the records of metrics.jsonl, and the CLI printed the library's lines.
    assert.deepEqual(
      records.map((x) => JSON.stringify(x)),
      fs.readFileSync(path.join(viaLib, 'metrics.jsonl'), 'utf8').trim().split('\n'),
    );
    assert.deepEqual(norm(lines, [viaLib]), norm(c.err.trimEnd().split('\n'), [viaCli]));
    assert.ok(lines.some((l) => /^step 4\/4 \| loss [\d.]+ \| val/.test(l)));

    // A resume with more steps: still the same folders. A changed setting is refused alike.
    const c2 = await cli([
      'pretrain',
      '--corpus',
      corpus,
      '--out',
      viaCli,
      '--resume',
      '--steps',
      '6',
      '--threads',
      '1',
    ]);
    assert.equal(c2.code, 0, c2.err);
    const r2 = await pretrain({ corpus, out: viaLib, resume: true, steps: 6, threads: 1 });
    assert.equal(r2.step, 6);
    sameRun(viaCli, viaLib);
    const bad = await cli(['pretrain', '--corpus', corpus, '--out', viaCli, '--resume', '--batch', '8']);
    assert.equal(bad.code, 2);
    await assert.rejects(pretrain({ corpus, out: viaLib, resume: true, batch: 8 }), (e) => {
      assert.ok(e instanceof RunDirError);
      assert.equal(`cyclener: ${e.message}\n`, bad.err.split(viaCli).join(viaLib));
      assert.match(e.message, /\n {2}--batch: run has 4, command line says 8$/);
      return true;
    });

    // An abort stops after the current step, as Ctrl-C: checkpoint and model written, `resume` continues.
    const ac = new AbortController();
    const ab = await pretrain({
      ...opts,
      out: path.join(dir, 'ab'),
      steps: 4,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.kind === 'metrics' && e.record.type === 'step') ac.abort();
      },
    });
    assert.deepEqual([ab.interrupted, ab.stoppedBy, ab.step], [true, 'signal', 1]);
    assert.ok(
      fs.existsSync(path.join(dir, 'ab', 'checkpoint')) && fs.existsSync(path.join(dir, 'ab', 'model.safetensors')),
    );
    const rest = await pretrain({ corpus, out: path.join(dir, 'ab'), resume: true, steps: 4 });
    assert.deepEqual([rest.interrupted, rest.step], [false, 4]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('pretrain: --model (the old name of --arch) works with one warning; an old inputs.json is read in the new name', async () => {
  if (!fs.existsSync(path.join(SHIPPED, 'tokenizer.json'))) return;
  const dir = tmpDir('parch');
  try {
    const corpus = path.join(dir, 'c.txt');
    fs.writeFileSync(corpus, corpusLines(30, 3).join('\n') + '\n');
    const flags = [
      '--corpus',
      corpus,
      '--tokenizer',
      SHIPPED,
      '--batch',
      '4',
      '--steps',
      '2',
      '--fp32',
      '--threads',
      '1',
    ];
    const help = await cli(['pretrain', '--help']);
    assert.match(help.out, /\n {2}--arch NAME\|FILE +architecture: preset \(tiny, mini, small, \.\.\.\)/);
    assert.doesNotMatch(help.out, /--model/);
    const old = await cli(['pretrain', ...flags, '--model', 'tiny', '--out', path.join(dir, 'old')]);
    assert.equal(old.code, 0, old.err);
    const warnings = old.err.split('\n').filter((l) => /warning/.test(l));
    assert.deepEqual(warnings, ['cyclener: warning: --model is now --arch (the old name still works for now)']);
    const now = await cli(['pretrain', ...flags, '--arch', 'tiny', '--out', path.join(dir, 'new')]);
    assert.equal(now.code, 0, now.err);
    assert.doesNotMatch(now.err, /warning/);
    sameRun(path.join(dir, 'old'), path.join(dir, 'new'));
    // A run whose inputs.json records the old name: a resume still compares it.
    const inputs = path.join(dir, 'old', 'inputs.json');
    const rec = JSON.parse(fs.readFileSync(inputs, 'utf8')) as { settings: Record<string, unknown> };
    assert.equal(rec.settings.arch, 'tiny');
    rec.settings = Object.fromEntries(Object.entries(rec.settings).map(([k, v]) => [k === 'arch' ? 'model' : k, v]));
    fs.writeFileSync(inputs, JSON.stringify(rec));
    const changed = await cli([
      'pretrain',
      '--corpus',
      corpus,
      '--out',
      path.join(dir, 'old'),
      '--resume',
      '--arch',
      'small',
    ]);
    assert.equal(changed.code, 2);
    assert.match(changed.err, /\n {2}--arch: run has tiny, command line says small\n/);
    await assert.rejects(
      pretrain({ corpus, out: path.join(dir, 'old'), resume: true, arch: 'small' }),
      /\n {2}--arch: run has tiny, command line says small/,
    );
    // The library checks its options as the parser checks flags, before touching anything.
    const o = { corpus, out: path.join(dir, 'x') };
    await assert.rejects(
      pretrain({ ...o, batch: 0 }),
      (e) => e instanceof UsageError && /^pretrain: batch must be >= 1, got 0$/.test(e.message),
    );
    await assert.rejects(
      pretrain({ ...o, precision: 'fp16' as 'fp32' }),
      /pretrain: precision must be bf16 or fp32, got "fp16"/,
    );
    await assert.rejects(
      pretrain({ ...o, spanInputs: 'words' as 'packed' }),
      /pretrain: spanInputs must be one of packed, sentences, got "words"/,
    );
    assert.ok(!fs.existsSync(o.out));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
