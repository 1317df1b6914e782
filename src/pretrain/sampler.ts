// Training batches from a streamed corpus. The stream is read in chunks of `chunkDocs` training documents; within a
// chunk, examples are drawn as in the GPU script (random document, random sentence, objective by mixture weight; a
// packed span window runs on from there through the chunk's later sentences and documents) until as many draws as
// the chunk has sentences, then the next chunk is read (wrapping to a new epoch at the end).
// The position {epoch, chunk start line/doc, draws in chunk} plus the Rng words is the whole data state, so a resumed
// run re-reads the same chunk and continues with exactly the same batches.

import { Rng, type RngState } from '../util/rng';
import type { T5Tokenizer } from '../t5/tokenizer';
import { describeProblems, newStats, readDocuments, type CorpusDoc, type CorpusStats } from './corpus';
import {
  draftExample,
  finishExamples,
  newSpanStats,
  type BatchLimits,
  type BuiltExample,
  type Doc,
  type Draft,
  type Mixture,
  type SpanStats,
} from './objectives';

export interface DataOptions extends BatchLimits {
  files: string[];
  mixture: Mixture;
  /** every holdoutEvery-th document (docIndex % holdoutEvery === 0) is held out for validation */
  holdoutEvery: number;
  chunkDocs: number;
  maxLineBytes?: number;
}

export interface DataPosition {
  epoch: number;
  chunkLine: number;
  chunkDoc: number;
  drawn: number;
}

export interface DataState {
  position: DataPosition;
  rng: RngState;
}

export class TrainStream {
  readonly stats: CorpusStats = newStats();
  /** span examples built by this stream (this sitting) */
  readonly spanStats: SpanStats = newSpanStats();
  private rng: Rng;
  private pos: DataPosition;
  private docs: Doc[] = [];
  private budget = 0;
  private iter: AsyncGenerator<CorpusDoc> | null = null;
  private nextLine = 0;
  private nextDoc = 0;
  private readonly weights: number[];

  constructor(
    readonly opts: DataOptions,
    private readonly tok: T5Tokenizer,
    seed: number,
    state?: DataState,
  ) {
    this.rng = state ? Rng.fromState(state.rng) : new Rng(seed).fork('pretrain-data');
    this.pos = state ? { ...state.position } : { epoch: 0, chunkLine: 0, chunkDoc: 0, drawn: 0 };
    this.weights = opts.mixture.map(([, w]) => w);
  }

  /** Snapshot to store in a checkpoint (valid between batches). */
  state(): DataState {
    return { position: { ...this.pos }, rng: this.rng.getState() };
  }

  get epoch(): number {
    return this.pos.epoch;
  }

  private open(line: number, doc: number): void {
    void this.iter?.return(undefined);
    this.iter = readDocuments(this.opts.files, {
      startLine: line,
      startDoc: doc,
      stats: this.stats,
      maxLineBytes: this.opts.maxLineBytes,
    });
  }

  /** Read the chunk that starts at pos.chunkLine (opening the stream there on first use / after a resume). */
  private async loadChunk(): Promise<void> {
    if (!this.iter) this.open(this.pos.chunkLine, this.pos.chunkDoc);
    let wrapped = false;
    const docs: Doc[] = [];
    while (docs.length < this.opts.chunkDocs) {
      const r = await this.iter!.next();
      if (r.done) {
        if (docs.length > 0) break; // a short last chunk
        if (wrapped)
          throw new Error(
            `corpus ${this.opts.files.join(',')}: no training documents (every document is held out or empty)`,
          );
        wrapped = true;
        this.pos = { epoch: this.pos.epoch + 1, chunkLine: 0, chunkDoc: 0, drawn: 0 };
        this.open(0, 0);
        continue;
      }
      if (docs.length === 0) {
        this.pos.chunkLine = r.value.lineNo;
        this.pos.chunkDoc = r.value.docIndex;
      }
      this.nextLine = r.value.lineNo + 1;
      this.nextDoc = r.value.docIndex + 1;
      if (r.value.docIndex % this.opts.holdoutEvery !== 0) docs.push(r.value.sentences);
    }
    this.docs = docs;
    this.budget = docs.reduce((a, d) => a + d.length, 0);
  }

  /** `size` draws (invalid or over-long examples are dropped, as in the GPU script), tokenized. */
  async batch(size: number): Promise<BuiltExample[]> {
    const drafts: Draft[] = [];
    for (let i = 0; i < size; i++) {
      if (this.docs.length === 0) await this.loadChunk();
      const d = draftExample(this.opts.mixture[this.rng.weighted(this.weights)]![0], this.docs, this.rng, this.opts);
      if (d) drafts.push(d);
      if (++this.pos.drawn >= this.budget) {
        // Next chunk starts right after this one; read lazily so the saved position is the chunk start.
        this.pos = { epoch: this.pos.epoch, chunkLine: this.nextLine, chunkDoc: this.nextDoc, drawn: 0 };
        this.docs = [];
      }
    }
    return finishExamples(drafts, this.tok, this.rng, this.opts, this.spanStats);
  }

  warning(): string | null {
    return describeProblems(this.stats);
  }

  close(): void {
    void this.iter?.return(undefined);
    this.iter = null;
  }
}

/** Held-out documents from the start of the corpus (docIndex % holdoutEvery === 0), at most maxDocs. */
export async function readHeldOut(opts: DataOptions, maxDocs: number, maxLines = 2_000_000): Promise<Doc[]> {
  const out: Doc[] = [];
  const it = readDocuments(opts.files, { maxLineBytes: opts.maxLineBytes });
  try {
    for await (const d of it) {
      if (d.docIndex % opts.holdoutEvery === 0) out.push(d.sentences);
      if (out.length >= maxDocs || d.lineNo >= maxLines) break;
    }
  } finally {
    await it.return(undefined);
  }
  return out;
}

/** Fixed validation batches per objective (own seeded Rng, as the GPU script's Random(1234)). */
export async function validationBatches(
  docs: Doc[],
  opts: DataOptions,
  tok: T5Tokenizer,
  batches: number,
  size: number,
  stats?: SpanStats,
): Promise<Map<string, BuiltExample[][]>> {
  const out = new Map<string, BuiltExample[][]>();
  if (docs.length === 0) return out;
  for (const [name] of opts.mixture) {
    const rng = new Rng(1234);
    const list: BuiltExample[][] = [];
    for (let b = 0; b < batches; b++) {
      const drafts: Draft[] = [];
      for (let i = 0; i < size; i++) {
        const d = draftExample(name, docs, rng, opts);
        if (d) drafts.push(d);
      }
      const ex = await finishExamples(drafts, tok, rng, opts, stats);
      if (ex.length > 0) list.push(ex);
    }
    if (list.length > 0) out.set(name, list);
  }
  return out;
}
