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

runCli(process.argv.slice(2), {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`cyclener: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
