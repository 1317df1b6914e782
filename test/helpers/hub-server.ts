// A local stand-in for the Hugging Face Hub's file endpoints, for test/unit/hub/hub.test.ts: HEAD/GET
// {endpoint}/{repo}/resolve/{rev}/{file} with X-Repo-Commit, ETag (git blob sha1) or, for LFS files (*.safetensors,
// *.bin), X-Linked-Etag/X-Linked-Size and a 302 to a CDN-like /cdn/<sha256> that honours Range; X-Error-Code 404s
// (RepoNotFound, RevisionNotFound, EntryNotFound); 401 for a private repo without the right Bearer token; a switch
// that cuts the connection halfway through the body of the next N CDN downloads, and one that sends half of the next
// N CDN bodies and then nothing more, with the connection left open (a stalled CDN).
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  /** branch or tag -> commit */
  refs: Record<string, string>;
  /** commit -> file -> contents */
  commits: Record<string, Record<string, Buffer>>;
  private?: boolean;
}

export interface FakeHub {
  endpoint: string;
  /** "METHOD path [range]" per request, in order */
  log: string[];
  /** Cut the next N CDN bodies halfway. */
  cut: { n: number };
  /** Stall the next N CDN bodies halfway: headers and half the body sent, then silence on an open connection. */
  stall: { n: number };
  close(): Promise<void>;
}

const isLfs = (f: string) => /\.(safetensors|bin)$/.test(f);
export const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Buffer) => crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export async function startFakeHub(repos: Record<string, FakeRepo>, token: string): Promise<FakeHub> {
  const log: string[] = [];
  const cut = { n: 0 };
  const stall = { n: 0 };
  const blobs = new Map<string, Buffer>();
  for (const r of Object.values(repos))
    for (const files of Object.values(r.commits))
      for (const [f, b] of Object.entries(files)) if (isLfs(f)) blobs.set(sha256(b), b);

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    log.push(`${req.method} ${url.pathname}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    const fail = (status: number, code?: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...(code ? { 'X-Error-Code': code } : {}), ...extra, 'Content-Type': 'text/plain' });
      res.end(req.method === 'HEAD' ? undefined : `${status} ${code ?? ''}`);
    };
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) {
      const b = blobs.get(cdn[1]!);
      if (!b) return fail(404);
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const body = b.subarray(start);
      res.writeHead(m ? 206 : 200, {
        'Content-Length': String(body.length),
        'Accept-Ranges': 'bytes',
        ...(m ? { 'Content-Range': `bytes ${start}-${b.length - 1}/${b.length}` } : {}),
      });
      if (req.method === 'HEAD') return res.end();
      if (cut.n > 0) {
        cut.n--;
        // Close (FIN, not a reset) a moment after the half is flushed: a client whose body stream errors drops the
        // chunks it has not read yet, so on a loaded machine an immediate close can leave it with nothing to resume.
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.end(), 150));
        return;
      }
      if (stall.n > 0) {
        stall.n--;
        res.write(body.subarray(0, Math.floor(body.length / 2))); // and never end: close() drops the connection
        return;
      }
      return res.end(body);
    }
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const at = parts.indexOf('resolve');
    if (at < 1 || at > 2 || parts.length < at + 3) return fail(404);
    const repoId = parts.slice(0, at).join('/');
    const rev = parts[at + 1]!;
    const file = parts.slice(at + 2).join('/');
    const repo = repos[repoId];
    if (!repo) return fail(404, 'RepoNotFound');
    if (repo.private && req.headers.authorization !== `Bearer ${token}`) return fail(401, 'GatedRepo');
    const commit = repo.refs[rev] ?? (repo.commits[rev] ? rev : undefined);
    if (!commit) return fail(404, 'RevisionNotFound');
    const b = repo.commits[commit]![file];
    if (!b) return fail(404, 'EntryNotFound', { 'X-Repo-Commit': commit });
    if (isLfs(file)) {
      res.writeHead(302, {
        'X-Repo-Commit': commit,
        'X-Linked-Etag': `"${sha256(b)}"`,
        'X-Linked-Size': String(b.length),
        ETag: `"${gitSha1(b)}"`,
        Location: `http://${req.headers.host}/cdn/${sha256(b)}`,
        'Content-Length': '0',
      });
      return res.end();
    }
    res.writeHead(200, { 'X-Repo-Commit': commit, ETag: `"${gitSha1(b)}"`, 'Content-Length': String(b.length) });
    res.end(req.method === 'HEAD' ? undefined : b);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    cut,
    stall,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
