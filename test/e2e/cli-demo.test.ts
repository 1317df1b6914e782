// `cyclener demo` (the README's third command) runs end to end and prints the F1 table and tagged sentences.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

test('cyclener demo prints the F1 table and tagged sentences, and writes its run directory', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-demo-'));
  try {
    const main = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [main, 'demo', '--out', out, '--examples', '2'], {
      encoding: 'utf8',
      env: { ...process.env, CYCLENER_THREADS: '1' },
    });
    assert.equal(r.status, 0, r.stderr);
    const f1 = (name: string) => Number(new RegExp(`${name}\\s+([0-9.]+)`).exec(r.stdout)?.[1]);
    assert.ok(f1('S2E after CycleNER training') > f1('Lexical Matcher \\(gazetteer from Q\\)'), r.stdout);
    assert.equal((r.stdout.match(/^ {2}pred: /gm) ?? []).length, 2);
    assert.ok(fs.existsSync(path.join(out, 'metrics.jsonl')), 'metrics log written');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
