// bin/cyclener gives node V8 flags per command (predict and serve: a small young generation, for a lower peak RSS),
// and the benchmarks run their predict job under the same ones (bench/allocator.ts CLI_NODE_FLAGS).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI_NODE_FLAGS } from '../../../bench/allocator';

const BIN = path.resolve(__dirname, '../../../../bin/cyclener');

test('bin/cyclener: the node flags of each command are those of CLI_NODE_FLAGS, before the script', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-node-flags-'));
  try {
    // A stand-in node on PATH that prints the arguments it was given, one per line.
    fs.writeFileSync(path.join(dir, 'node'), '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n', { mode: 0o755 });
    const argsOf = (cmd: string) => {
      const r = spawnSync(BIN, [cmd, '--help'], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` },
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trimEnd().split('\n');
    };
    for (const cmd of ['predict', 'serve', 'train', 'evaluate', 'demo']) {
      const args = argsOf(cmd);
      const flags = CLI_NODE_FLAGS[cmd] ?? [];
      assert.deepEqual(args.slice(0, flags.length), [...flags], cmd);
      assert.match(args[flags.length]!, /dist\/src\/cli\/main\.js$/, `${cmd}: the script follows the flags`);
      assert.deepEqual(args.slice(flags.length + 1), [cmd, '--help']);
    }
    assert.deepEqual(CLI_NODE_FLAGS.predict, ['--max-semi-space-size=2']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
