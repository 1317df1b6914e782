// `cyclener pretrain`: tokenizer (trained or reused), model (preset, config file or --init checkpoint), the objective
// mixture over a streamed corpus, AdamW with warmup + linear/inverse-sqrt decay, optional bf16 autocast and gradient
// accumulation, time-boxed sittings with atomic checkpoints every N minutes and exact --resume, metrics JSONL and a
// loss-curve SVG, and a final Hugging Face directory (config.json, model.safetensors, tokenizer.json, spiece.model).
// pretrain() is the sitting's loop; the recipe, the model, the optimizer, the data, one step, the log (metrics.ts) and
// the export are functions of their own; the checkpoint folder, metrics schema, seeds and stop reasons are the run kit's.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../tensor';
import { configFromHF, presetConfig, PRESETS, type T5Config } from '../t5/config';
import { loadModel, saveCheckpoint } from '../t5/checkpoint';
import { T5ForConditionalGeneration } from '../t5/model';
import type { T5Tokenizer } from '../t5/tokenizer';
import {
  groupDefaults,
  nonFiniteStop,
  paddingShare,
  Seq2SeqTrainer,
  type GroupOptions,
  type StepResult,
} from '../t5/train';
import { recoverCheckpoint } from '../run/checkpoint';
import { RUN_FILES } from '../run/layout';
import { seedRankEngine } from '../run/seed';
import type { StopReason } from '../run/stop';
import type { MetricsSink } from '../run/metrics';
import { PretrainLog, rounded } from './metrics';
import { spanRawLength } from './noise';
import {
  describeSpanStats,
  formatMixture,
  newSpanStats,
  parseMixture,
  type BuiltExample,
  type SpanInputs,
  type SpanStats,
} from './objectives';
import { readHeldOut, TrainStream, validationBatches, type DataOptions } from './sampler';
import { makeSchedule, type ScheduleKind } from './schedule';
import { checkLayout, loadTokenizerDir, trainTokenizer } from './spm';
import {
  readTrainState,
  restoreOptimizerAndRng,
  saveTrainState,
  type Optimizer,
  type Recipe,
  type TrainState,
} from './train-state';
import { checkCorpusFiles } from './corpus';
import { modelSource } from '../hub';
import { readJsonFile } from '../util/fs';
import { PRETRAIN_DEFAULTS } from './settings';

export interface PretrainOptions {
  corpus: string[];
  out: string;
  /** The architecture (`--arch`): a preset name, a config.json, or a model directory whose config.json gives the
   *  dimensions. */
  model: string;
  vocabSize: number;
  tokenizerDir?: string | null;
  init?: string | null;
  mixture: string;
  /** inputs of the span objective: T5's packed fixed-length windows (default) or 1-3 sentences (the old recipe) */
  spanInputs?: SpanInputs;
  maxMinutes?: number | null;
  steps?: number | null;
  resume?: boolean;
  batch: number;
  accum: number;
  /** AdamW (betas 0.9/0.98, wd 0.01) or Adafactor with the same external lr schedule (no relative step, no scaling) */
  optimizer?: 'adamw' | 'adafactor';
  lr: number;
  warmup: number;
  schedule?: ScheduleKind | null;
  seed: number;
  bf16: boolean;
  dropout: number;
  maxSource: number;
  maxTarget: number;
  checkpointMinutes: number;
  evalEvery: number;
  logEvery: number;
  valDocs: number;
  valBatches: number;
  valBatchSize: number;
  holdoutEvery: number;
  chunkDocs: number;
  spmSentences: number;
  saveDtype: 'float32' | 'bfloat16';
  /** stop this sitting after this many steps (the schedule still uses `steps`); for tests and benchmarks */
  stopAfter?: number | null;
  /** aborted = stop after the current step, checkpoint and export as at the end of a sitting (Ctrl-C) */
  signal?: AbortSignal;
  /** skip the final HF export (benchmarks) */
  noExport?: boolean;
  /** spm_train: allow fewer pieces than asked (tiny corpora) */
  softVocabLimit?: boolean;
  /** split each batch into length-grouped micro-batches (same gradient, less padding); unset fields = groupDefaults(), null = off */
  lengthGrouping?: GroupOptions | null;
  log: (line: string) => void;
  /** Receives each record metrics.jsonl gets (the library's progress callback). */
  metrics?: MetricsSink;
}

export interface PretrainResult {
  /** step reached (all sittings) */
  step: number;
  tokens: number;
  /** loss of every optimizer step of this sitting, in order */
  losses: number[];
  valLoss: Record<string, number> | null;
  tokensPerSecond: number;
  seconds: number;
  stoppedBy: Extract<StopReason, 'steps' | 'time' | 'stop-after' | 'signal'>;
  params: number;
  /** span examples of this sitting (null when the mixture has no span objective) */
  span: SpanStats | null;
  /** share of padded positions of this sitting's collated training batches */
  padding: { source: number; target: number; all: number };
}

/** T5 config for `spec` with the tokenizer's vocabulary. */
export function resolveModelConfig(spec: string, vocabSize: number): T5Config {
  let cfg: T5Config;
  if (PRESETS[spec]) cfg = presetConfig(spec);
  else {
    const file = fs.existsSync(spec) && fs.statSync(spec).isDirectory() ? path.join(spec, 'config.json') : spec;
    if (!fs.existsSync(file))
      throw new Error(`--arch ${spec}: not a preset (${Object.keys(PRESETS).join(', ')}) nor a config file`);
    cfg = configFromHF(readJsonFile<Record<string, unknown>>(file));
  }
  return { ...cfg, vocabSize };
}

function countParams(m: T5ForConditionalGeneration): number {
  return m.parameters().reduce((a, p) => a + p.numel(), 0);
}

function batchTokens(mbs: BuiltExample[][]): number {
  let n = 0;
  for (const mb of mbs) for (const e of mb) n += e.source.length + e.target.length;
  return n;
}

async function getTokenizer(o: PretrainOptions, resumeFromOut: boolean): Promise<T5Tokenizer> {
  const outTok = path.join(o.out, 'tokenizer.json');
  let tok: T5Tokenizer;
  let srcDir: string | null = null;
  if (resumeFromOut && fs.existsSync(outTok)) tok = loadTokenizerDir(o.out);
  else if (o.init || o.tokenizerDir) {
    srcDir = (o.init ?? o.tokenizerDir)!;
    tok = loadTokenizerDir(srcDir);
    o.log(`tokenizer: reusing ${srcDir} (${tok.vocabSize} tokens)`);
  } else {
    tok = await trainTokenizer({
      files: o.corpus,
      outDir: o.out,
      vocabSize: o.vocabSize,
      sampleSentences: o.spmSentences,
      seed: o.seed,
      softVocabLimit: o.softVocabLimit,
      log: o.log,
    });
  }
  if (srcDir) {
    fs.writeFileSync(outTok, tok.json);
    const sp = path.join(srcDir, 'spiece.model');
    if (fs.existsSync(sp)) fs.copyFileSync(sp, path.join(o.out, 'spiece.model'));
  }
  const { sentinel0, sep } = checkLayout(tok);
  o.log(
    `tokenizer: ${tok.vocabSize} tokens, <pad>=${tok.padId} </s>=${tok.eosId} <unk>=${tok.unkId} <extra_id_0>=${sentinel0} <sep>=${sep}`,
  );
  return tok;
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const { ckDir, saved, recipe } = pretrainRecipe(o);
  const schedule = makeSchedule({
    kind: recipe.schedule as ScheduleKind,
    lr: recipe.lr,
    warmup: recipe.warmup,
    totalSteps: recipe.steps ?? undefined,
  });
  // In a process group (T.dist) rank 0 alone writes: the tokenizer first (the others read it), then metrics,
  // checkpoints and the export. Every rank builds the same global batch from the same stream and trains on its shard.
  const lead = T.dist.rank() === 0;
  const leadTok = lead ? await getTokenizer(o, saved !== null) : null;
  await T.dist.barrier();
  const tok = leadTok ?? loadTokenizerDir(o.out);
  const { model, configDropout, params } = await pretrainModel(o, recipe, ckDir, saved, tok);
  const { opt, trainer, grouping } = pretrainOptimizer(model, recipe, schedule);
  if (ckDir && saved) resumeOptimizer(ckDir, saved, opt, trainer, recipe, o.log);
  const data = await pretrainData(o, recipe, tok, saved, grouping);
  const { val, stream } = data;
  const plog = pretrainLog(o, lead, saved, recipe);
  const evaluate = () => validate(trainer, val);
  if (!saved && val.size > 0 && lead) plog.initialValidation(evaluate());
  let step = saved?.step ?? 0;
  let tokens = saved?.tokens ?? 0;
  const losses: number[] = [];
  const t0 = Date.now();
  let lastCkpt = t0;
  let ckptStep: number | null = saved ? saved.step : null;
  let sittingTokens = 0;
  let lastVal: Record<string, number> | null = null;
  const budgetMs = o.maxMinutes ? o.maxMinutes * 60_000 : Infinity;
  const stopAfter = o.stopAfter ?? Infinity;
  let stoppedBy: PretrainResult['stoppedBy'] = 'steps';
  const checkpoint = () => {
    if (!lead) return;
    const state = { step, tokens, minutes: plog.minutes(), recipe, data: stream.state(), configDropout };
    savePretrainCheckpoint(o.out, model, opt, state);
    fs.writeFileSync(path.join(o.out, 'loss.svg'), plog.curveSvg());
    lastCkpt = Date.now();
    ckptStep = step;
  };

  try {
    for (;;) {
      const stop = await stopReason(recipe, step, losses.length, stopAfter, Date.now() - t0 >= budgetMs, o.signal);
      if (stop) {
        stoppedBy = stop;
        break;
      }
      const lr = schedule(step);
      const r = await pretrainStep(trainer, stream, recipe, step, lr, ckptStep);
      if (r === null) continue;
      step++;
      tokens += r.tokens;
      sittingTokens += r.tokens;
      losses.push(r.result.loss);
      plog.add(r.result, r.tokens);
      const evalNow = step % o.evalEvery === 0;
      if (lead && (step % o.logEvery === 0 || evalNow)) {
        if (evalNow && val.size > 0) lastVal = evaluate();
        plog.point(step, tokens, lr, evalNow && val.size > 0 ? lastVal : null);
      }
      if (Date.now() - lastCkpt >= o.checkpointMinutes * 60_000) checkpoint();
    }
    const warn = stream.warning();
    if (warn) o.log(warn);
    const span = data.hasSpan ? { ...stream.spanStats } : null;
    if (span) o.log(describeSpanStats(span, recipe.spanInputs ?? 'sentences'));
    if (lead && losses.length > 0 && val.size > 0 && step % o.evalEvery !== 0) {
      lastVal = evaluate();
      plog.closingValidation(step, tokens, schedule(Math.max(0, step - 1)), lastVal);
    }
    if (lead) plog.end(step, stoppedBy);
    if (losses.length > 0) checkpoint();
    const seconds = (Date.now() - t0) / 1000;
    const padding = paddingShare(plog.sittingPad);
    if (!o.noExport && lead) {
      const summary = {
        step,
        tokens,
        minutes: (saved?.minutes ?? 0) + seconds / 60,
        params,
        recipe,
        valLoss: lastVal,
        stoppedBy,
        corpusWarning: warn,
        spanThisSitting: span,
        paddingThisSitting: padding,
      };
      exportModel(o, model, tok, configDropout, recipe.dropout, summary);
    }
    return sittingResult(
      o,
      { step, tokens, losses, valLoss: lastVal, seconds, stoppedBy, params, span, padding },
      sittingTokens,
    );
  } finally {
    stream.close();
    opt.dispose();
    model.dispose();
  }
}

/** metrics.jsonl (written by rank 0 only), the progress lines and loss.svg, continuing a resumed run's. */
function pretrainLog(o: PretrainOptions, lead: boolean, saved: TrainState | null, recipe: Recipe): PretrainLog {
  return new PretrainLog({
    file: lead ? path.join(o.out, RUN_FILES.metrics) : null,
    resumedAt: saved ? saved.step : null,
    priorMinutes: saved?.minutes ?? 0,
    steps: recipe.steps,
    maxMinutes: o.maxMinutes,
    log: o.log,
    ...(o.metrics ? { sinks: [o.metrics] } : {}),
  });
}

/** The sitting's result (its throughput from the tokens it trained on), announced in one closing line. */
function sittingResult(
  o: PretrainOptions,
  s: Omit<PretrainResult, 'tokensPerSecond'>,
  sittingTokens: number,
): PretrainResult {
  const { step, tokens, valLoss: lastVal, seconds, stoppedBy, padding } = s;
  const result: PretrainResult = {
    step,
    tokens,
    losses: s.losses,
    valLoss: lastVal,
    tokensPerSecond: sittingTokens / Math.max(1e-3, seconds),
    seconds,
    stoppedBy,
    params: s.params,
    span: s.span,
    padding,
  };
  o.log(
    `done: step ${step}, ${(tokens / 1e6).toFixed(2)}M tokens, ${Math.round(result.tokensPerSecond)} tok/s this sitting, padding ${Math.round(100 * padding.source)}% of source / ${Math.round(100 * padding.target)}% of target positions (stopped by ${stoppedBy})${lastVal ? `, val ${rounded(lastVal)}` : ''} -> ${o.out}`,
  );
  return result;
}

/**
 * The recipe of this sitting: a new run's from the options; a resumed run's is the saved one (only the step budget
 * may change), so the trajectory continues. Also the checkpoint to resume from and its state.
 */
function pretrainRecipe(o: PretrainOptions): { ckDir: string | null; saved: TrainState | null; recipe: Recipe } {
  checkCorpusFiles(o.corpus);
  fs.mkdirSync(o.out, { recursive: true });
  const ckDir = o.resume ? recoverCheckpoint(o.out, o.log) : null;
  if (o.resume && !ckDir) o.log(`resume: no checkpoint in ${o.out}; starting from scratch`);
  const saved = ckDir ? readTrainState(ckDir) : null;
  const recipe: Recipe = saved
    ? { ...saved.recipe, spanInputs: saved.recipe.spanInputs ?? 'sentences', steps: o.steps ?? saved.recipe.steps }
    : {
        mixture: formatMixture(parseMixture(o.mixture)),
        spanInputs: o.spanInputs ?? PRETRAIN_DEFAULTS.spanInputs,
        batch: o.batch,
        accum: o.accum,
        optimizer: o.optimizer ?? 'adamw',
        lr: o.lr,
        warmup: o.warmup,
        schedule: o.schedule ?? (o.steps ? 'linear' : 'inverse-sqrt'),
        steps: o.steps ?? null,
        seed: o.seed,
        bf16: o.bf16,
        dropout: o.dropout,
        maxSource: o.maxSource,
        maxTarget: o.maxTarget,
        holdoutEvery: o.holdoutEvery,
        chunkDocs: o.chunkDocs,
        corpus: o.corpus.map((f) => path.resolve(f)),
        init: o.init ? path.resolve(o.init) : null,
        initSource: o.init ? modelSource(o.init) : null,
        lengthGrouping:
          o.lengthGrouping === null ? null : { ...groupDefaults(o.bf16 ? 'bfloat16' : null), ...o.lengthGrouping },
      };
  if (saved && recipe.corpus.join(',') !== o.corpus.map((f) => path.resolve(f)).join(',')) {
    throw new Error(`resume: the checkpoint was trained on ${recipe.corpus.join(',')}, not ${o.corpus.join(',')}`);
  }
  return { ckDir, saved, recipe };
}

/** The model: the checkpoint's (resume) > --init > fresh from the preset or config; every rank gets rank 0's weights. */
async function pretrainModel(
  o: PretrainOptions,
  recipe: Recipe,
  ckDir: string | null,
  saved: TrainState | null,
  tok: T5Tokenizer,
): Promise<{ model: T5ForConditionalGeneration; configDropout: number; params: number }> {
  T.manualSeed(recipe.seed);
  let model: T5ForConditionalGeneration;
  let configDropout: number;
  if (ckDir && saved) {
    model = loadModel(ckDir);
    configDropout = saved.configDropout;
  } else if (o.init) {
    model = loadModel(o.init);
    configDropout = model.config.dropoutRate;
    if (model.config.vocabSize < tok.vocabSize)
      throw new Error(`--init ${o.init}: vocab_size ${model.config.vocabSize} < tokenizer ${tok.vocabSize}`);
  } else {
    const cfg = resolveModelConfig(o.model, tok.vocabSize);
    configDropout = cfg.dropoutRate;
    model = new T5ForConditionalGeneration(cfg, { seed: recipe.seed });
  }
  // Dropout off while pretraining (T5 v1.1 practice, as the GPU script); config.json keeps the fine-tuning rate.
  model.config.dropoutRate = recipe.dropout;
  await T.dist.broadcast(model.parameters()); // every rank starts from rank 0's weights
  const params = countParams(model);
  o.log(
    `model: ${(params / 1e6).toFixed(2)}M parameters (d_model ${model.config.dModel}, d_ff ${model.config.dFf}, ${model.config.numLayers}+${model.config.numDecoderLayers} layers, ${model.config.numHeads} heads, ${model.config.feedForwardProj})`,
  );
  return { model, configDropout, params };
}

/** The optimizer (AdamW, or Adafactor on the same external schedule) and the trainer with the recipe's grouping. */
function pretrainOptimizer(
  model: T5ForConditionalGeneration,
  recipe: Recipe,
  schedule: (step: number) => number,
): { opt: Optimizer; trainer: Seq2SeqTrainer; grouping: GroupOptions | null } {
  const opt: Optimizer =
    (recipe.optimizer ?? 'adamw') === 'adafactor'
      ? new T.Adafactor(model.parameters(), {
          lr: recipe.lr,
          relativeStep: false,
          scaleParameter: false,
          warmupInit: false,
        })
      : new T.AdamW(model.parameters(), { lr: recipe.lr, betas: [0.9, 0.98], weightDecay: 0.01 });
  // Stored resolved, so a resumed run groups exactly as before even if the defaults change.
  const grouping =
    recipe.lengthGrouping === undefined ? groupDefaults(recipe.bf16 ? 'bfloat16' : null) : recipe.lengthGrouping;
  const trainer = new Seq2SeqTrainer(model, opt, {
    autocast: recipe.bf16 ? 'bfloat16' : null,
    maxGradNorm: 1.0,
    schedule,
    groupByLength: grouping,
  });
  return { opt, trainer, grouping };
}

/** A resumed sitting: the optimizer, the trainer's step count and the engine RNG as the checkpoint left them. */
function resumeOptimizer(
  ckDir: string,
  saved: TrainState,
  opt: Optimizer,
  trainer: Seq2SeqTrainer,
  recipe: Recipe,
  log: (line: string) => void,
): void {
  restoreOptimizerAndRng(ckDir, opt, saved);
  trainer.stepCount = saved.step;
  seedRankEngine(recipe.seed, saved.step, true); // rank 0 continues the restored generator, the others their own
  const was = saved.workers ?? 1;
  const now = T.dist.worldSize();
  log(
    `resume: step ${saved.step}, ${(saved.tokens / 1e6).toFixed(2)}M tokens, ${saved.minutes.toFixed(1)} min so far (${ckDir})${was !== now ? `; written by ${was} worker(s), continued by ${now}` : ''}`,
  );
}

/** The data of a sitting: the objective mixture over the streamed corpus (continuing at the checkpoint's position)
 *  and the validation batches of the held-out documents. */
async function pretrainData(
  o: PretrainOptions,
  recipe: Recipe,
  tok: T5Tokenizer,
  saved: TrainState | null,
  grouping: GroupOptions | null,
): Promise<{ hasSpan: boolean; val: Map<string, BuiltExample[][]>; stream: TrainStream }> {
  const dataOpts: DataOptions = {
    files: o.corpus,
    mixture: parseMixture(recipe.mixture),
    holdoutEvery: recipe.holdoutEvery,
    chunkDocs: recipe.chunkDocs,
    maxSource: recipe.maxSource,
    maxTarget: recipe.maxTarget,
    spanInputs: recipe.spanInputs,
  };
  const hasSpan = dataOpts.mixture.some(([n]) => n === 'span');
  const valDocs = await readHeldOut(dataOpts, o.valDocs);
  const valSpan = newSpanStats();
  const val = await validationBatches(valDocs, dataOpts, tok, o.valBatches, o.valBatchSize, valSpan);
  if (valSpan.short > 0) o.log(`validation: ${describeSpanStats(valSpan, 'packed')}`);
  let spanNote = '';
  if (hasSpan && recipe.spanInputs === 'packed') {
    const p = spanRawLength(recipe.maxSource, recipe.maxTarget);
    spanNote = ` | span inputs packed: ${p.tokens} raw tokens -> source ${p.inputs} / target ${p.targets}`;
  } else if (hasSpan) spanNote = ' | span inputs sentences';
  o.log(
    `data: ${o.corpus.join(',')} | mixture ${recipe.mixture}${spanNote} | ${valDocs.length} held-out docs | batch ${recipe.batch}x${recipe.accum}${grouping ? ` in length groups (<= ${Math.round(100 * (grouping.maxPadFraction ?? 1))}% padding)` : ''} | ${recipe.optimizer ?? 'adamw'} lr ${recipe.lr} ${recipe.schedule} warmup ${recipe.warmup}${recipe.steps ? ` | ${recipe.steps} steps` : ''}${recipe.bf16 ? ' | bf16' : ''}`,
  );
  return { hasSpan, val, stream: new TrainStream(dataOpts, tok, recipe.seed, saved?.data) };
}

/** The held-out loss per objective (teacher-forced, no dropout). */
function validate(trainer: Seq2SeqTrainer, val: Map<string, BuiltExample[][]>): Record<string, number> {
  const r: Record<string, number> = {};
  for (const [name, batches] of val) r[name] = batches.reduce((a, b) => a + trainer.evaluate(b), 0) / batches.length;
  return r;
}

/** Whether this sitting stops before the next step, and why. Clocks and signals differ between ranks: a rank's stop is
 *  everyone's, at the same step. */
async function stopReason(
  recipe: Recipe,
  step: number,
  stepsThisSitting: number,
  stopAfter: number,
  timeUp: boolean,
  signal: AbortSignal | undefined,
): Promise<PretrainResult['stoppedBy'] | null> {
  if (recipe.steps !== null && step >= recipe.steps) return 'steps';
  if (stepsThisSitting >= stopAfter) return 'stop-after';
  const [time, signalled] = await T.dist.sumNumbers([timeUp ? 1 : 0, signal?.aborted === true ? 1 : 0]);
  if (time! > 0) return 'time';
  if (signalled! > 0) return 'signal';
  return null;
}

/** One optimizer step over `accum` micro-batches of the stream (null: the stream gave none), NaN/Inf-guarded. */
async function pretrainStep(
  trainer: Seq2SeqTrainer,
  stream: TrainStream,
  recipe: Recipe,
  step: number,
  lr: number,
  ckptStep: number | null,
): Promise<{ result: StepResult; tokens: number } | null> {
  const mbs: BuiltExample[][] = [];
  for (let a = 0; a < recipe.accum; a++) {
    const b = await stream.batch(recipe.batch);
    if (b.length > 0) mbs.push(b);
  }
  if (mbs.length === 0) return null;
  try {
    return { result: await trainer.step(mbs.map((b) => T.dist.shard(b))), tokens: batchTokens(mbs) };
  } catch (e) {
    const ckpt =
      ckptStep === null ? 'no checkpoint was written yet' : `the last checkpoint (step ${ckptStep}) is intact`;
    throw nonFiniteStop(
      e,
      `step ${step + 1} (lr ${lr.toExponential(2)}):`,
      `${ckpt}; lower --lr or use more --lr-warmup-steps`,
    );
  }
}

/** checkpoint/ of a sitting; config.json there keeps the fine-tuning dropout (the model trains with the recipe's). */
function savePretrainCheckpoint(
  out: string,
  model: T5ForConditionalGeneration,
  opt: Optimizer,
  s: Pick<TrainState, 'step' | 'tokens' | 'minutes' | 'recipe' | 'data' | 'configDropout'>,
): void {
  const trainDropout = model.config.dropoutRate;
  model.config.dropoutRate = s.configDropout;
  try {
    saveTrainState(out, model, opt, { version: 1, ...s, workers: T.dist.worldSize() });
  } finally {
    model.config.dropoutRate = trainDropout;
  }
}

/** The final Hugging Face folder (config.json with the fine-tuning dropout, weights, tokenizer) and its summary. */
function exportModel(
  o: PretrainOptions,
  model: T5ForConditionalGeneration,
  tok: T5Tokenizer,
  configDropout: number,
  trainDropout: number,
  summary: Record<string, unknown>,
): void {
  model.config.dropoutRate = configDropout;
  saveCheckpoint(o.out, model, { tokenizer: tok, dtype: o.saveDtype === 'bfloat16' ? 'bfloat16' : undefined });
  model.config.dropoutRate = trainDropout;
  fs.writeFileSync(path.join(o.out, 'pretrain_summary.json'), JSON.stringify(summary, null, 1) + '\n');
}
