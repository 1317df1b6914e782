// The one-line report of a native crash (native/src/crash.cc, setCrashContext/setCrashHint in src/tensor/runtime.ts):
// a process that dies of SIGILL/SIGSEGV in native code says where (context, last engine op, library) and what to do,
// then dies of the same signal. The crashes happen in child processes: CYCLENER_TEST_TRAP=OP:N[:segv] makes the Nth
// call of an op execute ud2 (a real kernel-generated SIGILL, as a bad JIT instruction gives) or write to an
// unmapped address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { corpusLines, tmpDir } from '../../helpers/pretrain-helpers';

const tensorModule = path.join(__dirname, '..', '..', '..', 'src', 'tensor');

function child(code: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['-e', `const T = require(${JSON.stringify(tensorModule)});\n${code}`], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, CYCLENER_THREADS: '1', ...env },
  });
}

const MATMUL_TWICE = `
T.setCrashContext('during training step 7 under bfloat16 autocast');
T.setCrashHint('rerun with --fp32');
const a = T.randn([4, 4]);
a.matmul(a);
a.matmul(a);
console.log('not reached');`;

test('crash report: installed by default, off with CYCLENER_CRASH_HANDLER=0', () => {
  assert.equal(T.crashHandlerInstalled(), true);
  const off = child('console.log(T.crashHandlerInstalled())', { CYCLENER_CRASH_HANDLER: '0' });
  assert.equal(off.stdout.trim(), 'false', off.stderr);
});

test('crash report: SIGILL in native code names the context, the op, the library and the hint, then dies of SIGILL', () => {
  const r = child(MATMUL_TWICE, { CYCLENER_TEST_TRAP: 'matmul:2' });
  assert.equal(r.signal, 'SIGILL', r.stderr);
  assert.doesNotMatch(r.stdout, /not reached/);
  assert.match(
    r.stderr,
    /^cyclener: fatal SIGILL \(illegal instruction\) in native code during training step 7 under bfloat16 autocast \(last engine op: matmul, pc 0x[0-9a-f]+ in cyclener_engine\.node\); rerun with --fp32\n$/,
  );
  // Without the trap the same code runs through.
  const ok = child(MATMUL_TWICE);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /not reached/);
});

test('crash report: SIGSEGV, and a SIGILL sent with kill(), are reported the same way', () => {
  const segv = child(MATMUL_TWICE, { CYCLENER_TEST_TRAP: 'matmul:1:segv' });
  assert.equal(segv.signal, 'SIGSEGV', segv.stderr);
  assert.match(
    segv.stderr,
    /^cyclener: fatal SIGSEGV \(invalid memory access\) in native code during training step 7 .*\(last engine op: matmul, pc 0x[0-9a-f]+ in cyclener_engine\.node\); rerun with --fp32\n$/,
  );
  const sent = child(
    `T.setCrashPrefix('[rank 1] cyclener'); T.setCrashContext('after training step 3'); T.randn([2]); process.kill(process.pid, 'SIGILL');`,
  );
  assert.equal(sent.signal, 'SIGILL', sent.stderr);
  assert.equal(
    sent.stderr,
    '[rank 1] cyclener: fatal SIGILL (illegal instruction) in native code after training step 3 (last engine op: randn)\n',
  );
});

test("crash report: Node's WebAssembly bounds traps (SIGSEGV) still become RuntimeErrors", () => {
  // (module (memory 1) (func (export "f") (param i32) (result i32) local.get 0 i32.load))
  const wasm = [
    0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 0x66, 0, 0,
    0x0a, 9, 1, 7, 0, 0x20, 0, 0x28, 2, 0, 0x0b,
  ];
  const r = child(`
const f = new WebAssembly.Instance(new WebAssembly.Module(Uint8Array.from(${JSON.stringify(wasm)}))).exports.f;
for (let i = 0; i < 3; i++) {
  try { f(1 << 30); console.log('no trap'); } catch (e) { console.log(e.constructor.name); }
}
console.log(T.crashHandlerInstalled(), f(0));`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'RuntimeError\nRuntimeError\nRuntimeError\ntrue 0\n');
  assert.equal(r.stderr, '');
});

test('cyclener pretrain: a native crash reports the training step and --fp32, and the command dies of the signal', () => {
  const shipped = path.join(__dirname, '..', '..', '..', '..', 'models', 'base-news-11m');
  if (!fs.existsSync(path.join(shipped, 'tokenizer.json'))) return;
  const dir = tmpDir('crash');
  const corpus = path.join(dir, 'c.txt');
  fs.writeFileSync(corpus, corpusLines(60, 8).join('\n') + '\n');
  const bin = path.join(__dirname, '..', '..', '..', '..', 'bin', 'cyclener');
  const args = ['pretrain', '--corpus', corpus, '--out', path.join(dir, 'o'), '--arch', 'tiny', '--tokenizer'];
  const r = spawnSync(bin, [...args, shipped, '--batch', '4', '--steps', '5', '--log-every', '1'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, CYCLENER_THREADS: '1', CYCLENER_TEST_TRAP: 'adamw:3' }, // the optimizer step of step 3
  });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.signal, 'SIGILL', r.stderr); // bin/cyclener execs node: the signal reaches us as it is
  assert.match(r.stderr, /step 2\/5 \| loss/);
  assert.doesNotMatch(r.stderr, /step 3\/5/);
  assert.match(
    r.stderr,
    /\ncyclener: fatal SIGILL \(illegal instruction\) in native code during training step 3 under bfloat16 autocast \(last engine op: adamw, pc 0x[0-9a-f]+ in cyclener_engine\.node\); rerun with --fp32 to compute in float32 without the bf16 kernels\n$/,
  );
});
