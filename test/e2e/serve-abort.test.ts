// `cyclener serve`: a client that hangs up before its answer (as a load tester does when its time is up) is no longer
// in flight, so a graceful close still finishes (it used to wait for that request's answer forever).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { NerModel, startServer } from '../../src';
import { tinySyntheticBase } from '../helpers/cli-helpers';

test('serve: a request abandoned by its client leaves the in-flight count; close() still finishes', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-abort-'));
  const { world, base } = tinySyntheticBase(root);
  const meta = path.join(base, 'cyclener.json'); // a type word, so grounded prediction accepts the model
  fs.writeFileSync(meta, JSON.stringify({ ...JSON.parse(fs.readFileSync(meta, 'utf8')), types: ['person'] }));
  const model = await NerModel.load(base, { precision: 'fp32' });
  let release = () => undefined as void;
  const held = new Promise<void>((r) => (release = r));
  let started = 0;
  const server = await startServer({
    model,
    port: 0,
    onBatch: async () => {
      started++;
      await held;
    },
  });
  try {
    const body = JSON.stringify({ texts: [world.evalSet.sentences[0]!.text] });
    const req = http.request(`${server.url}/v1/entities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', () => undefined); // the hang-up below
    req.end(body);
    for (let i = 0; i < 400 && started === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(started, 1, 'the batch started');
    assert.equal(server.stats().inFlight, 1);
    req.destroy();
    for (let i = 0; i < 400 && server.stats().inFlight > 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(server.stats().inFlight, 0, 'the abandoned request is not in flight');
    const closed = server.close();
    release(); // the batch finishes; its answer has nobody to go to
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000)),
    ]);
    assert.equal(outcome, 'closed');
    assert.equal(server.stats().items, 1);
  } finally {
    release();
    await server.close();
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
