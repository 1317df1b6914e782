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
    return inputs.map((q) =>
      q.input.batch === 0 ? { sequences: [], scores: [], tokenLogProbs: [] } : (outs[k++] as GenerateOutput),
    );
  }
  const first = inputs[0]!.input;
  const p = sampleParams(first, opts);
  const { n } = p;
  const { offsets, total, allow } = queueRows(inputs, n);
  const dec = makeDecoder(ctx, first, n, opts);
  const s: SampleState = {
    allow,
    seqs: Array.from({ length: total }, () => []),
    tokenLogProbs: Array.from({ length: total }, () => []),
    scores: new Array<number>(total).fill(0),
    finished: new Array<boolean>(total).fill(false),
    act: Int32Array.from({ length: p.rows }, (_, i) => i),
  };
  const { seqs, tokenLogProbs, scores, finished } = s;
  const age = new Int32Array(total); // positions fed to the decoder per row (finished rows keep stepping until dropped)
  const feed = new RowFeed(dec, inputs, offsets, p.rows, total);
  let live = p.rows;
  let last = new Int32Array(p.rows).fill(ctx.start);
  // Constrained greedy search: the LM head on the allowed tokens only (GenerateOptions.sparseHead).
  const sparse =
    allow !== null &&
    inputs.every((q) => q.allowedTokens !== undefined) &&
    !opts.doSample &&
    (opts.repetitionPenalty ?? 1) === 1 &&
    (opts.noRepeatNgramSize ?? 0) === 0 &&
    (opts.sparseHead ?? dec.sparseHeadExact);
  const slot = sparse ? new Int32Array(ctx.vocab).fill(-1) : null;
  try {
    while (live > 0) {
      const act = s.act;
      const R = act.length;
      const sp = slot ? sparseStep(ctx, allow!, s, slot) : null;
      const out = sp
        ? dec.step(last, (raw) => [raw], sp.vocab)
        : dec.step(last, (raw) => processLogits(ctx, opts, p, s, raw));
      const [next, stepScores] = sp ? sparsePick(out[0].toFloat32Array(), sp) : pickTokens(opts, p, act, out);
      T.dispose(out);
      let done = 0;
      let spent = false; // a row at maxNewTokens positions: it must leave before the next step
      for (let i = 0; i < R; i++) {
        const r = act[i];
        age[r]++;
        if (age[r] >= opts.maxNewTokens) spent = true;
        if (finished[r]) {
          last[i] = ctx.pad;
          done++;
          continue;
        }
        seqs[r].push(next[i]);
        tokenLogProbs[r].push(stepScores[i]);
        scores[r] += stepScores[i];
        last[i] = next[i];
        // EOS, or maxNewTokens tokens: the row is done (its sequence stays without EOS, as when the loop ran out).
        if (next[i] === ctx.eos || seqs[r].length >= opts.maxNewTokens) {
          finished[r] = true;
          live--;
          done++;
        }
      }
      // Finished rows give their places to the next inputs' rows while there are any; then they leave the batch.
      if (done > 0 && feed.remaining > 0) {
        const free = Int32Array.from(act.keys()).filter((i) => finished[act[i]]);
        for (const [i, r] of feed.place(free)) {
          act[i] = r;
          last[i] = ctx.start;
          live++;
          done--;
        }
        spent = act.some((r) => age[r] >= opts.maxNewTokens);
      }
      if (live > 0 && (spent || worthDropping(opts, done, R))) {
        const keep = Int32Array.from(act.keys()).filter((i) => !finished[act[i]]);
        dec.select(keep, false);
        s.act = keep.map((i) => act[i]);
        last = keep.map((i) => last[i]);
      }
    }
  } finally {
    feed.dispose();
    dec.dispose();
  }
  return inputs.map((q, b) => {
    const lo = offsets[b]!;
    const hi = lo + q.input.batch * n;
    return { sequences: seqs.slice(lo, hi), scores: scores.slice(lo, hi), tokenLogProbs: tokenLogProbs.slice(lo, hi) };
  });
}

/** Global row r is input b's row r - offsets[b] (its source floor((r - offsets[b]) / n)); `allow`: each row's constraint. */
function queueRows(
  inputs: readonly QueuedInput[],
  n: number,
): { offsets: number[]; total: number; allow: AllowFn | null } {
  const offsets: number[] = [];
  let total = 0;
  for (const q of inputs) {
    offsets.push(total);
    total += q.input.batch * n;
  }
  const inputOf = (r: number) => {
    let b = 0;
    while (b + 1 < offsets.length && offsets[b + 1]! <= r) b++;
    return b;
  };
  const allow: AllowFn | null = inputs.some((q) => q.allowedTokens !== undefined)
    ? (r, prefix) => {
        const b = inputOf(r);
        const h = inputs[b]!.allowedTokens;
        return h ? h(Math.floor((r - offsets[b]!) / n), prefix) : null;
      }
    : null;
  return { offsets, total, allow };
}

/** The queue's rows not yet in the decoder, added in order: each input encoded when its first row is needed. */
class RowFeed {
  private b = 0;
  private encoded: EncodedRows | null = null;
  private nextRow: number;
  constructor(
    private readonly dec: Decoder,
    private readonly inputs: readonly QueuedInput[],
    private readonly offsets: readonly number[],
    first: number,
    private readonly total: number,
  ) {
    this.nextRow = first;
  }

  get remaining(): number {
    return this.total - this.nextRow;
  }

  /** Puts the next rows in the places `free` (as many as remain); returns [place, global row] of each. */
  place(free: Int32Array): [number, number][] {
    const placed: [number, number][] = [];
    while (placed.length < free.length && this.remaining > 0) {
      while (this.offsets[this.b + 1] !== undefined && this.offsets[this.b + 1]! <= this.nextRow) {
        this.release();
        this.b++;
      }
      const inp = this.inputs[this.b]!.input;
      this.encoded ??= this.dec.encodeRows!(inp, 1);
      const lo = this.nextRow - this.offsets[this.b]!;
      const take = Math.min(free.length - placed.length, inp.batch - lo);
      const slots = free.subarray(placed.length, placed.length + take);
      this.dec.placeRows!(
        slots,
        this.encoded,
        Int32Array.from({ length: take }, (_, j) => lo + j),
      );
      slots.forEach((slot, j) => placed.push([slot, this.nextRow + j]));
      this.nextRow += take;
      if (lo + take === inp.batch) {
        this.release();
        this.b++;
      }
    }
    return placed;
  }

  private release(): void {
    if (this.encoded) disposeEncoded(this.encoded);
    this.encoded = null;
  }

  dispose(): void {
    this.release();
  }
}
