// The options every search checks, and the context (model, special tokens) it runs with.

import type { T5ForConditionalGeneration } from '../model';
import type { GenerateOptions, GenerationContext } from './types';

/** The model and the special tokens a search needs (the options' ids, else the config's). */
export function generationContext(model: T5ForConditionalGeneration, opts: GenerateOptions): GenerationContext {
  const cfg = model.config;
  return {
    model,
    eos: opts.eosTokenId ?? cfg.eosTokenId,
    pad: opts.padTokenId ?? cfg.padTokenId,
    start: opts.decoderStartTokenId ?? cfg.decoderStartTokenId,
    vocab: cfg.vocabSize,
  };
}

/** The options generate() and DecodeStream check themselves (the search strategies check theirs). */
export function validate(opts: GenerateOptions): void {
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1)
    throw new Error(`generate: maxNewTokens must be a positive integer, got ${opts.maxNewTokens}`);
  if (opts.repetitionPenalty !== undefined && !(opts.repetitionPenalty > 0))
    throw new Error(`generate: repetitionPenalty must be > 0, got ${opts.repetitionPenalty}`);
  if (
    opts.noRepeatNgramSize !== undefined &&
    !(Number.isInteger(opts.noRepeatNgramSize) && opts.noRepeatNgramSize >= 0)
  )
    throw new Error(`generate: noRepeatNgramSize must be a non-negative integer, got ${opts.noRepeatNgramSize}`);
  if (opts.decoder !== undefined && opts.decoder !== 'fast' && opts.decoder !== 'reference')
    throw new Error(`generate: decoder must be 'fast' or 'reference', got ${String(opts.decoder)}`);
}
