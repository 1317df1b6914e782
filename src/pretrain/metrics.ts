// What a pretraining sitting reports: the run kit's records (run/metrics.ts: a `step` record per log point with the
// mean train loss since the previous one, an `eval` record per validation, an `end` record per sitting) to
// metrics.jsonl and the other sinks, the progress lines, and the loss curve (loss.svg, drawn by run/plot.ts).

import { newPaddingStats, paddingShare, type PaddingStats, type StepResult } from '../t5/train';
import {
  MetricsLog,
  readMetricsFile,
  RecordsSink,
  type MetricsRecord,
  type MetricsSink,
  type PretrainEvalRecord,
  type PretrainStepRecord,
} from '../run/metrics';
import { curvesSvg, lossAxisMax, shortNumber } from '../run/plot';
import type { StopReason } from '../run/stop';

/** Pretraining records of a metrics.jsonl (older snake_case files read in the new names; a cut line skipped). */
export function readMetrics(file: string): (PretrainStepRecord | PretrainEvalRecord)[] {
  return readMetricsFile(file).filter(isPretrainRecord);
}

const isPretrainRecord = (r: MetricsRecord): r is PretrainStepRecord | PretrainEvalRecord =>
  (r.type === 'step' && 'trainLoss' in r) || (r.type === 'eval' && 'valMean' in r);

/** Train and mean validation loss against tokens seen. */
export function lossCurveSvg(recs: readonly MetricsRecord[], title = 'pretraining loss'): string {
  const steps = recs.filter((r): r is PretrainStepRecord => r.type === 'step' && 'trainLoss' in r);
  const evals = recs.filter((r): r is PretrainEvalRecord => r.type === 'eval' && 'valMean' in r);
  const series = [
    {
      label: 'train',
      color: '#1f77b4',
      axis: 'left' as const,
      markers: false,
      points: steps.map((r) => [r.tokens, r.trainLoss] as const),
    },
    {
      label: 'validation (mean)',
      color: '#d62728',
      axis: 'left' as const,
      markers: true,
      points: evals.map((r) => [r.tokens, r.valMean] as const),
    },
  ];
  const xmax = Math.max(1, ...recs.map((r) => ('tokens' in r && typeof r.tokens === 'number' ? r.tokens : 0)));
  const lmax = lossAxisMax(series);
  return curvesSvg({
    title,
    x: { min: 0, max: xmax, label: 'tokens seen', maxLabel: shortNumber(xmax) },
    left: { max: lmax, maxLabel: lmax.toFixed(1) },
    series,
  });
}

const meanOf = (r: Record<string, number>) => {
  const v = Object.values(r);
  return v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
};
/** Losses per objective to 3 decimals, as the log lines print them. */
export const rounded = (r: Record<string, number>): string =>
  JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, +v.toFixed(3)])));

/**
 * The metrics and progress lines of one sitting: train losses, tokens and padding summed over a window (the steps
 * since the last log point), a log point every logEvery steps, validations, the end of the sitting. Only rank 0 of a
 * process group writes (`lead`).
 */
export class PretrainLog {
  private readonly metrics: MetricsLog;
  /** The run's step and eval records so far (a resume starts with the kept ones): the loss curve is drawn from them. */
  private readonly curve = new RecordsSink(isPretrainRecord);
  private win = { loss: 0, steps: 0, tokens: 0, start: Date.now(), pad: newPaddingStats() };
  /** Padding of this sitting's collated training batches. */
  readonly sittingPad = newPaddingStats();
  private readonly t0 = Date.now();
  private stepsThisSitting = 0;

  constructor(
    private readonly o: {
      file: string | null;
      /** The checkpoint's step on a resume (metrics.jsonl is cut back to it), null for a new run. */
      resumedAt: number | null;
      /** Minutes of training before this sitting. */
      priorMinutes: number;
      /** The step budget (null: none) and time budget, for the ETA. */
      steps: number | null;
      maxMinutes: number | null | undefined;
      log: (line: string) => void;
      sinks?: readonly MetricsSink[];
    },
  ) {
    this.metrics = MetricsLog.open({
      file: o.file,
      resumedAt: o.resumedAt,
      sinks: [this.curve, ...(o.sinks ?? [])],
      log: o.log,
    });
  }

  /** Minutes of training over all sittings, as the records give them. */
  minutes(now = Date.now()): number {
    return +(this.o.priorMinutes + (now - this.t0) / 60_000).toFixed(3);
  }

  /** A training step done: its loss, padding and `tokens`. */
  add(r: StepResult, tokens: number): void {
    this.stepsThisSitting++;
    const w = this.win;
    w.loss += r.loss;
    w.steps++;
    w.tokens += tokens;
    for (const k of Object.keys(r.padding) as Array<keyof PaddingStats>) {
      w.pad[k] += r.padding[k];
      this.sittingPad[k] += r.padding[k];
    }
  }

  /** The starting point of the curve (for --init, the loss before adaptation). */
  initialValidation(val: Record<string, number>): void {
    this.metrics.emit({ type: 'eval', step: 0, tokens: 0, minutes: 0, valLoss: val, valMean: meanOf(val) });
    this.o.log(`step 0 | val ${meanOf(val).toFixed(3)} ${rounded(val)}`);
  }

  /** A log point at `step`: the window's step record, the validation's eval record (when given) and a progress line
   *  (unless `quiet`). */
  point(step: number, tokens: number, lr: number, val: Record<string, number> | null, quiet = false): void {
    const now = Date.now();
    const w = this.win;
    const pad = paddingShare(w.pad);
    const rec: PretrainStepRecord = {
      type: 'step',
      step,
      tokens,
      minutes: this.minutes(now),
      lr,
      trainLoss: w.loss / w.steps,
      tokensPerS: Math.round(w.tokens / Math.max(1e-3, (now - w.start) / 1000)),
      padSource: +pad.source.toFixed(3),
      padTarget: +pad.target.toFixed(3),
    };
    this.metrics.emit(rec);
    if (val) this.validation(step, tokens, val, now);
    this.win = { loss: 0, steps: 0, tokens: 0, start: Date.now(), pad: newPaddingStats() };
    if (quiet) return;
    const el = (now - this.t0) / 60_000;
    const { steps, maxMinutes } = this.o;
    const etaSteps =
      steps !== null ? ((steps - step) * (now - this.t0)) / Math.max(1, this.stepsThisSitting) / 60_000 : Infinity;
    const eta = Math.min(etaSteps, maxMinutes ? maxMinutes - el : Infinity);
    this.o.log(
      `step ${step}${steps ? `/${steps}` : ''} | loss ${rec.trainLoss.toFixed(3)}${val ? ` | val ${meanOf(val).toFixed(3)}` : ''} | lr ${lr.toExponential(2)} | ${rec.tokensPerS} tok/s | pad ${Math.round(100 * pad.source)}%/${Math.round(100 * pad.target)}% | ${(tokens / 1e6).toFixed(2)}M tokens | ${el.toFixed(1)} min${Number.isFinite(eta) ? ` | ETA ${Math.max(0, eta).toFixed(1)} min` : ''}`,
    );
  }

  /** The validation at the end of a sitting that did not end on a log point of its own: the steps since the last log
   *  point get their step record first. */
  closingValidation(step: number, tokens: number, lr: number, val: Record<string, number>): void {
    if (this.win.steps > 0) this.point(step, tokens, lr, val, true);
    else this.validation(step, tokens, val, Date.now());
  }

  private validation(step: number, tokens: number, val: Record<string, number>, now: number): void {
    this.metrics.emit({ type: 'eval', step, tokens, minutes: this.minutes(now), valLoss: val, valMean: meanOf(val) });
  }

  end(step: number, stoppedBy: StopReason): void {
    const seconds = (Date.now() - this.t0) / 1000;
    this.metrics.emit({ type: 'end', step, stoppedBy, steps: this.stepsThisSitting, seconds });
  }

  /** loss.svg of the run so far. */
  curveSvg(): string {
    return lossCurveSvg(this.curve.records);
  }
}
