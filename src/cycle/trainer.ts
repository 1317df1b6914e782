// CycleNER joint training (paper section 4.2). Per batch:
//   S-cycle: S2E generates Q′ from S (eval mode, no grad; grounded by default), E2S trains on ⟨Q′ → S⟩ (L_φ);
//   E-cycle: E2S generates S′ from Q (eval mode, no grad), S2E trains on ⟨S′ → Q⟩ (L_θ).
// Separate AdamW optimizers; the smaller of S and Q is cycled; both reshuffled every epoch from the seed.
// best/ is chosen by the lowest dev E-cycle loss (paper section 7.2) unless asked otherwise; without data for the
// criterion it is the final model of the latest sitting (best/info.json: "final": true).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import type { LabeledCorpus } from '../data/readers';
import { compareSequences } from '../eval/compare';
import { evaluate } from '../eval/metrics';
import type { T5ForConditionalGeneration } from '../t5/model';
import { loadStateDict } from '../t5/checkpoint';
import { nonFiniteStop, type Seq2SeqTrainer } from '../t5/train';
import { readModelWeights } from '../t5/safetensors';
import type { T5Tokenizer } from '../t5/tokenizer';
import type { CycleConfig } from './config';
import { groundingHook } from './grounding';
import { fragmentPairs, lexicalSilverPairs, pairWarmup } from './warmup';
import { saveModelDir, type ModelMeta } from './model-io';
import { copyCounts, copyRate, nameCopy } from './copy';
import { atomicDir, readJsonLines, recoverSwaps } from '../util/fs';
import { EpochOrder } from './order';
import { lossF1Svg, type EvalPoint } from './plot';
import { predictSequences, verbalizerForTypes } from './predict';
import { hasRunCheckpoint, loadRunCheckpoint, saveRunCheckpoint, type RunState } from './run-state';
import { Direction, evalLoss, generateAll, trainStep } from './seq2seq';

export interface CycleData {
  /** Sentences. */
  S: string[];
  /** Entity sequences at model level ("" = no entities). */
  Q: string[];
  devS?: string[];
  devQ?: string[];
  /** Labelled dev sentences: F1 is logged, used for selection only with selectOn 'dev-f1'. */
  devGold?: LabeledCorpus;
  /** Labelled test sentences: P/R/F1 logged at each evaluation for the paper's Figure 4; never used for selection. */
  testGold?: LabeledCorpus;
}

export interface CycleModels {
  s2e: T5ForConditionalGeneration;
  e2s: T5ForConditionalGeneration;
  tokenizer: T5Tokenizer;
}

export interface TrainHooks {
  /** Human-readable progress lines (progress bar, warnings). */
  log?: (line: string) => void;
  /** Aborted = stop after the current step and write the resume checkpoint (Ctrl-C); the run stays resumable. */
  signal?: AbortSignal;
}

export interface EvalResult {
  devSLoss: number | null;
  devELoss: number | null;
  devF1: number | null;
  devBagF1: number | null;
  /** Share of dev Q's entity names that E2S copied verbatim into S′ (copy.ts). */
  devCopyRate?: number | null;
  /** Present only when test gold is given (reported, never selected on). */
  testP?: number;
  testR?: number;
  testF1?: number;
}

export interface CycleResult {
  steps: number;
  epochsDone: number;
  bestStep: number | null;
  bestScore: number | null;
  /** Per-step losses of this invocation (for tests); lossE is null for a step whose E-cycle batch the filter emptied. */
  losses: { step: number; lossS: number; lossE: number | null }[];
  evals: (EvalResult & { step: number; epoch: number })[];
  stoppedEarly: boolean;
  /** Stopped by `signal`: the checkpoint holds the last step; `--resume` continues. */
  interrupted: boolean;
}

/** Type words of Q (sorted), for grounded decoding. */
export function typesOf(Q: readonly string[]): string[] {
  const s = new Set<string>();
  for (const q of Q) {
    const f = q.trim() === '' ? [] : q.split(/\s*<sep>\s*/);
    for (let i = 1; i < f.length; i += 2) s.add((f[i] as string).trim());
  }
  return [...s].filter((t) => t !== '').sort();
}

/** Share of the most common string and of empty strings. */
export function collapseStats(outs: readonly string[]): { top: string; topShare: number; emptyShare: number } {
  const c = new Map<string, number>();
  for (const o of outs) c.set(o, (c.get(o) ?? 0) + 1);
  let top = '';
  let n = 0;
  for (const [k, v] of c) if (v > n) { top = k; n = v; }
  const total = Math.max(1, outs.length);
  return { top, topShare: n / total, emptyShare: (c.get('') ?? 0) / total };
}

/** Reload both models from a best/ directory, reset both optimizers and scale their learning rates. */
export function rollbackTo(bestDir: string, parts: { s2e: T5ForConditionalGeneration; e2s: T5ForConditionalGeneration; optS2E: T.AdamW; optE2S: T.AdamW }, lrFactor: number): void {
  loadStateDict(parts.s2e, readModelWeights(path.join(bestDir, 's2e')).tensors, `${bestDir}/s2e`);
  loadStateDict(parts.e2s, readModelWeights(path.join(bestDir, 'e2s')).tensors, `${bestDir}/e2s`);
  for (const o of [parts.optS2E, parts.optE2S]) {
    o.reset();
    o.lr *= lrFactor;
  }
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s % 60)).padStart(2, '0')}`;
}

/** Whether the selection criterion has data: dev S/Q for the dev E-cycle loss, dev gold for dev F1. */
export function canSelect(cfg: Pick<CycleConfig, 'selectOn'>, data: Pick<CycleData, 'devS' | 'devGold'>): boolean {
  return cfg.selectOn === 'dev-f1' ? data.devGold !== undefined : data.devS !== undefined;
}

export async function trainCycle(models: CycleModels, data: CycleData, cfg: CycleConfig, runDir: string, opts: { resume?: boolean } & TrainHooks = {}): Promise<CycleResult> {
  const log = opts.log ?? (() => undefined);
  if (data.S.length === 0 || data.Q.length === 0) throw new Error('cycle training needs non-empty S and Q');
  if ((data.devS === undefined) !== (data.devQ === undefined)) throw new Error('give both dev sentences and dev entity sequences, or neither');
  const types = cfg.types ?? typesOf(data.Q);
  if (types.length === 0) throw new Error('Q holds no entity types');
  fs.mkdirSync(runDir, { recursive: true });
  for (const note of recoverSwaps(runDir)) log(`${runDir}: ${note}`);
  const limits = { maxSourceTokens: cfg.maxSourceTokens, maxTargetTokens: cfg.maxTargetTokens };
  const s2e = new Direction(models.s2e, models.tokenizer, cfg.s2ePrefix, limits, cfg.precision);
  const e2s = new Direction(models.e2s, models.tokenizer, cfg.e2sPrefix, limits, cfg.precision);
  const optS2E = new T.AdamW(models.s2e.parameters(), { lr: cfg.lrS2E, weightDecay: cfg.weightDecay });
  const optE2S = new T.AdamW(models.e2s.parameters(), { lr: cfg.lrE2S, weightDecay: cfg.weightDecay });
  const clip = cfg.maxGradNorm > 0 ? cfg.maxGradNorm : null;
  const trS2E = s2e.trainer(optS2E, { maxGradNorm: clip });
  const trE2S = e2s.trainer(optE2S, { maxGradNorm: clip });
  const metaS2E: ModelMeta = { task: 's2e', prefix: cfg.s2ePrefix, types, ...(cfg.verbalizer ? { verbalizer: cfg.verbalizer } : {}) };
  const metaE2S: ModelMeta = { task: 'e2s', prefix: cfg.e2sPrefix, types };
  const parts = { s2e: models.s2e, e2s: models.e2s, optS2E, optE2S, tokenizer: models.tokenizer, metaS2E, metaE2S };
  const metricsFile = path.join(runDir, 'metrics.jsonl');

  let state: RunState = { position: { epoch: 0, stepInEpoch: 0, globalStep: 0 }, bestScore: null, bestStep: null, evalsWithoutImprovement: 0, stopped: false, trainerSteps: { s2e: 0, e2s: 0 }, rollbacks: 0 };
  const resumed = opts.resume === true && hasRunCheckpoint(runDir);
  // Dropout draws come from the engine RNG: seeded here so that a run is a function of its config (a resume restores it).
  if (!resumed) T.manualSeed(cfg.seed);
  if (resumed) {
    state = loadRunCheckpoint(runDir, parts);
    trS2E.stepCount = state.trainerSteps.s2e;
    trE2S.stepCount = state.trainerSteps.e2s;
    // Drop log lines written after the checkpoint (they will be produced again).
    // A line cut by a kill (no newline, invalid JSON) is dropped, not fatal.
    const { records, dropped } = readJsonLines<{ step?: number }>(metricsFile);
    if (dropped > 0) log(`${metricsFile}: dropped ${dropped} unreadable line(s) (cut short by a kill)`);
    const keep = records.filter((r) => (r.step ?? 0) <= state.position.globalStep);
    fs.writeFileSync(metricsFile, keep.map((r) => JSON.stringify(r) + '\n').join(''));
    log(`resumed from ${runDir}/ckpt at step ${state.position.globalStep} (epoch ${state.position.epoch + 1}, step ${state.position.stepInEpoch} of it)`);
  } else {
    fs.writeFileSync(metricsFile, '');
  }
  fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify({ ...cfg, types, sizes: { S: data.S.length, Q: data.Q.length, devS: data.devS?.length ?? 0, devQ: data.devQ?.length ?? 0, devGold: data.devGold?.sentences.length ?? 0, testGold: data.testGold?.sentences.length ?? 0 } }, null, 2) + '\n');
  const emit = (rec: Record<string, unknown>) => fs.appendFileSync(metricsFile, JSON.stringify(rec) + '\n');

  const bs = cfg.batchSize;
  const stepsPerEpoch = Math.ceil(Math.max(data.S.length, data.Q.length) / bs);
  const orderS = new EpochOrder(cfg.seed, 'S', data.S.length);
  const orderQ = new EpochOrder(cfg.seed, 'Q', data.Q.length);
  const totalSteps = cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, stepsPerEpoch * cfg.epochs) : stepsPerEpoch * cfg.epochs;
  const result: CycleResult = { steps: 0, epochsDone: state.position.epoch, bestStep: state.bestStep, bestScore: state.bestScore, losses: [], evals: [], stoppedEarly: false, interrupted: false };
  const recent: string[] = [];
  let warnedEpoch = -1;
  const t0 = Date.now();
  let stepsThisRun = 0;
  let sumS = 0;
  let sumE = 0;
  let nSum = 0;
  let nSumE = 0;
  let copyNames = 0;
  let copyCopied = 0;
  let selfLoss = 0;
  let selfN = 0;

  // Grounding of S2E inside the cycles (S-cycle step 1 and the dev S-cycle): built per batch of sentences.
  const cycleHook = cfg.grounded ? (b: readonly string[]) => groundingHook(models.tokenizer, b, types, { allowEmpty: cfg.cycleAllowEmpty }) : undefined;

  let collapsedAtEval = false;
  const runEval = async (): Promise<EvalResult> => {
    collapsedAtEval = false;
    const r: EvalResult = { devSLoss: null, devELoss: null, devF1: null, devBagF1: null };
    const eb = cfg.evalBatchSize;
    const sampleRec: Record<string, unknown> = { type: 'samples', step: state.position.globalStep, epoch: state.position.epoch };
    if (data.devS && data.devQ) {
      const qPrime = await generateAll(s2e, data.devS, cfg.s2eDecode, eb, cycleHook);
      r.devSLoss = (await evalLoss(e2s, trE2S, qPrime, data.devS, eb)).loss;
      const sPrime = await generateAll(e2s, data.devQ, cfg.e2sDecode, eb);
      r.devELoss = (await evalLoss(s2e, trS2E, sPrime, data.devQ, eb)).loss;
      r.devCopyRate = copyRate(copyCounts(data.devQ, sPrime));
      const k = Math.min(cfg.samples, data.devS.length, data.devQ.length);
      if (k > 0) {
        const sBack = await e2s.generate(qPrime.slice(0, k), cfg.e2sDecode);
        const qBack = await s2e.generate(sPrime.slice(0, k), cfg.s2eDecode, await cycleHook?.(sPrime.slice(0, k)));
        sampleRec.sCycle = Array.from({ length: k }, (_, i) => ({ s: data.devS![i], qPrime: qPrime[i], sRecon: sBack[i] }));
        sampleRec.eCycle = Array.from({ length: k }, (_, i) => ({ q: data.devQ![i], sPrime: sPrime[i], qRecon: qBack[i] }));
      }
      const c = collapseStats(qPrime);
      sampleRec.devCollapse = c;
      if (c.topShare >= cfg.collapseShare || c.emptyShare >= 0.9) {
        collapsedAtEval = true;
        const msg = c.emptyShare >= 0.9 ? `S2E outputs nothing for ${(c.emptyShare * 100).toFixed(0)}% of the dev sentences` : `S2E emits the same sequence "${c.top}" for ${(c.topShare * 100).toFixed(0)}% of the dev sentences`;
        log(`warning: collapse: ${msg}`);
        emit({ type: 'warning', step: state.position.globalStep, message: `collapse: ${msg}` });
      }
    }
    const score = async (gold: LabeledCorpus) => {
      const seqs = await predictSequences(s2e, gold.sentences.map((s) => s.text), { grounded: cfg.groundedEval, types, batchSize: eb, decode: cfg.evalDecode });
      const v = verbalizerForTypes(types, cfg.verbalizer ?? undefined);
      return evaluate(compareSequences(gold, gold.file, seqs, v).sentences);
    };
    if (data.devGold) {
      const rep = await score(data.devGold);
      r.devF1 = rep.exact.micro.f1;
      r.devBagF1 = rep.bag.micro.f1;
    }
    if (data.testGold) {
      const m = (await score(data.testGold)).exact.micro;
      Object.assign(r, { testP: m.precision, testR: m.recall, testF1: m.f1 });
    }
    emit(sampleRec);
    return r;
  };

  const afterEval = (r: EvalResult): boolean => {
    const score = cfg.selectOn === 'dev-f1' ? (r.devF1 === null ? null : -r.devF1) : r.devELoss;
    let improved = false;
    const selectable = !(collapsedAtEval && cfg.onCollapse !== 'warn');
    if (score !== null && selectable && (state.bestScore === null || score < state.bestScore)) {
      improved = true;
      state.bestScore = score;
      state.bestStep = state.position.globalStep;
      state.evalsWithoutImprovement = 0;
      atomicDir(path.join(runDir, 'best'), (tmp) => {
        saveModelDir(path.join(tmp, 's2e'), models.s2e, models.tokenizer, metaS2E);
        saveModelDir(path.join(tmp, 'e2s'), models.e2s, models.tokenizer, metaE2S);
        fs.writeFileSync(path.join(tmp, 'info.json'), JSON.stringify({ step: state.position.globalStep, epoch: state.position.epoch + 1, selectOn: cfg.selectOn, ...r }, null, 2) + '\n');
      });
    } else if (score !== null) state.evalsWithoutImprovement++;
    const rec = { type: 'eval', step: state.position.globalStep, epoch: state.position.epoch + (state.position.stepInEpoch / stepsPerEpoch), ...r, best: improved };
    emit(rec);
    result.evals.push({ ...r, step: state.position.globalStep, epoch: rec.epoch });
    // Figure 4 of the paper for this run: rebuilt from the metrics log, so it survives a resume.
    const pts = fs.readFileSync(metricsFile, 'utf8').split('\n').filter((l) => l.includes('"type":"eval"')).map((l) => JSON.parse(l) as EvalPoint);
    fs.writeFileSync(path.join(runDir, 'curves.svg'), lossF1Svg(pts, `CycleNER run ${path.basename(runDir)}`));
    const f = (x: number | null) => (x === null ? '-' : x.toFixed(4));
    const test = r.testF1 === undefined ? '' : `  | test P ${f(r.testP ?? null)} R ${f(r.testR ?? null)} F1 ${f(r.testF1)} (reported only)`;
    const copied = r.devCopyRate === undefined || r.devCopyRate === null ? '' : `  copy ${(r.devCopyRate * 100).toFixed(0)}%`;
    log(`eval @ step ${state.position.globalStep}: dev L_phi(S) ${f(r.devSLoss)}  L_theta(E) ${f(r.devELoss)}  F1 ${f(r.devF1)}  bag F1 ${f(r.devBagF1)}${copied}${improved ? '  (best)' : ''}${test}`);
    return cfg.patience > 0 && state.evalsWithoutImprovement >= cfg.patience;
  };

  let lastSaved: number | null = resumed ? state.position.globalStep : null;
  const save = () => {
    state.trainerSteps = { s2e: trS2E.stepCount, e2s: trE2S.stepCount };
    saveRunCheckpoint(runDir, parts, state);
    lastSaved = state.position.globalStep;
  };
  // A NaN/Inf step stops the run before it reaches the weights: nothing is saved from it, the checkpoint stays as it was.
  const guardedStep = async (d: Direction, tr: Seq2SeqTrainer, sources: readonly string[], targets: readonly string[], name: 'S2E' | 'E2S') => {
    try {
      return await trainStep(d, tr, sources, targets);
    } catch (e) {
      const ckpt = lastSaved === null ? 'no checkpoint was written yet' : `the last checkpoint (step ${lastSaved}) is intact`;
      throw nonFiniteStop(e, `step ${state.position.globalStep + 1}: ${name}`, `${ckpt}; lower --lr-${name.toLowerCase()} (in a new run: --resume keeps the saved config)`);
    }
  };

  try {
    if (!resumed && cfg.warmup !== 'none' && cfg.warmupSteps > 0) {
      // Part of the run: a resume after the first checkpoint (written right below) does not repeat it.
      const pairs = cfg.warmup === 'lexical' ? lexicalSilverPairs(data.S, data.Q) : fragmentPairs(data.S);
      const tw = Date.now();
      log(`warm-up (${cfg.warmup}, ${cfg.warmupDirections}): ${cfg.warmupSteps} steps x ${bs} on ${pairs.length} pairs${cfg.warmup === 'lexical' ? ` (sentences of S with a gazetteer match from Q, of ${data.S.length})` : ''} ...`);
      const w = await pairWarmup(models.s2e, models.e2s, models.tokenizer, pairs, { steps: cfg.warmupSteps, batchSize: bs, lr: cfg.warmupLr, seed: cfg.seed, s2ePrefix: cfg.s2ePrefix, e2sPrefix: cfg.e2sPrefix, directions: cfg.warmupDirections, precision: cfg.precision });
      emit({ type: 'warmup', step: 0, kind: cfg.warmup, directions: cfg.warmupDirections, steps: cfg.warmupSteps, pairs: pairs.length, s2eLoss: w.s2eLoss, e2sLoss: w.e2sLoss, seconds: (Date.now() - tw) / 1000 });
      log(`warm-up done in ${((Date.now() - tw) / 1000).toFixed(0)} s: last losses S2E ${w.s2eLoss.toFixed(4)} E2S ${w.e2sLoss.toFixed(4)}`);
      if (data.devS !== undefined || data.devGold !== undefined || data.testGold !== undefined) afterEval(await runEval());
      save();
    }
    while (!state.stopped && state.position.globalStep < totalSteps) {
      const pos = state.position;
      if (pos.stepInEpoch >= stepsPerEpoch) { pos.epoch++; pos.stepInEpoch = 0; }
      const first = pos.stepInEpoch * bs;
      const sb: string[] = [];
      const qb: string[] = [];
      for (let k = first; k < first + bs; k++) {
        // The larger set is walked once per epoch (last batch may be short); the smaller one wraps.
        const lim = Math.max(data.S.length, data.Q.length);
        if (k >= lim) break;
        sb.push(data.S[orderS.at(pos.epoch, k)] as string);
        qb.push(data.Q[orderQ.at(pos.epoch, k)] as string);
      }
      const seed = cfg.seed * 1000003 + pos.globalStep; // sampling (if enabled) reproducible across resume
      // S-cycle
      const gen = await s2e.generateScored(sb, cfg.s2eDecode, await cycleHook?.(sb), seed);
      const qPrime = gen.texts;
      const rS = await guardedStep(e2s, trE2S, qPrime, sb, 'E2S');
      // Self-training: S2E learns its own confident outputs (the sentences are real, so these pairs are exact inputs).
      let selfKept: number | null = null;
      if (cfg.selfTrainMinProb > 0) {
        const minLp = Math.log(cfg.selfTrainMinProb);
        const sure = gen.meanLogProbs.map((lp, i) => i).filter((i) => (gen.meanLogProbs[i] as number) >= minLp);
        selfKept = sure.length;
        if (sure.length > 0) {
          const rSelf = await guardedStep(s2e, trS2E, sure.map((i) => sb[i] as string), sure.map((i) => qPrime[i] as string), 'S2E');
          selfLoss += rSelf.loss; selfN++;
        }
      }
      // E-cycle
      const sPrime = await e2s.generate(qb, cfg.e2sDecode, undefined, seed + 1);
      const copy = copyCounts(qb, sPrime);
      copyNames += copy.names; copyCopied += copy.copied;
      // 'copied': S2E learns only from the pairs whose S′ holds all of Q's names (an empty batch skips the S2E update).
      const keep = cfg.eCycleFilter === 'copied' ? qb.map((q, i) => i).filter((i) => { const c = nameCopy(qb[i] as string, sPrime[i] as string); return c.copied === c.names; }) : null;
      const rE = keep === null ? await guardedStep(s2e, trS2E, sPrime, qb, 'S2E') : keep.length > 0 ? await guardedStep(s2e, trS2E, keep.map((i) => sPrime[i] as string), keep.map((i) => qb[i] as string), 'S2E') : null;
      pos.stepInEpoch++;
      pos.globalStep++;
      stepsThisRun++;
      result.steps++;
      result.losses.push({ step: pos.globalStep, lossS: rS.loss, lossE: rE?.loss ?? null });
      sumS += rS.loss; nSum++;
      if (rE) { sumE += rE.loss; nSumE++; }
      recent.push(...qPrime);
      if (recent.length > 256) recent.splice(0, recent.length - 256);
      const elapsed = (Date.now() - t0) / 1000;
      emit({ type: 'step', step: pos.globalStep, epoch: pos.epoch + 1, epochs: pos.globalStep / stepsPerEpoch, lossS: rS.loss, lossE: rE?.loss ?? null, copyRate: copyRate(copy), ...(keep ? { eKept: keep.length } : {}), ...(selfKept !== null ? { selfKept } : {}), lrS2E: optS2E.lr, lrE2S: optE2S.lr, gradNormS2E: rE?.gradNorm ?? null, gradNormE2S: rS.gradNorm, elapsed });
      if (pos.globalStep % cfg.logEvery === 0 || pos.globalStep === totalSteps) {
        const rate = (stepsThisRun * bs) / Math.max(elapsed, 1e-9);
        const eta = ((totalSteps - pos.globalStep) * bs) / rate;
        const cr = copyRate({ names: copyNames, copied: copyCopied });
        log(`epoch ${pos.epoch + 1}/${cfg.epochs} step ${pos.stepInEpoch}/${stepsPerEpoch} (${pos.globalStep}/${totalSteps}) | L_phi ${(sumS / nSum).toFixed(4)} L_theta ${nSumE > 0 ? (sumE / nSumE).toFixed(4) : '-'} | E2S copies ${cr === null ? '-' : `${(cr * 100).toFixed(0)}%`} of Q's names${cfg.selfTrainMinProb > 0 ? ` | self-training loss ${selfN > 0 ? (selfLoss / selfN).toFixed(4) : '-'}` : ''} | ${rate.toFixed(1)} pairs/s | ETA ${fmtTime(eta)}`);
        sumS = 0; sumE = 0; nSum = 0; nSumE = 0; copyNames = 0; copyCopied = 0; selfLoss = 0; selfN = 0;
        const c = collapseStats(recent);
        if (recent.length >= Math.min(128, data.S.length) && warnedEpoch !== pos.epoch && (c.topShare >= cfg.collapseShare || c.emptyShare >= 0.9)) {
          warnedEpoch = pos.epoch;
          const msg = c.emptyShare >= 0.9 ? `S2E outputs nothing for ${(c.emptyShare * 100).toFixed(0)}% of recent sentences` : `S2E emits "${c.top}" for ${(c.topShare * 100).toFixed(0)}% of recent sentences`;
          log(`warning: collapse: ${msg}`);
          emit({ type: 'warning', step: pos.globalStep, message: `collapse: ${msg}` });
        }
      }
      const endOfEpoch = pos.stepInEpoch >= stepsPerEpoch;
      const isLast = pos.globalStep >= stepsPerEpoch * cfg.epochs;
      const evalDue = (data.devS !== undefined || data.devGold !== undefined || data.testGold !== undefined) && (cfg.evalEvery > 0 ? pos.globalStep % cfg.evalEvery === 0 || isLast : endOfEpoch);
      if (evalDue && afterEval(await runEval())) {
        state.stopped = true;
        result.stoppedEarly = true;
        log(`early stop: no better ${cfg.selectOn} in ${cfg.patience} evaluations`);
      }
      if (evalDue && collapsedAtEval && cfg.onCollapse !== 'warn' && !state.stopped) {
        const bestDir = path.join(runDir, 'best');
        if (cfg.onCollapse === 'rollback' && state.rollbacks < cfg.maxRollbacks && fs.existsSync(bestDir)) {
          rollbackTo(bestDir, parts, cfg.rollbackLrFactor);
          state.rollbacks++;
          emit({ type: 'rollback', step: pos.globalStep, toStep: state.bestStep, rollbacks: state.rollbacks, lrS2E: optS2E.lr, lrE2S: optE2S.lr });
          log(`collapse: rolled back to best/ (step ${state.bestStep ?? '-'}), optimizers reset, learning rates now ${optS2E.lr} / ${optE2S.lr} (rollback ${state.rollbacks} of ${cfg.maxRollbacks})`);
        } else {
          state.stopped = true;
          result.stoppedEarly = true;
          const why = cfg.onCollapse === 'stop' ? 'onCollapse stop' : fs.existsSync(bestDir) ? `${cfg.maxRollbacks} rollbacks used` : 'no earlier best/ to roll back to';
          emit({ type: 'warning', step: pos.globalStep, message: `stopped on collapse (${why})` });
          log(`stopped on collapse (${why})`);
        }
      }
      if (endOfEpoch) result.epochsDone = pos.epoch + 1;
      const interrupted = opts.signal?.aborted === true && !state.stopped && pos.globalStep < totalSteps;
      if (interrupted || evalDue || state.stopped || pos.globalStep >= totalSteps || (cfg.checkpointEvery > 0 && pos.globalStep % cfg.checkpointEvery === 0)) save();
      if (interrupted) { result.interrupted = true; log(`interrupted at step ${pos.globalStep}: checkpoint written`); break; }
    }
    if (!result.interrupted && !canSelect(cfg, data)) {
      // Nothing to select on: best/ is the final model, rewritten at the end of every sitting (a resume with
      // more steps replaces the earlier sitting's), and info.json says so.
      log(`warning: no dev data for ${cfg.selectOn}: best/ holds the final models (no model selection)`);
      atomicDir(path.join(runDir, 'best'), (tmp) => {
        saveModelDir(path.join(tmp, 's2e'), models.s2e, models.tokenizer, metaS2E);
        saveModelDir(path.join(tmp, 'e2s'), models.e2s, models.tokenizer, metaE2S);
        fs.writeFileSync(path.join(tmp, 'info.json'), JSON.stringify({ step: state.position.globalStep, epoch: state.position.epoch + 1, selectOn: null, final: true, note: `no dev data for ${cfg.selectOn}: the final model, not selected` }, null, 2) + '\n');
      });
    }
  } finally {
    optS2E.dispose();
    optE2S.dispose();
  }
  result.bestStep = state.bestStep;
  result.bestScore = state.bestScore;
  if (s2e.truncated + e2s.truncated > 0) log(`note: ${s2e.truncated + e2s.truncated} sequences were cut to maxSourceTokens/maxTargetTokens`);
  return result;
}
