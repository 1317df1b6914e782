// Named experiments as data: each is a list of cells (one training + evaluation each), sized by a
// preset. Planning is pure (no files read except whether <data-dir>/ontonotes exists), so tests can
// check every id and data configuration against the paper's Tables 3-6.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfigName } from '../data/config';
import { TRAIN_SENTENCES } from './paper';

export type CellKind = 'cyclener' | 'supervised' | 'lexical';

export interface Cell {
  /** Path-like, e.g. table6/conll2003/2k-1k-gq/cyclener/seed1; also the cell's folder under <out>/<preset>/. */
  id: string;
  experiment: string;
  kind: CellKind;
  dataset: string;
  /** Paper configuration <dataset>/<#S>/<#Q>-<gq|sq>; null for supervised cells (full train split). */
  dataConfig: string | null;
  seed: number;
  /** Extra `data build` flags (e.g. --allow-overlap for the paper's full-size GQ configurations). */
  dataArgs: string[];
  /** Training knobs passed to `train` / `train-supervised` (from the preset). */
  trainArgs: string[];
  /** Flags for the final `evaluate` (from the preset). */
  evalArgs: string[];
  /** Cycle cells: dev subsets and the per-evaluation test curve. Supervised cells with `supervisedDev`: the first N
   *  labelled dev sentences whose loss selects the model and stops training (null = all). */
  devLossLines: number | null;
  /** Supervised cells: select on dev loss with patience (`train-supervised --dev`), from the preset. */
  supervisedDev: boolean;
  devGoldLines: number | null;
  /** Log test P/R/F1 at every evaluation (train --test-gold) on the first N test sentences (null = all). */
  testCurve: boolean;
  testCurveSentences: number | null;
}

export interface Preset {
  name: string;
  summary: string;
  cycleArgs: string[];
  supervisedArgs: string[];
  evalArgs: string[];
  /** First N dev_S/dev_Q lines for the dev cycle losses (null = all). */
  devLossLines: number | null;
  /** Supervised cells select on the loss of the first N labelled dev sentences (null = all; absent = no dev: the
   *  final model after `supervisedArgs`' steps). */
  supervisedDevLines?: number | null;
  /** First N labelled dev sentences for the logged dev F1 (null = all). */
  devGoldLines: number | null;
  testCurveSentences: number | null;
  /** This preset is another one with one lever changed: the report shows only the cells it ran. */
  variantOf?: string;
  /** Extra `data build` flags of the cyclener cells (e.g. --include-empty-q). */
  cycleDataArgs?: string[];
}

const CPU: Preset = {
  name: 'cpu',
  summary:
    'sized for a 2-core CPU: 300 cycle steps x 16, eval every 50; dev losses on 200 dev_S/dev_Q lines, dev F1 on 200 sentences, per-eval test F1 on 500; final evaluation on the full test split',
  cycleArgs: ['--max-steps', '300', '--batch', '16', '--eval-every', '50'],
  supervisedArgs: ['--steps', '400', '--batch', '32', '--lr', '5e-4'],
  evalArgs: [],
  devLossLines: 200,
  devGoldLines: 200,
  testCurveSentences: 500,
};

/** A variant of a preset (`cpu` unless named) that switches levers of docs/cycle.md: extra train flags for the cycle
 *  (and supervised) cells. */
function cpuVariant(
  name: string,
  summary: string,
  cycleExtra: string[],
  supervisedExtra: string[] = [],
  base: Preset = CPU,
): Preset {
  return {
    ...base,
    name,
    variantOf: base.name,
    summary,
    cycleArgs: [...base.cycleArgs, ...cycleExtra],
    supervisedArgs: [...base.supervisedArgs, ...supervisedExtra],
  };
}

/** args with the value of `flag` replaced (the flag must be there). */
function withFlag(args: readonly string[], flag: string, value: string): string[] {
  const i = args.indexOf(flag);
  if (i < 0) throw new Error(`preset: no ${flag} to replace`);
  return [...args.slice(0, i + 1), value, ...args.slice(i + 2)];
}

// Budgets that converge (beyond the paper's unstated ones): both cells train until their selection criterion stops
// improving, capped so that one cell fits in about an hour on 2 CPU cores (measured in docs/experiments.md).
const CPU_FULL: Preset = {
  name: 'cpu-full',
  summary:
    'converged CPU budgets: cycle cells up to 2,500 steps x 16 with the lexical warm-up (200 steps), eval every 100, early stop after 5 evaluations without a lower dev E-cycle loss; supervised cells up to 10 epochs (4,000 steps x 32), dev loss on 1,000 dev sentences every 200 steps, patience 3; dev/test subsets as cpu',
  cycleArgs: [
    '--max-steps',
    '2500',
    '--batch',
    '16',
    '--eval-every',
    '100',
    '--patience',
    '5',
    '--warmup',
    'lexical',
    '--warmup-steps',
    '200',
  ],
  supervisedArgs: ['--steps', '4000', '--batch', '32', '--lr', '5e-4', '--eval-every', '200', '--patience', '3'],
  evalArgs: [],
  devLossLines: 200,
  devGoldLines: 200,
  supervisedDevLines: 1000,
  testCurveSentences: 500,
};

const LEXWARM = ['--warmup', 'lexical', '--warmup-steps', '200'];
/** The constant silver mix (docs/cycle.md), and E2S's sentences S′ drawn by top-10 sampling. */
const SILVER_CONST = ['--silver-mix', '0.5', '--silver-decay-steps', '0'];
const E2S_TOP10 = ['--e2s-sample', '--e2s-top-k', '10'];
/** The best combination so far: the constant silver mix and 3 sampled S′ per Q. */
const SILVER_CONST_K3 = [...SILVER_CONST, ...E2S_TOP10, '--e2s-samples', '3'];

/** cpu-full at batch 48 (cycles and warm-up), and b48's levers: the constant mix and one top-10 sampled S′ per Q. */
const CPU_FULL_B48: Preset = { ...CPU_FULL, cycleArgs: withFlag(CPU_FULL.cycleArgs, '--batch', '48') };
const B48_ARGS = [...SILVER_CONST, ...E2S_TOP10];
/** b48's levers with every learning rate halved (the best CoNLL combination, session 14). */
const B48_HALF_LR_ARGS = [...B48_ARGS, '--lr-s2e', '1.5e-4', '--lr-e2s', '1.5e-4', '--warmup-lr', '2.5e-4'];
const NAME_HOLDOUT_ARGS = ['--name-holdout', '0.2', '--select-on', 'name-held-f1'];

export const PRESETS: Readonly<Record<string, Preset>> = {
  cpu: CPU,
  // Variants of `cpu` that switch one lever of docs/cycle.md (the report shows each preset as its own section).
  'cpu-lexwarm': cpuVariant(
    'cpu-lexwarm',
    'cpu, plus 200 steps of the lexical warm-up (silver pairs: a gazetteer from Q matched over S; beyond the paper) before the cycles',
    LEXWARM,
  ),
  'cpu-lexwarm-copied': cpuVariant(
    'cpu-lexwarm-copied',
    "cpu-lexwarm, and the E-cycle trains S2E only on pairs whose generated sentence holds each of Q's names verbatim (--e-cycle-filter copied; beyond the paper)",
    [...LEXWARM, '--e-cycle-filter', 'copied'],
  ),
  'cpu-lexwarm-self': cpuVariant(
    'cpu-lexwarm-self',
    'cpu-lexwarm, and S2E self-trains on its own grounded S-cycle outputs whose mean token probability is >= 0.9 (--self-train 0.9; beyond the paper)',
    [...LEXWARM, '--self-train', '0.9'],
  ),
  'cpu-plain': cpuVariant(
    'cpu-plain',
    "cpu with the paper's plain S2E decoding (no grounding) in the cycles and at evaluation (the models record it)",
    ['--no-ground'],
    ['--no-ground'],
  ),
  'cpu-full': CPU_FULL,
  'cpu-full-e2s-sample': cpuVariant(
    'cpu-full-e2s-sample',
    "cpu-full, and E2S writes the E-cycle's sentences S′ by top-10 sampling instead of greedily (--e2s-sample --e2s-top-k 10, as in back-translation at scale; beyond the paper)",
    E2S_TOP10,
    [],
    CPU_FULL,
  ),
  'cpu-full-e2s-noise': cpuVariant(
    'cpu-full-e2s-noise',
    "cpu-full, and S2E learns the E-cycle from noised S′: each word outside Q's names dropped with probability 0.1 and the words shuffled within 3 positions (--e2s-noise 0.1, as in back-translation at scale; beyond the paper)",
    ['--e2s-noise', '0.1'],
    [],
    CPU_FULL,
  ),
  'cpu-full-silver': cpuVariant(
    'cpu-full-silver',
    'cpu-full, and the lexical silver pairs of the warm-up stay in the cycles: each E-cycle S2E batch also holds 8 of them (--silver-mix 0.5), decaying to none over 1,500 steps (beyond the paper)',
    ['--silver-mix', '0.5', '--silver-decay-steps', '1500'],
    [],
    CPU_FULL,
  ),
  'cpu-full-silver-const': cpuVariant(
    'cpu-full-silver-const',
    'cpu-full-silver without the decay: every E-cycle S2E batch holds 8 lexical silver pairs to the end of the run (--silver-mix 0.5 --silver-decay-steps 0; beyond the paper)',
    SILVER_CONST,
    [],
    CPU_FULL,
  ),
  'cpu-full-silver-const-k3': cpuVariant(
    'cpu-full-silver-const-k3',
    'cpu-full-silver-const, and E2S writes 3 sentences S′ for each Q by top-10 sampling, S2E learning from all three pairs (--e2s-sample --e2s-top-k 10 --e2s-samples 3; the silver pairs scale with them, 24 per batch; beyond the paper)',
    SILVER_CONST_K3,
    [],
    CPU_FULL,
  ),
  'cpu-full-silver-const-k5': cpuVariant(
    'cpu-full-silver-const-k5',
    'cpu-full-silver-const-k3 with 5 sampled sentences S′ for each Q instead of 3 (--e2s-samples 5; 40 silver pairs per batch; beyond the paper): whether more sentences per Q keep helping',
    withFlag(SILVER_CONST_K3, '--e2s-samples', '5'),
    [],
    CPU_FULL,
  ),
  // The K3 control: the same 72 S2E rows per step (48 sampled S′ + 24 silver) from 48 different Q instead of 16 Q x 3.
  'cpu-full-silver-const-b48': cpuVariant(
    'cpu-full-silver-const-b48',
    'cpu-full-silver-const with batches of 48 and one top-10 sampled S′ per Q (--batch 48 --e2s-sample --e2s-top-k 10; 24 silver pairs per batch): the control of cpu-full-silver-const-k3, as many S2E pairs per step from three times as many Q (is it the sentences per Q, or the batch?); its lexical warm-up also draws batches of 48 (its step-0 evaluation shows what that changes; beyond the paper)',
    B48_ARGS,
    [],
    CPU_FULL_B48,
  ),
  // b48's gain is the batch's lower gradient noise (a warm-up at batch 16 and a third of the lr scores as its batch
  // 48 does, docs/cycle.md "Session 14"): less noise again, by halving every lr at batch 48.
  'cpu-full-silver-const-b48-half-lr': cpuVariant(
    'cpu-full-silver-const-b48-half-lr',
    'cpu-full-silver-const-b48 with every learning rate halved (--lr-s2e 1.5e-4 --lr-e2s 1.5e-4 --warmup-lr 2.5e-4): whether less gradient noise than b48 helps again (beyond the paper)',
    B48_HALF_LR_ARGS,
    [],
    CPU_FULL_B48,
  ),
  // The half-lr runs were still improving when the 10-epoch cap (420 steps on CoNLL /2k at batch 48) ended them.
  'cpu-full-silver-const-b48-half-lr-e30': cpuVariant(
    'cpu-full-silver-const-b48-half-lr-e30',
    'cpu-full-silver-const-b48-half-lr with a cap of 30 epochs instead of 10 (--epochs 30; still at most 2,500 steps, patience 5): whether the halved-lr runs gain from training on (beyond the paper)',
    [...B48_HALF_LR_ARGS, '--epochs', '30'],
    [],
    CPU_FULL_B48,
  ),
  // swap.ts: on WNUT-17 a longer warm-up on the silver pairs lowers dev F1 (S2E memorises their names); swapping every
  // matched name for a same-type name of Q lifted the warm-up's dev F1 from 0.236 to 0.269 (seed 1, 200 sentences).
  'cpu-full-silver-const-b48-half-lr-swap': cpuVariant(
    'cpu-full-silver-const-b48-half-lr-swap',
    'cpu-full-silver-const-b48-half-lr, and every name of a lexical silver pair is replaced by a random name of the same type from Q each time the pair is drawn (--silver-swap 1; warm-up and silver mix): S2E cannot memorise the silver names (beyond the paper)',
    [...B48_HALF_LR_ARGS, '--silver-swap', '1'],
    [],
    CPU_FULL_B48,
  ),
  // selection.ts resolveSelectOn: where Q's names occur in dev S, auto selects on both dev cycle losses summed, which
  // tracked dev F1 as the E-loss does on news (on average) and better on genes (docs/cycle.md, "Session 18").
  'cpu-full-silver-const-b48-half-lr-auto': cpuVariant(
    'cpu-full-silver-const-b48-half-lr-auto',
    'cpu-full-silver-const-b48-half-lr selected by --select-on auto: the sum of both dev cycle losses (dev-cycle-loss) where the gazetteer from Q matches names in dev S (news, genes), else the lowest silver F1 on S (beyond the paper)',
    [...B48_HALF_LR_ARGS, '--select-on', 'auto'],
    [],
    CPU_FULL_B48,
  ),
  // selection.ts resolveSelectOn: where the gazetteer from Q matches no dev sentence (WNUT-17) the E-loss kept models
  // below the warm-up's on 11 of 17 runs; auto keeps the one least fitted to Q's names (docs/cycle.md, "Session 17").
  'cpu-full-silver-const-b48-half-lr-swap-auto': cpuVariant(
    'cpu-full-silver-const-b48-half-lr-swap-auto',
    "cpu-full-silver-const-b48-half-lr-swap selected by --select-on auto: the sum of both dev cycle losses (dev-cycle-loss), or the lowest silver F1 on S when the gazetteer from Q matches no dev sentence after the lexical warm-up (the model least fitted to Q's names; beyond the paper)",
    [...B48_HALF_LR_ARGS, '--silver-swap', '1', '--select-on', 'auto'],
    [],
    CPU_FULL_B48,
  ),
  // name-holdout.ts: on WNUT-17 every signal of the cycles' own data rewards memorising names; names held out of all
  // training give a criterion that measures new names (20% of the matched names: ~250-400 sentences on each dataset).
  'cpu-full-silver-const-b48-half-lr-names': cpuVariant(
    'cpu-full-silver-const-b48-half-lr-names',
    'cpu-full-silver-const-b48-half-lr, with 20% of the names the gazetteer from Q matches in S held out of all training (their sequences of Q, their sentences of S), and the model selected on silver F1 over those sentences (--name-holdout 0.2 --select-on name-held-f1; a label-free criterion for new names; beyond the paper)',
    [...B48_HALF_LR_ARGS, ...NAME_HOLDOUT_ARGS],
    [],
    CPU_FULL_B48,
  ),
  'cpu-full-silver-const-b48-half-lr-swap-names': cpuVariant(
    'cpu-full-silver-const-b48-half-lr-swap-names',
    'cpu-full-silver-const-b48-half-lr-swap, with the name holdout and its selection of cpu-full-silver-const-b48-half-lr-names (--name-holdout 0.2 --select-on name-held-f1; beyond the paper)',
    [...B48_HALF_LR_ARGS, '--silver-swap', '1', ...NAME_HOLDOUT_ARGS],
    [],
    CPU_FULL_B48,
  ),
  'cpu-full-silver-const-k3-empty': {
    ...cpuVariant(
      'cpu-full-silver-const-k3-empty',
      "cpu-full-silver-const-k3, and Q also holds empty entity sequences (sentences without entities, as the paper's GQ draws them: data build --include-empty-q) that grounded S2E may emit in the cycles (--cycle-allow-empty): on tweets, where 38% of the dev sentences have no entity and S2E otherwise names one in nearly every sentence (beyond the paper)",
      [...SILVER_CONST_K3, '--cycle-allow-empty'],
      [],
      CPU_FULL,
    ),
    cycleDataArgs: ['--include-empty-q'],
  },
  'cpu-full-silver-refresh': cpuVariant(
    'cpu-full-silver-refresh',
    "cpu-full-silver, and after each evaluation a silver pair's sequence becomes S2E's output for its sentence where that output holds every gazetteer match (--silver-refresh; beyond the paper)",
    ['--silver-mix', '0.5', '--silver-decay-steps', '1500', '--silver-refresh'],
    [],
    CPU_FULL,
  ),
  'cpu-full-silver-held': cpuVariant(
    'cpu-full-silver-held',
    'cpu-full-silver, with 200 sentences of S held out of training and silver F1 logged on them (--silver-holdout 200; a label-free criterion; beyond the paper)',
    ['--silver-mix', '0.5', '--silver-decay-steps', '1500', '--silver-holdout', '200'],
    [],
    CPU_FULL,
  ),
  paper: {
    name: 'paper',
    // The paper states no learning rate, batch size or epoch count; these are cyclener's defaults
    // (src/cycle/config.ts), with evaluation once per epoch as in Figure 4.
    summary:
      "the paper's setting as far as it is stated: full Table 3 dev configurations, evaluation and selection (dev E-cycle loss) once per epoch, test F1 per evaluation on the full test split; 10 epochs, batch 32, lr 3e-4 (not stated in the paper)",
    cycleArgs: ['--epochs', '10', '--batch', '32'],
    supervisedArgs: ['--epochs', '3', '--batch', '32', '--lr', '5e-4'],
    evalArgs: [],
    devLossLines: null,
    devGoldLines: null,
    testCurveSentences: null,
  },
  smoke: {
    name: 'smoke',
    summary: 'tiny (4 steps), for tests and for checking a setup end to end',
    cycleArgs: ['--max-steps', '4', '--batch', '2', '--eval-every', '2'],
    supervisedArgs: ['--steps', '4', '--batch', '2', '--eval-every', '2', '--patience', '2'],
    evalArgs: ['--max-new-tokens', '16'],
    devLossLines: 8,
    devGoldLines: 8,
    supervisedDevLines: 8,
    testCurveSentences: 8,
  },
};

interface Spec {
  kind: CellKind;
  dataset: string;
  config: string | null;
  testCurve: boolean;
}

export interface ExperimentDef {
  name: string;
  summary: string;
  specs(opts: { withOntonotes: boolean }): Spec[];
}

const cyc = (config: string, testCurve = false): Spec => ({
  kind: 'cyclener',
  dataset: config.split('/')[0] as string,
  config,
  testCurve,
});
const lex = (config: string): Spec => ({
  kind: 'lexical',
  dataset: config.split('/')[0] as string,
  config,
  testCurve: false,
});
const both = (f: (m: 'gq' | 'sq') => string[]): string[] => [...f('gq'), ...f('sq')];

export const EXPERIMENTS: Readonly<Record<string, ExperimentDef>> = {
  table4: {
    name: 'table4',
    summary: 'supervised T5 (S2E) on the full train split of CoNLL-2003 and WNUT-17 (paper Table 4)',
    specs: () =>
      ['conll2003', 'wnut17'].map((dataset) => ({
        kind: 'supervised' as const,
        dataset,
        config: null,
        testCurve: false,
      })),
  },
  table5a: {
    name: 'table5a',
    summary:
      'Table 5 (a): #Q varied at fixed #S (CoNLL #S = 14k, #Q 100..14k; WNUT #S = 3.4k, #Q 500..3.4k), GQ and SQ',
    specs: () =>
      [
        ...both((m) => ['100', '1k', '1.5k', '2k', '3k', '14k'].map((q) => `conll2003/14k/${q}-${m}`)),
        ...both((m) => ['500', '1k', '1.5k', '3.4k'].map((q) => `wnut17/3.4k/${q}-${m}`)),
      ].map((c) => cyc(c)),
  },
  table5b: {
    name: 'table5b',
    summary: 'Table 5 (b): #S varied at fixed #Q (CoNLL #Q = 1k, #S 1k..14k; WNUT #Q = 500, #S 500..3.4k), GQ and SQ',
    specs: () =>
      [
        ...both((m) => ['1k', '1.5k', '2k', '3k', '14k'].map((s) => `conll2003/${s}/1k-${m}`)),
        ...both((m) => ['500', '1k', '1.5k', '3.4k'].map((s) => `wnut17/${s}/500-${m}`)),
      ].map((c) => cyc(c)),
  },
  table6: {
    name: 'table6',
    summary:
      'Table 6: CycleNER GQ and SQ rows per dataset (OntoNotes only if <data-dir>/ontonotes exists) and the Lexical Matcher rows',
    specs: ({ withOntonotes }) => [
      cyc('conll2003/2k/1k-gq', true),
      cyc('conll2003/14k/14k-sq', true),
      cyc('wnut17/3.4k/1k-gq', true),
      cyc('wnut17/3.4k/3.4k-sq', true),
      cyc('bc2gm/12.5k/1k-gq', true),
      cyc('bc2gm/12.5k/12.5k-sq', true),
      ...(withOntonotes ? [cyc('ontonotes/116k/5k-gq', true), cyc('ontonotes/116k/116k-sq', true)] : []),
      lex('conll2003/1k/1k-gq'),
      lex('bc2gm/1k/1k-gq'),
      ...(withOntonotes ? [lex('ontonotes/5k/5k-gq')] : []),
    ],
  },
  figure4: {
    name: 'figure4',
    summary:
      'Figure 4: dev S-/E-cycle losses and F1 per evaluation, Pearson of each loss with F1 (CoNLL /14k/1k, WNUT /3.4k/1k, GQ and SQ)',
    specs: () =>
      ['conll2003/14k/1k-gq', 'conll2003/14k/1k-sq', 'wnut17/3.4k/1k-gq', 'wnut17/3.4k/1k-sq'].map((c) => cyc(c, true)),
  },
};

export interface PlanOptions {
  preset: string;
  seeds: readonly number[];
  dataDir: string;
  /** Include OntoNotes cells even without <data-dir>/ontonotes (the report lists them as not run). */
  allDatasets?: boolean;
}

export class PlanError extends Error {}

export function getPreset(name: string): Preset {
  const p = PRESETS[name];
  if (!p) throw new PlanError(`unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return p;
}

export function getExperiment(name: string): ExperimentDef {
  const e = EXPERIMENTS[name];
  if (!e) throw new PlanError(`unknown experiment "${name}" (known: ${Object.keys(EXPERIMENTS).join(', ')})`);
  return e;
}

/** `conll2003/2k/1k-gq` -> `2k-1k-gq`. */
export function configSlug(config: string): string {
  return config.split('/').slice(1).join('-');
}

/** The paper's full-size GQ configurations need S to reuse Q's sentences (data build caps S otherwise). */
export function dataArgsFor(config: string): string[] {
  const c = parseConfigName(config);
  const n = TRAIN_SENTENCES[c.dataset];
  if (c.mode !== 'gq' || n === undefined) return [];
  return c.numS === 'full' || c.numS + c.numQ > n ? ['--allow-overlap'] : [];
}

export function planExperiment(name: string, o: PlanOptions): Cell[] {
  const exp = getExperiment(name);
  const preset = getPreset(o.preset);
  const withOntonotes = o.allDatasets === true || fs.existsSync(path.join(o.dataDir, 'ontonotes'));
  const cells: Cell[] = [];
  for (const s of exp.specs({ withOntonotes })) {
    for (const seed of o.seeds) {
      const slug = s.config ? configSlug(s.config) : 'full';
      const seedArgs = ['--seed', String(seed)];
      cells.push({
        id: `${exp.name}/${s.dataset}/${slug}/${s.kind}/seed${seed}`,
        experiment: exp.name,
        kind: s.kind,
        dataset: s.dataset,
        dataConfig: s.config,
        seed,
        dataArgs: [
          ...(s.config ? dataArgsFor(s.config) : []),
          ...(s.kind === 'cyclener' ? (preset.cycleDataArgs ?? []) : []),
        ],
        trainArgs:
          s.kind === 'cyclener'
            ? [...preset.cycleArgs, ...seedArgs]
            : s.kind === 'supervised'
              ? [...preset.supervisedArgs, ...seedArgs]
              : [],
        evalArgs: s.kind === 'lexical' ? [] : [...preset.evalArgs],
        devLossLines:
          s.kind === 'cyclener'
            ? preset.devLossLines
            : s.kind === 'supervised'
              ? (preset.supervisedDevLines ?? null)
              : null,
        supervisedDev: s.kind === 'supervised' && preset.supervisedDevLines !== undefined,
        devGoldLines: s.kind === 'cyclener' ? preset.devGoldLines : null,
        testCurve: s.kind === 'cyclener' && s.testCurve,
        testCurveSentences: preset.testCurveSentences,
      });
    }
  }
  return cells;
}

/** `1,2,3` -> [1, 2, 3]. */
export function parseSeeds(s: string): number[] {
  const seeds = s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
    .map((x) => (/^\d+$/.test(x) ? Number(x) : NaN)); // decimal digits only: Number('0x10') would be 16
  if (seeds.length === 0 || seeds.some((x) => !Number.isInteger(x) || x < 0))
    throw new PlanError(`--seeds needs comma-separated non-negative integers, got "${s}"`);
  return [...new Set(seeds)];
}

/** Keep cells whose id contains any of the comma-separated substrings; none matching is an error. */
export function filterCells(cells: readonly Cell[], filter: string | undefined): Cell[] {
  if (!filter) return [...cells];
  const parts = filter
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  const out = cells.filter((c) => parts.some((p) => c.id.includes(p)));
  if (out.length === 0)
    throw new PlanError(`--cells "${filter}" matches no cell (known: ${cells.map((c) => c.id).join(', ')})`);
  return out;
}
