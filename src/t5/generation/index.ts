// Generation for T5 (layout after transformers' generation utils): generate() validates the options and
// dispatches to greedy search / sampling (sample.ts) or beam search (beam-search.ts); both run the logits
// processors (logits-process.ts, logits-warp.ts) on a Decoder (fast-decoder.ts, or reference-decoder.ts to test against).

import * as T from '../../tensor';
import { T5ForConditionalGeneration } from '../model';
import { beamSearch } from './beam-search';
import { decodeQueue, type QueuedInput } from './sample';
import { generationContext, validate } from './options';
import { GenerateInput, GenerateOptions, GenerateOutput, padBatch } from './types';

export type { AllowedTokensFn, GenerateInput, GenerateOptions, GenerateOutput } from './types';
export type { QueuedInput } from './sample';
export { DecodeStream } from './stream';
export { padBatch } from './types';
export { bannedNgramTokens } from './logits-process';
export { mulberry32 } from './logits-warp';

export function generate(
  model: T5ForConditionalGeneration,
  input: GenerateInput | number[][],
  opts: GenerateOptions,
): GenerateOutput {
  return run(model, [{ input: asInput(model, input, opts), allowedTokens: opts.allowedTokens }], opts, false)[0]!;
}

/** Beam search even for numBeams 1 (generate() routes that to greedy, as transformers does). */
export function beamSearchGenerate(
  model: T5ForConditionalGeneration,
  input: GenerateInput | number[][],
  opts: GenerateOptions,
): GenerateOutput {
  return run(model, [{ input: asInput(model, input, opts), allowedTokens: opts.allowedTokens }], opts, true)[0]!;
}

/**
 * generate() for several inputs (batches), each with its own constraint (`opts.allowedTokens` is not used), one output
 * per input, equal to generate() on each. Greedy search keeps the decoded batch full across them: as rows finish,
 * the next inputs' rows take their places, instead of each batch running down to its last long row.
 */
export function generateMany(
  model: T5ForConditionalGeneration,
  inputs: readonly QueuedInput[],
  opts: GenerateOptions,
): GenerateOutput[] {
  if (inputs.length === 0) return [];
  return run(model, inputs, opts, false);
}

function asInput(model: T5ForConditionalGeneration, input: GenerateInput | number[][], opts: GenerateOptions) {
  return Array.isArray(input) ? padBatch(input, opts.padTokenId ?? model.config.padTokenId) : input;
}

function run(
  model: T5ForConditionalGeneration,
  inputs: readonly QueuedInput[],
  opts: GenerateOptions,
  forceBeam: boolean,
): GenerateOutput[] {
  validate(opts);
  T.governThreads(); // fewer threads while other processes want the cores (src/tensor/threads.ts)
  const ctx = generationContext(model, opts);
  for (const { input: inp } of inputs)
    if (inp.ids.length !== inp.batch * inp.length || inp.mask.length !== inp.ids.length)
      throw new Error('generate: ids/mask size does not match batch * length');
  const numBeams = opts.numBeams ?? 1;
  const wasTraining = model.training;
  model.eval(); // no dropout while generating
  try {
    // As transformers: numBeams 1 without sampling is greedy search.
    return T.noGrad(() =>
      (numBeams > 1 || forceBeam) && !opts.doSample
        ? inputs.map((q) => beamSearch(ctx, q.input, numBeams, { ...opts, allowedTokens: q.allowedTokens }))
        : decodeQueue(ctx, inputs, opts),
    );
  } finally {
    model.train(wasTraining);
  }
}

/** Texts in, texts out: tokenize (with `</s>`, truncated to maxSourceLength), generate, decode (keeps `<sep>`). */
export async function generateText(
  model: T5ForConditionalGeneration,
  tokenizer: {
    encodePadded(texts: string[], o: { maxLength?: number }): Promise<GenerateInput>;
    decodeBatch(seqs: number[][]): Promise<string[]>;
  },
  texts: string[],
  opts: GenerateOptions & { maxSourceLength?: number },
): Promise<{ texts: string[]; scores: number[] }> {
  if (texts.length === 0) return { texts: [], scores: [] };
  const batch = await tokenizer.encodePadded(texts, { maxLength: opts.maxSourceLength });
  const out = generate(model, batch, opts);
  return { texts: await tokenizer.decodeBatch(out.sequences), scores: out.scores };
}
