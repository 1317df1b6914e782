// `cyclener export --onnx`: tiny random T5s exported (tools/onnx/export_t5.py, via src/api/export.ts), loaded in
// onnxruntime-node and greedy-decoded (bench/ort.ts: split decoders, and the merged one transformers.js runs); every
// sequence must equal ours token for token in fp32 (generate(), the fast decoder). Also: the export's refusals (the
// model's own files, an existing export without --force) and the errors of a bad model folder, which name the file.
// Needs python3-torch and python3-onnx (scripts/setup.sh installs them) and the onnxruntime-node devDependency.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../src/tensor';
import { generate } from '../../src/t5/generation';
import { withPrecision } from '../../src/t5/precision';
import { presetConfig } from '../../src/t5/config';
import { T5ForConditionalGeneration } from '../../src/t5/model';
import { loadModelDir, saveModelDir } from '../../src/cycle/model-io';
import { syntheticTokenizer } from '../../src/demo/synthetic';
import { ONNX_EXPORT_FILES } from '../../src/api/export';
import { loadOrtT5, ortGreedy } from '../../bench/ort';
import { cli, tinyTaggerBase, tinyTunedTagger } from '../helpers/cli-helpers';

T.setNumThreads(1);

/** Sources of different lengths (padding in the batch), prefixed as an S2E sees them. */
async function sources(dir: string, texts: readonly string[]): Promise<number[][]> {
  const m = loadModelDir(dir);
  try {
    return await m.tokenizer.encodeBatch(texts.map((t) => `entities: ${t}`));
  } finally {
    m.model.dispose();
  }
}

function ours(dir: string, src: number[][], maxNewTokens: number): number[][] {
  const m = loadModelDir(dir);
  try {
    return T.tidy(() => withPrecision('fp32', () => generate(m.model, src, { maxNewTokens, numBeams: 1 }))).sequences;
  } finally {
    m.model.dispose();
  }
}

async function exportAndCompare(model: string, out: string, texts: readonly string[], trained: boolean): Promise<void> {
  const r = await cli(['export', '--onnx', out, '--model', model]);
  assert.equal(r.code, 0, r.err);
  for (const f of ONNX_EXPORT_FILES) assert.ok(fs.existsSync(path.join(out, f)), `${f} missing from the export`);
  assert.deepEqual(
    fs.readdirSync(out).filter((f) => f.startsWith('.')),
    [],
    'no temp folder or lock left in the export',
  );
  const src = await sources(model, texts);
  assert.ok(new Set(src.map((s) => s.length)).size > 3, 'sources of several lengths');
  const want = ours(model, src, 24);
  // Not a degenerate model: several different outputs; the trained one's mostly ending at EOS before the limit.
  assert.ok(new Set(want.map((s) => s.join(','))).size >= 5, JSON.stringify(want));
  if (trained)
    assert.ok(
      want.filter((s) => s[s.length - 1] === 1 && s.length < 24).length >= texts.length / 3,
      JSON.stringify(want),
    );
  for (const merged of [false, true]) {
    const ort = await loadOrtT5(out, { threads: 1, merged });
    try {
      const got = (await ortGreedy(ort, src, 24)).sequences;
      got.forEach((g, i) =>
        assert.deepEqual(g, want[i], `${merged ? 'merged' : 'split'} decoders, sentence ${i}: "${texts[i]}"`),
      );
      // One sentence alone: no padding, the same sequence as in the batch.
      assert.deepEqual((await ortGreedy(ort, [src[0]!], 24)).sequences[0], want[0]);
      // Finished rows dropped from the batch as they end (their keys/values copied out): the same sequences.
      const dropped = await ortGreedy(ort, src, 24, { dropFinished: true });
      assert.deepEqual(dropped.sequences, want);
      if (trained) assert.ok(dropped.rowSteps < src.length * Math.max(...want.map((s) => s.length)));
    } finally {
      await ort.release();
    }
  }
}

test('export --onnx: ONNX Runtime greedy = ours token for token (fp32), tied ReLU and untied gated-GELU T5s', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-export-onnx-'));
  try {
    // A trained S2E (a few seconds of supervised fp32 training on the world's sentences): entity sequences, EOS.
    const { world, model: base } = await tinyTunedTagger(root, 60);
    // Whole sentences, their first words and pairs of them: sources of many lengths in one batch.
    const S = world.S;
    const texts = [
      ...world.evalSet.sentences.map((s) => s.text),
      ...S.slice(0, 8).map((s, i) =>
        s
          .split(' ')
          .slice(0, i + 1)
          .join(' '),
      ),
      ...S.slice(0, 4).map((s, i) => `${s} ${S[i + 4]}`),
    ];
    // v1.0 layout: ReLU, tied embeddings, decoder output scaled by d_model^-0.5.
    await exportAndCompare(base, path.join(root, 'onnx-relu'), texts, true);
    // v1.1 layout: gated-GELU (tanh), untied LM head, no output scaling, more decoder than encoder layers.
    const tok = syntheticTokenizer(world);
    const gated = path.join(root, 'gated');
    const cfg = presetConfig('tiny', {
      vocabSize: tok.vocabSize,
      feedForwardProj: 'gated-gelu',
      tieWordEmbeddings: false,
      scaleDecoderOutputs: false,
      numDecoderLayers: 3,
    });
    const m = new T5ForConditionalGeneration(cfg, { seed: 3 });
    // Initial weights give near-uniform logits (one token repeated): widened, outputs differ and end at EOS.
    T.noGrad(() =>
      T.tidy(() => {
        for (const [n, p] of m.namedParameters()) if (!n.includes('layer_norm')) p.copy_(p.mul(4));
      }),
    );
    saveModelDir(gated, m, tok, { task: 's2e', prefix: 'entities: ', types: [] });
    m.dispose();
    await exportAndCompare(gated, path.join(root, 'onnx-gated'), texts, false);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('export --onnx: never over the model or an earlier export without --force; a bad model folder is named', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-export-onnx-'));
  try {
    const { base } = tinyTaggerBase(root);
    const before = fs.readdirSync(base).map((f) => [f, fs.readFileSync(path.join(base, f))] as const);
    // Into the model's own folder: refused before any work, the model untouched.
    let r = await cli(['export', '--onnx', base, '--model', base, '--force']);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /is a file of the --model folder/);
    for (const [f, bytes] of before) assert.deepEqual(fs.readFileSync(path.join(base, f)), bytes, f);
    assert.ok(!fs.existsSync(path.join(base, 'onnx')), 'no folder left in the model');

    const out = path.join(root, 'exp');
    r = await cli(['export', '--onnx', out, '--model', base]);
    assert.equal(r.code, 0, r.err);
    const enc = fs.readFileSync(path.join(out, 'onnx', 'encoder_model.onnx'));
    r = await cli(['export', '--onnx', out, '--model', base]);
    assert.equal(r.code, 2);
    assert.match(r.err, /exists; pass --force/);
    r = await cli(['export', '--onnx', out, '--model', base, '--force']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(fs.readFileSync(path.join(out, 'onnx', 'encoder_model.onnx')), enc, 'same model, same graph');

    // Bad model folders: the message names the file and the problem; nothing is written.
    const bad = path.join(root, 'bad');
    fs.cpSync(base, bad, { recursive: true });
    const cfgFile = path.join(bad, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, d_ff: (cfg.d_ff as number) + 1 }));
    const badOut = path.join(root, 'bad-exp');
    r = await cli(['export', '--onnx', badOut, '--model', bad]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(`${path.join(bad, 'model.safetensors').replace(/[/.]/g, '\\$&')}: tensor \\S+ has shape`),
    );
    assert.ok(!fs.existsSync(badOut), 'a failed export leaves no folder');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, feed_forward_proj: 'gated-swish' }));
    r = await cli(['export', '--onnx', badOut, '--model', bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /config\.json: activation 'swish' is not supported/);
    fs.writeFileSync(cfgFile, '{"d_model": ');
    r = await cli(['export', '--onnx', badOut, '--model', bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /config\.json/);
    r = await cli(['export', '--onnx', badOut, '--model', path.join(root, 'nowhere')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /nowhere: no such file or directory/);
    assert.ok(!fs.existsSync(badOut), 'a failed export leaves no folder');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
