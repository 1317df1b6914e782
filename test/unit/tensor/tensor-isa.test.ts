// The elementwise kernels run an AVX-512 build where the CPU has it (native/src/kernels.cc): their results must be
// the AVX2 build's bit for bit, so that a run or a paired comparison does not depend on the machine's vector width.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

function hashes(env: NodeJS.ProcessEnv): Record<string, string> {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'helpers', 'isa-kernels-child.js')], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...env, CYCLENER_THREADS: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

test('GELU and the cross-entropy gradient (and dropout, bf16 casts) give the same bits with and without AVX-512', () => {
  const { CYCLENER_NO_AVX512: _, ...env } = process.env;
  const wide = hashes(env);
  const narrow = hashes({ ...env, CYCLENER_NO_AVX512: '1' });
  assert.equal(Object.keys(wide).length, 7);
  assert.deepEqual(wide, narrow);
});
