// The evaluation the trainer calls at every evaluation point: the dev S-cycle and E-cycle losses (the paper's selection
// criterion is the latter), E2S's copy rate on dev, a few sample triplets, dev F1 (with dev gold) and test P/R/F1 (with
// test gold, reported only). It reads the models and writes nothing: what to do with the result is the selection's.

import * as T from '../tensor';
import type { LabeledCorpus } from '../data/readers';
import { compareSequences } from '../eval/compare';
import { evaluate } from '../eval/metrics';
import type { Seq2SeqTrainer } from '../t5/train';
import type { CycleEvalMetrics } from '../run/metrics';
import type { CycleConfig } from './config';
import { copyCounts, copyRate } from './copy';
import type { S2EGenerate } from './grounding';
import { predictSequences, verbalizerForTypes } from './predict';
import { collapseStats, type CollapseStats } from './selection';
import { nameHeldScores, type NameHoldout } from './name-holdout';
import { evalLoss, generateAll, inLengthBatches, type Direction } from './seq2seq';
import { gazetteerOf, meanEntities, outputStats, silverScores, silverSSample } from './silver';

/** What an evaluation measures: the fields of the `eval` records of metrics.jsonl (the run kit's schema). */
export type EvalResult = CycleEvalMetrics;

/** Sample triplets (s, q′, s″) and (q, s′, q″): present when dev data and cfg.samples > 0. */
export interface Samples {
  sCycle?: { s: string; qPrime: string; sRecon: string }[];
  eCycle?: { q: string; sPrime: string; qRecon: string }[];
}

export interface Evaluation {
  result: EvalResult;
  samples: Samples;
  /** Statistics of S2E's dev outputs Q′ (collapse detection); null without dev sentences. */
  devOutputs: CollapseStats | null;
}

export interface EvalContext {
  s2e: Direction;
  e2s: Direction;
  /** The trainers' evaluate() gives the losses (no gradients, no dropout). */
  trS2E: Seq2SeqTrainer;
  trE2S: Seq2SeqTrainer;
  s2eGenerate: S2EGenerate;
  types: readonly string[];
  /** Q: the training entity sequences (the silver criterion's gazetteer). */
  data: {
    S?: string[];
    /** Sentences of S held out of training (--silver-holdout). */
    heldOutS?: string[];
    /** Names held out of training with their sentences (--name-holdout). */
    names?: NameHoldout | null;
    Q?: string[];
    devS?: string[];
    devQ?: string[];
    devGold?: LabeledCorpus;
    testGold?: LabeledCorpus;
  };
  cfg: Pick<CycleConfig, 'evalBatchSize' | 'e2sDecode' | 'samples' | 'groundedEval' | 'evalDecode' | 'verbalizer'>;
}

export { SILVER_S_SAMPLE } from './silver';

/** S2E as a user runs it (inference decoding), split over the ranks of a process group: every rank gets all outputs. */
export function inferencePredict(
  s2e: Direction,
  types: readonly string[],
  cfg: Pick<CycleConfig, 'groundedEval' | 'evalBatchSize' | 'evalDecode'>,
): (sentences: readonly string[]) => Promise<string[]> {
  return (sentences) =>
    T.dist.mapSharded(sentences, (part) =>
      predictSequences(s2e, part, {
        grounded: cfg.groundedEval,
        types,
        batchSize: cfg.evalBatchSize,
        decode: cfg.evalDecode,
      }),
    );
}

/** The evaluation callback of a cycle run. */
export function cycleEvaluator(ctx: EvalContext): () => Promise<Evaluation> {
  const { s2e, e2s, data, cfg } = ctx;
  const eb = cfg.evalBatchSize;
  // S2E as a user runs it (inference decoding), split over the ranks of a process group.
  const predict = inferencePredict(s2e, ctx.types, cfg);
  const gazetteer = data.Q ? gazetteerOf(data.Q) : null;
  const sSample = data.S ? silverSSample(data.S) : [];
  const qDensity = data.Q ? meanEntities(data.Q) : null;
  const f1 = async (gold: LabeledCorpus) => {
    const seqs = await predict(gold.sentences.map((s) => s.text));
    return evaluate(
      compareSequences(gold, gold.file, seqs, verbalizerForTypes(ctx.types, cfg.verbalizer ?? undefined)).sentences,
    );
  };
  return async () => {
    const result: EvalResult = { devSLoss: null, devELoss: null, devF1: null, devBagF1: null };
    const samples: Samples = {};
    let devOutputs: CollapseStats | null = null;
    const { devS, devQ } = data;
    if (devS && devQ) {
      // Dev S-cycle: L_φ of E2S on ⟨Q′ → S⟩; dev E-cycle: L_θ of S2E on ⟨S′ → Q⟩.
      // Generation and losses are split over the ranks of a process group (every rank gets the same numbers).
      const qPrime = await T.dist.mapSharded(devS, (part) =>
        inLengthBatches(part, eb, async (b) => (await ctx.s2eGenerate(b)).texts),
      );
      result.devSLoss = (await evalLoss(e2s, ctx.trE2S, qPrime, devS, eb)).loss;
      // Greedy even when the E-cycle samples S′ (--e2s-sample): the selection criterion must not be a random draw.
      const devDecode = { ...cfg.e2sDecode, doSample: false };
      const sPrime = await T.dist.mapSharded(devQ, (part) => generateAll(e2s, part, devDecode, eb));
      result.devELoss = (await evalLoss(s2e, ctx.trS2E, sPrime, devQ, eb)).loss;
      result.devCopyRate = copyRate(copyCounts(devQ, sPrime));
      const k = Math.min(cfg.samples, devS.length, devQ.length);
      if (k > 0) {
        const sBack = await e2s.generate(qPrime.slice(0, k), devDecode);
        const qBack = (await ctx.s2eGenerate(sPrime.slice(0, k))).texts;
        samples.sCycle = Array.from({ length: k }, (_, i) => ({
          s: devS[i] as string,
          qPrime: qPrime[i] as string,
          sRecon: sBack[i] as string,
        }));
        samples.eCycle = Array.from({ length: k }, (_, i) => ({
          q: devQ[i] as string,
          sPrime: sPrime[i] as string,
          qRecon: qBack[i] as string,
        }));
      }
      devOutputs = collapseStats(qPrime);
      if (gazetteer) {
        const devPred = await predict(devS);
        const silver = silverScores(gazetteer, devS, devPred);
        Object.assign(result, { devSilverP: silver.p, devSilverR: silver.r, devSilverF1: silver.f1 });
        // S2E on real sentences, no labels: its density against Q's, its empties, its names beyond Q, its confidence.
        const st = outputStats(gazetteer, devPred);
        const self = await evalLoss(s2e, ctx.trS2E, devS, devPred, eb);
        Object.assign(result, {
          devEntities: st.entities,
          qEntities: qDensity,
          devEmpty: st.empty,
          devNovel: st.novel,
          devSelfLoss: self.loss,
        });
        if (sSample.length > 0) {
          const onS = silverScores(gazetteer, sSample, await predict(sSample));
          Object.assign(result, { sSilverP: onS.p, sSilverR: onS.r, sSilverF1: onS.f1 });
        }
      }
    }
    const held = data.heldOutS ?? [];
    if (gazetteer && held.length > 0) {
      const onH = silverScores(gazetteer, held, await predict(held));
      Object.assign(result, { heldSilverP: onH.p, heldSilverR: onH.r, heldSilverF1: onH.f1 });
    }
    if (data.names) {
      const n = nameHeldScores(data.names, data.names.heldS, await predict(data.names.heldS));
      Object.assign(result, { nameHeldP: n.p, nameHeldR: n.r, nameHeldF1: n.f1, nameHeldRecall: n.heldR });
    }
    if (data.devGold) {
      const rep = await f1(data.devGold);
      result.devF1 = rep.exact.micro.f1;
      // For diagnosing the criteria (which of P and R moves); labels, so never selected on.
      Object.assign(result, { devP: rep.exact.micro.precision, devR: rep.exact.micro.recall });
      result.devBagF1 = rep.bag.micro.f1;
    }
    if (data.testGold) {
      const m = (await f1(data.testGold)).exact.micro;
      Object.assign(result, { testP: m.precision, testR: m.recall, testF1: m.f1 });
    }
    return { result, samples, devOutputs };
  };
}
