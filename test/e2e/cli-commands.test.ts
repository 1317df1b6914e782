import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/cli/commands';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { COMMAND_MODULES } from '../../src/cli/commands/lazy';
import { listCommands, runCli } from '../../src/cli/registry';

const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'cyclener-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

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

/** A CoNLL file of n sentences "PersonK met PlaceK ." with unique names. */
function bigConll(name: string, n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(
      `Person${i} NNP I-NP I-PER`,
      'met VBD I-VP O',
      i % 4 === 3 ? 'nobody NN I-NP O' : `Place${i} NNP I-NP I-LOC`,
      '. . O O',
      '',
    );
  }
  const p = join(tmp, name);
  writeFileSync(p, lines.join('\n'));
  return p;
}

/** `data build` of a small GQ configuration (20 S, 10 Q, dev 6/4, seed 3). */
function gqBuildArgs(train: string, dev: string, out: string): string[] {
  const counts = [
    '--num-sentences',
    '20',
    '--num-sequences',
    '10',
    '--dev-num-sentences',
    '6',
    '--dev-num-sequences',
    '4',
  ];
  return ['data', 'build', '--train', train, '--dev', dev, ...counts, '--mode', 'gq', '--out', out, '--seed', '3'];
}

test('--help lists the registered commands', async () => {
  const r = await cli('--help');
  assert.equal(r.code, 0);
  for (const c of ['data stats', 'data build', 'evaluate', 'baseline lexical']) assert.match(r.out, new RegExp(c));
  const sub = await cli('data', 'build', '--help');
  assert.equal(sub.code, 0);
  assert.match(sub.out, /--config NAME/);
});

test('unknown flags, unknown commands and missing files: one line, exit 2', async () => {
  for (const argv of [
    ['data', 'stats', 'x.txt', '--bogus'],
    ['frobnicate'],
    ['data', 'stats', join(tmp, 'missing.txt')],
    ['evaluate', '--gold', 'a'],
  ]) {
    const r = await cli(...argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.doesNotMatch(r.err, /\s+at\s/);
  }
  assert.match((await cli('data', 'stats', 'x.txt', '--bogus')).err, /unknown option --bogus/);
  assert.match((await cli('data', 'stats', join(tmp, 'missing.txt'))).err, /missing\.txt: no such file/);
});

test('malformed data: exit 1 with file:line: problem', async () => {
  const p = join(tmp, 'bad.txt');
  writeFileSync(p, 'EU NNP I-NP I-ORG\nrejects VBZ\n');
  const r = await cli('data', 'stats', p);
  assert.equal(r.code, 1);
  assert.equal(
    r.err.trim(),
    `cyclener: ${p}:2: expected 4 space-separated columns (as on line 1), found 2: "rejects VBZ"`,
  );
});

test('data stats counts sentences, tokens and entities', async () => {
  const r = await cli('data', 'stats', join(FIX, 'conll-mini.txt'), '--json');
  assert.equal(r.code, 0);
  const s = JSON.parse(r.out);
  assert.deepEqual(
    [s.sentences, s.tokens, s.documents, s.entities, s.sentencesWithoutEntities, s.scheme],
    [5, 30, 2, 10, 1, 'IOB1'],
  );
  assert.deepEqual(s.entitiesByType, { LOC: 4, MISC: 2, ORG: 2, PER: 2 });
  const t = await cli('data', 'stats', join(FIX, 'conll-mini.txt'));
  assert.match(t.out, /^sentences\s+5$/m);
});

test('data build (GQ): files, manifest, independence, reproducibility, test split refused', async () => {
  const train = bigConll('train.txt', 40);
  const dev = bigConll('dev.txt', 12);
  const out = join(tmp, 'gq');
  const args = gqBuildArgs(train, dev, out);
  const r = await cli(...args);
  assert.equal(r.code, 0, r.err);
  for (const f of ['S.txt', 'Q.txt', 'dev_S.txt', 'dev_Q.txt', 'dev_gold.jsonl', 'manifest.json'])
    assert.ok(existsSync(join(out, f)), f);
  const S = readFileSync(join(out, 'S.txt'), 'utf8').trim().split('\n');
  const Q = readFileSync(join(out, 'Q.txt'), 'utf8').trim().split('\n');
  assert.equal(S.length, 20);
  assert.equal(Q.length, 10);
  assert.match(Q[0]!, /^Person\d+ <sep> person( <sep> Place\d+ <sep> location)?$/);
  const sPersons = new Set(S.map((l) => l.split(' ')[0]));
  for (const q of Q) assert.ok(!sPersons.has(q.split(' ')[0]), `Q line "${q}" comes from a sentence of S`);
  const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.equal(m.seed, 3);
  assert.deepEqual(m.actual, { S: 20, Q: 10, devS: 6, devQ: 4 });
  const first = readFileSync(join(out, 'Q.txt'), 'utf8');
  assert.equal((await cli(...args)).code, 2); // exists, no --force
  assert.equal((await cli(...args, '--force')).code, 0);
  assert.equal(readFileSync(join(out, 'Q.txt'), 'utf8'), first);
  // The old names of the dev counts still work, with a warning each.
  const old = await cli(...args.map((a) => a.replace('--dev-num-', '--dev-')), '--force');
  assert.equal(old.code, 0, old.err);
  assert.match(
    old.err,
    /^cyclener: warning: --dev-sentences is now --dev-num-sentences \(the old name still works for now\)\ncyclener: warning: --dev-sequences is now --dev-num-sequences/,
  );
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).actual, {
    S: 20,
    Q: 10,
    devS: 6,
    devQ: 4,
  });
  assert.equal(readFileSync(join(out, 'Q.txt'), 'utf8'), first);
  const testFile = bigConll('test.txt', 5);
  const refused = await cli(
    'data',
    'build',
    '--train',
    testFile,
    '--num-sentences',
    '2',
    '--num-sequences',
    '2',
    '--mode',
    'gq',
    '--out',
    join(tmp, 'x'),
  );
  assert.equal(refused.code, 2);
  assert.match(refused.err, /test split/);
});

test('data build (SQ) is deterministic under --seed', async () => {
  const train = bigConll('train2.txt', 60);
  const run = async (dir: string, seed: string) => {
    const r = await cli(
      'data',
      'build',
      '--train',
      train,
      '--num-sentences',
      '30',
      '--num-sequences',
      '25',
      '--mode',
      'sq',
      '--seed-entities',
      '20',
      '--out',
      join(tmp, dir),
      '--seed',
      seed,
    );
    assert.equal(r.code, 0, r.err);
    return readFileSync(join(tmp, dir, 'Q.txt'), 'utf8');
  };
  const a = await run('sq1', '5');
  assert.equal(await run('sq2', '5'), a);
  assert.notEqual(await run('sq3', '6'), a);
  assert.equal(a.trim().split('\n').length, 25);
});

test('data build by config name with --data-dir', async () => {
  const dir = join(tmp, 'data', 'conll2003');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.txt'), readFileSync(bigConll('t3.txt', 30)));
  writeFileSync(join(dir, 'dev.txt'), readFileSync(bigConll('d3.txt', 10)));
  const r = await cli(
    'data',
    'build',
    '--config',
    'conll2003/0.01k/0.01k-gq',
    '--data-dir',
    join(tmp, 'data'),
    '--out',
    join(tmp, 'cfg'),
  );
  assert.equal(r.code, 0, r.err);
  const m = JSON.parse(readFileSync(join(tmp, 'cfg', 'manifest.json'), 'utf8'));
  assert.equal(m.config, 'conll2003/0.01k/0.01k-gq');
  assert.deepEqual([m.actual.S, m.actual.Q], [10, 10]);
  assert.match(r.err, /note: dev: only 10 sentences available/); // Table 3 dev size (3.2k) exceeds the tiny dev file
});

test('evaluate: sequences against CoNLL gold, and identical CoNLL files', async () => {
  const pred = join(tmp, 'pred.txt');
  // Sentence 3 gold: Paris/LOC Paris/LOC Hilton/PER EU/ORG.
  writeFileSync(
    pred,
    [
      'EU <sep> organization <sep> German <sep> miscellaneous <sep> British <sep> location',
      'Peter Blackburn <sep> person',
      'Paris <sep> location <sep> Paris Hilton <sep> person <sep> Rome <sep> location',
      '',
      'Spain <sep> location <sep> France <sep> location',
    ].join('\n') + '\n',
  );
  const r = await cli('evaluate', '--gold', join(FIX, 'conll-mini.txt'), '--pred', pred, '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  // pred mentions 9: s1 3 (British is MISC in gold), s2 1, s3 3 (Paris Hilton is wrong, Rome is not in the
  // sentence and still counts), s5 2; correct: EU, German, Peter Blackburn, Paris, Spain, France = 6; gold 10
  assert.deepEqual([j.exact.micro.correct, j.exact.micro.pred, j.exact.micro.gold], [6, 9, 10]);
  assert.equal(j.alignment.hallucinated, 1);
  const same = await cli('evaluate', '--gold', join(FIX, 'conll-mini.txt'), '--pred', join(FIX, 'conll-mini.txt'));
  assert.equal(same.code, 0, same.err);
  assert.match(same.out, /micro\s+1\.000\s+1\.000\s+1\.000\s+10\s+10\s+10/);
  const short = join(tmp, 'short.txt');
  writeFileSync(short, 'EU <sep> organization\n');
  const bad = await cli('evaluate', '--gold', join(FIX, 'conll-mini.txt'), '--pred', short);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /has 1 lines but the gold file .* has 5 sentences/);
});

test('baseline lexical runs and scores', async () => {
  const q = join(tmp, 'Q.txt');
  writeFileSync(q, 'Paris <sep> location <sep> EU <sep> organization\nParis <sep> person\nParis <sep> location\n');
  const r = await cli('baseline', 'lexical', '--q', q, '--gold', join(FIX, 'conll-mini.txt'), '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  // predictions: EU (s1), Paris, Paris, EU (s3) -> all 4 correct; gold 10
  assert.deepEqual([j.exact.micro.correct, j.exact.micro.pred, j.exact.micro.gold, j.gazetteerEntries], [4, 4, 10, 2]);
});

test('library buildData writes what data build writes (same files, same seed)', async () => {
  const { buildData } = await import('../../src/index');
  const train = bigConll('lib-train.txt', 40);
  const dev = bigConll('lib-dev.txt', 12);
  const a = join(tmp, 'lib-cli');
  const b = join(tmp, 'lib-api');
  const r = await cli(...gqBuildArgs(train, dev, a));
  assert.equal(r.code, 0, r.err);
  const res = buildData({ train, dev, out: b, mode: 'gq', numS: 20, numQ: 10, devNumS: 6, devNumQ: 4, seed: 3 });
  assert.deepEqual(res.counts, { S: 20, Q: 10, devS: 6, devQ: 4 });
  for (const f of ['S.txt', 'Q.txt', 'dev_S.txt', 'dev_Q.txt', 'dev_gold.jsonl'])
    assert.equal(readFileSync(join(b, f), 'utf8'), readFileSync(join(a, f), 'utf8'), f);
});

test('library buildData of a known dataset takes its Table 3 dev sizes, as data build does', async () => {
  const { buildData } = await import('../../src/index');
  const train = bigConll('t3-train.txt', 40);
  const dev = bigConll('t3-dev.txt', 12);
  const a = join(tmp, 't3-cli');
  const b = join(tmp, 't3-api');
  const argv = ['data', 'build', '--train', train, '--dev', dev, '--num-sentences', '20', '--num-sequences', '10'];
  const r = await cli(...argv, '--mode', 'gq', '--dataset', 'conll2003', '--out', a, '--seed', '3');
  assert.equal(r.code, 0, r.err);
  const res = buildData({ train, dev, out: b, mode: 'gq', numS: 20, numQ: 10, seed: 3, dataset: 'conll2003' });
  const manifest = (d: string) => {
    const m = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    return JSON.stringify(m).split(d).join('OUT');
  };
  assert.equal(manifest(b), manifest(a));
  assert.match(manifest(b), /3200/, 'conll2003 GQ dev #S (Table 3)');
  for (const n of res.notices) assert.match(r.err, new RegExp(n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  for (const f of ['S.txt', 'Q.txt', 'dev_S.txt', 'dev_Q.txt', 'dev_gold.jsonl'])
    assert.equal(readFileSync(join(b, f), 'utf8'), readFileSync(join(a, f), 'utf8'), f);
});

test('data stats / data build: --input-format (the input, as in predict, where --format is the output); the old names warn', async () => {
  const s = join(tmp, 'fmt-S.txt');
  writeFileSync(s, 'Paris is nice .\nBerlin too .\n');
  const now = await cli('data', 'stats', s, '--input-format', 'text', '--json');
  assert.equal(now.code, 0, now.err);
  assert.equal(now.err, '');
  const old = await cli('data', 'stats', s, '--format', 'text', '--json');
  assert.equal(old.code, 0, old.err);
  assert.equal(old.out, now.out);
  assert.equal(old.err, 'cyclener: warning: --format is now --input-format (the old name still works for now)\n');
  const train = bigConll('fmt-train.txt', 40);
  const seeds = join(tmp, 'fmt-seeds.tsv');
  writeFileSync(seeds, 'Person1\tperson\nPlace2\tlocation\n');
  const argv = ['data', 'build', '--train', train, '--num-sentences', '20', '--num-sequences', '10', '--mode', 'sq'];
  const a = await cli(...argv, '--out', join(tmp, 'fmt-a'), '--seed-file', seeds, '--input-format', 'conll');
  assert.equal(a.code, 0, a.err);
  const b = await cli(...argv, '--out', join(tmp, 'fmt-b'), '--seeds', seeds, '--format', 'conll');
  assert.equal(b.code, 0, b.err);
  assert.match(b.err, /warning: --seeds is now --seed-file/);
  assert.match(b.err, /warning: --format is now --input-format/);
  for (const f of ['S.txt', 'Q.txt'])
    assert.equal(readFileSync(join(tmp, 'fmt-b', f), 'utf8'), readFileSync(join(tmp, 'fmt-a', f), 'utf8'), f);
});

test('the command map names every registered command, and a command loads only its own module', () => {
  assert.deepEqual(
    Object.keys(COMMAND_MODULES).sort(),
    listCommands().map((c) => c.name),
  );
  // A preload that writes the loaded modules at exit: `predict --help` must not load the server, the experiment runner
  // or the trainers (start-up time); `serve --help` does load the server.
  const spy = join(tmp, 'loaded.js');
  writeFileSync(
    spy,
    `process.on('exit', () => require('fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify(Object.keys(require.cache))));`,
  );
  const main = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const loaded = (...argv: string[]): string[] => {
    const out = join(tmp, `loaded-${argv[0]}.json`);
    const r = spawnSync(process.execPath, ['--require', spy, main, ...argv], {
      env: { ...process.env, LOADED_OUT: out },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(readFileSync(out, 'utf8')) as string[];
  };
  const heavy =
    /[/\\](serve|experiments|cycle[/\\]trainer|pretrain[/\\]pretrain)\.js$|[/\\]node_modules[/\\]fastify[/\\]/;
  const predict = loaded('predict', '--help');
  assert.ok(predict.some((f) => /commands[/\\]predict\.js$/.test(f)));
  assert.deepEqual(
    predict.filter((f) => heavy.test(f) || /commands[/\\](serve|train|experiment)\.js$/.test(f)),
    [],
  );
  assert.ok(loaded('serve', '--help').some((f) => /[/\\]serve[/\\]server\.js$/.test(f)));
});

test('a reader that closes the pipe early (cyclener ... | head) ends the command quietly, as SIGPIPE ends a Unix tool', async () => {
  const main = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [main, 'experiment', 'table5a', '--dry-run'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The reader goes away before the command writes its first line (it loads libtorch first), so every write fails.
  child.stdout.destroy();
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  assert.equal(signal, null);
  assert.equal(code, 141, err);
  assert.doesNotMatch(err, /EPIPE|Unhandled|\n\s+at /, err);
});
