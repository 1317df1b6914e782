// Process-wide engine settings: threads, RNG, default device, configuration report.
import { readFileSync } from 'node:fs';
import { N, defaultThreads, physicalCores } from './native';
import { Device } from './dtype';
import { governThreadCount, ownRunnableThreads, runnableTasks, waitMode, type GovernorState } from './threads';

export { defaultThreads, physicalCores };

// The thread count asked for (CYCLENER_THREADS, cores, or setNumThreads); the governor may run fewer for a while.
let wantedThreads = N.getNumThreads();
let governor: GovernorState = { current: wantedThreads, pending: null };
let lastCheck = 0;
const listeners: Array<(threads: number, wanted: number) => void> = [];

export function setNumThreads(n: number): void {
  N.setNumThreads(n);
  wantedThreads = n;
  governor = { current: n, pending: null };
}
export function getNumThreads(): number {
  return N.getNumThreads();
}

/** Called with (threads now, threads wanted) whenever the governor changes the thread count. */
export function onThreadChange(fn: (threads: number, wanted: number) => void): void {
  listeners.push(fn);
}

/**
 * Thread governor (CYCLENER_OMP_WAIT=auto): at most every 2 s, run no more threads than the cores that other
 * processes leave free, back up to the wanted count when they go. Seq2SeqTrainer.step() and generate() call it; it
 * costs a clock read between checks. Returns the thread count in use.
 */
export function governThreads(minIntervalMs = 2000): number {
  if (wantedThreads <= 1 || waitMode() !== 'auto') return N.getNumThreads();
  const now = Date.now();
  if (now - lastCheck < minIntervalMs) return governor.current;
  lastCheck = now;
  const tasks = runnableTasks();
  if (tasks === null) return governor.current;
  const before = governor.current;
  governor = governThreadCount(governor, wantedThreads, physicalCores(), Math.max(0, tasks - ownRunnableThreads()));
  if (governor.current !== before) {
    N.setNumThreads(governor.current);
    for (const fn of listeners) fn(governor.current, wantedThreads);
  }
  return governor.current;
}

/** Seeds the global CPU generator (and every CUDA generator when present). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`manualSeed: expected a non-negative integer, got ${seed}`);
  N.manualSeed(seed);
}

/** Opaque snapshot of the global generators, for exact resume. */
export function getRngState(): Uint8Array {
  return new Uint8Array(N.getRngState());
}
export function setRngState(s: Uint8Array): void {
  N.setRngState(s);
}

export function cudaAvailable(): boolean {
  return N.cudaAvailable();
}

/** Device that creation functions use when none is given. */
export let defaultDevice: Device = 'cpu';
export function setDefaultDevice(d: Device): void {
  if (d === 'cuda' && !N.cudaAvailable())
    throw new Error('setDefaultDevice: CUDA is not available in this libtorch build');
  if (d !== 'cpu' && d !== 'cuda') throw new Error(`setDefaultDevice: unknown device '${String(d)}'`);
  defaultDevice = d;
}
export function getDefaultDevice(): Device {
  return defaultDevice;
}

/** Shared libraries mapped into this process whose name says BLAS/LAPACK/MKL. */
export function blasLibraries(): string[] {
  return N.blasLibraries();
}

/** The malloc in use: a preloaded tcmalloc/jemalloc (bin/cyclener preloads tcmalloc), else glibc. */
export function allocator(): string {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    for (const name of ['tcmalloc', 'jemalloc']) if (maps.includes(`lib${name}`)) return name;
  } catch {
    /* not Linux */
  }
  return 'glibc';
}

/** at::show_config(), plus the BLAS libraries actually loaded and the thread count. */
export function config(): string {
  return [
    N.showConfig().trimEnd(),
    `BLAS libraries loaded: ${N.blasLibraries().join(', ') || '(none)'}`,
    `intra-op threads: ${N.getNumThreads()}`,
    `OpenMP wait policy: ${process.env.OMP_WAIT_POLICY ?? 'libgomp default (spin, then sleep)'} (CYCLENER_OMP_WAIT=${waitMode()})`,
    `allocator: ${allocator()}`,
    `CUDA available: ${N.cudaAvailable()}`,
  ].join('\n');
}

// Fatal-signal report (native/src/crash.cc): if native code dies of SIGILL/SIGSEGV/SIGBUS/SIGFPE, the addon writes
// one line to stderr before the signal's default action:
//   <prefix>: fatal SIGILL (illegal instruction) in native code <context> (last engine op: matmul, pc ...);
//   <hint>
// These set the three texts (up to 511 bytes each; '' clears one). Cheap enough to call every training step.

/** Who is speaking (default 'cyclener'), e.g. '[rank 1] cyclener' in a data-parallel worker. */
export function setCrashPrefix(text: string): void {
  N.setCrashText(0, text);
}
/** What the process is doing, e.g. 'during training step 271' (it follows "in native code "). */
export function setCrashContext(text: string): void {
  N.setCrashText(1, text);
}
/** What the user can do about it, e.g. 'rerun with --fp32 ...'. */
export function setCrashHint(text: string): void {
  N.setCrashText(2, text);
}
/** Whether the report is installed (it is unless CYCLENER_CRASH_HANDLER=0). */
export function crashHandlerInstalled(): boolean {
  return N.crashHandlerInstalled();
}

/** One row of `profileStop()`: a libtorch op (or `cy::<op>`, one engine call) under its parent op and engine call. */
export interface ProfileRow {
  name: string;
  /** the enclosing op ('' at the top) */
  parent: string;
  /** the enclosing engine call, `cy::<op>` ('' for the engine calls themselves) */
  call: string;
  count: number;
  /** microseconds in the op itself, children excluded */
  selfUs: number;
  /** microseconds from its start to its end */
  totalUs: number;
}

/**
 * libtorch's op profiler on this thread (RecordFunction; for benchmarks, it costs ~1 µs per op). While on, every engine
 * call is a `cy::<op>` range, so time outside them is JavaScript. Not re-entrant.
 */
export function profileStart(): void {
  N.profilerStart();
}
/** Stops the profiler: self/total times summed per (op, parent, engine call). */
export function profileStop(): ProfileRow[] {
  return N.profilerStop().map(([name, parent, call, count, selfUs, totalUs]) => ({
    name,
    parent,
    call,
    count,
    selfUs,
    totalUs,
  }));
}
