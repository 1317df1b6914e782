// `NerModel`: an S2E model loaded once, tagging texts of any length with entity offsets into the caller's strings.

import * as T from '../tensor';
import { tokenizeText } from '../data/detok';
import type { Verbalizer } from '../data/verbalizer';
import { DEFAULT_PRECISION, type Precision } from '../t5/precision';
import { modelSource, type ModelSource } from '../hub';
import {
  decodeDefaults,
  DEFAULT_S2E_PREFIX,
  loadForInference,
  readMeta,
  resolveS2EDir,
  scoreDefaults,
  scoreSettings,
  type ScoreSettings,
  type Loaded,
} from '../cycle/model-io';
import {
  alignPieces,
  predictDetailed,
  predictPieces,
  verbalizerForTypes,
  type PiecedPrediction,
  type Predictions,
} from '../cycle/predict';
import { Direction } from '../cycle/seq2seq';
import { modelDir } from './model-ref';
import {
  checkThreshold,
  nerEntities,
  OUTPUT_FORMATS,
  shape,
  type OffsetUnit,
  type OutputFormat,
  type Shaped,
} from './formats';

export type { NerEntity, HfEntity, SpacyDoc, OutputFormat, Shaped } from './formats';

export interface LoadOptions {
  /** Intra-op threads of the engine (default: CYCLENER_THREADS or the physical cores); process-wide. */
  threads?: number;
  /** Grounded decoding (default: as the model records it in cyclener.json, else true): entities are spans of the input with the model's type words. */
  grounded?: boolean;
  /** Longest generated entity sequence of one piece, in tokens (default: as the model records it, else 128). */
  maxNewTokens?: number;
  /** Beam width (default: as the model records it, else 1, greedy). */
  numBeams?: number;
  /** bf16 autocast (default) or fp32. */
  precision?: Precision;
  /** The model's input limit in tokens; longer texts are split (default 192, the training limit). */
  maxSourceTokens?: number;
  /** Tokens shared by consecutive windows of an over-long sentence (default 32). */
  overlapTokens?: number;
  /** Entities scored below it are dropped (default: the model's recorded `score.threshold`, else 0: none). */
  threshold?: number;
  /** Scores are exp(log-probability / temperature) (default: the model's recorded `score.temperature`, else 1). */
  temperature?: number;
  /** Download progress of a Hub id. */
  log?: (line: string) => void;
}

export interface NerPredictOptions<F extends OutputFormat = OutputFormat> {
  /** Pieces per generation batch (default 32). */
  batchSize?: number;
  /** Unit of start/end: utf16 (JavaScript string indices, the default) or codepoints (Python str indices, spaCy). */
  offsets?: OffsetUnit;
  /** Entities scored below it are dropped (default: the model's, `info.score.threshold`). */
  threshold?: number;
  /** Shape of each text's result (default 'cyclener': NerEntity[]); see src/api/formats.ts. */
  format?: F;
}

export interface ModelInfo {
  /** The S2E model directory loaded. */
  dir: string;
  /** Where it came from (a Hub repo and commit for a Hub id) and the model it was fine-tuned from, when recorded. */
  source: ModelSource;
  baseModel: ModelSource | null;
  /** Type words the model emits, and dataset label -> type word when known. */
  types: string[];
  labels: Record<string, string>;
  prefix: string;
  decode: { grounded: boolean; maxNewTokens: number; numBeams: number; precision: Precision };
  /** The scores' temperature and the default threshold (load options, else the model's record, else 1 and 0), and
   *  the recorded calibration map (dropped when a temperature is given). */
  score: ScoreSettings;
  maxSourceTokens: number;
  overlapTokens: number;
}

/** Counts since load: texts tagged, pieces generated for them, and pieces cut to the input limit (always 0). */
export interface NerStats {
  texts: number;
  pieces: number;
  truncated: number;
}

export class NerModel {
  readonly stats: NerStats = { texts: 0, pieces: 0, truncated: 0 };
  private loaded: Loaded | null;
  private readonly s2e: Direction;
  private readonly verbalizer: Verbalizer;
  /** One prediction at a time (unless continuous batching): concurrent calls queue here instead of interleaving. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    loaded: Loaded,
    readonly info: ModelInfo,
  ) {
    this.loaded = loaded;
    this.s2e = new Direction(
      loaded.model,
      loaded.tokenizer,
      info.prefix,
      { maxSourceTokens: info.maxSourceTokens, maxTargetTokens: 512 },
      info.decode.precision,
    );
    this.verbalizer = verbalizerForTypes(info.types, loaded.meta?.verbalizer);
  }

  /** Load a model directory (a model, a run's best/, or a run) or a Hub id. */
  static async load(ref: string, o: LoadOptions = {}): Promise<NerModel> {
    if (o.threads !== undefined) {
      if (!(Number.isInteger(o.threads) && o.threads >= 1))
        throw new Error(`NerModel.load: threads must be a positive integer, got ${o.threads}`);
      T.setNumThreads(o.threads);
    }
    const dir = resolveS2EDir(await modelDir(ref, o.log));
    // Decoding as the model records it (the settings its dev F1 was measured with), as `predict` does; options override.
    const recorded = decodeDefaults(dir, readMeta(dir));
    const grounded = o.grounded ?? recorded.grounded;
    const maxSourceTokens = o.maxSourceTokens ?? 192;
    const overlapTokens = o.overlapTokens ?? 32;
    if (!(maxSourceTokens >= 8))
      throw new Error(`NerModel.load: maxSourceTokens must be at least 8, got ${maxSourceTokens}`);
    if (!(overlapTokens >= 0 && overlapTokens < maxSourceTokens / 2))
      throw new Error(`NerModel.load: overlapTokens must be in [0, maxSourceTokens/2), got ${overlapTokens}`);
    if (o.threshold !== undefined) checkThreshold(o.threshold, 'NerModel.load');
    if (o.temperature !== undefined && !(o.temperature > 0))
      throw new Error(`NerModel.load: temperature must be > 0, got ${o.temperature}`);
    const loaded = loadForInference(dir, o.precision ?? DEFAULT_PRECISION);
    const types = loaded.meta?.types ?? [];
    const score = scoreDefaults(loaded.meta);
    if (grounded && types.length === 0) {
      loaded.model.dispose();
      throw new Error(`${dir}: no type words recorded (cyclener.json); load with {grounded: false}`);
    }
    return new NerModel(loaded, {
      dir,
      source: modelSource(dir),
      baseModel: loaded.meta?.baseModel ?? null,
      types,
      labels: { ...(loaded.meta?.verbalizer ?? {}) },
      prefix: loaded.meta?.prefix ?? DEFAULT_S2E_PREFIX,
      decode: {
        grounded,
        maxNewTokens: o.maxNewTokens ?? recorded.maxNewTokens,
        numBeams: o.numBeams ?? recorded.numBeams ?? 1,
        precision: o.precision ?? DEFAULT_PRECISION,
      },
      score: scoreSettings(score, o),
      maxSourceTokens,
      overlapTokens,
    });
  }

  /**
   * Entities of each text, in input order, scored at or above the threshold, in `format` (default: NerEntity[] per
   * text). Texts longer than the input limit are split, never truncated.
   */
  predict<F extends OutputFormat = 'cyclener'>(
    texts: readonly string[],
    o: NerPredictOptions<F> = {},
  ): Promise<Shaped<F>[]> {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string'))
      return Promise.reject(new TypeError('NerModel.predict: texts must be an array of strings'));
    try {
      if (o.threshold !== undefined) checkThreshold(o.threshold, 'NerModel.predict');
      if (o.format !== undefined && !OUTPUT_FORMATS.includes(o.format))
        throw new TypeError(
          `NerModel.predict: format must be one of ${OUTPUT_FORMATS.join(', ')}, got ${String(o.format)}`,
        );
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (this.s2e.continuousRows > 0) return this.predictNow(texts, o);
    const run = this.tail.then(() => this.predictNow(texts, o));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Continuous batching (a server's mode): with `rows` > 0, concurrent predict() calls run at once and their greedy
   * decoding shares one batch of up to `rows` rows, which admits a call's sentences as others' finish instead of
   * waiting for them (Direction.continuousRows). 0 (the default): one call at a time. A sentence's scores may then
   * differ in the last bits with the rows beside it, as they do with the batch size.
   */
  setContinuousBatching(rows: number): void {
    if (!(Number.isInteger(rows) && rows >= 0))
      throw new Error(`NerModel.setContinuousBatching: rows must be a non-negative integer, got ${rows}`);
    this.s2e.continuousRows = rows;
  }

  /** Entities of each text of a (possibly endless) stream, yielded in order, `batchSize` texts at a time. */
  async *predictStream<F extends OutputFormat = 'cyclener'>(
    texts: AsyncIterable<string> | Iterable<string>,
    o: NerPredictOptions<F> = {},
  ): AsyncGenerator<Shaped<F>> {
    const size = o.batchSize ?? 32;
    let batch: string[] = [];
    for await (const t of texts) {
      batch.push(t);
      if (batch.length >= size) {
        yield* await this.predict(batch, o);
        batch = [];
      }
    }
    if (batch.length > 0) yield* await this.predict(batch, o);
  }

  /** Free the model's memory; the object is unusable afterwards. */
  dispose(): void {
    this.loaded?.model.dispose();
    this.loaded = null;
  }

  /**
   * Raw entity sequences of sentences that are already model-sized (no splitting; longer ones are cut and counted in
   * `stats.truncated`): what evaluation compares with gold sentences.
   */
  async sequences(sentences: readonly string[], batchSize = 32): Promise<Predictions> {
    this.live();
    const before = this.s2e.truncated;
    const p = await predictDetailed(this.s2e, sentences, {
      grounded: this.info.decode.grounded,
      types: this.info.types,
      batchSize,
      decode: this.decode(),
      temperature: this.info.score.temperature,
      map: this.info.score.map,
    });
    this.stats.truncated += this.s2e.truncated - before;
    return p;
  }

  /** The verbaliser that maps the model's type words to dataset labels. */
  labelMap(): Verbalizer {
    return this.verbalizer;
  }

  private live(): void {
    if (!this.loaded) throw new Error('NerModel: used after dispose()');
  }

  private decode() {
    return { maxNewTokens: this.info.decode.maxNewTokens, numBeams: this.info.decode.numBeams };
  }

  private async predictNow<F extends OutputFormat>(
    texts: readonly string[],
    o: NerPredictOptions<F>,
  ): Promise<Shaped<F>[]> {
    this.live();
    const batchSize = o.batchSize ?? 32;
    if (!(Number.isInteger(batchSize) && batchSize >= 1))
      throw new Error(`NerModel.predict: batchSize must be a positive integer, got ${batchSize}`);
    const before = this.s2e.truncated;
    const pp = await predictPieces(this.s2e, texts, {
      grounded: this.info.decode.grounded,
      types: this.info.types,
      batchSize,
      decode: this.decode(),
      temperature: this.info.score.temperature,
      map: this.info.score.map,
      maxTokens: this.info.maxSourceTokens,
      overlapTokens: this.info.overlapTokens,
    });
    this.stats.truncated += this.s2e.truncated - before;
    this.stats.texts += texts.length;
    this.stats.pieces += pp.reduce((n, p) => n + p.pieces.length, 0);
    const threshold = o.threshold ?? this.info.score.threshold;
    return texts.map((text, i) => {
      const a = alignPieces(
        { text, offsets: tokenizeText(text) },
        pp[i] as PiecedPrediction,
        this.verbalizer,
        threshold,
      );
      return shape(text, nerEntities(text, a.entities), (o.format ?? 'cyclener') as F, o.offsets);
    });
  }
}
