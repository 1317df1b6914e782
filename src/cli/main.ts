// Entry point of the `cyclener` command (bin/cyclener requires this file).
// Commands register themselves from ./commands; add new command modules there.
import './commands';
import { runCli } from './registry';

runCli(process.argv.slice(2), {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
}).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.stderr.write(`cyclener: ${e instanceof Error ? e.message : String(e)}\n`); process.exitCode = 1; },
);
