// Generation batches (lengthBatches): sources of similar length together, the longest batch first (the allocator
// then reuses a long batch's freed blocks for the shorter ones: lower peak memory), and the order changes no output.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { loadForInference } from '../../../src/cycle/model-io';
import { predictDetailed } from '../../../src/cycle/predict';
import { Direction, lengthBatches } from '../../../src/cycle/seq2seq';
import { tinyTunedTagger } from '../../helpers/cli-helpers';

T.setNumThreads(1);

test('lengthBatches: by length then position, in batches of the size, the longest batch first', () => {
  const src = ['aaaa', 'a', 'aaa', 'aa', 'aaaaa', 'bb', 'b'];
  // Ascending: a(1) b(6) aa(3) bb(5) aaa(2) aaaa(0) aaaaa(4); batches of 3 from the short end, then reversed.
  assert.deepEqual(lengthBatches(src, 3), [[4], [5, 2, 0], [1, 6, 3]]);
  assert.deepEqual(lengthBatches(src, 10), [[1, 6, 3, 5, 2, 0, 4]]);
  assert.deepEqual(lengthBatches([], 4), []);
  assert.throws(() => lengthBatches(src, 0), /batchSize must be a positive integer, got 0/);
});

test('the longest-first order changes no prediction: equal to the batches decoded shortest first, bit for bit', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-length-batches-'));
  try {
    const { world, model } = await tinyTunedTagger(root, 60);
    const base = world.evalSet.sentences.map((s) => s.text);
    const m = loadForInference(model, 'bf16');
    const dir = new Direction(
      m.model,
      m.tokenizer,
      m.meta?.prefix ?? '',
      { maxSourceTokens: 64, maxTargetTokens: 64 },
      'bf16',
    );
    // Batches of 2, and of 1 over 20 sentences: more batches than one wave of the decode stream (WAVE, 16).
    const cases = [
      { B: 2, texts: [...base, ...base.slice(0, 3)] },
      { B: 1, texts: Array.from({ length: 20 }, (_, i) => base[i % base.length]!) },
    ];
    for (const { B, texts } of cases) {
      const o = {
        grounded: true,
        types: ['location', 'organization', 'person'],
        batchSize: B,
        decode: { maxNewTokens: 24 },
      };
      const groups = lengthBatches(texts, B);
      assert.ok(groups.length >= 3, 'several batches');
      assert.ok(texts[groups[0]![0]!]!.length >= texts[groups.at(-1)![0]!]!.length, 'the longest batch first');
      const all = await predictDetailed(dir, texts, o);
      assert.ok(
        all.seqs.some((s) => s !== ''),
        'the tagger names entities',
      );
      const seqs = new Array<string>(texts.length);
      const scores = new Array<number[]>(texts.length);
      for (const idx of [...groups].reverse()) {
        const p = await predictDetailed(
          dir,
          idx.map((k) => texts[k]!),
          o,
        );
        idx.forEach((k, j) => {
          seqs[k] = p.seqs[j]!;
          scores[k] = p.scores[j]!;
        });
      }
      assert.deepEqual(all.seqs, seqs, `batches of ${B}`);
      assert.deepEqual(all.scores, scores, `batches of ${B}`);
    }
    m.model.dispose();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
