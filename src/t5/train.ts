// Seq2seq training utilities: collation with -100 label padding, teacher forcing (decoder
// inputs = labels shifted right behind decoder_start_token_id), gradient accumulation,
// gradient clipping and optional bf16 autocast. Each micro-batch runs inside tidy(). Optionally each micro-batch is
// split into length-grouped ones (groupByLength) so that little of the compute goes to padding.

import * as T from '../tensor';
import type { Tensor } from '../tensor';
import { T5ForConditionalGeneration } from './model';

export interface Seq2SeqExample {
  /** Source ids, `</s>` included. */
  source: number[];
  /** Target ids, `</s>` included. */
  target: number[];
}

export interface Seq2SeqTensors {
  inputIds: Tensor;
  attentionMask: Tensor;
  labels: Tensor;
}

/** Right-pad sources with pad and targets with -100 (ignored by the loss). */
export function collate(examples: Seq2SeqExample[], padId: number): Seq2SeqTensors {
  if (examples.length === 0) throw new Error('collate: empty batch');
  const b = examples.length;
  const s = Math.max(...examples.map((e) => e.source.length));
  const t = Math.max(...examples.map((e) => e.target.length));
  if (s === 0 || t === 0) throw new Error('collate: empty source or target sequence');
  const ids = new Int32Array(b * s).fill(padId);
  const mask = new Int32Array(b * s);
  const labels = new Int32Array(b * t).fill(-100);
  examples.forEach((e, i) => {
    ids.set(e.source, i * s);
    mask.fill(1, i * s, i * s + e.source.length);
    labels.set(e.target, i * t);
  });
  return {
    inputIds: T.tensor(ids, [b, s], 'int64'),
    attentionMask: T.tensor(mask, [b, s], 'int64'),
    labels: T.tensor(labels, [b, t], 'int64'),
  };
}

export interface Optimizer {
  step(): void;
  zeroGrad(): void;
  lr: number;
}

/** Positions of collated batches: real tokens and padded lengths (B * max length), sources and targets. */
export interface PaddingStats {
  sourceTokens: number;
  sourcePositions: number;
  targetTokens: number;
  targetPositions: number;
}

export function newPaddingStats(): PaddingStats {
  return { sourceTokens: 0, sourcePositions: 0, targetTokens: 0, targetPositions: 0 };
}

/** Add the positions `batches` collate to (into `into`, also returned). */
export function addPadding(into: PaddingStats, batches: readonly Seq2SeqExample[][]): PaddingStats {
  for (const b of batches) {
    if (b.length === 0) continue;
    let s = 0,
      t = 0;
    for (const e of b) {
      into.sourceTokens += e.source.length;
      into.targetTokens += e.target.length;
      s = Math.max(s, e.source.length);
      t = Math.max(t, e.target.length);
    }
    into.sourcePositions += b.length * s;
    into.targetPositions += b.length * t;
  }
  return into;
}

/** Share of padded positions: source, target and both together (0 when nothing was collated). */
export function paddingShare(p: PaddingStats): { source: number; target: number; all: number } {
  const share = (real: number, pos: number) => (pos > 0 ? 1 - real / pos : 0);
  return {
    source: share(p.sourceTokens, p.sourcePositions),
    target: share(p.targetTokens, p.targetPositions),
    all: share(p.sourceTokens + p.targetTokens, p.sourcePositions + p.targetPositions),
  };
}

export interface GroupOptions {
  /** Largest share of padded positions (source + target) over all groups of the batch. */
  maxPadFraction?: number;
  /**
   * What one more micro-batch costs, in collated positions: per-micro-batch work that does not scale with its size
   * (weight and dense embedding gradients, autocast's weight casts, op dispatch).
   */
  groupCost?: number;
}

/**
 * Fastest settings measured on pretraining batches of the 11M model at 1 thread (default mixture; docs/pretraining.md):
 * fp32 group cost 64-512 -> 1232/1158/1158/1233 ms per step (128: 17% padding); under bf16 autocast a padded position
 * is cheaper and a micro-batch dearer (casts), so 384-1024 -> 826/822/805/833 ms vs 941 ms at 128 (512: 28% padding).
 */
export function groupDefaults(autocast: 'bfloat16' | null = null): Required<GroupOptions> {
  return autocast ? { maxPadFraction: 0.35, groupCost: 512 } : { maxPadFraction: 0.2, groupCost: 128 };
}

/**
 * Split a batch into micro-batches of similar lengths. Examples are ordered by (source length, target length, index);
 * a dynamic program cuts that order into the groups of least collated positions + groupCost per group, with the cost
 * halved until at most maxPadFraction of all positions are padding (a per-group bound would leave mixed-objective
 * batches in many tiny groups). Depends on the lengths and order only (deterministic); every example once.
 */
export function groupByLength<E extends Seq2SeqExample>(examples: readonly E[], opts: GroupOptions = {}): E[][] {
  const maxPad = opts.maxPadFraction ?? groupDefaults().maxPadFraction;
  const n = examples.length;
  if (n <= 1) return n === 0 ? [] : [[...examples]];
  const order = examples
    .map((_, i) => i)
    .sort((a, b) => {
      const x = examples[a]!,
        y = examples[b]!;
      return x.source.length - y.source.length || x.target.length - y.target.length || a - b;
    });
  const src = order.map((i) => examples[i]!.source.length);
  const tgt = order.map((i) => examples[i]!.target.length);
  const real = src.reduce((a, v) => a + v, 0) + tgt.reduce((a, v) => a + v, 0);
  const best = new Float64Array(n + 1);
  const positions = new Float64Array(n + 1);
  const from = new Int32Array(n + 1);
  // Below 1/n per group, no padded position is worth saving a group: that last pass has no padding at all.
  for (let cost = opts.groupCost ?? groupDefaults().groupCost; ; cost /= 2) {
    for (let j = 1; j <= n; j++) {
      best[j] = Infinity;
      let s = 0,
        t = 0;
      for (let i = j - 1; i >= 0; i--) {
        s = Math.max(s, src[i]!);
        t = Math.max(t, tgt[i]!);
        const pos = (j - i) * (s + t);
        const c = best[i]! + pos + cost;
        if (c < best[j]!) {
          best[j] = c;
          from[j] = i;
          positions[j] = positions[i]! + pos;
        }
      }
    }
    if (1 - real / positions[n]! <= maxPad || cost * n < 1) break;
  }
  const groups: E[][] = [];
  for (let j = n; j > 0; j = from[j]!) groups.push(order.slice(from[j]!, j).map((i) => examples[i]!));
  return groups.reverse();
}

export interface TrainerOptions {
  /** bf16 autocast for the forward pass (backward follows autocast's casts). */
  autocast?: 'bfloat16' | null;
  /** Clip the global gradient norm before each optimizer step. */
  maxGradNorm?: number | null;
  /** Learning rate as a function of the optimizer step (0-based), applied before each step. */
  schedule?: ((step: number) => number) | null;
  /** Split every micro-batch (and evaluate()'s batch) with groupByLength (unset fields: groupDefaults(autocast));
   * null/absent = collate as given. */
  groupByLength?: GroupOptions | null;
}

export interface StepResult {
  /** Token-weighted mean loss over all micro-batches. */
  loss: number;
  tokens: number;
  gradNorm: number | null;
  /** Positions of the batches actually collated (after grouping). */
  padding: PaddingStats;
}

/**
 * A step whose loss or gradient norm is NaN/Inf (a diverged model, a too high learning rate). Thrown by
 * Seq2SeqTrainer.step before the optimizer runs, so the weights are those of the last good step; callers stop the
 * run and save nothing (they add which model, the step and what to change).
 */
export class NonFiniteStepError extends Error {
  constructor(
    readonly what: 'loss' | 'gradient norm',
    readonly value: number,
    readonly step: number,
  ) {
    super(`training step ${step}: ${what} is ${value} (the step was not applied)`);
    this.name = 'NonFiniteStepError';
  }
}

/** A NaN/Inf step as a run's one-line error, "<where> loss is NaN — stopping; <then>"; other errors unchanged. */
export function nonFiniteStop(e: unknown, where: string, then: string): unknown {
  return e instanceof NonFiniteStepError ? new Error(`${where} ${e.what} is ${e.value} — stopping; ${then}`) : e;
}

function countTargets(examples: Seq2SeqExample[]): number {
  return examples.reduce((a, e) => a + e.target.length, 0);
}

/**
 * Mean cross-entropy of one batch (scalar tensor); the model's train/eval mode decides dropout.
 * With autocast the forward runs in bf16 where autocast allows; the loss is always fp32.
 */
export function seq2seqLoss(
  model: T5ForConditionalGeneration,
  batch: Seq2SeqTensors,
  autocast: 'bfloat16' | null = null,
): Tensor {
  const run = () => model.loss({ inputIds: batch.inputIds, attentionMask: batch.attentionMask, labels: batch.labels });
  return autocast ? T.autocast(run, autocast) : run();
}

export class Seq2SeqTrainer {
  stepCount = 0;
  readonly params: Tensor[];
  constructor(
    readonly model: T5ForConditionalGeneration,
    readonly optimizer: Optimizer,
    readonly opts: TrainerOptions = {},
  ) {
    this.params = model.parameters();
  }

  /** The micro-batches to collate: `batches` as given, or each one split by length (opts.groupByLength). */
  private groups(batches: readonly Seq2SeqExample[][]): Seq2SeqExample[][] {
    const g = this.opts.groupByLength;
    if (batches.some((b) => b.length === 0)) throw new Error('collate: empty batch');
    if (!g) return [...batches];
    const o = { ...groupDefaults(this.opts.autocast ?? null), ...g };
    return batches.flatMap((b) => groupByLength(b, o));
  }

  /**
   * One optimizer step over `microBatches` (gradient accumulation). Each micro-batch loss is
   * weighted by its share of target tokens, so the gradient equals that of one big batch.
   * In a process group (T.dist) the micro-batches are this rank's shard of the global batch (empty is fine): the
   * weights use the global token count, the gradients and the loss are summed across ranks, and every rank takes the
   * same optimizer step, so N ranks × 1/N of the batch train as 1 process × the whole batch.
   */
  async step(microBatches: Seq2SeqExample[][]): Promise<StepResult> {
    const dp = T.dist.info() !== null;
    if (microBatches.length === 0 && !dp) throw new Error('Seq2SeqTrainer.step: no micro-batches');
    T.governThreads(); // fewer threads while other processes want the cores (src/tensor/runtime.ts)
    // Named in the one-line report of a native crash (src/tensor/runtime.ts, setCrashContext).
    const precision = this.opts.autocast ? ` under ${this.opts.autocast} autocast` : '';
    T.setCrashContext(`during training step ${this.stepCount + 1}${precision}`);
    this.model.train();
    const groups = this.groups(dp ? microBatches.filter((b) => b.length > 0) : microBatches);
    const local = groups.reduce((a, m) => a + countTargets(m), 0);
    const total = dp ? (await T.dist.sumNumbers([local]))[0]! : local;
    if (total === 0) throw new Error('Seq2SeqTrainer.step: no examples on any rank');
    let lossSum = 0;
    for (const mb of groups) {
      const w = countTargets(mb) / total;
      lossSum += T.tidy(() => {
        const loss = seq2seqLoss(this.model, collate(mb, this.model.config.padTokenId), this.opts.autocast ?? null);
        loss.mul(w).backward();
        return loss.item() * w;
      });
    }
    if (dp) lossSum = (await T.dist.allReduceGrads(this.params, [lossSum]))[0]!;
    let gradNorm: number | null = null;
    if (this.opts.maxGradNorm) gradNorm = T.clipGradNorm(this.params, this.opts.maxGradNorm);
    // The loss is already a JS number and clipping's norm comes free: checking them costs nothing, and refusing the
    // step keeps NaN out of the weights (and so out of every checkpoint or model saved afterwards). Both are global
    // numbers, so every rank decides the same.
    const bad = !Number.isFinite(lossSum)
      ? { what: 'loss' as const, v: lossSum }
      : gradNorm !== null && !Number.isFinite(gradNorm)
        ? { what: 'gradient norm' as const, v: gradNorm }
        : null;
    if (bad) {
      this.optimizer.zeroGrad();
      throw new NonFiniteStepError(bad.what, bad.v, this.stepCount + 1);
    }
    if (this.opts.schedule) this.optimizer.lr = this.opts.schedule(this.stepCount);
    this.optimizer.step();
    this.optimizer.zeroGrad();
    this.stepCount++;
    T.setCrashContext(`after training step ${this.stepCount}${precision}`);
    return { loss: lossSum, tokens: total, gradNorm, padding: addPadding(newPaddingStats(), groups) };
  }

  /** Mean loss without gradients or dropout (restores the previous mode); token-weighted over length groups. */
  evaluate(batch: Seq2SeqExample[]): number {
    const was = this.model.training;
    this.model.eval();
    try {
      const groups = this.groups([batch]);
      const mean = (g: Seq2SeqExample[]) =>
        T.noGrad(() =>
          T.tidy(() =>
            seq2seqLoss(this.model, collate(g, this.model.config.padTokenId), this.opts.autocast ?? null).item(),
          ),
        );
      if (groups.length === 1) return mean(groups[0]!);
      const total = groups.reduce((a, m) => a + countTargets(m), 0);
      return groups.reduce((a, g) => a + mean(g) * countTargets(g), 0) / total;
    } finally {
      this.model.train(was);
    }
  }
}
