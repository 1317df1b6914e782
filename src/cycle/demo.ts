// The whole CycleNER pipeline on a world cyclener makes itself: template sentences filled from typed gazetteers,
// S and Q drawn independently (Q covers only some of the names), a tiny T5 pair from random initialisation,
// an unsupervised fragment warm-up on S alone, then grounded cycle training. Used by `cyclener demo` and by the
// synthetic-world integration test, so the demo shows exactly what the test checks.
import { Gazetteer, predictEntities } from '../baselines/lexical-matcher';
import { parseEntitySequence } from '../data/entity-seq';
import type { LabeledSentence } from '../data/types';
import { charMentions, compareSequences } from '../eval/compare';
import { evaluate } from '../eval/metrics';
import { presetConfig } from '../t5/config';
import { T5ForConditionalGeneration } from '../t5/model';
import type { Precision } from '../t5/precision';
import { makeConfig } from './config';
import { alignAll, predictSequences, verbalizerForTypes } from './predict';
import { Direction } from './seq2seq';
import { buildSyntheticWorld, SYN_TYPES, syntheticTokenizer, type SyntheticWorld } from './synthetic';
import { trainCycle } from './trainer';
import { fragmentWarmup } from './warmup';

/** Settings measured on this world (docs/cycle.md): the test asserts the gains they give. */
// fp32, unlike the library default: at d_model 64 bf16 autocast gains no time (11.9 vs 11.4 s for the whole demo) and
// its rounding costs these tiny models F1 (0.384 vs 0.419 after the cycles, measured).
export const DEMO_SETTINGS = { warmupSteps: 300, cycleSteps: 100, batch: 16, dModel: 64, lr: 1e-3, maxNewTokens: 24, precision: 'fp32' as Precision };

export interface DemoResult {
  world: SyntheticWorld;
  f1: { random: number; warmup: number; cycle: number; lexicalMatcher: number };
  /** Evaluation sentences with the final model's entities, for display. */
  tagged: { sentence: LabeledSentence; predicted: LabeledSentence['entities'] }[];
  seconds: { warmup: number; cycle: number };
}

export async function runSyntheticDemo(runDir: string, log: (line: string) => void = () => {}, over: Partial<typeof DEMO_SETTINGS> = {}): Promise<DemoResult> {
  const P = { ...DEMO_SETTINGS, ...over };
  const world = buildSyntheticWorld({ seed: 7, nS: 300, nQ: 200, nEval: 150, namesPerType: 20, qCoverage: 0.2, ambiguous: 4 });
  const tok = syntheticTokenizer(world);
  const types = Object.values(SYN_TYPES).sort();
  const v = verbalizerForTypes(types, SYN_TYPES);
  const lexG = new Gazetteer(world.Q.map((q) => parseEntitySequence(q).entities));
  const lexicalMatcher = evaluate(world.evalSet.sentences.map((s) => ({ gold: charMentions(s), pred: charMentions({ ...s, entities: predictEntities(lexG, s, (t) => v.label(t)) }) }))).exact.micro.f1;
  const mk = (seed: number) => new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize, dModel: P.dModel, dKv: P.dModel / 4, dFf: 2 * P.dModel, numHeads: 4, dropoutRate: 0, relativeAttentionNumBuckets: 16, relativeAttentionMaxDistance: 32 }), { seed });
  const s2e = mk(1);
  const e2s = mk(2);
  const dir = new Direction(s2e, tok, 'entities: ', { maxSourceTokens: 64, maxTargetTokens: 64 }, P.precision);
  const texts = world.evalSet.sentences.map((s) => s.text);
  const predict = () => predictSequences(dir, texts, { grounded: true, types, batchSize: 75, decode: { maxNewTokens: P.maxNewTokens } });
  const f1 = async () => evaluate(compareSequences(world.evalSet, 'synthetic', await predict(), v).sentences).exact.micro.f1;
  try {
    const random = await f1();
    log(`random initialisation: F1 ${random.toFixed(3)}`);
    let t = Date.now();
    await fragmentWarmup(s2e, e2s, tok, world.S, { steps: P.warmupSteps, batchSize: P.batch, lr: P.lr, seed: 3, s2ePrefix: 'entities: ', e2sPrefix: 'sentence: ', precision: P.precision });
    const warmupSec = (Date.now() - t) / 1000;
    const warmup = await f1();
    log(`fragment warm-up on S alone (${P.warmupSteps} steps, ${warmupSec.toFixed(0)} s): F1 ${warmup.toFixed(3)}`);
    const cfg = makeConfig({ batchSize: P.batch, epochs: 100, maxSteps: P.cycleSteps, lrS2E: P.lr, lrE2S: P.lr, s2eDecode: { maxNewTokens: P.maxNewTokens }, e2sDecode: { maxNewTokens: P.maxNewTokens }, evalDecode: { maxNewTokens: P.maxNewTokens }, logEvery: 1000, types, verbalizer: SYN_TYPES, precision: P.precision });
    t = Date.now();
    await trainCycle({ s2e, e2s, tokenizer: tok }, { S: world.S, Q: world.Q }, cfg, runDir);
    const cycleSec = (Date.now() - t) / 1000;
    const seqs = await predict();
    const cycle = evaluate(compareSequences(world.evalSet, 'synthetic', seqs, v).sentences).exact.micro.f1;
    log(`grounded cycle training (${P.cycleSteps} steps, ${cycleSec.toFixed(0)} s): F1 ${cycle.toFixed(3)}`);
    const aligned = alignAll(world.evalSet.sentences, seqs, v);
    const tagged = world.evalSet.sentences.map((sentence, i) => ({ sentence, predicted: aligned[i]!.entities }));
    return { world, f1: { random, warmup, cycle, lexicalMatcher }, tagged, seconds: { warmup: warmupSec, cycle: cycleSec } };
  } finally {
    s2e.dispose();
    e2s.dispose();
  }
}

/** `[surface|type]` marks in the sentence text. */
export function markEntities(text: string, entities: readonly { charStart: number; charEnd: number; label: string }[], word: (label: string) => string): string {
  let out = '';
  let at = 0;
  for (const e of [...entities].sort((a, b) => a.charStart - b.charStart)) {
    out += `${text.slice(at, e.charStart)}[${text.slice(e.charStart, e.charEnd)}|${word(e.label)}]`;
    at = e.charEnd;
  }
  return out + text.slice(at);
}
