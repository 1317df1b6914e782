// Learning rate of optimizer step `step` (0-based). Warmup as the GPU script: lr * min(1, (step+1)/warmup).
// linear: then decays linearly to a 5% floor at totalSteps (the GPU script decays over wall time instead, which
//         cannot be resumed exactly, so here it is over steps and needs --steps).
// inverse-sqrt: lr * sqrt(warmup / step) after warmup (T5's schedule); needs no total, so suits time-boxed runs.

export type ScheduleKind = 'linear' | 'inverse-sqrt' | 'constant';
export const SCHEDULES: readonly ScheduleKind[] = ['linear', 'inverse-sqrt', 'constant'];

export interface ScheduleOptions {
  kind: ScheduleKind;
  lr: number;
  warmup: number;
  totalSteps?: number;
}

export function makeSchedule(o: ScheduleOptions): (step: number) => number {
  const w = Math.max(1, o.warmup);
  if (o.kind === 'linear' && !(o.totalSteps && o.totalSteps > 0))
    throw new Error('the linear schedule needs a total number of steps (--steps)');
  return (step) => {
    const warm = Math.min(1, (step + 1) / w);
    if (o.kind === 'constant') return o.lr * warm;
    if (o.kind === 'inverse-sqrt') return o.lr * warm * Math.sqrt(w / Math.max(step + 1, w));
    return o.lr * warm * Math.max(0.05, 1 - step / o.totalSteps!);
  };
}
