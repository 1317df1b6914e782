// Beam search with transformers' BeamSearchScorer semantics: length penalty, early stopping True/False/'never',
// n-best. The beams of an input live in consecutive batch rows; the beams of finished inputs leave the batch.

import * as T from '../../tensor';
import { Decoder, makeDecoder, worthDropping } from './decoder';
import { constraintMask, repetitionProcess } from './logits-process';
import type { GenerateInput, GenerateOptions, GenerateOutput, GenerationContext } from './types';

interface Hyp {
  score: number;
  tokens: number[];
  logProbs: number[];
}

/** The finished hypotheses of one input (transformers' BeamHypotheses). */
class BeamHypotheses {
  beams: Hyp[] = [];
  worst = 1e9;
  constructor(
    readonly numBeams: number,
    readonly lengthPenalty: number,
    readonly earlyStopping: boolean | 'never',
    readonly maxNewTokens: number,
  ) {}

  add(tokens: number[], logProbs: number[], sumLogprobs: number, generatedLen: number): void {
    const score = sumLogprobs / generatedLen ** this.lengthPenalty;
    if (this.beams.length < this.numBeams || score > this.worst) {
      this.beams.push({ score, tokens, logProbs });
      if (this.beams.length > this.numBeams) {
        const sorted = this.beams.map((b, i) => [b.score, i] as const).sort((a, b) => a[0] - b[0]);
        this.beams.splice(sorted[0][1], 1);
        this.worst = sorted[1][0];
      } else {
        this.worst = Math.min(score, this.worst);
      }
    }
  }

  /** curLen: generated length including the token being chosen this step. */
  isDone(bestSumLogprobs: number, curLen: number): boolean {
    if (this.beams.length < this.numBeams) return false;
    if (this.earlyStopping === true) return true;
    const len = this.earlyStopping === 'never' && this.lengthPenalty > 0 ? this.maxNewTokens : curLen;
    return this.worst >= bestSumLogprobs / len ** this.lengthPenalty;
  }
}

/**
 * Scores, tokens and log-probs are indexed by global row b * nb + j; the batch holds the beams of inputs actB
 * (batch row g decodes global row row(g)).
 */
interface BeamState {
  nb: number;
  hyps: BeamHypotheses[];
  done: boolean[];
  beamScores: Float32Array;
  beamTokens: number[][];
  /** Each beam's per-token log-probabilities, renormalised where processors or the constraint changed the step's scores. */
  beamLogProbs: number[][];
  /** Processors or a constraint are on: token log-probs are renormalised over what they leave. */
  renormalise: boolean;
  actB: Int32Array;
  last: Int32Array;
}

/** One step's candidates as read back from beamCandidates(). */
interface Candidates {
  vals: Float32Array;
  idxs: number[];
  picked: Float32Array;
  lse: Float32Array | null;
}

const globalRow = (s: BeamState, g: number) => s.actB[Math.floor(g / s.nb)] * s.nb + (g % s.nb);

function initialState(ctx: GenerationContext, B: number, nb: number, opts: GenerateOptions): BeamState {
  const lp = opts.lengthPenalty ?? 1;
  return {
    nb,
    hyps: Array.from({ length: B }, () => new BeamHypotheses(nb, lp, opts.earlyStopping ?? false, opts.maxNewTokens)),
    done: new Array<boolean>(B).fill(false),
    // Only the first beam of each input is live at the start (the others would duplicate it). HF uses -1e9;
    // -inf is the same whenever the vocabulary has 2*numBeams live tokens, and keeps constrained beams from duplicating.
    beamScores: new Float32Array(B * nb).map((_, i) => (i % nb === 0 ? 0 : -Infinity)),
    beamTokens: Array.from({ length: B * nb }, () => []),
    beamLogProbs: Array.from({ length: B * nb }, () => []),
    renormalise:
      opts.allowedTokens !== undefined || (opts.repetitionPenalty ?? 1) !== 1 || (opts.noRepeatNgramSize ?? 0) > 0,
    actB: Int32Array.from({ length: B }, (_, b) => b),
    last: new Int32Array(B * nb).fill(ctx.start),
  };
}

/** Decodes one step: the top 2 * nb continuations of each input over all its beams. */
function beamCandidates(ctx: GenerationContext, opts: GenerateOptions, dec: Decoder, s: BeamState): Candidates {
  const { nb, actB, beamTokens } = s;
  const V = ctx.vocab;
  const Ba = actB.length;
  const rows = Ba * nb;
  const bs = new Float32Array(rows).map((_, g) => s.beamScores[globalRow(s, g)]);
  const skip = (g: number) => s.done[actB[Math.floor(g / nb)]];
  const out = dec.step(s.last, (logits) => {
    let logp = repetitionProcess(
      ctx,
      logits.logSoftmax(-1),
      rows,
      opts,
      (g) => [ctx.start, ...beamTokens[globalRow(s, g)]],
      skip,
    );
    const mask = constraintMask(
      ctx,
      rows,
      opts.allowedTokens,
      (g) => actB[Math.floor(g / nb)],
      (g) => beamTokens[globalRow(s, g)],
      skip,
    );
    if (mask) logp = logp.add(mask);
    const total = logp.add(T.tensor(bs, [rows, 1])).view([Ba, nb * V]);
    const { values, indices } = total.topk(2 * nb, 1, true);
    // The candidates' own token log-probs (gathered, not total - beam score: exact in float32), and each row's
    // log of the mass the processors and the constraint left, to renormalise them.
    const picked = logp.view([Ba, nb * V]).gather(1, indices);
    return s.renormalise ? [values, indices, picked, logp.logsumexp(-1)] : [values, indices, picked];
  });
  const c: Candidates = {
    vals: out[0].toFloat32Array(),
    idxs: out[1].toArray(),
    picked: out[2].toFloat32Array(),
    lse: s.renormalise ? out[3].toFloat32Array() : null,
  };
  T.dispose(out);
  return c;
}

/** Next step's beam tokens / log-probs (copies of the arrays, rows replaced) and the batch row each row continues. */
interface NextBeams {
  tokens: number[][];
  logProbs: number[][];
  src: Int32Array;
}

/** Input b (batch position a): finished hypotheses from EOS candidates, the best nb others become its beams. */
function advanceInput(ctx: GenerationContext, s: BeamState, c: Candidates, nx: NextBeams, a: number, t: number): void {
  const { nb, beamTokens, beamLogProbs, beamScores, last } = s;
  const V = ctx.vocab;
  const b = s.actB[a];
  const curLen = t + 1;
  const tokenLp = (rank: number, from: number) => c.picked[a * 2 * nb + rank] - (c.lse ? c.lse[a * nb + from] : 0);
  let k = 0;
  for (let rank = 0; rank < 2 * nb && k < nb; rank++) {
    const flat = c.idxs[a * 2 * nb + rank];
    const score = c.vals[a * 2 * nb + rank];
    if (score === -Infinity) break; // banned by the constraint hook: never a hypothesis
    const tok = flat % V;
    const from = Math.floor(flat / V);
    if (tok === ctx.eos) {
      if (rank >= nb) continue; // HF: an EOS ranked below the top numBeams does not count
      s.hyps[b].add(
        [...beamTokens[b * nb + from], tok],
        [...beamLogProbs[b * nb + from], tokenLp(rank, from)],
        score,
        curLen,
      );
    } else {
      beamScores[b * nb + k] = score;
      nx.src[a * nb + k] = a * nb + from;
      nx.tokens[b * nb + k] = [...beamTokens[b * nb + from], tok];
      nx.logProbs[b * nb + k] = [...beamLogProbs[b * nb + from], tokenLp(rank, from)];
      last[a * nb + k] = tok;
      k++;
    }
  }
  if (k === 0) s.done[b] = true; // nothing left to extend
  // Constraints can leave fewer live continuations than beams: park the rest as dead beams.
  for (; k < nb; k++) {
    beamScores[b * nb + k] = -Infinity;
    nx.src[a * nb + k] = a * nb;
    nx.tokens[b * nb + k] = beamTokens[b * nb];
    nx.logProbs[b * nb + k] = beamLogProbs[b * nb];
    last[a * nb + k] = ctx.pad;
  }
  let best = -Infinity;
  for (let rank = 0; rank < 2 * nb; rank++) best = Math.max(best, c.vals[a * 2 * nb + rank]);
  s.done[b] = s.done[b] || s.hyps[b].isDone(best, curLen);
}

/** Applies the step's beam reorder to the decoder, dropping the beams of finished inputs when worth it. */
function reorder(opts: GenerateOptions, dec: Decoder, s: BeamState, src: Int32Array): void {
  const { nb, actB, done } = s;
  const rows = src.length;
  let identity = true;
  for (let g = 0; g < rows; g++) if (src[g] !== g) identity = false;
  const finishedInputs = actB.filter((b) => done[b]).length;
  if (
    worthDropping(opts, finishedInputs * nb, rows) ||
    ((opts.dropFinished ?? true) && finishedInputs > 0 && !identity)
  ) {
    // Reorder and drop in one selection: the beams of finished inputs leave the batch.
    const keepA = Int32Array.from(actB.keys()).filter((a) => !done[actB[a]]);
    const idx = new Int32Array(keepA.length * nb);
    const nextLast = new Int32Array(keepA.length * nb);
    keepA.forEach((a, i) => {
      for (let j = 0; j < nb; j++) {
        idx[i * nb + j] = src[a * nb + j];
        nextLast[i * nb + j] = s.last[a * nb + j];
      }
    });
    dec.select(idx, false);
    s.actB = keepA.map((a) => actB[a]);
    s.last = nextLast;
  } else if (!identity) {
    dec.select(src, true);
  }
}

/** The nRet best hypotheses per input; unfinished inputs' live beams compete with their finished hypotheses. */
function finalize(s: BeamState, B: number, nRet: number): GenerateOutput {
  const { nb, beamScores, beamTokens, beamLogProbs } = s;
  for (let b = 0; b < B; b++) {
    if (s.done[b]) continue;
    for (let j = 0; j < nb; j++)
      if (beamScores[b * nb + j] > -Infinity)
        s.hyps[b].add(
          beamTokens[b * nb + j],
          beamLogProbs[b * nb + j],
          beamScores[b * nb + j],
          beamTokens[b * nb + j].length,
        );
  }
  const sequences: number[][] = [];
  const scores: number[] = [];
  const tokenLogProbs: number[][] = [];
  for (let b = 0; b < B; b++) {
    const sorted = [...s.hyps[b].beams].sort((x, y) => y.score - x.score);
    for (let j = 0; j < nRet; j++) {
      // Fewer hypotheses than requested only happens when constraints ban everything: return empty ones.
      sequences.push(j < sorted.length ? sorted[j].tokens : []);
      scores.push(j < sorted.length ? sorted[j].score : -Infinity);
      tokenLogProbs.push(j < sorted.length ? sorted[j].logProbs : []);
    }
  }
  return { sequences, scores, tokenLogProbs };
}

export function beamSearch(
  ctx: GenerationContext,
  inp: GenerateInput,
  nb: number,
  opts: GenerateOptions,
): GenerateOutput {
  const nRet = opts.numReturnSequences ?? 1;
  if (nRet > nb) throw new Error(`generate: numReturnSequences ${nRet} > numBeams ${nb}`);
  const B = inp.batch;
  const s = initialState(ctx, B, nb, opts);
  const dec = makeDecoder(ctx, inp, nb, opts);
  try {
    for (let t = 0; t < opts.maxNewTokens; t++) {
      const rows = s.actB.length * nb;
      const c = beamCandidates(ctx, opts, dec, s);
      const nx: NextBeams = {
        tokens: s.beamTokens.slice(),
        logProbs: s.beamLogProbs.slice(),
        src: new Int32Array(rows),
      };
      for (let a = 0; a < s.actB.length; a++) {
        if (s.done[s.actB[a]]) {
          for (let j = 0; j < nb; j++) {
            nx.src[a * nb + j] = a * nb + j;
            s.last[a * nb + j] = ctx.pad;
          }
          continue;
        }
        advanceInput(ctx, s, c, nx, a, t);
      }
      s.beamTokens = nx.tokens;
      s.beamLogProbs = nx.logProbs;
      if (s.done.every(Boolean) || t + 1 >= opts.maxNewTokens) break;
      reorder(opts, dec, s, nx.src);
    }
  } finally {
    dec.dispose();
  }
  return finalize(s, B, nRet);
}
