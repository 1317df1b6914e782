// Greedy search and multinomial sampling (transformers' `_sample`): one token per row and step; finished rows
// pad until every row is done, and leave the decoded batch once enough of them are.

import * as T from '../../tensor';
import type { Tensor } from '../../tensor';
import { makeDecoder, worthDropping } from './decoder';
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

/** Rows' state: sequences so far, batch row i decoding row act[i] (ascending: rows are only ever dropped). */
interface SampleState {
  seqs: number[][];
  tokenLogProbs: number[][];
  scores: number[];
  finished: boolean[];
  act: Int32Array;
}

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
    opts.allowedTokens,
    (i) => Math.floor(act[i] / p.n),
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
function sparseStep(
  ctx: GenerationContext,
  hook: AllowedTokensFn,
  p: SampleParams,
  s: SampleState,
  slot: Int32Array,
): SparseStep | null {
  const { act, seqs, finished } = s;
  const R = act.length;
  const lists: (Int32Array | null)[] = new Array<Int32Array | null>(R).fill(null);
  const used: number[] = [];
  try {
    for (let i = 0; i < R; i++) {
      const r = act[i];
      if (finished[r]) continue;
      let a = hook(Math.floor(r / p.n), Int32Array.from(seqs[r]));
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

export function greedyOrSample(ctx: GenerationContext, inp: GenerateInput, opts: GenerateOptions): GenerateOutput {
  const p = sampleParams(inp, opts);
  const { rows } = p;
  const dec = makeDecoder(ctx, inp, p.n, opts);
  const s: SampleState = {
    seqs: Array.from({ length: rows }, () => []),
    tokenLogProbs: Array.from({ length: rows }, () => []),
    scores: new Array<number>(rows).fill(0),
    finished: new Array<boolean>(rows).fill(false),
    act: Int32Array.from({ length: rows }, (_, i) => i),
  };
  const { seqs, tokenLogProbs, scores, finished } = s;
  let live = rows;
  let last = new Int32Array(rows).fill(ctx.start);
  // Constrained greedy search: the LM head on the allowed tokens only (GenerateOptions.sparseHead).
  const hook = opts.allowedTokens;
  const sparse =
    hook !== undefined &&
    !opts.doSample &&
    (opts.repetitionPenalty ?? 1) === 1 &&
    (opts.noRepeatNgramSize ?? 0) === 0 &&
    (opts.sparseHead ?? dec.sparseHeadExact);
  const slot = sparse ? new Int32Array(ctx.vocab).fill(-1) : null;
  try {
    for (let t = 0; t < opts.maxNewTokens && live > 0; t++) {
      const act = s.act;
      const R = act.length;
      const sp = slot ? sparseStep(ctx, hook!, p, s, slot) : null;
      const out = sp
        ? dec.step(last, (raw) => [raw], sp.vocab)
        : dec.step(last, (raw) => processLogits(ctx, opts, p, s, raw));
      const [next, stepScores] = sp ? sparsePick(out[0].toFloat32Array(), sp) : pickTokens(opts, p, act, out);
      T.dispose(out);
      let done = 0;
      for (let i = 0; i < R; i++) {
        const r = act[i];
        if (finished[r]) {
          last[i] = ctx.pad;
          done++;
          continue;
        }
        seqs[r].push(next[i]);
        tokenLogProbs[r].push(stepScores[i]);
        scores[r] += stepScores[i];
        last[i] = next[i];
        if (next[i] === ctx.eos) {
          finished[r] = true;
          live--;
          done++;
        }
      }
      if (live > 0 && t + 1 < opts.maxNewTokens && worthDropping(opts, done, R)) {
        const keep = Int32Array.from(act.keys()).filter((i) => !finished[act[i]]);
        dec.select(keep, false);
        s.act = keep.map((i) => act[i]);
        last = keep.map((i) => last[i]);
      }
    }
  } finally {
    dec.dispose();
  }
  return { sequences: seqs, scores, tokenLogProbs };
}
