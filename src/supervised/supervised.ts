// Supervised S2E fine-tuning on ⟨sentence → entity sequence⟩ pairs: the paper's Table 4 baseline
// and the base-model gate. Uses the cycle trainer's S2E step (trainStep) unchanged.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import { formatEntitySequence } from '../data/entity-seq';
import { Rng } from '../data/rng';
import type { LabeledSentence } from '../data/types';
import type { Verbalizer } from '../data/verbalizer';
import type { T5ForConditionalGeneration } from '../t5/model';
import type { T5Tokenizer } from '../t5/tokenizer';
import type { Precision } from '../t5/precision';
import { nonFiniteStop } from '../t5/train';
import { saveModelDir, type ModelMeta } from '../cycle/model-io';
import { Direction, evalLoss, trainStep } from '../cycle/seq2seq';
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
  losses: number[];
  seconds: number;
  /** Optimizer steps run (fewer than `steps` when patience stopped the run). */
  steps: number;
  /** Epochs over the pairs, fractional. */
  epochs: number;
  /** With dev pairs: the step whose model was kept and its dev loss; every evaluation in order. */
  bestStep: number | null;
  bestDevLoss: number | null;
  evals: { step: number; devLoss: number }[];
  stoppedEarly: boolean;
  /** Stopped by `signal` after a step: the output holds that step's model (with dev pairs: the best evaluated one). */
  interrupted: boolean;
}

export async function trainSupervised(
  model: T5ForConditionalGeneration,
  tokenizer: T5Tokenizer,
  pairs: readonly Pair[],
  cfg: SupervisedConfig,
  outDir: string,
  meta: Omit<ModelMeta, 'task' | 'prefix'>,
  log: (l: string) => void = () => undefined,
  signal?: AbortSignal,
): Promise<SupervisedResult> {
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
  // Data parallel (T.dist): every rank walks the same batches and trains on its shard; rank 0 writes. Dropout draws
  // are the run's seed on rank 0 and their own on the others; every rank starts from rank 0's weights.
  const lead = T.dist.rank() === 0;
  await T.dist.broadcast(model.parameters());
  const opt = new T.AdamW(model.parameters(), { lr: cfg.lr, weightDecay: cfg.weightDecay });
  T.manualSeed(cfg.seed + 7919 * T.dist.rank()); // dropout draws: the run is a function of its config
  const tr = dir.trainer(opt, { maxGradNorm: cfg.maxGradNorm > 0 ? cfg.maxGradNorm : null });
  const metrics = path.join(outDir, 'metrics.jsonl');
  // Only rank 0 writes files.
  const append = (rec: object) => lead && fs.appendFileSync(metrics, JSON.stringify(rec) + '\n');
  const save = () => lead && saveModelDir(outDir, model, tokenizer, fullMeta);
  if (lead) {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(metrics, '');
  }
  const t0 = Date.now();
  const losses: number[] = [];
  const fullMeta: ModelMeta = { task: 's2e', prefix: cfg.prefix, ...meta };
  const dev = cfg.dev;
  const evals: { step: number; devLoss: number }[] = [];
  let bestStep: number | null = null;
  let bestDevLoss: number | null = null;
  let sinceBest = 0;
  let stoppedEarly = false;
  let interrupted = false;
  let stepsRun = 0;
  // Dev loss, and the output directory's model replaced by this one when it is the best so far (saveModelDir writes
  // each file atomically and only the weights differ between saves, so a kill leaves the previous best).
  const evaluate = async (step: number, epochs: number): Promise<boolean> => {
    if (!dev) return false;
    const r = await evalLoss(
      dir,
      tr,
      dev.pairs.map((p) => p.sentence),
      dev.pairs.map((p) => p.sequence),
      cfg.batchSize,
    );
    evals.push({ step, devLoss: r.loss });
    const improved = bestDevLoss === null || r.loss < bestDevLoss;
    if (improved) {
      bestDevLoss = r.loss;
      bestStep = step;
      sinceBest = 0;
      save();
    } else sinceBest++;
    append({ type: 'eval', step, epoch: epochs, devLoss: r.loss, best: improved });
    log(
      `eval @ step ${step} (epoch ${epochs.toFixed(2)}): dev loss ${r.loss.toFixed(4)}${improved ? '  (best)' : `  (best ${(bestDevLoss as number).toFixed(4)} @ step ${String(bestStep)}, ${sinceBest}/${dev.patience || '-'} without improvement)`}`,
    );
    return dev.patience > 0 && sinceBest >= dev.patience;
  };
  let order: number[] = [];
  let epoch = -1;
  let k = 0;
  let acc = 0;
  try {
    for (let step = 0; step < cfg.steps; step++) {
      const src: string[] = [];
      const tgt: string[] = [];
      while (src.length < cfg.batchSize) {
        if (k >= order.length) {
          epoch++;
          k = 0;
          order = new Rng(cfg.seed).fork(`supervised/epoch${epoch}`).permutation(pairs.length);
        }
        const p = pairs[order[k++] as number] as Pair;
        src.push(p.sentence);
        tgt.push(p.sequence);
      }
      const r = await trainStep(dir, tr, T.dist.shard(src), T.dist.shard(tgt)).catch((e: unknown) => {
        throw nonFiniteStop(
          e,
          `step ${step + 1}:`,
          `${bestStep === null ? `no model was saved to ${outDir}` : `${outDir} holds the best model so far (step ${String(bestStep)})`}; lower --lr`,
        );
      });
      losses.push(r.loss);
      acc += r.loss;
      const elapsed = (Date.now() - t0) / 1000;
      append({
        type: 'step',
        step: step + 1,
        epoch: epoch + 1,
        epochs: ((step + 1) * cfg.batchSize) / pairs.length,
        loss: r.loss,
        gradNorm: r.gradNorm,
        elapsed,
      });
      if ((step + 1) % cfg.logEvery === 0 || step + 1 === cfg.steps) {
        const rate = (step + 1) / Math.max(elapsed, 1e-9);
        log(
          `step ${step + 1}/${cfg.steps} (epoch ${epoch + 1}) | loss ${(acc / ((step % cfg.logEvery) + 1)).toFixed(4)} | ${(rate * cfg.batchSize).toFixed(1)} pairs/s | ETA ${Math.round((cfg.steps - step - 1) / rate)}s`,
        );
        acc = 0;
      }
      stepsRun = step + 1;
      // An abort ends the run like its last step: evaluated (with dev pairs) and saved below.
      interrupted = (await T.dist.anyRank(signal?.aborted === true)) && step + 1 < cfg.steps;
      const last = step + 1 === cfg.steps || interrupted;
      if (dev && ((step + 1) % dev.evalEvery === 0 || last)) {
        if ((await evaluate(step + 1, ((step + 1) * cfg.batchSize) / pairs.length)) && !last) {
          stoppedEarly = true;
          log(
            `stopped early: dev loss has not improved for ${dev.patience} evaluations; best step ${String(bestStep)}`,
          );
          break;
        }
      }
      if (interrupted) {
        log(`interrupted at step ${step + 1}`);
        break;
      }
    }
  } finally {
    opt.dispose();
  }
  if (!dev) save();
  if (dir.truncated > 0) log(`note: ${dir.truncated} sequences were cut to the token limits`);
  return {
    losses,
    seconds: (Date.now() - t0) / 1000,
    steps: stepsRun,
    epochs: (stepsRun * cfg.batchSize) / pairs.length,
    bestStep,
    bestDevLoss,
    evals,
    stoppedEarly,
    interrupted,
  };
}

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

/** train-supervised's output: a model directory with its metrics.jsonl (what marks a previous run, what --force deletes). */
export const SUPERVISED_RUN: RunDirSpec = {
  command: 'train-supervised',
  resumable: false,
  markers: ['metrics.jsonl', 'config.json', 'model.safetensors', 'model.safetensors.index.json'],
  clear: [
    'metrics.jsonl',
    'config.json',
    'model.safetensors',
    'model.safetensors.index.json',
    'generation_config.json',
    'cyclener.json',
    'tokenizer.json',
    'spiece.model',
  ],
};
