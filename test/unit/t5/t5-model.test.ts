import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../../src/tensor';
import { T5Config, presetConfig, numParameters } from '../../../src/t5/config';
import { T5ForConditionalGeneration, drop, relativePositionBucket } from '../../../src/t5/model';
import { bannedNgramTokens, beamSearchGenerate, generate, padBatch } from '../../../src/t5/generation';
import { loadModel, saveCheckpoint } from '../../../src/t5/checkpoint';
import { readSafetensors, writeSafetensors } from '../../../src/t5/safetensors';
import { Seq2SeqTrainer, collate, seq2seqLoss } from '../../../src/t5/train';

const FIX = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 't5');

const tinyV10 = (): T5Config => presetConfig('tiny', { dropoutRate: 0 });
const tinyV11 = (): T5Config =>
  presetConfig('tiny', {
    dropoutRate: 0,
    feedForwardProj: 'gated-gelu',
    tieWordEmbeddings: false,
    numDecoderLayers: 3,
  });

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 't5-ckpt-'));
}

const SRC = [
  [5, 9, 23, 44, 1],
  [7, 8, 100, 3, 17, 90, 12, 1],
];

/** Teacher-forced logits [B, T, V] for the sources above and given decoder inputs. */
function fullLogits(model: T5ForConditionalGeneration, dec: number[][]): Float32Array {
  return T.noGrad(() =>
    T.tidy(() => {
      const b = padBatch(SRC, 0);
      const mask = T.tensor(b.mask, [b.batch, b.length]);
      const enc = model.encode(T.tensor(b.ids, [b.batch, b.length], 'int64'), mask);
      const ids = T.tensor(dec.flat(), [dec.length, dec[0].length], 'int64');
      return model.decode(ids, enc, T5ForConditionalGeneration.maskBias(mask), null).logits.toFloat32Array();
    }),
  );
}

test('relative position buckets follow the HF formula (bidirectional and causal)', () => {
  const bi = (rp: number) => relativePositionBucket(rp, true, 32, 128);
  assert.deepEqual([0, -1, 1, -7, 7, -8, -15, -200, 200].map(bi), [0, 1, 17, 7, 23, 8, 9, 15, 31]);
  const causal = (rp: number) => relativePositionBucket(rp, false, 32, 128);
  assert.deepEqual([5, 0, -1, -15, -16, -20, -127, -1000].map(causal), [0, 0, 1, 15, 16, 17, 31, 31]);
  // Every bucket boundary as computed by torch 1.13 with HF's _relative_position_bucket ("buckets,max_distance,bidirectional").
  const TORCH: Record<string, Array<[number, number]>> = {
    '32,128,1': [
      [-91, 15],
      [-90, 14],
      [-64, 14],
      [-63, 13],
      [-46, 13],
      [-45, 12],
      [-32, 12],
      [-31, 11],
      [-23, 11],
      [-22, 10],
      [-16, 10],
      [-15, 9],
      [-12, 9],
      [-11, 8],
      [-8, 8],
      [-7, 7],
      [-7, 7],
      [-6, 6],
      [-6, 6],
      [-5, 5],
      [-5, 5],
      [-4, 4],
      [-4, 4],
      [-3, 3],
      [-3, 3],
      [-2, 2],
      [-2, 2],
      [-1, 1],
      [-1, 1],
      [0, 0],
      [0, 0],
      [1, 17],
      [1, 17],
      [2, 18],
      [2, 18],
      [3, 19],
      [3, 19],
      [4, 20],
      [4, 20],
      [5, 21],
      [5, 21],
      [6, 22],
      [6, 22],
      [7, 23],
      [7, 23],
      [8, 24],
      [11, 24],
      [12, 25],
      [15, 25],
      [16, 26],
      [22, 26],
      [23, 27],
      [31, 27],
      [32, 28],
      [45, 28],
      [46, 29],
      [63, 29],
      [64, 30],
      [90, 30],
      [91, 31],
    ],
    '32,128,0': [
      [-113, 31],
      [-112, 30],
      [-99, 30],
      [-98, 29],
      [-87, 29],
      [-86, 28],
      [-77, 28],
      [-76, 27],
      [-67, 27],
      [-66, 26],
      [-59, 26],
      [-58, 25],
      [-52, 25],
      [-51, 24],
      [-46, 24],
      [-45, 23],
      [-40, 23],
      [-39, 22],
      [-35, 22],
      [-34, 21],
      [-31, 21],
      [-30, 20],
      [-27, 20],
      [-26, 19],
      [-24, 19],
      [-23, 18],
      [-21, 18],
      [-20, 17],
      [-19, 17],
      [-18, 16],
      [-16, 16],
      [-15, 15],
      [-15, 15],
      [-14, 14],
      [-14, 14],
      [-13, 13],
      [-13, 13],
      [-12, 12],
      [-12, 12],
      [-11, 11],
      [-11, 11],
      [-10, 10],
      [-10, 10],
      [-9, 9],
      [-9, 9],
      [-8, 8],
      [-8, 8],
      [-7, 7],
      [-7, 7],
      [-6, 6],
      [-6, 6],
      [-5, 5],
      [-5, 5],
      [-4, 4],
      [-4, 4],
      [-3, 3],
      [-3, 3],
      [-2, 2],
      [-2, 2],
      [-1, 1],
      [-1, 1],
      [0, 0],
    ],
    '8,20,1': [
      [-7, 3],
      [-6, 2],
      [-2, 2],
      [-1, 1],
      [-1, 1],
      [0, 0],
      [0, 0],
      [1, 5],
      [1, 5],
      [2, 6],
      [6, 6],
      [7, 7],
    ],
  };
  for (const [k, pts] of Object.entries(TORCH)) {
    const [nb, md, bi] = k.split(',').map(Number);
    for (const [rp, want] of pts) assert.equal(relativePositionBucket(rp, bi === 1, nb, md), want, `${k} at ${rp}`);
  }
});

for (const [name, mk] of [
  ['v1.0', tinyV10],
  ['v1.1', tinyV11],
] as const) {
  test(`cached decoding equals full recomputation (${name}, fp32, 1e-5)`, () => {
    const model = new T5ForConditionalGeneration(mk(), { seed: 1 }).eval();
    const dec = [
      [0, 4, 8, 15, 16, 23, 42],
      [0, 9, 9, 3, 77, 1, 0],
    ];
    const full = fullLogits(model, dec);
    const V = model.config.vocabSize;
    const L = dec[0].length;
    const stepped = T.noGrad(() => {
      const b = padBatch(SRC, 0);
      const { cache: c0, bias } = T.tidy(() => {
        const mask = T.tensor(b.mask, [b.batch, b.length]);
        const enc = model.encode(T.tensor(b.ids, [b.batch, b.length], 'int64'), mask);
        return { cache: model.emptyCache(enc), bias: T5ForConditionalGeneration.maskBias(mask) };
      });
      let cache = c0;
      const out = new Float32Array(2 * L * V);
      for (let t = 0; t < L; t++) {
        const r = T.tidy(() => {
          const ids = T.tensor(
            dec.map((d) => d[t]),
            [2, 1],
            'int64',
          );
          const { logits, cache: next } = model.decode(ids, null, bias, cache);
          return { next: next!, logits: logits.toFloat32Array() };
        });
        for (let bi = 0; bi < 2; bi++) out.set(r.logits.subarray(bi * V, (bi + 1) * V), (bi * L + t) * V);
        for (const l of cache.layers) if (l.self) T.dispose([l.self.k, l.self.v]);
        cache = r.next;
        assert.equal(cache.length, t + 1);
        assert.deepEqual(cache.layers[0].self!.k.shape, [2, model.config.numHeads, t + 1, model.config.dKv]);
      }
      for (const l of cache.layers) T.dispose([l.self!.k, l.self!.v, l.cross.k, l.cross.v]);
      bias.dispose();
      return out;
    });
    const d = maxAbsDiff(full, stepped);
    assert.ok(d < 1e-5, `max |full - cached| = ${d}`);
    model.dispose();
  });
}

test('padding is masked: a padded batch generates what each input generates alone', () => {
  const model = new T5ForConditionalGeneration(tinyV11(), { seed: 2 });
  const both = generate(model, SRC, { maxNewTokens: 10 }).sequences;
  const alone = SRC.map((s) => generate(model, [s], { maxNewTokens: 10 }).sequences[0]);
  assert.deepEqual(both, alone);
  const l0 = fullLogits(model, [
    [0, 3],
    [0, 3],
  ]);
  // And the encoder ignores what sits in padded positions.
  const other = T.noGrad(() =>
    T.tidy(() => {
      const b = padBatch(SRC, 0);
      for (let i = 5; i < b.length; i++) b.ids[i] = 99; // garbage in row 0's padding
      const mask = T.tensor(b.mask, [b.batch, b.length]);
      const enc = model.encode(T.tensor(b.ids, [b.batch, b.length], 'int64'), mask);
      return model
        .decode(T.tensor([0, 3, 0, 3], [2, 2], 'int64'), enc, T5ForConditionalGeneration.maskBias(mask), null)
        .logits.toFloat32Array();
    }),
  );
  assert.ok(maxAbsDiff(l0, other) < 1e-6);
  model.dispose();
});

test('beam search with one beam (early stopping) equals greedy; n-best is sorted', () => {
  for (const [mk, seed] of [
    [tinyV10, 3],
    [tinyV11, 4],
  ] as const) {
    const model = new T5ForConditionalGeneration(mk(), { seed });
    const greedy = generate(model, SRC, { maxNewTokens: 12 });
    const beam1 = beamSearchGenerate(model, SRC, { maxNewTokens: 12, numBeams: 1, earlyStopping: true });
    assert.deepEqual(beam1.sequences, greedy.sequences);
    const nbest = generate(model, SRC, { maxNewTokens: 12, numBeams: 4, numReturnSequences: 3 });
    assert.equal(nbest.sequences.length, 6);
    for (let b = 0; b < 2; b++) {
      const s = nbest.scores.slice(b * 3, b * 3 + 3);
      assert.ok(s[0] >= s[1] && s[1] >= s[2], `scores sorted: ${s}`);
      assert.equal(
        new Set(nbest.sequences.slice(b * 3, b * 3 + 3).map((x) => x.join(','))).size,
        3,
        'hypotheses are distinct',
      );
    }
    model.dispose();
  }
});

test('generation: maxNewTokens is required and respected; constraint hook restricts tokens', () => {
  const model = new T5ForConditionalGeneration(tinyV10(), { seed: 5 });
  assert.throws(() => generate(model, SRC, {} as never), /maxNewTokens/);
  for (const s of generate(model, SRC, { maxNewTokens: 3 }).sequences) assert.ok(s.length <= 3);
  const seen: number[] = [];
  const hook = (b: number, prefix: Int32Array) => {
    seen.push(b);
    return prefix.length >= 4 ? new Int32Array(0) : Int32Array.from([10 + b, 20 + prefix.length]);
  };
  for (const opts of [{ numBeams: 1 }, { numBeams: 3 }, { doSample: true, topK: 5, seed: 7 }]) {
    const out = generate(model, SRC, { maxNewTokens: 8, allowedTokens: hook, ...opts });
    out.sequences.forEach((s, b) => {
      assert.equal(s.length, 5, `constraint ends every hypothesis at 4 tokens + EOS (${JSON.stringify(opts)})`);
      assert.equal(s[4], model.config.eosTokenId);
      s.slice(0, 4).forEach((t, i) => assert.ok(t === 10 + b || t === 20 + i, `token ${t} at ${i} allowed`));
    });
  }
  assert.ok(seen.includes(0) && seen.includes(1));
  // Only one path is allowed: the other beams die instead of carrying banned tokens.
  const one = (_b: number, prefix: Int32Array) => (prefix.length >= 2 ? new Int32Array(0) : Int32Array.from([7]));
  const nb = generate(model, SRC, { maxNewTokens: 6, numBeams: 3, numReturnSequences: 3, allowedTokens: one });
  assert.deepEqual(nb.sequences, [[7, 7, 1], [], [], [7, 7, 1], [], []]);
  assert.deepEqual(
    nb.scores.map((s) => s === -Infinity),
    [false, true, true, false, true, true],
  );
  model.dispose();
});

test('no-repeat n-grams and repetition penalty: greedy equals a reference on full recomputation; beam never repeats an n-gram', () => {
  assert.deepEqual(bannedNgramTokens([0, 5, 6, 5], 2), [6]);
  assert.deepEqual(bannedNgramTokens([0, 5, 6, 5, 6, 5], 3), [6]);
  assert.deepEqual(bannedNgramTokens([0, 5, 5, 5], 2), [5, 5]);
  assert.deepEqual(bannedNgramTokens([0, 5], 3), []);
  assert.deepEqual(bannedNgramTokens([0, 1, 2, 3], 2), []);
  const model = new T5ForConditionalGeneration(tinyV10(), { seed: 8 });
  const V = model.config.vocabSize;
  const eos = model.config.eosTokenId;
  // Reference: teacher-forced logits of the whole prefix at every step, processors applied in JS (HF order).
  const reference = (n: number, penalty: number, steps: number): number[][] => {
    const dec = SRC.map(() => [0]);
    const done = SRC.map(() => false);
    for (let t = 0; t < steps; t++) {
      const all = fullLogits(model, dec);
      const T_ = dec[0].length;
      for (let b = 0; b < SRC.length; b++) {
        if (done[b]) {
          dec[b].push(0);
          continue;
        }
        const row = Array.from(all.subarray((b * T_ + T_ - 1) * V, (b * T_ + T_) * V));
        const hist = dec[b];
        for (const tok of new Set(hist)) row[tok] = row[tok] < 0 ? row[tok] * penalty : row[tok] / penalty;
        for (const tok of bannedNgramTokens(hist, n)) row[tok] = -Infinity;
        let best = 0;
        for (let i = 1; i < V; i++) if (row[i] > row[best]) best = i;
        dec[b].push(best);
        if (best === eos) done[b] = true;
      }
    }
    return dec.map((d) => {
      const s = d.slice(1);
      const e = s.indexOf(eos);
      return e < 0 ? s : s.slice(0, e + 1);
    });
  };
  const plain = generate(model, SRC, { maxNewTokens: 16 }).sequences;
  const hasRepeat = (s: number[], n: number) =>
    new Set(s.map((_, i) => s.slice(i, i + n).join(',')).slice(0, s.length - n + 1)).size < s.length - n + 1;
  assert.ok(
    plain.some((s) => hasRepeat([0, ...s], 2)),
    'the random model repeats itself without the processors (else the test proves nothing)',
  );
  for (const [n, penalty] of [
    [2, 1],
    [0, 1.5],
    [3, 1.3],
  ] as const) {
    const got = generate(model, SRC, { maxNewTokens: 16, noRepeatNgramSize: n, repetitionPenalty: penalty }).sequences;
    assert.deepEqual(got, reference(n, penalty, 16), `n=${n} penalty=${penalty}`);
    if (n > 0) for (const s of got) assert.ok(!hasRepeat([0, ...s], n), `no repeated ${n}-gram in ${s}`);
  }
  const beam = generate(model, SRC, {
    maxNewTokens: 16,
    numBeams: 3,
    numReturnSequences: 3,
    noRepeatNgramSize: 2,
  }).sequences;
  for (const s of beam) assert.ok(!hasRepeat([0, ...s], 2), `beam hypothesis ${s} repeats a bigram`);
  assert.throws(() => generate(model, SRC, { maxNewTokens: 4, repetitionPenalty: 0 }), /repetitionPenalty must be > 0/);
  assert.throws(() => generate(model, SRC, { maxNewTokens: 4, noRepeatNgramSize: 1.5 }), /noRepeatNgramSize/);
  model.dispose();
});

test('sampling is reproducible from a seed; top-k 1 equals greedy', () => {
  const model = new T5ForConditionalGeneration(tinyV11(), { seed: 6 });
  const a = generate(model, SRC, { maxNewTokens: 8, doSample: true, seed: 11, numReturnSequences: 2 });
  const b = generate(model, SRC, { maxNewTokens: 8, doSample: true, seed: 11, numReturnSequences: 2 });
  assert.deepEqual(a.sequences, b.sequences);
  assert.equal(a.sequences.length, 4);
  const top1 = generate(model, SRC, { maxNewTokens: 8, doSample: true, topK: 1, temperature: 0.7, seed: 3 });
  const greedy = generate(model, SRC, { maxNewTokens: 8 }).sequences;
  assert.deepEqual(top1.sequences, greedy);
  const tinyP = generate(model, SRC, { maxNewTokens: 8, doSample: true, topP: 1e-6, seed: 4 });
  assert.deepEqual(tinyP.sequences, greedy, 'top-p keeps at least the best token');
  // Hot sampling explores: different seeds give different outputs.
  const hot = new Set(
    [1, 2, 3, 4].map((seed) =>
      JSON.stringify(
        generate(model, SRC, { maxNewTokens: 8, doSample: true, temperature: 5, topK: 50, topP: 0.95, seed }).sequences,
      ),
    ),
  );
  assert.ok(hot.size > 1);
  model.dispose();
});

test('parameter count and HF names/shapes for t5-small and flan-t5-small', () => {
  for (const [preset, fixture, count] of [
    ['small', 'param-shapes-t5-small.json', 60506624],
    ['flan-t5-small', 'param-shapes-flan-t5-small.json', 76961152],
  ] as const) {
    const model = new T5ForConditionalGeneration(presetConfig(preset), { seed: 0 });
    const total = model.parameters().reduce((a, p) => a + p.numel(), 0);
    assert.equal(total, numParameters(model.config));
    assert.equal(total, count, `${preset} parameter count`);
    const ours = Object.fromEntries([...model.stateDict()].map(([k, t]) => [k, t.shape]));
    const f = path.join(FIX, fixture);
    if (fs.existsSync(f)) {
      const fx = JSON.parse(fs.readFileSync(f, 'utf8')) as {
        state_dict: Record<string, number[]>;
        tied_to_shared: string[];
      };
      const hf = fx.state_dict;
      assert.deepEqual(Object.keys(ours), Object.keys(hf), `${preset}: names, in state_dict order`);
      for (const k of Object.keys(hf)) assert.deepEqual(ours[k], hf[k], `${preset}: shape of ${k}`);
      const tied = [...model.stateDict()]
        .filter(([k, t]) => k !== 'shared.weight' && t === model.shared)
        .map(([k]) => k);
      assert.deepEqual(
        tied.sort(),
        [
          ...fx.tied_to_shared,
          ...(model.config.tieWordEmbeddings ? [] : ['decoder.embed_tokens.weight', 'encoder.embed_tokens.weight']),
        ].sort(),
      );
    }
    model.dispose();
  }
});

test('init follows T5 _init_weights (std per tensor kind)', () => {
  const cfg = presetConfig('mini', { vocabSize: 2000, feedForwardProj: 'gated-gelu', tieWordEmbeddings: false });
  const model = new T5ForConditionalGeneration(cfg, { seed: 9 });
  const sd = model.stateDict();
  const std = (k: string) =>
    T.tidy(() => {
      const t = sd.get(k)!;
      return t.sub(t.mean()).pow(2).mean().sqrt().item();
    });
  const near = (k: string, want: number) =>
    assert.ok(Math.abs(std(k) / want - 1) < 0.05, `${k}: std ${std(k)} vs ${want}`);
  near('shared.weight', 1);
  near('lm_head.weight', 1);
  near('encoder.block.0.layer.0.SelfAttention.q.weight', (cfg.dModel * cfg.dKv) ** -0.5);
  near('encoder.block.0.layer.0.SelfAttention.k.weight', cfg.dModel ** -0.5);
  near('decoder.block.1.layer.1.EncDecAttention.o.weight', (cfg.numHeads * cfg.dKv) ** -0.5);
  near('decoder.block.0.layer.2.DenseReluDense.wi_1.weight', cfg.dModel ** -0.5);
  near('decoder.block.0.layer.2.DenseReluDense.wo.weight', cfg.dFf ** -0.5);
  assert.deepEqual(sd.get('encoder.final_layer_norm.weight')!.toArray(), new Array(cfg.dModel).fill(1));
  // Same seed, same weights.
  const again = new T5ForConditionalGeneration(cfg, { seed: 9 });
  assert.deepEqual(
    again.stateDict().get('decoder.block.0.layer.2.DenseReluDense.wo.weight')!.toFloat32Array(),
    sd.get('decoder.block.0.layer.2.DenseReluDense.wo.weight')!.toFloat32Array(),
  );
  model.dispose();
  again.dispose();
});

test('save -> load gives identical logits (tied and untied, single file and shards)', () => {
  for (const [mk, shard] of [
    [tinyV10, undefined],
    [tinyV11, 20000],
  ] as const) {
    const model = new T5ForConditionalGeneration(mk(), { seed: 12 });
    const dir = tmpdir();
    saveCheckpoint(dir, model, { maxShardBytes: shard, generationConfig: { max_new_tokens: 32 } });
    const files = fs.readdirSync(dir).sort();
    assert.ok(files.includes('config.json') && files.includes('generation_config.json'));
    assert.ok(
      shard ? files.includes('model.safetensors.index.json') : files.includes('model.safetensors'),
      files.join(','),
    );
    const loaded = loadModel(dir);
    assert.deepEqual(loaded.config, model.config);
    const dec = [
      [0, 4, 8, 15],
      [0, 9, 9, 3],
    ];
    assert.deepEqual(fullLogits(loaded, dec), fullLogits(model, dec));
    if (!shard) {
      const names = [...readSafetensors(path.join(dir, 'model.safetensors')).tensors.keys()];
      assert.ok(
        names.includes('shared.weight') &&
          !names.includes('lm_head.weight') &&
          !names.includes('encoder.embed_tokens.weight'),
        'tied aliases are not written, as save_pretrained',
      );
    }
    // bf16 storage halves the file and reloads into fp32 parameters, close to the original.
    saveCheckpoint(dir, model, { dtype: 'bfloat16' });
    const half = loadModel(dir);
    assert.equal(half.shared.dtype, 'float32');
    const a = fullLogits(model, dec);
    const d = maxAbsDiff(fullLogits(half, dec), a);
    assert.ok(d > 0 && d < 0.05, `bf16 round trip max |diff| ${d}`);
    model.dispose();
    loaded.dispose();
    half.dispose();
    fs.rmSync(dir, { recursive: true });
  }
});

test('a tensor over several 4 MiB read chunks loads exactly (fp32 and bf16 files); bad values are counted over all its chunks', () => {
  // Loads copy each chunk straight into the parameter: 36,000 x 32 floats = 4.4 MiB, two chunks in fp32, one in bf16.
  const model = new T5ForConditionalGeneration(presetConfig('tiny', { dropoutRate: 0, vocabSize: 36000 }), { seed: 5 });
  const dir = tmpdir();
  const values = (t: T.Tensor) => t.toFloat32Array();
  saveCheckpoint(dir, model);
  const back = loadModel(dir);
  assert.deepEqual(values(back.shared), values(model.shared));
  assert.deepEqual(values(back.encoderBlocks[0]!.selfAttn.q), values(model.encoderBlocks[0]!.selfAttn.q));
  back.dispose();
  saveCheckpoint(dir, model, { dtype: 'bfloat16' });
  const half = loadModel(dir);
  const rounded = T.tidy(() => values(model.shared.to('bfloat16').to('float32')));
  assert.deepEqual(values(half.shared), rounded);
  half.dispose();
  // An infinity in the first chunk and a NaN in the second: one message with both counts.
  const file = path.join(dir, 'model.safetensors');
  saveCheckpoint(dir, model);
  const m = readSafetensors(file).tensors;
  const shared = m.get('shared.weight')!;
  const f = new Float32Array(new Uint8Array(shared.data).buffer);
  f[10] = Infinity;
  f[f.length - 3] = NaN;
  m.set('shared.weight', { ...shared, data: new Uint8Array(f.buffer) });
  writeSafetensors(file, m);
  assert.throws(() => loadModel(dir), {
    message: `checkpoint ${dir}: tensor "shared.weight" in ${file} holds 1 NaN and 1 infinite value(s) of ${f.length} (a diverged or corrupt model)`,
  });
  model.dispose();
  fs.rmSync(dir, { recursive: true });
});

test('malformed checkpoints are rejected with an error naming the tensor', () => {
  const model = new T5ForConditionalGeneration(tinyV11(), { seed: 13 });
  const dir = tmpdir();
  saveCheckpoint(dir, model);
  const file = path.join(dir, 'model.safetensors');
  const good = readSafetensors(file).tensors;
  const rewrite = (edit: (m: Map<string, typeof good extends Map<string, infer R> ? R : never>) => void) => {
    const m = new Map(good);
    edit(m);
    writeSafetensors(file, m);
  };
  rewrite((m) => m.delete('decoder.block.2.layer.1.EncDecAttention.k.weight'));
  assert.throws(() => loadModel(dir), /missing tensor "decoder.block.2.layer.1.EncDecAttention.k.weight"/);
  rewrite((m) =>
    m.set('encoder.block.0.layer.1.DenseReluDense.wi_0.weight', {
      dtype: 'F32',
      shape: [2, 2],
      data: new Uint8Array(16),
    }),
  );
  assert.throws(
    () => loadModel(dir),
    /tensor "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" has shape \[2, 2\] but the config expects \[64, 32\]/,
  );
  rewrite((m) =>
    m.set('encoder.block.7.layer.0.SelfAttention.q.weight', { dtype: 'F32', shape: [1], data: new Uint8Array(4) }),
  );
  assert.throws(() => loadModel(dir), /unexpected tensor "encoder.block.7.layer.0.SelfAttention.q.weight"/);
  rewrite(() => undefined);
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, bytes.subarray(0, bytes.length - 10));
  assert.throws(() => loadModel(dir), /truncated file/);
  const bad = Buffer.from(bytes);
  bad.write('!', 8);
  fs.writeFileSync(file, bad);
  assert.throws(() => loadModel(dir), /bad header/);
  rewrite(() => undefined);
  assert.ok(loadModel(dir).dispose() === undefined);
  model.dispose();
  fs.rmSync(dir, { recursive: true });
});

test('gradient accumulation equals one big batch; memory does not grow across steps', async () => {
  const cfg = tinyV11();
  const mk = () => new T5ForConditionalGeneration(cfg, { seed: 14 });
  const examples = [
    { source: [5, 6, 7, 1], target: [8, 9, 1] },
    { source: [10, 11, 1], target: [12, 13, 14, 15, 1] },
    { source: [20, 21, 22, 23, 24, 1], target: [25, 1] },
    { source: [30, 1], target: [31, 32, 33, 1] },
  ];
  const grads = async (micro: (typeof examples)[]) => {
    const model = mk();
    let snap: Float32Array[] = [];
    const opt = {
      lr: 0,
      step: () => {
        snap = model.parameters().map((p) => p.grad!.toFloat32Array());
      },
      zeroGrad: () => model.parameters().forEach((p) => p.zeroGrad()),
    };
    const r = await new Seq2SeqTrainer(model, opt).step(micro);
    model.dispose();
    return { snap, loss: r.loss };
  };
  const one = await grads([examples]);
  const two = await grads([examples.slice(0, 1), examples.slice(1)]);
  assert.ok(Math.abs(one.loss - two.loss) < 1e-5, `${one.loss} vs ${two.loss}`);
  let d = 0;
  one.snap.forEach((g, i) => (d = Math.max(d, maxAbsDiff(g, two.snap[i]))));
  assert.ok(d < 1e-5, `max grad diff ${d}`);

  const model = mk();
  const opt = new T.AdamW(model.parameters(), { lr: 1e-3 });
  const trainer = new Seq2SeqTrainer(model, opt, { maxGradNorm: 1 });
  await trainer.step([examples]);
  generate(
    model,
    examples.map((e) => e.source),
    { maxNewTokens: 4, numBeams: 2 },
  );
  const before = T.liveTensors();
  for (let i = 0; i < 3; i++) {
    await trainer.step([examples.slice(0, 2), examples.slice(2)]);
    generate(
      model,
      examples.map((e) => e.source),
      { maxNewTokens: 4, numBeams: 2 },
    );
    generate(
      model,
      examples.map((e) => e.source),
      { maxNewTokens: 4 },
    );
  }
  assert.equal(T.liveTensors(), before, 'no tensor leaks across train steps and generation');
  assert.equal(model.training, true, 'generate restores the train mode');
  T.tidy(() => {
    collate(examples, 0); // collate tensors are owned by the enclosing tidy
  });
  assert.equal(T.liveTensors(), before);
  model.dispose();
});

test("a forward pass holds one sub-layer's intermediates at a time, not every layer's (inference and training)", () => {
  // Each block and sub-layer runs in its own tidy(): inside the caller's scope, encode/decode leave a few tensors per
  // block (its output, and the keys/values only for a cache), whatever the depth, with the same values.
  const cfg = { ...tinyV11(), numLayers: 6, numDecoderLayers: 6 };
  const model = new T5ForConditionalGeneration(cfg, { seed: 3 });
  const ids = T.tensor([5, 9, 23, 44, 1, 7, 8, 100, 3, 1], [2, 5], 'int64');
  const dec = T.tensor([0, 8, 9, 0, 12, 13], [2, 3], 'int64');
  const live = (fn: () => unknown) =>
    T.tidy(() => {
      const n0 = T.liveTensors();
      fn();
      return T.liveTensors() - n0;
    });
  for (const grad of [false, true]) {
    const run = () => {
      const enc = model.encode(ids, null);
      return model.decode(dec, enc, null).logits;
    };
    const n = live(() => (grad ? run() : T.noGrad(run)));
    // Before: ~25 tensors per encoder block and ~35 per decoder block stayed alive until the scope closed (437 here).
    assert.ok(n <= 4 * (cfg.numLayers + cfg.numDecoderLayers) + 16, `${n} tensors alive in the scope (grad ${grad})`);
  }
  ids.dispose();
  dec.dispose();
  model.dispose();
});

test('bf16 autocast: loss close to fp32, gradients flow into fp32 parameters, generation runs', async () => {
  const model = new T5ForConditionalGeneration(tinyV11(), { seed: 15 }).train();
  const ex = [
    { source: [5, 6, 7, 1], target: [8, 9, 1] },
    { source: [10, 11, 1], target: [12, 13, 14, 15, 1] },
  ];
  const [l32, l16] = T.noGrad(() =>
    T.tidy(() => [
      seq2seqLoss(model, collate(ex, 0), null).item(),
      seq2seqLoss(model, collate(ex, 0), 'bfloat16').item(),
    ]),
  );
  assert.ok(Math.abs(l32 - l16) / l32 < 0.02, `fp32 ${l32} vs bf16 ${l16}`);
  const opt = new T.AdamW(model.parameters(), { lr: 1e-2 });
  const trainer = new Seq2SeqTrainer(model, opt, { autocast: 'bfloat16' });
  const first = (await trainer.step([ex])).loss;
  for (const p of model.parameters()) assert.equal(p.dtype, 'float32');
  let last = first;
  for (let i = 0; i < 20; i++) last = (await trainer.step([ex])).loss;
  assert.ok(last < first * 0.5, `bf16 training reduces the loss: ${first} -> ${last}`);
  const out = T.autocast(
    () =>
      generate(
        model,
        ex.map((e) => e.source),
        { maxNewTokens: 6, numBeams: 2 },
      ),
    'bfloat16',
  );
  assert.equal(out.sequences.length, 2);
  model.dispose();
});

test('dropout: inverted (zero fraction p, mean kept), gradient masked the same way, off in eval and for p = 0', () => {
  T.tidy(() => {
    const x = T.ones([200, 500]).setRequiresGrad(true);
    const y = drop(x, 0.3, true);
    const zeros = y.eq(0).float().mean().item();
    assert.ok(Math.abs(zeros - 0.3) < 0.01, `zero fraction ${zeros}`);
    assert.ok(Math.abs(y.mean().item() - 1) < 0.02, 'expectation preserved');
    y.sum().backward();
    assert.deepEqual(x.grad!.toFloat32Array(), y.detach().toFloat32Array(), 'grad = mask / (1 - p)');
    assert.equal(drop(x, 0.3, false), x);
    assert.equal(drop(x, 0, true), x);
    assert.equal(drop(x.detach().to('bfloat16'), 0.3, true).dtype, 'bfloat16');
  });
  const model = new T5ForConditionalGeneration(presetConfig('tiny', { dropoutRate: 0.5 }), { seed: 16 });
  const dec = [
    [0, 4, 8],
    [0, 9, 9],
  ];
  assert.deepEqual(fullLogits(model.eval(), dec), fullLogits(model, dec));
  model.train();
  assert.notDeepEqual(fullLogits(model, dec), fullLogits(model, dec));
  model.dispose();
});
