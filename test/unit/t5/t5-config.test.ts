import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromHF, configToHF, ffnKind, presetConfig } from '../../../src/t5/config';

// The fields of google/flan-t5-small's config.json that matter (as published).
const FLAN_SMALL = {
  architectures: ['T5ForConditionalGeneration'],
  d_ff: 1024,
  d_kv: 64,
  d_model: 512,
  decoder_start_token_id: 0,
  dense_act_fn: 'gelu_new',
  dropout_rate: 0.1,
  eos_token_id: 1,
  feed_forward_proj: 'gated-gelu',
  initializer_factor: 1.0,
  is_encoder_decoder: true,
  is_gated_act: true,
  layer_norm_epsilon: 1e-6,
  model_type: 't5',
  n_positions: 512,
  num_decoder_layers: 8,
  num_heads: 6,
  num_layers: 8,
  output_past: true,
  pad_token_id: 0,
  relative_attention_max_distance: 128,
  relative_attention_num_buckets: 32,
  tie_word_embeddings: false,
  use_cache: true,
  vocab_size: 32128,
};

test('config: flan-t5-small config.json parses to the flan preset; t5-small defaults to v1.0', () => {
  assert.deepEqual(configFromHF(FLAN_SMALL), presetConfig('flan-t5-small'));
  assert.deepEqual(ffnKind(configFromHF(FLAN_SMALL)), { gated: true, act: 'gelu_new' });
  const small = configFromHF({ model_type: 't5', d_model: 512, num_layers: 6, num_heads: 8, d_ff: 2048, d_kv: 64 });
  assert.deepEqual(small, presetConfig('small'));
  assert.equal(small.numDecoderLayers, 6, 'num_decoder_layers defaults to num_layers');
  assert.deepEqual(ffnKind(small), { gated: false, act: 'relu' });
});

test('config: configToHF -> configFromHF round-trips and carries what transformers reads', () => {
  for (const p of ['tiny', 'small', 'flan-t5-small']) {
    const c = presetConfig(p);
    const j = configToHF(c);
    assert.deepEqual(configFromHF(JSON.parse(JSON.stringify(j))), c);
    assert.equal(j.model_type, 't5');
    assert.equal(j.is_gated_act, ffnKind(c).gated);
  }
});

test('config: invalid configs are rejected with the offending key', () => {
  assert.throws(() => configFromHF({ model_type: 'bart' }), /model_type is "bart"/);
  assert.throws(() => configFromHF({ feed_forward_proj: 'gated-swish' }), /activation "swish"/);
  assert.throws(() => configFromHF({ feed_forward_proj: 'fancy-relu' }), /not of the form/);
  assert.throws(() => configFromHF({ d_model: 0 }), /dModel must be a positive integer/);
  assert.throws(() => configFromHF({ d_model: '512' }), /"d_model" must be a number/);
  assert.throws(() => configFromHF({ vocab_size: 10, eos_token_id: 12 }), /eosTokenId 12 is outside the vocabulary/);
  assert.throws(() => presetConfig('huge'), /unknown T5 preset "huge"/);
});
