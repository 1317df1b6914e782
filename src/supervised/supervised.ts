// Supervised S2E fine-tuning on ⟨sentence → entity sequence⟩ pairs: the paper's Table 4 baseline
// and the base-model gate. Uses the cycle trainer's S2E step (trainStep) unchanged; the metrics, checkpoint folder,
// best/patience, seeds and stop reasons are the run kit's (src/run), so it resumes exactly as `train` does.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import { formatEntitySequence } from '../data/entity-seq';
import { Rng } from '../util/rng';
import type { LabeledSentence } from '../data/types';
import type { Verbalizer } from '../data/verbalizer';
import { loadWeightsFromDir, saveCheckpoint } from '../t5/checkpoint';
import type { T5ForConditionalGeneration } from '../t5/model';
import type { T5Tokenizer } from '../t5/tokenizer';
import { DEFAULT_PRECISION, type Precision } from '../t5/precision';
import { nonFiniteStop, type Seq2SeqTrainer } from '../t5/train';
import { saveModelDir, type ModelMeta } from '../cycle/model-io';
import { Direction, evalLoss, trainStep } from '../cycle/seq2seq';
import { freshBest, patienceSpent, recordScore, type BestState } from '../run/best';
import {
  engineRngState,
  findCheckpoint,
  loadOptimizer,
  restoreEngineRng,
  saveOptimizer,
  writeCheckpoint,
  type OptimizerRecord,
} from '../run/checkpoint';
import { checkpointDir, RUN_FILES } from '../run/layout';
import { MetricsLog, type MetricsSink } from '../run/metrics';
import { seedRankEngine } from '../run/seed';
import { signalledOnAnyRank, type StopReason } from '../run/stop';
import { readJsonFile, recoverSwaps } from '../util/fs';
import type { RunDirSpec } from '../util/run-dir';

export interface Pair {
  sentence: string;
  /** Model-level entity sequence ("" = none). */
  sequence: string;
}

export interface SupervisedConfig {
  prefix: string;
  batchSize: number;
  /** Total optimizer steps (epochs are converted by the caller). */
  steps: number;
  lr: number;
  weightDecay: number;
  maxGradNorm: number;
  seed: number;
  maxSourceTokens: number;
  maxTargetTokens: number;
  logEvery: number;
  /** bf16 autocast (default) or fp32. */
  precision?: Precision;
  /**
   * Held-out pairs for model selection: every `evalEvery` steps the teacher-forced dev loss is measured, the output
   * directory holds the model with the lowest one, and training stops after `patience` evaluations without
   * improvement (0 = run all `steps`). Without dev pairs the output is the final model.
   */
  dev?: { pairs: readonly Pair[]; evalEvery: number; patience: number };
}

export interface SupervisedResult {
  /** Losses of the optimizer steps of this call (a resumed run: those after its checkpoint). */
  losses: number[];
  seconds: number;
  /** The step the run reached (fewer than `steps` when patience stopped it or an abort interrupted it). */
  steps: number;
  /** Epochs over the pairs, fractional. */
  epochs: number;
  /** With dev pairs: the step whose model was kept and its dev loss (over the whole run); this call's evaluations. */
  bestStep: number | null;
  bestDevLoss: number | null;
  evals: { step: number; devLoss: number }[];
  stoppedEarly: boolean;
  /** Stopped by `signal` after a step: the output holds that step's model (with dev pairs: the best evaluated one). */
  interrupted: boolean;
  /** Why this call ended: 'steps' (the budget), 'signal' or 'patience'. */
  stoppedBy: StopReason;
}

export interface SupervisedHooks {
  /** Human-readable progress lines. */
  log?: (line: string) => void;
  /** Aborted = stop after the current step; the output holds its model (with dev pairs: the best evaluated one). */
  signal?: AbortSignal;
  /** Gets every metrics record as OUT/metrics.jsonl does (on a resume, the kept ones first). */
  metrics?: MetricsSink;
  /** Write OUT/checkpoint/ (at each evaluation and at the end of the call, Ctrl-C included), so that `resume` can
   *  continue the run exactly. The gate, whose models are thrown away, does without. */
  checkpoint?: boolean;
  /** Continue from OUT/checkpoint/ (none there: start from step 0): the same steps, losses and weights as a run that
   *  was never interrupted. The checkpoint's settings must be `cfg`'s but for the step budget. */
  resume?: boolean;
}

/** Where a run stands: saved in OUT/checkpoint/state.json with the model and the optimizer. */
interface Progress {
  step: number;
  /** Data position: the epoch being walked (-1: none yet) and the next index into its permutation. */
  epoch: number;
  k: number;
  best: BestState;
  stoppedBy: StopReason | null;
}

export async function trainSupervised(
  model: T5ForConditionalGeneration,
  tokenizer: T5Tokenizer,
  pairs: readonly Pair[],
  cfg: SupervisedConfig,
  outDir: string,
  meta: Omit<ModelMeta, 'task' | 'prefix'>,
  hooks: SupervisedHooks = {},
): Promise<SupervisedResult> {
  const log = hooks.log ?? (() => undefined);
  if (pairs.length === 0) throw new Error('train-supervised: no training pairs');
  if (cfg.dev && cfg.dev.pairs.length === 0) throw new Error('train-supervised: no dev pairs');
  if (cfg.dev && !(cfg.dev.evalEvery >= 1)) throw new Error('train-supervised: dev evaluation needs evalEvery >= 1');
  const dir = new Direction(
    model,
    tokenizer,
    cfg.prefix,
    { maxSourceTokens: cfg.maxSourceTokens, maxTargetTokens: cfg.maxTargetTokens },
    cfg.precision,
  );
  // Data parallel (T.dist): every rank walks the same batches and trains on its shard; rank 0 writes.
  const lead = T.dist.rank() === 0;
  const opt = new T.AdamW(model.parameters(), { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const tr = dir.trainer(opt, { maxGradNorm: cfg.maxGradNorm > 0 ? cfg.maxGradNorm : null });
  const { p, ckDir } = await startOrResume(outDir, model, opt, tr, cfg, hooks.resume === true, log);
  const metrics = MetricsLog.open({
    file: lead ? path.join(outDir, RUN_FILES.metrics) : null,
    resumedAt: ckDir ? p.step : null,
    sinks: hooks.metrics ? [hooks.metrics] : [],
    log,
  });
  const fullMeta: ModelMeta = { task: 's2e', prefix: cfg.prefix, ...meta };
  const saveModel = () => lead && saveModelDir(outDir, model, tokenizer, fullMeta);
  const checkpoint = () =>
    lead && hooks.checkpoint === true && saveSupervisedCheckpoint(outDir, model, opt, tr, cfg, p);
  const t0 = Date.now();
  const losses: number[] = [];
  const evals: { step: number; devLoss: number }[] = [];
  const evaluate = devEvaluator(dir, tr, cfg, p.best, metrics, log, () => saveModel());
  const epochsAt = (step: number) => (step * cfg.batchSize) / pairs.length;
  const walk = new PairWalk(pairs, cfg.seed, p);
  let win = { loss: 0, n: 0 };
  const stepsAtStart = p.step;
  let interrupted = false;
  try {
    while (p.stoppedBy === null && !interrupted && p.step < cfg.steps) {
      const { src, tgt } = walk.batch(cfg.batchSize);
      const r = await trainStep(dir, tr, T.dist.shard(src), T.dist.shard(tgt)).catch((e: unknown) => {
        const kept =
          p.best.bestStep === null
            ? `no model was saved to ${outDir}`
            : `${outDir} holds the best model so far (step ${String(p.best.bestStep)})`;
        throw nonFiniteStop(e, `step ${p.step + 1}:`, `${kept}; lower --lr`);
      });
      const step = ++p.step;
      losses.push(r.loss);
      win = { loss: win.loss + r.loss, n: win.n + 1 };
      const elapsed = (Date.now() - t0) / 1000;
      metrics.emit({
        type: 'step',
        step,
        epoch: p.epoch + 1,
        epochs: epochsAt(step),
        loss: r.loss,
        gradNorm: r.gradNorm,
        elapsed,
      });
      if (step % cfg.logEvery === 0 || step === cfg.steps) {
        const rate = (step - stepsAtStart) / Math.max(elapsed, 1e-9);
        log(
          `step ${step}/${cfg.steps} (epoch ${p.epoch + 1}) | loss ${(win.loss / win.n).toFixed(4)} | ${(rate * cfg.batchSize).toFixed(1)} pairs/s | ETA ${Math.round((cfg.steps - step) / rate)}s`,
        );
        win = { loss: 0, n: 0 };
      }
      // An abort ends the run like its last step: evaluated (with dev pairs) and saved below.
      interrupted = (await signalledOnAnyRank(hooks.signal)) && step < cfg.steps;
      const last = step === cfg.steps || interrupted;
      if (cfg.dev && (step % cfg.dev.evalEvery === 0 || last)) {
        const devLoss = await evaluate(step, epochsAt(step));
        evals.push({ step, devLoss });
        if (patienceSpent(p.best, cfg.dev.patience) && !last) {
          p.stoppedBy = 'patience';
          log(
            `stopped early: dev loss has not improved for ${cfg.dev.patience} evaluations; best step ${String(p.best.bestStep)}`,
          );
        } else if (!last) checkpoint();
      }
      if (interrupted) log(`interrupted at step ${step}`);
    }
    if (!cfg.dev) saveModel();
    checkpoint();
    // A run stopped by patience stays stopped (its checkpoint says so); an interrupted one continues on --resume.
    const stoppedBy: StopReason = interrupted ? 'signal' : (p.stoppedBy ?? 'steps');
    metrics.emit({
      type: 'end',
      step: p.step,
      stoppedBy,
      steps: p.step - stepsAtStart,
      seconds: (Date.now() - t0) / 1000,
    });
    if (dir.truncated > 0) log(`note: ${dir.truncated} sequences were cut to the token limits`);
    return {
      losses,
      seconds: (Date.now() - t0) / 1000,
      steps: p.step,
      epochs: epochsAt(p.step),
      bestStep: p.best.bestStep,
      bestDevLoss: p.best.bestScore,
      evals,
      stoppedEarly: stoppedBy === 'patience',
      interrupted: stoppedBy === 'signal',
      stoppedBy,
    };
  } finally {
    opt.dispose();
  }
}

/**
 * The batches of a run: the pairs walked epoch by epoch, each epoch in its own permutation (a function of the seed and
 * the epoch), a batch straddling two epochs where they meet. The position (epoch, k) is the run's Progress, so a
 * resume walks on from where the checkpoint left off.
 */
class PairWalk {
  private order: number[];
  constructor(
    private readonly pairs: readonly Pair[],
    private readonly seed: number,
    private readonly p: Progress,
  ) {
    this.order = p.epoch >= 0 ? this.epochOrder(p.epoch) : [];
  }

  private epochOrder(epoch: number): number[] {
    return new Rng(this.seed).fork(`supervised/epoch${epoch}`).permutation(this.pairs.length);
  }

  batch(size: number): { src: string[]; tgt: string[] } {
    const src: string[] = [];
    const tgt: string[] = [];
    while (src.length < size) {
      if (this.p.k >= this.order.length) {
        this.p.epoch++;
        this.p.k = 0;
        this.order = this.epochOrder(this.p.epoch);
      }
      const pair = this.pairs[this.order[this.p.k++] as number] as Pair;
      src.push(pair.sentence);
      tgt.push(pair.sequence);
    }
    return { src, tgt };
  }
}

/**
 * A fresh run's progress, or (`resume` and OUT/checkpoint/ there) the checkpoint's, with the model, optimizer, trainer
 * and engine RNG restored; then every rank takes rank 0's weights and seeds its dropout draws (seedRankEngine).
 */
async function startOrResume(
  outDir: string,
  model: T5ForConditionalGeneration,
  opt: T.AdamW,
  tr: Seq2SeqTrainer,
  cfg: SupervisedConfig,
  resume: boolean,
  log: (line: string) => void,
): Promise<{ p: Progress; ckDir: string | null }> {
  if (T.dist.rank() === 0) {
    fs.mkdirSync(outDir, { recursive: true });
    for (const note of recoverSwaps(outDir)) log(`${outDir}: ${note}`); // leftovers of a killed run
  }
  const ckDir = resume ? findCheckpoint(outDir) : null;
  const p: Progress = ckDir
    ? loadSupervisedCheckpoint(ckDir, model, opt, tr, cfg)
    : { step: 0, epoch: -1, k: 0, best: freshBest(), stoppedBy: null };
  if (ckDir) log(`resumed from ${ckDir} at step ${p.step}`);
  if (resume && !ckDir) log(`no checkpoint in ${checkpointDir(outDir)}: starting from step 0`);
  await T.dist.broadcast(model.parameters());
  seedRankEngine(cfg.seed, p.step, ckDir !== null); // dropout draws: the run is a function of its config
  return { p, ckDir };
}

/**
 * The dev evaluation: the teacher-forced dev loss, recorded against `best` (the output directory's model is replaced
 * by this one when it is the best so far, by `saveBest`: saveModelDir writes each file atomically and only the weights
 * differ between saves, so a kill leaves the previous best), an `eval` record and a log line. Returns the dev loss.
 */
function devEvaluator(
  dir: Direction,
  tr: Seq2SeqTrainer,
  cfg: SupervisedConfig,
  best: BestState,
  metrics: MetricsLog,
  log: (line: string) => void,
  saveBest: () => void,
): (step: number, epochs: number) => Promise<number> {
  return async (step, epochs) => {
    const dev = cfg.dev!;
    const r = await evalLoss(
      dir,
      tr,
      dev.pairs.map((p) => p.sentence),
      dev.pairs.map((p) => p.sequence),
      cfg.batchSize,
    );
    const improved = recordScore(best, r.loss, step);
    if (improved) saveBest();
    metrics.emit({ type: 'eval', step, epoch: epochs, devLoss: r.loss, best: improved });
    const since = `(best ${(best.bestScore as number).toFixed(4)} @ step ${String(best.bestStep)}, ${best.evalsWithoutImprovement}/${dev.patience || '-'} without improvement)`;
    log(
      `eval @ step ${step} (epoch ${epochs.toFixed(2)}): dev loss ${r.loss.toFixed(4)}${improved ? '  (best)' : `  ${since}`}`,
    );
    return r.loss;
  };
}

/** The settings a resume must share with the checkpoint: all of SupervisedConfig but the step budget and the data. */
type Recipe = Omit<SupervisedConfig, 'steps' | 'dev' | 'logEvery'> & {
  dev: { evalEvery: number; patience: number } | null;
};

const recipeOf = (cfg: SupervisedConfig): Recipe => {
  const { steps: _steps, dev, logEvery: _logEvery, ...rest } = cfg;
  return {
    ...rest,
    precision: cfg.precision ?? DEFAULT_PRECISION,
    dev: dev ? { evalEvery: dev.evalEvery, patience: dev.patience } : null,
  };
};

interface StateFile extends Omit<Progress, 'stoppedBy'> {
  version: 1;
  stoppedBy: StopReason | null;
  recipe: Recipe;
  trainerSteps: number;
  engineRng: string;
  optimizer: OptimizerRecord;
  /** Data-parallel workers of the sitting that wrote it; a resume may use another number. */
  workers: number;
}

/** OUT/checkpoint/: the model (HF layout, fp32), the optimizer moments and state.json (position, best, recipe, RNG). */
function saveSupervisedCheckpoint(
  outDir: string,
  model: T5ForConditionalGeneration,
  opt: T.AdamW,
  tr: Seq2SeqTrainer,
  cfg: SupervisedConfig,
  p: Progress,
): void {
  writeCheckpoint(outDir, (tmp) => {
    saveCheckpoint(tmp, model); // fp32: the resumed run must start from exactly these weights
    const optimizer = saveOptimizer(path.join(tmp, OPTIMIZER_FILE), opt);
    const file: StateFile = {
      version: 1,
      ...p,
      recipe: recipeOf(cfg),
      trainerSteps: tr.stepCount,
      engineRng: engineRngState(),
      optimizer,
      workers: T.dist.worldSize(),
    };
    fs.writeFileSync(path.join(tmp, RUN_FILES.state), JSON.stringify(file, null, 1) + '\n');
  });
}

/** Restore the model, the optimizer, the trainer's step count and the engine RNG from `dir`; refuses a checkpoint
 *  whose settings are not `cfg`'s (only the step budget may change on a resume). */
function loadSupervisedCheckpoint(
  dir: string,
  model: T5ForConditionalGeneration,
  opt: T.AdamW,
  tr: Seq2SeqTrainer,
  cfg: SupervisedConfig,
): Progress {
  const s = readJsonFile<StateFile>(path.join(dir, RUN_FILES.state));
  if (s.version !== 1) throw new Error(`${dir}/${RUN_FILES.state}: unknown version ${String(s.version)}`);
  const now = recipeOf(cfg);
  const diffs = (Object.keys(now) as (keyof Recipe)[]).filter(
    (k) => JSON.stringify(now[k]) !== JSON.stringify(s.recipe[k]),
  );
  if (diffs.length > 0)
    throw new Error(
      `resume: ${dir} was trained with other settings (${diffs.map((k) => `${k}: ${JSON.stringify(s.recipe[k])}, now ${JSON.stringify(now[k])}`).join('; ')}); only the step budget may change`,
    );
  loadWeightsFromDir(model, dir);
  loadOptimizer(path.join(dir, OPTIMIZER_FILE), opt, s.optimizer);
  tr.stepCount = s.trainerSteps;
  restoreEngineRng(s.engineRng);
  return { step: s.step, epoch: s.epoch, k: s.k, best: s.best, stoppedBy: s.stoppedBy };
}

const OPTIMIZER_FILE = 'optimizer.safetensors';

/** `n` random sentences (seeded; all of them when n is absent or ≥ their number). Shared by
 *  `train-supervised --num` and `cyclener gate`, so both see the same sentences for a seed. */
export function sampleSentences<T>(sentences: readonly T[], n: number | undefined, seed: number): T[] {
  if (n === undefined || n >= sentences.length) return [...sentences];
  return new Rng(seed)
    .fork('train-supervised/sample')
    .shuffle([...sentences])
    .slice(0, n);
}

/** Gold ⟨sentence → entity sequence⟩ pairs, types verbalised (the paper's GQ format). */
export function pairsFromSentences(sentences: readonly LabeledSentence[], v: Verbalizer): Pair[] {
  return sentences.map((s) => ({
    sentence: s.text,
    sequence: formatEntitySequence(s.entities.map((e) => ({ surface: e.surface, type: v.verbalize(e.label) }))),
  }));
}

/** train-supervised's output: a model directory with its metrics.jsonl, inputs.json and checkpoint/ (what marks a
 *  previous run, what --force deletes). */
export const SUPERVISED_RUN: RunDirSpec = {
  command: 'train-supervised',
  markers: [
    RUN_FILES.metrics,
    'config.json',
    'model.safetensors',
    'model.safetensors.index.json',
    RUN_FILES.checkpoint,
  ],
  clear: [
    RUN_FILES.metrics,
    RUN_FILES.checkpoint,
    RUN_FILES.inputs,
    'config.json',
    'model.safetensors',
    'model.safetensors.index.json',
    'generation_config.json',
    'cyclener.json',
    'tokenizer.json',
    'spiece.model',
  ],
};
