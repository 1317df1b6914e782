// Inputs a command must not misread (issue 23): flags that contradict each other, messages that suggest what does
// not work, formats guessed wrong, pipes read twice, stray labels and misspelt type words taken silently, special
// tokens read as names, and lines far longer than the model reads.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { cli, tinySyntheticBase } from '../helpers/cli-helpers';

T.setNumThreads(1);

const CLI_MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-inputs-'));
const { world, base } = tinySyntheticBase(root);
const file = (name: string, text: string) => {
  const p = path.join(root, name);
  fs.writeFileSync(p, text);
  return p;
};
const pairs = file('pairs.tsv', world.S.map((s) => `${s}\t<none>`).join('\n') + '\n');
const conll = (sents: string[][]) => sents.map((s) => s.join('\n')).join('\n\n') + '\n';

test.after(() => fs.rmSync(root, { recursive: true, force: true }));

test('train-supervised: --pairs with --train is a usage error, not --train silently ignored', async () => {
  const train = file('sup-train.txt', conll([['Paris B-LOC', 'is O']]));
  const out = path.join(root, 'sup-both');
  const r = await cli(['train-supervised', '--pairs', pairs, '--train', train, '--base-model', base, '--out', out]);
  assert.equal(r.code, 2);
  assert.equal(r.err, 'cyclener: give --pairs FILE or --train FILE, not both\n');
  assert.equal(fs.existsSync(out), false);
});

test('train-supervised: a previous run in --out suggests --resume or --force, the flags it has', async () => {
  const out = path.join(root, 'sup-prev');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'metrics.jsonl'), '');
  const r = await cli(['train-supervised', '--pairs', pairs, '--base-model', base, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(
    r.err,
    /holds a previous train-supervised run \(metrics\.jsonl\): pass --resume to continue it, or --force to start over/,
  );
});

test('data build --repair-tags repairs what the error message says it repairs', async () => {
  // IOB2 (B- opens entities) with an I- after O and an I- after another type.
  const train = file(
    'repair-train.txt',
    conll([
      ['Paris B-LOC', 'is O', 'nice I-LOC'],
      ['Obama B-PER', 'visited I-LOC', 'Rome B-LOC'],
      ['Alice B-PER', 'met O', 'Bob B-PER'],
    ]),
  );
  const args = ['data', 'build', '--train', train, '--num-sentences', '2', '--num-sequences', '1', '--mode', 'gq'];
  let r = await cli([...args, '--out', path.join(root, 'repair-a')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /repair-train\.txt:3: "I-LOC" starts an entity .*pass --repair-tags/);
  r = await cli([...args, '--out', path.join(root, 'repair-b'), '--repair-tags']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /note: \S+repair-train\.txt: --repair-tags re-encoded 2 tag\(s\)/);
  assert.ok(fs.existsSync(path.join(root, 'repair-b', 'Q.txt')));
});

test('data build: one stray label warns with its file and line and keeps the known words of the other labels', async () => {
  const train = file(
    'stray-train.txt',
    conll([
      ['Paris B-LOC', 'is O', 'nice O'],
      ['Obama B-PER', 'visited O', 'Rome B-LOC'],
      ['Alice B-PER', 'met O', 'Acme B-ORG'],
      ['Bob B-PER', 'saw O', 'Zork B-FOO'],
    ]),
  );
  const out = path.join(root, 'stray');
  const r = await cli([
    ...['data', 'build', '--train', train, '--num-sentences', '2', '--num-sequences', '2', '--mode', 'gq'],
    ...['--out', out],
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /warning: \S+stray-train\.txt:15: label "FOO" has no word in the conll2003 verbaliser \(PER, ORG, LOC, MISC\): its type word is "foo"; the other labels keep theirs \(pass --verbalizer FILE to choose\)/,
  );
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as {
    verbalizer: Record<string, string>;
  };
  assert.deepEqual(manifest.verbalizer, {
    PER: 'person',
    ORG: 'organization',
    LOC: 'location',
    MISC: 'miscellaneous',
    FOO: 'foo',
  });
});

test('data stats: a plain sentences file is read as text (and says so), not as CoNLL with tag "BP"', async () => {
  const s = file('S.txt', 'Shell BP\nGood morning\n');
  const r = await cli(['data', 'stats', s]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^format +text$/m);
  assert.match(r.out, /^sentences +2$/m);
  assert.match(
    r.err,
    /note: \S+S\.txt read as text, one sentence per line \(its lines do not end in tags\); pass --input-format to choose/,
  );
});

test('Q files: <none> inside a sequence is refused as a surface, naming the file and line', async () => {
  const q = file('Q-none.txt', 'Paris <sep> location\n<none> <sep> person\n');
  const r = await cli(['data', 'stats', q]);
  assert.equal(r.code, 1);
  assert.equal(
    r.err,
    `cyclener: ${q}:2: entity 1: surface "<none>" is a special token (a line holding only <none> means no entities)\n`,
  );
});

test('Q files: a rare type word close to a common one (a misspelling?) is warned about with its line', async () => {
  const lines = [...Array.from({ length: 30 }, (_, i) => `City${i} <sep> location`), 'Rome <sep> locaton'];
  lines.push('Bob <sep> person', 'Ann <sep> person');
  const q = file('Q-typo.txt', lines.join('\n') + '\n');
  const r = await cli(['data', 'stats', q]);
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.err,
    `warning: ${q}:31: type word "locaton" occurs 1 time in 33 entities and is close to "location" (30 times): a misspelling? Each type word of Q is a type S2E learns to emit\n`,
  );
});

test('predict --input /dev/stdin reads the pipe (once); an empty pipe says it is empty', () => {
  const out = path.join(root, 'stdin-pred.jsonl');
  const run = (input: string) =>
    spawnSync(
      process.execPath,
      [CLI_MAIN, 'predict', '--model', base, '--no-ground', '--input', '/dev/stdin', '--out', out, '--force'],
      {
        input,
        encoding: 'utf8',
        env: { ...process.env, CYCLENER_THREADS: '1' },
      },
    );
  let r = run(`${world.S[0]}\n${world.S[1]}\n`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.readFileSync(out, 'utf8').trim().split('\n').length, 2);
  r = run('');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cyclener: \/dev\/stdin: is empty \(nothing was read from this pipe or device\)/);
});

test('train: a line far longer than the model reads is cut before tokenising, with a warning naming file and line', async () => {
  const long = Array.from({ length: 4000 }, (_, i) => world.S[i % world.S.length]).join(' ');
  const s = file('S-long.txt', [world.S[0], long, world.S[2]].join('\n') + '\n');
  const q = file('Q-long.txt', world.Q.map((x) => x || '<none>').join('\n') + '\n');
  const out = path.join(root, 'run-long');
  const r = await cli([
    ...['train', '--sentences', s, '--entities', q, '--base-model', base, '--out', out],
    ...['--max-steps', '1', '--batch', '3', '--fp32'],
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    new RegExp(
      `warning: \\S+S-long\\.txt: 1 line longer than 6,144 characters cut to that length before tokenising \\(the models read at most 192 tokens\\): line 2 \\(${long.length.toLocaleString('en-US')} characters\\)`,
    ),
  );
});

test('train: S2E and E2S with different tokenizers are refused naming both (was: "index out of range in self")', async () => {
  const s = file('S-tok.txt', world.S.slice(0, 4).join('\n') + '\n');
  const q = file(
    'Q-tok.txt',
    world.Q.slice(0, 4)
      .map((x) => x || '<none>')
      .join('\n') + '\n',
  );
  const news = path.join(__dirname, '..', '..', '..', 'models', 'base-news-11m');
  const r = await cli([
    ...['train', '--sentences', s, '--entities', q, '--base-model', base, '--s2e-model', news],
    ...['--out', path.join(root, 'run-tok'), '--max-steps', '1', '--batch', '2', '--fp32'],
  ]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /S2E \(.*base-news-11m\) and E2S \(.*\) have different tokenizers or vocabularies \(16\d+ and \d+ tokens\): the cycles need one tokenizer/,
  );
});

test('a --model that is neither a local folder nor a reachable Hub id says both', async () => {
  const input = file('in-typo.txt', `${world.S[0]}\n`);
  const saved = { ...process.env };
  Object.assign(process.env, { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: path.join(root, 'hub-cache') });
  let r: Awaited<ReturnType<typeof cli>>;
  try {
    r = await cli([
      'predict',
      '--model',
      'no-such-model-dir',
      '--input',
      input,
      '--out',
      path.join(root, 'typo.jsonl'),
    ]);
  } finally {
    for (const k of ['HF_ENDPOINT', 'HF_HUB_CACHE']) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /^cyclener: --model no-such-model-dir: no such local folder, and as a Hub id: /);
});

test('predict streams a text file a chunk at a time: the same output as reading it whole; a bad line far in leaves no output', async () => {
  // 2,100 lines: three chunks of the stream (1,024 each), with a BOM, CRLF line ends and no final newline.
  const lines = Array.from({ length: 2100 }, (_, i) => world.S[i % world.S.length] as string);
  const text = `\ufeff${lines.join('\r\n')}`;
  const streamed = file('stream.txt', text);
  for (const format of ['jsonl', 'conll']) {
    const outFile = path.join(root, `stream.${format}`);
    const viaFile = await cli([
      'predict',
      '--model',
      base,
      '--input',
      streamed,
      '--out',
      outFile,
      '--format',
      format,
      '--max-new-tokens',
      '6',
      '--no-ground',
      '--force',
    ]);
    assert.equal(viaFile.code, 0, viaFile.err);
    assert.match(viaFile.err, /^2100 sentences/);
    // A pipe is read whole (the path the stream must match).
    const whole = path.join(root, `whole.${format}`);
    const r = spawnSync(
      process.execPath,
      [
        CLI_MAIN,
        'predict',
        '--model',
        base,
        '--input',
        '/dev/stdin',
        '--out',
        whole,
        '--format',
        format,
        '--max-new-tokens',
        '6',
        '--no-ground',
        '--force',
      ],
      { input: text, encoding: 'utf8', env: { ...process.env, CYCLENER_THREADS: '1' } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(outFile, 'utf8'), fs.readFileSync(whole, 'utf8'), `--format ${format}`);
  }
  // An empty line in the third chunk: named by its line, and nothing written (no output, no temp file).
  const bad = file('stream-bad.txt', [...lines.slice(0, 2050), '', ...lines.slice(2050)].join('\n') + '\n');
  const badOut = path.join(root, 'stream-bad.jsonl');
  const r = await cli([
    'predict',
    '--model',
    base,
    '--input',
    bad,
    '--out',
    badOut,
    '--max-new-tokens',
    '6',
    '--no-ground',
    '--no-ground',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.err, /stream-bad\.txt:2051: empty line \(one sentence per line\)/);
  assert.equal(fs.existsSync(badOut), false);
  assert.deepEqual(
    fs.readdirSync(root).filter((f) => f.includes('stream-bad.jsonl')),
    [],
    'no temp file or lock left',
  );
  // Invalid UTF-8 on a line of a later chunk names that line and column.
  const buf = Buffer.concat([
    Buffer.from(lines.slice(0, 1500).join('\n') + '\nab'),
    Buffer.from([0xff]),
    Buffer.from('c\n'),
  ]);
  fs.writeFileSync(path.join(root, 'stream-utf8.txt'), buf);
  const u = await cli([
    'predict',
    '--model',
    base,
    '--input',
    path.join(root, 'stream-utf8.txt'),
    '--out',
    badOut,
    '--no-ground',
  ]);
  assert.equal(u.code, 1);
  assert.match(u.err, /stream-utf8\.txt:1501: not valid UTF-8 \(byte 0xff at column 3/);
});
