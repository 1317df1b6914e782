// Optimizers over a fixed list of parameters; each step() is a single native call over all of them.
// State tensors are allocated up front (zeros, as PyTorch allocates them lazily on the first step) and
// are owned by the optimizer: dispose() frees them.
import { N } from './native';
import { DType } from './dtype';
import { Tensor, idOf } from './tensor';
import { zeros } from './create';

export interface OptimizerStateDict {
  /** optimizer steps taken */
  step: number;
  /** state tensors, named "<paramIndex>.<name>"; copies, owned by the caller */
  tensors: Record<string, Tensor>;
  hyper: Record<string, unknown>;
}

/** Returns the total gradient norm before clipping (torch.nn.utils.clip_grad_norm_, L2). */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  return N.clipGradNorm(
    Int32Array.from(params, (p) => idOf(p, 'clipGradNorm')),
    maxNorm,
  );
}

function stateDtype(p: Tensor): DType {
  // Adafactor keeps fp32 state for half/bf16 params (HF converts the grad to fp32 first).
  return p.dtype === 'bfloat16' || p.dtype === 'float16' ? 'float32' : p.dtype;
}

abstract class Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  /** steps taken (step() calls) */
  stepCount = 0;
  /** per-param step counts; a param without a grad in a step is skipped, like PyTorch */
  protected readonly paramSteps: Float64Array;
  protected readonly state: Map<string, Tensor> = new Map();
  private disposed = false;

  protected constructor(params: readonly Tensor[], lr: number) {
    if (params.length === 0) throw new Error('optimizer: empty parameter list');
    this.params = params;
    this.lr = lr;
    this.paramSteps = new Float64Array(params.length);
  }

  protected addState(i: number, name: string, t: Tensor): number {
    this.state.set(`${i}.${name}`, t.keep());
    return t._id;
  }

  protected paramIds(op: string): Int32Array {
    if (this.disposed) throw new Error(`optimizer used after dispose (op: ${op})`);
    return Int32Array.from(this.params, (p) => idOf(p, op));
  }

  abstract step(): void;
  protected abstract hyper(): Record<string, unknown>;
  protected abstract loadHyper(h: Record<string, unknown>): void;

  /** Drops every parameter's gradient (set_to_none). */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  stateDict(): OptimizerStateDict {
    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of this.state) tensors[k] = t.clone();
    return { step: this.stepCount, tensors, hyper: { ...this.hyper(), paramSteps: Array.from(this.paramSteps) } };
  }

  /** Restores state saved by stateDict(), copying the values (the caller keeps ownership of s.tensors). */
  loadStateDict(s: OptimizerStateDict): void {
    for (const [k, t] of this.state) {
      const src = s.tensors[k];
      if (!src) throw new Error(`loadStateDict: missing state tensor '${k}'`);
      if (src.shape.join(',') !== t.shape.join(',')) {
        throw new Error(`loadStateDict: '${k}' has shape [${src.shape}] but the optimizer expects [${t.shape}]`);
      }
      t.copy_(src);
    }
    const ps = s.hyper.paramSteps;
    if (!Array.isArray(ps) || ps.length !== this.paramSteps.length) {
      throw new Error('loadStateDict: hyper.paramSteps missing or of the wrong length');
    }
    this.paramSteps.set(ps as number[]);
    this.stepCount = s.step;
    this.loadHyper(s.hyper);
  }

  /** Forget all state (moments, step counts), keeping the hyper-parameters: a fresh optimizer on the same parameters. */
  reset(): void {
    for (const t of this.state.values()) t.fill_(0);
    this.paramSteps.fill(0);
    this.stepCount = 0;
  }

  dispose(): void {
    for (const t of this.state.values()) t.dispose();
    this.state.clear();
    this.disposed = true;
  }
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** torch.optim.AdamW (decoupled weight decay, no amsgrad); defaults as PyTorch. */
export class AdamW extends Optimizer {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  private readonly expAvg: Int32Array;
  private readonly expAvgSq: Int32Array;

  constructor(params: readonly Tensor[], opts: AdamWOptions = {}) {
    super(params, opts.lr ?? 1e-3);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 1e-2;
    this.expAvg = new Int32Array(params.length);
    this.expAvgSq = new Int32Array(params.length);
    params.forEach((p, i) => {
      const o = { dtype: p.dtype, device: p.device };
      this.expAvg[i] = this.addState(i, 'exp_avg', zeros(p.shape, o));
      this.expAvgSq[i] = this.addState(i, 'exp_avg_sq', zeros(p.shape, o));
    });
  }

  step(): void {
    N.adamw(
      this.paramIds('AdamW.step'),
      this.expAvg,
      this.expAvgSq,
      this.paramSteps,
      this.lr,
      this.betas[0],
      this.betas[1],
      this.eps,
      this.weightDecay,
    );
    this.stepCount++;
  }

  protected hyper(): Record<string, unknown> {
    return { lr: this.lr, betas: [...this.betas], eps: this.eps, weightDecay: this.weightDecay };
  }
  protected loadHyper(h: Record<string, unknown>): void {
    if (typeof h.lr === 'number') this.lr = h.lr;
    if (Array.isArray(h.betas)) this.betas = [Number(h.betas[0]), Number(h.betas[1])];
    if (typeof h.eps === 'number') this.eps = h.eps;
    if (typeof h.weightDecay === 'number') this.weightDecay = h.weightDecay;
  }
}

export interface AdafactorOptions {
  lr?: number | null;
  eps?: [number, number];
  clipThreshold?: number;
  decayRate?: number;
  beta1?: number | null;
  weightDecay?: number;
  scaleParameter?: boolean;
  relativeStep?: boolean;
  warmupInit?: boolean;
}

/**
 * transformers.optimization.Adafactor, same defaults (lr=null, relative step, parameter scaling).
 * T5 fine-tuning usually uses { lr: 1e-3, scaleParameter: false, relativeStep: false, warmupInit: false }.
 * With relativeStep the `lr` field is unused (the step size comes from the step count).
 */
export class Adafactor extends Optimizer {
  eps: [number, number];
  clipThreshold: number;
  decayRate: number;
  beta1: number | null;
  weightDecay: number;
  scaleParameter: boolean;
  relativeStep: boolean;
  warmupInit: boolean;
  private readonly ids: { a: Int32Array; r: Int32Array; c: Int32Array; v: Int32Array };

  constructor(params: readonly Tensor[], opts: AdafactorOptions = {}) {
    const lr = opts.lr ?? null;
    const relativeStep = opts.relativeStep ?? true;
    const warmupInit = opts.warmupInit ?? false;
    if (lr !== null && relativeStep) throw new Error('Adafactor: cannot combine a manual lr with relativeStep=true');
    if (warmupInit && !relativeStep) throw new Error('Adafactor: warmupInit=true requires relativeStep=true');
    super(params, lr ?? NaN);
    this.eps = opts.eps ?? [1e-30, 1e-3];
    this.clipThreshold = opts.clipThreshold ?? 1.0;
    this.decayRate = opts.decayRate ?? -0.8;
    this.beta1 = opts.beta1 ?? null;
    this.weightDecay = opts.weightDecay ?? 0;
    this.scaleParameter = opts.scaleParameter ?? true;
    this.relativeStep = relativeStep;
    this.warmupInit = warmupInit;
    const n = params.length;
    this.ids = { a: new Int32Array(n), r: new Int32Array(n), c: new Int32Array(n), v: new Int32Array(n) };
    params.forEach((p, i) => {
      const o = { dtype: stateDtype(p), device: p.device };
      const s = p.shape;
      if (this.beta1 !== null) this.ids.a[i] = this.addState(i, 'exp_avg', zeros(s, o));
      if (s.length >= 2) {
        this.ids.r[i] = this.addState(i, 'exp_avg_sq_row', zeros(s.slice(0, -1), o));
        this.ids.c[i] = this.addState(i, 'exp_avg_sq_col', zeros([...s.slice(0, -2), s[s.length - 1]!], o));
      } else {
        this.ids.v[i] = this.addState(i, 'exp_avg_sq', zeros(s, o));
      }
    });
  }

  step(): void {
    if (!this.relativeStep && !Number.isFinite(this.lr))
      throw new Error('Adafactor: lr must be set when relativeStep=false');
    N.adafactor(
      this.paramIds('Adafactor.step'),
      this.ids.a,
      this.ids.r,
      this.ids.c,
      this.ids.v,
      this.paramSteps,
      this.relativeStep ? NaN : this.lr,
      this.eps[0],
      this.eps[1],
      this.clipThreshold,
      this.decayRate,
      this.beta1 ?? NaN,
      this.weightDecay,
      this.scaleParameter,
      this.relativeStep,
      this.warmupInit,
    );
    this.stepCount++;
  }

  protected hyper(): Record<string, unknown> {
    return {
      lr: Number.isFinite(this.lr) ? this.lr : null,
      eps: [...this.eps],
      clipThreshold: this.clipThreshold,
      decayRate: this.decayRate,
      beta1: this.beta1,
      weightDecay: this.weightDecay,
      scaleParameter: this.scaleParameter,
      relativeStep: this.relativeStep,
      warmupInit: this.warmupInit,
    };
  }
  protected loadHyper(h: Record<string, unknown>): void {
    if (typeof h.lr === 'number') this.lr = h.lr;
    if (typeof h.clipThreshold === 'number') this.clipThreshold = h.clipThreshold;
    if (typeof h.decayRate === 'number') this.decayRate = h.decayRate;
    if (typeof h.weightDecay === 'number') this.weightDecay = h.weightDecay;
  }
}
