// The strongest compatibility check: checkpoints written by transformers' save_pretrained load here and
// reproduce transformers' logits, encoder states and generations (fixtures made by tools/gpu/make_fixtures.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { loadModel, saveCheckpoint } from '../../../src/t5/checkpoint';
import { T5ForConditionalGeneration } from '../../../src/t5/model';
import { generate } from '../../../src/t5/generation';
import { readSafetensors } from '../../../src/t5/safetensors';

const FIX = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 't5');
const LOGITS = path.join(FIX, 'hf-tiny-logits.json');
const have = fs.existsSync(LOGITS);

interface Ref {
  input_ids: number[][];
  attention_mask: number[][];
  decoder_input_ids: number[][];
  encoder_last_hidden_state: number[][][];
  logits: number[][][];
  greedy_max_new_tokens: number;
  greedy: number[][];
  beam: {
    num_beams: number;
    length_penalty: number;
    early_stopping: boolean;
    num_return_sequences: number;
    max_new_tokens: number;
    sequences: number[][];
  };
  saved_keys: string[];
}

const refs: Record<string, Ref> = have ? JSON.parse(fs.readFileSync(LOGITS, 'utf8')) : {};

function maxAbsDiff(a: Float32Array, b: number[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** HF output rows: decoder start first, padded after EOS. Ours: no start, no padding. A row without EOS ran to the end. */
function stripHF(seq: number[], start: number, eos: number): number[] {
  assert.equal(seq[0], start);
  const s = seq.slice(1);
  const e = s.indexOf(eos);
  return e >= 0 ? s.slice(0, e + 1) : s;
}

function forwardLogits(model: T5ForConditionalGeneration, r: Ref): { logits: Float32Array; enc: Float32Array } {
  return T.noGrad(() =>
    T.tidy(() => {
      const [b, s] = [r.input_ids.length, r.input_ids[0].length];
      const mask = T.tensor(r.attention_mask.flat(), [b, s], 'int64');
      const enc = model.encode(T.tensor(r.input_ids.flat(), [b, s], 'int64'), mask);
      const dec = T.tensor(r.decoder_input_ids.flat(), [b, r.decoder_input_ids[0].length], 'int64');
      const { logits } = model.decode(dec, enc, T5ForConditionalGeneration.maskBias(mask), null);
      return { logits: logits.toFloat32Array(), enc: enc.toFloat32Array() };
    }),
  );
}

function padded(r: Ref) {
  const [b, s] = [r.input_ids.length, r.input_ids[0].length];
  return {
    ids: Int32Array.from(r.input_ids.flat()),
    mask: Int32Array.from(r.attention_mask.flat()),
    batch: b,
    length: s,
  };
}

for (const name of have ? Object.keys(refs) : ['hf-tiny-*']) {
  test(
    `transformers checkpoint ${name}: logits, encoder states, greedy and beam outputs match`,
    { skip: !have && 'fixture test/fixtures/t5/hf-tiny-logits.json not present' },
    () => {
      const r = refs[name];
      const dir = path.join(FIX, name);
      const model = loadModel(dir);
      const cfg = model.config;
      const { logits, enc } = forwardLogits(model, r);
      const dEnc = maxAbsDiff(enc, r.encoder_last_hidden_state.flat(2));
      const dLog = maxAbsDiff(logits, r.logits.flat(2));
      assert.ok(dEnc < 1e-4, `encoder states max |diff| ${dEnc}`);
      assert.ok(dLog < 1e-4, `logits max |diff| ${dLog}`);

      const g = generate(model, padded(r), { maxNewTokens: r.greedy_max_new_tokens });
      assert.deepEqual(
        g.sequences,
        r.greedy.map((s) => stripHF(s, cfg.decoderStartTokenId, cfg.eosTokenId)),
        'greedy',
      );

      const bm = r.beam;
      const b = generate(model, padded(r), {
        maxNewTokens: bm.max_new_tokens,
        numBeams: bm.num_beams,
        lengthPenalty: bm.length_penalty,
        earlyStopping: bm.early_stopping,
        numReturnSequences: bm.num_return_sequences,
      });
      assert.deepEqual(
        b.sequences,
        bm.sequences.map((s) => stripHF(s, cfg.decoderStartTokenId, cfg.eosTokenId)),
        'beam n-best',
      );

      // Our save writes the same tensor names as save_pretrained, and reloads to the same logits.
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 't5-hf-'));
      saveCheckpoint(out, model);
      assert.deepEqual(
        [...readSafetensors(path.join(out, 'model.safetensors')).tensors.keys()].sort(),
        [...r.saved_keys].sort(),
      );
      const again = loadModel(out);
      assert.deepEqual(forwardLogits(again, r).logits, logits);
      again.dispose();
      model.dispose();
      fs.rmSync(out, { recursive: true });
    },
  );
}
