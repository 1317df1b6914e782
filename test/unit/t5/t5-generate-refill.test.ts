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

function assertBitSame(got: GenerateOutput[], want: GenerateOutput[], what: string): void {
  assert.equal(got.length, want.length);
  got.forEach((g, b) => {
    assert.deepEqual(g.sequences, want[b]!.sequences, `${what}: batch ${b} sequences`);
    assert.deepEqual(g.scores, want[b]!.scores, `${what}: batch ${b} scores`);
    assert.deepEqual(g.tokenLogProbs, want[b]!.tokenLogProbs, `${what}: batch ${b} token log-probs`);
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
  test(`generateMany (${precision}) = generate() per batch, bit for bit: plain, no-repeat n-grams, constrained (sparse head), maxNewTokens reached`, () => {
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
        assertBitSame(
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
    assertBitSame(generateMany(model, inputs, opts), each, JSON.stringify(opts));
  }
  assert.deepEqual(generateMany(model, [], { maxNewTokens: 4 }), []);
  // Inputs without rows (first, between, last) give empty outputs; the others decode as on their own.
  const empty = { input: padBatch([], 0) };
  const withEmpty = generateMany(model, [empty, inputs[0]!, empty, inputs[1]!, empty], { maxNewTokens: 8 });
  const none = { sequences: [], scores: [], tokenLogProbs: [] };
  assertBitSame(
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
  assertBitSame(generateMany(model, [empty, empty], { maxNewTokens: 8 }), [none, none], 'only empty inputs');
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
