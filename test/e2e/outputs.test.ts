// The output discipline at the CLI (src/util/output.ts): an output that is an input is refused, an existing one needs
// --force, a second writer is refused naming the first, a missing or read-only folder is reported before any work, a
// full disk leaves the previous files intact; --force never deletes a folder that is an input or not a run of ours.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { sentenceToJson } from '../../src/data/readers';
import { cli, tinyTaggerBase } from '../helpers/cli-helpers';

T.setNumThreads(1);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-outputs-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const { world, base } = tinyTaggerBase(root);
const input = path.join(root, 'in.txt');
fs.writeFileSync(input, world.S.slice(0, 3).join('\n') + '\n');
const predict = (out: string, ...more: string[]) =>
  cli(['predict', '--model', base, '--input', input, '--out', out, '--max-new-tokens', '4', ...more]);

/** Files of `dir` that are temp files or locks (nothing of the kind may be left behind). */
const leftovers = (dir: string) => fs.readdirSync(dir).filter((e) => /\.tmp-|\.lock$/.test(e));

/** Run `fn` with the CYCLENER_TEST_FAULT hook set (ENOSPC:TEXT = a full disk for paths containing TEXT). */
async function withFault<R>(fault: string, fn: () => Promise<R>): Promise<R> {
  process.env.CYCLENER_TEST_FAULT = fault;
  try {
    return await fn();
  } finally {
    delete process.env.CYCLENER_TEST_FAULT;
  }
}

test('predict: an --out that is the --input (same path, a symlink, a hard link) is refused; the input is untouched', async () => {
  const before = fs.readFileSync(input, 'utf8');
  const sym = path.join(root, 'sym.txt');
  const hard = path.join(root, 'hard.txt');
  fs.symlinkSync(input, sym);
  fs.linkSync(input, hard);
  for (const [out, how] of [
    [input, ''],
    [sym, ' \\(a symlink to it\\)'],
    [hard, ' \\(a hard link to it\\)'],
  ] as const) {
    const r = await predict(out);
    assert.equal(r.code, 2, `${out}: ${r.err}`);
    assert.match(
      r.err,
      new RegExp(`--out ${out} is the --input file ${input}${how}: writing it would destroy the input`),
    );
    assert.equal(fs.readFileSync(input, 'utf8'), before);
    assert.ok(fs.lstatSync(sym).isSymbolicLink());
  }
  const gold = path.join(root, 'gold.jsonl');
  fs.writeFileSync(gold, JSON.stringify({ text: 'Anna went home .', entities: [] }) + '\n');
  const q = path.join(root, 'q.txt');
  fs.writeFileSync(q, 'Anna <sep> person\n');
  const r = await cli(['baseline', 'lexical', '--q', q, '--gold', gold, '--dataset', 'conll2003', '--out', gold]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /--out \S+gold\.jsonl is the --gold file/);
  assert.deepEqual(leftovers(root), []);
});

test('predict: a file inside the --model folder is never replaced (its weights); a new file there may be written', async () => {
  const weights = fs.readFileSync(path.join(base, 'model.safetensors'));
  let r = await predict(path.join(base, 'model.safetensors'), '--force');
  assert.equal(r.code, 2, r.err);
  assert.match(
    r.err,
    /model\.safetensors is a file of the --model folder \S+base: replacing it would damage the input/,
  );
  assert.ok(fs.readFileSync(path.join(base, 'model.safetensors')).equals(weights));
  const inside = path.join(base, 'preds.jsonl');
  r = await predict(inside);
  assert.equal(r.code, 0, r.err);
  fs.rmSync(inside);
});

test('predict onto a FIFO or device (/dev/stdout, /dev/null) writes into it: never replaced by a plain file', async () => {
  const fifo = path.join(root, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const r = await predict(fifo); // no --force: writing into a stream replaces nothing
    assert.equal(r.code, 0, r.err);
    assert.ok(fs.lstatSync(fifo).isFIFO());
    const buf = Buffer.alloc(65536);
    const n = fs.readSync(reader, buf);
    assert.equal(buf.subarray(0, n).toString('utf8').trim().split('\n').length, 3);
  } finally {
    fs.closeSync(reader);
    fs.rmSync(fifo);
  }
  assert.deepEqual(leftovers(root), []);
});

test('predict: an existing --out needs --force; a second writer of one --out is refused naming the first', async () => {
  const out = path.join(root, 'twice.jsonl');
  let r = await predict(out);
  assert.equal(r.code, 0, r.err);
  const first = fs.readFileSync(out, 'utf8');
  r = await predict(out);
  assert.equal(r.code, 2);
  assert.match(r.err, new RegExp(`${out} exists; pass --force to overwrite it`));
  // Another live process (the test runner, our parent) is writing it: refused, its lock left alone.
  const lock = `${out}.lock`;
  fs.writeFileSync(lock, `${process.ppid}\n${os.hostname()}\n2024-01-01T00:00:00.000Z\n`);
  r = await predict(out, '--force');
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    new RegExp(`${out} is being written by pid ${process.ppid} on ${os.hostname()} since 2024-01-01T00:00:00\\.000Z`),
  );
  assert.ok(fs.existsSync(lock));
  fs.rmSync(lock);
  assert.equal(fs.readFileSync(out, 'utf8'), first);
  r = await predict(out, '--force');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(leftovers(root), []);
});

test('predict and baseline lexical: a missing or read-only --out folder is reported before any work', async () => {
  // A model that does not exist: the output is checked first, so the error is about the output.
  const none = path.join(root, 'no-model');
  const missing = path.join(root, 'no-folder', 'p.jsonl');
  let r = await cli(['predict', '--model', none, '--input', input, '--out', missing]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--out \S+p\.jsonl: the folder \S+no-folder does not exist/);
  const ro = path.join(root, 'ro');
  fs.mkdirSync(ro);
  r = await withFault(`EROFS:${ro}`, () =>
    cli(['predict', '--model', none, '--input', input, '--out', path.join(ro, 'p.jsonl')]),
  );
  assert.equal(r.code, 2);
  assert.match(r.err, new RegExp(`cannot write in ${ro}: read-only filesystem \\(EROFS\\)`));
  const q = path.join(root, 'q2.txt');
  fs.writeFileSync(q, 'Anna <sep> person\n');
  r = await cli(['baseline', 'lexical', '--q', q, '--gold', path.join(root, 'no-gold.jsonl'), '--out', missing]);
  assert.equal(r.code, 2);
  assert.match(r.err, /the folder \S+no-folder does not exist/);
  assert.ok(!fs.existsSync(path.dirname(missing)));
});

test('predict and data build on a full disk: the error says so and names the file; the previous files are intact', async () => {
  const out = path.join(root, 'full.jsonl');
  let r = await withFault('ENOSPC:full.jsonl', () => predict(out));
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    new RegExp(`cannot write ${out}: the disk is full \\(ENOSPC\\); no partial full\\.jsonl was left`),
  );
  assert.ok(!fs.existsSync(out));
  fs.writeFileSync(out, 'previous\n');
  r = await withFault('ENOSPC:full.jsonl', () => predict(out, '--force'));
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    new RegExp(`cannot write ${out}: the disk is full \\(ENOSPC\\); ${out} keeps its previous content`),
  );
  assert.equal(fs.readFileSync(out, 'utf8'), 'previous\n');
  assert.deepEqual(leftovers(root), []);

  const conll = path.join(root, 'train.conll');
  const lines: string[] = [];
  for (let i = 0; i < 30; i++) lines.push(`Person${i} B-PER`, 'met O', `Place${i} B-LOC`, '. O', '');
  fs.writeFileSync(conll, lines.join('\n'));
  const data = path.join(root, 'data');
  const build = (seed: string, ...more: string[]) =>
    cli([
      'data',
      'build',
      '--train',
      conll,
      '--num-sentences',
      '10',
      '--num-sequences',
      '5',
      '--mode',
      'gq',
      '--out',
      data,
      '--seed',
      seed,
      ...more,
    ]);
  r = await build('1');
  assert.equal(r.code, 0, r.err);
  const files = ['S.txt', 'Q.txt', 'manifest.json'];
  const before = files.map((f) => fs.readFileSync(path.join(data, f), 'utf8'));
  r = await withFault('ENOSPC:Q.txt', () => build('2', '--force'));
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot write \S+Q\.txt: the disk is full \(ENOSPC\)/);
  // S.txt was written before Q.txt failed: it is not renamed into place either, so S and Q still belong together.
  assert.deepEqual(
    files.map((f) => fs.readFileSync(path.join(data, f), 'utf8')),
    before,
  );
  assert.deepEqual(leftovers(data), []);
});

test('train --force never deletes a folder that is an input or not a run of ours', async () => {
  const S = path.join(root, 'S.txt');
  const Q = path.join(root, 'Q.txt');
  fs.writeFileSync(S, world.S.join('\n') + '\n');
  fs.writeFileSync(Q, world.Q.map((x) => x || '<none>').join('\n') + '\n');
  const listing = (d: string) => fs.readdirSync(d).sort();
  const baseFiles = listing(base);
  const config = fs.readFileSync(path.join(base, 'config.json'), 'utf8');
  const train = ['train', '--sentences', S, '--entities', Q, '--max-steps', '1', '--batch', '4'];
  let r = await cli([...train, '--base-model', base, '--out', base, '--force']);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    new RegExp(`--out ${base} is the --base-model ${base}: a run folder must not be one of its inputs`),
  );
  assert.deepEqual(listing(base), baseFiles);
  assert.equal(fs.readFileSync(path.join(base, 'config.json'), 'utf8'), config);

  // Another model folder (not an input here): train-supervised --force does not take it for a previous run.
  const other = path.join(root, 'other-model');
  fs.cpSync(base, other, { recursive: true });
  const pairs = path.join(root, 'pairs.tsv');
  fs.writeFileSync(pairs, world.S.map((s) => `${s}\t<none>`).join('\n') + '\n');
  const sup = ['train-supervised', '--pairs', pairs, '--base-model', base, '--steps', '1', '--batch', '2'];
  r = await cli([...sup, '--out', other, '--force']);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /--force refused: \S+other-model does not look like a train-supervised run folder \(no metrics\.jsonl/,
  );
  assert.deepEqual(listing(other), baseFiles);
  // One with a log of ours but files we never write (a pretrained model's README.md): refused too.
  fs.writeFileSync(path.join(other, 'metrics.jsonl'), '');
  fs.writeFileSync(path.join(other, 'README.md'), '# my model\n');
  r = await cli([...sup, '--out', other, '--force']);
  assert.equal(r.code, 2);
  assert.match(r.err, /it holds README\.md, which train-supervised does not write/);
  assert.ok(fs.existsSync(path.join(other, 'config.json')));
  // A run of ours is still replaced by --force.
  const mine = path.join(root, 'sup');
  assert.equal((await cli([...sup, '--out', mine])).code, 0);
  r = await cli([...sup, '--out', mine, '--force']);
  assert.equal(r.code, 0, r.err);
});

test('train (and every run folder: train-supervised, pretrain): a read-only --out is reported as such', async () => {
  const ro = path.join(root, 'ro-runs');
  fs.mkdirSync(ro);
  const S = path.join(root, 'S.txt');
  const Q = path.join(root, 'Q.txt');
  const train = ['train', '--sentences', S, '--entities', Q, '--base-model', base, '--max-steps', '1'];
  for (const out of [path.join(ro, 'new-run'), ro]) {
    const r = await withFault(`EROFS:${ro}`, () => cli([...train, '--out', out]));
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      new RegExp(`--out ${out}: cannot (create the folder ${out}|write in ${ro}): read-only filesystem`),
    );
  }
  assert.deepEqual(fs.readdirSync(ro), []);
});

test('gate: a candidate folder under --out that is the base model itself is refused before any fine-tuning', async () => {
  const gold = path.join(root, 'gate-gold.jsonl');
  fs.writeFileSync(gold, world.evalSet.sentences.map(sentenceToJson).join('\n') + '\n');
  const weights = fs.readFileSync(path.join(base, 'model.safetensors'));
  // --out is the base's parent: the base's row would be fine-tuned into --out/base, the base model's own folder.
  const r = await cli([
    'gate',
    '--base-model',
    base,
    '--train',
    gold,
    '--dev',
    gold,
    '--num',
    '2',
    '--steps',
    '1',
    '--batch',
    '2',
    '--dev-num',
    '2',
    '--out',
    root,
  ]);
  assert.equal(r.code, 2, r.err);
  assert.match(
    r.err,
    new RegExp(`gate would write a fine-tuned model into ${base}, which holds the --base-model ${base}`),
  );
  assert.ok(fs.readFileSync(path.join(base, 'model.safetensors')).equals(weights));
  assert.ok(!fs.existsSync(path.join(base, 'metrics.jsonl')));
});

test('predict stopped by Ctrl-C leaves neither its lock nor a partial --out, and dies of SIGINT as before', async () => {
  const big = path.join(root, 'big.txt');
  fs.writeFileSync(big, Array.from({ length: 20000 }, (_, i) => world.S[i % world.S.length]).join('\n') + '\n');
  const out = path.join(root, 'interrupted.jsonl');
  const main = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const child = spawn(
    process.execPath,
    [main, 'predict', '--model', base, '--input', big, '--out', out, '--max-new-tokens', '4'],
    { env: { ...process.env, CYCLENER_THREADS: '1' }, stdio: 'ignore' },
  );
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
  for (let i = 0; i < 600 && !fs.existsSync(`${out}.lock`); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(fs.existsSync(`${out}.lock`), 'the lock is taken before any work');
  await new Promise((r) => setTimeout(r, 500)); // past the claim (a signal between taking the lock and watching signals kills at once)
  child.kill('SIGINT');
  assert.equal(await exited, 'SIGINT', 'killed mid-inference (20,000 lines)');
  assert.equal(fs.existsSync(out), false, 'no --out');
  assert.deepEqual(leftovers(root), [], 'no lock, no temp file');
});
