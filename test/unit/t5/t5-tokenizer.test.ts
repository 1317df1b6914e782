import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { T5Tokenizer, parseSpiece, tokenizerJsonFromSpiece } from '../../../src/t5/tokenizer';

// ---- a hand-built SentencePiece model (protobuf), so the converter is tested without fixtures ----
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
function field(num: number, wire: number, payload: number[]): number[] {
  return [...varint(num * 8 + wire), ...payload];
}
function bytesField(num: number, b: number[]): number[] {
  return field(num, 2, [...varint(b.length), ...b]);
}
function piece(p: string, score: number, type: number): number[] {
  const f = new Uint8Array(new Float32Array([score]).buffer);
  return bytesField(1, [
    ...bytesField(1, [...Buffer.from(p, 'utf8')]),
    ...field(2, 5, [...f]),
    ...field(3, 0, varint(type)),
  ]);
}
function spieceModel(): Uint8Array {
  const pieces: Array<[string, number, number]> = [
    ['<pad>', 0, 3],
    ['</s>', 0, 3],
    ['<unk>', 0, 2],
    ['▁', -2, 1],
  ];
  for (const w of ['▁hello', '▁world', '▁Paris', '▁London', '▁is', '▁in']) pieces.push([w, -3, 1]);
  for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,') pieces.push([c, -8, 1]);
  const out: number[] = [];
  for (const [p, s, t] of pieces) out.push(...piece(p, s, t));
  out.push(...bytesField(2, [...field(3, 0, varint(1)), ...field(40, 0, varint(2))])); // trainer_spec: unigram, unk_id 2
  out.push(...bytesField(3, [...bytesField(1, [...Buffer.from('identity')]), ...field(3, 0, varint(1))])); // normalizer_spec
  return new Uint8Array(out);
}

const FIX = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 't5', 'tokenizer');

test('tokenizer: spiece.model protobuf is parsed (pieces, scores, types, unk id)', () => {
  const m = parseSpiece(spieceModel());
  assert.equal(m.pieces[0].piece, '<pad>');
  assert.equal(m.pieces[2].type, 2);
  assert.equal(m.pieces[4].piece, '▁hello');
  assert.equal(m.pieces[4].score, -3);
  assert.equal(m.unkId, 2);
  assert.equal(m.addDummyPrefix, true);
});

test('tokenizer: built from spiece.model, T5 ids for specials and extra ids, </s> appended', async () => {
  const tok = T5Tokenizer.fromJSON(tokenizerJsonFromSpiece(spieceModel(), { addTokens: ['<sep>'] }));
  const n = parseSpiece(spieceModel()).pieces.length;
  assert.equal(tok.padId, 0);
  assert.equal(tok.eosId, 1);
  assert.equal(tok.unkId, 2);
  assert.equal(tok.inner.tokenToId('<extra_id_0>'), n + 99, 'extra ids are numbered downwards from the end, as T5');
  assert.equal(tok.inner.tokenToId('<extra_id_99>'), n);
  assert.equal(tok.sepId, n + 100);
  const ids = await tok.encode('hello world');
  assert.deepEqual(ids, [4, 5, 1]);
  assert.deepEqual(await tok.encode('hello world', { addEos: false }), [4, 5]);
  assert.deepEqual(await tok.encode('hello world Paris', { maxLength: 3 }), [4, 5, 1], 'truncation keeps </s>');
});

test('tokenizer: <sep> survives decoding with skipSpecialTokens; specials and padding do not', async () => {
  const tok = T5Tokenizer.fromJSON(tokenizerJsonFromSpiece(spieceModel(), { addTokens: ['<sep>'] }));
  const texts = ['Paris <sep> London', 'hello world', 'London is in <sep> world <sep> hello'];
  const enc = await tok.encodeBatch(texts);
  assert.ok(enc[0].includes(tok.sepId), '<sep> is one token');
  const padded = tok.pad(enc);
  assert.equal(padded.length, Math.max(...enc.map((e) => e.length)));
  const rows = Array.from({ length: padded.batch }, (_, b) =>
    padded.ids.subarray(b * padded.length, (b + 1) * padded.length),
  );
  assert.deepEqual(await tok.decodeBatch(rows), texts);
  assert.equal(tok.isSpecial(tok.sepId), false);
  assert.equal(tok.isSpecial(tok.eosId), true);
  // Without stopping at </s>, skipping specials still drops </s> and <pad> but keeps <sep>.
  assert.deepEqual(await tok.decodeBatch(rows, { stopAtEos: false }), texts);
  assert.match((await tok.decodeBatch(rows, { stopAtEos: false, skipSpecialTokens: false }))[1], /<\/s><pad>/);
});

test('tokenizer: withSep() adds <sep> to a tokenizer that lacks it', async () => {
  const plain = T5Tokenizer.fromJSON(tokenizerJsonFromSpiece(spieceModel()));
  assert.equal(plain.sepId, -1);
  const tok = plain.withSep();
  assert.equal(tok.sepId, plain.vocabSize);
  assert.equal(await tok.decode(await tok.encode('Paris <sep> London')), 'Paris <sep> London');
});

const haveFixture = fs.existsSync(path.join(FIX, 'tokenizer.json'));

interface FixtureEnc {
  text: string;
  ids: number[];
  tokens: string[];
  decoded: string;
  decoded_skip_special: string;
}

test(
  'tokenizer: the transformers-made fixture encodes and decodes identically here',
  { skip: !haveFixture && 'fixture test/fixtures/t5/tokenizer not present' },
  async () => {
    const tok = T5Tokenizer.fromFile(path.join(FIX, 'tokenizer.json'));
    const fx = JSON.parse(fs.readFileSync(path.join(FIX, 'encodings.json'), 'utf8')) as {
      sep_id: number;
      extra_id_0: number;
      vocab_size: number;
      encodings: FixtureEnc[];
    };
    assert.equal(tok.sepId, fx.sep_id);
    assert.equal(tok.inner.tokenToId('<extra_id_0>'), fx.extra_id_0);
    assert.equal(tok.vocabSize, fx.vocab_size);
    for (const c of fx.encodings) {
      // The reference is the raw Hugging Face tokenizer: without cyclener's normalisation (which turns the emoji into spaces).
      const ids = await tok.encode(c.text, { normalize: false });
      assert.deepEqual(ids, c.ids, `ids of ${JSON.stringify(c.text)}`);
      assert.equal(
        await tok.decode(ids, { skipSpecialTokens: false, stopAtEos: false, canonicalSep: false }),
        c.decoded,
      );
      assert.equal(await tok.decode(ids, { stopAtEos: false, canonicalSep: false }), c.decoded_skip_special);
    }
    // Canonical entity sequences round-trip exactly, <sep> kept.
    for (const text of ['Amazon <sep> organization <sep> Jeff Bezos <sep> person', 'Seattle <sep> location']) {
      assert.equal(await tok.decode(await tok.encode(text)), text);
    }
  },
);

test(
  'tokenizer: tokenizer.json built from spiece.model equals the fixture converter output',
  { skip: !haveFixture && 'fixture test/fixtures/t5/tokenizer not present' },
  async () => {
    const want = JSON.parse(fs.readFileSync(path.join(FIX, 'tokenizer.json'), 'utf8'));
    const json = tokenizerJsonFromSpiece(fs.readFileSync(path.join(FIX, 'spiece.model')), { addTokens: ['<sep>'] });
    const got = JSON.parse(json);
    for (const k of ['added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model'])
      assert.deepEqual(got[k], want[k], `tokenizer.json "${k}"`);
    const tok = T5Tokenizer.fromJSON(json);
    const fx = JSON.parse(fs.readFileSync(path.join(FIX, 'encodings.json'), 'utf8')) as { encodings: FixtureEnc[] };
    for (const c of fx.encodings)
      assert.deepEqual(await tok.encode(c.text, { normalize: false }), c.ids, `ids of ${JSON.stringify(c.text)}`);
  },
);

test(
  'tokenizer + model: generateText returns one decoded text per hypothesis',
  { skip: !haveFixture && 'fixture test/fixtures/t5/tokenizer not present' },
  async () => {
    const { presetConfig } = await import('../../../src/t5/config');
    const { T5ForConditionalGeneration } = await import('../../../src/t5/model');
    const { generateText } = await import('../../../src/t5/generation');
    const tok = T5Tokenizer.fromFile(path.join(FIX, 'tokenizer.json'));
    const model = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize }), { seed: 1 });
    // Forcing "Seattle <sep> location" token by token checks the ids -> text path end to end.
    const want = await tok.encode('Seattle <sep> location');
    const out = await generateText(model, tok, ['Jeff Bezos met Amazon in Seattle.', 'Marie Curie'], {
      maxNewTokens: 20,
      numBeams: 2,
      numReturnSequences: 2,
      allowedTokens: (_b, prefix) => Int32Array.from([want[Math.min(prefix.length, want.length - 1)]]),
    });
    assert.equal(out.texts.length, 4);
    assert.equal(out.texts[0], 'Seattle <sep> location');
    assert.equal(out.texts[2], 'Seattle <sep> location');
    model.dispose();
  },
);
