// `cyclener serve` (src/serve): real HTTP on loopback with a tiny model. Every endpoint, dynamic batching across
// concurrent requests, 503 + Retry-After on a full queue (never for a request that could not succeed on retry), each
// 4xx (invalid UTF-8 too), CORS, the model's name without its path, timeouts for slow clients, graceful close, and
// the CLI on SIGTERM.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { NerModel } from '../../src/api/ner-model';
import { startServer } from '../../src/serve/server';
import { DecodeStream } from '../../src/t5/generation';
import { tinyTaggerBase } from '../helpers/cli-helpers';

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

type Results = { results: { score: number }[][] };
/**
 * Equal answers; each score equal to float32 precision: a score depends in its last digits on which texts shared the
 * batch (padding changes the rounding), the entities do not.
 */
function sameResults(got: unknown, want: Results, what = ''): void {
  const strip = (r: Results) => r.results.map((es) => es.map(({ score: _, ...e }) => e));
  assert.deepEqual(strip(got as Results), strip(want), what);
  (got as Results).results.forEach((es, i) =>
    es.forEach((e, j) => assert.ok(Math.abs(e.score - want.results[i]![j]!.score) < 1e-5, what)),
  );
}

const post = (url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${url}/v1/entities`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
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
    // A name, not the server's filesystem path (see the --show-model-path test below).
    assert.equal(info.model, 'base');
    assert.deepEqual(info.source, { name: 'base' });
    assert.ok(!JSON.stringify(info).includes(root), JSON.stringify(info));

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
    sameResults(await r.json(), { results: want });
    assert.deepEqual(batches, [4, 1], '5 texts: a full batch of 4 at once, the 5th after it');

    // Concurrent requests share batches: four 1-text requests form one batch of 4.
    batches.length = 0;
    const rs = await Promise.all(sents.concat(sents[0]!).map((t) => post(url, { texts: [t] })));
    assert.deepEqual(
      rs.map((x) => x.status),
      [200, 200, 200, 200],
    );
    assert.deepEqual(batches, [4]);
    sameResults(await rs[2]!.json(), { results: [want[2]!] });

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
    sameResults(await (await waiting).json(), { results: [want[0]!, want[1]!, want[2]!, want[0]!, want[1]!] });

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
      // Latin-1 "café": the CLI refuses such input, and the server must not turn it into U+FFFD.
      [
        Buffer.from('{"texts": ["caf\xe9 au lait"]}', 'latin1'),
        400,
        /^request body is not valid UTF-8 \(byte 0xe9 at offset 15\); send JSON encoded as UTF-8$/,
      ],
      ['', 400, /empty body/],
      // Valid JSON that Fastify refuses (prototype poisoning): the message says why, not "invalid JSON".
      ['{"texts": ["Anna"], "__proto__": {"x": 1}}', 400, /^the keys "__proto__" and "constructor" are not allowed/],
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
    sameResults(await r.json(), { results: [want[1]!] }, 'still serving (ASCII: code points = UTF-16)');

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
    sameResults(await done.json(), { results: [want[2]!] });
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

test('serve: every entity has a score; threshold (server default, per request) and ?format= as the library gives them', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-fmt-'));
  const { world, base } = tinyTaggerBase(root);
  const model = await NerModel.load(base, { precision: 'fp32' });
  const sents = world.evalSet.sentences.map((s) => s.text);
  const all = await model.predict(sents);
  const scores = all
    .flat()
    .map((e) => e.score)
    .sort((a, b) => a - b);
  const t = scores[Math.floor(scores.length / 2)]!;
  const server = await startServer({ model, port: 0, threshold: t });
  try {
    const info = (await (await fetch(`${server.url}/v1/model`)).json()) as { score: unknown };
    assert.deepEqual(info.score, { temperature: 1, threshold: t, calibrated: 'none' });
    const get = async (query: string, body: Record<string, unknown>) => {
      const r = await fetch(`${server.url}/v1/entities${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ texts: sents, ...body }),
      });
      return { status: r.status, body: (await r.json()) as { results?: unknown[]; error?: string } };
    };
    // The server's default threshold, a request's own (0 keeps everything), the same in every format.
    assert.deepEqual((await get('', {})).body.results, await model.predict(sents, { threshold: t }));
    assert.deepEqual((await get('', { threshold: 0 })).body.results, all);
    assert.ok(all.flat().every((e) => e.score > 0 && e.score <= 1));
    for (const format of ['cyclener', 'hf', 'spacy', 'conll'] as const)
      assert.deepEqual(
        (await get(`?format=${format}`, { threshold: 0.2, offsets: 'codepoints' })).body.results,
        await model.predict(sents, { format, threshold: 0.2, offsets: 'codepoints' }),
        format,
      );
    assert.deepEqual(await get('?format=xml', {}), {
      status: 400,
      body: { error: 'querystring/format must be equal to one of the allowed values' },
    });
    assert.deepEqual(await get('', { threshold: 1.5 }), {
      status: 400,
      body: { error: 'body/threshold must be <= 1' },
    });
  } finally {
    await server.close();
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('serve: continuous batching (continuousRows): concurrent requests decode in one running batch, each answer as the library gives it alone', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-cont-'));
  const { world, base } = tinyTaggerBase(root);
  const model = await NerModel.load(base, { precision: 'fp32' });
  const sents = world.evalSet.sentences.map((s) => s.text).slice(0, 12);
  const alone: Results['results'][] = [];
  for (const t of sents) alone.push(await model.predict([t], { threshold: 0 }));
  const pair = await model.predict(sents.slice(0, 2), { threshold: 0 });
  const server = await startServer({ model, port: 0, continuousRows: 6, maxBatch: 2, maxWaitMs: 0 });
  try {
    const info = (await (await fetch(`${server.url}/v1/model`)).json()) as { batching: Record<string, number> };
    assert.equal(info.batching.continuousRows, 6);
    // One request per sentence, all at once, and one with two texts: more rows than the running batch holds.
    const submit = DecodeStream.prototype.submit;
    let streamed = 0;
    DecodeStream.prototype.submit = function (this: DecodeStream, ...a: Parameters<typeof submit>) {
      streamed++;
      return submit.apply(this, a);
    };
    const answers = await Promise.all([
      ...sents.map((t) => post(server.url, { texts: [t], threshold: 0 })),
      post(server.url, { texts: sents.slice(0, 2), threshold: 0 }),
    ]);
    const bodies = await Promise.all(answers.map((r) => r.json()));
    DecodeStream.prototype.submit = submit;
    assert.ok(streamed >= 2, `the batches went through the shared decode stream (${streamed} inputs)`);
    answers.forEach((r) => assert.equal(r.status, 200));
    sents.forEach((_, i) => sameResults(bodies[i], { results: alone[i]! }, `sentence ${i}`));
    sameResults(bodies[sents.length], { results: pair }, 'two texts');
    const st = server.stats();
    assert.equal(st.items, sents.length + 2);
    assert.ok(st.batches > 1 && st.running === 0 && st.waiting === 0);
  } finally {
    await server.close();
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
  await assert.rejects(
    () => startServer({ model, port: 0, continuousRows: -1 }),
    /continuousRows must be a non-negative integer/,
  );
});

test('serve: a request with more texts than --max-queue is admitted when the queue is empty (a retry can succeed)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-bigreq-'));
  const { world, base } = tinyTaggerBase(root);
  const model = await NerModel.load(base, { precision: 'fp32' });
  const g = gate();
  let started = 0;
  const server = await startServer({
    model,
    port: 0,
    maxBatch: 2,
    maxQueue: 2,
    maxTexts: 5,
    onBatch: async () => {
      started++;
      await g.wait();
    },
  });
  try {
    const sents = world.evalSet.sentences.map((s) => s.text).slice(0, 4);
    // Idle server, 4 texts > --max-queue 2: it used to be 503 + Retry-After every time, so a retrying client never got in.
    let r = await post(server.url, { texts: sents });
    assert.equal(r.status, 200, await r.clone().text());
    sameResults(await r.json(), { results: await model.predict(sents) });
    // While texts wait, it is refused as before, and admitted once they are done.
    g.hold();
    const first = post(server.url, { texts: sents.slice(0, 2) });
    await until(() => started >= 3, 'a batch of the first request started');
    const second = post(server.url, { texts: sents.slice(0, 1) });
    await until(() => server.stats().waiting === 1, 'one text waiting');
    r = await post(server.url, { texts: sents });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.match(((await r.json()) as { error: string }).error, /queue full \(1 of 2 texts waiting\)/);
    g.release();
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
    r = await post(server.url, { texts: sents });
    assert.equal(r.status, 200);
  } finally {
    g.release();
    await server.close();
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('serve: --show-model-path adds the path to GET /v1/model; the page never shows it', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-path-'));
  const { base } = tinyTaggerBase(root);
  const model = await NerModel.load(base);
  const server = await startServer({ model, port: 0, showModelPath: true });
  try {
    const info = (await (await fetch(`${server.url}/v1/model`)).json()) as Record<string, unknown>;
    assert.equal(info.model, 'base');
    assert.deepEqual(info.source, { name: 'base', path: path.resolve(base) });
    assert.ok(!(await (await fetch(`${server.url}/`)).text()).includes(root));
  } finally {
    await server.close();
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** A raw connection: what the server sends until it closes the connection (or `guardMs` passes: then null). */
async function rawExchange(url: string, send: (s: net.Socket) => void, guardMs = 20_000): Promise<string | null> {
  const { port } = new URL(url);
  const sock = net.connect(Number(port), '127.0.0.1');
  let got = '';
  sock.on('data', (d: Buffer) => {
    got += d.toString();
  });
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  send(sock);
  const closed = await new Promise<boolean>((r) => {
    const t = setTimeout(() => r(false), guardMs);
    sock.once('close', () => {
      clearTimeout(t);
      r(true);
    });
  });
  sock.destroy();
  return closed ? got : null;
}

test('serve: slow clients time out: headers, body, an idle keep-alive connection; a slow model does not', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-slow-'));
  const { world, base } = tinyTaggerBase(root);
  const model = await NerModel.load(base);
  const g = gate();
  // Short limits so the test is quick; the guard in rawExchange (20 s) is far above them.
  const server = await startServer({
    model,
    port: 0,
    headerTimeoutMs: 400,
    requestTimeoutMs: 800,
    idleTimeoutMs: 400,
    onBatch: () => g.wait(),
  });
  try {
    const text = world.evalSet.sentences[0]!.text;
    const body = JSON.stringify({ texts: [text] });
    const head = `POST /v1/entities HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    // Slowloris: headers started, never finished.
    let got = await rawExchange(server.url, (s) => s.write(head));
    assert.ok(got !== null, 'a connection that never finishes its headers is closed');
    assert.match(got, /^HTTP\/1\.1 408 /);
    assert.match(got, /"error":"request not received in time/);
    // Headers done, the body never finishes.
    got = await rawExchange(server.url, (s) => s.write(`${head}\r\n${body.slice(0, 5)}`));
    assert.ok(got !== null, 'a connection whose body never finishes is closed');
    assert.match(got, /^HTTP\/1\.1 408 /);
    // A connection that says nothing at all, and one idle after its answer (keep-alive).
    got = await rawExchange(server.url, () => undefined);
    assert.ok(got !== null, 'a silent connection is closed');
    got = await rawExchange(server.url, (s) => s.write(`GET /health HTTP/1.1\r\nHost: x\r\n\r\n`));
    assert.ok(got !== null, 'an idle keep-alive connection is closed');
    assert.match(got, /^HTTP\/1\.1 200 [\s\S]*"status":"ok"/);
    // The limits are on receiving the request: an answer that waits on the model longer than them still comes.
    g.hold();
    const slow = post(server.url, { texts: [text] });
    await until(() => server.stats().running === 1, 'the batch is running');
    await new Promise((r) => setTimeout(r, 1500));
    g.release();
    assert.equal((await slow).status, 200);
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
  const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'cyclener');
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
