// Experiment (not a test): cycle training on the synthetic world from a tiny random T5, with and
// without grounded decoding, against the Lexical Matcher. Usage:
//   node dist/src/cycle/experiments/synthetic.js [--steps N] [--no-ground] [--d 64] [--lr 1e-3]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../../tensor';
import { Gazetteer, predictEntities } from '../../baselines/lexical-matcher';
import { parseEntitySequence } from '../../data/entity-seq';
import { charMentions } from '../../eval/compare';
import { compareSequences } from '../../eval/compare';
import { evaluate } from '../../eval/metrics';
import { presetConfig } from '../../t5/config';
import { T5ForConditionalGeneration } from '../../t5/model';
import { makeConfig } from '../config';
import { predictSequences, verbalizerForTypes } from '../predict';
import { Direction } from '../seq2seq';
import { buildSyntheticWorld, SYN_TYPES, syntheticTokenizer } from '../synthetic';
import { trainCycle } from '../trainer';
import { fragmentWarmup } from '../warmup';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

async function main(): Promise<void> {
  const grounded = !process.argv.includes('--no-ground');
  const steps = arg('steps', 200);
  const d = arg('d', 64);
  const lr = arg('lr', 1e-3);
  const bs = arg('bs', 16);
  const evalEvery = arg('eval-every', 50);
  const world = buildSyntheticWorld({ seed: arg('seed', 7), nS: arg('ns', 600), nQ: arg('nq', 300), nEval: arg('neval', 200), namesPerType: arg('names', 40), qCoverage: arg('cov', 0.6), ambiguous: arg('amb', 6) });
  const tok = syntheticTokenizer(world);
  const lexG = new Gazetteer(world.Q.map((q) => parseEntitySequence(q).entities));
  const v = verbalizerForTypes(Object.values(SYN_TYPES), SYN_TYPES);
  const lex = evaluate(world.evalSet.sentences.map((s) => ({ gold: charMentions(s), pred: charMentions({ ...s, entities: predictEntities(lexG, s, (t) => v.label(t)) }) })));
  console.log(`lexical matcher: errors ${JSON.stringify(lex.errors)} exact F1 ${lex.exact.micro.f1.toFixed(3)} bag F1 ${lex.bag.micro.f1.toFixed(3)}`);
  const mk = (seed: number) => new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: tok.vocabSize, dModel: d, dKv: d / 4, dFf: 2 * d, numLayers: 2, numDecoderLayers: 2, numHeads: 4, dropoutRate: 0, relativeAttentionNumBuckets: 16, relativeAttentionMaxDistance: 32 }), { seed });
  const s2e = mk(1);
  const e2s = mk(2);
  const warm = arg('warmup', 0);
  if (warm > 0) {
    const tw = Date.now();
    const w = await fragmentWarmup(s2e, e2s, tok, world.S, { steps: warm, batchSize: bs, lr, seed: 3, s2ePrefix: 'entities: ', e2sPrefix: 'sentence: ' });
    console.log(`fragment warm-up ${warm} steps in ${((Date.now() - tw) / 1000).toFixed(0)}s: losses ${w.s2eLoss.toFixed(3)} / ${w.e2sLoss.toFixed(3)}`);
  }
  const cfg = makeConfig({ batchSize: bs, epochs: 1000, maxSteps: steps, lrS2E: lr, lrE2S: lr, grounded, groundedEval: grounded, evalEvery, s2eDecode: { maxNewTokens: 24 }, e2sDecode: { maxNewTokens: 24 }, evalDecode: { maxNewTokens: 24 }, logEvery: 25, verbalizer: SYN_TYPES, types: Object.values(SYN_TYPES).sort() });
  const run = fs.mkdtempSync(path.join(os.tmpdir(), 'syn-'));
  const t0 = Date.now();
  const r = await trainCycle({ s2e, e2s, tokenizer: tok }, { S: world.S, Q: world.Q, devGold: world.evalSet, devS: world.S.slice(0, 64), devQ: world.Q.slice(0, 64) }, cfg, run, { log: (l) => console.log(l) });
  const dir = new Direction(s2e, tok, cfg.s2ePrefix, { maxSourceTokens: 64, maxTargetTokens: 64 });
  for (const g of [true, false]) {
    const seqs = await predictSequences(dir, world.evalSet.sentences.map((s) => s.text), { grounded: g, types: cfg.types!, batchSize: 64, decode: { maxNewTokens: 24 } });
    const rep = evaluate(compareSequences(world.evalSet, 'synthetic', seqs, v).sentences);
    console.log(`final (inference grounded=${g}): exact P ${rep.exact.micro.precision.toFixed(3)} R ${rep.exact.micro.recall.toFixed(3)} F1 ${rep.exact.micro.f1.toFixed(3)} bag F1 ${rep.bag.micro.f1.toFixed(3)} errors ${JSON.stringify(rep.errors)}  e.g. ${JSON.stringify(seqs.slice(0, 3))}`);
  }
  console.log(`cycle grounded=${grounded}: ${r.steps} steps in ${((Date.now() - t0) / 1000).toFixed(0)}s; evals ${JSON.stringify(r.evals.map((e) => [e.step, e.devF1?.toFixed(3), e.devELoss?.toFixed(3)]))}; live tensors ${T.liveTensors()}`);
  fs.rmSync(run, { recursive: true, force: true });
}

main().catch((e) => { console.error(e); process.exit(1); });
