// Cache keys of results a command reuses instead of recomputing (gate rows, experiment cells): the sha256 of every data
// file the result was computed from and the settings that affect it. A cached result is reused only when it is whole
// (parses, has its fields) and its key equals the current one; otherwise the caller redoes it and says why in one line.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fingerprint } from './fs';

export interface CacheKey {
  /** Role (a flag or a split) -> the file's name and sha256; a role with several files (model shards) as role/name. */
  files: Record<string, { name: string; sha256: string }>;
  /** Settings that change the result, as JSON. */
  settings: Record<string, unknown>;
}

/** sha256 by path, size and mtime: a runner keys many cells on the same data and model files. */
const hashes = new Map<string, string>();

function sha256(file: string): string {
  const st = fs.statSync(file);
  const id = `${path.resolve(file)}\u0000${st.size}\u0000${st.mtimeMs}`;
  let h = hashes.get(id);
  if (h === undefined) {
    h = fingerprint(file).sha256;
    hashes.set(id, h);
  }
  return h;
}

export function cacheKey(
  files: Record<string, string | readonly string[] | undefined>,
  settings: Record<string, unknown>,
): CacheKey {
  const out: CacheKey['files'] = {};
  for (const [role, f] of Object.entries(files)) {
    if (f === undefined) continue;
    const list = typeof f === 'string' ? [[role, f]] : f.map((x) => [`${role}/${path.basename(x)}`, x]);
    for (const [r, file] of list) out[r!] = { name: path.basename(file!), sha256: sha256(file!) };
  }
  // Through JSON, so that the key compares equal to the one read back from a file (undefined fields dropped).
  return { files: out, settings: JSON.parse(JSON.stringify(settings)) as Record<string, unknown> };
}

/** JSON with sorted object keys: the same settings in another key order are the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

const short = (h: string) => `${h.slice(0, 12)}…`;
const show = (v: unknown) => (v === undefined ? 'unset' : typeof v === 'string' ? v : canonical(v));

/** What differs between a recorded key and the current one, one phrase each ("--dev: dev.txt changed (...)"). */
export function keyChanges(old: CacheKey, now: CacheKey): string[] {
  const out: string[] = [];
  for (const role of [...new Set([...Object.keys(old.files), ...Object.keys(now.files)])].sort()) {
    const a = old.files[role];
    const b = now.files[role];
    if (!a) out.push(`${role}: ${b!.name} was not used before`);
    else if (!b) out.push(`${role}: ${a.name} is no longer used`);
    else if (a.sha256 !== b.sha256)
      out.push(
        `${role}: ${a.name === b.name ? `${b.name} changed` : `${a.name} -> ${b.name}`} (sha256 ${short(a.sha256)} → ${short(b.sha256)})`,
      );
  }
  for (const k of [...new Set([...Object.keys(old.settings), ...Object.keys(now.settings)])]) {
    const [a, b] = [old.settings[k], now.settings[k]];
    if (canonical(a) !== canonical(b)) out.push(`${k} ${show(a)} → ${show(b)}`);
  }
  return out;
}

function isKey(v: unknown): v is CacheKey {
  if (v === null || typeof v !== 'object') return false;
  const k = v as Record<string, unknown>;
  const files = k.files as Record<string, unknown> | null;
  return (
    files !== null &&
    typeof files === 'object' &&
    Object.values(files).every(
      (f) =>
        f !== null &&
        typeof f === 'object' &&
        typeof (f as Record<string, unknown>).sha256 === 'string' &&
        typeof (f as Record<string, unknown>).name === 'string',
    ) &&
    k.settings !== null &&
    typeof k.settings === 'object'
  );
}

/**
 * "field exact.f1 is missing or not a number" for the first of `fields` (dotted path -> JSON type) that `v` lacks or
 * holds with another type; null when all are there.
 */
export function fieldProblem(
  v: Record<string, unknown>,
  fields: Readonly<Record<string, 'string' | 'number' | 'boolean' | 'array'>>,
): string | null {
  for (const [p, type] of Object.entries(fields)) {
    let x: unknown = v;
    for (const part of p.split('.'))
      x = x !== null && typeof x === 'object' ? (x as Record<string, unknown>)[part] : undefined;
    const ok = type === 'array' ? Array.isArray(x) : typeof x === type && (type !== 'number' || Number.isFinite(x));
    if (!ok) return `field ${p} is missing or not ${type === 'array' ? 'an array' : `a ${type}`}`;
  }
  return null;
}

export type Cached<T> =
  { status: 'missing' } | { status: 'valid'; value: T } | { status: 'damaged' | 'stale'; why: string };

/**
 * A cached JSON result holding its key under `key`: missing; damaged (cut short, not JSON, or `problem` names a missing
 * field); stale (no key: an older version wrote it; or another key: what changed); or valid.
 */
export function readCached<T>(
  file: string,
  now: CacheKey,
  problem: (v: Record<string, unknown>) => string | null = () => null,
): Cached<T> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'damaged', why: `unreadable: ${(e as Error).message}` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { status: 'damaged', why: `not valid JSON: ${(e as Error).message}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { status: 'damaged', why: 'not a JSON object' };
  const rec = v as Record<string, unknown>;
  const p = problem(rec);
  if (p) return { status: 'damaged', why: p };
  if (!isKey(rec.key)) return { status: 'stale', why: 'it has no cache key: an older version wrote it' };
  const changes = keyChanges(rec.key, now);
  return changes.length > 0 ? { status: 'stale', why: changes.join('; ') } : { status: 'valid', value: v as T };
}

/** "redoing: FILE is stale (why)" for a cached result that is not reused; null when it is missing or valid. */
export function redoLine(file: string, c: Cached<unknown>): string | null {
  return c.status === 'damaged' || c.status === 'stale' ? `redoing: ${file} is ${c.status} (${c.why})` : null;
}
