// Text-level wrapper around one T5 direction (S2E or E2S): task prefix, tokenisation with explicit
// length limits (truncations are counted, never silent), generation and the single training-step
// implementation shared by the supervised baseline and both cycles.

import * as T from '../tensor';
import { entityLogProbs } from '../data/entity-seq';
import { generate, type AllowedTokensFn, type GenerateOptions } from '../t5/generation';
import type { T5ForConditionalGeneration } from '../t5/model';
import { autocastOf, DEFAULT_PRECISION, withPrecision, type Precision } from '../t5/precision';
import type { T5Tokenizer } from '../t5/tokenizer';
import { Seq2SeqTrainer, type Optimizer, type Seq2SeqExample, type StepResult, type TrainerOptions } from '../t5/train';

export interface DecodeConfig {
  /** Required everywhere: no hidden short default. */
  maxNewTokens: number;
  numBeams?: number;
  doSample?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  /** Never repeat an n-gram (0/undefined = off); against the looping E2S sentences of weak base models. */
  noRepeatNgramSize?: number;
  /** HF repetition penalty (1/undefined = off). */
  repetitionPenalty?: number;
}

export interface Limits {
  maxSourceTokens: number;
  maxTargetTokens: number;
}

export class Direction {
  /** Sequences cut to the length limits so far (reported in the logs). */
  truncated = 0;
  /** `precision` applies to this direction's generation and to the trainer made by trainer(). */
  constructor(
    readonly model: T5ForConditionalGeneration,
    readonly tokenizer: T5Tokenizer,
    readonly prefix: string,
    readonly limits: Limits,
    readonly precision: Precision = DEFAULT_PRECISION,
  ) {}

  /** A trainer for this direction's model at this direction's precision. */
  trainer(optimizer: Optimizer, opts: Omit<TrainerOptions, 'autocast'> = {}): Seq2SeqTrainer {
    return new Seq2SeqTrainer(this.model, optimizer, { ...opts, autocast: autocastOf(this.precision) });
  }

  private async enc(texts: readonly string[], max: number): Promise<number[][]> {
    const full = await this.tokenizer.encodeBatch([...texts]);
    return full.map((ids) => {
      if (ids.length <= max) return ids;
      this.truncated++;
      return [...ids.slice(0, max - 1), this.tokenizer.eosId];
    });
  }

  encodeSources(texts: readonly string[]): Promise<number[][]> {
    return this.enc(
      texts.map((t) => this.prefix + t),
      this.limits.maxSourceTokens,
    );
  }

  async examples(sources: readonly string[], targets: readonly string[]): Promise<Seq2SeqExample[]> {
    if (sources.length !== targets.length) throw new Error('examples: sources and targets differ in number');
    const [src, tgt] = await Promise.all([this.encodeSources(sources), this.enc(targets, this.limits.maxTargetTokens)]);
    return src.map((s, i) => ({ source: s, target: tgt[i] as number[] }));
  }

  /** Generate in eval mode without gradients (generate() switches mode and restores it). */
  async generate(
    sources: readonly string[],
    decode: DecodeConfig,
    allowed?: AllowedTokensFn,
    seed = 0,
  ): Promise<string[]> {
    return (await this.generateScored(sources, decode, allowed, seed)).texts;
  }

  /**
   * As generate(), with each output's mean log-probability per generated token (greedy/sampling: after the decoding
   * constraints, so a grounded output is scored among the allowed tokens) and the log-probability of each of its
   * entities (entityLogProbs: one per surface/type pair of the text, under the distribution each token was drawn
   * from, renormalised over what the constraint allowed, beam search included).
   */
  async generateScored(
    sources: readonly string[],
    decode: DecodeConfig,
    allowed?: AllowedTokensFn,
    seed = 0,
  ): Promise<{ texts: string[]; meanLogProbs: number[]; entityLogProbs: number[][] }> {
    if (sources.length === 0) return { texts: [], meanLogProbs: [], entityLogProbs: [] };
    const src = await this.encodeSources(sources);
    const opts: GenerateOptions = { maxNewTokens: decode.maxNewTokens, numBeams: decode.numBeams ?? 1, seed };
    if (decode.doSample)
      Object.assign(opts, {
        doSample: true,
        temperature: decode.temperature ?? 1,
        topP: decode.topP ?? 1,
        topK: decode.topK ?? 0,
      });
    if (decode.noRepeatNgramSize) opts.noRepeatNgramSize = decode.noRepeatNgramSize;
    if (decode.repetitionPenalty !== undefined && decode.repetitionPenalty !== 1)
      opts.repetitionPenalty = decode.repetitionPenalty;
    if (allowed) opts.allowedTokens = allowed;
    const out = T.tidy(() => withPrecision(this.precision, () => generate(this.model, src, opts)));
    const texts = (await this.tokenizer.decodeBatch(out.sequences)).map((t) => t.trim());
    const { sepId, eosId } = this.tokenizer;
    return {
      texts,
      meanLogProbs: out.scores.map((sc, i) => sc / Math.max(1, out.sequences[i]!.length)),
      entityLogProbs: out.sequences.map((seq, i) => {
        const lp = out.tokenLogProbs[i] as number[];
        const per = entityLogProbs(seq, lp, sepId, eosId);
        const t = texts[i] as string;
        const pairs = t === '' ? 0 : Math.floor(t.split(/\s*<sep>\s*/).length / 2);
        if (pairs === per.length) return per;
        // Plain decoding spelt "<sep>" out of ordinary pieces: the fields no longer follow the tokens. Each entity
        // then gets the whole sequence's log-probability, a lower bound of its own.
        const all = lp.reduce((a, x) => a + x, 0);
        return new Array<number>(pairs).fill(all);
      }),
    };
  }
}

/** One generated text and the log-probability of each of its entities (Direction.generateScored). */
export interface ScoredText {
  text: string;
  entityLogProbs: number[];
}

/** generateAll with each text's entity log-probabilities. */
export async function generateAllScored(
  dir: Direction,
  sources: readonly string[],
  decode: DecodeConfig,
  batchSize: number,
  hookFor?: (batch: readonly string[]) => Promise<AllowedTokensFn | undefined>,
): Promise<ScoredText[]> {
  return inLengthBatches(sources, batchSize, async (batch) => {
    const r = await dir.generateScored(batch, decode, hookFor ? await hookFor(batch) : undefined);
    return r.texts.map((text, i) => ({ text, entityLogProbs: r.entityLogProbs[i] as number[] }));
  });
}

/**
 * Generate for any number of sources in batches of `batchSize`, sources of similar length together (less padding in
 * the encoder, and rows of a batch tend to finish together), outputs in input order. `hookFor` builds the
 * allowedTokens hook of one batch (grounding depends on the batch's sentences).
 */
export async function generateAll(
  dir: Direction,
  sources: readonly string[],
  decode: DecodeConfig,
  batchSize: number,
  hookFor?: (batch: readonly string[]) => Promise<AllowedTokensFn | undefined>,
): Promise<string[]> {
  return inLengthBatches(sources, batchSize, async (batch) =>
    dir.generate(batch, decode, hookFor ? await hookFor(batch) : undefined),
  );
}

/** `gen` over batches of `batchSize` sources of similar length (as generateAll), outputs in input order. */
export async function inLengthBatches<R = string>(
  sources: readonly string[],
  batchSize: number,
  gen: (batch: readonly string[]) => Promise<readonly R[]>,
): Promise<R[]> {
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new Error(`generateAll: batchSize must be a positive integer, got ${batchSize}`);
  const order = sources
    .map((_, i) => i)
    .sort((a, b) => (sources[a] as string).length - (sources[b] as string).length || a - b);
  const out = new Array<R>(sources.length);
  for (let i = 0; i < order.length; i += batchSize) {
    const idx = order.slice(i, i + batchSize);
    const out1 = await gen(idx.map((k) => sources[k] as string));
    idx.forEach((k, j) => {
      out[k] = out1[j] as R;
    });
  }
  return out;
}

/** The one training step: teacher-forced cross-entropy on ⟨source → target⟩ texts, one optimizer step. */
export async function trainStep(
  dir: Direction,
  trainer: Seq2SeqTrainer,
  sources: readonly string[],
  targets: readonly string[],
): Promise<StepResult> {
  const ex = await dir.examples(sources, targets);
  return trainer.step([ex]);
}

/**
 * Token-weighted mean loss without gradients or dropout; pairs of similar length are batched together (less padding).
 * In a process group (T.dist) every rank calls it with the same pairs and measures its shard; all get the global mean.
 */
export async function evalLoss(
  dir: Direction,
  trainer: Seq2SeqTrainer,
  allSources: readonly string[],
  allTargets: readonly string[],
  batchSize: number,
): Promise<{ loss: number; tokens: number }> {
  const sources = T.dist.shard(allSources);
  const targets = T.dist.shard(allTargets);
  const len = (i: number) => (sources[i] as string).length + (targets[i] as string).length;
  const order = sources.map((_, i) => i).sort((a, b) => len(a) - len(b) || a - b);
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < order.length; i += batchSize) {
    const idx = order.slice(i, i + batchSize);
    const ex = await dir.examples(
      idx.map((k) => sources[k] as string),
      idx.map((k) => targets[k] as string),
    );
    const n = ex.reduce((a, e) => a + e.target.length, 0);
    sum += trainer.evaluate(ex) * n;
    tokens += n;
  }
  [sum, tokens] = (await T.dist.sumNumbers([sum, tokens])) as [number, number];
  return { loss: tokens > 0 ? sum / tokens : NaN, tokens };
}
