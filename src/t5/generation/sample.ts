// Greedy search and multinomial sampling (transformers' `_sample`): one token per row and step; finished rows
// pad until every row is done, and leave the decoded batch once enough of them are.

import * as T from '../../tensor';
import type { Tensor } from '../../tensor';
import { makeDecoder, worthDropping, type Decoder } from './decoder';
import { disposeEncoded, type EncodedRows } from './fast-decoder';
import { constraintMask, repetitionProcess } from './logits-process';
import { mulberry32, sampleRow, warpLogits } from './logits-warp';
import type { AllowedTokensFn, GenerateInput, GenerateOptions, GenerateOutput, GenerationContext } from './types';

interface SampleParams {
  /** Return sequences per input (rows of input b: b * n .. b * n + n - 1). */
  n: number;
  rows: number;
  temperature: number;
  topK: number;
  topP: number;
  rand: () => number;
}

/**
 * Rows' state: sequences so far, batch row i decoding row act[i] (ascending, as sampling draws in row order, unless
 * greedy search puts the next inputs' rows in finished rows' places). `allow`: the allowedTokens constraint of a row,
 * by its global index.
 */
interface SampleState {
  allow: AllowFn | null;
  seqs: number[][];
  tokenLogProbs: number[][];
  scores: number[];
  finished: boolean[];
  act: Int32Array;
}

/** A row's allowed next tokens (null: any), by its global index among all inputs' rows. */
type AllowFn = (row: number, prefix: Int32Array) => Int32Array | null;

function sampleParams(inp: GenerateInput, opts: GenerateOptions): SampleParams {
  const n = opts.numReturnSequences ?? 1;
  if (!opts.doSample && n !== 1)
    throw new Error('generate: greedy decoding returns one sequence per input; use numBeams or doSample for more');
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`generate: temperature must be > 0, got ${temperature}`);
  const rand = mulberry32(opts.seed ?? 0);
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${topP}`);
  return { n, rows: inp.batch * n, temperature, topK, topP, rand };
}

/** Argmax of the (masked) logits and its log-probability (logit - logsumexp): no [rows, V] log-softmax. */
function greedyPick(masked: Tensor): Tensor[] {
  const best = masked.argmax(-1, true);
  return [best, masked.gather(1, best).sub(masked.logsumexp(-1, true))];
}

/** The step's tensors from the logits: greedy [argmax, its log-prob]; sampling the warped candidates. */
function processLogits(
  ctx: GenerationContext,
  opts: GenerateOptions,
  p: SampleParams,
  s: SampleState,
  raw: Tensor,
): Tensor[] {
  const { seqs, finished, act } = s;
  const R = act.length;
  const logits = repetitionProcess(
    ctx,
    raw,
    R,
    opts,
    (i) => [ctx.start, ...seqs[act[i]]],
    (i) => finished[act[i]],
  );
  const mask = constraintMask(
    ctx,
    R,
    s.allow ?? undefined,
    (i) => act[i],
    (i) => seqs[act[i]],
    (i) => finished[act[i]],
  );
  const masked = mask ? logits.add(mask) : logits;
  if (!opts.doSample) return greedyPick(masked);
  return warpLogits(masked, p.temperature, p.topK, p.topP, ctx.vocab);
}

/** A constrained greedy step on the LM head's `vocab` rows only; `cols[i]`: row i's allowed columns (ascending), null = any. */
interface SparseStep {
  vocab: Int32Array;
  cols: (Int32Array | null)[];
}

/**
 * The union of the tokens the live rows may emit (ascending) and each row's allowed columns of it, or null when some
 * live row is unconstrained (then the step uses the whole head). Finished rows are unconstrained, as in
 * constraintMask (their token is ignored). `slot`: [V], all -1, left so.
 */
function sparseStep(ctx: GenerationContext, allow: AllowFn, s: SampleState, slot: Int32Array): SparseStep | null {
  const { act, seqs, finished } = s;
  const R = act.length;
  const lists: (Int32Array | null)[] = new Array<Int32Array | null>(R).fill(null);
  const used: number[] = [];
  try {
    for (let i = 0; i < R; i++) {
      const r = act[i];
      if (finished[r]) continue;
      let a = allow(r, Int32Array.from(seqs[r]));
      if (a === null) return null;
      if (a.length === 0) a = Int32Array.of(ctx.eos);
      for (const t of a) {
        if (t < 0 || t >= ctx.vocab)
          throw new Error(`allowedTokens: token ${t} outside the vocabulary [0, ${ctx.vocab})`);
        if (slot[t] < 0) {
          slot[t] = 0;
          used.push(t);
        }
      }
      lists[i] = a;
    }
    used.sort((x, y) => x - y);
    used.forEach((t, j) => (slot[t] = j));
    const cols = lists.map((a) => (a === null ? null : Int32Array.from(new Set(a), (t) => slot[t]).sort()));
    return { vocab: Int32Array.from(used), cols };
  } finally {
    for (const t of used) slot[t] = -1;
  }
}

/**
 * Each row's argmax over its allowed columns of `logits` [rows, U] (ties: the lowest token id, as argmax over the
 * masked vocabulary) and its log-probability among them, from that row's logits alone in token order (float64, then
 * float32): the score of a sentence does not depend on which others share its batch (sharded predict equals one
 * process) nor on the union U.
 */
function sparsePick(logits: Float32Array, sp: SparseStep): [number[], number[]] {
  const U = sp.vocab.length;
  const next: number[] = [];
  const lps: number[] = [];
  sp.cols.forEach((c, i) => {
    const row = logits.subarray(i * U, (i + 1) * U);
    if (c === null) {
      next.push(sp.vocab[0]);
      lps.push(0); // a finished row: ignored
      return;
    }
    let best = c[0];
    for (const j of c) if (row[j] > row[best]) best = j;
    let sum = 0;
    for (const j of c) sum += Math.exp(row[j] - row[best]);
    next.push(sp.vocab[best]);
    lps.push(Math.fround(-Math.log(sum)));
  });
  return [next, lps];
}

/** Each batch row's next token and its log-prob, from processLogits()'s tensors. */
function pickTokens(opts: GenerateOptions, p: SampleParams, act: Int32Array, out: Tensor[]): [number[], number[]] {
  if (!opts.doSample) return [out[0].toArray(), out[1].toArray()];
  const R = act.length;
  const vals = out[0].toFloat32Array();
  const idx = out.length > 1 ? out[1].toArray() : null;
  const width = vals.length / R;
  const next: number[] = [];
  const stepScores: number[] = [];
  // One draw per row of the full batch in row order, dropped rows included, so dropping leaves the draws unchanged.
  for (let r = 0, i = 0; r < p.rows; r++) {
    if (i >= R || act[i] !== r) {
      p.rand();
      continue;
    }
    const [j, lp] = sampleRow(vals.subarray(i * width, (i + 1) * width), idx !== null, p.topP, p.rand);
    next.push(idx ? idx[i * width + j] : j);
    stepScores.push(lp);
    i++;
  }
  return [next, stepScores];
}

/** One input of decodeQueue: its sources and their constraint. */
export interface QueuedInput {
  input: GenerateInput;
  allowedTokens?: AllowedTokensFn;
}

/** Whether decodeQueue decodes several inputs as one stream of rows (else one after another). */
export function refills(inputs: readonly QueuedInput[], opts: GenerateOptions): boolean {
  return (
    inputs.length > 1 &&
    !opts.doSample &&
    (opts.decoder ?? 'fast') === 'fast' &&
    (opts.dropFinished ?? true) &&
    (opts.numReturnSequences ?? 1) === 1
  );
}

/**
 * Greedy search or sampling over the rows of `inputs`, one output per input. Greedy search with the fast decoder
 * keeps the decoded batch full: as rows finish, rows of the next inputs take their places (each input encoded as a
 * batch of its own, as generate() would; a row decodes as it would there, FastDecoder.placeRows). Otherwise each input
 * is decoded on its own, in order.
 */
export function decodeQueue(
  ctx: GenerationContext,
  inputs: readonly QueuedInput[],
  opts: GenerateOptions,
): GenerateOutput[] {
  if (inputs.length > 1 && !refills(inputs, opts))
    return inputs.flatMap((q) => decodeQueue(ctx, [q], { ...opts, allowedTokens: q.allowedTokens }));
  if (inputs.length > 1 && inputs.some((q) => q.input.batch === 0)) {
    // An input without rows has nothing to decode (and no row whose place others could take).
    const rows = inputs.filter((q) => q.input.batch > 0);
    const outs = rows.length > 0 ? decodeQueue(ctx, rows, opts) : [];
    let k = 0;
    return inputs.map((q) => (q.input.batch === 0 ? emptyOutput() : (outs[k++] as GenerateOutput)));
  }
  const rd = new RowDecoder(ctx, inputs, opts, 0);
  try {
    while (rd.live > 0) rd.step();
    return inputs.map((_, b) => rd.output(b));
  } finally {
    rd.dispose();
  }
}

const emptyOutput = (): GenerateOutput => ({ sequences: [], scores: [], tokenLogProbs: [] });

/**
 * The decode loop of decodeQueue, one step at a time, over a queue that may grow while it runs (append(), for
 * DecodeStream). Rows are numbered globally in queue order (input b's rows from offsets[b]); the batch starts with the
 * first input's rows, finished rows give their places to queued rows, and with `grow` > 0 queued rows also join while
 * the batch holds fewer than `grow` rows.
 */
export class RowDecoder {
  private readonly inputs: QueuedInput[] = [];
  private readonly offsets: number[] = [];
  /** Unfinished rows per input. */
  private readonly pending: number[] = [];
  private readonly p: SampleParams;
  private readonly dec: Decoder;
  private readonly feed: RowFeed;
  private readonly slot: Int32Array | null;
  private readonly s: SampleState;
  /** Positions fed to the decoder per row (finished rows keep stepping until dropped). */
  private readonly age: number[] = [];
  private last: Int32Array;
  /** Rows in the batch that are not finished. */
  live: number;

  constructor(
    private readonly ctx: GenerationContext,
    inputs: readonly QueuedInput[],
    private readonly opts: GenerateOptions,
    private readonly grow = 0,
  ) {
    const first = inputs[0]!.input;
    this.p = sampleParams(first, opts);
    const hooked = inputs.some((q) => q.allowedTokens !== undefined);
    this.s = {
      allow: hooked ? rowConstraint(this.inputs, this.offsets, this.p.n) : null,
      seqs: [],
      tokenLogProbs: [],
      scores: [],
      finished: [],
      act: Int32Array.from({ length: this.p.rows }, (_, i) => i),
    };
    for (const q of inputs) this.enqueue(q);
    this.dec = makeDecoder(ctx, first, this.p.n, opts, grow);
    this.feed = new RowFeed(this.dec, this.inputs, this.offsets, this.p.rows, () => this.s.seqs.length);
    this.live = this.p.rows;
    this.last = new Int32Array(this.p.rows).fill(ctx.start);
    // Constrained greedy search: the LM head on the allowed tokens only (GenerateOptions.sparseHead).
    const sparse =
      hooked &&
      inputs.every((q) => q.allowedTokens !== undefined) &&
      !opts.doSample &&
      (opts.repetitionPenalty ?? 1) === 1 &&
      (opts.noRepeatNgramSize ?? 0) === 0 &&
      (opts.sparseHead ?? this.dec.sparseHeadExact);
    this.slot = sparse ? new Int32Array(ctx.vocab).fill(-1) : null;
  }

  private enqueue(q: QueuedInput): number {
    const b = this.inputs.length;
    const rows = q.input.batch * this.p.n;
    this.inputs.push(q);
    this.offsets.push(this.s.seqs.length);
    this.pending.push(rows);
    for (let i = 0; i < rows; i++) {
      this.s.seqs.push([]);
      this.s.tokenLogProbs.push([]);
      this.s.scores.push(0);
      this.s.finished.push(false);
      this.age.push(0);
    }
    return b;
  }

  /**
   * Queues one more input (greedy search, grow > 0): its rows join as places free up. Its constraint must match the
   * first input's (a hook or none), since the head's sparse path is chosen for the run. Returns its index.
   */
  append(q: QueuedInput): number {
    if (this.grow <= 0) throw new Error('RowDecoder.append: this decoder was not built to grow');
    if ((q.allowedTokens !== undefined) !== (this.s.allow !== null))
      throw new Error('RowDecoder.append: every input needs an allowedTokens hook, or none does');
    return this.enqueue(q);
  }

  /** Whether the inputs carry allowedTokens hooks (all of them do, or none). */
  get constrained(): boolean {
    return this.s.allow !== null;
  }

  /** Queued rows not yet in the batch. */
  get queued(): number {
    return this.s.seqs.length - this.feed.next;
  }

  /** Whether every row of input b is finished. */
  done(b: number): boolean {
    return this.pending[b] === 0;
  }

  /** Input b's output (once done). */
  output(b: number): GenerateOutput {
    return this.rowsOutput(this.offsets[b]!, this.inputs[b]!.input.batch * this.p.n, false);
  }

  /** Whether global row r is finished. */
  finished(r: number): boolean {
    return this.s.finished[r] === true;
  }

  /** Input b's first global row. */
  offset(b: number): number {
    return this.offsets[b]!;
  }

  /** The output of `count` global rows from `lo` (finished ones); `release` drops their tokens (a long-lived stream). */
  rowsOutput(lo: number, count: number, release: boolean): GenerateOutput {
    const { seqs, scores, tokenLogProbs } = this.s;
    const hi = lo + count;
    const out = {
      sequences: seqs.slice(lo, hi),
      scores: scores.slice(lo, hi),
      tokenLogProbs: tokenLogProbs.slice(lo, hi),
    };
    if (release)
      for (let r = lo; r < hi; r++) {
        seqs[r] = [];
        tokenLogProbs[r] = [];
      }
    return out;
  }

  /** One decoder step of the rows in the batch; returns the inputs it finished. */
  step(): number[] {
    const { ctx, opts, p, s, age } = this;
    const { seqs, tokenLogProbs, scores, finished } = s;
    const act = s.act;
    const R = act.length;
    const sp = this.slot ? sparseStep(ctx, s.allow!, s, this.slot) : null;
    const out = sp
      ? this.dec.step(this.last, (raw) => [raw], sp.vocab)
      : this.dec.step(this.last, (raw) => processLogits(ctx, opts, p, s, raw));
    const [next, stepScores] = sp ? sparsePick(out[0].toFloat32Array(), sp) : pickTokens(opts, p, act, out);
    T.dispose(out);
    const completed: number[] = [];
    let done = 0;
    let spent = false; // a row at maxNewTokens positions: it must leave before the next step
    for (let i = 0; i < R; i++) {
      const r = act[i];
      age[r]++;
      if (age[r] >= opts.maxNewTokens) spent = true;
      if (finished[r]) {
        this.last[i] = ctx.pad;
        done++;
        continue;
      }
      seqs[r].push(next[i]);
      tokenLogProbs[r].push(stepScores[i]);
      scores[r] += stepScores[i];
      this.last[i] = next[i];
      // EOS, or maxNewTokens tokens: the row is done (its sequence stays without EOS, as when the loop ran out).
      if (next[i] === ctx.eos || seqs[r].length >= opts.maxNewTokens) {
        finished[r] = true;
        this.live--;
        done++;
        const b = this.inputOf(r);
        if (--this.pending[b]! === 0) completed.push(b);
      }
    }
    // Finished rows give their places to the next inputs' rows while there are any; then they leave the batch.
    if (done > 0 && this.queued > 0) {
      const free = Int32Array.from(act.keys()).filter((i) => finished[act[i]]);
      for (const [i, r] of this.feed.place(free)) {
        act[i] = r;
        this.last[i] = ctx.start;
        this.live++;
        done--;
      }
      spent = act.some((r) => age[r] >= opts.maxNewTokens);
    }
    if (this.live > 0 && (spent || (this.grow > 0 ? done * 2 >= R : worthDropping(opts, done, R)))) {
      const keep = Int32Array.from(act.keys()).filter((i) => !finished[act[i]]);
      this.dec.select(keep, false);
      s.act = keep.map((i) => act[i]);
      this.last = keep.map((i) => this.last[i]);
    }
    this.join();
    return completed;
  }

  /** Appends queued rows while the batch holds fewer than `grow` rows (a stream's inputs that arrived meanwhile). */
  join(): void {
    const room = this.grow - this.s.act.length;
    if (room <= 0 || this.queued === 0) return;
    const added = this.feed.append(room);
    if (added.length === 0) return;
    const act = new Int32Array(this.s.act.length + added.length);
    act.set(this.s.act);
    act.set(added, this.s.act.length);
    const last = new Int32Array(act.length).fill(this.ctx.start);
    last.set(this.last);
    this.s.act = act;
    this.last = last;
    this.live += added.length;
  }

  private inputOf(r: number): number {
    return inputAt(this.offsets, r);
  }

  dispose(): void {
    this.feed.dispose();
    this.dec.dispose();
  }
}

/** The input of global row r: the last b with offsets[b] <= r (binary search; offsets ascend). */
function inputAt(offsets: readonly number[], r: number): number {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid]! <= r) lo = mid;
    else hi = mid - 1;
  }
  // Inputs without rows share their offset with the next one: the row belongs to the last of them.
  return lo;
}

/** Each row's constraint: its input's hook, on the row's source (floor((r - offsets[b]) / n)). */
function rowConstraint(inputs: readonly QueuedInput[], offsets: readonly number[], n: number): AllowFn {
  return (r, prefix) => {
    const b = inputAt(offsets, r);
    const h = inputs[b]!.allowedTokens;
    return h ? h(Math.floor((r - offsets[b]!) / n), prefix) : null;
  };
}

/** The queue's rows not yet in the decoder, added in order: each input encoded when its first row is needed. */
class RowFeed {
  private b = 0;
  private encoded: EncodedRows | null = null;
  /** The next global row to add. */
  next: number;
  constructor(
    private readonly dec: Decoder,
    private readonly inputs: readonly QueuedInput[],
    private readonly offsets: readonly number[],
    first: number,
    /** Rows of the queue so far (it may grow). */
    private readonly total: () => number,
  ) {
    this.next = first;
  }

  /** Puts the next rows in the places `free` (as many as remain); returns [place, global row] of each. */
  place(free: Int32Array): [number, number][] {
    const placed: [number, number][] = [];
    this.take(free.length, (rows, src, idx) => {
      const slots = free.subarray(placed.length, placed.length + idx.length);
      this.dec.placeRows!(slots, src, idx);
      slots.forEach((slot, j) => placed.push([slot, rows + j]));
    });
    return placed;
  }

  /** Appends up to `room` next rows at the end of the batch; returns their global rows. */
  append(room: number): number[] {
    const added: number[] = [];
    this.take(room, (rows, src, idx) => {
      this.dec.addRows!(src, idx);
      idx.forEach((_, j) => added.push(rows + j));
    });
    return added;
  }

  /** Up to `want` next rows, input by input: put(first global row, encoded input, its row indices). */
  private take(want: number, put: (rows: number, src: EncodedRows, idx: Int32Array) => void): void {
    let got = 0;
    while (got < want && this.next < this.total()) {
      while (this.offsets[this.b + 1] !== undefined && this.offsets[this.b + 1]! <= this.next) {
        this.release();
        this.b++;
      }
      const inp = this.inputs[this.b]!.input;
      this.encoded ??= this.dec.encodeRows!(inp, 1);
      const lo = this.next - this.offsets[this.b]!;
      const n = Math.min(want - got, inp.batch - lo);
      put(
        this.next,
        this.encoded,
        Int32Array.from({ length: n }, (_, j) => lo + j),
      );
      got += n;
      this.next += n;
      if (lo + n === inp.batch) {
        this.release();
        this.b++;
      }
    }
  }

  private release(): void {
    if (this.encoded) disposeEncoded(this.encoded);
    this.encoded = null;
  }

  dispose(): void {
    this.release();
  }
}
