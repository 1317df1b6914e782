// Entry point of the `cyclener` command (bin/cyclener runs this file).
// Commands register themselves from ./commands; only the one argv names is loaded (commands/lazy.ts).
import { loadCommandsFor } from './commands/lazy';
import { onThreadChange, setCrashHint, setCrashPrefix } from '../tensor';
import { findCommand, runCli } from './registry';

onThreadChange((threads, wanted) => {
  const why = threads < wanted ? 'other processes are using the cores' : 'the cores are free again';
  process.stderr.write(
    `cyclener: ${threads} of ${wanted} threads (${why}; CYCLENER_OMP_WAIT=active|passive fixes the count)\n`,
  );
});

// `cyclener ... | head`: the reader closing the pipe ends the command as SIGPIPE ends a Unix tool (status 141), without
// a stack trace; Node would otherwise throw the EPIPE from the next write as an unhandled error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(128 + 13);
});

// A worker of a data-parallel job other than rank 0 only speaks to report an error: say which one.
const rankTag = Number(process.env.WORLD_SIZE) > 1 && process.env.RANK !== '0' ? `[rank ${process.env.RANK}] ` : '';

// A crash in native code (e.g. SIGILL in a oneDNN bf16 kernel) is reported in one line before the process dies
// (src/tensor/runtime.ts); the trainer adds the step. A command that computes in bf16 can avoid those kernels.
setCrashPrefix(`${rankTag}cyclener`);
const argv = process.argv.slice(2);
async function main(): Promise<number> {
  await loadCommandsFor(argv);
  const command = findCommand(argv)?.cmd;
  if (command && 'fp32' in command.flags && !argv.includes('--fp32'))
    setCrashHint(
      argv.includes('--resume')
        ? 'bf16 kernels can be avoided with --fp32 (float32 compute) in a new run; --resume keeps the saved precision'
        : 'rerun with --fp32 to compute in float32 without the bf16 kernels',
    );
  return runCli(argv, {
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${rankTag}${t}\n`),
  });
}
main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${rankTag}cyclener: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
