// Model arguments: a local directory, or a Hugging Face Hub id (`org/name`, `name`, `org/name@rev`) resolved to a
// snapshot folder of the shared cache (./cache.ts), downloading what is missing. The same model that Python
// `transformers` downloaded is used as is, offline too, and the other way round.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile } from '../util/fs';
import { COMMIT_RE, RepoCache } from './cache';
import { hubSettings, type HubSettings } from './env';
import { HubError, downloadBlob, headFile } from './http';

export interface ModelId {
  repoId: string;
  revision: string;
}

/** Where a model directory came from, as recorded in runs: the path, plus the Hub repo/revision/commit when it is a snapshot. */
export interface ModelSource {
  path: string;
  repoId?: string;
  revision?: string;
  commit?: string;
}

export interface ResolvedModel {
  dir: string;
  repoId?: string;
  revision?: string;
  commit?: string;
}

// Hub names: letters, digits, - _ . ; no "--" or ".." (the cache folder joins parts with "--"), at most 96 characters.
const NAME_RE = /^(?!.*(--|\.\.))[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$/;

/** `org/name`, `name` or either with `@revision` (branch, tag or commit); null when `s` cannot be a Hub id. */
export function parseModelId(s: string): ModelId | null {
  const at = s.indexOf('@');
  const id = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? 'main' : s.slice(at + 1);
  if (revision === '' || /\s/.test(revision) || revision.split('/').some((p) => p === '' || p === '.' || p === '..'))
    return null;
  const parts = id.split('/');
  if (parts.length > 2 || !parts.every((p) => NAME_RE.test(p))) return null;
  return { repoId: id, revision };
}

// What a T5 model directory needs, besides config.json and the weights. 404 for any of them is fine.
const OPTIONAL_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'spiece.model',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'cyclener.json',
];
const PROGRESS_BYTES = 10 * 1024 * 1024;

const resolved = new Map<string, ModelSource>();

/** The recorded origin of `dir`: what resolveModel returned for it, else what its path says (a cache snapshot or not). */
export function modelSource(dir: string): ModelSource {
  const abs = path.resolve(dir);
  const known = resolved.get(abs);
  if (known) return known;
  const m = /[\\/]models--([^\\/]+)[\\/]snapshots[\\/]([0-9a-f]{40})(?:[\\/]|$)/.exec(abs);
  return m ? { path: abs, repoId: m[1]!.split('--').join('/'), commit: m[2]! } : { path: abs };
}

interface Ctx {
  spec: string;
  id: ModelId;
  hub: HubSettings;
  cache: RepoCache;
  commit: string | null;
  log: (line: string) => void;
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
}

function httpError(c: Ctx, status: number, code: string | null, file: string): HubError {
  const { repoId, revision } = c.id;
  if (status === 401 || status === 403) {
    return new HubError(
      'auth',
      c.hub.token
        ? `${c.spec}: the Hub refused access with your token (HTTP ${status}): the model is gated (accept its conditions on ${c.hub.endpoint}/${repoId}) or private, or the token (HF_TOKEN) is wrong`
        : `${c.spec}: the Hub refused access (HTTP ${status}): the model is gated or private (or does not exist); set HF_TOKEN to a token that can read it`,
    );
  }
  if (status === 404) {
    if (code === 'RevisionNotFound')
      return new HubError('not-found', `${c.spec}: no revision "${revision}" in ${repoId} on ${c.hub.endpoint} (404)`);
    if (code !== 'RepoNotFound' && (code === 'EntryNotFound' || c.commit))
      return new HubError('not-found', `${c.spec}: no file ${file} in ${repoId} at ${c.commit ?? revision} (404)`);
    return new HubError('not-found', `${c.spec}: not a local directory, and no such model on ${c.hub.endpoint} (404)`);
  }
  return new HubError('network', `${c.spec}: ${c.hub.endpoint} answered HTTP ${status} for ${file}`);
}

/**
 * Make `file` present in the snapshot (download when needed); false when the repo has no such file.
 * The first request names the revision and fixes the commit; later ones name the commit, so every file comes from it.
 */
async function fetchFile(c: Ctx, file: string, opts: { required?: boolean; probe?: boolean } = {}): Promise<boolean> {
  if (c.commit) {
    const st = c.cache.fileState(c.commit, file);
    if (st !== 'unknown') {
      if (st === 'absent' && opts.required)
        throw new HubError(
          'not-found',
          `${c.spec}: no file ${file} in ${c.id.repoId} at ${c.commit} (404, cached in .no_exist)`,
        );
      return st === 'present';
    }
  }
  const url = (rev: string) =>
    `${c.hub.endpoint}/${c.id.repoId}/resolve/${encodeURIComponent(rev)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  const m = await headFile(url(c.commit ?? c.id.revision), c.hub.token, c.hub.timeouts);
  if (m.commit && COMMIT_RE.test(m.commit) && !c.commit) {
    c.commit = m.commit;
    c.cache.writeRef(c.id.revision, m.commit);
  }
  if (m.status === 404 && c.commit && (m.errorCode === 'EntryNotFound' || m.commit)) {
    c.cache.markAbsent(c.commit, file);
    if (opts.required) throw httpError(c, 404, 'EntryNotFound', file);
    return false;
  }
  if (m.status >= 400) throw httpError(c, m.status, m.errorCode, file);
  if (opts.probe) return true;
  if (!c.commit || !m.etag)
    throw new HubError(
      'network',
      `${c.spec}: ${c.hub.endpoint} sent no X-Repo-Commit/ETag for ${file} (is HF_ENDPOINT a Hugging Face Hub?)`,
    );
  if (c.cache.fileState(c.commit, file) === 'present') return true;
  const blob = c.cache.blobPath(m.etag);
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  if (!fs.existsSync(blob)) {
    const big = m.size !== null && m.size >= PROGRESS_BYTES;
    if (big) c.log(`downloading ${c.id.repoId} ${file} (${mb(m.size!)}) into ${c.cache.dir}`);
    let last = 0;
    const tty = big && process.stderr.isTTY === true;
    // By commit: the file of the commit the HEAD named, even if the branch moves meanwhile.
    await downloadBlob(url(c.commit), blob, m.etag, {
      token: c.hub.token,
      timeouts: c.hub.timeouts,
      size: m.size,
      onProgress: tty
        ? (n) => {
            if (Date.now() - last < 500) return;
            last = Date.now();
            process.stderr.write(`\r  ${file}: ${mb(n)} of ${mb(m.size!)} (${((100 * n) / m.size!).toFixed(0)}%)`);
          }
        : undefined,
    });
    if (tty) process.stderr.write(`\r  ${file}: ${mb(m.size!)} done${' '.repeat(20)}\n`);
  }
  c.cache.link(c.commit, file, m.etag);
  return true;
}

function readShards(c: Ctx): string[] {
  const p = path.join(c.cache.snapshotDir(c.commit!), 'model.safetensors.index.json');
  const j = readJsonFile<{ weight_map?: Record<string, string> }>(p);
  return [...new Set(Object.values(j.weight_map ?? {}))].sort();
}

async function download(c: Ctx): Promise<void> {
  await fetchFile(c, 'config.json', { required: true });
  if (!(await fetchFile(c, 'model.safetensors'))) {
    if (await fetchFile(c, 'model.safetensors.index.json')) {
      for (const s of readShards(c)) await fetchFile(c, s, { required: true });
    } else {
      const bin = await fetchFile(c, 'pytorch_model.bin', { probe: true });
      throw new HubError(
        'unsupported',
        `${c.spec}: ${bin ? 'the repo has only pytorch_model.bin' : 'no model.safetensors in the repo'}; cyclener reads safetensors weights only (convert with transformers: save_pretrained(dir, safe_serialization=True))`,
      );
    }
  }
  for (const f of OPTIONAL_FILES) await fetchFile(c, f);
}

/** The cached snapshot of `c.id`, without the network: null when the ref is unknown; an error naming what is missing. */
function fromCache(c: Ctx): string | null {
  const commit = c.cache.commitOf(c.id.revision);
  if (!commit) return null;
  const snap = c.cache.snapshotDir(commit);
  const has = (f: string) => fs.existsSync(path.join(snap, f));
  const missing = has('config.json') ? [] : ['config.json'];
  if (!has('model.safetensors')) {
    if (has('model.safetensors.index.json')) missing.push(...readShards({ ...c, commit }).filter((s) => !has(s)));
    else missing.push('model.safetensors');
  }
  if (missing.length > 0)
    throw new HubError(
      'offline',
      `${c.spec}: the cached snapshot ${snap} lacks ${missing.join(', ')}; download it once with network access`,
    );
  c.commit = commit;
  return snap;
}

/**
 * A model directory for `spec`: an existing path as is, else a Hub id resolved in the cache (HF_HUB_CACHE / HF_HOME),
 * downloaded from HF_ENDPOINT with HF_TOKEN when needed, or from the cache only with HF_HUB_OFFLINE=1.
 * When the Hub cannot be reached and the revision is cached, the cached snapshot is used (as huggingface_hub does).
 */
export async function resolveModel(
  spec: string,
  o: { revision?: string; env?: Record<string, string | undefined>; log?: (line: string) => void } = {},
): Promise<ResolvedModel> {
  if (fs.existsSync(spec)) return { dir: spec };
  const parsed = parseModelId(spec);
  if (!parsed) throw new HubError('not-found', `${spec}: no such directory`);
  const id = o.revision && !spec.includes('@') ? { ...parsed, revision: o.revision } : parsed;
  const hub = hubSettings(o.env);
  const c: Ctx = {
    spec,
    id,
    hub,
    cache: new RepoCache(hub.cacheDir, id.repoId),
    commit: COMMIT_RE.test(id.revision) ? id.revision : null,
    log: o.log ?? ((l) => process.stderr.write(`${l}\n`)),
  };
  let dir: string;
  if (hub.offline) {
    const snap = fromCache(c);
    if (!snap)
      throw new HubError(
        'offline',
        `${spec}: HF_HUB_OFFLINE is set and ${hub.cacheDir} has no ${id.repoId} at "${id.revision}" (no ${path.relative(hub.cacheDir, c.cache.refFile(id.revision))}); not a local directory either`,
      );
    dir = snap;
  } else {
    try {
      await download(c);
      dir = c.cache.snapshotDir(c.commit!);
    } catch (e) {
      if (!(e instanceof HubError) || e.kind !== 'network') throw e;
      let snap: string | null = null;
      try {
        snap = fromCache(c);
      } catch {
        snap = null;
      }
      const msg = e.message.startsWith(`${spec}: `) ? e.message : `${spec}: ${e.message}`;
      if (!snap)
        throw new HubError(
          'network',
          `${msg}; no usable cached snapshot of ${id.repoId} at "${id.revision}" in ${hub.cacheDir}`,
        );
      c.log(`${msg}; using the cached snapshot ${c.commit} of ${id.repoId} (set HF_HUB_OFFLINE=1 to skip the Hub)`);
      dir = snap;
    }
  }
  const r: ResolvedModel = { dir, repoId: id.repoId, revision: id.revision, commit: c.commit! };
  resolved.set(path.resolve(dir), {
    path: path.resolve(dir),
    repoId: id.repoId,
    revision: id.revision,
    commit: c.commit!,
  });
  return r;
}
