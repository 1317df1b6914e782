// Per-cell lock files, so several runner processes on the same experiment share the cells:
// created with O_EXCL and holding the owner's pid, plus `child PID` lines for its subprocesses (a
// runner killed with -9 leaves its training child running); a lock whose pids are all dead is taken over.

import * as fs from 'node:fs';
import * as os from 'node:os';

export type LockResult = { ok: true } | { ok: false; pid: number };

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number {
  try {
    return Number.parseInt(fs.readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
  } catch {
    return Number.NaN;
  }
}

function create(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'wx');
    fs.writeSync(fd, `${process.pid}\n${os.hostname()}\n${new Date().toISOString()}\n`);
    fs.closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

function childPids(file: string): number[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').flatMap((l) => { const m = /^child (\d+)$/.exec(l); return m ? [Number(m[1])] : []; });
  } catch {
    return [];
  }
}

/** Record a subprocess of the lock's owner, so the cell stays locked while it lives. */
export function addLockChild(file: string, pid: number | undefined): void {
  if (pid !== undefined) fs.appendFileSync(file, `child ${pid}\n`);
}

/** Take the lock, or report the live pid that holds it. */
export function acquireLock(file: string): LockResult {
  if (create(file)) return { ok: true };
  const pid = readPid(file);
  if (pid === process.pid) return { ok: true };
  if (pidAlive(pid)) return { ok: false, pid };
  const child = childPids(file).find(pidAlive);
  if (child !== undefined) return { ok: false, pid: child };
  // Stale (owner died, or the file is unreadable/half-written and its writer gone): take it over.
  // Re-read just before removing, so a lock another runner has just taken over is left alone
  // (the remaining window is microseconds; runners start seconds apart).
  if (readPid(file) === pid || Number.isNaN(pid)) {
    try { fs.unlinkSync(file); } catch { /* someone else removed it first */ }
  }
  if (create(file)) return { ok: true };
  const again = readPid(file);
  return again === process.pid ? { ok: true } : { ok: false, pid: again };
}

/** Remove the lock if this process holds it. */
export function releaseLock(file: string): void {
  if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
}
