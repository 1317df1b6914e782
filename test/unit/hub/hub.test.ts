// Hugging Face Hub model ids (src/hub) against a local stand-in for the Hub (test/helpers/hub-server.ts): the cache layout
// huggingface_hub writes, offline use, revisions, resumed downloads, 401/404 messages, spiece-only repos, and
// `cyclener predict --model org/tiny` / `train-supervised --base-model org/tiny` end to end.
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { hubSettings, modelSource, parseModelId, resolveModel } from '../../../src/hub';
import { loadCheckpoint } from '../../../src/t5/checkpoint';
import { T5Tokenizer } from '../../../src/t5/tokenizer';
import { cli, tinySyntheticBase } from '../../helpers/cli-helpers';
import { gitSha1, sha256, startFakeHub, type FakeHub } from '../../helpers/hub-server';

T.setNumThreads(1);

const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);
const C3 = 'c'.repeat(40);
const C4 = 'd'.repeat(40);
const TOKEN = 'hf_test_token';
const FIX = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 't5');

let root: string;
let hub: FakeHub;
let base: string;
let world: ReturnType<typeof tinySyntheticBase>['world'];
let files: Record<string, Buffer>;
/** An endpoint where nothing listens (a port just released). */
let dead: string;

function readDir(dir: string): Record<string, Buffer> {
  return Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-hub-'));
  ({ base, world } = tinySyntheticBase(root));
  files = readDir(base);
  const v2 = { ...files, 'cyclener.json': Buffer.from('{"task":"s2e","prefix":"entities: ","types":["v2"]}\n') };
  const spieceOnly = {
    'config.json': fs.readFileSync(path.join(FIX, 'hf-tiny-v1_1', 'config.json')),
    'model.safetensors': fs.readFileSync(path.join(FIX, 'hf-tiny-v1_1', 'model.safetensors')),
    'spiece.model': fs.readFileSync(path.join(FIX, 'tokenizer', 'spiece.model')),
  };
  const binOnly = { 'config.json': files['config.json']!, 'pytorch_model.bin': Buffer.from('not really torch') };
  const probe = http.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => probe.once('listening', r));
  dead = `http://127.0.0.1:${(probe.address() as { port: number }).port}`;
  await new Promise((r) => probe.close(r));
  hub = await startFakeHub(
    {
      'org/tiny': { refs: { main: C1, v2: C2 }, commits: { [C1]: files, [C2]: v2 } },
      'org/private': { refs: { main: C3 }, commits: { [C3]: files }, private: true },
      'org/spiece': { refs: { main: C4 }, commits: { [C4]: spieceOnly } },
      binonly: { refs: { main: C4 }, commits: { [C4]: binOnly } },
    },
    TOKEN,
  );
});

after(async () => {
  await hub.close();
  fs.rmSync(root, { recursive: true, force: true });
});

function env(cache: string, extra: Record<string, string> = {}): Record<string, string> {
  return { HOME: path.join(root, 'home'), HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, ...extra };
}

test('hub ids and settings: syntax, env precedence, token file', () => {
  assert.deepEqual(parseModelId('google-t5/t5-small'), { repoId: 'google-t5/t5-small', revision: 'main' });
  assert.deepEqual(parseModelId('t5-small@v1.0'), { repoId: 't5-small', revision: 'v1.0' });
  assert.deepEqual(parseModelId(`org/name@${C1}`), { repoId: 'org/name', revision: C1 });
  assert.deepEqual(parseModelId('org/name@refs/pr/1'), { repoId: 'org/name', revision: 'refs/pr/1' });
  for (const bad of ['./x', '/abs/dir', 'a/b/c', 'org--x/y', 'a/..', 'org/name@', 'org/name@../x', '~/m', '-x/y'])
    assert.equal(parseModelId(bad), null, bad);

  const home = path.join(root, 'home');
  assert.deepEqual(hubSettings({ HOME: home }), {
    cacheDir: path.join(os.homedir(), '.cache', 'huggingface', 'hub'),
    endpoint: 'https://huggingface.co',
    token: null,
    offline: false,
    timeouts: { connectS: 10, readS: 30 },
  });
  assert.deepEqual(hubSettings({ CYCLENER_HUB_TIMEOUT: '2.5', CYCLENER_HUB_CONNECT_TIMEOUT: '1' }).timeouts, {
    connectS: 1,
    readS: 2.5,
  });
  for (const bad of ['0', '-1', 'soon'])
    assert.throws(
      () => hubSettings({ CYCLENER_HUB_TIMEOUT: bad }),
      new RegExp(`^HubError: CYCLENER_HUB_TIMEOUT must be a number of seconds > 0, got "${bad}"$`),
    );
  assert.throws(
    () => hubSettings({ HF_ENDPOINT: 'ftp://mirror' }),
    /HF_ENDPOINT must be an http:\/\/ or https:\/\/ URL/,
  );
  assert.equal(hubSettings({ XDG_CACHE_HOME: '/x' }).cacheDir, '/x/huggingface/hub');
  assert.equal(hubSettings({ HF_HOME: '/h', XDG_CACHE_HOME: '/x' }).cacheDir, '/h/hub');
  assert.equal(hubSettings({ HF_HUB_CACHE: '/c', HF_HOME: '/h' }).cacheDir, '/c');
  assert.equal(hubSettings({ HF_ENDPOINT: 'http://mirror:8080/' }).endpoint, 'http://mirror:8080');
  for (const [v, want] of [
    ['1', true],
    ['true', true],
    ['YES', true],
    ['on', true],
    ['0', false],
    ['', false],
  ] as const)
    assert.equal(hubSettings({ HF_HUB_OFFLINE: v }).offline, want, v);
  const hfHome = path.join(root, 'hfhome');
  fs.mkdirSync(hfHome, { recursive: true });
  fs.writeFileSync(path.join(hfHome, 'token'), 'hf_from_file\n');
  assert.equal(hubSettings({ HF_HOME: hfHome }).token, 'hf_from_file');
  assert.equal(hubSettings({ HF_HOME: hfHome, HF_TOKEN: 'hf_env' }).token, 'hf_env');
});

test("hub: download writes huggingface_hub's layout; warm cache needs one request; offline and unreachable use the cache", async () => {
  const cache = path.join(root, 'cache-layout');
  const logs: string[] = [];
  hub.log.length = 0;
  const r = await resolveModel('org/tiny', { env: env(cache), log: (l) => logs.push(l) });
  const repo = path.join(cache, 'models--org--tiny');
  const snap = path.join(repo, 'snapshots', C1);
  assert.deepEqual(r, { dir: snap, repoId: 'org/tiny', revision: 'main', commit: C1 });
  assert.deepEqual(modelSource(snap), { path: snap, repoId: 'org/tiny', revision: 'main', commit: C1 });
  assert.equal(fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8'), C1); // no newline, as huggingface_hub
  assert.deepEqual(fs.readdirSync(snap).sort(), Object.keys(files).sort());
  for (const [f, b] of Object.entries(files)) {
    const etag = f.endsWith('.safetensors') ? sha256(b) : gitSha1(b);
    assert.equal(fs.readlinkSync(path.join(snap, f)), `../../blobs/${etag}`, f);
    assert.ok(fs.readFileSync(path.join(repo, 'blobs', etag)).equals(b), f);
  }
  assert.deepEqual(
    fs.readdirSync(path.join(repo, 'blobs')).filter((b) => b.endsWith('.incomplete')),
    [],
  );
  assert.deepEqual(fs.readdirSync(path.join(repo, '.no_exist', C1)).sort(), [
    'special_tokens_map.json',
    'spiece.model',
    'tokenizer_config.json',
  ]);
  // The weights came through the CDN redirect; every later request named the commit, not the branch.
  assert.ok(hub.log.includes(`GET /cdn/${sha256(files['model.safetensors']!)}`), hub.log.join('\n'));
  assert.equal(hub.log.filter((l) => l.includes('/resolve/main/')).length, 1);
  assert.equal(logs.length, 0);

  hub.log.length = 0;
  assert.equal((await resolveModel('org/tiny', { env: env(cache) })).dir, snap);
  assert.deepEqual(hub.log, ['HEAD /org/tiny/resolve/main/config.json']);

  hub.log.length = 0;
  assert.deepEqual(await resolveModel('org/tiny', { env: env(cache, { HF_HUB_OFFLINE: '1' }) }), r);
  assert.deepEqual(await resolveModel(`org/tiny@${C1}`, { env: env(cache, { HF_ENDPOINT: dead }) }), {
    ...r,
    revision: C1,
  }); // a cached commit needs no request
  assert.deepEqual(hub.log, []);
  await assert.rejects(
    resolveModel('org/tiny@v2', { env: env(cache, { HF_HUB_OFFLINE: '1' }) }),
    /org\/tiny@v2: HF_HUB_OFFLINE is set and .*cache-layout has no org\/tiny at "v2" \(no models--org--tiny\/refs\/v2\)/,
  );
  fs.rmSync(path.join(snap, 'model.safetensors'));
  await assert.rejects(
    resolveModel('org/tiny', { env: env(cache, { HF_HUB_OFFLINE: '1' }) }),
    /the cached snapshot .*aaaa lacks model\.safetensors; download it once with network access/,
  );
  await resolveModel('org/tiny', { env: env(cache) }); // relinks the blob it already has
  assert.equal(
    fs.readlinkSync(path.join(snap, 'model.safetensors')),
    `../../blobs/${sha256(files['model.safetensors']!)}`,
  );

  // The Hub unreachable (nothing listens at `dead`): the cached ref is used, with a note; an uncached repo fails.
  const down = env(cache, { HF_ENDPOINT: dead });
  assert.equal((await resolveModel('org/tiny', { env: down, log: (l) => logs.push(l) })).dir, snap);
  assert.match(
    logs.join('\n'),
    /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); using the cached snapshot a{40} of org\/tiny \(set HF_HUB_OFFLINE=1 to skip the Hub\)/,
  );
  await assert.rejects(
    resolveModel('org/other', { env: down }),
    /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); no usable cached snapshot of org\/other at "main"/,
  );
});

test('hub: @revision by branch and by commit, same blobs shared', async () => {
  const cache = path.join(root, 'cache-rev');
  const repo = path.join(cache, 'models--org--tiny');
  const a = await resolveModel('org/tiny@v2', { env: env(cache) });
  assert.deepEqual(a, { dir: path.join(repo, 'snapshots', C2), repoId: 'org/tiny', revision: 'v2', commit: C2 });
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(a.dir, 'cyclener.json'), 'utf8')).types, ['v2']);
  const b = await resolveModel(`org/tiny@${C1}`, { env: env(cache) });
  assert.equal(b.dir, path.join(repo, 'snapshots', C1));
  assert.deepEqual(fs.readdirSync(path.join(repo, 'refs')), ['v2']); // a commit needs no ref
  // Unchanged files of the two commits are one blob: 5 files + the changed cyclener.json.
  assert.equal(fs.readdirSync(path.join(repo, 'blobs')).length, Object.keys(files).length + 1);
  // --revision applies when the id names none.
  assert.equal(
    (await resolveModel('org/tiny', { revision: 'v2', env: env(cache, { HF_HUB_OFFLINE: '1' }) })).commit,
    C2,
  );
});

test('hub: a download cut off mid-body leaves only blobs/<etag>.incomplete; the next try resumes it with Range', async (t) => {
  const cache = path.join(root, 'cache-cut');
  const blobs = path.join(cache, 'models--org--tiny', 'blobs');
  const w = files['model.safetensors']!;
  const etag = sha256(w);
  hub.cut.n = 10;
  t.after(() => {
    hub.cut.n = 0; // a failure here must not cut the next tests' downloads
  });
  await assert.rejects(
    resolveModel('org/tiny', { env: env(cache) }),
    new RegExp(
      `download of .*/org/tiny/resolve/a{40}/model\\.safetensors cut off after \\d+ of ${w.length} bytes .*; run again to resume it`,
    ),
  );
  assert.equal(hub.cut.n, 7); // three attempts, each resuming the last
  assert.ok(!fs.existsSync(path.join(blobs, etag)));
  assert.ok(!fs.existsSync(path.join(cache, 'models--org--tiny', 'snapshots', C1, 'model.safetensors')));
  const partial = fs.statSync(path.join(blobs, `${etag}.incomplete`)).size;
  assert.ok(partial > 0 && partial < w.length, String(partial));
  hub.cut.n = 1; // cut once more: the retry inside resolveModel picks it up
  hub.log.length = 0;
  const r = await resolveModel('org/tiny', { env: env(cache) });
  assert.ok(hub.log.includes(`GET /cdn/${etag} bytes=${partial}-`), hub.log.join('\n'));
  assert.equal(hub.log.filter((l) => l.startsWith('GET /cdn/')).length, 2);
  assert.ok(fs.readFileSync(path.join(r.dir, 'model.safetensors')).equals(w));
  assert.deepEqual(
    fs.readdirSync(blobs).filter((b) => b.endsWith('.incomplete')),
    [],
  );
});

/** An HTTP server that accepts connections and reads requests but never answers. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const s = http.createServer(() => undefined);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  };
}

/**
 * A port whose connections never complete: a child process listens with a backlog of 1 and blocks its event loop, so
 * it never accepts; filler connections fill the kernel's accept queue, after which new SYNs are dropped and a connect
 * hangs. null where the queue does not fill that way (not Linux).
 */
async function neverAccepting(): Promise<{ url: string; close(): void } | null> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s = require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {" +
        " process.stdout.write(s.address().port + '\\n'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); });",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const fillers: net.Socket[] = [];
  const close = () => {
    for (const f of fillers) f.destroy();
    child.kill('SIGKILL');
  };
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`the listening child exited (${code}) before printing its port`)));
  });
  for (let i = 0; i < 16; i++) {
    const f = net.connect(port, '127.0.0.1');
    f.on('error', () => undefined);
    fillers.push(f);
    // A SYN dropped by a full queue is retried after 1 s at the earliest: not connected after 500 ms means full.
    const connected = await new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), 500);
      f.once('connect', () => {
        clearTimeout(t);
        r(true);
      });
    });
    if (!connected) return { url: `http://127.0.0.1:${port}`, close };
  }
  close();
  return null;
}

test('hub: timeouts name the endpoint: no connection, no response, a body that stalls; a cached snapshot still serves', async (t) => {
  const cache = path.join(root, 'cache-timeout');
  // Where the timeout is the expected outcome it is short; where other requests must succeed on a loaded machine, 1 s.
  const short = { CYCLENER_HUB_TIMEOUT: '0.3', CYCLENER_HUB_CONNECT_TIMEOUT: '0.3' };
  const silent = await silentServer();
  t.after(() => silent.close());

  // Accepts the connection, never answers: it used to hang `predict` forever.
  await assert.rejects(
    resolveModel('org/tiny', { env: env(cache, { ...short, HF_ENDPOINT: silent.url }) }),
    /^HubError: org\/tiny: Hub http:\/\/127\.0\.0\.1:\d+\/org\/tiny\/resolve\/main\/config\.json: no response within 0\.3 s \(CYCLENER_HUB_TIMEOUT=0\.3\); no usable cached snapshot of org\/tiny at "main"/,
  );

  // Headers and half the weights, then silence: each of the three attempts resumes, then the error names the CDN URL.
  const w = files['model.safetensors']!;
  hub.stall.n = 3;
  t.after(() => {
    hub.stall.n = 0; // a failure here must not stall the next tests' downloads
  });
  hub.log.length = 0;
  await assert.rejects(
    resolveModel('org/tiny', { env: env(cache, { CYCLENER_HUB_TIMEOUT: '1' }) }),
    new RegExp(
      `download of .*/org/tiny/resolve/a{40}/model\\.safetensors cut off after \\d+ of ${w.length} bytes \\(Hub http://127\\.0\\.0\\.1:\\d+/cdn/${sha256(w)}: the body stalled after \\d+ bytes: no data for 1 s \\(CYCLENER_HUB_TIMEOUT=1\\)\\); run again to resume it`,
    ),
  );
  assert.equal(hub.stall.n, 0);
  assert.equal(hub.log.filter((l) => /^GET \/cdn\/.* bytes=\d+-$/.test(l)).length, 2, hub.log.join('\n'));
  const snap = (await resolveModel('org/tiny', { env: env(cache, { CYCLENER_HUB_TIMEOUT: '1' }) })).dir;
  assert.ok(fs.readFileSync(path.join(snap, 'model.safetensors')).equals(w));

  // With the snapshot cached, an endpoint that does not answer falls back to it, saying why.
  const logs: string[] = [];
  const r = await resolveModel('org/tiny', {
    env: env(cache, { ...short, HF_ENDPOINT: silent.url }),
    log: (l) => logs.push(l),
  });
  assert.equal(r.dir, snap);
  assert.match(
    logs.join('\n'),
    /no response within 0\.3 s \(CYCLENER_HUB_TIMEOUT=0\.3\); using the cached snapshot a{40}/,
  );

  // No connection at all.
  const closed = await neverAccepting();
  if (closed) {
    t.after(() => closed.close());
    await assert.rejects(
      resolveModel('org/tiny', { env: env(path.join(root, 'cache-timeout-2'), { ...short, HF_ENDPOINT: closed.url }) }),
      /^HubError: org\/tiny: Hub http:\/\/127\.0\.0\.1:\d+\/org\/tiny\/resolve\/main\/config\.json: no connection within 0\.3 s \(CYCLENER_HUB_CONNECT_TIMEOUT=0\.3\); no usable cached snapshot/,
    );
  } else t.diagnostic('skipped the connect timeout: the accept queue did not fill (not Linux?)');

  // `predict` ends with the message instead of waiting forever.
  const saved = { ...process.env };
  Object.assign(process.env, env(path.join(root, 'cache-timeout-3'), { ...short, HF_ENDPOINT: silent.url }));
  try {
    const input = path.join(root, 'in-timeout.txt');
    fs.writeFileSync(input, 'Anna lives in Berlin .\n');
    const c = await cli(['predict', '--model', 'org/tiny', '--input', input, '--out', path.join(root, 'x.jsonl')]);
    assert.equal(c.code, 1);
    assert.match(
      c.err,
      /^cyclener: org\/tiny: Hub http:\/\/127\.0\.0\.1:\d+\/org\/tiny\/resolve\/main\/config\.json: no response within 0\.3 s \(CYCLENER_HUB_TIMEOUT=0\.3\); no usable cached snapshot/,
    );
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('hub: 401 for a private repo (then HF_TOKEN or HF_HOME/token), 404s, pytorch_model.bin only', async () => {
  const cache = path.join(root, 'cache-err');
  await assert.rejects(
    resolveModel('org/private', { env: env(cache) }),
    /^HubError: org\/private: the Hub refused access \(HTTP 401\): the model is gated or private \(or does not exist\); set HF_TOKEN to a token that can read it$/,
  );
  await assert.rejects(
    resolveModel('org/private', { env: env(cache, { HF_TOKEN: 'wrong' }) }),
    /refused access with your token \(HTTP 401\): the model is gated \(accept its conditions on http:\/\/127\.0\.0\.1:\d+\/org\/private\) or private, or the token \(HF_TOKEN\) is wrong/,
  );
  assert.equal((await resolveModel('org/private', { env: env(cache, { HF_TOKEN: TOKEN }) })).commit, C3);
  // The token file of HF_HOME, and the cache under HF_HOME/hub when HF_HUB_CACHE is unset.
  const hfHome = path.join(root, 'hf-home-401');
  fs.mkdirSync(hfHome);
  fs.writeFileSync(path.join(hfHome, 'token'), `${TOKEN}\n`);
  const e = { HOME: path.join(root, 'home'), HF_ENDPOINT: hub.endpoint, HF_HOME: hfHome };
  assert.equal(
    (await resolveModel('org/private', { env: e })).dir,
    path.join(hfHome, 'hub', 'models--org--private', 'snapshots', C3),
  );

  await assert.rejects(
    resolveModel('org/nope', { env: env(cache) }),
    /^HubError: org\/nope: not a local directory, and no such model on http:\/\/127\.0\.0\.1:\d+ \(404\)$/,
  );
  await assert.rejects(
    resolveModel('org/tiny@nope', { env: env(cache) }),
    /org\/tiny@nope: no revision "nope" in org\/tiny on http:\/\/127\.0\.0\.1:\d+ \(404\)/,
  );
  await assert.rejects(
    resolveModel('binonly', { env: env(cache) }),
    /^HubError: binonly: the repo has only pytorch_model\.bin; cyclener reads safetensors weights only/,
  );
  await assert.rejects(resolveModel('/no/such/dir', { env: env(cache) }), /\/no\/such\/dir: no such directory/);
  assert.ok(!fs.existsSync(path.join(cache, 'models--org--nope')));
});

test('hub: a repo with only spiece.model stays as the Hub has it; the tokenizer is converted at load time', async () => {
  const cache = path.join(root, 'cache-spiece');
  const r = await resolveModel('org/spiece', { env: env(cache) });
  assert.deepEqual(fs.readdirSync(r.dir).sort(), ['config.json', 'model.safetensors', 'spiece.model']);
  assert.ok(fs.existsSync(path.join(cache, 'models--org--spiece', '.no_exist', C4, 'tokenizer.json')));
  const ck = loadCheckpoint(r.dir);
  try {
    const want = T5Tokenizer.fromFile(path.join(FIX, 'tokenizer', 'tokenizer.json'));
    const text = 'The quick brown fox met Anna in Berlin.';
    assert.deepEqual(await ck.tokenizer!.encode(text), await want.encode(text));
  } finally {
    ck.model.dispose();
  }
  assert.deepEqual(fs.readdirSync(r.dir).sort(), ['config.json', 'model.safetensors', 'spiece.model']);
});

test(
  'hub: huggingface_hub (Python) finds the files we cached',
  {
    skip:
      spawnSync('python3', ['-c', 'import huggingface_hub']).status !== 0
        ? 'huggingface_hub is not installed for python3'
        : false,
  },
  async () => {
    const cache = path.join(root, 'cache-py');
    const r = await resolveModel('org/tiny', { env: env(cache) });
    const py = spawnSync(
      'python3',
      [
        '-c',
        `from huggingface_hub import try_to_load_from_cache as t; print(t("org/tiny", "model.safetensors", cache_dir=${JSON.stringify(cache)}))`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(py.stdout.trim(), path.join(r.dir, 'model.safetensors'));
  },
);

test('cli: predict --model org/tiny and train-supervised --base-model org/tiny through HF_ENDPOINT / HF_HUB_CACHE', async () => {
  const cache = path.join(root, 'cache-cli');
  const saved = { ...process.env };
  Object.assign(process.env, env(cache));
  try {
    const input = path.join(root, 'in.txt');
    fs.writeFileSync(input, 'Anna lives in Berlin .\nBob met Carol .\n');
    const local = path.join(root, 'local.jsonl');
    const remote = path.join(root, 'remote.jsonl');
    let r = await cli([
      'predict',
      '--model',
      base,
      '--input',
      input,
      '--out',
      local,
      '--max-new-tokens',
      '8',
      '--no-ground',
    ]);
    assert.equal(r.code, 0, r.err);
    r = await cli([
      'predict',
      '--model',
      'org/tiny',
      '--input',
      input,
      '--out',
      remote,
      '--max-new-tokens',
      '8',
      '--no-ground',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(fs.readFileSync(remote, 'utf8'), fs.readFileSync(local, 'utf8'));
    assert.ok(fs.existsSync(path.join(cache, 'models--org--tiny', 'snapshots', C1, 'model.safetensors')));

    const pairs = path.join(root, 'pairs.tsv');
    fs.writeFileSync(pairs, 'Anna lives in Berlin .\tAnna <sep> person\n');
    const out = path.join(root, 'sup');
    r = await cli([
      'train-supervised',
      '--pairs',
      pairs,
      '--base-model',
      'org/tiny@v2',
      '--out',
      out,
      '--steps',
      '1',
      '--batch',
      '1',
      '--fp32',
    ]);
    assert.equal(r.code, 0, r.err);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'cyclener.json'), 'utf8'));
    assert.deepEqual(meta.baseModel, {
      path: path.join(cache, 'models--org--tiny', 'snapshots', C2),
      repoId: 'org/tiny',
      revision: 'v2',
      commit: C2,
    });

    // train records where both models came from in RUN/config.json.
    const S = path.join(root, 'S.txt');
    const Q = path.join(root, 'Q.txt');
    fs.writeFileSync(S, world.S.join('\n') + '\n');
    fs.writeFileSync(Q, world.Q.map((q) => (q === '' ? '<none>' : q)).join('\n') + '\n');
    const run = path.join(root, 'run');
    r = await cli([
      'train',
      '--sentences',
      S,
      '--entities',
      Q,
      '--base-model',
      'org/tiny',
      '--e2s-model',
      base,
      '--out',
      run,
      '--batch',
      '2',
      '--max-steps',
      '1',
      '--fp32',
    ]);
    assert.equal(r.code, 0, r.err);
    const cfg = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
    assert.deepEqual(cfg.baseModels, {
      s2e: {
        path: path.join(cache, 'models--org--tiny', 'snapshots', C1),
        repoId: 'org/tiny',
        revision: 'main',
        commit: C1,
      },
      e2s: { path: base },
    });

    r = await cli(['predict', '--model', 'org/nope', '--input', input, '--out', remote, '--force']);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /^cyclener: --model org\/nope: not a local directory, and no such model on http:\/\/127\.0\.0\.1:\d+ \(404\)\n$/,
    );
    process.env.HF_HUB_OFFLINE = '1';
    r = await cli(['predict', '--model', 'org/tiny@v9', '--input', input, '--out', remote, '--force']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--model org\/tiny@v9: HF_HUB_OFFLINE is set and .* has no org\/tiny at "v9"/);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});
