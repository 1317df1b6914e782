// File helpers shared by every layer: atomic file writes (src/util/output.ts) and directory replacement, the recovery of a replacement
// cut short by a kill, JSON files and JSON-lines logs that tolerate a cut last line, and file fingerprints
// (sha256 + size + line count) for the resume check. No project imports: the bottom layer.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pidAlive } from './lock';
import { lineChunks, writeFileAtomic } from './output';

/** Write via temp file + fsync + rename so a crash or a full disk never leaves a half-written file under the final
 *  name (src/util/output.ts). */
export function atomicWriteFile(file: string, data: Uint8Array | string): void {
  writeFileAtomic(file, [data]);
}

/** `value` as pretty-printed JSON (2-space indent, final newline), written atomically. */
export function writeJsonFile(file: string, value: unknown): void {
  atomicWriteFile(file, JSON.stringify(value, null, 2) + '\n');
}

/** A JSON file's value; a file that does not parse throws `FILE: not valid JSON (why)`. Not validated: callers check fields. */
export function readJsonFile<T = unknown>(file: string): T {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Replace `dir` by a directory written by `write(tmp)`: readers see the old or the new one, never a half-written one.
 *  A kill between the two renames leaves `dir` missing and `NAME.old-PID` present: see recoverSwaps. */
export function atomicDir(dir: string, write: (tmp: string) => void): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    write(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true }); // e.g. a model refused for NaN weights: leave no half-written copy
    throw e;
  }
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/** `NAME.tmp-PID` / `NAME.old-PID` (also `.NAME.…`, pretrain's older hidden form) -> NAME, kind and pid. */
function parseSwapName(entry: string): { name: string; kind: 'tmp' | 'old'; pid: number } | null {
  const m = /^\.?(.+)\.(tmp|old)-(\d+)$/.exec(entry);
  return m ? { name: m[1] as string, kind: m[2] as 'tmp' | 'old', pid: Number(m[3]) } : null;
}

/**
 * Clean up after atomicDir calls cut short in `dir` by a dead process (or by an earlier failed call of this one):
 * `NAME.old-PID` with NAME missing is renamed back (the kill fell between the two renames: the old copy is the
 * last complete one); other `.old-`/`.tmp-` leftovers are removed. Returns one line per action, for the log.
 */
export function recoverSwaps(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const notes: string[] = [];
  const entries = fs.readdirSync(dir).flatMap((e) => {
    const p = parseSwapName(e);
    return p && (p.pid === process.pid || !pidAlive(p.pid)) ? [{ entry: e, ...p }] : [];
  });
  // Restores first, so a leftover tmp of the same name is not mistaken for the only copy.
  for (const e of entries.filter((x) => x.kind === 'old')) {
    const final = path.join(dir, e.name);
    if (!fs.existsSync(final)) {
      fs.renameSync(path.join(dir, e.entry), final);
      notes.push(`restored ${e.name}/ from ${e.entry} (a previous run was killed while replacing it)`);
    }
  }
  for (const e of entries) {
    const p = path.join(dir, e.entry);
    if (!fs.existsSync(p)) continue;
    const mb = dirBytes(p) / 1e6;
    fs.rmSync(p, { recursive: true, force: true });
    notes.push(`removed ${e.entry} (${mb.toFixed(1)} MB left by pid ${e.pid})`);
  }
  return notes;
}

function dirBytes(p: string): number {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((n, e) => n + dirBytes(path.join(p, e)), 0);
}

/** Records of a JSON-lines file; unparsable lines (a line cut by a kill) are counted in `dropped`, never thrown. */
export function readJsonLines<T = Record<string, unknown>>(file: string): { records: T[]; dropped: number } {
  if (!fs.existsSync(file)) return { records: [], dropped: 0 };
  const records: T[] = [];
  let dropped = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      dropped++;
    }
  }
  return { records, dropped };
}

export interface Fingerprint {
  path: string;
  bytes: number;
  lines: number;
  sha256: string;
}

/** sha256, size and line count of a file, read in 4 MB chunks (a 100 MB file takes ~0.2 s). */
export function fingerprint(file: string): Fingerprint {
  const h = crypto.createHash('sha256');
  const buf = Buffer.alloc(4 << 20);
  const fd = fs.openSync(file, 'r');
  let bytes = 0;
  let lines = 0;
  let last = -1;
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      h.update(chunk);
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      last = chunk[n - 1] as number;
      bytes += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  if (bytes > 0 && last !== 10) lines++; // a last line without its newline
  return { path: path.resolve(file), bytes, lines, sha256: h.digest('hex') };
}

/** Write lines with a final newline (nothing for no lines), atomically. */
export function writeLines(file: string, lines: readonly string[]): void {
  writeFileAtomic(file, lineChunks(lines));
}
