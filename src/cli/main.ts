// Entry point of the `cyclener` command (bin/cyclener runs this file).
// Commands register themselves from ./commands; add new command modules there.
import './commands';
import { onThreadChange } from '../tensor';
import { runCli } from './registry';

onThreadChange((threads, wanted) => {
  const why = threads < wanted ? 'other processes are using the cores' : 'the cores are free again';
  process.stderr.write(
    `cyclener: ${threads} of ${wanted} threads (${why}; CYCLENER_OMP_WAIT=active|passive fixes the count)\n`,
  );
});

// A worker of a data-parallel job other than rank 0 only speaks to report an error: say which one.
const rankTag = Number(process.env.WORLD_SIZE) > 1 && process.env.RANK !== '0' ? `[rank ${process.env.RANK}] ` : '';
runCli(process.argv.slice(2), {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${rankTag}${t}\n`),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${rankTag}cyclener: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
