// How the engine's OpenMP threads wait and how many run, chosen from the machine's situation.
//
// Measured on a 2-core box (16-row decode steps of the shipped model, 2 threads): libgomp's default wait policy (spin
// ~300k iterations before sleeping) is ~1.5x faster than OMP_WAIT_POLICY=PASSIVE on a quiet machine (8.4 vs 12.2 ms),
// but when another process holds a core every spinning barrier waits for a descheduled thread: 3.5x slower with a
// 10k spin count, 25x with 100k. So: spin while the cores are ours, sleep (PASSIVE) when they are not, and drop to
// fewer threads while other processes need the cores (the thread count, unlike the wait policy, can change at run
// time; one thread has no barriers to spin at).
//
// CYCLENER_OMP_WAIT=auto (default) | active | passive. `auto` picks the policy at load from the runnable processes
// (/proc/loadavg) and lets the thread governor adapt the thread count; the other two fix the policy and the count.
import { readFileSync, readdirSync } from 'node:fs';

export type WaitMode = 'auto' | 'active' | 'passive';

export function waitMode(env: NodeJS.ProcessEnv = process.env): WaitMode {
  const v = (env.CYCLENER_OMP_WAIT ?? 'auto').toLowerCase();
  if (v === 'auto' || v === 'active' || v === 'passive') return v;
  throw new Error(`CYCLENER_OMP_WAIT must be auto, active or passive, got '${env.CYCLENER_OMP_WAIT}'`);
}

/** Runnable tasks on the machine right now (the 4th field of /proc/loadavg, "running/total"); null off Linux. */
export function runnableTasks(): number | null {
  try {
    const m = /\s(\d+)\/\d+\s/.exec(readFileSync('/proc/loadavg', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Threads of this process that are running or runnable (state R). */
export function ownRunnableThreads(): number {
  let n = 0;
  try {
    for (const t of readdirSync('/proc/self/task')) {
      try {
        const s = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
        if (s.charAt(s.lastIndexOf(')') + 2) === 'R') n++;
      } catch {
        /* thread exited */
      }
    }
  } catch {
    return 1;
  }
  return Math.max(1, n);
}

/**
 * The OMP_WAIT_POLICY to export before libgomp loads, or null to keep libgomp's default (bounded spin).
 * An explicit OMP_WAIT_POLICY in the environment always wins. `others` = runnable tasks of other processes.
 */
export function ompWaitPolicy(
  mode: WaitMode,
  threads: number,
  cores: number,
  others: number | null,
): 'PASSIVE' | 'ACTIVE' | null {
  if (mode === 'passive') return 'PASSIVE';
  if (mode === 'active') return null; // libgomp's default: spin a while, then sleep
  if (threads <= 1) return 'PASSIVE'; // nothing to spin for
  if (others === null) return 'PASSIVE'; // cannot tell: the safe choice
  return others + threads > cores ? 'PASSIVE' : null;
}

/**
 * The thread governor's decision, from one observation: how many threads to run given the wanted count, the cores
 * and the runnable tasks of other processes. A change needs the same verdict twice in a row (`pending`), so one
 * short-lived process (a compiler, `ls`) does not flip the count.
 */
export interface GovernorState {
  current: number;
  pending: number | null;
}

export function governThreadCount(state: GovernorState, wanted: number, cores: number, others: number): GovernorState {
  const fit = Math.max(1, Math.min(wanted, cores - others));
  if (fit === state.current) return { current: state.current, pending: null };
  if (state.pending === fit) return { current: fit, pending: null };
  return { current: state.current, pending: fit };
}
