// The whole CycleNER pipeline on a world cyclener makes itself: template sentences filled from typed gazetteers,
// S and Q drawn independently (Q covers only some of the names), a tiny T5 pair from random initialisation,
// an unsupervised fragment warm-up on S alone, then grounded cycle training. Used by `cyclener demo` and by the
// synthetic-world integration test, so the demo shows exactly what the test checks; its options (plain cycles, no
// warm-up, dev evaluations) reproduce the other rows of the synthetic-world measurements in docs/cycle.md.
import { Gazetteer, scoreLexicalMatcher } from '../baselines/lexical-matcher';
import { parseEntitySequence } from '../data/entity-seq';
import type { LabeledSentence } from '../data/types';
import { compareSequences } from '../eval/compare';
import { evaluate } from '../eval/metrics';
import { presetConfig } from '../t5/config';
import { T5ForConditionalGeneration } from '../t5/model';
import type { Precision } from '../t5/precision';
import { makeConfig } from '../cycle/config';
import { alignAll, predictSequences, verbalizerForTypes } from '../cycle/predict';
import { Direction } from '../cycle/seq2seq';
import {
  buildSyntheticWorld,
  SYN_TYPES,
  syntheticTokenizer,
  type SyntheticOptions,
  type SyntheticWorld,
} from './synthetic';
import { trainCycle, type CycleResult } from '../cycle/trainer';
import { fragmentWarmup } from '../cycle/warmup';

/** Settings measured on this world (docs/cycle.md): the test asserts the gains they give. */
// fp32, unlike the library default: at d_model 64 bf16 autocast gains no time (11.9 vs 11.4 s for the whole demo) and
// its rounding costs these tiny models F1 (0.384 vs 0.419 after the cycles, measured).
// 150 cycle steps: the run is chaotic in the BLAS's rounding (OpenBLAS's AVX-512 kernels reach 0.419 at 100 steps and
// 0.364 at 150, its AVX2 kernels 0.329 and 0.394; the Lexical Matcher 0.329), and at 150 both beat the matcher.
export const DEMO_SETTINGS = {
  warmupSteps: 300,
  cycleSteps: 150,
  batch: 16,
  dModel: 64,
  lr: 1e-3,
  maxNewTokens: 24,
  precision: 'fp32' as Precision,
  /** Grounded decoding inside the cycles and for the scores (off: the paper's plain cycles). */
  grounded: true,
  /** Dev F1 / losses on the evaluation sentences every N cycle steps (0 = none), reported in `evals`. */
  evalEvery: 0,
};

export const DEMO_WORLD: SyntheticOptions = {
  seed: 7,
  nS: 300,
  nQ: 200,
  nEval: 150,
  namesPerType: 20,
  qCoverage: 0.2,
  ambiguous: 4,
};

export interface DemoResult {
  world: SyntheticWorld;
  /** `warmup` is null without warm-up steps; `cycleOtherDecoding` scores the final model with the other decoding. */
  f1: { random: number; warmup: number | null; cycle: number; cycleOtherDecoding: number; lexicalMatcher: number };
  /** The cycle run's evaluations (with `evalEvery` > 0). */
  evals: CycleResult['evals'];
  /** Evaluation sentences with the final model's entities, for display. */
  tagged: { sentence: LabeledSentence; predicted: LabeledSentence['entities'] }[];
  seconds: { warmup: number; cycle: number };
}

export async function runSyntheticDemo(
  runDir: string,
  log: (line: string) => void = () => {},
  over: Partial<typeof DEMO_SETTINGS> = {},
  worldOptions: SyntheticOptions = DEMO_WORLD,
): Promise<DemoResult> {
  const P = { ...DEMO_SETTINGS, ...over };
  const world = buildSyntheticWorld(worldOptions);
  const tok = syntheticTokenizer(world);
  const types = Object.values(SYN_TYPES).sort();
  const v = verbalizerForTypes(types, SYN_TYPES);
  const lexG = new Gazetteer(world.Q.map((q) => parseEntitySequence(q).entities));
  const lexicalMatcher = scoreLexicalMatcher(lexG, world.evalSet, v).report.exact.micro.f1;
  const mk = (seed: number) =>
    new T5ForConditionalGeneration(
      presetConfig('tiny', {
        vocabSize: tok.vocabSize,
        dModel: P.dModel,
        dKv: P.dModel / 4,
        dFf: 2 * P.dModel,
        numHeads: 4,
        dropoutRate: 0,
        relativeAttentionNumBuckets: 16,
        relativeAttentionMaxDistance: 32,
      }),
      { seed },
    );
  const s2e = mk(1);
  const e2s = mk(2);
  const dir = new Direction(s2e, tok, 'entities: ', { maxSourceTokens: 64, maxTargetTokens: 64 }, P.precision);
  const texts = world.evalSet.sentences.map((s) => s.text);
  const predict = (grounded = P.grounded) =>
    predictSequences(dir, texts, { grounded, types, batchSize: 75, decode: { maxNewTokens: P.maxNewTokens } });
  const score = (seqs: string[]) =>
    evaluate(compareSequences(world.evalSet, 'synthetic', seqs, v).sentences).exact.micro.f1;
  const kind = P.grounded ? 'grounded' : 'plain';
  try {
    const random = score(await predict());
    log(`random initialisation: F1 ${random.toFixed(3)}`);
    let t = Date.now();
    let warmup: number | null = null;
    let warmupSec = 0;
    if (P.warmupSteps > 0) {
      await fragmentWarmup(s2e, e2s, tok, world.S, {
        steps: P.warmupSteps,
        batchSize: P.batch,
        lr: P.lr,
        seed: 3,
        s2ePrefix: 'entities: ',
        e2sPrefix: 'sentence: ',
        precision: P.precision,
      });
      warmupSec = (Date.now() - t) / 1000;
      warmup = score(await predict());
      log(`fragment warm-up on S alone (${P.warmupSteps} steps, ${warmupSec.toFixed(0)} s): F1 ${warmup.toFixed(3)}`);
    }
    const cfg = makeConfig({
      batchSize: P.batch,
      epochs: 100,
      maxSteps: P.cycleSteps,
      lrS2E: P.lr,
      lrE2S: P.lr,
      grounded: P.grounded,
      groundedEval: P.grounded,
      evalEvery: P.evalEvery,
      s2eDecode: { maxNewTokens: P.maxNewTokens },
      e2sDecode: { maxNewTokens: P.maxNewTokens },
      evalDecode: { maxNewTokens: P.maxNewTokens },
      logEvery: 1000,
      types,
      verbalizer: SYN_TYPES,
      precision: P.precision,
    });
    // Dev evaluations score the evaluation sentences (this world has no separate dev split) and take dev losses on S/Q.
    const dev =
      P.evalEvery > 0 ? { devGold: world.evalSet, devS: world.S.slice(0, 64), devQ: world.Q.slice(0, 64) } : {};
    t = Date.now();
    const run = await trainCycle({ s2e, e2s, tokenizer: tok }, { S: world.S, Q: world.Q, ...dev }, cfg, runDir);
    const cycleSec = (Date.now() - t) / 1000;
    for (const e of run.evals)
      log(`  step ${e.step}: dev F1 ${e.devF1?.toFixed(3) ?? '-'}, dev L_θ ${e.devELoss?.toFixed(3) ?? '-'}`);
    const seqs = await predict();
    const cycle = score(seqs);
    log(`${kind} cycle training (${P.cycleSteps} steps, ${cycleSec.toFixed(0)} s): F1 ${cycle.toFixed(3)}`);
    const cycleOtherDecoding = score(await predict(!P.grounded));
    const aligned = alignAll(world.evalSet.sentences, seqs, v);
    const tagged = world.evalSet.sentences.map((sentence, i) => ({ sentence, predicted: aligned[i]!.entities }));
    return {
      world,
      f1: { random, warmup, cycle, cycleOtherDecoding, lexicalMatcher },
      evals: run.evals,
      tagged,
      seconds: { warmup: warmupSec, cycle: cycleSec },
    };
  } finally {
    s2e.dispose();
    e2s.dispose();
  }
}

/** `[surface|type]` marks in the sentence text. */
export function markEntities(
  text: string,
  entities: readonly { charStart: number; charEnd: number; label: string }[],
  word: (label: string) => string,
): string {
  let out = '';
  let at = 0;
  for (const e of [...entities].sort((a, b) => a.charStart - b.charStart)) {
    out += `${text.slice(at, e.charStart)}[${text.slice(e.charStart, e.charEnd)}|${word(e.label)}]`;
    at = e.charEnd;
  }
  return out + text.slice(at);
}
