// Learning-rate schedules: functions from the (0-based) step count to a learning rate.
export type Schedule = (step: number) => number;

export function constant(lr: number): Schedule {
  return () => lr;
}

/** Linear warmup from 0 to lr over warmupSteps, then linear decay to 0 at totalSteps (HF get_linear_schedule_with_warmup). */
export function linearWarmupDecay(o: { lr: number; warmupSteps: number; totalSteps: number }): Schedule {
  return (step) => {
    if (step < o.warmupSteps) return (o.lr * step) / Math.max(1, o.warmupSteps);
    return o.lr * Math.max(0, (o.totalSteps - step) / Math.max(1, o.totalSteps - o.warmupSteps));
  };
}

/**
 * Inverse square root. Without lr: T5's 1/sqrt(max(step, warmupSteps)) (constant during warmup).
 * With lr: linear warmup to lr, then lr * sqrt(warmupSteps / step) (HF get_inverse_sqrt_schedule).
 */
export function inverseSqrt(o: { lr?: number; warmupSteps: number }): Schedule {
  const w = Math.max(1, o.warmupSteps);
  if (o.lr === undefined) return (step) => 1 / Math.sqrt(Math.max(step, w));
  const lr = o.lr;
  return (step) => (step < o.warmupSteps ? (lr * step) / w : lr * Math.sqrt(w / Math.max(step, 1)));
}
