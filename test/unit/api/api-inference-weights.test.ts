// Prediction keeps the linear weights in bf16 at bf16 precision (loadForInference): the same outputs as the fp32
// weights under autocast, bit for bit, since autocast casts each of them to bf16 at every matmul anyway.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { loadForInference, loadModelDir, META_FILE } from '../../../src/cycle/model-io';
import { saveCheckpoint } from '../../../src/t5/checkpoint';
import { predictDetailed } from '../../../src/cycle/predict';
import { Direction } from '../../../src/cycle/seq2seq';
import { tinyTunedTagger } from '../../helpers/cli-helpers';

T.setNumThreads(1);

test('bf16 linear weights for inference: same sequences and scores as fp32 weights under autocast; fp32 untouched', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-inference-weights-'));
  try {
    const { world, model } = await tinyTunedTagger(root, 60);
    const texts = [...world.evalSet.sentences, ...world.evalSet.sentences.slice(0, 3)].map((s) => s.text);
    const types = ['location', 'organization', 'person'];
    const reference = loadModelDir(model);
    const bf16 = loadForInference(model, 'bf16');
    const fp32 = loadForInference(model, 'fp32');
    const dtypes = (m: typeof reference) =>
      Object.fromEntries(m.model.namedParameters().map(([n, p]) => [n, p.dtype] as const));
    const converted = Object.entries(dtypes(bf16)).filter(([, d]) => d === 'bfloat16');
    // tiny: 2+2 layers, tied embedding; per encoder layer q,k,v,o + the FFN's weights, per decoder layer also the cross attention's.
    assert.ok(converted.length > 0);
    for (const [n] of converted) assert.match(n, /\.(q|k|v|o|wi|wi_0|wi_1|wo)\.weight$/);
    assert.equal(dtypes(bf16)['shared.weight'], 'float32', 'the embedding of an fp32 file is also a lookup: fp32');
    assert.ok(
      Object.values(dtypes(fp32)).every((d) => d === 'float32'),
      'fp32 precision keeps fp32 weights',
    );
    const dir = (m: typeof reference) =>
      new Direction(m.model, m.tokenizer, m.meta?.prefix ?? '', { maxSourceTokens: 64, maxTargetTokens: 64 }, 'bf16');
    for (const grounded of [true, false])
      for (const numBeams of [1, 2]) {
        const o = { grounded, types, batchSize: 3, decode: { maxNewTokens: 24, numBeams } };
        const want = await predictDetailed(dir(reference), texts, o);
        const got = await predictDetailed(dir(bf16), texts, o);
        assert.ok(
          want.seqs.some((s) => s !== ''),
          'the tagger names entities',
        );
        assert.deepEqual(got.seqs, want.seqs, `sequences (grounded ${grounded}, beams ${numBeams})`);
        assert.deepEqual(got.scores, want.scores, `scores, bit for bit (grounded ${grounded}, beams ${numBeams})`);
      }
    // A bf16 file (as the shipped base): its embedding is bf16 too, since the lookup of bf16 values is exact.
    const b16dir = path.join(root, 'bf16-file');
    saveCheckpoint(b16dir, reference.model, { tokenizer: reference.tokenizer, dtype: 'bfloat16' });
    fs.copyFileSync(path.join(model, META_FILE), path.join(b16dir, META_FILE));
    const fileRef = loadModelDir(b16dir);
    const fileB16 = loadForInference(b16dir, 'bf16');
    assert.equal(dtypes(fileRef)['shared.weight'], 'float32', 'loaded for training: fp32');
    assert.equal(dtypes(fileB16)['shared.weight'], 'bfloat16');
    for (const grounded of [true, false])
      for (const numBeams of [1, 2]) {
        const o = { grounded, types, batchSize: 3, decode: { maxNewTokens: 24, numBeams } };
        const want = await predictDetailed(dir(fileRef), texts, o);
        const got = await predictDetailed(dir(fileB16), texts, o);
        assert.deepEqual(got.seqs, want.seqs, `bf16 file: sequences (grounded ${grounded}, beams ${numBeams})`);
        assert.deepEqual(
          got.scores,
          want.scores,
          `bf16 file: scores, bit for bit (grounded ${grounded}, beams ${numBeams})`,
        );
      }
    for (const m of [reference, bf16, fp32, fileRef, fileB16]) m.model.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
