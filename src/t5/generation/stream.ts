// Continuous batching (a server's decode loop): greedy search as a service that takes inputs at any time. The inputs
// submitted while a step runs are encoded together at the next one (one encoder call, as a batcher would group them)
// and their rows join the running decode batch as soon as it has room, instead of waiting for its last row; each
// input resolves as soon as its own rows are done. The loop yields to the event loop between steps, so requests that
// arrive meanwhile are admitted at the next step. An input's output equals generate() on the rows encoded with it
// (FastDecoder.placeRows / addRows keep a row's computation its own), to the last bits that depend on how many rows
// share a step (the kernels' paths change with the row count, as with generate()'s batch size).

import * as T from '../../tensor';
import type { T5ForConditionalGeneration } from '../model';
import { generationContext, validate } from './options';
import { RowDecoder, type QueuedInput } from './sample';
import {
  padBatch,
  type AllowedTokensFn,
  type GenerateInput,
  type GenerateOptions,
  type GenerateOutput,
  type GenerationContext,
} from './types';

interface Waiter {
  q: QueuedInput;
  resolve: (o: GenerateOutput) => void;
  reject: (e: unknown) => void;
}

/** A submitted input inside a merged one: its `rows` rows start at global row `row`. */
interface Part {
  w: Waiter;
  row: number;
  rows: number;
}

export class DecodeStream {
  private readonly ctx: GenerationContext;
  private rd: RowDecoder | null = null;
  /** Submitted, not yet handed to the decoder. */
  private readonly incoming: Waiter[] = [];
  /** Handed to the decoder, not yet resolved. */
  private inFlight: Part[] = [];
  private running = false;

  /**
   * `maxRows`: rows decoded at once (inputs arriving together larger than that still run whole); `wrap` runs each
   * step (e.g. in the model's precision). Greedy search with the fast decoder only.
   */
  constructor(
    model: T5ForConditionalGeneration,
    private readonly opts: GenerateOptions,
    private readonly maxRows: number,
    private readonly wrap: <X>(f: () => X) => X = (f) => f(),
  ) {
    validate(opts);
    if (
      opts.doSample ||
      (opts.numBeams ?? 1) !== 1 ||
      (opts.decoder ?? 'fast') !== 'fast' ||
      opts.dropFinished === false
    )
      throw new Error('DecodeStream: greedy search with the fast decoder only');
    if (!(Number.isInteger(maxRows) && maxRows >= 1))
      throw new Error(`DecodeStream: maxRows must be a positive integer, got ${maxRows}`);
    this.ctx = generationContext(model, opts);
  }

  /** Decodes `q` (with its constraint) beside whatever is running; resolves with its rows' outputs. */
  submit(q: QueuedInput): Promise<GenerateOutput> {
    if (q.input.batch === 0) return Promise.resolve({ sequences: [], scores: [], tokenLogProbs: [] });
    return new Promise<GenerateOutput>((resolve, reject) => {
      this.incoming.push({ q, resolve, reject });
      if (!this.running) {
        this.running = true;
        void this.drive();
      }
    });
  }

  /** Rows in the decode batch and rows waiting, for a server's stats. */
  get load(): { rows: number; waiting: number } {
    const waiting = this.incoming.reduce((a, w) => a + w.q.input.batch, 0) + (this.rd ? this.rd.queued : 0);
    return { rows: this.rd ? this.rd.live : 0, waiting };
  }

  private async drive(): Promise<void> {
    try {
      // Inputs submitted in the same turn of the event loop (a server's requests read together) start as one batch.
      await new Promise<void>((r) => setImmediate(r));
      while (this.incoming.length > 0 || this.rd !== null) {
        this.wrap(() => T.noGrad(() => T.tidy(() => this.stepOnce())));
        // Let requests that arrived during the step be admitted at the next one.
        await new Promise<void>((r) => setImmediate(r));
      }
    } catch (e) {
      for (const w of [...this.inFlight.map((p) => p.w), ...this.incoming.splice(0)]) w.reject(e);
      this.inFlight = [];
      this.rd?.dispose();
      this.rd = null;
    } finally {
      this.running = false;
    }
  }

  private stepOnce(): void {
    this.admit();
    const rd = this.rd!;
    rd.step();
    const open: Part[] = [];
    for (const p of this.inFlight) {
      let done = true;
      for (let r = p.row; r < p.row + p.rows && done; r++) done = rd.finished(r);
      if (done) p.w.resolve(rd.rowsOutput(p.row, p.rows, true));
      else open.push(p);
    }
    this.inFlight = open;
    if (rd.live === 0 && rd.queued === 0) {
      // Idle: the next input starts a fresh decoder (and the row bookkeeping does not grow for the server's life).
      rd.dispose();
      this.rd = null;
    }
  }

  /** Hands the incoming inputs to the decoder as one (one encoder call), then lets rows join while there is room. */
  private admit(): void {
    if (this.incoming.length === 0) return;
    const hooked = this.rd ? this.rd.constrained : this.incoming[0]!.q.allowedTokens !== undefined;
    const ws: Waiter[] = [];
    for (const w of this.incoming.splice(0))
      if ((w.q.allowedTokens !== undefined) === hooked) ws.push(w);
      else w.reject(new Error('DecodeStream: every input needs an allowedTokens hook, or none does'));
    // Groups of up to maxRows rows (an input larger than that alone): each group is one encoder call.
    for (let i = 0; i < ws.length;) {
      let rows = ws[i]!.q.input.batch;
      let j = i + 1;
      while (j < ws.length && rows + ws[j]!.q.input.batch <= this.maxRows) rows += ws[j++]!.q.input.batch;
      this.enqueue(ws.slice(i, j), hooked);
      i = j;
    }
    this.rd?.join();
  }

  private enqueue(ws: readonly Waiter[], hooked: boolean): void {
    const { input, starts } = merge(
      ws.map((w) => w.q.input),
      this.ctx.pad,
    );
    const q: QueuedInput = { input, ...(hooked ? { allowedTokens: mergedHook(ws, starts) } : {}) };
    let b: number;
    if (this.rd === null) {
      this.ctx.model.eval(); // no dropout (a server's model never trains)
      this.rd = new RowDecoder(this.ctx, [q], this.opts, this.maxRows);
      b = 0;
    } else b = this.rd.append(q);
    const at = this.rd.offset(b);
    ws.forEach((w, i) => this.inFlight.push({ w, row: at + starts[i]!, rows: w.q.input.batch }));
  }
}

/** One input of the rows of several (each row's tokens, padded to the longest); `starts`: each one's first row. */
function merge(inputs: readonly GenerateInput[], pad: number): { input: GenerateInput; starts: number[] } {
  if (inputs.length === 1) return { input: inputs[0]!, starts: [0] };
  const rows: number[][] = [];
  const starts: number[] = [];
  for (const inp of inputs) {
    starts.push(rows.length);
    for (let b = 0; b < inp.batch; b++) {
      const row: number[] = [];
      for (let j = 0; j < inp.length; j++) if (inp.mask[b * inp.length + j]) row.push(inp.ids[b * inp.length + j]!);
      rows.push(row);
    }
  }
  return { input: padBatch(rows, pad), starts };
}

/** The hook of a merged input: each row asks its own input's hook, with its row index there. */
function mergedHook(ws: readonly Waiter[], starts: readonly number[]): AllowedTokensFn {
  return (i, prefix) => {
    let k = starts.length - 1;
    while (starts[k]! > i) k--;
    return ws[k]!.q.allowedTokens!(i - starts[k]!, prefix);
  };
}
