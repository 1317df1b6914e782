import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detokenize, tokenizeText } from '../../../src/data/detok';

function check(tokens: string[], expected: string): void {
  const d = detokenize(tokens);
  assert.equal(d.text, expected);
  tokens.forEach((t, i) => assert.equal(d.text.slice(d.offsets[i]!.start, d.offsets[i]!.end), t));
}

test('punctuation, clitics, brackets and quotes', () => {
  check(['He', 'said', '"', 'it', "'s", 'fine', '"', '(', 'really', ')', '.'], 'He said "it\'s fine" (really).');
  check(['I', 'do', "n't", 'know', ',', 'do', 'you', '?'], "I don't know, do you?");
  check(['It', 'costs', '$', '5', ',', 'or', '50', '%', 'more', '...'], 'It costs $5, or 50% more...');
});

test('hyphens keep their spaces (BC2GM "NFI - DNA")', () => {
  check(['NFI', '-', 'DNA', 'binding'], 'NFI - DNA binding');
});

test('tokenizeText keeps combining marks in their word and an emoji sequence in one token', () => {
  const text = 'Jose\u0301 Mu\u0308ller 👨‍👩‍👧 said 👍🏽!';
  assert.deepEqual(
    tokenizeText(text).map((r) => text.slice(r.start, r.end)),
    ['Jose\u0301', 'Mu\u0308ller', '👨‍👩‍👧', 'said', '👍🏽', '!'],
  );
});

test('tokenizeText splits punctuation but keeps URLs and handles', () => {
  const text = 'Hi @bob, see http://x.y/z. Now!';
  assert.deepEqual(
    tokenizeText(text).map((r) => text.slice(r.start, r.end)),
    ['Hi', '@bob', ',', 'see', 'http://x.y/z', '.', 'Now', '!'],
  );
});
