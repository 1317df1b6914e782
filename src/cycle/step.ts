// One CycleNER training step (paper section 4.2, Algorithm 1), on this rank's shard of a batch:
//   S-cycle: S2E generates Q′ from S (eval mode, no grad; grounded by default), E2S learns ⟨Q′ → S⟩ (L_φ);
//   E-cycle: E2S generates S′ from Q (eval mode, no grad), S2E learns ⟨S′ → Q⟩ (L_θ).
// trainCycle runs it in its loop and bench/jobs.ts times it, so the benchmark measures the step the runs take.

import * as T from '../tensor';
import type { StepResult } from '../t5/train';
import type { CycleConfig } from './config';
import { copyCounts, nameCopy } from './copy';
import type { S2EGenerate } from './grounding';
import type { StepReport } from './run-log';
import type { Direction } from './seq2seq';
import { Rng } from '../util/rng';
import { distinct2, namesOf, noiseSentence } from './noise';

/** A training step of one direction on ⟨source → target⟩ texts (trainStep, NaN-guarded in trainCycle). */
export type Learn = (
  which: 's2e' | 'e2s',
  sources: readonly string[],
  targets: readonly string[],
) => Promise<StepResult>;

export interface CycleStepParts {
  cfg: Pick<
    CycleConfig,
    'seed' | 'selfTrainMinProb' | 'e2sDecode' | 'eCycleFilter' | 'silverMix' | 'e2sNoise' | 'e2sSamples'
  >;
  /** The cycles' S2E generator (cycleS2EGenerate: grounded unless the config says otherwise). */
  s2eGenerate: S2EGenerate;
  e2s: Direction;
  learn: Learn;
  /** Lexical silver pairs joining the E-cycle batch at a global step (silverMix > 0; the whole batch's, not a shard). */
  silverBatch?: (step: number) => readonly { sentence: string; sequence: string }[];
}

/** What a step did, as RunLog.step records it, and S′ (the E-cycle's generated sentences). */
export type CycleStepOutcome = Omit<StepReport, 'lrS2E' | 'lrE2S'> & { sPrime: string[] };

/**
 * The step at global step `step` (0-based: the number of steps done before it) on this rank's shards `S` and `Q`.
 * Data parallel (T.dist): every rank calls it with its shard of the same batch; the trainers sum the gradients, the
 * counts are summed over the ranks, so every rank takes the same step.
 */
export async function cycleStep(
  parts: CycleStepParts,
  S: readonly string[],
  Q: readonly string[],
  step: number,
): Promise<CycleStepOutcome> {
  const { cfg, learn } = parts;
  const seed = cfg.seed * 1000003 + step; // sampling (if enabled) reproducible across resume
  // S-cycle: Q′ = S2E(S), then E2S learns ⟨Q′ → S⟩.
  const qPrime = await parts.s2eGenerate(S, seed);
  const sCycle = await learn('e2s', qPrime.texts, S);
  // Self-training (beyond the paper): S2E learns its own confident Q′ (the sentences are real, so these are exact inputs).
  const sure =
    cfg.selfTrainMinProb > 0 ? indicesWhere(qPrime.meanLogProbs, (lp) => lp >= Math.log(cfg.selfTrainMinProb)) : null;
  const selfTrain =
    sure !== null && (await T.dist.anyRank(sure.length > 0))
      ? await learn('s2e', pick(S, sure), pick(qPrime.texts, sure))
      : null;
  // E-cycle: S′ = E2S(Q), then S2E learns ⟨S′ → Q⟩; with eCycleFilter 'copied' only the pairs whose S′ holds all of
  // Q's names (an emptied batch skips the S2E update).
  // e2sSamples K > 1: each Q K times in a row, so the sampled S′ of one Q differ (one draw stream over the rows).
  const eQ = cfg.e2sSamples > 1 ? Q.flatMap((q) => new Array<string>(cfg.e2sSamples).fill(q)) : Q;
  const sPrime = await parts.e2s.generate(eQ, cfg.e2sDecode, undefined, seed + 1);
  const keep = indicesWhere(eQ, (q, i) => cfg.eCycleFilter !== 'copied' || allNamesCopied(q, sPrime[i] as string));
  // Over all ranks' shards (one small all-reduce): pairs kept by the filter, Q's names and those copied into S′.
  const local = copyCounts(eQ, sPrime);
  const [kept, names, copied] = (await T.dist.sumNumbers([keep.length, local.names, local.copied])) as [
    number,
    number,
    number,
  ];
  // Real sentences throughout (silverMix): lexical silver pairs join the E-cycle batch with a decaying share.
  const silver = parts.silverBatch?.(step) ?? [];
  // Noised S′ (e2sNoise): drawn from (seed, step, rank, row), so a resume draws the same noise.
  const sources =
    cfg.e2sNoise > 0
      ? sPrime.map((s, i) =>
          noiseSentence(s, namesOf(eQ[i] as string), cfg.e2sNoise, new Rng(seed * 31 + 7919 * T.dist.rank() + i)),
        )
      : sPrime;
  const eSources = [...pick(sources, keep), ...T.dist.shard(silver.map((p) => p.sentence))];
  const eTargets = [...pick(eQ, keep), ...T.dist.shard(silver.map((p) => p.sequence))];
  const eCycle = kept + silver.length > 0 ? await learn('s2e', eSources, eTargets) : null;
  return {
    sCycle,
    eCycle,
    selfTrain,
    qPrime: qPrime.texts,
    sPrime,
    copy: { names, copied },
    sDistinct2: distinct2(sPrime),
    eKept: cfg.eCycleFilter === 'copied' ? keep.length : null,
    selfKept: sure === null ? null : sure.length,
    silver: cfg.silverMix > 0 ? silver.length : null,
  };
}

const indicesWhere = <X>(xs: readonly X[], ok: (x: X, i: number) => boolean): number[] =>
  xs.flatMap((x, i) => (ok(x, i) ? [i] : []));
const pick = (xs: readonly string[], idx: readonly number[]): string[] => idx.map((i) => xs[i] as string);
const allNamesCopied = (q: string, s: string): boolean => {
  const c = nameCopy(q, s);
  return c.copied === c.names;
};
