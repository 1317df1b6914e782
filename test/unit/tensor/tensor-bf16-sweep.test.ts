// bf16 matmul kernels over every shape class of a `tiny` pretraining step, in a child process: oneDNN's JIT kernels
// are where a bf16 run can die of SIGILL (docs/engine-api.md, "Native crashes"), and a crash there must fail this
// test with the signal and the child's stderr, not take the test runner down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

test('bf16 autocast matmuls, forward and backward, over the tiny pretraining shapes: no crash, sane values', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'helpers', 'bf16-sweep-child.js')], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, CYCLENER_THREADS: process.env.CYCLENER_THREADS ?? '1' },
  });
  assert.equal(r.signal, null, `the child died of ${r.signal}; stderr:\n${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  const m = /^ok (\d+) (\S+)$/m.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  assert.equal(Number(m[1]), 3240);
  // bf16 inputs (8 significant bits) against float32: the gradient magnitudes agree to well under 5%.
  assert.ok(Number(m[2]) < 0.05, `worst relative gradient difference ${m[2]}`);
});
