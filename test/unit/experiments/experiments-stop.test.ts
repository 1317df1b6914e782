// A runner stopped by a signal (stopActiveChildren) asks its running stage to stop, waits until that stage has exited
// (a training stage writes its checkpoint first) and starts no further stage. Own file: the stop is process-wide.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { filterCells, planExperiment } from '../../../src/experiments/plan';
import { runCell, stopActiveChildren, type RunContext } from '../../../src/experiments/runner';

const FIXTURE = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'conll-mini.txt');

test('runner stop: SIGTERM to the running stage, wait for its exit, no new stage', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-stop-'));
  try {
    const dataDir = path.join(root, 'data');
    fs.mkdirSync(path.join(dataDir, 'conll2003'), { recursive: true });
    for (const s of ['train', 'dev', 'test']) fs.copyFileSync(FIXTURE, path.join(dataDir, 'conll2003', `${s}.txt`));
    // A stand-in for the CLI: says it started, and on SIGTERM takes a moment to "write its checkpoint" before exiting 130.
    const fake = path.join(root, 'fake-cli.js');
    const mark = (n: string) => JSON.stringify(path.join(root, n));
    fs.writeFileSync(
      fake,
      [
        `const fs = require('fs');`,
        `fs.writeFileSync(${mark('started')}, '');`,
        `process.on('SIGTERM', () => setTimeout(() => { fs.writeFileSync(${mark('checkpointed')}, ''); process.exit(130); }, 300));`,
        `setInterval(() => {}, 1000);`,
      ].join('\n'),
    );
    const [cell] = filterCells(
      planExperiment('table6', { preset: 'smoke', seeds: [1], dataDir }),
      'conll2003/1k-1k-gq/lexical',
    );
    const ctx: RunContext = {
      root: path.join(root, 'out'),
      preset: 'smoke',
      dataDir,
      baseModel: path.join(root, 'no-model'),
      cliMain: fake,
      evalSplit: 'test',
      log: () => undefined,
    };
    const running = runCell(cell!, ctx);
    for (let i = 0; i < 200 && !fs.existsSync(path.join(root, 'started')); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(fs.existsSync(path.join(root, 'started')), 'the stage started');
    await stopActiveChildren();
    assert.ok(fs.existsSync(path.join(root, 'checkpointed')), 'resolved only after the stage finished its checkpoint');
    const r = await running;
    assert.equal(r.outcome, 'failed');
    assert.match(r.message ?? '', /exit 130/);
    fs.rmSync(path.join(root, 'started'));
    const again = await runCell(cell!, ctx);
    assert.equal(again.outcome, 'failed');
    assert.match(again.message ?? '', /not started: the runner is stopping/);
    assert.ok(!fs.existsSync(path.join(root, 'started')), 'no new stage was spawned');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
