// Seq2seq training utilities: collation with -100 label padding, teacher forcing (decoder
// inputs = labels shifted right behind decoder_start_token_id), gradient accumulation,
// gradient clipping and optional bf16 autocast. Each micro-batch runs inside tidy().

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
  return { inputIds: T.tensor(ids, [b, s], 'int64'), attentionMask: T.tensor(mask, [b, s], 'int64'), labels: T.tensor(labels, [b, t], 'int64') };
}

export interface Optimizer {
  step(): void;
  zeroGrad(): void;
  lr: number;
}

export interface TrainerOptions {
  /** bf16 autocast for the forward pass (backward follows autocast's casts). */
  autocast?: 'bfloat16' | null;
  /** Clip the global gradient norm before each optimizer step. */
  maxGradNorm?: number | null;
  /** Learning rate as a function of the optimizer step (0-based), applied before each step. */
  schedule?: ((step: number) => number) | null;
}

export interface StepResult {
  /** Token-weighted mean loss over all micro-batches. */
  loss: number;
  tokens: number;
  gradNorm: number | null;
}

function countTargets(examples: Seq2SeqExample[]): number {
  return examples.reduce((a, e) => a + e.target.length, 0);
}

/**
 * Mean cross-entropy of one batch (scalar tensor); the model's train/eval mode decides dropout.
 * With autocast the forward runs in bf16 where autocast allows; the loss is always fp32.
 */
export function seq2seqLoss(model: T5ForConditionalGeneration, batch: Seq2SeqTensors, autocast: 'bfloat16' | null = null): Tensor {
  const run = () => model.forward({ inputIds: batch.inputIds, attentionMask: batch.attentionMask, labels: batch.labels }).loss!;
  return autocast ? T.autocast(run, autocast) : run();
}

export class Seq2SeqTrainer {
  stepCount = 0;
  readonly params: Tensor[];
  constructor(readonly model: T5ForConditionalGeneration, readonly optimizer: Optimizer, readonly opts: TrainerOptions = {}) {
    this.params = model.parameters();
  }

  /**
   * One optimizer step over `microBatches` (gradient accumulation). Each micro-batch loss is
   * weighted by its share of target tokens, so the gradient equals that of one big batch.
   */
  step(microBatches: Seq2SeqExample[][]): StepResult {
    if (microBatches.length === 0) throw new Error('Seq2SeqTrainer.step: no micro-batches');
    this.model.train();
    const total = microBatches.reduce((a, m) => a + countTargets(m), 0);
    let lossSum = 0;
    for (const mb of microBatches) {
      const w = countTargets(mb) / total;
      lossSum += T.tidy(() => {
        const loss = seq2seqLoss(this.model, collate(mb, this.model.config.padTokenId), this.opts.autocast ?? null);
        loss.mul(w).backward();
        return loss.item() * w;
      });
    }
    let gradNorm: number | null = null;
    if (this.opts.maxGradNorm) gradNorm = T.clipGradNorm(this.params, this.opts.maxGradNorm);
    if (this.opts.schedule) this.optimizer.lr = this.opts.schedule(this.stepCount);
    this.optimizer.step();
    this.optimizer.zeroGrad();
    this.stepCount++;
    return { loss: lossSum, tokens: total, gradNorm };
  }

  /** Mean loss without gradients or dropout (restores the previous mode). */
  evaluate(batch: Seq2SeqExample[]): number {
    const was = this.model.training;
    this.model.eval();
    try {
      return T.noGrad(() => T.tidy(() => seq2seqLoss(this.model, collate(batch, this.model.config.padTokenId), this.opts.autocast ?? null).item()));
    } finally {
      this.model.train(was);
    }
  }
}
