// Plain greedy decoding of an exported T5 (`cyclener export --onnx`, tools/onnx/export_t5.py) in onnxruntime-node: the
// encoder once, the first step with decoder_model.onnx, every later one with decoder_with_past_model.onnx (or all
// steps with decoder_model_merged.onnx, as transformers.js runs it). The ONNX Runtime anchor of `npm run bench:infer`
// and the check of test/e2e/export-onnx.test.ts. Like transformers' and transformers.js' greedy search, every row of the
// batch is decoded until all have emitted EOS (finished rows are fed pad) or maxNewTokens is reached.
// onnxruntime-node is a devDependency: only benches and tests import this file.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';

export interface OrtT5 {
  encoder: ort.InferenceSession;
  decoder: ort.InferenceSession;
  decoderWithPast: ort.InferenceSession | null;
  merged: ort.InferenceSession | null;
  numDecoderLayers: number;
  numHeads: number;
  dKv: number;
  pad: number;
  eos: number;
  start: number;
  release(): Promise<void>;
}

export interface OrtOptions {
  /** intra-op threads (inter-op 1, sequential execution). */
  threads: number;
  /** Run every step with decoder_model_merged.onnx (use_cache_branch), as transformers.js does. Default false. */
  merged?: boolean;
}

/** The sessions of an exported folder (DIR/onnx/*.onnx, DIR/config.json). */
export async function loadOrtT5(dir: string, o: OrtOptions): Promise<OrtT5> {
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  const opts: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  const open = (f: string) => ort.InferenceSession.create(path.join(dir, 'onnx', f), opts);
  const encoder = await open('encoder_model.onnx');
  const merged = o.merged ? await open('decoder_model_merged.onnx') : null;
  const decoder = merged ?? (await open('decoder_model.onnx'));
  const decoderWithPast = merged ? null : await open('decoder_with_past_model.onnx');
  return {
    encoder,
    decoder,
    decoderWithPast,
    merged,
    numDecoderLayers: cfg.num_decoder_layers ?? cfg.num_layers!,
    numHeads: cfg.num_heads!,
    dKv: cfg.d_kv!,
    pad: cfg.pad_token_id ?? 0,
    eos: cfg.eos_token_id ?? 1,
    start: cfg.decoder_start_token_id ?? 0,
    async release() {
      for (const s of new Set([encoder, decoder, decoderWithPast, merged])) if (s) await s.release();
    },
  };
}

const i64 = (xs: readonly number[], dims: number[]) =>
  new ort.Tensor(
    'int64',
    BigInt64Array.from(xs, (x) => BigInt(x)),
    dims,
  );

/** Rows `keep` (in order) of a tensor whose first dimension is the batch. */
function rowsOf(t: ort.Tensor, keep: readonly number[]): ort.Tensor {
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const src = t.data as Float32Array | BigInt64Array;
  const out = new (src.constructor as Float32ArrayConstructor | BigInt64ArrayConstructor)(keep.length * per);
  keep.forEach((j, i) => (out as Float32Array).set((src as Float32Array).subarray(j * per, (j + 1) * per), i * per));
  return new ort.Tensor(t.type as 'float32', out as Float32Array, [keep.length, ...t.dims.slice(1)]);
}

/**
 * Greedy sequences for a batch of source token ids (each ending with EOS, as cyclener's tokenizer gives them):
 * generated ids without the decoder start, ending with EOS when finished, no padding — generate()'s convention.
 */
export async function ortGreedy(
  m: OrtT5,
  sources: readonly number[][],
  maxNewTokens: number,
  opts: { dropFinished?: boolean } = {},
): Promise<{ sequences: number[][]; rowSteps: number }> {
  const b = sources.length;
  const s = Math.max(1, ...sources.map((x) => x.length));
  const ids: number[] = [];
  const mask: number[] = [];
  for (const x of sources) {
    for (let j = 0; j < s; j++) {
      ids.push(j < x.length ? x[j]! : m.pad);
      mask.push(j < x.length ? 1 : 0);
    }
  }
  let encMask: ort.Tensor = i64(mask, [b, s]);
  const enc = await m.encoder.run({ input_ids: i64(ids, [b, s]), attention_mask: encMask });
  let hidden = enc.last_hidden_state as ort.Tensor;
  const L = m.numDecoderLayers;
  const out: number[][] = sources.map(() => []);
  // rows[j]: the source row that row j of the decoded batch is (all of them unless finished rows are dropped)
  let rows = sources.map((_, i) => i);
  const alive = new Array<boolean>(b).fill(true);
  let next = new Array<number>(b).fill(m.start);
  let past: Record<string, ort.Tensor> = {};
  let rowSteps = 0;
  const emptyPast = (n: number) => {
    const z: Record<string, ort.Tensor> = {};
    for (let i = 0; i < L; i++)
      for (const part of ['decoder', 'encoder'])
        for (const kv of ['key', 'value'])
          z[`past_key_values.${i}.${part}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [
            n,
            m.numHeads,
            0,
            m.dKv,
          ]);
    return z;
  };
  for (let t = 0; t < maxNewTokens; t++) {
    const n = rows.length;
    rowSteps += n;
    const feeds: Record<string, ort.Tensor> = { encoder_attention_mask: encMask, input_ids: i64(next, [n, 1]) };
    let r: ort.InferenceSession.OnnxValueMapType;
    if (m.merged) {
      Object.assign(feeds, t === 0 ? emptyPast(n) : past, {
        encoder_hidden_states: hidden,
        use_cache_branch: new ort.Tensor('bool', [t > 0], [1]),
      });
      r = await m.merged.run(feeds);
    } else if (t === 0) {
      r = await m.decoder.run({ ...feeds, encoder_hidden_states: hidden });
    } else {
      r = await m.decoderWithPast!.run({ ...feeds, ...past });
    }
    const logits = r.logits!;
    const V = logits.dims[2]!;
    const data = logits.data as Float32Array;
    next = new Array<number>(n);
    for (let j = 0; j < n; j++) {
      const row = rows[j]!;
      if (!alive[row]) {
        next[j] = m.pad;
        continue;
      }
      let best = 0;
      let bestV = -Infinity;
      const off = j * V; // one position per step: logits [n, 1, V]
      for (let k = 0; k < V; k++) {
        const v = data[off + k]!;
        if (v > bestV) {
          bestV = v;
          best = k;
        }
      }
      next[j] = best;
      out[row]!.push(best);
      if (best === m.eos) alive[row] = false;
    }
    // The decoder's keys/values grow each step; the encoder's come from the first step and stay.
    const keep: Record<string, ort.Tensor> = {};
    for (let i = 0; i < L; i++)
      for (const kv of ['key', 'value']) {
        keep[`past_key_values.${i}.decoder.${kv}`] = r[`present.${i}.decoder.${kv}`] as ort.Tensor;
        keep[`past_key_values.${i}.encoder.${kv}`] =
          t === 0 ? (r[`present.${i}.encoder.${kv}`] as ort.Tensor) : past[`past_key_values.${i}.encoder.${kv}`]!;
      }
    past = keep;
    if (!rows.some((row) => alive[row])) break;
    if (opts.dropFinished && rows.some((row) => !alive[row])) {
      // Only the unfinished rows go on: every per-row input sliced (a copy of their rows).
      const js = rows.flatMap((row, j) => (alive[row] ? [j] : []));
      for (const k of Object.keys(past)) past[k] = rowsOf(past[k]!, js);
      encMask = rowsOf(encMask, js);
      if (m.merged) hidden = rowsOf(hidden, js);
      next = js.map((j) => next[j]!);
      rows = js.map((j) => rows[j]!);
    }
  }
  return { sequences: out, rowSteps };
}
