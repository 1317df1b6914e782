// Run folders of train / train-supervised: refusal of a previous run without --resume/--force, the lock,
// leftovers of a killed run, a cut metrics line, best/ without dev data, and the resume check.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { readModelWeights } from '../../src/t5/safetensors';
import { fingerprint, readJsonLines, recoverSwaps } from '../../src/util/fs';
import { cli, tinySyntheticBase } from '../helpers/cli-helpers';

T.setNumThreads(1);

/** A pid that is surely dead: a child that has exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid as number;

function setup(label: string) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `cyc-rundir-${label}-`));
  const { world: w, base } = tinySyntheticBase(root);
  const S = path.join(root, 'S.txt');
  const Q = path.join(root, 'Q.txt');
  fs.writeFileSync(S, w.S.join('\n') + '\n');
  fs.writeFileSync(Q, w.Q.map((q) => (q === '' ? '<none>' : q)).join('\n') + '\n');
  const run = path.join(root, 'run');
  const common = ['train', '--sentences', S, '--entities', Q, '--base-model', base, '--out', run, '--batch', '4'];
  const metrics = () => fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8');
  const steps = () =>
    readJsonLines<{ type: string; step: number }>(path.join(run, 'metrics.jsonl'))
      .records.filter((r) => r.type === 'step')
      .map((r) => r.step);
  return { root, w, base, S, Q, run, common, metrics, steps };
}

test('train: a previous run is refused without --resume/--force; --force starts over; the lock', async () => {
  const t = setup('refuse');
  try {
    let r = await cli([...t.common, '--max-steps', '2']);
    assert.equal(r.code, 0, r.err);
    const before = t.metrics();
    assert.deepEqual(t.steps(), [1, 2]);

    r = await cli([...t.common, '--max-steps', '1']);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /holds a previous train run \(config\.json, metrics\.jsonl, checkpoint, best\): pass --resume to continue it, or --force to start over/,
    );
    assert.equal(t.metrics(), before, 'metrics.jsonl untouched');
    assert.equal((await cli([...t.common, '--resume', '--force'])).code, 2);

    // A live owner (the test runner, our parent) holds the lock: refused, nothing written.
    const lock = path.join(t.run, '.lock');
    fs.writeFileSync(lock, `${process.ppid}\n${os.hostname()}\n2024-01-01T00:00:00.000Z\n`);
    r = await cli([...t.common, '--max-steps', '3', '--resume']);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`is in use by pid ${process.ppid} on ${os.hostname()} since 2024-01-01`));
    assert.equal(t.metrics(), before);
    assert.ok(fs.existsSync(lock), 'a live lock is left alone');

    // A dead owner on this host: the lock is stale, taken over and released at the end.
    fs.writeFileSync(lock, `${deadPid()}\n${os.hostname()}\n2024-01-01T00:00:00.000Z\n`);
    r = await cli([...t.common, '--max-steps', '3', '--force']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /removed a stale lock .*\.lock of pid \d+ .*\(no such process\)/);
    assert.match(r.err, /--force: removed config\.json, metrics\.jsonl, checkpoint, best, inputs\.json/);
    assert.deepEqual(t.steps(), [1, 2, 3], 'a fresh log: the old steps are gone');
    assert.ok(!fs.existsSync(lock), 'lock released');
    assert.ok(!/resumed from/.test(r.err));

    // train-supervised: same refusal, --force replaces the model.
    const gold = path.join(t.root, 'gold.jsonl');
    fs.writeFileSync(
      gold,
      t.w.evalSet.sentences
        .map((s) =>
          JSON.stringify({
            text: s.text,
            entities: s.entities.map((e) => ({ start: e.charStart, end: e.charEnd, label: e.label })),
          }),
        )
        .join('\n') + '\n',
    );
    const sup = [
      'train-supervised',
      '--train',
      gold,
      '--base-model',
      t.base,
      '--out',
      path.join(t.root, 'sup'),
      '--steps',
      '2',
      '--batch',
      '2',
    ];
    assert.equal((await cli(sup)).code, 0);
    r = await cli(sup);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /holds a previous train-supervised run \(metrics\.jsonl, config\.json, model\.safetensors, checkpoint\): pass --resume to continue it, or --force/,
    );
    r = await cli([...sup, '--force']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(
      readJsonLines<{ type: string; step: number }>(path.join(t.root, 'sup', 'metrics.jsonl')).records.map((x) => [
        x.type,
        x.step,
      ]),
      [
        ['step', 1],
        ['step', 2],
        ['end', 2],
      ],
      'a fresh log',
    );
    assert.equal(
      (await cli(['train-supervised', '--train', gold, '--base-model', t.base, '--out', t.base, '--force'])).code,
      2,
      '--out = --base-model',
    );
  } finally {
    fs.rmSync(t.root, { recursive: true, force: true });
  }
});

test('train: leftovers of a killed run, a kill between the checkpoint renames, a cut metrics line', async () => {
  const t = setup('kill');
  try {
    let r = await cli([...t.common, '--max-steps', '2']);
    assert.equal(r.code, 0, r.err);
    const dead = deadPid();
    // Killed between the two renames of the checkpoint swap: checkpoint/ gone, checkpoint.old-PID (the last complete
    // one) and the new checkpoint.tmp-PID there; also a half-written best.tmp of another dead pid and a line cut short.
    fs.renameSync(path.join(t.run, 'checkpoint'), path.join(t.run, `checkpoint.old-${dead}`));
    fs.mkdirSync(path.join(t.run, `checkpoint.tmp-${dead}`, 's2e'), { recursive: true });
    fs.writeFileSync(path.join(t.run, `checkpoint.tmp-${dead}`, 's2e', 'model.safetensors'), Buffer.alloc(1000));
    fs.mkdirSync(path.join(t.run, `best.tmp-${deadPid()}`));
    fs.appendFileSync(path.join(t.run, 'metrics.jsonl'), '{"type":"step","step":3,"lo');
    fs.rmSync(path.join(t.run, 'inputs.json')); // as a run from before the resume check
    r = await cli([...t.common, '--max-steps', '3', '--resume']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /has no inputs\.json \(a run from an older version\): input files not checked, recorded now/);
    assert.ok(fs.existsSync(path.join(t.run, 'inputs.json')));
    assert.match(r.err, new RegExp(`restored checkpoint/ from checkpoint\\.old-${dead}`));
    assert.match(r.err, new RegExp(`removed checkpoint\\.tmp-${dead} \\(0\\.0 MB left by pid ${dead}\\)`));
    assert.match(r.err, /resumed from .* at step 2 /, 'continues from the old checkpoint, not step 0');
    assert.match(r.err, /metrics\.jsonl: dropped 1 unreadable line\(s\)/);
    assert.deepEqual(
      fs.readdirSync(t.run).filter((e) => /\.(tmp|old)-/.test(e)),
      [],
    );
    assert.deepEqual(t.steps(), [1, 2, 3]);
  } finally {
    fs.rmSync(t.root, { recursive: true, force: true });
  }
});

test('train: without dev data best/ is the final model after every sitting; the resume check', async () => {
  const t = setup('best');
  try {
    let r = await cli([...t.common, '--max-steps', '2']);
    assert.equal(r.code, 0, r.err);
    const info = () =>
      JSON.parse(fs.readFileSync(path.join(t.run, 'best', 'info.json'), 'utf8')) as { step: number; final: boolean };
    assert.deepEqual([info().step, info().final], [2, true]);

    // Only --max-steps changes: accepted; best/ is now the step-4 model, as printed.
    r = await cli([...t.common, '--max-steps', '4', '--resume']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /models in .*best \(the final models of step 4: no dev data to select on\)/);
    assert.equal(info().step, 4);
    for (const d of ['s2e', 'e2s']) {
      const best = readModelWeights(path.join(t.run, 'best', d)).tensors;
      const last = readModelWeights(path.join(t.run, 'checkpoint', d)).tensors;
      assert.deepEqual([...best.keys()].sort(), [...last.keys()].sort());
      for (const [k, v] of best) assert.ok(Buffer.from(v.data).equals(Buffer.from(last.get(k)!.data)), `${d} ${k}`);
    }

    // A different S file and batch size: refused, both listed, nothing written.
    const before = t.metrics();
    const S8 = path.join(t.root, 'S8.txt');
    fs.writeFileSync(S8, t.w.S.slice(0, 8).join('\n') + '\n');
    const args = [...t.common, '--max-steps', '6', '--resume', '--batch', '8', '--no-ground', '--sentences', S8];
    r = await cli(args);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--resume: the command differs from the run in .* \(only --epochs, --max-steps may change/);
    assert.match(r.err, /\n {2}--batch: run has 4, command line says 8\n/);
    assert.match(
      r.err,
      /\n {2}--no-ground: run has grounded=true, groundedEval=true, command line says grounded=false, groundedEval=false\n/,
    );
    assert.match(
      r.err,
      new RegExp(
        `\\n {2}--sentences: S8\\.txt changed \\(sha256 ${fingerprint(S8).sha256.slice(0, 12)}…, 8 lines; run was ${t.w.S.length} lines, sha256 ${fingerprint(t.S).sha256.slice(0, 12)}…\\)`,
      ),
    );
    assert.equal(t.metrics(), before);
    // Dropping the dev file of a run that had none is fine; adding one is a difference.
    r = await cli([...t.common, '--resume', '--dev-sentences', t.S, '--dev-entities', t.Q]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--dev-entities: the run had none, the command line gives Q\.txt/);
    const inputs = JSON.parse(fs.readFileSync(path.join(t.run, 'inputs.json'), 'utf8')) as {
      files: Record<string, { lines: number; sha256: string }[]>;
    };
    assert.deepEqual(Object.keys(inputs.files).sort(), ['base-model', 'entities', 'sentences']);
    assert.equal(inputs.files.sentences![0]!.lines, t.w.S.length);
  } finally {
    fs.rmSync(t.root, { recursive: true, force: true });
  }
});

test('util: recoverSwaps, readJsonLines, fingerprint', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-util-fs-'));
  try {
    const dead = deadPid();
    fs.mkdirSync(path.join(dir, `.checkpoint.old-${dead}`)); // pretrain's older hidden form
    fs.writeFileSync(path.join(dir, `.checkpoint.old-${dead}`, 'state.json'), '{}');
    fs.mkdirSync(path.join(dir, 'best'));
    fs.mkdirSync(path.join(dir, `best.old-${dead}`)); // best/ exists: the old copy is a leftover
    fs.mkdirSync(path.join(dir, `ckpt.tmp-${process.ppid}`)); // a live pid's temp dir is not ours to remove
    const notes = recoverSwaps(dir);
    assert.deepEqual(
      notes.map((n) => n.replace(/\d+/g, 'N')),
      [
        'restored checkpoint/ from .checkpoint.old-N (a previous run was killed while replacing it)',
        'removed best.old-N (N.N MB left by pid N)',
      ],
    );
    assert.deepEqual(fs.readdirSync(dir).sort(), ['best', 'checkpoint', `ckpt.tmp-${process.ppid}`]);

    const f = path.join(dir, 'm.jsonl');
    fs.writeFileSync(f, '{"a":1}\n\n{"a":2}\n{"a":');
    assert.deepEqual(readJsonLines(f), { records: [{ a: 1 }, { a: 2 }], dropped: 1 });
    assert.deepEqual(readJsonLines(path.join(dir, 'none')), { records: [], dropped: 0 });
    const fp = fingerprint(f);
    assert.equal(fp.lines, 4);
    assert.equal(fp.bytes, 22);
    assert.equal(fp.sha256, crypto.createHash('sha256').update('{"a":1}\n\n{"a":2}\n{"a":').digest('hex'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
