// Text-level wrapper around one T5 direction (S2E or E2S): task prefix, tokenisation with explicit
// length limits (truncations are counted, never silent), generation and the single training-step
// implementation shared by the supervised baseline and both cycles.

import * as T from '../tensor';
import { entityLogProbs } from '../data/entity-seq';
import {
  DecodeStream,
  generateMany,
  padBatch,
  type AllowedTokensFn,
  type GenerateOptions,
  type GenerateOutput,
  type QueuedInput,
} from '../t5/generation';
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
  /**
   * > 0: greedy decoding goes through one shared DecodeStream per decoding setting, up to this many rows at once, so
   * that concurrent callers (a server's batches) decode in one batch that admits rows as others finish. 0: each call
   * decodes its own batches (generateMany).
   */
  continuousRows = 0;
  private readonly streams = new Map<string, DecodeStream>();
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
  ): Promise<GeneratedBatch> {
    return (await this.generateBatches([{ sources, allowed }], decode, seed))[0]!;
  }

  /**
   * generateScored() for several batches, each with its own constraint; greedy decoding keeps the decoded batch full
   * across them (generateMany: rows of the next batches replace finished ones), with the same outputs as one call per
   * batch.
   */
  async generateBatches(
    batches: readonly { sources: readonly string[]; allowed?: AllowedTokensFn }[],
    decode: DecodeConfig,
    seed = 0,
  ): Promise<GeneratedBatch[]> {
    const nonEmpty = batches.filter((b) => b.sources.length > 0);
    const inputs = await Promise.all(
      nonEmpty.map(async (b) => ({
        input: padBatch(await this.encodeSources(b.sources), this.model.config.padTokenId),
        ...(b.allowed ? { allowedTokens: b.allowed } : {}),
      })),
    );
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
    const outs =
      this.continuousRows > 0 && !opts.doSample && opts.numBeams === 1
        ? await this.streamed(inputs, opts)
        : T.tidy(() => withPrecision(this.precision, () => generateMany(this.model, inputs, opts)));
    const done: GeneratedBatch[] = [];
    for (const out of outs) done.push(await this.scored(out.sequences, out.scores, out.tokenLogProbs));
    let k = 0;
    return batches.map((b) =>
      b.sources.length === 0 ? { texts: [], meanLogProbs: [], entityLogProbs: [] } : done[k++]!,
    );
  }

  /** The inputs through the shared stream of their decoding setting (continuousRows > 0). */
  private streamed(inputs: readonly QueuedInput[], opts: GenerateOptions): Promise<GenerateOutput[]> {
    const key = JSON.stringify(opts);
    let stream = this.streams.get(key);
    if (!stream) {
      stream = new DecodeStream(this.model, opts, this.continuousRows, (f) => withPrecision(this.precision, f));
      this.streams.set(key, stream);
    }
    const s = stream;
    return Promise.all(inputs.map((q) => s.submit(q)));
  }

  /** Texts, mean log-probabilities per token and per-entity log-probabilities of generated sequences. */
  private async scored(sequences: number[][], scores: number[], tokenLogProbs: number[][]): Promise<GeneratedBatch> {
    const texts = (await this.tokenizer.decodeBatch(sequences)).map((t) => t.trim());
    const { sepId, eosId } = this.tokenizer;
    return {
      texts,
      meanLogProbs: scores.map((sc, i) => sc / Math.max(1, sequences[i]!.length)),
      entityLogProbs: sequences.map((seq, i) => {
        const lp = tokenLogProbs[i] as number[];
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

/** Generated texts with their mean token log-probabilities and per-entity log-probabilities (generateScored). */
export interface GeneratedBatch {
  texts: string[];
  meanLogProbs: number[];
  entityLogProbs: number[][];
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
  return inLengthWaves(sources, batchSize, hookFor, async (batches) =>
    (await dir.generateBatches(batches, decode)).map((r) =>
      r.texts.map((text, i) => ({ text, entityLogProbs: r.entityLogProbs[i] as number[] })),
    ),
  );
}

/**
 * Generate for any number of sources in batches of `batchSize`, sources of similar length together (less padding in
 * the encoder, and rows of a batch tend to finish together), outputs in input order. `hookFor` builds the
 * allowedTokens hook of one batch (grounding depends on the batch's sentences). Greedy decoding runs WAVE batches at
 * a time as one stream of rows (Direction.generateBatches), so a batch's last long rows decode beside the next ones.
 */
export async function generateAll(
  dir: Direction,
  sources: readonly string[],
  decode: DecodeConfig,
  batchSize: number,
  hookFor?: (batch: readonly string[]) => Promise<AllowedTokensFn | undefined>,
): Promise<string[]> {
  return inLengthWaves(sources, batchSize, hookFor, async (batches) =>
    (await dir.generateBatches(batches, decode)).map((r) => r.texts),
  );
}

/** Batches decoded as one stream of rows: enough to keep it full, few enough to bound the hooks held at once. */
const WAVE = 16;

/** `gen` over waves of WAVE length-sorted batches (inLengthBatches' batches, each with its hook), outputs in input order. */
async function inLengthWaves<R>(
  sources: readonly string[],
  batchSize: number,
  hookFor: ((batch: readonly string[]) => Promise<AllowedTokensFn | undefined>) | undefined,
  gen: (batches: { sources: string[]; allowed?: AllowedTokensFn }[]) => Promise<R[][]>,
): Promise<R[]> {
  const groups = lengthBatches(sources, batchSize);
  const out = new Array<R>(sources.length);
  for (let w = 0; w < groups.length; w += WAVE) {
    const wave = groups.slice(w, w + WAVE);
    const batches = [];
    for (const idx of wave) {
      const b = idx.map((k) => sources[k] as string);
      const allowed = hookFor ? await hookFor(b) : undefined;
      batches.push({ sources: b, ...(allowed ? { allowed } : {}) });
    }
    const res = await gen(batches);
    wave.forEach((idx, g) => idx.forEach((k, j) => (out[k] = (res[g] as R[])[j] as R)));
  }
  return out;
}

/**
 * Indices of `sources` in batches of `batchSize`, by length, then position; the batches longest first. The order
 * changes no output (each row decodes on its own) but the peak memory: the allocator reuses the blocks a long batch
 * freed for the shorter ones after it, where shortest-first needs fresh, larger blocks at every batch (predict of
 * 500 CoNLL sentences: peak RSS -13 to -16 MiB, docs/benchmarks.md).
 */
export function lengthBatches(sources: readonly string[], batchSize: number): number[][] {
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new Error(`generateAll: batchSize must be a positive integer, got ${batchSize}`);
  const order = sources
    .map((_, i) => i)
    .sort((a, b) => (sources[a] as string).length - (sources[b] as string).length || a - b);
  const groups: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) groups.push(order.slice(i, i + batchSize));
  return groups.reverse();
}

/** `gen` over batches of `batchSize` sources of similar length (as generateAll), outputs in input order. */
export async function inLengthBatches<R = string>(
  sources: readonly string[],
  batchSize: number,
  gen: (batch: readonly string[]) => Promise<readonly R[]>,
): Promise<R[]> {
  const out = new Array<R>(sources.length);
  for (const idx of lengthBatches(sources, batchSize)) {
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

/** evalLoss's batches: indices of `batchSize` pairs of similar length (source + target characters), shortest first. */
export function lossBatches(sources: readonly string[], targets: readonly string[], batchSize: number): number[][] {
  const len = (i: number) => (sources[i] as string).length + (targets[i] as string).length;
  const order = sources.map((_, i) => i).sort((a, b) => len(a) - len(b) || a - b);
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
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
  let sum = 0;
  let tokens = 0;
  for (const idx of lossBatches(sources, targets, batchSize)) {
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
