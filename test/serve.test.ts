// `cyclener serve` (src/serve): real HTTP on loopback with a tiny model. Every endpoint, dynamic batching across
// concurrent requests, 503 + Retry-After on a full queue, each 4xx, CORS, graceful close, and the CLI on SIGTERM.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../src/tensor';
import { NerModel } from '../src/api/ner-model';
import { startServer } from '../src/serve/server';
import { tinyTaggerBase } from './cli-helpers';

T.setNumThreads(1);

/** A gate a test holds batches at: `hold()` makes the next batches wait until `release()`. */
function gate() {
  let open: Promise<void> = Promise.resolve();
  let release = () => undefined as void;
  return {
    hold() {
      open = new Promise<void>((r) => {
        release = r;
      });
    },
    release: () => release(),
    wait: () => open,
  };
}

const post = (url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${url}/v1/entities`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), what);
}

test('serve: endpoints, batching, full queue, bad requests, CORS off, page, graceful close', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-'));
  const { world, base } = tinyTaggerBase(root);
  // fp32: results must not depend on which texts share a batch (bf16 rounding can flip a random model's near-ties).
  const model = await NerModel.load(base, { maxSourceTokens: 24, overlapTokens: 3, precision: 'fp32' });
  const batches: number[] = [];
  const g = gate();
  const server = await startServer({
    model,
    port: 0,
    maxBatch: 4,
    maxWaitMs: 300,
    maxQueue: 6,
    maxTexts: 5,
    maxChars: 400,
    maxBodyBytes: 1500,
    retryAfterS: 2,
    onBatch: async (n) => {
      batches.push(n);
      await g.wait();
    },
  });
  const url = server.url;
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    let r = await fetch(`${url}/health`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ok', queue: 0 });
    assert.equal(r.headers.get('access-control-allow-origin'), null, 'CORS off by default');

    r = await fetch(`${url}/v1/model`);
    const info = (await r.json()) as Record<string, unknown>;
    assert.deepEqual(info.types, ['location', 'organization', 'person']);
    assert.deepEqual(info.labels, ['LOC', 'ORG', 'PER']);
    assert.deepEqual(info.decode, { grounded: true, maxNewTokens: 128, numBeams: 1, precision: 'fp32' });
    assert.deepEqual(info.limits, { maxBodyBytes: 1500, maxTexts: 5, maxChars: 400 });
    assert.equal(info.model, path.resolve(base));

    r = await fetch(`${url}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    const page = await r.text();
    assert.match(page, /<textarea id="text"/);
    assert.match(page, /fetch\("v1\/entities"/);
    assert.ok(!/innerHTML/.test(page), 'user text never reaches the page as HTML');

    // Results equal the library's, for short texts and one the model sees in pieces.
    const sents = world.evalSet.sentences.map((s) => s.text).slice(0, 3);
    const long = Array.from({ length: 6 }, () => sents[0]!.replace(/[.!?]$/, '')).join(' and ');
    const want = await model.predict([...sents, long, sents[1]!]);
    r = await post(url, { texts: [...sents, long, sents[1]!] });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { results: want });
    assert.deepEqual(batches, [4, 1], '5 texts: a full batch of 4 at once, the 5th after it');

    // Concurrent requests share batches: four 1-text requests form one batch of 4.
    batches.length = 0;
    const rs = await Promise.all(sents.concat(sents[0]!).map((t) => post(url, { texts: [t] })));
    assert.deepEqual(
      rs.map((x) => x.status),
      [200, 200, 200, 200],
    );
    assert.deepEqual(batches, [4]);
    assert.deepEqual((await rs[2]!.json()) as unknown, { results: [want[2]] });

    // Full queue: a held batch of 4 runs, 5 texts wait; a request of 2 more would make 7 > 6: 503 + Retry-After.
    batches.length = 0;
    g.hold();
    const running = post(url, { texts: sents.concat(sents[0]!) });
    await until(() => batches.length === 1, 'first batch started');
    const waiting = post(url, { texts: [sents[0]!, sents[1]!, sents[2]!, sents[0]!, sents[1]!] });
    await until(() => server.stats().waiting === 5, 'five texts waiting');
    r = await post(url, { texts: [sents[0]!, sents[1]!] });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '2');
    assert.match(((await r.json()) as { error: string }).error, /queue full \(5 of 6 texts waiting\)/);
    g.release();
    assert.equal((await running).status, 200);
    const w = (await (await waiting).json()) as { results: unknown[] };
    assert.deepEqual(w.results, [want[0], want[1], want[2], want[0], want[1]]);

    // Bad requests: each a clear 4xx, and the server keeps serving.
    const bad: [unknown, number, RegExp, Record<string, string>?][] = [
      ['{"texts": [', 400, /^invalid JSON/],
      [{ texts: [1] }, 400, /body\/texts\/0 must be string/],
      [{ texts: 'abc' }, 400, /body\/texts must be array/],
      [{}, 400, /must have required property 'texts'/],
      [{ texts: ['a'], extra: 1 }, 400, /must NOT have additional properties/],
      [{ texts: [] }, 400, /body\/texts must NOT have fewer than 1 items/],
      [{ texts: ['ok', '  '] }, 400, /^texts\[1\] is empty$/],
      [{ texts: ['a', 'b', 'c', 'd', 'e', 'f'] }, 400, /body\/texts must NOT have more than 5 items/],
      [{ texts: ['x'.repeat(401)] }, 400, /body\/texts\/0 must NOT have more than 400 characters/],
      [{ texts: ['a'], offsets: 'bytes' }, 400, /body\/offsets must be equal to one of the allowed values/],
      [
        { texts: ['y'.repeat(390), 'y'.repeat(390), 'y'.repeat(390), 'y'.repeat(390), 'y'.repeat(390)] },
        413,
        /request body larger than 1500 bytes/,
      ],
      ['texts=a', 415, /send the body as application\/json/, { 'content-type': 'text/plain' }],
      ['', 400, /empty body/],
    ];
    for (const [body, status, msg, headers] of bad) {
      const x = await post(url, body, headers);
      const j = (await x.json()) as { error: string };
      assert.equal(x.status, status, `${JSON.stringify(body).slice(0, 40)}: ${j.error}`);
      assert.match(j.error, msg);
    }
    r = await fetch(`${url}/v1/nope`);
    assert.equal(r.status, 404);
    assert.deepEqual(await r.json(), { error: 'no route GET /v1/nope' });
    r = await post(url, { texts: [sents[1]!], offsets: 'codepoints' });
    assert.deepEqual(await r.json(), { results: [want[1]] }, 'still serving (ASCII: code points = UTF-16)');

    // Graceful close: an in-flight request finishes, a new one gets 503, then the port closes.
    batches.length = 0;
    g.hold();
    const inflight = post(url, { texts: [sents[2]!] });
    await until(() => batches.length === 1, 'in-flight batch started');
    const closed = server.close();
    r = await fetch(`${url}/health`);
    assert.equal(r.status, 503);
    assert.match(((await r.json()) as { error: string }).error, /shutting down/);
    g.release();
    const done = await inflight;
    assert.equal(done.status, 200);
    assert.deepEqual(await done.json(), { results: [want[2]] });
    await closed;
    await assert.rejects(fetch(`${url}/health`));
    assert.equal(server.stats().inFlight, 0);
  } finally {
    g.release();
    await server.close();
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('serve: CORS only when an origin is given', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-cors-'));
  const { base } = tinyTaggerBase(root);
  const model = await NerModel.load(base);
  const server = await startServer({ model, port: 0, corsOrigin: 'http://app.test' });
  try {
    const r = await fetch(`${server.url}/v1/entities`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.test', 'access-control-request-method': 'POST' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://app.test');
    assert.equal(r.headers.get('access-control-allow-methods'), 'POST');
  } finally {
    await server.close();
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('cli: cyclener serve answers, then exits 0 on SIGTERM', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-cli-'));
  const { base } = tinyTaggerBase(root);
  const bin = path.resolve(__dirname, '..', '..', 'bin', 'cyclener');
  const child = spawn(bin, ['serve', '--model', base, '--port', '0', '--threads', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 600 && !/ on (http:\S+)/.test(out); i++) await new Promise((r) => setTimeout(r, 10));
    const url = / on (http:\S+)/.exec(out)?.[1];
    assert.ok(url, `no URL printed: ${out} ${err}`);
    const r = await fetch(`${url}/v1/entities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"texts": ["Hello there."]}',
    });
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(((await r.json()) as { results: unknown[] }).results[0]));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, err);
    assert.match(err, /SIGTERM: finishing 0 request\(s\) in flight/);
    assert.match(err, /stopped: 1 requests, 1 texts in 1 batches/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
  }
});
