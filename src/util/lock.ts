// Lock files (experiment cells, run folders): created with O_EXCL and holding the owner's pid, hostname and
// start time, plus `child PID` lines for its subprocesses (a runner killed with -9 leaves its training child
// running); a lock of this host whose pids are all dead is stale and taken over. A lock written on another host
// (a shared filesystem) cannot be checked from here and counts as held.

import * as fs from 'node:fs';
import * as os from 'node:os';

export type LockResult = { ok: true; stale?: LockOwner } | { ok: false; pid: number; owner: LockOwner };

/** What a lock file says about its owner (fields absent when the file is unreadable or half-written). */
export interface LockOwner {
  pid: number;
  host?: string;
  since?: string;
}

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

export function readLockOwner(file: string): LockOwner {
  try {
    const [pid, host, since] = fs.readFileSync(file, 'utf8').split('\n');
    return { pid: Number.parseInt(pid ?? '', 10), ...(host ? { host } : {}), ...(since ? { since } : {}) };
  } catch {
    return { pid: Number.NaN };
  }
}

function readPid(file: string): number {
  return readLockOwner(file).pid;
}

/** "pid 123 on host since 2024-..." for messages. */
export function describeOwner(o: LockOwner): string {
  return `pid ${Number.isNaN(o.pid) ? '?' : o.pid}${o.host ? ` on ${o.host}` : ''}${o.since ? ` since ${o.since}` : ''}`;
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
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((l) => {
        const m = /^child (\d+)$/.exec(l);
        return m ? [Number(m[1])] : [];
      });
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
  const owner = readLockOwner(file);
  const pid = owner.pid;
  const here = owner.host === undefined || owner.host === os.hostname();
  if (pid === process.pid && here) return { ok: true };
  if (!here || pidAlive(pid)) return { ok: false, pid, owner };
  const child = childPids(file).find(pidAlive);
  if (child !== undefined) return { ok: false, pid: child, owner: { ...owner, pid: child } };
  // Stale (owner died, or the file is unreadable/half-written and its writer gone): take it over.
  // Re-read just before removing, so a lock another runner has just taken over is left alone
  // (the remaining window is microseconds; runners start seconds apart).
  if (readPid(file) === pid || Number.isNaN(pid)) {
    try {
      fs.unlinkSync(file);
    } catch {
      /* someone else removed it first */
    }
  }
  if (create(file)) return { ok: true, stale: owner };
  const again = readLockOwner(file);
  return again.pid === process.pid ? { ok: true, stale: owner } : { ok: false, pid: again.pid, owner: again };
}

/** Remove the lock if this process holds it. */
export function releaseLock(file: string): void {
  if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
}
