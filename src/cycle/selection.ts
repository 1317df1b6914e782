// Model selection, collapse detection and rollback: one evaluation in, one decision out.
// best/ holds the models of the evaluation with the lowest dev E-cycle loss (paper section 7.2), or the highest dev F1
// if asked. A collapse (S2E emitting one sequence, or nothing, for most dev sentences) is warned about; with onCollapse
// 'stop'/'rollback' a collapsed evaluation is never selected and ends the run or rolls both models back to best/.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as T from '../tensor';
import { loadWeightsFromDir } from '../t5/checkpoint';
import type { T5ForConditionalGeneration } from '../t5/model';
import type { T5Tokenizer } from '../t5/tokenizer';
import { atomicDir } from '../util/fs';
import { patienceSpent, recordScore } from '../run/best';
import type { StopReason } from '../run/stop';
import { SELECT_ON, type CycleConfig } from './config';
import type { EvalResult } from './evaluate';
import { saveModelDir, type ModelMeta } from './model-io';
import { gazetteerOf, SILVER_S_SAMPLE, sentencesMatched, silverSSample } from './silver';
import type { Position, RunState } from './run-state';

export interface CollapseStats {
  top: string;
  topShare: number;
  emptyShare: number;
}

/** Share of the most common string and of empty strings. */
export function collapseStats(outs: readonly string[]): CollapseStats {
  const c = new Map<string, number>();
  for (const o of outs) c.set(o, (c.get(o) ?? 0) + 1);
  let top = '';
  let n = 0;
  for (const [k, v] of c)
    if (v > n) {
      top = k;
      n = v;
    }
  const total = Math.max(1, outs.length);
  return { top, topShare: n / total, emptyShare: (c.get('') ?? 0) / total };
}

/** What collapsed in these S2E outputs (of the dev sentences, or of a window of recent training sentences), or null. */
export function collapseMessage(c: CollapseStats, share: number, of: 'dev' | 'recent'): string | null {
  if (!(c.topShare >= share || c.emptyShare >= 0.9)) return null;
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  if (c.emptyShare >= 0.9)
    return `S2E outputs nothing for ${pct(c.emptyShare)} of ${of === 'dev' ? 'the dev sentences' : 'recent sentences'}`;
  if (of === 'dev') return `S2E emits the same sequence "${c.top}" for ${pct(c.topShare)} of the dev sentences`;
  return `S2E emits "${c.top}" for ${pct(c.topShare)} of recent sentences`;
}

export interface Decision {
  /** This evaluation's models are the new best/. */
  improved: boolean;
  /** Warnings about this evaluation (each a log line and a metrics record). */
  warnings: string[];
  /** The run stops here: by patience (a log line) or on a collapse (also a warning record). */
  stop: { on: Extract<StopReason, 'patience' | 'collapse'>; message: string } | null;
  /** Roll both models back to best/ (rollback() does it). */
  rollback: boolean;
}

type SelectionConfig = Pick<
  CycleConfig,
  'selectOn' | 'patience' | 'collapseShare' | 'onCollapse' | 'maxRollbacks' | 'rollbackLrFactor'
>;

/** The selection part of the run state, updated in place (it is saved with each checkpoint). */
export type SelectionState = Pick<RunState, 'bestScore' | 'bestStep' | 'evalsWithoutImprovement' | 'rollbacks'>;

export class Selection {
  /** `writeBest(info)` writes best/ with the current models and info.json (saveBest). */
  constructor(
    private readonly cfg: SelectionConfig,
    readonly state: SelectionState,
    readonly bestDir: string,
    private readonly writeBest: (info: Record<string, unknown>) => void,
  ) {}

  /** Judge the evaluation at `pos`; `devOutputs`: statistics of S2E's dev outputs (null without dev sentences). */
  decide(r: EvalResult, devOutputs: CollapseStats | null, pos: Position): Decision {
    const { cfg, state } = this;
    const collapse = devOutputs === null ? null : collapseMessage(devOutputs, cfg.collapseShare, 'dev');
    const warnings = collapse === null ? [] : [`collapse: ${collapse}`];
    const actOnCollapse = collapse !== null && cfg.onCollapse !== 'warn';
    // A collapsed evaluation is never selected when the run acts on collapses (it still counts against patience),
    // nor under s-silver-f1-min, which would prefer it (a collapsed S2E fits Q's names least).
    const candidate = collapse === null || (!actOnCollapse && cfg.selectOn !== 's-silver-f1-min');
    const improved = recordScore(state, selectionScore(cfg.selectOn, r), pos.globalStep, candidate);
    if (improved) this.writeBest({ step: pos.globalStep, epoch: pos.epoch + 1, selectOn: cfg.selectOn, ...r });
    const decision: Decision = { improved, warnings, stop: null, rollback: false };
    if (patienceSpent(state, cfg.patience)) {
      decision.stop = {
        on: 'patience',
        message: `early stop: no better ${cfg.selectOn} in ${cfg.patience} evaluations`,
      };
    } else if (actOnCollapse) {
      const hasBest = state.bestStep !== null; // the state, not the disk: every rank of a process group decides alike
      if (cfg.onCollapse === 'rollback' && state.rollbacks < cfg.maxRollbacks && hasBest) decision.rollback = true;
      else {
        const why =
          cfg.onCollapse === 'stop'
            ? 'onCollapse stop'
            : hasBest
              ? `${cfg.maxRollbacks} rollbacks used`
              : 'no earlier best/ to roll back to';
        decision.stop = { on: 'collapse', message: `stopped on collapse (${why})` };
      }
    }
    return decision;
  }

  /** Carry out a rollback decision: both models from best/ (unless `loadWeights` is false: a rank other than 0 of a
   *  process group gets them from rank 0), optimizers reset, learning rates scaled. */
  rollback(parts: RollbackParts, loadWeights = true): void {
    rollbackTo(this.bestDir, parts, this.cfg.rollbackLrFactor, loadWeights);
    this.state.rollbacks++;
  }

  /** Without data for the criterion best/ is the final model, rewritten at the end of every sitting (a resume with
   *  more steps replaces the earlier sitting's), and info.json says so. */
  saveFinal(pos: Position): void {
    const note = `no dev data for ${this.cfg.selectOn}: the final model, not selected`;
    this.writeBest({ step: pos.globalStep, epoch: pos.epoch + 1, selectOn: null, final: true, note });
  }
}

/** A criterion as a run selects on it: 'auto' resolved. */
export type ResolvedSelectOn = Exclude<CycleConfig['selectOn'], 'auto'>;

/**
 * --select-on auto: the sum of both dev cycle losses (dev-cycle-loss) where the gazetteer from Q matches a name in dev
 * S (news, genes): over the recorded runs it tracked dev F1 as the paper's E-loss does on news, on average, and better on
 * genes, where the E-loss stalls while S2E still improves (docs/cycle.md, "Session 18"). Where it matches none, dev
 * S's names are all new to Q (WNUT-17's are, by design), every signal of the cycles rewards fitting Q's names, and the
 * E-loss kept a model below the warm-up's on 11 of 17 WNUT runs ("Session 17"): after a lexical warm-up the run keeps
 * the model least fitted to them, the lowest silver F1 on the S sample (s-silver-f1-min; the warm-up's own model on
 * 16 of those 17), which needs gazetteer matches in that sample. Otherwise, and without dev sentences, the paper's
 * E-loss (on tweets the summed losses did worse than it). Fixed by the data; a resumed run keeps the criterion it
 * started with (trainer.ts). `why` explains a resolved 'auto' (null otherwise).
 */
export function resolveSelectOn(
  cfg: Pick<CycleConfig, 'selectOn' | 'warmup' | 'warmupSteps'>,
  data: { S: readonly string[]; Q: readonly string[]; devS?: readonly string[] },
): { on: ResolvedSelectOn; why: string | null } {
  if (cfg.selectOn !== 'auto') return { on: cfg.selectOn, why: null };
  const eLoss = (because: string) => ({ on: 'dev-e-loss' as const, why: `auto selects on dev-e-loss: ${because}` });
  if (!data.devS || data.devS.length === 0) return eLoss('no dev sentences');
  const g = gazetteerOf(data.Q);
  const hit = sentencesMatched(g, data.devS);
  const seen = `the gazetteer from Q matches a name in ${hit} of ${data.devS.length} dev sentences`;
  if (hit > 0) return { on: 'dev-cycle-loss', why: `auto selects on dev-cycle-loss: ${seen}` };
  if (cfg.warmup !== 'lexical' || cfg.warmupSteps <= 0) return eLoss(`${seen}, but no lexical warm-up ran`);
  if (sentencesMatched(g, silverSSample(data.S)) === 0)
    return eLoss(`${seen}, and none of the ${SILVER_S_SAMPLE} sentences of S that silver F1 on S reads`);
  return {
    on: 's-silver-f1-min',
    why: `auto selects on s-silver-f1-min: ${seen} (its names are new to Q), so the model least fitted to Q's names is kept`,
  };
}

/** A resolved criterion read from a file, checked (`where` names the file). */
export function checkedSelectOn(x: unknown, where: string): ResolvedSelectOn {
  const ok = SELECT_ON.filter((c) => c !== 'auto') as readonly string[];
  if (typeof x !== 'string' || !ok.includes(x))
    throw new Error(`${where}: selectOn must be one of ${ok.join(', ')}, got ${JSON.stringify(x)}`);
  return x as ResolvedSelectOn;
}

/**
 * The criterion a checkpoint's best score is of: its state.json's, or for checkpoints written before it recorded one,
 * best/info.json's (written with each best since 'auto' exists); undefined when neither holds one (no best yet, or a
 * final model).
 */
export function savedSelectOn(
  state: Pick<RunState, 'selectOn' | 'bestStep'>,
  bestDir: string,
): ResolvedSelectOn | undefined {
  if (state.selectOn !== undefined) return state.selectOn;
  if (state.bestStep === null) return undefined;
  const file = path.join(bestDir, 'info.json');
  if (!fs.existsSync(file)) return undefined;
  const info = JSON.parse(fs.readFileSync(file, 'utf8')) as { selectOn?: unknown; final?: boolean };
  if (info.final === true || info.selectOn === undefined || info.selectOn === null) return undefined;
  return checkedSelectOn(info.selectOn, file);
}

/**
 * The criterion of a sitting: a resumed run keeps the one its saved best score is of (`saved`), so a build in which
 * 'auto' resolves otherwise cannot compare scores of two criteria; an explicit criterion other than the saved one is
 * refused. `why` is the line to log (null: nothing to say).
 */
export function sittingSelectOn(
  asked: CycleConfig['selectOn'],
  resolved: { on: ResolvedSelectOn; why: string | null },
  saved: ResolvedSelectOn | undefined,
): { on: ResolvedSelectOn; why: string | null } {
  if (saved === undefined || saved === resolved.on) return resolved;
  if (asked === 'auto')
    return {
      on: saved,
      why: `auto keeps ${saved}, the criterion of this run's best so far (this build resolves it to ${resolved.on})`,
    };
  throw new Error(`the checkpoint's best score is of ${saved}, not ${asked}: resume with the run's own selectOn`);
}

/** The evaluation's score under a criterion, lower is better (null: not measured). */
export function selectionScore(on: CycleConfig['selectOn'], r: EvalResult): number | null {
  const negated = (x: number | null | undefined) => (x === null || x === undefined ? null : -x);
  switch (on) {
    case 'dev-e-loss':
      return r.devELoss;
    case 'dev-s-loss':
      return r.devSLoss;
    case 'dev-cycle-loss': // both cycles' reconstruction losses, each a mean per token: one model cannot buy the other's
      return r.devELoss === null || r.devSLoss === null ? null : r.devELoss + r.devSLoss;
    case 'dev-silver-f1':
      return negated(r.devSilverF1);
    case 's-silver-f1':
      return negated(r.sSilverF1);
    case 's-silver-f1-min': // an S2E that finds none of Q's names (0) is broken, not unfitted: no candidate
      return r.sSilverF1 ? r.sSilverF1 : null;
    case 'held-silver-f1':
      return negated(r.heldSilverF1);
    case 'name-held-f1':
      return negated(r.nameHeldF1);
    case 'name-held-recall':
      return negated(r.nameHeldRecall);
    case 'dev-rate-gap': // an S2E that names nothing is as far from Q as it gets
      if (r.devEntities === undefined || !r.qEntities) return null;
      return r.devEntities === 0 ? Infinity : Math.abs(Math.log(r.devEntities / r.qEntities));
    case 'dev-empty':
      return r.devEmpty ?? null;
    case 'dev-self-loss':
      return r.devSelfLoss ?? null;
    case 'dev-f1':
      return negated(r.devF1);
    case 'auto':
      throw new Error('selectOn auto is resolved from the data before a run selects (resolveSelectOn)');
  }
}

interface RollbackParts {
  s2e: T5ForConditionalGeneration;
  e2s: T5ForConditionalGeneration;
  optS2E: T.AdamW;
  optE2S: T.AdamW;
}

/** Reload both models from a best/ directory, reset both optimizers and scale their learning rates. */
export function rollbackTo(bestDir: string, parts: RollbackParts, lrFactor: number, loadWeights = true): void {
  if (loadWeights) {
    loadWeightsFromDir(parts.s2e, path.join(bestDir, 's2e'), `${bestDir}/s2e`);
    loadWeightsFromDir(parts.e2s, path.join(bestDir, 'e2s'), `${bestDir}/e2s`);
  }
  for (const o of [parts.optS2E, parts.optE2S]) {
    o.reset();
    o.lr *= lrFactor;
  }
}

/** The one place best/ is written: both models and info.json, replaced atomically. */
export function saveBest(
  bestDir: string,
  models: { s2e: T5ForConditionalGeneration; e2s: T5ForConditionalGeneration; tokenizer: T5Tokenizer },
  metas: { s2e: ModelMeta; e2s: ModelMeta },
  info: Record<string, unknown>,
): void {
  atomicDir(bestDir, (tmp) => {
    saveModelDir(path.join(tmp, 's2e'), models.s2e, models.tokenizer, metas.s2e);
    saveModelDir(path.join(tmp, 'e2s'), models.e2s, models.tokenizer, metas.e2s);
    fs.writeFileSync(path.join(tmp, 'info.json'), JSON.stringify(info, null, 2) + '\n');
  });
}
