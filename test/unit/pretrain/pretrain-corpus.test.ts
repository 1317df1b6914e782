import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  newStats,
  readDocuments,
  readLines,
  describeProblems,
  readHeldOut,
  TrainStream,
  parseMixture,
  type DataOptions,
} from '../../../src/pretrain';
import { corpusLines, tmpDir } from '../../helpers/pretrain-helpers';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function writeXz(file: string, data: Buffer): void {
  fs.writeFileSync(file, execFileSync('xz', ['-c', '-1'], { input: data }));
}

test('plain and .xz corpora stream the same lines; startLine skips', async () => {
  const dir = tmpDir('corpus');
  const lines = corpusLines(50);
  const plain = path.join(dir, 'c.txt');
  fs.writeFileSync(plain, lines.join('\n') + '\n');
  writeXz(path.join(dir, 'c.txt.xz'), Buffer.from(lines.join('\n'))); // no final newline
  const a = await collect(readLines([plain]));
  const b = await collect(readLines([path.join(dir, 'c.txt.xz')]));
  assert.deepEqual(
    a.map((l) => l.text),
    lines,
  );
  assert.deepEqual(b, a);
  const c = await collect(readLines([plain, path.join(dir, 'c.txt.xz')], { startLine: 70 }));
  assert.deepEqual(
    c.map((l) => l.lineNo),
    Array.from({ length: 30 }, (_, i) => 70 + i),
  );
  assert.equal(c[0]!.text, lines[20]);
  const docs = await collect(readDocuments([plain], { startLine: 10, startDoc: 10 }));
  assert.equal(docs[0]!.docIndex, 10);
  assert.equal(docs[0]!.sentences.join(' '), lines[10]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('invalid UTF-8, over-long lines and a truncated .xz give counted warnings, not a crash', async () => {
  const dir = tmpDir('corrupt');
  const good = corpusLines(200, 3);
  const parts = [
    Buffer.from(good.slice(0, 5).join('\n') + '\n'),
    Buffer.from([0x41, 0x20, 0xc3, 0x28, 0xff, 0x0a]),
    Buffer.from('x'.repeat(5000) + '\n'),
    Buffer.from(good.slice(5).join('\n') + '\n'),
  ];
  const data = Buffer.concat(parts);
  const plain = path.join(dir, 'bad.txt');
  fs.writeFileSync(plain, data);
  const stats = newStats();
  const got = await collect(readLines([plain], { stats, maxLineBytes: 4096 }));
  assert.equal(got.length, 200);
  assert.equal(stats.invalidUtf8, 1);
  assert.equal(stats.tooLong, 1);
  assert.equal(stats.lines, 202);
  assert.match(describeProblems(stats)!, /1 line\(s\) with invalid UTF-8; 1 over-long line/);

  const xz = path.join(dir, 'bad.txt.xz');
  writeXz(xz, data);
  const full = fs.readFileSync(xz);
  const cut = path.join(dir, 'cut.txt.xz');
  fs.writeFileSync(cut, full.subarray(0, Math.floor(full.length * 0.6)));
  const s2 = newStats();
  const partial = await collect(readLines([cut, plain], { stats: s2, maxLineBytes: 4096 }));
  assert.ok(partial.length > 200, 'the next file is still read');
  assert.equal(s2.streamErrors.length, 1);
  assert.match(s2.streamErrors[0]!, /cut\.txt\.xz: xz failed/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('held-out documents are never trained on; the stream wraps into a new epoch', async () => {
  const dir = tmpDir('stream');
  const file = path.join(dir, 'c.txt');
  // Document i is a single distinctive sentence, so we can see which documents were sampled.
  fs.writeFileSync(
    file,
    Array.from({ length: 30 }, (_, i) => `Document number ${i} talks about Berlin and Paris.`).join('\n') + '\n',
  );
  const opts: DataOptions = {
    files: [file],
    mixture: parseMixture('sent2frag'),
    holdoutEvery: 10,
    chunkDocs: 7,
    maxSource: 64,
    maxTarget: 64,
  };
  const held = await readHeldOut(opts, 10);
  assert.deepEqual(
    held.map((d) => d[0]),
    [0, 10, 20].map((i) => `Document number ${i} talks about Berlin and Paris.`),
  );
  // The stream only needs encodeBatch (and an EOS id); a stub keeps this test free of tokenizer training.
  const seen = new Set<number>();
  const stub = {
    inner: { tokenToId: () => 99 },
    eosId: 1,
    encodeBatch: async (t: string[]) => {
      for (const x of t) {
        const m = /number (\d+)/.exec(x);
        if (m) seen.add(Number(m[1]));
      }
      return t.map(() => [5, 6, 7]);
    },
  } as never;
  const stream = new TrainStream(opts, stub, 0);
  for (let i = 0; i < 20; i++) await stream.batch(5);
  assert.ok(stream.state().position.epoch >= 1, 'wrapped into a second epoch');
  stream.close();
  assert.ok(seen.size > 15);
  for (const h of [0, 10, 20]) assert.ok(!seen.has(h), `held-out doc ${h} was trained on`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a restored data state continues with the same batches', async () => {
  const dir = tmpDir('state');
  const file = path.join(dir, 'c.txt');
  fs.writeFileSync(file, corpusLines(40, 5).join('\n') + '\n');
  const opts: DataOptions = {
    files: [file],
    mixture: parseMixture('denoise=1,frag2sent=1,sent2frag=1'),
    holdoutEvery: 200,
    chunkDocs: 6,
    maxSource: 512,
    maxTarget: 512,
  };
  const texts: string[] = [];
  const stub = {
    inner: { tokenToId: () => 99 },
    eosId: 1,
    encodeBatch: async (t: string[]) => {
      texts.push(...t);
      return t.map(() => [5, 6]);
    },
  } as never;
  const a = new TrainStream(opts, stub, 3);
  for (let i = 0; i < 7; i++) await a.batch(9);
  const st = a.state();
  texts.length = 0;
  for (let i = 0; i < 9; i++) await a.batch(9);
  const expected = [...texts];
  a.close();
  texts.length = 0;
  const b = new TrainStream(opts, stub, 3, JSON.parse(JSON.stringify(st)));
  for (let i = 0; i < 9; i++) await b.batch(9);
  b.close();
  assert.deepEqual(texts, expected);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a restored data state continues with the same batches: packed span windows across chunk documents', async () => {
  const dir = tmpDir('state-packed');
  const file = path.join(dir, 'c.txt');
  fs.writeFileSync(file, corpusLines(40, 6).join('\n') + '\n');
  const opts: DataOptions = {
    files: [file],
    mixture: parseMixture('span=2,denoise=1'),
    holdoutEvery: 200,
    chunkDocs: 8,
    maxSource: 32,
    maxTarget: 32,
    spanInputs: 'packed',
  };
  // Word-level stub tokenizer: one id per word, so a window of spanRawLength(32, 32) = 34 words.
  const stub = {
    inner: { tokenToId: () => 999 },
    eosId: 1,
    encodeBatch: async (t: string[]) => t.map((x) => x.split(' ').map((w) => 3 + (w.length % 50))),
  } as never;
  const run = async (s: TrainStream, n: number) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await s.batch(9));
    return out;
  };
  const a = new TrainStream(opts, stub, 3);
  await run(a, 5);
  const st = a.state();
  const expected = await run(a, 8);
  a.close();
  const span = expected.flat().filter((e) => e.objective === 'span');
  assert.ok(span.length > 20);
  assert.ok(
    span.filter((e) => e.source.length === 32).length >= span.length - a.spanStats.short,
    'full windows fill maxSource',
  );
  assert.ok(span.every((e) => e.target.length <= 32));
  const b = new TrainStream(opts, stub, 3, JSON.parse(JSON.stringify(st)));
  assert.deepEqual(await run(b, 8), expected);
  b.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
