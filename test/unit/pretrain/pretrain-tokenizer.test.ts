import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkLayout, spmTrainAvailable, trainTokenizer } from '../../../src/pretrain';
import { parseSpiece, SEP_TOKEN, T5Tokenizer, tokenizerJsonFromSpiece } from '../../../src/t5/tokenizer';
import { corpusLines, tmpDir } from '../../helpers/pretrain-helpers';

const skip = spmTrainAvailable() ? false : 'spm_train not installed (Debian package sentencepiece)';

test(
  'spm_train on a small corpus gives the T5 layout: <pad>=0 </s>=1 <unk>=2, no <s>, 100 sentinels, <sep> last',
  { skip },
  async () => {
    const dir = tmpDir('spm');
    const corpus = path.join(dir, 'c.txt');
    fs.writeFileSync(corpus, corpusLines(300, 2).join('\n') + '\n');
    const out = path.join(dir, 'tok');
    const tok = await trainTokenizer({
      files: [corpus],
      outDir: out,
      vocabSize: 101 + 250,
      sampleSentences: 5000,
      seed: 0,
      threads: 1,
      softVocabLimit: true,
    });
    const spm = parseSpiece(fs.readFileSync(path.join(out, 'spiece.model')));
    const n = spm.pieces.length;
    assert.deepEqual(
      spm.pieces.slice(0, 3).map((p) => [p.piece, p.type]),
      [
        ['<pad>', 3],
        ['</s>', 3],
        ['<unk>', 2],
      ],
    );
    assert.ok(!spm.pieces.some((p) => p.piece === '<s>'), 'no BOS piece');
    assert.equal(tok.padId, 0);
    assert.equal(tok.eosId, 1);
    assert.equal(tok.unkId, 2);
    const id = (t: string) => tok.inner.tokenToId(t);
    assert.equal(id('<extra_id_99>'), n);
    assert.equal(id('<extra_id_0>'), n + 99);
    assert.equal(tok.sepId, n + 100);
    assert.equal(tok.vocabSize, n + 101);
    assert.deepEqual(checkLayout(tok), { sentinel0: n + 99, sep: n + 100 });
    assert.ok(!tok.isSpecial(tok.sepId), '<sep> is not special (kept when decoding)');
    assert.ok(tok.isSpecial(n + 99));
    // The saved tokenizer.json is what T5Tokenizer loads from the directory.
    const again = T5Tokenizer.fromDir(out);
    const ids = await again.encode('Angela Merkel <sep> person <sep> Berlin <sep> location');
    assert.equal(ids.at(-1), 1);
    assert.equal(ids.filter((t) => t === tok.sepId).length, 3);
    assert.equal(await again.decode(ids), 'Angela Merkel <sep> person <sep> Berlin <sep> location');
    const masked = await again.encode('Angela <extra_id_0> in Berlin', { addEos: false });
    assert.ok(masked.includes(n + 99));
    fs.rmSync(dir, { recursive: true, force: true });
  },
);

test('tokenizer.json from spiece.model matches the shipped one (same recipe as tools/gpu/spm_convert.py)', () => {
  const dir = path.join(__dirname, '..', '..', '..', '..', 'models', 'base-news-11m');
  if (!fs.existsSync(path.join(dir, 'spiece.model'))) return;
  const mine = JSON.parse(
    tokenizerJsonFromSpiece(fs.readFileSync(path.join(dir, 'spiece.model')), { addTokens: [SEP_TOKEN] }),
  );
  const shipped = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  assert.deepEqual(mine.added_tokens, shipped.added_tokens);
  assert.deepEqual(mine.model, shipped.model);
  assert.deepEqual(mine.normalizer, shipped.normalizer);
  assert.deepEqual(mine.pre_tokenizer, shipped.pre_tokenizer);
  assert.deepEqual(mine.decoder, shipped.decoder);
});
