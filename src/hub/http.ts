// The two requests the Hub's file protocol needs: HEAD /{repo}/resolve/{rev}/{file} (commit, ETag, size, no body)
// and GET of the same URL (redirected to the CDN for LFS files), written to blobs/<etag>.incomplete, resumed with
// Range after a cut connection, checked against the ETag's hash, then renamed: a blob is complete or absent.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';

export type HubErrorKind = 'auth' | 'not-found' | 'network' | 'offline' | 'unsupported';

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
  return { 'User-Agent': 'cyclener', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra };
}

function networkError(url: string, e: unknown): HubError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return new HubError(
    'network',
    `cannot reach ${new URL(url).origin} (${cause?.code ?? cause?.message ?? (e as Error).message})`,
  );
}

function normEtag(v: string | null): string | null {
  return v ? v.replace(/^W\//, '').replace(/^"|"$/g, '') : null;
}

/** HEAD, following only same-host (relative) redirects as huggingface_hub does: a renamed repo, not the CDN. */
export async function headFile(url: string, token: string | null): Promise<FileMeta> {
  let u = url;
  for (let hops = 0; ; hops++) {
    let r: Response;
    try {
      r = await fetch(u, {
        method: 'HEAD',
        redirect: 'manual',
        headers: headers(token, { 'Accept-Encoding': 'identity' }),
      });
    } catch (e) {
      throw networkError(u, e);
    }
    const loc = r.headers.get('location');
    if (r.status >= 300 && r.status < 400 && loc && !/^[a-z]+:\/\//i.test(loc) && hops < 5) {
      u = new URL(loc, u).toString();
      continue;
    }
    const size = r.headers.get('x-linked-size') ?? r.headers.get('content-length');
    return {
      status: r.status,
      commit: r.headers.get('x-repo-commit'),
      etag: normEtag(r.headers.get('x-linked-etag') ?? r.headers.get('etag')),
      size: size !== null && /^\d+$/.test(size) ? Number(size) : null,
      errorCode: r.headers.get('x-error-code'),
    };
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
      const r = await fetch(url, { headers: headers(o.token, have > 0 ? { Range: `bytes=${have}-` } : {}) });
      if (r.status !== 200 && r.status !== 206)
        throw new HubError(r.status === 401 || r.status === 403 ? 'auth' : 'not-found', `GET ${url}: HTTP ${r.status}`);
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
      await pipeline(Readable.fromWeb(r.body as ReadableStream), count, out);
      break;
    } catch (e) {
      // A cut pipeline destroys the file stream, but its last writes may still land: wait until it is closed before
      // the next attempt measures the partial file (else a late chunk lands after the resumed bytes).
      const ws = out;
      if (ws && !ws.closed) await new Promise<void>((resolve) => ws.once('close', () => resolve()));
      if (e instanceof HubError) throw e;
      const got = fs.existsSync(inc) ? fs.statSync(inc).size : 0;
      if (attempt < retries) continue;
      throw new HubError(
        'network',
        `download of ${url} cut off after ${got}${o.size !== null ? ` of ${o.size}` : ''} bytes (${networkError(url, e).message.replace(/^cannot reach \S+ /, '')}); run again to resume it`,
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
