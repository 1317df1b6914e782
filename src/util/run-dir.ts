// Run folders of `train`, `train-supervised` and `pretrain`: one process at a time (RUN/.lock), no silent
// overwrite of a previous run (refused unless --resume or --force), leftovers of a killed run cleaned up, and
// the resume check: RUN/inputs.json records the input files' fingerprints (and settings the run's own files do
// not hold); a resume whose inputs or settings differ is refused with the list of differences.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fingerprint, recoverSwaps, writeJsonFile, type Fingerprint } from './fs';
import { acquireLock, describeOwner, releaseLock } from './lock';
import { inputAt, inputInside, prepareFolder, type Inputs } from './output';

export const LOCK_FILE = '.lock';
export const INPUTS_FILE = 'inputs.json';

/** A refused run folder; `exitCode` 2 = fix the command line, 1 = busy. */
export class RunDirError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
    this.name = 'RunDirError';
  }
}

export interface RunDirSpec {
  command: string;
  /** Entries whose presence means the folder holds a previous run. */
  markers: readonly string[];
  /** Entries --force deletes (the previous run's files that would mislead). */
  clear: readonly string[];
  /** Other entries the command writes (kept by --force); anything else means the folder is not one of its runs. */
  own?: readonly string[];
  /** False for a command without --resume (train-supervised): the refusal then suggests only --force. */
  resumable?: boolean;
}

/** Written first by every run (train and pretrain: inputs.json; train-supervised: metrics.jsonl): a folder with
 *  neither was not made by a run of ours, whatever else it holds. */
const RUN_SIGNS = ['metrics.jsonl', INPUTS_FILE];

/** Names a run may leave besides its spec's: the lock, weight shards, temp files of atomic writes cut by a kill. */
const isOwnAlways = (e: string) =>
  e === LOCK_FILE || /^model-\d+-of-\d+\.safetensors$/.test(e) || /^\..+\.tmp-\d+-[a-z0-9]+$/.test(e);

/** Why --force must not clear `dir` (not a run of this command), or null when it may. */
function notOurRun(dir: string, spec: RunDirSpec): string | null {
  const entries = fs.readdirSync(dir);
  if (!RUN_SIGNS.some((m) => entries.includes(m))) return `no ${RUN_SIGNS.join(' or ')}`;
  const ours = new Set([...spec.clear, ...(spec.own ?? [])]);
  const foreign = entries.filter((e) => !ours.has(e) && !isOwnAlways(e));
  return foreign.length > 0
    ? `it holds ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}, which ${spec.command} does not write`
    : null;
}

export interface RunDir {
  dir: string;
  /** Markers of a previous run found at the start (after --force: those it removed). */
  previous: string[];
  release(): void;
}

/**
 * Take RUN/.lock (a live owner: refused, nothing written; a dead one on this host: taken over, logged), clean up
 * after a killed run (recoverSwaps), then refuse a previous run unless `resume` or `force` (which deletes
 * spec.clear). The lock is released by `release()` and, failing that, when the process exits.
 */
export function openRunDir(
  dir: string,
  spec: RunDirSpec,
  o: {
    resume: boolean;
    force: boolean;
    log: (line: string) => void;
    /** Input files and folders by flag: RUN must not be one, and --force refuses a RUN that holds one. */
    inputs?: Inputs;
  },
): RunDir {
  if (o.resume && o.force) throw new RunDirError('--resume and --force contradict each other: pass one', 2);
  const same = o.inputs ? inputAt(dir, o.inputs) : null;
  if (same)
    throw new RunDirError(
      `--out ${dir} is the ${same.flag} ${same.path}${same.how}: a run folder must not be one of its inputs; give another --out`,
      2,
    );
  const created = !fs.existsSync(dir);
  prepareFolder(dir, `--out ${dir}`); // a read-only or forbidden folder is reported as such (mkdir -p says ENOENT)
  const lockFile = path.join(dir, LOCK_FILE);
  const lock = acquireLock(lockFile);
  if (!lock.ok)
    throw new RunDirError(
      `${dir} is in use by ${describeOwner(lock.owner)} (${lockFile}); wait for it to finish, or delete ${lockFile} if that process is gone`,
      1,
    );
  if (lock.stale) o.log(`removed a stale lock ${lockFile} of ${describeOwner(lock.stale)} (no such process)`);
  // A folder this run created and left empty (it failed before writing anything) goes too: bad input leaves no trace.
  const onExit = () => {
    releaseLock(lockFile);
    if (created)
      try {
        fs.rmdirSync(dir);
      } catch {
        /* not empty: the run wrote something */
      }
  };
  process.on('exit', onExit);
  const release = () => {
    process.off('exit', onExit);
    onExit();
  };
  try {
    for (const note of recoverSwaps(dir)) o.log(`${dir}: ${note}`);
    const previous = spec.markers.filter((m) => fs.existsSync(path.join(dir, m)));
    if (previous.length > 0 && !o.resume && !o.force) {
      const deletes = `(deletes ${spec.clear.join(', ')})`;
      throw new RunDirError(
        spec.resumable === false
          ? `${dir} holds a previous ${spec.command} run (${previous.join(', ')}): pass --force to start over ${deletes} (${spec.command} cannot resume), or choose another output folder`
          : `${dir} holds a previous ${spec.command} run (${previous.join(', ')}): pass --resume to continue it, or --force to start over ${deletes}`,
        2,
      );
    }
    if (o.force && previous.length > 0) {
      // --force deletes only a previous run of this command, never a folder with inputs or files of someone else.
      const inside = o.inputs ? inputInside(dir, o.inputs) : null;
      if (inside)
        throw new RunDirError(
          `--force refused: ${dir} holds the ${inside.flag} ${inside.path}; it was left as it is: give another --out`,
          2,
        );
      const why = notOurRun(dir, spec);
      if (why)
        throw new RunDirError(
          `--force refused: ${dir} does not look like a ${spec.command} run folder (${why}); it was left as it is: give another --out, or empty it yourself`,
          2,
        );
    }
    if (o.force) {
      const removed = spec.clear.filter((m) => fs.existsSync(path.join(dir, m)));
      for (const m of removed) fs.rmSync(path.join(dir, m), { recursive: true, force: true });
      if (removed.length > 0) o.log(`--force: removed ${removed.join(', ')} of the previous run in ${dir}`);
    }
    return { dir, previous, release };
  } catch (e) {
    release();
    throw e;
  }
}

/** What RUN/inputs.json holds: fingerprints per flag (a list: several corpus files, model shards) and settings. */
export interface RunInputs {
  version: 1;
  command: string;
  files: Record<string, Fingerprint[]>;
  /** Flag values the run's own files (config.json, the checkpoint's recipe) do not record. */
  settings: Record<string, unknown>;
}

export function fingerprintFiles(files: Record<string, readonly string[] | undefined>): Record<string, Fingerprint[]> {
  const out: Record<string, Fingerprint[]> = {};
  for (const [flag, list] of Object.entries(files)) if (list !== undefined) out[flag] = list.map(fingerprint);
  return out;
}

/** The weight files of a model directory (single file or shards with their index), for its fingerprint. */
export function modelWeightFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /^model.*\.safetensors(\.index\.json)?$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export function writeRunInputs(dir: string, rec: Omit<RunInputs, 'version'>): void {
  writeJsonFile(path.join(dir, INPUTS_FILE), { version: 1, ...rec });
}

export function readRunInputs(dir: string): RunInputs | null {
  const p = path.join(dir, INPUTS_FILE);
  if (!fs.existsSync(p)) return null;
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8')) as RunInputs;
  } catch (e) {
    throw new RunDirError(
      `${p}: not valid JSON (${(e as Error).message}); delete it to resume without the input check`,
      2,
    );
  }
}

const short = (h: string) => `${h.slice(0, 12)}…`;
const lines = (n: number) => `${n} line${n === 1 ? '' : 's'}`;

/**
 * Differences between the recorded input files and the current ones, flag by flag. `required` flags are compared
 * both ways (recorded but not given is a difference); the others only when given (e.g. the starting models on a
 * resume, which continues from the checkpoint).
 */
export function compareInputs(
  saved: RunInputs['files'],
  now: RunInputs['files'],
  optional: ReadonlySet<string> = new Set(),
): string[] {
  const diffs: string[] = [];
  for (const flag of [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort()) {
    const a = saved[flag];
    const b = now[flag];
    if (optional.has(flag) && (a === undefined || b === undefined)) continue;
    if (a === undefined) {
      diffs.push(
        `--${flag}: the run had none, the command line gives ${b!.map((f) => path.basename(f.path)).join(', ')}`,
      );
      continue;
    }
    if (b === undefined) {
      diffs.push(
        `--${flag}: the run had ${a.map((f) => path.basename(f.path)).join(', ')}, the command line gives none`,
      );
      continue;
    }
    if (a.length !== b.length) {
      diffs.push(`--${flag}: the run had ${a.length} file(s), the command line gives ${b.length}`);
      continue;
    }
    a.forEach((x, i) => {
      const y = b[i]!;
      if (x.sha256 !== y.sha256)
        diffs.push(
          `--${flag}: ${path.basename(y.path)} changed (sha256 ${short(y.sha256)}, ${lines(y.lines)}; run was ${lines(x.lines)}, sha256 ${short(x.sha256)})`,
        );
    });
  }
  return diffs;
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined ? 'unset' : JSON.stringify(v);
}

/** "--FLAG: run has X, command line says Y" for each given flag whose value differs from the recorded one. */
export function compareSettings(
  saved: Record<string, unknown>,
  now: Record<string, unknown>,
  given: Iterable<string>,
): string[] {
  const diffs: string[] = [];
  for (const flag of given) {
    if (!(flag in saved) || !(flag in now)) continue;
    if (JSON.stringify(saved[flag]) !== JSON.stringify(now[flag]))
      diffs.push(`--${flag}: run has ${show(saved[flag])}, command line says ${show(now[flag])}`);
  }
  return diffs;
}

/** Refuse a resume whose inputs or settings differ from the run's (no-op when there are none). */
export function refuseDifferences(dir: string, diffs: readonly string[], allowed: readonly string[]): void {
  if (diffs.length === 0) return;
  throw new RunDirError(
    [
      `--resume: the command differs from the run in ${dir} (only ${allowed.map((a) => `--${a}`).join(', ')} may change on a resume; start a new run with another --out or --force):`,
      ...diffs.map((d) => `  ${d}`),
    ].join('\n'),
    2,
  );
}
