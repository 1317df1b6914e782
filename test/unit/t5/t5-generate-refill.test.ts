// generateMany: several batches decoded as one stream of rows (finished rows replaced by the next batches' rows,
// FastDecoder.addRows) give what generate() gives on each batch alone, to the bit: a refilled row sees only its own
// positions, and padding (longer sources of other batches, younger rows' empty slots) lies after its keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';
import { presetConfig } from '../../../src/t5/config';
import { T5ForConditionalGeneration } from '../../../src/t5/model';
import {
  type AllowedTokensFn,
  DecodeStream,
  type GenerateOptions,
  type GenerateOutput,
  generate,
  generateMany,
  padBatch,
} from '../../../src/t5/generation';
import { FastDecoder } from '../../../src/t5/generation/fast-decoder';
import { Rng } from '../../../src/util/rng';

T.setNumThreads(1);

const mk = (seed: number) =>
  new T5ForConditionalGeneration(
    presetConfig('tiny', {
      dropoutRate: 0,
      initializerFactor: 8,
      feedForwardProj: 'gated-gelu',
      tieWordEmbeddings: false,
    }),
    { seed },
  );

/** `count` batches of random sources, lengths 2..maxLen (the last token EOS = 1). */
function batches(rng: Rng, count: number, size: number, maxLen: number): number[][][] {
  return Array.from({ length: count }, () =>
    Array.from({ length: size - rng.int(2) }, () => [
      ...Array.from({ length: 1 + rng.int(maxLen - 1) }, () => 2 + rng.int(120)),
      1,
    ]),
  );
}

/** A token that ends rows at many different steps (its first position varies most over rows). */
function spreadEos(model: T5ForConditionalGeneration, srcs: number[][]): number {
  const out = generate(model, srcs, { maxNewTokens: 14, eosTokenId: -1 });
  let best = 2;
  let spread = 0;
  for (const t of new Set(out.sequences.flat())) {
    const k = new Set(out.sequences.map((s) => s.indexOf(t))).size;
    if (k > spread) [best, spread] = [t, k];
  }
  return best;
}

/**
 * Scores equal to the last bits where the BLAS gives a row the same rounding whatever the number of rows in its product
 * (OpenBLAS's AVX-512 kernels, up to the row counts noted below); its AVX2 kernels (an AVX2-only CPU, or
 * OPENBLAS_CORETYPE=Haswell) round a row differently with the row count, by ~1e-7 relative per product and up to ~2e-4 in a log-prob after several steps. A row reading
 * another row's state moves them by far more.
 */
const ROUNDING = 1e-3;
function assertClose(got: readonly number[], want: readonly number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  got.forEach((x, i) => {
    const w = want[i]!;
    assert.ok(x === w || Math.abs(x - w) <= ROUNDING * Math.max(1, Math.abs(w)), `${what} ${i}: ${x} vs ${w}`);
  });
}

function assertSameOutputs(got: GenerateOutput[], want: GenerateOutput[], what: string): void {
  assert.equal(got.length, want.length);
  got.forEach((g, b) => {
    assert.deepEqual(g.sequences, want[b]!.sequences, `${what}: batch ${b} sequences`);
    assertClose(g.scores, want[b]!.scores, `${what}: batch ${b} score`);
    g.tokenLogProbs.forEach((l, i) =>
      assertClose(l, want[b]!.tokenLogProbs[i]!, `${what}: batch ${b} row ${i} log-prob`),
    );
  });
}

// A constraint per batch that depends on the batch and the row (a stand-in for grounding).
const hookFor =
  (b: number): AllowedTokensFn =>
  (i, prefix) =>
    prefix.length >= 3 + ((i + b) % 5)
      ? new Int32Array(0)
      : Int32Array.from([10 + ((i * 3 + b) % 40), 20 + prefix.length, 30 + ((b * 7 + i + prefix.length) % 50), 64]);

for (const precision of ['fp32', 'bf16'] as const) {
  test(`generateMany (${precision}) = generate() per batch (same sequences; scores to the BLAS's rounding): plain, no-repeat n-grams, constrained (sparse head), maxNewTokens reached`, () => {
    const model = mk(31);
    const rng = new Rng(5);
    const srcs = batches(rng, 5, 8, 14);
    const eos = spreadEos(model, srcs.flat());
    const run = (f: () => GenerateOutput[]) => (precision === 'bf16' ? T.autocast(f) : f());
    const cases: [string, GenerateOptions, boolean][] = [
      ['plain', { maxNewTokens: 14, eosTokenId: eos }, false],
      ['no-repeat 2', { maxNewTokens: 14, eosTokenId: eos, noRepeatNgramSize: 2 }, false],
      ['constrained', { maxNewTokens: 9, eosTokenId: eos }, true],
      ['constrained, full head', { maxNewTokens: 9, eosTokenId: eos, sparseHead: false }, true],
    ];
    for (const [what, opts, hooked] of cases) {
      const inputs = srcs.map((s, b) => ({
        input: padBatch(s, 0),
        ...(hooked ? { allowedTokens: hookFor(b) } : {}),
      }));
      const each = run(() =>
        inputs.map((q) =>
          generate(model, q.input, { ...opts, ...(q.allowedTokens ? { allowedTokens: q.allowedTokens } : {}) }),
        ),
      );
      const lengths = new Set(each.flatMap((o) => o.sequences.map((s) => s.length)));
      assert.ok(lengths.size >= 3, `${what}: rows end at different lengths (${[...lengths]})`);
      // Rows join a running batch in finished rows' places, some inputs in parts (more placements than batches).
      const add = FastDecoder.prototype.placeRows;
      let adds = 0;
      FastDecoder.prototype.placeRows = function (this: FastDecoder, ...a: Parameters<typeof add>) {
        adds++;
        add.apply(this, a);
      };
      try {
        assertSameOutputs(
          run(() => generateMany(model, inputs, opts)),
          each,
          `${precision} ${what}`,
        );
      } finally {
        FastDecoder.prototype.placeRows = add;
      }
      assert.ok(adds > inputs.length, `${what}: ${adds} placements for ${inputs.length} batches`);
    }
    model.dispose();
  });
}

test('generateMany: sampling, beams and the reference decoder decode each batch on its own (same as generate); nothing leaks', () => {
  const model = mk(32);
  const srcs = batches(new Rng(6), 3, 5, 10);
  const inputs = srcs.map((s) => ({ input: padBatch(s, 0) }));
  const live = T.liveTensors();
  for (const opts of [
    { maxNewTokens: 8, doSample: true, topK: 10, seed: 3 },
    { maxNewTokens: 8, numBeams: 2 },
    { maxNewTokens: 8, decoder: 'reference' as const },
    { maxNewTokens: 8 },
  ]) {
    const each = inputs.map((q) => generate(model, q.input, opts));
    assertSameOutputs(generateMany(model, inputs, opts), each, JSON.stringify(opts));
  }
  assert.deepEqual(generateMany(model, [], { maxNewTokens: 4 }), []);
  // Inputs without rows (first, between, last) give empty outputs; the others decode as on their own.
  const empty = { input: padBatch([], 0) };
  const withEmpty = generateMany(model, [empty, inputs[0]!, empty, inputs[1]!, empty], { maxNewTokens: 8 });
  const none = { sequences: [], scores: [], tokenLogProbs: [] };
  assertSameOutputs(
    withEmpty,
    [
      none,
      generate(model, inputs[0]!.input, { maxNewTokens: 8 }),
      none,
      generate(model, inputs[1]!.input, { maxNewTokens: 8 }),
      none,
    ],
    'empty inputs',
  );
  assertSameOutputs(generateMany(model, [empty, empty], { maxNewTokens: 8 }), [none, none], 'only empty inputs');
  assert.throws(
    () =>
      generateMany(
        model,
        inputs.map((q, b) => ({
          ...q,
          allowedTokens: (_i: number, p: Int32Array) => {
            if (b === 2 && p.length === 2) throw new Error('hook failed');
            return null;
          },
        })),
        { maxNewTokens: 8 },
      ),
    /hook failed/,
  );
  assert.equal(T.liveTensors(), live, 'no tensor outlives generateMany()');
  model.dispose();
});

const turn = () => new Promise<void>((r) => setImmediate(r));

for (const precision of ['fp32', 'bf16'] as const) {
  test(`DecodeStream (${precision}): inputs submitted while others decode join the running batch; each output = generate() alone (to the BLAS's rounding)`, async () => {
    const model = mk(33);
    const srcs = batches(new Rng(7), 6, 6, 12);
    const eos = spreadEos(model, srcs.flat());
    const wrap = <X>(f: () => X): X => (precision === 'bf16' ? T.autocast(f) : f());
    for (const hooked of [false, true]) {
      const opts: GenerateOptions = { maxNewTokens: hooked ? 9 : 14, eosTokenId: eos };
      const inputs = srcs.map((s, b) => ({ input: padBatch(s, 0), ...(hooked ? { allowedTokens: hookFor(b) } : {}) }));
      const each = wrap(() => inputs.map((q) => generate(model, q.input, { ...opts, allowedTokens: q.allowedTokens })));
      const add = FastDecoder.prototype.addRows;
      const step = FastDecoder.prototype.step;
      let joined = 0;
      let widest = 0;
      const place = FastDecoder.prototype.placeRows;
      let started = 0;
      FastDecoder.prototype.addRows = function (this: FastDecoder, ...a: Parameters<typeof add>) {
        if ((this as unknown as { rows: number }).rows > 0)
          joined++; // beside running rows
        else started++; // a decoder's first rows
        add.apply(this, a);
      };
      FastDecoder.prototype.placeRows = function (this: FastDecoder, ...a: Parameters<typeof place>) {
        joined++; // in finished rows' places
        place.apply(this, a);
      };
      FastDecoder.prototype.step = function (this: FastDecoder, ...a: Parameters<typeof step>) {
        widest = Math.max(widest, a[0].length);
        return step.apply(this, a);
      };
      const live = T.liveTensors();
      try {
        // maxRows 8: up to 8 rows a row's logits do not depend on how many rows share the step here (as in
        // generateMany's test); past that the kernels' paths change with the row count (fp32 linear from 10 rows on,
        // bf16 from 16) and a row's scores move in the last bits, as they do with the batch size of generate().
        const stream = new DecodeStream(model, opts, 8, wrap);
        // One input, then one more every two event-loop turns (a step each), while the earlier ones decode.
        const pending = [stream.submit(inputs[0]!)];
        for (const q of inputs.slice(1)) {
          await turn();
          await turn();
          pending.push(stream.submit(q));
        }
        pending.push(stream.submit({ input: padBatch([], 0) }));
        const got = await Promise.all(pending);
        assert.equal(started, 1, 'one decoder ran them all: every later input joined a running batch');
        assertSameOutputs(got.slice(0, -1), each, `${precision} hooked ${hooked}`);
        assert.deepEqual(got.at(-1), { sequences: [], scores: [], tokenLogProbs: [] });
        assert.equal(stream.load.rows + stream.load.waiting, 0);
        // Idle again: a later input starts a fresh decoder and decodes as alone.
        assertSameOutputs([await stream.submit(inputs[3]!)], [each[3]!], 'after idle');
      } finally {
        FastDecoder.prototype.addRows = add;
        FastDecoder.prototype.placeRows = place;
        FastDecoder.prototype.step = step;
      }
      assert.ok(joined >= inputs.length - 1, `rows of later inputs joined running batches (${joined} joins)`);
      assert.ok(widest <= 8, `the batch stays within maxRows (widest ${widest})`);
      assert.equal(T.liveTensors(), live, 'no tensor outlives the stream once idle');
    }
    model.dispose();
  });
}

test('DecodeStream: a failing hook rejects the inputs decoding with it and the stream goes on; bad options and a mismatched constraint are refused', async () => {
  const model = mk(34);
  const srcs = batches(new Rng(8), 3, 4, 8);
  const opts = { maxNewTokens: 8 };
  const stream = new DecodeStream(model, opts, 8);
  const live = T.liveTensors();
  const bad = {
    input: padBatch(srcs[0]!, 0),
    allowedTokens: (_i: number, p: Int32Array) => {
      if (p.length === 2) throw new Error('hook failed');
      return null;
    },
  };
  const ok = { input: padBatch(srcs[1]!, 0), allowedTokens: () => null };
  const results = await Promise.allSettled([stream.submit(bad), stream.submit(ok)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  assert.match(String((results[0] as PromiseRejectedResult).reason), /hook failed/);
  assert.equal(T.liveTensors(), live, 'the failed decoder is disposed');
  // The stream decodes again; an input without a hook beside hooked ones is refused alone.
  const mixed = await Promise.allSettled([stream.submit(ok), stream.submit({ input: padBatch(srcs[2]!, 0) })]);
  assert.equal(mixed[0]!.status, 'fulfilled');
  assert.deepEqual(
    (mixed[0] as PromiseFulfilledResult<GenerateOutput>).value,
    generate(model, ok.input, { ...opts, allowedTokens: ok.allowedTokens }),
  );
  assert.match(String((mixed[1] as PromiseRejectedResult).reason), /every input needs an allowedTokens hook, or none/);
  assert.throws(() => new DecodeStream(model, { maxNewTokens: 8, doSample: true }, 8), /greedy search/);
  assert.throws(() => new DecodeStream(model, { maxNewTokens: 8, numBeams: 2 }, 8), /greedy search/);
  assert.throws(() => new DecodeStream(model, { maxNewTokens: 0 }, 8), /maxNewTokens/);
  assert.throws(() => new DecodeStream(model, opts, 0), /maxRows/);
  model.dispose();
});

test('DecodeStream: inputs submitted together are encoded as one batch and each resolves with its own rows', async () => {
  const model = mk(35);
  const srcs = batches(new Rng(9), 3, 3, 10);
  const eos = spreadEos(model, srcs.flat());
  const opts = { maxNewTokens: 12, eosTokenId: eos };
  for (const hooked of [false, true]) {
    // A constraint per source row of the merged batch, so each input's hook must see its own row indices.
    const rowHook = (row: number): AllowedTokensFn => hookFor(row)!;
    const hookOf = (first: number) => (i: number, p: Int32Array) => rowHook(first + i)(0, p);
    const starts = [0, srcs[0]!.length, srcs[0]!.length + srcs[1]!.length];
    const inputs = srcs.map((s, b) => ({
      input: padBatch(s, 0),
      ...(hooked ? { allowedTokens: hookOf(starts[b]!) } : {}),
    }));
    const all = srcs.flat();
    const together = generate(model, all, { ...opts, ...(hooked ? { allowedTokens: hookOf(0) } : {}) });
    const encodes = FastDecoder.prototype.encodeRows;
    let encoded = 0;
    FastDecoder.prototype.encodeRows = function (this: FastDecoder, ...a: Parameters<typeof encodes>) {
      encoded++;
      return encodes.apply(this, a);
    };
    try {
      const stream = new DecodeStream(model, opts, 8);
      const got = await Promise.all(inputs.map((q) => stream.submit(q)));
      assert.equal(encoded, 1, 'one encoder call for the inputs submitted together');
      got.forEach((g, b) => {
        const lo = starts[b]!;
        const hi = lo + srcs[b]!.length;
        assert.deepEqual(g.sequences, together.sequences.slice(lo, hi), `hooked ${hooked}: input ${b} sequences`);
        assertClose(g.scores, together.scores.slice(lo, hi), `hooked ${hooked}: input ${b} score`);
      });
    } finally {
      FastDecoder.prototype.encodeRows = encodes;
    }
  }
  model.dispose();
});
