// The fast generation path (fused projections, preallocated KV cache, fused attention, finished rows dropped)
// against references: full recomputation of the prefix at every step (greedy), and model.decode() step by step
// (decoder: 'reference', the previous implementation) for beam search, sampling and constraints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import { T5Config, presetConfig } from '../../../src/t5/config';
import { T5ForConditionalGeneration } from '../../../src/t5/model';
import {
  AllowedTokensFn,
  GenerateOptions,
  GenerateOutput,
  beamSearchGenerate,
  generate,
  padBatch,
} from '../../../src/t5/generation';

// A larger init than T5's keeps the random models from repeating one token forever.
const tinyV10 = (): T5Config => presetConfig('tiny', { dropoutRate: 0, initializerFactor: 8 });
const tinyGated = (): T5Config =>
  presetConfig('tiny', {
    dropoutRate: 0,
    initializerFactor: 8,
    feedForwardProj: 'gated-gelu',
    tieWordEmbeddings: false,
    numDecoderLayers: 3,
  });
const MODELS = [
  ['v1.0 relu, tied', tinyV10, 21],
  ['v1.1 gated-gelu, untied', tinyGated, 22],
] as const;

// Padded batch of different source lengths.
const SRC = [
  [5, 9, 23, 44, 1],
  [7, 8, 100, 3, 17, 90, 12, 1],
  [11, 1],
  [40, 41, 42, 43, 44, 45, 1],
  [3, 1],
  [60, 61, 62, 1],
];

type Tuning = Pick<GenerateOptions, 'decoder' | 'dropFinished'>;
const REF: Tuning = { decoder: 'reference', dropFinished: false };
const FAST: Tuning = { decoder: 'fast', dropFinished: true };
const NO_DROP: Tuning = { decoder: 'fast', dropFinished: false };

// The fast path (fused q/k/v and FFN products, rows dropped as they finish) and the references multiply other shapes:
// OpenBLAS's AVX2 kernels (an AVX2-only CPU, or OPENBLAS_CORETYPE=Haswell) round them differently by up to ~5e-4 of a
// log-prob of these large-init models (2e-3 after 8 steps of 37 rows); its AVX-512 kernels stay within 1e-4.
function assertSame(got: GenerateOutput, want: GenerateOutput, what: string, tol = 1e-3): void {
  assert.deepEqual(got.sequences, want.sequences, `${what}: sequences`);
  got.scores.forEach((s, i) => {
    const w = want.scores[i];
    assert.ok(s === w || Math.abs(s - w) <= tol * Math.max(1, Math.abs(w)), `${what}: score ${i} ${s} vs ${w}`);
  });
  got.tokenLogProbs.forEach((lps, i) => {
    assert.equal(lps.length, got.sequences[i].length, `${what}: one log-prob per token of sequence ${i}`);
    lps.forEach((x, t) => {
      const w = want.tokenLogProbs[i][t];
      assert.ok(Math.abs(x - w) <= tol * Math.max(1, Math.abs(w)), `${what}: token ${t} of ${i}: ${x} vs ${w}`);
    });
  });
}

/** Greedy decoding by teacher-forced recomputation of every prefix, argmax and log-softmax in JS (float64). */
function referenceGreedy(
  model: T5ForConditionalGeneration,
  maxNew: number,
  eos: number,
  allowed?: AllowedTokensFn,
): GenerateOutput {
  const V = model.config.vocabSize;
  const dec = SRC.map(() => [model.config.decoderStartTokenId]);
  const done = SRC.map(() => false);
  const scores = SRC.map(() => 0);
  const tokenLogProbs: number[][] = SRC.map(() => []);
  const b = padBatch(SRC, 0);
  for (let t = 0; t < maxNew && done.some((d) => !d); t++) {
    const all = T.noGrad(() =>
      T.tidy(() => {
        const mask = T.tensor(b.mask, [b.batch, b.length]);
        const enc = model.encode(T.tensor(b.ids, [b.batch, b.length], 'int64'), mask);
        const ids = T.tensor(dec.flat(), [dec.length, dec[0].length], 'int64');
        return model.decode(ids, enc, T5ForConditionalGeneration.maskBias(mask), null).logits.toFloat32Array();
      }),
    );
    const L = dec[0].length;
    for (let r = 0; r < SRC.length; r++) {
      if (done[r]) {
        dec[r].push(0);
        continue;
      }
      const row = Array.from(all.subarray((r * L + L - 1) * V, (r * L + L) * V));
      const ok = allowed?.(r, Int32Array.from(dec[r].slice(1)));
      if (ok) {
        const keep = new Set(ok.length === 0 ? [eos] : Array.from(ok));
        for (let i = 0; i < V; i++) if (!keep.has(i)) row[i] = -Infinity;
      }
      let best = 0;
      for (let i = 1; i < V; i++) if (row[i] > row[best]) best = i;
      const m = row[best];
      const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
      scores[r] += row[best] - lse;
      tokenLogProbs[r].push(row[best] - lse);
      dec[r].push(best);
      if (best === eos) done[r] = true;
    }
  }
  const sequences = dec.map((d) => {
    const s = d.slice(1);
    const e = s.indexOf(eos);
    return e < 0 ? s : s.slice(0, e + 1);
  });
  return { sequences, scores, tokenLogProbs: tokenLogProbs.map((l, r) => l.slice(0, sequences[r].length)) };
}

/** Each token's log-probability given its prefix, teacher-forced, masked by the hook and renormalised (float64). */
function teacherForced(
  model: T5ForConditionalGeneration,
  src: number[],
  b: number,
  seq: number[],
  allowed?: AllowedTokensFn,
): number[] {
  const V = model.config.vocabSize;
  const dec = [model.config.decoderStartTokenId, ...seq.slice(0, -1)];
  const logits = T.noGrad(() =>
    T.tidy(() => {
      const mask = T.tensor(new Int32Array(src.length).fill(1), [1, src.length]);
      const enc = model.encode(T.tensor(src, [1, src.length], 'int64'), mask);
      const ids = T.tensor(dec, [1, dec.length], 'int64');
      return model.decode(ids, enc, T5ForConditionalGeneration.maskBias(mask), null).logits.toFloat32Array();
    }),
  );
  return seq.map((tok, t) => {
    const row = Array.from(logits.subarray(t * V, (t + 1) * V));
    const ok = allowed?.(b, Int32Array.from(seq.slice(0, t)));
    if (ok) {
      const keep = new Set(ok.length === 0 ? [model.config.eosTokenId] : Array.from(ok));
      for (let i = 0; i < V; i++) if (!keep.has(i)) row[i] = -Infinity;
    }
    const m = Math.max(...row);
    return row[tok] - (m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0)));
  });
}

/** As EOS, the token whose first appearance in unconstrained greedy outputs varies most: rows end at different lengths. */
function spreadToken(model: T5ForConditionalGeneration): number {
  const out = generate(model, SRC, { maxNewTokens: 12, eosTokenId: -1, ...REF });
  let best = -1;
  let spread = 0;
  for (const t of new Set(out.sequences.flat())) {
    const n = new Set(out.sequences.map((s) => s.indexOf(t))).size;
    if (n > spread || (n === spread && t < best)) [best, spread] = [t, n];
  }
  return best;
}

for (const [name, mk, seed] of MODELS) {
  test(`greedy (${name}): fast path = full recomputation = step-by-step decode(), rows ending at different lengths; dropping them changes nothing`, () => {
    const model = new T5ForConditionalGeneration(mk(), { seed });
    const eos = spreadToken(model);
    const opts: GenerateOptions = { maxNewTokens: 12, eosTokenId: eos };
    const ref = referenceGreedy(model, 12, eos);
    const lengths = new Set(ref.sequences.map((s) => s.length));
    assert.ok(lengths.size >= 3, `rows end at different lengths: ${[...lengths]}`);
    const fast = generate(model, SRC, { ...opts, ...FAST });
    assertSame(fast, ref, 'fast vs recomputation');
    assertSame(generate(model, SRC, { ...opts, ...REF }), ref, 'decode() steps vs recomputation');
    assertSame(generate(model, SRC, { ...opts, ...NO_DROP }), fast, 'no dropping vs dropping', 1e-4);
    // Past the cache's first capacity (32 positions), so it has to grow.
    const long: GenerateOptions = { maxNewTokens: 40, eosTokenId: -1 };
    assertSame(
      generate(model, SRC.slice(0, 2), { ...long, ...FAST }),
      generate(model, SRC.slice(0, 2), { ...long, ...REF }),
      '40 steps',
    );
    model.dispose();
  });

  test(`beam search (${name}): fast path with finished inputs dropped = step-by-step decode()`, () => {
    const model = new T5ForConditionalGeneration(mk(), { seed });
    const eos = spreadToken(model);
    for (const opts of [
      { maxNewTokens: 10, numBeams: 3, numReturnSequences: 2, eosTokenId: eos },
      {
        maxNewTokens: 10,
        numBeams: 4,
        numReturnSequences: 4,
        eosTokenId: eos,
        earlyStopping: true,
        lengthPenalty: 0.6,
      },
      { maxNewTokens: 8, numBeams: 2, eosTokenId: eos, earlyStopping: 'never' as const, noRepeatNgramSize: 2 },
    ]) {
      const ref = generate(model, SRC, { ...opts, ...REF });
      const fast = generate(model, SRC, { ...opts, ...FAST });
      assertSame(fast, ref, `beam ${JSON.stringify(opts)}`);
      // Fewer rows can round differently (the matmuls block by batch size): scores agree to float32 precision.
      assertSame(
        generate(model, SRC, { ...opts, ...NO_DROP }),
        fast,
        `beam without dropping ${JSON.stringify(opts)}`,
        1e-4,
      );
    }
    model.dispose();
  });
}

test('a batch larger than the encoder chunk (16 rows): the fast path encodes it in pieces and equals decode() steps on it whole', () => {
  const model = new T5ForConditionalGeneration(tinyGated(), { seed: 25 });
  // 37 sources (chunks of 16, 16 and 5), lengths 2..15 in no order, so every chunk holds padding.
  const srcs = Array.from({ length: 37 }, (_, i) => [
    ...Array.from({ length: 1 + ((i * 5) % 14) }, (_, j) => 2 + ((i * 13 + j * 5) % 120)),
    1,
  ]);
  for (const opts of [
    { maxNewTokens: 8, eosTokenId: -1 },
    { maxNewTokens: 6, numBeams: 2, eosTokenId: -1 },
  ] as GenerateOptions[]) {
    const ref = generate(model, srcs, { ...opts, ...REF });
    // 37 rows of this large-init model round further apart than SRC's 6 (as before the chunks): float32 precision.
    assertSame(generate(model, srcs, { ...opts, ...FAST }), ref, `37 rows ${JSON.stringify(opts)}`, 5e-3);
    // Each row as the only one in its batch: the same sequences (nothing of another row leaks into it).
    const alone = srcs.map((s) => generate(model, [s], { ...opts, ...FAST }).sequences[0]);
    assert.deepEqual(alone, ref.sequences.slice(0, 37), 'rows alone');
  }
  model.dispose();
});

test('allowedTokens: greedy and beam search on the fast path equal the references, constraints hold', () => {
  const model = new T5ForConditionalGeneration(tinyGated(), { seed: 23 });
  const eos = model.config.eosTokenId;
  // Per input: a few allowed tokens that depend on the prefix, and an end (EOS only) at an input-dependent length.
  const hook: AllowedTokensFn = (b, prefix) =>
    prefix.length >= 2 + (b % 4)
      ? new Int32Array(0)
      : Int32Array.from([10 + b, 20 + prefix.length, 30 + ((b * 7 + prefix.length) % 50)]);
  const greedy = generate(model, SRC, { maxNewTokens: 9, allowedTokens: hook, ...FAST });
  assertSame(greedy, referenceGreedy(model, 9, eos, hook), 'greedy vs recomputation');
  greedy.sequences.forEach((s, b) => {
    assert.equal(s.length, 2 + (b % 4) + 1);
    assert.equal(s[s.length - 1], eos);
  });
  for (const opts of [
    { numBeams: 3, numReturnSequences: 3 },
    { numBeams: 2, earlyStopping: true },
    { doSample: true, topK: 3, seed: 5, numReturnSequences: 2 },
  ]) {
    const o: GenerateOptions = { maxNewTokens: 9, allowedTokens: hook, ...opts };
    assertSame(generate(model, SRC, { ...o, ...FAST }), generate(model, SRC, { ...o, ...REF }), JSON.stringify(opts));
  }
  model.dispose();
});

test('sparseHead: constrained greedy search on the allowed rows of the LM head equals the full head', () => {
  const model = new T5ForConditionalGeneration(tinyGated(), { seed: 27 });
  // Prefix-dependent allowed sets (duplicates included), an unconstrained step (null: the full head that step) and
  // an end at an input-dependent length.
  const hook: AllowedTokensFn = (b, prefix) =>
    prefix.length === 1 && b === 2
      ? null
      : prefix.length >= 3 + (b % 3)
        ? new Int32Array(0)
        : Int32Array.from([5 + b, 40 + prefix.length, 5 + b, 60 + ((b * 11 + prefix.length * 3) % 60)]);
  const o: GenerateOptions = { maxNewTokens: 9, allowedTokens: hook };
  for (const tuning of [FAST, NO_DROP, REF]) {
    const full = generate(model, SRC, { ...o, ...tuning, sparseHead: false });
    const sparse = generate(model, SRC, { ...o, ...tuning, sparseHead: true });
    // Same tokens; the log-probs normalise over the same allowed set, summed in another order.
    assertSame(sparse, full, `fp32 ${JSON.stringify(tuning)}`, 1e-5);
    full.sequences.forEach((s, b) => assert.equal(s.length, 3 + (b % 3) + 1));
  }
  // bf16 autocast, where the fast decoder takes it by default: the head's columns are bit-identical whatever the
  // number of rows multiplied (the default relies on it), so the outputs are too, log-probs up to summation order.
  const m2 = new T5ForConditionalGeneration({ ...tinyGated(), initializerFactor: 1 }, { seed: 28 });
  const d = m2.config.dModel;
  T.tidy(() =>
    T.autocast(() => {
      const w = m2.lmHead!.to('bfloat16');
      for (const [rows, cols] of [
        [1, 3],
        [6, 17],
        [13, 100],
        [64, 7],
      ]) {
        const h = T.randn([rows, d]);
        const ix = T.tensor(
          Int32Array.from({ length: cols }, (_, i) => (i * 37) % m2.config.vocabSize),
          [cols],
          'int64',
        );
        assert.deepEqual(
          T.linear(h, w.indexSelect(0, ix)).float().toArray(),
          T.linear(h, w).indexSelect(1, ix).float().toArray(),
          `bf16 head rows ${rows}x${cols}`,
        );
      }
    }),
  );
  const full = T.autocast(() => generate(m2, SRC, { ...o, ...FAST, sparseHead: false }));
  const dflt = T.autocast(() => generate(m2, SRC, { ...o, ...FAST }));
  assertSame(dflt, full, 'bf16 default vs full head', 1e-5);
  // A row's log-probs come from its own allowed logits only, not the batch's union: split batches (sharded predict)
  // give the same scores to the bit (when every live row is constrained, as grounding does; a step with an
  // unconstrained row runs the full head for the whole batch).
  const hookAt =
    (off: number): AllowedTokensFn =>
    (b, prefix) =>
      hook(b + off, prefix) ?? Int32Array.of(7, 8, 9);
  const whole = T.autocast(() => generate(m2, SRC, { ...o, allowedTokens: hookAt(0), ...FAST }));
  const halves = [0, 3].map((off) =>
    T.autocast(() => generate(m2, SRC.slice(off, off + 3), { ...o, allowedTokens: hookAt(off), ...FAST })),
  );
  assert.deepEqual(
    { sequences: whole.sequences, scores: whole.scores, lps: whole.tokenLogProbs },
    {
      sequences: halves.flatMap((h) => h.sequences),
      scores: halves.flatMap((h) => h.scores),
      lps: halves.flatMap((h) => h.tokenLogProbs),
    },
    'one batch vs two',
  );
  model.dispose();
  m2.dispose();
});

test('per-token log-probs: greedy ones sum to the sequence score exactly; beam search keeps the chosen hypothesis', () => {
  const model = new T5ForConditionalGeneration(tinyGated(), { seed: 23 });
  const hook: AllowedTokensFn = (b, prefix) =>
    prefix.length >= 2 + (b % 4)
      ? new Int32Array(0)
      : Int32Array.from([10 + b, 20 + prefix.length, 30 + ((b * 7 + prefix.length) % 50)]);
  for (const allowedTokens of [undefined, hook]) {
    const g = generate(model, SRC, { maxNewTokens: 9, allowedTokens, ...FAST });
    g.tokenLogProbs.forEach((lps, i) =>
      assert.equal(
        lps.reduce((a, x) => a + x, 0),
        g.scores[i],
      ),
    );
    // Beam width 1 is greedy search through the beam code: the same tokens and log-probs (constrained: renormalised).
    const b1 = beamSearchGenerate(model, SRC, { maxNewTokens: 9, numBeams: 1, allowedTokens, ...FAST });
    assertSame({ ...b1, scores: g.scores }, g, `beam 1 vs greedy (${allowedTokens ? 'constrained' : 'plain'})`);
  }
  // Unconstrained beam search: the chosen hypothesis's log-probs sum to its unnormalised score.
  const o: GenerateOptions = { maxNewTokens: 9, numBeams: 3, numReturnSequences: 2, lengthPenalty: 0.6 };
  const plain = generate(model, SRC, { ...o, ...FAST });
  plain.tokenLogProbs.forEach((lps, i) => {
    const want = plain.scores[i] * plain.sequences[i].length ** 0.6;
    assert.ok(Math.abs(lps.reduce((a, x) => a + x, 0) - want) < 1e-4, `hypothesis ${i}`);
  });
  // Constrained beam search, after reorders and drops: each token's log-prob given its own prefix, renormalised.
  const beam = generate(model, SRC, { ...o, allowedTokens: hook, ...FAST });
  beam.sequences.forEach((seq, i) => {
    const b = Math.floor(i / 2);
    const want = teacherForced(model, SRC[b], b, seq, hook);
    beam.tokenLogProbs[i].forEach((x, t) => assert.ok(Math.abs(x - want[t]) < 1e-4, `${i}:${t} ${x} vs ${want[t]}`));
  });
  model.dispose();
});

test('sampling: dropping finished rows leaves the draws (and outputs) unchanged', () => {
  const model = new T5ForConditionalGeneration(tinyV10(), { seed: 24 });
  const eos = spreadToken(model);
  for (const opts of [
    { topK: 20, seed: 3 },
    { topP: 0.9, temperature: 1.5, seed: 4, numReturnSequences: 3 },
    { seed: 5, repetitionPenalty: 1.3 },
  ]) {
    const o: GenerateOptions = { maxNewTokens: 12, doSample: true, eosTokenId: eos, ...opts };
    const ref = generate(model, SRC, { ...o, ...REF });
    assert.ok(new Set(ref.sequences.map((s) => s.length)).size >= 2, 'sampled rows end at different lengths');
    assertSame(generate(model, SRC, { ...o, ...FAST }), ref, JSON.stringify(opts));
  }
  model.dispose();
});

test('fused weights follow in-place parameter updates between calls (training), and nothing leaks', () => {
  const model = new T5ForConditionalGeneration(tinyGated(), { seed: 25 });
  const opts: GenerateOptions = { maxNewTokens: 8, numBeams: 2 };
  const before = generate(model, SRC, { ...opts, ...FAST });
  // An optimizer-like in-place update of every decoder weight the fast path fuses or reads.
  T.noGrad(() =>
    T.tidy(() => {
      for (const [name, p] of model.namedParameters())
        if (name.startsWith('decoder.') || name === 'lm_head.weight') p.copy_(p.add(T.randn(p.shape).mul(0.3)));
    }),
  );
  const live = T.liveTensors();
  const after = generate(model, SRC, { ...opts, ...FAST });
  const greedy = generate(model, SRC, { maxNewTokens: 8, ...FAST });
  T.autocast(() => generate(model, SRC, { maxNewTokens: 8, numBeams: 3, ...FAST }));
  assert.throws(
    () =>
      generate(model, SRC, {
        maxNewTokens: 8,
        allowedTokens: (_b, p) => {
          if (p.length === 3) throw new Error('hook failed');
          return null;
        },
        ...FAST,
      }),
    /hook failed/,
  );
  assert.equal(T.liveTensors(), live, 'no tensor outlives generate()');
  assert.notDeepEqual(
    after.sequences,
    before.sequences,
    'the update changes the output (else the test proves nothing)',
  );
  assertSame(after, generate(model, SRC, { ...opts, ...REF }), 'after the update');
  assertSame(greedy, generate(model, SRC, { maxNewTokens: 8, ...REF }), 'greedy after the update');
  model.dispose();
});

test('bf16 autocast: the fast path runs in bf16 and stays close to the step-by-step reference', () => {
  const model = new T5ForConditionalGeneration({ ...tinyGated(), initializerFactor: 1 }, { seed: 26 });
  const opts: GenerateOptions = { maxNewTokens: 6 };
  const fast = T.autocast(() => generate(model, SRC, { ...opts, ...FAST }));
  const ref = T.autocast(() => generate(model, SRC, { ...opts, ...REF }));
  const fp32 = generate(model, SRC, { ...opts, ...FAST });
  // bf16 rounds differently along the two paths; the first token's log-probability agrees to bf16 precision.
  const first = (o: GenerateOptions) =>
    T.autocast(() => generate(model, SRC, { ...o, maxNewTokens: 1, ...FAST })).scores;
  const refFirst = T.autocast(() => generate(model, SRC, { ...opts, maxNewTokens: 1, ...REF })).scores;
  first(opts).forEach((s, i) =>
    assert.ok(Math.abs(s - refFirst[i]) < 0.02, `first-step log-prob ${s} vs ${refFirst[i]}`),
  );
  const agree = (a: GenerateOutput, b: GenerateOutput) =>
    a.sequences.filter((s, i) => s.join() === b.sequences[i].join()).length;
  assert.ok(
    agree(fast, ref) >= SRC.length - 1,
    `bf16 fast vs reference: ${agree(fast, ref)} of ${SRC.length} sequences equal`,
  );
  assert.ok(agree(fast, fp32) >= SRC.length / 2, `bf16 vs fp32: ${agree(fast, fp32)} of ${SRC.length} sequences equal`);
  model.dispose();
});
