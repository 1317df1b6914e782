// What a cycle run reports as it goes: the records of the run kit's schema (run/metrics.ts: `step`, `eval`, `samples`,
// `warning`, `rollback`, `warmup`, `end`) to its sinks (RUN/metrics.jsonl, the library's progress callback),
// RUN/curves.svg and the human-readable log lines (progress and ETA every logEvery steps, evaluations, warnings).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StepResult } from '../t5/train';
import {
  MetricsLog,
  RecordsSink,
  type CycleEvalRecord,
  type MetricsRecord,
  type MetricsSink,
  type WarmupRecord,
} from '../run/metrics';
import { RUN_FILES } from '../run/layout';
import type { StopReason } from '../run/stop';
import type { CycleConfig } from './config';
import { copyRate, type CopyCounts } from './copy';
import type { Evaluation } from './evaluate';
import { lossF1Svg } from './plot';
import type { Position } from './run-state';
import { collapseMessage, collapseStats, type Decision } from './selection';

/** One cycle step as the log sees it. */
export interface StepReport {
  /** S-cycle (E2S update), E-cycle (S2E update; null when the filter emptied the batch), self-training (S2E; null = none). */
  sCycle: StepResult;
  eCycle: StepResult | null;
  selfTrain: StepResult | null;
  /** The S-cycle's Q′ (collapse warnings over a window of recent outputs). */
  qPrime: readonly string[];
  copy: CopyCounts;
  /** Distinct word bigrams / all bigrams of this rank's S′ (E2S's diversity; null without bigrams). */
  sDistinct2: number | null;
  /** E-cycle pairs the filter kept (only with eCycleFilter 'copied'). */
  eKept: number | null;
  /** Sentences confident enough for self-training (only with selfTrainMinProb > 0). */
  selfKept: number | null;
  /** Lexical silver pairs in the E-cycle S2E batch (only with silverMix > 0). */
  silver: number | null;
  lrS2E: number;
  lrE2S: number;
}

type LogConfig = Pick<
  CycleConfig,
  'batchSize' | 'epochs' | 'logEvery' | 'selfTrainMinProb' | 'collapseShare' | 'maxRollbacks'
>;

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s % 60)).padStart(2, '0')}`;
}

export class RunLog {
  readonly metricsFile: string;
  private readonly metrics: MetricsLog;
  /** The run's evaluations so far (kept ones of a resumed run included): curves.svg is drawn from them. */
  private readonly evals = new RecordsSink((r): r is CycleEvalRecord => r.type === 'eval');
  private readonly t0 = Date.now();
  private stepsThisRun = 0;
  /** Sums over the steps since the last progress line. */
  private win = { sumS: 0, nS: 0, sumE: 0, nE: 0, names: 0, copied: 0, selfLoss: 0, selfN: 0 };
  /** The last 256 S-cycle outputs, and the epoch of the last collapse warning about them. */
  private readonly recent: string[] = [];
  private warnedEpoch = -1;

  /**
   * Opens the run's metrics (MetricsLog): RUN/metrics.jsonl emptied for a new run; on resume (`resumedAt` = the
   * checkpoint's step) without the records written after the checkpoint, which will be written again (a line cut short
   * by a kill is dropped, not fatal). `sinks` get every record too (the kept ones of a resume first).
   */
  constructor(
    readonly runDir: string,
    readonly log: (line: string) => void,
    private readonly cfg: LogConfig,
    private readonly shape: { stepsPerEpoch: number; totalSteps: number; nS: number },
    resumedAt: number | null,
    /** false on the ranks of a process group other than 0: they log and write nothing */
    private readonly writes = true,
    sinks: readonly MetricsSink[] = [],
  ) {
    this.metricsFile = path.join(runDir, RUN_FILES.metrics);
    this.metrics = MetricsLog.open({
      file: writes ? this.metricsFile : null,
      resumedAt,
      sinks: [this.evals, ...sinks],
      log,
    });
  }

  emit(rec: MetricsRecord): void {
    this.metrics.emit(rec);
  }

  warn(step: number, message: string): void {
    this.log(`warning: ${message}`);
    this.emit({ type: 'warning', step, message });
  }

  warmup(rec: Omit<WarmupRecord, 'type' | 'step'>): void {
    this.emit({ type: 'warmup', step: 0, ...rec });
    this.log(
      `warm-up done in ${rec.seconds.toFixed(0)} s: last losses S2E ${rec.s2eLoss.toFixed(4)} E2S ${rec.e2sLoss.toFixed(4)}`,
    );
  }

  /** The step record; every logEvery steps (and at the last) a progress line with ETA and a collapse check. */
  step(pos: Position, r: StepReport): void {
    const { cfg, shape, win } = this;
    this.stepsThisRun++;
    win.sumS += r.sCycle.loss;
    win.nS++;
    if (r.eCycle) {
      win.sumE += r.eCycle.loss;
      win.nE++;
    }
    win.names += r.copy.names;
    win.copied += r.copy.copied;
    if (r.selfTrain) {
      win.selfLoss += r.selfTrain.loss;
      win.selfN++;
    }
    this.recent.push(...r.qPrime);
    if (this.recent.length > 256) this.recent.splice(0, this.recent.length - 256);
    const elapsed = (Date.now() - this.t0) / 1000;
    this.emit({
      type: 'step',
      step: pos.globalStep,
      epoch: pos.epoch + 1,
      epochs: pos.globalStep / shape.stepsPerEpoch,
      lossS: r.sCycle.loss,
      lossE: r.eCycle?.loss ?? null,
      copyRate: copyRate(r.copy),
      sDistinct2: r.sDistinct2,
      ...(r.eKept !== null ? { eKept: r.eKept } : {}),
      ...(r.selfKept !== null ? { selfKept: r.selfKept } : {}),
      ...(r.silver !== null ? { silver: r.silver } : {}),
      lrS2E: r.lrS2E,
      lrE2S: r.lrE2S,
      gradNormS2E: r.eCycle?.gradNorm ?? null,
      gradNormE2S: r.sCycle.gradNorm,
      elapsed,
    });
    if (pos.globalStep % cfg.logEvery !== 0 && pos.globalStep !== shape.totalSteps) return;
    const rate = (this.stepsThisRun * cfg.batchSize) / Math.max(elapsed, 1e-9);
    const eta = ((shape.totalSteps - pos.globalStep) * cfg.batchSize) / rate;
    const cr = copyRate({ names: win.names, copied: win.copied });
    const self =
      cfg.selfTrainMinProb > 0
        ? ` | self-training loss ${win.selfN > 0 ? (win.selfLoss / win.selfN).toFixed(4) : '-'}`
        : '';
    const where = `epoch ${pos.epoch + 1}/${cfg.epochs} step ${pos.stepInEpoch}/${shape.stepsPerEpoch} (${pos.globalStep}/${shape.totalSteps})`;
    const losses = `L_phi ${(win.sumS / win.nS).toFixed(4)} L_theta ${win.nE > 0 ? (win.sumE / win.nE).toFixed(4) : '-'}`;
    const copies = `E2S copies ${cr === null ? '-' : `${(cr * 100).toFixed(0)}%`} of Q's names`;
    this.log(`${where} | ${losses} | ${copies}${self} | ${rate.toFixed(1)} pairs/s | ETA ${fmtTime(eta)}`);
    this.win = { sumS: 0, nS: 0, sumE: 0, nE: 0, names: 0, copied: 0, selfLoss: 0, selfN: 0 };
    const collapse = collapseMessage(collapseStats(this.recent), cfg.collapseShare, 'recent');
    if (collapse !== null && this.recent.length >= Math.min(128, shape.nS) && this.warnedEpoch !== pos.epoch) {
      this.warnedEpoch = pos.epoch;
      this.warn(pos.globalStep, `collapse: ${collapse}`);
    }
  }

  /** An evaluation and what the selection made of it: warnings, samples and eval records, curves.svg, a log line. */
  eval(pos: Position, ev: Evaluation, d: Decision): void {
    for (const w of d.warnings) this.warn(pos.globalStep, w);
    this.emit({
      type: 'samples',
      step: pos.globalStep,
      epoch: pos.epoch,
      ...ev.samples,
      ...(ev.devOutputs ? { devCollapse: ev.devOutputs } : {}),
    });
    const r = ev.result;
    this.emit({
      type: 'eval',
      step: pos.globalStep,
      epoch: evalEpoch(pos, this.shape.stepsPerEpoch),
      ...r,
      best: d.improved,
    });
    // Figure 4 of the paper for this run, from every evaluation of the run (a resume starts with the kept ones).
    if (!this.writes) return;
    fs.writeFileSync(
      path.join(this.runDir, 'curves.svg'),
      lossF1Svg(this.evals.records, `CycleNER run ${path.basename(this.runDir)}`),
    );
    const f = (x: number | null) => (x === null ? '-' : x.toFixed(4));
    const test =
      r.testF1 === undefined
        ? ''
        : `  | test P ${f(r.testP ?? null)} R ${f(r.testR ?? null)} F1 ${f(r.testF1)} (reported only)`;
    const copied =
      r.devCopyRate === undefined || r.devCopyRate === null ? '' : `  copy ${(r.devCopyRate * 100).toFixed(0)}%`;
    const silver = r.devSilverF1 === undefined ? '' : `  silver F1 ${f(r.devSilverF1)}`;
    const dev = `dev L_phi(S) ${f(r.devSLoss)}  L_theta(E) ${f(r.devELoss)}${silver}  F1 ${f(r.devF1)}  bag F1 ${f(r.devBagF1)}`;
    this.log(`eval @ step ${pos.globalStep}: ${dev}${copied}${d.improved ? '  (best)' : ''}${test}`);
  }

  stop(step: number, stop: NonNullable<Decision['stop']>): void {
    if (stop.on === 'collapse') this.emit({ type: 'warning', step, message: stop.message });
    this.log(stop.message);
  }

  /** The end of this sitting (finished, stopped early or interrupted). */
  end(step: number, stoppedBy: StopReason): void {
    this.emit({ type: 'end', step, stoppedBy, steps: this.stepsThisRun, seconds: (Date.now() - this.t0) / 1000 });
  }

  rollback(step: number, r: { toStep: number | null; rollbacks: number; lrS2E: number; lrE2S: number }): void {
    this.emit({ type: 'rollback', step, ...r });
    const lrs = `learning rates now ${r.lrS2E} / ${r.lrE2S}`;
    this.log(
      `collapse: rolled back to best/ (step ${r.toStep ?? '-'}), optimizers reset, ${lrs} (rollback ${r.rollbacks} of ${this.cfg.maxRollbacks})`,
    );
  }
}

/** The (fractional) epoch an evaluation reports. */
export function evalEpoch(pos: Position, stepsPerEpoch: number): number {
  return pos.epoch + pos.stepInEpoch / stepsPerEpoch;
}
