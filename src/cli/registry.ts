// Command registry and dispatcher. Commands live in their own modules and call registerCommand;
// names may have several words ("data build"). runCli is pure (io injected) so tests can drive it.

import { DataError } from '../data/errors';
import { formatHelp, parseArgs, UsageError, type FlagTable, type ParsedArgs, type PositionalSpec } from './args';
import { RunDirError } from '../util/run-dir';
import { OutputError, releaseOutputs } from '../util/output';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export interface Command<F extends FlagTable = FlagTable> {
  /** Space-separated words, e.g. "data build". */
  name: string;
  summary: string;
  flags: F;
  positionals?: PositionalSpec[];
  /** Extra help text (examples, formats). */
  details?: string;
  run(args: ParsedArgs<F>, io: Io): Promise<number> | number;
}

const commands = new Map<string, Command>();

/** F is inferred from the `flags` literal, so `run` sees typed flag values. */
export function registerCommand<F extends FlagTable>(cmd: Command<F>): void {
  if (commands.has(cmd.name)) throw new Error(`command "${cmd.name}" registered twice`);
  commands.set(cmd.name, cmd as unknown as Command);
}

export function listCommands(): Command[] {
  return [...commands.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

function overview(prefix: string[]): string {
  const p = prefix.join(' ');
  const list = listCommands().filter((c) => p === '' || c.name === p || c.name.startsWith(`${p} `));
  const w = Math.max(...list.map((c) => c.name.length), 8);
  return [
    `usage: cyclener ${p ? `${p} ` : ''}<command> [options]`,
    '',
    'commands:',
    ...list.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Run "cyclener <command> --help" for the options of a command.',
  ].join('\n');
}

/** Run the CLI; returns the exit code (0 ok, 1 failure, 2 usage error or missing file). */
/** The command that `argv` runs (the longest registered name that prefixes it) and how many words name it. */
export function findCommand(argv: readonly string[]): { cmd: Command; used: number } | null {
  let cmd: Command | undefined;
  let used = 0;
  for (const c of commands.values()) {
    const words = c.name.split(' ');
    if (words.length > used && words.every((w, i) => argv[i] === w)) {
      cmd = c;
      used = words.length;
    }
  }
  return cmd ? { cmd, used } : null;
}

export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const found = findCommand(argv);
  if (!found) {
    const words = argv.filter((a) => !a.startsWith('-'));
    const wantsHelp = argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help';
    if (wantsHelp) {
      io.out(overview([]));
      return argv.length === 0 ? 2 : 0;
    }
    // A group prefix such as "data" lists its subcommands.
    const group =
      words.length > 0 && listCommands().some((c) => c.name.startsWith(`${words[0]} `)) ? [words[0] as string] : [];
    if (group.length > 0 && (argv.length === 1 || argv.includes('--help') || argv.includes('-h'))) {
      io.out(overview(group));
      return argv.length === 1 ? 2 : 0;
    }
    io.err(`cyclener: unknown command "${words.slice(0, 2).join(' ') || argv[0]}" (run cyclener --help for the list)`);
    return 2;
  }
  const { cmd, used } = found;
  const rest = argv.slice(used);
  try {
    const args = parseArgs(rest, cmd.flags, cmd.positionals ?? [], cmd.name);
    if (!repeatsLauncher()) for (const w of args.warnings) io.err(`cyclener: ${w}`);
    if (args.help) {
      io.out(formatHelp(cmd.name, cmd.summary, cmd.flags, cmd.positionals ?? [], cmd.details));
      return 0;
    }
    return await cmd.run(args, io);
  } catch (e) {
    return reportError(e, io);
  } finally {
    releaseOutputs(); // the output locks a command took (src/util/output.ts)
  }
}

/** A data-parallel worker repeats the job's command line: the workers of --nproc (their launcher warned already) and
 *  torchrun's ranks above 0 print no flag warnings, so a job prints each once. */
const repeatsLauncher = () => process.env.CYCLENER_LAUNCHED === '1' || (process.env.RANK ?? '0') !== '0';

/** One line on stderr, no stack trace (set CYCLENER_DEBUG=1 for one). */
export function reportError(e: unknown, io: Io): number {
  if (process.env.CYCLENER_DEBUG && e instanceof Error && e.stack) io.err(e.stack);
  if (e instanceof UsageError) {
    io.err(`cyclener: ${e.message}`);
    return 2;
  }
  if (e instanceof RunDirError || e instanceof OutputError) {
    io.err(`cyclener: ${e.message}`);
    return e.exitCode;
  }
  if (e instanceof DataError) {
    io.err(`cyclener: ${e.message}`);
    return e.line === undefined && /^(no such file|is a directory)/.test(e.problem) ? 2 : 1;
  }
  io.err(`cyclener: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
}
