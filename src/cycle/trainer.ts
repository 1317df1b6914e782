// CycleNER joint training (paper section 4.2, Algorithm 1). Per batch, one cycleStep (step.ts):
//   S-cycle: S2E generates Q′ from S (eval mode, no grad; grounded by default), E2S trains on ⟨Q′ → S⟩ (L_φ);
//   E-cycle: E2S generates S′ from Q (eval mode, no grad), S2E trains on ⟨S′ → Q⟩ (L_θ).
// Separate AdamW optimizers; the smaller of S and Q is cycled; both reshuffled every epoch from the seed.
// Around the loop: evaluate.ts (dev losses, copy rate, samples, F1), selection.ts (best/, patience, collapse,
// rollback), run-log.ts (metrics.jsonl, progress lines), run-state.ts (resumable checkpoints); the run folder, metrics
// schema, seeds and stop reasons are the run kit's (src/run).
// best/ is chosen by the lowest dev E-cycle loss (paper section 7.2) unless asked otherwise; without data for the
// criterion it is the final model of the latest sitting (best/info.json: "final": true).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import type { LabeledCorpus } from '../data/readers';
import type { T5ForConditionalGeneration } from '../t5/model';
import { nonFiniteStop, type Seq2SeqTrainer, type StepResult } from '../t5/train';
import type { T5Tokenizer } from '../t5/tokenizer';
import { recoverSwaps } from '../util/fs';
import { INPUTS_FILE, type RunDirSpec } from '../util/run-dir';
import { findCheckpoint } from '../run/checkpoint';
import { CHECKPOINT_ENTRIES, RUN_FILES } from '../run/layout';
import type { MetricsSink } from '../run/metrics';
import { seedRankEngine } from '../run/seed';
import { signalledOnAnyRank, type StopReason } from '../run/stop';
import { cycleModelMeta, type CycleConfig } from './config';
import { typesOf } from '../data/entity-seq';
import { cycleEvaluator, inferencePredict, type EvalResult } from './evaluate';
import { cycleS2EGenerate } from './grounding';
import type { ModelMeta } from './model-io';
import { EpochOrder } from './order';
import { Rng } from '../util/rng';
import { evalEpoch, RunLog } from './run-log';
import { loadRunCheckpoint, saveRunCheckpoint, type Parts, type Position, type RunState } from './run-state';
import {
  resolveSelectOn,
  saveBest,
  savedSelectOn,
  Selection,
  sittingSelectOn,
  type Decision,
  type ResolvedSelectOn,
} from './selection';
import { Direction, trainStep } from './seq2seq';
import { cycleStep } from './step';
import { fragmentPairs, lexicalSilverPairs, pairWarmup } from './warmup';
import { namesByType, swapNames, type SpannedPair } from './swap';
import { readJsonFile, writeJsonFile } from '../util/fs';
import { splitNames, type NameHoldout } from './name-holdout';
import { refreshSilverPairs, splitHoldout, type SilverPair } from './silver';

/** RUN/silver-pool.json: the silver pairs of the latest --silver-refresh. */
const SILVER_POOL_FILE = 'silver-pool.json';

export type { EvalResult } from './evaluate';
export { collapseStats, rollbackTo } from './selection';

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
  /** Gets every metrics record as RUN/metrics.jsonl does (on a resume, the kept ones first): the library's progress. */
  metrics?: MetricsSink;
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
  /** Why this sitting ended: 'steps' (the budget), 'signal', 'patience' or 'collapse'. */
  stoppedBy: StopReason;
  /** The criterion bestStep / bestScore are of: cfg.selectOn, with 'auto' resolved (resolveSelectOn). */
  selectOn: ResolvedSelectOn;
}

export async function trainCycle(
  models: CycleModels,
  data: CycleData,
  cfg: CycleConfig,
  runDir: string,
  opts: { resume?: boolean } & TrainHooks = {},
): Promise<CycleResult> {
  // --name-holdout: names (with their sequences of Q and sentences of S) no training step sees.
  const names = cfg.nameHoldout > 0 ? splitNames(data.S, data.Q, cfg.nameHoldout) : null;
  if (names) data = { ...data, S: names.S, Q: names.Q };
  // --silver-holdout: sentences of S no training step sees, for the held-out silver F1.
  const held = splitHoldout(data.S, cfg.silverHoldout);
  if (held.heldOut.length > 0) data = { ...data, S: held.train };
  const run = setUp(models, data, cfg, runDir, opts);
  const { s2e, e2s, optS2E, optE2S, state, out, selection } = run;
  if (names)
    out.log(
      `name holdout: ${names.names.size} names held out with ${names.heldS.length} of their sentences scored; training on ${names.Q.length} sequences of Q and ${names.S.length} sentences of S`,
    );
  const bothModels = () => [...models.s2e.parameters(), ...models.e2s.parameters()];
  await T.dist.broadcast(bothModels()); // a process group starts from rank 0's weights
  const pos = state.position;
  const s2eGenerate = cycleS2EGenerate(s2e, cfg.s2eDecode, run.types, {
    grounded: cfg.grounded,
    allowEmpty: cfg.cycleAllowEmpty,
  });
  const stepParts = { cfg, s2eGenerate, e2s, learn: run.learn, silverBatch: run.silverBatch };
  const result = newResult(state, run.selectOn);
  const canEvaluate =
    data.devS !== undefined ||
    data.devGold !== undefined ||
    data.testGold !== undefined ||
    held.heldOut.length > 0 ||
    names !== null;
  const { evaluateAndSelect, refreshSilver } = evaluation(run, { ...data, heldOutS: held.heldOut, names }, cfg, {
    s2eGenerate,
    result,
  });

  try {
    if (run.warmupDue) {
      await warmUp(models, data, cfg, out);
      if (canEvaluate) await evaluateAndSelect(); // step 0: may select best/, never stops or rolls back
      await refreshSilver();
      run.save();
    }
    while (!state.stopped && pos.globalStep < run.totalSteps) {
      if (pos.stepInEpoch >= run.stepsPerEpoch) {
        pos.epoch++;
        pos.stepInEpoch = 0;
      }
      // Data parallel (T.dist): every rank draws the same batch, generates and learns on its shard (cycleStep).
      const batch = run.batch(pos);
      const r = await cycleStep(stepParts, T.dist.shard(batch.S), T.dist.shard(batch.Q), pos.globalStep);
      pos.stepInEpoch++;
      pos.globalStep++;
      result.steps++;
      result.losses.push({ step: pos.globalStep, lossS: r.sCycle.loss, lossE: r.eCycle?.loss ?? null });
      out.step(pos, { ...r, lrS2E: optS2E.lr, lrE2S: optE2S.lr });
      const endOfEpoch = pos.stepInEpoch >= run.stepsPerEpoch;
      // The last step of the run (epochs or --max-steps) is always evaluated: the final model is a candidate for best/.
      const isLast = pos.globalStep >= run.totalSteps;
      const evalDue =
        canEvaluate && ((cfg.evalEvery > 0 ? pos.globalStep % cfg.evalEvery === 0 : endOfEpoch) || isLast);
      if (evalDue) {
        const d = await evaluateAndSelect();
        if (d.stop) {
          state.stopped = result.stoppedEarly = true;
          state.stoppedBy = result.stoppedBy = d.stop.on;
          out.stop(pos.globalStep, d.stop);
        } else if (d.rollback) {
          selection.rollback(run.parts, run.lead);
          await T.dist.broadcast(bothModels());
          out.rollback(pos.globalStep, {
            toStep: state.bestStep,
            rollbacks: state.rollbacks,
            lrS2E: optS2E.lr,
            lrE2S: optE2S.lr,
          });
        }
        if (!d.stop) await refreshSilver();
      }
      if (endOfEpoch) result.epochsDone = pos.epoch + 1;
      const interrupted = (await signalledOnAnyRank(opts.signal)) && !state.stopped && pos.globalStep < run.totalSteps;
      const cadence = cfg.checkpointEvery > 0 && pos.globalStep % cfg.checkpointEvery === 0;
      if (interrupted || evalDue || state.stopped || pos.globalStep >= run.totalSteps || cadence) run.save();
      if (interrupted) {
        result.interrupted = true;
        result.stoppedBy = 'signal';
        out.log(`interrupted at step ${pos.globalStep}: checkpoint written`);
        break;
      }
    }
    if (!result.interrupted && !canSelect(cfg, data)) {
      out.log(`warning: no dev data for ${cfg.selectOn}: best/ holds the final models (no model selection)`);
      selection.saveFinal(pos);
    }
    out.end(pos.globalStep, result.stoppedBy);
  } finally {
    optS2E.dispose();
    optE2S.dispose();
  }
  Object.assign(result, { bestStep: state.bestStep, bestScore: state.bestScore });
  if (s2e.truncated + e2s.truncated > 0)
    out.log(`note: ${s2e.truncated + e2s.truncated} sequences were cut to maxSourceTokens/maxTargetTokens`);
  return result;
}

type Sitting = ReturnType<typeof setUp>;

/** A sitting's result before its first step: the best and the stop so far are the run state's. */
function newResult(state: RunState, selectOn: ResolvedSelectOn): CycleResult {
  return {
    selectOn,
    steps: 0,
    epochsDone: state.position.epoch,
    bestStep: state.bestStep,
    bestScore: state.bestScore,
    losses: [],
    evals: [],
    stoppedEarly: false,
    interrupted: false,
    stoppedBy: state.stopped ? (state.stoppedBy ?? 'patience') : 'steps',
  };
}

/** The loop's evaluation at the current position (logged, decided on by the selection, kept in `result.evals`), and
 *  the --silver-refresh that follows it. */
function evaluation(
  run: Sitting,
  data: CycleData & { heldOutS: string[]; names: NameHoldout | null },
  cfg: CycleConfig,
  loop: { s2eGenerate: ReturnType<typeof cycleS2EGenerate>; result: CycleResult },
) {
  const { s2e, e2s, state, out, selection } = run;
  const pos = state.position;
  const evaluate = cycleEvaluator({
    s2e,
    e2s,
    trS2E: run.trS2E,
    trE2S: run.trE2S,
    s2eGenerate: loop.s2eGenerate,
    types: run.types,
    data,
    cfg,
  });
  const evaluateAndSelect = async (): Promise<Decision> => {
    const ev = await evaluate();
    const d = selection.decide(ev.result, ev.devOutputs, pos);
    out.eval(pos, ev, d);
    loop.result.evals.push({ ...ev.result, step: pos.globalStep, epoch: evalEpoch(pos, run.stepsPerEpoch) });
    return d;
  };
  // --silver-refresh: after each evaluation (and a rollback), from the S2E that goes on training.
  const refreshSilver = async () => {
    if (!cfg.silverRefresh || cfg.silverMix <= 0) return;
    if (cfg.silverDecaySteps > 0 && pos.globalStep >= cfg.silverDecaySteps) return; // the mix has decayed to none
    const outputs = await inferencePredict(s2e, run.types, cfg)(run.lexicalPairs.map((p) => p.sentence));
    const n = run.refreshSilver(outputs, pos.globalStep);
    out.log(
      `silver refresh at step ${pos.globalStep}: S2E's output replaces ${n} of ${run.lexicalPairs.length} lexical silver pairs`,
    );
  };
  return { evaluateAndSelect, refreshSilver };
}

/** Type words of Q (sorted), for grounded decoding: parsed where entity sequences are (data/entity-seq.ts). */
export { typesOf };

/** Whether the selection criterion has data: dev S/Q for the dev E-cycle loss, dev gold for dev F1. */
export function canSelect(
  cfg: Pick<CycleConfig, 'selectOn' | 'silverHoldout' | 'nameHoldout'>,
  data: Pick<CycleData, 'devS' | 'devGold'>,
): boolean {
  if (cfg.selectOn === 'held-silver-f1') return cfg.silverHoldout > 0; // read in S itself
  if (cfg.selectOn === 'name-held-f1' || cfg.selectOn === 'name-held-recall') return cfg.nameHoldout > 0;
  return cfg.selectOn === 'dev-f1' ? data.devGold !== undefined : data.devS !== undefined; // the others read dev S
}

/**
 * One sitting of a run, set up: inputs checked, both directions with their optimizers and trainers, the run state
 * (fresh, seeded; or restored from RUN/checkpoint with `resume`), metrics.jsonl and config.json, the data order, the
 * selection (writing RUN/best), and the checkpoint writer and NaN-guarded training step the loop uses.
 */
function setUp(
  models: CycleModels,
  data: CycleData,
  cfg: CycleConfig,
  runDir: string,
  opts: { resume?: boolean } & TrainHooks,
) {
  const log = opts.log ?? (() => undefined);
  if (data.S.length === 0 || data.Q.length === 0) throw new Error('cycle training needs non-empty S and Q');
  if ((data.devS === undefined) !== (data.devQ === undefined))
    throw new Error('give both dev sentences and dev entity sequences, or neither');
  const types = cfg.types ?? typesOf(data.Q);
  if (types.length === 0) throw new Error('Q holds no entity types');
  // In a process group rank 0 alone writes (metrics, checkpoints, best/); the others read a resume checkpoint.
  const lead = T.dist.rank() === 0;
  fs.mkdirSync(runDir, { recursive: true });
  if (lead) for (const note of recoverSwaps(runDir)) log(`${runDir}: ${note}`);
  const limits = { maxSourceTokens: cfg.maxSourceTokens, maxTargetTokens: cfg.maxTargetTokens };
  const s2e = new Direction(models.s2e, models.tokenizer, cfg.s2ePrefix, limits, cfg.precision);
  const e2s = new Direction(models.e2s, models.tokenizer, cfg.e2sPrefix, limits, cfg.precision);
  const optS2E = new T.AdamW(models.s2e.parameters(), { lr: cfg.lrS2E, weightDecay: cfg.weightDecay });
  const optE2S = new T.AdamW(models.e2s.parameters(), { lr: cfg.lrE2S, weightDecay: cfg.weightDecay });
  const clip = cfg.maxGradNorm > 0 ? cfg.maxGradNorm : null;
  const trS2E = s2e.trainer(optS2E, { maxGradNorm: clip });
  const trE2S = e2s.trainer(optE2S, { maxGradNorm: clip });
  // What the saved models carry: prefixes, type words, label map and (S2E) the decoding they were selected with.
  const metas: { s2e: ModelMeta; e2s: ModelMeta } = cycleModelMeta(cfg, types);
  const parts = {
    s2e: models.s2e,
    e2s: models.e2s,
    optS2E,
    optE2S,
    tokenizer: models.tokenizer,
    metaS2E: metas.s2e,
    metaE2S: metas.e2s,
  };

  const ckptDir = opts.resume === true ? findCheckpoint(runDir) : null;
  const resumed = ckptDir !== null;
  const state = startOrResume(ckptDir, parts, { s2e: trS2E, e2s: trE2S }, cfg.seed, log);
  const bestDir = path.join(runDir, 'best');
  // Before anything is written: a resume that cannot keep its criterion stops here.
  const saved = resumed ? savedSelectOn(state, bestDir) : undefined;
  const selectOn = sittingSelectOn(cfg.selectOn, resolveSelectOn(cfg, data), saved);
  state.selectOn = selectOn.on; // saved with each checkpoint: a resume keeps it
  const { stepsPerEpoch, totalSteps, batch } = dataOrder(cfg, data);
  const out = new RunLog(
    runDir,
    log,
    cfg,
    { stepsPerEpoch, totalSteps, nS: data.S.length },
    resumed ? state.position.globalStep : null,
    lead,
    opts.metrics ? [opts.metrics] : [],
  );
  const pos = state.position;
  if (lead) writeJsonFile(path.join(runDir, 'config.json'), { ...cfg, types, sizes: dataSizes(data) });

  let lastSaved: number | null = resumed ? pos.globalStep : null;
  const save = () => {
    if (!lead) return;
    state.workers = T.dist.worldSize();
    state.trainerSteps = { s2e: trS2E.stepCount, e2s: trE2S.stepCount };
    saveRunCheckpoint(runDir, parts, state);
    lastSaved = state.position.globalStep;
  };
  // A NaN/Inf step stops the run before it reaches the weights: nothing is saved from it, the checkpoint stays as it was.
  const learn = async (
    which: 's2e' | 'e2s',
    sources: readonly string[],
    targets: readonly string[],
  ): Promise<StepResult> => {
    try {
      return await (which === 's2e'
        ? trainStep(s2e, trS2E, sources, targets)
        : trainStep(e2s, trE2S, sources, targets));
    } catch (e) {
      const ckpt =
        lastSaved === null ? 'no checkpoint was written yet' : `the last checkpoint (step ${lastSaved}) is intact`;
      const then = `${ckpt}; lower --lr-${which} (in a new run: --resume keeps the saved config)`;
      throw nonFiniteStop(e, `step ${state.position.globalStep + 1}: ${which.toUpperCase()}`, then);
    }
  };
  const silver = silverSource(cfg, data, log, { runDir, resumed, lead });
  const { batch: silverBatch, lexicalPairs, refresh: refreshSilver } = silver;
  if (selectOn.why) out.log(selectOn.why);
  const selection = new Selection(
    { ...cfg, selectOn: selectOn.on },
    state,
    bestDir,
    (info) => lead && saveBest(bestDir, models, metas, info),
  );
  const warmupDue = !resumed && cfg.warmup !== 'none' && cfg.warmupSteps > 0;
  return {
    selectOn: selectOn.on,
    types,
    s2e,
    e2s,
    optS2E,
    optE2S,
    trS2E,
    trE2S,
    parts,
    state,
    out,
    selection,
    stepsPerEpoch,
    totalSteps,
    warmupDue,
    lead,
    batch,
    save,
    learn,
    silverBatch,
    lexicalPairs,
    refreshSilver,
  };
}

/**
 * The run state of a new run, or the checkpoint's in `ckptDir` with both models, optimizers, trainer step counts and
 * the engine RNG restored. Then the dropout draws are seeded so that a run is a function of its config (rank 0 of a
 * resume continues the restored generator; the other ranks draw their own).
 */
function startOrResume(
  ckptDir: string | null,
  parts: Parts,
  trainers: { s2e: Seq2SeqTrainer; e2s: Seq2SeqTrainer },
  seed: number,
  log: (line: string) => void,
): RunState {
  let state: RunState = {
    position: { epoch: 0, stepInEpoch: 0, globalStep: 0 },
    bestScore: null,
    bestStep: null,
    evalsWithoutImprovement: 0,
    stopped: false,
    trainerSteps: { s2e: 0, e2s: 0 },
    rollbacks: 0,
  };
  if (ckptDir !== null) {
    state = loadRunCheckpoint(ckptDir, parts);
    trainers.s2e.stepCount = state.trainerSteps.s2e;
    trainers.e2s.stepCount = state.trainerSteps.e2s;
    const pos = state.position;
    const workers = { was: state.workers ?? 1, now: T.dist.worldSize() };
    log(
      `resumed from ${ckptDir} at step ${pos.globalStep} (epoch ${pos.epoch + 1}, step ${pos.stepInEpoch} of it)${workers.was !== workers.now ? `; written by ${workers.was} worker(s), continued by ${workers.now}` : ''}`,
    );
  }
  seedRankEngine(seed, state.position.globalStep, ckptDir !== null);
  return state;
}

/** The data sizes config.json records. */
const dataSizes = (data: CycleData) => ({
  S: data.S.length,
  Q: data.Q.length,
  devS: data.devS?.length ?? 0,
  devQ: data.devQ?.length ?? 0,
  devGold: data.devGold?.sentences.length ?? 0,
  testGold: data.testGold?.sentences.length ?? 0,
});

/** The data order of a run: an epoch is ceil(max(|S|, |Q|) / batch) steps; the batch at a position is a pure function
 *  of (seed, epoch, step in it), so a resume draws the same batches. */
function dataOrder(cfg: CycleConfig, data: CycleData) {
  const bs = cfg.batchSize;
  const n = Math.max(data.S.length, data.Q.length);
  const stepsPerEpoch = Math.ceil(n / bs);
  const totalSteps = cfg.maxSteps > 0 ? Math.min(cfg.maxSteps, stepsPerEpoch * cfg.epochs) : stepsPerEpoch * cfg.epochs;
  const orderS = new EpochOrder(cfg.seed, 'S', data.S.length);
  const orderQ = new EpochOrder(cfg.seed, 'Q', data.Q.length);
  /** The batch at `p`: the larger set is walked once per epoch (the last batch may be short); the smaller one wraps. */
  const batch = (p: Position) => {
    const ks = Array.from({ length: Math.min(bs, n - p.stepInEpoch * bs) }, (_, j) => p.stepInEpoch * bs + j);
    return {
      S: ks.map((k) => data.S[orderS.at(p.epoch, k)] as string),
      Q: ks.map((k) => data.Q[orderQ.at(p.epoch, k)] as string),
    };
  };
  return { stepsPerEpoch, totalSteps, batch };
}

/**
 * The lexical silver pairs of the E-cycle at a step (silverMix; none without it): drawn from (seed, step), so a resume
 * draws the same ones. With --silver-refresh, `refresh` replaces them from S2E's outputs (silver.ts) and keeps the
 * refreshed pool in RUN/silver-pool.json, which a resume reads back.
 */
function silverSource(
  cfg: CycleConfig,
  data: CycleData,
  log: (line: string) => void,
  run: { runDir: string; resumed: boolean; lead: boolean },
) {
  const lexicalPairs =
    cfg.silverMix > 0 ? lexicalSilverPairs(data.S, data.Q, { filter: cfg.silverFilter, prune: cfg.silverPrune }) : [];
  if (cfg.silverMix > 0)
    log(`silver mix: ${lexicalPairs.length} lexical silver pairs (sentences of S with a gazetteer match from Q)`);
  const poolFile = path.join(run.runDir, SILVER_POOL_FILE);
  let pairs: SpannedPair[] = lexicalPairs;
  const names = cfg.silverSwap > 0 ? namesByType(data.Q) : null;
  if (run.resumed && cfg.silverRefresh && fs.existsSync(poolFile))
    pairs = readJsonFile<{ step: number; pairs: SilverPair[] }>(poolFile).pairs;
  return {
    lexicalPairs,
    batch: (step: number) => {
      const decay = cfg.silverDecaySteps > 0 ? Math.max(0, 1 - step / cfg.silverDecaySteps) : 1;
      // Per E-cycle pair (K of them per Q with e2sSamples), so the batch's silver share does not depend on K.
      const k = pairs.length === 0 ? 0 : Math.round(cfg.batchSize * cfg.e2sSamples * cfg.silverMix * decay);
      const rng = new Rng(cfg.seed * 7 + 104729 * (step + 1));
      const drawn = Array.from({ length: k }, () => pairs[rng.int(pairs.length)]!);
      if (!names) return drawn;
      const swapRng = rng.fork('silver-swap');
      return drawn.map((p) => swapNames(p, names, cfg.silverSwap, swapRng));
    },
    /** S2E's outputs for the lexical pairs' sentences at `step`; returns how many pairs they replaced. */
    refresh: (outputs: readonly string[], step: number): number => {
      const r = refreshSilverPairs(lexicalPairs, outputs);
      pairs = r.pairs;
      if (run.lead) writeJsonFile(poolFile, { step, pairs });
      return r.refreshed;
    },
  };
}

/** The optional unsupervised warm-up (warmup.ts) before the first cycle. Part of the run: a resume after the first
 *  checkpoint (written right after it) does not repeat it. */
async function warmUp(models: CycleModels, data: CycleData, cfg: CycleConfig, out: RunLog): Promise<void> {
  const pairs =
    cfg.warmup === 'lexical'
      ? lexicalSilverPairs(data.S, data.Q, { filter: cfg.silverFilter, prune: cfg.silverPrune })
      : fragmentPairs(data.S);
  const tw = Date.now();
  const bs = cfg.batchSize;
  const what = cfg.warmup === 'lexical' ? ` (sentences of S with a gazetteer match from Q, of ${data.S.length})` : '';
  out.log(
    `warm-up (${cfg.warmup}, ${cfg.warmupDirections}): ${cfg.warmupSteps} steps x ${bs} on ${pairs.length} pairs${what} ...`,
  );
  const w = await pairWarmup(models.s2e, models.e2s, models.tokenizer, pairs, {
    steps: cfg.warmupSteps,
    batchSize: bs,
    lr: cfg.warmupLr,
    seed: cfg.seed,
    s2ePrefix: cfg.s2ePrefix,
    e2sPrefix: cfg.e2sPrefix,
    directions: cfg.warmupDirections,
    precision: cfg.precision,
    ...(cfg.warmup === 'lexical' && cfg.silverSwap > 0
      ? { swap: { names: namesByType(data.Q), p: cfg.silverSwap } }
      : {}),
  });
  const seconds = (Date.now() - tw) / 1000;
  const { warmup: kind, warmupDirections: directions, warmupSteps: steps } = cfg;
  out.warmup({ kind, directions, steps, pairs: pairs.length, s2eLoss: w.s2eLoss, e2sLoss: w.e2sLoss, seconds });
}

/** A cycle run's folder: what marks a previous run, and what --force deletes (used by the CLI and the library). */
export const CYCLE_RUN: RunDirSpec = {
  command: 'train',
  markers: ['config.json', RUN_FILES.metrics, ...CHECKPOINT_ENTRIES, 'best'],
  clear: ['config.json', RUN_FILES.metrics, ...CHECKPOINT_ENTRIES, 'best', INPUTS_FILE, 'curves.svg', SILVER_POOL_FILE],
};
