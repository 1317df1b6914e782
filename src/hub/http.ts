// The two requests the Hub's file protocol needs: HEAD /{repo}/resolve/{rev}/{file} (commit, ETag, size, no body)
// and GET of the same URL (redirected to the CDN for LFS files), written to blobs/<etag>.incomplete, resumed with
// Range after a cut connection, checked against the ETag's hash, then renamed: a blob is complete or absent.
//
// node:http(s) rather than fetch: each phase of a request has its own deadline (connect, response headers, a pause
// mid-body), and fetch can set none of them, so a Hub that accepts a connection and never answers hung forever.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export type HubErrorKind = 'auth' | 'not-found' | 'network' | 'offline' | 'unsupported' | 'settings';

/** A failure the user can act on; the message is one line. */
export class HubError extends Error {
  constructor(
    readonly kind: HubErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

/** Seconds each phase of a request may take. */
export interface HubTimeouts {
  /** DNS, TCP and TLS: until the connection is open (CYCLENER_HUB_CONNECT_TIMEOUT). */
  connectS: number;
  /** From the open connection to the response headers, and the longest pause between body chunks (CYCLENER_HUB_TIMEOUT). */
  readS: number;
}

export interface FileMeta {
  status: number;
  /** X-Repo-Commit: the commit the revision resolved to. */
  commit: string | null;
  /** X-Linked-Etag (LFS: sha256) or ETag (git blob sha1), without quotes or W/. */
  etag: string | null;
  size: number | null;
  /** X-Error-Code on 4xx: RepoNotFound / RevisionNotFound / EntryNotFound / GatedRepo ... */
  errorCode: string | null;
}

function headers(token: string | null, extra: Record<string, string> = {}): Record<string, string> {
  // identity: the body is hashed and sized as stored, so it must not arrive compressed.
  return {
    'User-Agent': 'cyclener',
    'Accept-Encoding': 'identity',
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
    ...extra,
  };
}

/** The URL without its query (a CDN URL's query is a long signature): what errors name. */
function endpointOf(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** A socket error's code (ECONNREFUSED, ENOTFOUND, ECONNRESET), else its message. */
function causeOf(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.code ?? err.message ?? String(e);
}

function networkError(url: string, e: unknown): HubError {
  return e instanceof HubError ? e : new HubError('network', `cannot reach ${new URL(url).origin} (${causeOf(e)})`);
}

function normEtag(v: string | string[] | undefined): string | null {
  const s = Array.isArray(v) ? v[0] : v;
  return s ? s.replace(/^W\//, '').replace(/^"|"$/g, '') : null;
}

function header(res: http.IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? null;
}

interface Response {
  status: number;
  res: http.IncomingMessage;
  /** The body, failing with a HubError when no data comes for `readS` seconds. */
  body: Readable;
}

/**
 * One request with a deadline per phase: the connection, the response headers, and every pause in the body. A missed
 * deadline fails the request (and its body) with a HubError naming the URL, the phase and the variable to raise.
 */
function request(url: string, method: 'HEAD' | 'GET', hdrs: Record<string, string>, t: HubTimeouts): Promise<Response> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    return Promise.reject(new HubError('unsupported', `${url}: only http and https URLs can be fetched`));
  const where = `Hub ${endpointOf(url)}`;
  const read = `${t.readS} s (CYCLENER_HUB_TIMEOUT=${t.readS})`;
  return new Promise<Response>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let fail: (e: HubError) => void;
    const arm = (s: number, why: () => string) => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(new HubError('network', `${where}: ${why()}`)), s * 1000);
    };
    const req = (u.protocol === 'https:' ? https : http).request(u, { method, headers: hdrs });
    fail = (e) => req.destroy(e);
    const connected = () => arm(t.readS, () => `no response within ${read}`);
    arm(t.connectS, () => `no connection within ${t.connectS} s (CYCLENER_HUB_CONNECT_TIMEOUT=${t.connectS})`);
    req.once('socket', (sock) => {
      // A kept-alive socket is open already; a new one is open after its TLS handshake (https) or TCP connect.
      if (req.reusedSocket) connected();
      else sock.once(u.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
    });
    // `on`, not `once`: a socket error can still come after a destroy, and an unheard one would crash the process.
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(networkError(url, e));
    });
    req.once('response', (res) => {
      let got = 0;
      const stalled = () => `the body stalled after ${got} bytes: no data for ${read}`;
      const body = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          got += chunk.length;
          arm(t.readS, stalled);
          cb(null, chunk);
        },
      });
      // From here a missed deadline fails the body its reader is waiting on.
      fail = (e) => {
        body.destroy(e);
        req.destroy();
      };
      arm(t.readS, stalled);
      res.on('error', (e) => body.destroy(e));
      body.once('close', () => {
        clearTimeout(timer);
        if (!res.complete) req.destroy(); // the reader gave up: free the connection
      });
      res.pipe(body);
      resolve({ status: res.statusCode ?? 0, res, body });
    });
    req.end();
  });
}

/** HEAD, following only same-host (relative) redirects as huggingface_hub does: a renamed repo, not the CDN. */
export async function headFile(url: string, token: string | null, t: HubTimeouts): Promise<FileMeta> {
  let u = url;
  for (let hops = 0; ; hops++) {
    const r = await request(u, 'HEAD', headers(token), t);
    r.body.resume();
    const loc = header(r.res, 'location');
    if (r.status >= 300 && r.status < 400 && loc && !/^[a-z]+:\/\//i.test(loc) && hops < 5) {
      u = new URL(loc, u).toString();
      continue;
    }
    const size = header(r.res, 'x-linked-size') ?? header(r.res, 'content-length');
    return {
      status: r.status,
      commit: header(r.res, 'x-repo-commit'),
      etag: normEtag(header(r.res, 'x-linked-etag') ?? header(r.res, 'etag') ?? undefined),
      size: size !== null && /^\d+$/.test(size) ? Number(size) : null,
      errorCode: header(r.res, 'x-error-code'),
    };
  }
}

/** GET following redirects (the CDN); the token goes only to the origin it was meant for, as fetch does. */
async function get(
  url: string,
  token: string | null,
  extra: Record<string, string>,
  t: HubTimeouts,
): Promise<Response> {
  const origin = new URL(url).origin;
  let u = url;
  for (let hops = 0; ; hops++) {
    const r = await request(u, 'GET', headers(new URL(u).origin === origin ? token : null, extra), t);
    const loc = header(r.res, 'location');
    if (r.status >= 300 && r.status < 400 && loc && hops < 10) {
      r.body.resume();
      u = new URL(loc, u).toString();
      continue;
    }
    return r;
  }
}

/** Does `file` hash to `etag`? sha256 (LFS) or git's blob sha1; other ETags cannot be checked. */
async function matchesEtag(file: string, etag: string, size: number): Promise<boolean> {
  let h: crypto.Hash;
  if (/^[0-9a-f]{64}$/.test(etag)) h = crypto.createHash('sha256');
  else if (/^[0-9a-f]{40}$/.test(etag)) h = crypto.createHash('sha1').update(`blob ${size}\0`);
  else return true;
  await pipeline(fs.createReadStream(file), h);
  return h.digest('hex') === etag;
}

export interface DownloadOptions {
  token: string | null;
  timeouts: HubTimeouts;
  size: number | null;
  /** Called with bytes written so far (throttling is the caller's). */
  onProgress?: (bytes: number) => void;
  /** Attempts after a cut connection before giving up (each resumes where the last stopped). */
  retries?: number;
}

/** GET `url` into `blob` atomically (via `blob.incomplete`); returns when `blob` exists and matches `etag`. */
export async function downloadBlob(url: string, blob: string, etag: string, o: DownloadOptions): Promise<void> {
  if (fs.existsSync(blob)) return;
  const inc = `${blob}.incomplete`;
  const retries = o.retries ?? 2;
  for (let attempt = 0; ; attempt++) {
    let have = fs.existsSync(inc) ? fs.statSync(inc).size : 0;
    if (o.size !== null && have > o.size) {
      fs.rmSync(inc);
      have = 0;
    }
    if (o.size !== null && have === o.size && have > 0) break;
    let out: fs.WriteStream | null = null;
    try {
      const r = await get(url, o.token, have > 0 ? { Range: `bytes=${have}-` } : {}, o.timeouts);
      if (r.status !== 200 && r.status !== 206) {
        r.body.resume();
        throw new HubError(r.status === 401 || r.status === 403 ? 'auth' : 'not-found', `GET ${url}: HTTP ${r.status}`);
      }
      // 200 to a Range request: the server sent the whole file, so start over.
      const append = r.status === 206 && have > 0;
      let written = append ? have : 0;
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          written += chunk.length;
          o.onProgress?.(written);
          cb(null, chunk);
        },
      });
      out = fs.createWriteStream(inc, { flags: append ? 'a' : 'w' });
      await pipeline(r.body, count, out);
      break;
    } catch (e) {
      // A cut pipeline destroys the file stream, but its last writes may still land: wait until it is closed before
      // the next attempt measures the partial file (else a late chunk lands after the resumed bytes).
      const ws = out;
      if (ws && !ws.closed) await new Promise<void>((resolve) => ws.once('close', () => resolve()));
      // HTTP statuses are final; a cut connection or a missed deadline is retried, resuming.
      if (e instanceof HubError && e.kind !== 'network') throw e;
      const got = fs.existsSync(inc) ? fs.statSync(inc).size : 0;
      if (attempt < retries) continue;
      const why =
        e instanceof HubError ? e.message : networkError(url, e).message.replace(/^cannot reach \S+ \((.*)\)$/, '$1');
      throw new HubError(
        'network',
        `download of ${url} cut off after ${got}${o.size !== null ? ` of ${o.size}` : ''} bytes (${why}); run again to resume it`,
      );
    }
  }
  const size = fs.statSync(inc).size;
  if ((o.size !== null && size !== o.size) || !(await matchesEtag(inc, etag, size))) {
    fs.rmSync(inc, { force: true });
    throw new HubError(
      'network',
      `download of ${url} does not match its ETag ${etag} (${size} bytes); removed, run again`,
    );
  }
  fs.renameSync(inc, blob);
}
