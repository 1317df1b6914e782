// NerModel decodes as the model records it (cyclener.json `decode`, as `predict` does); load options override.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { NerModel } from '../../../src/index';
import { META_FILE } from '../../../src/cycle/model-io';
import { tinySyntheticBase } from '../../helpers/cli-helpers';

T.setNumThreads(1);

test('NerModel.load: recorded decode settings are the defaults, options override them', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-api-decode-'));
  try {
    const { base } = tinySyntheticBase(root);
    const metaFile = path.join(base, META_FILE);
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(
      metaFile,
      JSON.stringify({ ...meta, types: ['person'], decode: { grounded: false, maxNewTokens: 7, numBeams: 2 } }),
    );
    let ner = await NerModel.load(base);
    assert.deepEqual([ner.info.decode.grounded, ner.info.decode.maxNewTokens, ner.info.decode.numBeams], [false, 7, 2]);
    ner.dispose();
    ner = await NerModel.load(base, { grounded: true, maxNewTokens: 9, numBeams: 1 });
    assert.deepEqual([ner.info.decode.grounded, ner.info.decode.maxNewTokens, ner.info.decode.numBeams], [true, 9, 1]);
    ner.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
