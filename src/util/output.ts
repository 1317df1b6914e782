// The one discipline for every file a command writes (predict, baseline lexical, report, data build, gate, experiment
// results, and the atomic writes under them). Before any work, claimOutputs checks that each output's folder exists
// (or creates it) and is writable, that no output is an input (same real path, or same device+inode: symlinks and
// hard links), and that none exists without --force; it then takes a lock (`<out>.lock`, or DIR/.lock for a folder)
// so a second writer fails naming the first. Writes go to a temp file in the target's folder, fsynced, then renamed:
// a failure (a full disk) leaves the previous file as it was and no partial file under the final name.
//
// Test hook: CYCLENER_TEST_FAULT=CODE:TEXT makes the syscalls below fail with CODE for paths containing TEXT, as the
// kernel would on a full disk (ENOSPC/EDQUOT: a write, after half its bytes) or a read-only or forbidden folder
// (EROFS/EACCES: the folder check and file creation), so the tests exercise these paths without a real one.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { acquireLock, describeOwner, pidAlive, releaseLock } from './lock';

/** A refused or failed output; `exitCode` 2 = fix the command line, 1 = busy or the write failed. */
export class OutputError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
    this.name = 'OutputError';
  }
}

const WRITE_FAULTS = new Set(['ENOSPC', 'EDQUOT']);

function injectedFault(op: 'write' | 'create', p: string): NodeJS.ErrnoException | null {
  const m = /^([A-Z]+):(.+)$/.exec(process.env.CYCLENER_TEST_FAULT ?? '');
  if (!m || !p.includes(m[2] as string) || WRITE_FAULTS.has(m[1] as string) !== (op === 'write')) return null;
  return Object.assign(new Error(`${m[1]}: injected by CYCLENER_TEST_FAULT, ${op} '${p}'`), { code: m[1] });
}

const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** What an errno means for a user, or null for one without a better wording than Node's. */
function explain(e: unknown): string | null {
  switch (code(e)) {
    case 'ENOSPC':
      return 'the disk is full (ENOSPC)';
    case 'EDQUOT':
      return 'the disk quota is exceeded (EDQUOT)';
    case 'EROFS':
      return 'read-only filesystem (EROFS)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code(e)})`;
    default:
      return null;
  }
}

/** The folder `dir` exists, is a folder and can be written to (`what`: the output it is for, in messages). */
export function checkFolder(dir: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if (code(e) === 'ENOENT') throw new OutputError(`${what}: the folder ${dir} does not exist (create it first)`, 2);
    throw e;
  }
  if (!st.isDirectory()) throw new OutputError(`${what}: ${dir} is not a folder`, 2);
  try {
    const fault = injectedFault('create', dir);
    if (fault) throw fault;
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    const why = explain(e);
    if (why) throw new OutputError(`${what}: cannot write in ${dir}: ${why}`, 2);
    throw e;
  }
}

/** mkdir -p `dir` (a read-only or forbidden parent is reported as such); returns the first folder it created. */
export function makeFolder(dir: string, what: string): string | undefined {
  try {
    const fault = fs.existsSync(dir) ? null : injectedFault('create', dir);
    if (fault) throw fault;
    return fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const why = explain(e);
    if (why) throw new OutputError(`${what}: cannot create the folder ${dir}: ${why}`, 2);
    // Node's recursive mkdir says ENOENT where a parent is read-only or forbidden: ask the nearest existing one.
    let parent = path.dirname(path.resolve(dir));
    while (!fs.existsSync(parent) && path.dirname(parent) !== parent) parent = path.dirname(parent);
    checkFolder(parent, what);
    throw new OutputError(`${what}: cannot create the folder ${dir}: ${(e as Error).message}`, 2);
  }
}

/** `dir` created if missing, then checked (checkFolder): for commands whose output is a folder of their own. */
export function prepareFolder(dir: string, what: string): void {
  makeFolder(dir, what);
  checkFolder(dir, what);
}

/** `p` with symlinks resolved, also for a file that does not exist yet (its folder's real path + its name). */
function realPath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    const parent = path.dirname(path.resolve(p));
    return parent === path.resolve(p) ? parent : path.join(realPath(parent), path.basename(p));
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

/** An existing output that is not a regular file or folder: a device (/dev/null), a FIFO, a pipe (/dev/stdout). It is
 *  written in place as `>` would: never replaced by a rename (as root that would turn /dev/null into a plain file). */
const isStream = (p: string) => {
  const st = statOrNull(p);
  return st !== null && !st.isFile() && !st.isDirectory();
};

/** The command's inputs by flag ("--input": FILE); absent flags are undefined, a flag may name several paths. */
export type Inputs = Readonly<Record<string, string | readonly string[] | undefined>>;

function inputList(inputs: Inputs): { flag: string; path: string }[] {
  return Object.entries(inputs).flatMap(([flag, v]) =>
    (v === undefined ? [] : typeof v === 'string' ? [v] : v).map((p) => ({ flag, path: p })),
  );
}

/** How `out` is `input` ("", " (a symlink to it)", " (a hard link to it)"), or null when they are different files. */
export function sameFile(out: string, input: string): string | null {
  const a = statOrNull(out);
  const b = statOrNull(input);
  const byPath = realPath(out) === realPath(input);
  if (!byPath && !(a && b && a.dev === b.dev && a.ino === b.ino)) return null;
  if (path.resolve(out) === path.resolve(input)) return '';
  const link = (p: string) => fs.lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink() === true;
  return byPath || link(out) || link(input) ? ' (a symlink to it)' : ' (a hard link to it)';
}

/** The first input that `out` is (see sameFile), for a refusal. */
export function inputAt(out: string, inputs: Inputs): { flag: string; path: string; how: string } | null {
  for (const i of inputList(inputs)) {
    const how = sameFile(out, i.path);
    if (how !== null) return { ...i, how };
  }
  return null;
}

/** The first input that lies inside the folder `dir` (or is it). */
export function inputInside(dir: string, inputs: Inputs): { flag: string; path: string } | null {
  const root = realPath(dir);
  for (const i of inputList(inputs)) {
    const p = realPath(i.path);
    if (p === root || p.startsWith(root + path.sep)) return i;
  }
  return null;
}

/** The first input folder that holds the file `file` (its real path is inside the folder's). */
function folderHolding(file: string, inputs: Inputs): { flag: string; path: string } | null {
  const p = realPath(file);
  for (const i of inputList(inputs))
    if (statOrNull(i.path)?.isDirectory() && p.startsWith(realPath(i.path) + path.sep)) return i;
  return null;
}

/** A temp file beside `file`, hidden, named after it and this process (stale ones are found by that name). */
function tempFor(file: string): string {
  const rand = Math.random().toString(36).slice(2, 8);
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${rand}`);
}

/** Temp files of `file` left by dead processes (a kill mid-write). */
function staleTemps(file: string): string[] {
  const prefix = `.${path.basename(file)}.tmp-`;
  try {
    return fs.readdirSync(path.dirname(file)).flatMap((e) => {
      const m = e.startsWith(prefix) ? /^(\d+)-/.exec(e.slice(prefix.length)) : null;
      return m && !pidAlive(Number(m[1])) ? [path.join(path.dirname(file), e)] : [];
    });
  } catch {
    return [];
  }
}

function writeError(e: unknown, file: string, existed: boolean): unknown {
  const why = explain(e);
  if (!why) return e;
  const kept = existed ? `${file} keeps its previous content` : `no partial ${path.basename(file)} was left`;
  return new OutputError(`cannot write ${file}: ${why}; ${kept}`, 1);
}

/** Where writing `file` lands: through a symlink, its target (as a plain write would), else `file` itself. */
function targetOf(file: string): string {
  try {
    return fs.lstatSync(file).isSymbolicLink() ? fs.realpathSync(file) : file;
  } catch {
    return file; // absent, or a dangling link: replaced by the file
  }
}

/** An output being written: to a temp file beside `file`'s target (fsynced, then renamed by commit), or, for a
 *  stream (isStream), to it directly (tmp null). */
interface Stage {
  file: string;
  fd: number;
  tmp: string | null;
  target: string;
  existed: boolean;
}

/** Temp files being written (an async write can be interrupted between chunks): a signal removes them (onSignal). */
const openTemps = new Set<string>();

function openStage(file: string): Stage {
  if (isStream(file)) return { file, fd: fs.openSync(file, 'w'), tmp: null, target: file, existed: true };
  const target = targetOf(file);
  const tmp = tempFor(target);
  const previous = statOrNull(target);
  let fd: number;
  try {
    const fault = injectedFault('create', path.dirname(target));
    if (fault) throw fault;
    fd = fs.openSync(tmp, 'wx');
    openTemps.add(tmp);
  } catch (e) {
    throw writeError(e, file, previous !== null);
  }
  try {
    if (previous) fs.fchmodSync(fd, previous.mode & 0o7777); // a replaced file keeps its permissions
  } catch (e) {
    abortStage({ file, fd, tmp, target, existed: previous !== null }, e);
  }
  return { file, fd, tmp, target, existed: previous !== null };
}

function writeStage(s: Stage, c: string | Uint8Array): void {
  const buf = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
  if (s.tmp !== null) {
    const fault = injectedFault('write', s.file);
    if (fault) {
      fs.writeSync(s.fd, buf, 0, buf.length >> 1); // a full disk takes part of a write before it refuses
      throw fault;
    }
  }
  for (let off = 0; off < buf.length;) off += fs.writeSync(s.fd, buf, off, buf.length - off);
}

/** Close a stage that failed (its temp file removed) and throw the failure, explained. */
function abortStage(s: Stage, e: unknown): never {
  fs.closeSync(s.fd);
  if (s.tmp === null) {
    const why = explain(e);
    throw why ? new OutputError(`cannot write ${s.file}: ${why}`, 1) : e;
  }
  fs.rmSync(s.tmp, { force: true });
  openTemps.delete(s.tmp);
  throw writeError(e, s.file, s.existed);
}

function finishStage(s: Stage): { tmp: string | null; target: string } {
  try {
    if (s.tmp !== null) fs.fsyncSync(s.fd);
  } catch (e) {
    abortStage(s, e);
  }
  fs.closeSync(s.fd);
  return { tmp: s.tmp, target: s.target };
}

/** Write `chunks` to a temp file beside `file`'s target and fsync it (removed on failure); commit renames it. A stream
 *  (isStream) is written directly: tmp null. */
function stage(file: string, chunks: Iterable<string | Uint8Array>): { tmp: string | null; target: string } {
  const s = openStage(file);
  try {
    for (const c of chunks) writeStage(s, c);
  } catch (e) {
    abortStage(s, e);
  }
  return finishStage(s);
}

function commit({ tmp, target }: { tmp: string | null; target: string }): void {
  if (tmp === null) return;
  fs.renameSync(tmp, target);
  openTemps.delete(tmp);
  try {
    const dfd = fs.openSync(path.dirname(target), 'r'); // persist the rename itself
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
  } catch {
    /* some filesystems refuse fsync on directories; the rename is still atomic */
  }
}

/** Write `file` atomically from `chunks` (strings are UTF-8): readers see the old or the new file, never a cut one. */
export function writeFileAtomic(file: string, chunks: Iterable<string | Uint8Array>): void {
  commit(stage(file, chunks));
}

/**
 * Write `file` atomically from chunks produced asynchronously (a stream of predictions): nothing of it is visible until
 * the last chunk is written and fsynced; a failure in between (in the producer too) leaves the previous file intact.
 */
export async function writeFileAtomicAsync(file: string, chunks: AsyncIterable<string | Uint8Array>): Promise<void> {
  const s = openStage(file);
  try {
    for await (const c of chunks) writeStage(s, c);
  } catch (e) {
    abortStage(s, e);
  }
  commit(finishStage(s));
}

/**
 * Write several files that belong together (data build's S/Q/dev files and manifest): every one is written to its
 * temp file first, and only when all succeeded are they renamed, in order (put the manifest last), so a failure
 * leaves every previous file as it was.
 */
export function writeFilesAtomic(files: readonly { file: string; chunks: Iterable<string | Uint8Array> }[]): void {
  const staged: { tmp: string | null; target: string }[] = [];
  try {
    for (const f of files) staged.push(stage(f.file, f.chunks));
  } catch (e) {
    for (const s of staged)
      if (s.tmp !== null) {
        fs.rmSync(s.tmp, { force: true });
        openTemps.delete(s.tmp);
      }
    throw e;
  }
  for (const s of staged) commit(s);
}

/** `lines` with newlines, joined in blocks so a large file is not one string. */
export function* lineChunks(lines: readonly string[], block = 4096): Generator<string> {
  for (let i = 0; i < lines.length; i += block) yield lines.slice(i, i + block).join('\n') + '\n';
}

export interface ClaimOptions {
  /** --force: existing outputs may be replaced. */
  force: boolean;
  /** The command's inputs by flag: an output that is one of them is refused. */
  inputs?: Inputs;
  /** Create missing folders (and remove those left empty by a failure); else a missing folder is refused. */
  createFolders?: boolean;
  /** The lock file (default: the first output + ".lock"). */
  lock?: string;
}

export interface Claim {
  release(): void;
}

const active = new Set<Claim>();

/**
 * Check and lock a command's output files before it does any work (see the top of this file). Throws OutputError:
 * exit 2 for a missing or read-only folder, an output that is an input, an existing output without --force; exit 1
 * when another live process holds the lock. Released by `release()`, by releaseOutputs (the CLI, after each
 * command) and at process exit.
 */
export function claimOutputs(outputs: Inputs, o: ClaimOptions): Claim {
  const files = inputList(outputs);
  const created: { top: string; deepest: string }[] = [];
  let lockFile: string | undefined;
  const claim: Claim = {
    release() {
      active.delete(claim);
      if (active.size === 0) watchSignals(false);
      process.off('exit', claim.release);
      if (lockFile) releaseLock(lockFile);
      // Folders this claim created that nothing filled (the command failed) go again: bad input leaves no trace.
      for (const { top, deepest } of created.reverse())
        for (let d = deepest; ; d = path.dirname(d)) {
          try {
            fs.rmdirSync(d);
          } catch {
            break; // not empty: something was written
          }
          if (d === top || path.dirname(d) === d) break;
        }
    },
  };
  // Watched from the start, so a Ctrl-C right after the lock is taken still releases it.
  active.add(claim);
  if (active.size === 1) watchSignals(true);
  process.on('exit', claim.release);
  try {
    const seen = new Map<string, string>();
    for (const { flag, path: file } of files) {
      const what = `${flag} ${file}`;
      const dir = path.dirname(path.resolve(file));
      if (o.createFolders && !isStream(file)) {
        const top = makeFolder(dir, what);
        if (top) created.push({ top: path.resolve(top), deepest: dir });
      }
      if (!isStream(file)) checkFolder(dir, what);
      if (statOrNull(file)?.isDirectory()) throw new OutputError(`${what} is a folder: give a file name`, 2);
      const input = o.inputs ? inputAt(file, o.inputs) : null;
      if (input)
        throw new OutputError(
          `${what} is the ${input.flag} file ${input.path}${input.how}: writing it would destroy the input; give another ${flag}`,
          2,
        );
      // A file already in an input folder (the weights of --model) is part of that input: never replaced.
      const holder = statOrNull(file)?.isFile() && o.inputs ? folderHolding(file, o.inputs) : null;
      if (holder)
        throw new OutputError(
          `${what} is a file of the ${holder.flag} folder ${holder.path}: replacing it would damage the input; give another ${flag}`,
          2,
        );
      const real = realPath(file);
      const twin = seen.get(real);
      if (twin !== undefined) throw new OutputError(`${twin} and ${what} are the same file: give two names`, 2);
      seen.set(real, what);
    }
    if (files.length === 0) throw new Error('claimOutputs: no output');
    // Streams (a device, a pipe) are written in place, as `>` would: no lock beside them, no --force needed.
    const regular = files.filter((f) => !isStream(f.path));
    const first = regular[0] ?? (files[0] as { flag: string; path: string });
    const lock = o.lock ?? (regular.length > 0 ? `${first.path}.lock` : undefined);
    if (lock !== undefined) {
      let got: ReturnType<typeof acquireLock>;
      try {
        got = acquireLock(lock);
      } catch (e) {
        const why = explain(e);
        throw why ? new OutputError(`${first.flag} ${first.path}: cannot create the lock ${lock}: ${why}`, 2) : e;
      }
      if (!got.ok)
        throw new OutputError(
          `${first.path} is being written by ${describeOwner(got.owner)} (${lock}); wait for it to finish, or delete ${lock} if that process is gone`,
          1,
        );
      lockFile = lock;
    }
    if (!o.force)
      for (const { path: file } of regular)
        if (fs.existsSync(file)) throw new OutputError(`${file} exists; pass --force to overwrite it`, 2);
    for (const { path: file } of regular) for (const t of staleTemps(file)) fs.rmSync(t, { force: true });
  } catch (e) {
    claim.release();
    throw e;
  }
  return claim;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Ctrl-C or kill while claims are held: release them (the locks), then die of the signal as before. A command with
 *  its own handler (a training's graceful stop) keeps the signal: it releases its claims when it returns. */
function onSignal(sig: NodeJS.Signals): void {
  if (process.listenerCount(sig) > 1) return;
  for (const t of openTemps) fs.rmSync(t, { force: true });
  releaseOutputs();
  for (const s of SIGNALS) process.off(s, onSignal);
  process.kill(process.pid, sig);
}

function watchSignals(on: boolean): void {
  for (const s of SIGNALS) {
    process.off(s, onSignal);
    if (on) process.on(s, onSignal);
  }
}

/** Release every claim still held (the CLI calls this when a command returns or throws). */
export function releaseOutputs(): void {
  for (const c of [...active]) c.release();
}
