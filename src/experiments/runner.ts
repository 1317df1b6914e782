// Runs cells as subprocesses of the cyclener CLI (data build, train / train-supervised, evaluate,
// baseline lexical): memory is isolated per stage and every command line is recorded. Stages are
// resumable, and a per-cell lock lets several runner processes share one experiment.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLabeled, sentenceToJson } from '../data/readers';
import { baseModelInfo, findSplit, type BaseModelInfo } from './files';
import { cacheKey, fieldProblem, readCached, redoLine, type Cached, type CacheKey } from '../util/cache-key';
import { atomicWriteFile, writeJsonFile } from '../util/fs';
import { modelWeightFiles } from '../util/run-dir';
import { acquireLock, addLockChild, releaseLock } from '../util/lock';
import type { Cell } from './plan';
import {
  correlations,
  evalRecords,
  RESULT_FIELDS,
  shellQuote,
  summarizeEval,
  trainingSummary,
  trainedSeconds,
  type CellResult,
  type CommandRecord,
  type TrainingSummary,
} from './result';

/** `cyclener train`'s flag that logs test P/R/F1 at each evaluation (one place, in case it is renamed). */
export const TRAIN_TEST_GOLD_FLAG = '--test-gold';

export interface RunContext {
  /** <out>/<preset>: cells live in <root>/<cell id>/. */
  root: string;
  preset: string;
  dataDir: string;
  baseModel: string;
  /** dist/src/cli/main.js */
  cliMain: string;
  evalSplit: 'test' | 'dev';
  log: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export type Outcome = 'done' | 'skipped: done' | 'skipped: locked' | 'failed';

export const cellDir = (ctx: Pick<RunContext, 'root'>, cell: Cell): string =>
  path.join(ctx.root, ...cell.id.split('/'));

/** The splits a cell reads: data build's train (and dev), and the evaluation split. */
function splitsOf(cell: Cell, ctx: Pick<RunContext, 'evalSplit'>): ('train' | 'dev' | 'test')[] {
  const need: ('train' | 'dev' | 'test')[] = [ctx.evalSplit];
  if (cell.dataConfig || cell.supervisedDev) need.push('train', 'dev');
  else need.push('train');
  return [...new Set(need)];
}

/** Input files a cell needs that are missing (each message names the path). */
export function missingInputs(cell: Cell, ctx: Pick<RunContext, 'dataDir' | 'baseModel' | 'evalSplit'>): string[] {
  const errs: string[] = [];
  for (const s of splitsOf(cell, ctx)) {
    const r = findSplit(ctx.dataDir, cell.dataset, s);
    if (r.error) errs.push(r.error);
  }
  if (cell.kind !== 'lexical' && !fs.existsSync(path.join(ctx.baseModel, 'config.json')))
    errs.push(`base model: no such file ${path.join(ctx.baseModel, 'config.json')}`);
  return errs;
}

class StageError extends Error {}

interface CellRun {
  cell: Cell;
  ctx: RunContext;
  dir: string;
  lockFile: string;
  records: CommandRecord[];
}

/** Subprocesses running now, so a runner stopped by a signal can stop them too. */
const active = new Set<ChildProcess>();

export function killActiveChildren(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const c of active) c.kill(signal);
}

/** Set once the runner is stopping: no new stage starts. */
let stopRequested = false;

/** SIGTERM to the running stages, resolved when they have exited (train and pretrain write their checkpoint first). */
export function stopActiveChildren(): Promise<void> {
  stopRequested = true;
  const running = [...active].filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of running) c.kill('SIGTERM');
  return Promise.all(
    running.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) resolve();
          else c.once('exit', () => resolve());
        }),
    ),
  ).then(() => undefined);
}

function readRecords(dir: string): CommandRecord[] {
  const p = path.join(dir, 'stages.jsonl');
  if (!fs.existsSync(p)) return [];
  return fs
    .readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as CommandRecord];
      } catch {
        return [];
      }
    });
}

/** Seconds per stage and in total; a resumed run's earlier processes, killed without a stage record, count from its
 *  metrics (trainedSeconds). */
function cellWall(records: readonly CommandRecord[], metricsText: string | null): Record<string, number> {
  const wall: Record<string, number> = {};
  for (const c of records) wall[c.stage] = (wall[c.stage] ?? 0) + c.seconds;
  if (metricsText !== null) wall.train = Math.max(wall.train ?? 0, trainedSeconds(metricsText));
  wall.total = Object.values(wall).reduce((a, b) => a + b, 0);
  return wall;
}

/** One CLI subprocess; stdout to `stdoutFile` (truncated) or appended to the stage log. */
function runStage(r: CellRun, stage: string, args: string[], stdoutFile?: string): Promise<void> {
  if (stopRequested) return Promise.reject(new StageError(`${stage} not started: the runner is stopping`));
  const logs = path.join(r.dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const out = fs.openSync(stdoutFile ?? path.join(logs, `${stage}.out`), stdoutFile ? 'w' : 'a');
  const err = fs.openSync(path.join(logs, `${stage}.log`), 'a');
  const cwd = process.cwd();
  const argv = ['node', path.relative(cwd, r.ctx.cliMain) || r.ctx.cliMain, ...args];
  fs.writeSync(err, `\n# ${new Date().toISOString()} pid ${process.pid}: ${shellQuote(argv)}\n`);
  const t0 = Date.now();
  r.ctx.log(`${r.cell.id}: ${stage} ...`);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [r.ctx.cliMain, ...args], {
      stdio: ['ignore', out, err],
      env: r.ctx.env ?? process.env,
    });
    active.add(child);
    addLockChild(r.lockFile, child.pid);
    let finished = false;
    const finish = (code: number | null, problem?: string) => {
      if (finished) return;
      finished = true;
      active.delete(child);
      fs.closeSync(out);
      fs.closeSync(err);
      const seconds = (Date.now() - t0) / 1000;
      const rec: CommandRecord = {
        stage,
        cmd: shellQuote(argv),
        argv,
        cwd,
        seconds,
        exit: code,
        at: new Date().toISOString(),
      };
      r.records.push(rec);
      fs.appendFileSync(path.join(r.dir, 'stages.jsonl'), JSON.stringify(rec) + '\n');
      if (code === 0) {
        r.ctx.log(`${r.cell.id}: ${stage} done in ${seconds.toFixed(1)}s`);
        resolve();
      } else {
        const tail = fs
          .readFileSync(path.join(logs, `${stage}.log`), 'utf8')
          .trim()
          .split('\n')
          .slice(-3)
          .join(' | ');
        reject(
          new StageError(
            `${stage} failed (${problem ?? `exit ${String(code)}`}) after ${seconds.toFixed(1)}s; see ${path.join(logs, `${stage}.log`)}: ${tail}`,
          ),
        );
      }
    };
    child.on('error', (e) => finish(null, e.message));
    child.on('exit', (code, signal) => finish(code, signal ? `signal ${signal}` : undefined));
  });
}

function writeHead(src: string, dst: string, n: number | null): string {
  if (n === null) return src;
  const lines = fs
    .readFileSync(src, 'utf8')
    .split('\n')
    .filter((l, i, a) => !(i === a.length - 1 && l === ''));
  atomicWriteFile(
    dst,
    lines
      .slice(0, n)
      .map((l) => l + '\n')
      .join(''),
  );
  return dst;
}

/** The first n sentences of a labelled file as JSONL (the per-evaluation test curve). */
function writeLabeledHead(src: string, dst: string, n: number | null): string {
  if (n === null) return src;
  const c = readLabeled(src);
  atomicWriteFile(
    dst,
    c.sentences
      .slice(0, n)
      .map((s) => sentenceToJson(s) + '\n')
      .join(''),
  );
  return dst;
}

/**
 * The cache key of a cell's result and stages: sha256 of the splits it reads (the test split too when its curve is
 * logged) and of the base model's files, and the settings of its commands. Paths are not in it: the same files moved
 * elsewhere give the same result.
 */
export function cellKey(cell: Cell, ctx: Pick<RunContext, 'dataDir' | 'baseModel' | 'evalSplit'>): CacheKey {
  const files: Record<string, string | string[] | undefined> = {};
  const splits = splitsOf(cell, ctx);
  if (cell.kind === 'cyclener' && cell.testCurve) splits.push('test');
  for (const s of new Set(splits)) files[`${s} split`] = findSplit(ctx.dataDir, cell.dataset, s).file;
  if (cell.kind !== 'lexical') {
    const model = ['config.json', 'spiece.model', 'tokenizer.json']
      .map((f) => path.join(ctx.baseModel, f))
      .filter((f) => fs.existsSync(f));
    files['base model'] = [...modelWeightFiles(ctx.baseModel), ...model];
  }
  return cacheKey(files, {
    id: cell.id,
    kind: cell.kind,
    dataConfig: cell.dataConfig,
    seed: cell.seed,
    dataArgs: cell.dataArgs,
    trainArgs: cell.trainArgs,
    evalArgs: cell.evalArgs,
    devLossLines: cell.devLossLines,
    devGoldLines: cell.devGoldLines,
    testCurveSentences: cell.testCurve ? cell.testCurveSentences : null,
    supervisedDev: cell.supervisedDev === true,
    evalSplit: ctx.evalSplit,
  });
}

export function checkResult(file: string, key: CacheKey): Cached<CellResult> {
  return readCached<CellResult>(file, key, (v) => fieldProblem(v, RESULT_FIELDS));
}

/** What the stages of a cell leave; removed when the cell's key changed, so that every stage runs again. */
const STAGE_OUTPUTS = ['result.json', 'eval.json', 'train.done', 'data', 'subsets', 'run', 'model', 'stages.jsonl'];

/**
 * Reuse the cell's stage outputs only when `cell.json` holds the current key (they came from the same inputs and
 * settings); otherwise remove them and record the key. Returns the line to log when something is redone.
 */
function prepareStages(dir: string, key: CacheKey, resultCheck: Cached<CellResult>): string | null {
  const keyFile = path.join(dir, 'cell.json');
  const stages = readCached(keyFile, key);
  if (stages.status === 'valid') return redoLine(path.join(dir, 'result.json'), resultCheck);
  for (const f of STAGE_OUTPUTS) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
  writeJsonFile(keyFile, { version: 2, key });
  const redo = redoLine(keyFile, stages);
  return redo
    ? redo.replace(/^redoing: /, 'redoing its stages: ')
    : redoLine(path.join(dir, 'result.json'), resultCheck);
}

async function buildData(r: CellRun): Promise<string> {
  const data = path.join(r.dir, 'data');
  if (fs.existsSync(path.join(data, 'manifest.json'))) return data;
  const force = fs.existsSync(path.join(data, 'S.txt')) ? ['--force'] : [];
  await runStage(r, 'data', [
    'data',
    'build',
    '--config',
    r.cell.dataConfig as string,
    '--data-dir',
    r.ctx.dataDir,
    '--out',
    data,
    '--seed',
    String(r.cell.seed),
    ...r.cell.dataArgs,
    ...force,
  ]);
  return data;
}

async function trainCycleStage(r: CellRun, data: string, testFile: string | undefined): Promise<string> {
  const { cell, ctx, dir } = r;
  const run = path.join(dir, 'run');
  const marker = path.join(dir, 'train.done');
  if (fs.existsSync(marker)) return run;
  const sub = path.join(dir, 'subsets');
  fs.mkdirSync(sub, { recursive: true });
  const devS = writeHead(path.join(data, 'dev_S.txt'), path.join(sub, 'dev_S.txt'), cell.devLossLines);
  const devQ = writeHead(path.join(data, 'dev_Q.txt'), path.join(sub, 'dev_Q.txt'), cell.devLossLines);
  const devGold = writeHead(path.join(data, 'dev_gold.jsonl'), path.join(sub, 'dev_gold.jsonl'), cell.devGoldLines);
  const args = [
    'train',
    '--sentences',
    path.join(data, 'S.txt'),
    '--entities',
    path.join(data, 'Q.txt'),
    '--dev-sentences',
    devS,
    '--dev-entities',
    devQ,
    '--dev-gold',
    devGold,
    '--dataset',
    cell.dataset,
    '--base-model',
    ctx.baseModel,
    '--out',
    run,
    ...cell.trainArgs,
  ];
  if (cell.testCurve && testFile)
    args.push(
      TRAIN_TEST_GOLD_FLAG,
      writeLabeledHead(testFile, path.join(sub, 'test_curve.jsonl'), cell.testCurveSentences),
    );
  // A run folder left by an earlier attempt: --resume continues its checkpoint (or, if it was killed before the
  // first one, starts over from step 0 after checking that the inputs and settings are the same).
  if (fs.existsSync(run) && fs.readdirSync(run).length > 0) args.push('--resume');
  await runStage(r, 'train', args);
  atomicWriteFile(marker, new Date().toISOString() + '\n');
  return run;
}

async function trainSupervisedStage(r: CellRun): Promise<string> {
  const { cell, ctx, dir } = r;
  const model = path.join(dir, 'model');
  const marker = path.join(dir, 'train.done');
  if (fs.existsSync(marker)) return model;
  const train = findSplit(ctx.dataDir, cell.dataset, 'train');
  if (!train.file) throw new StageError(train.error);
  const devArgs: string[] = [];
  if (cell.supervisedDev) {
    const dev = findSplit(ctx.dataDir, cell.dataset, 'dev');
    if (!dev.file) throw new StageError(dev.error);
    devArgs.push('--dev', dev.file, ...(cell.devLossLines !== null ? ['--dev-num', String(cell.devLossLines)] : []));
  }
  // A model folder left by an earlier attempt: --resume continues its checkpoint; one without a checkpoint (killed
  // before the first, or written by a version that could not resume) starts over (--force replaces what it left).
  const again = fs.existsSync(path.join(model, 'checkpoint', 'state.json'))
    ? ['--resume']
    : fs.existsSync(model)
      ? ['--force']
      : [];
  await runStage(r, 'train', [
    'train-supervised',
    '--train',
    train.file,
    '--dataset',
    cell.dataset,
    '--base-model',
    ctx.baseModel,
    '--out',
    model,
    ...devArgs,
    ...cell.trainArgs,
    ...again,
  ]);
  atomicWriteFile(marker, new Date().toISOString() + '\n');
  return model;
}

async function evaluateStage(r: CellRun, args: string[]): Promise<unknown> {
  const file = path.join(r.dir, 'eval.json');
  await runStage(r, 'evaluate', args, file);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new StageError(`${file}: evaluation output is not JSON (${(e as Error).message})`);
  }
}

/** Run (or resume, or skip) one cell. Never throws for a failing stage: the outcome says so. */
export async function runCell(cell: Cell, ctx: RunContext): Promise<{ outcome: Outcome; message?: string }> {
  const dir = cellDir(ctx, cell);
  const resultFile = path.join(dir, 'result.json');
  // "skipped: done" only for a whole result.json computed from the current inputs and settings (its key).
  const missing = missingInputs(cell, ctx);
  if (missing.length > 0) return { outcome: 'failed', message: missing.join('; ') };
  let key: CacheKey;
  try {
    key = cellKey(cell, ctx);
  } catch (e) {
    return { outcome: 'failed', message: `cannot read the cell's inputs: ${(e as Error).message}` };
  }
  if (checkResult(resultFile, key).status === 'valid') return { outcome: 'skipped: done' };
  fs.mkdirSync(dir, { recursive: true });
  const lockFile = path.join(dir, 'lock');
  const lock = acquireLock(lockFile);
  if (!lock.ok) return { outcome: 'skipped: locked', message: `held by pid ${lock.pid}` };
  const t0 = Date.now();
  try {
    const result0 = checkResult(resultFile, key);
    if (result0.status === 'valid') return { outcome: 'skipped: done' }; // finished by another runner meanwhile
    const redo = prepareStages(dir, key, result0);
    if (redo) ctx.log(`${cell.id}: ${redo}`);
    const r: CellRun = { cell, ctx, dir, lockFile, records: readRecords(dir) };
    const evalFile = findSplit(ctx.dataDir, cell.dataset, ctx.evalSplit).file as string;
    const testFile = findSplit(ctx.dataDir, cell.dataset, 'test').file;
    const notes: string[] = [];
    const base: BaseModelInfo | null = cell.kind === 'lexical' ? null : baseModelInfo(ctx.baseModel);
    let evalJson: unknown;
    let evals: CellResult['evals'] = [];
    let training: TrainingSummary | undefined;
    let metricsText: string | null = null;
    if (cell.kind === 'lexical') {
      const data = await buildData(r);
      evalJson = await evaluateStage(r, [
        'baseline',
        'lexical',
        '--q',
        path.join(data, 'Q.txt'),
        '--gold',
        evalFile,
        '--dataset',
        cell.dataset,
        '--json',
      ]);
    } else if (cell.kind === 'supervised') {
      const model = await trainSupervisedStage(r);
      const metrics = path.join(model, 'metrics.jsonl');
      metricsText = fs.existsSync(metrics) ? fs.readFileSync(metrics, 'utf8') : null;
      if (metricsText !== null) training = trainingSummary(metricsText);
      evalJson = await evaluateStage(r, [
        'evaluate',
        '--gold',
        evalFile,
        '--model',
        model,
        '--dataset',
        cell.dataset,
        '--json',
        ...cell.evalArgs,
      ]);
    } else {
      const data = await buildData(r);
      if (cell.testCurve && !testFile) notes.push(`no test split for ${cell.dataset}: no per-evaluation test F1`);
      const run = await trainCycleStage(r, data, testFile);
      evalJson = await evaluateStage(r, [
        'evaluate',
        '--gold',
        evalFile,
        '--model',
        path.join(run, 'best'),
        '--dataset',
        cell.dataset,
        '--json',
        ...cell.evalArgs,
      ]);
      const metrics = path.join(run, 'metrics.jsonl');
      metricsText = fs.existsSync(metrics) ? fs.readFileSync(metrics, 'utf8') : null;
      evals = metricsText !== null ? evalRecords(metricsText) : [];
      if (metricsText !== null) training = trainingSummary(metricsText);
    }
    const wall = cellWall(r.records, metricsText);
    const result: CellResult = {
      version: 1,
      key,
      experiment: cell.experiment,
      cellId: cell.id,
      kind: cell.kind,
      dataset: cell.dataset,
      dataConfig: cell.dataConfig,
      seed: cell.seed,
      preset: ctx.preset,
      baseModel: base,
      dataDir: ctx.dataDir,
      evalFile,
      evalSplit: ctx.evalSplit,
      threads: (ctx.env ?? process.env).CYCLENER_THREADS ?? null,
      commands: r.records,
      wallSeconds: wall,
      test: summarizeEval(evalJson),
      evals,
      ...(training ? { training } : {}),
      pearson: cell.kind === 'cyclener' ? correlations(evals) : null,
      notes,
      finishedAt: new Date().toISOString(),
    };
    writeJsonFile(resultFile, result);
    const m = result.test.exact.micro;
    ctx.log(
      `${cell.id}: P ${m.precision.toFixed(3)} R ${m.recall.toFixed(3)} F1 ${m.f1.toFixed(3)} (${ctx.evalSplit}); ${((Date.now() - t0) / 1000).toFixed(1)}s this run`,
    );
    return { outcome: 'done' };
  } catch (e) {
    if (!(e instanceof StageError) && !(e instanceof Error)) throw e;
    return { outcome: 'failed', message: e.message };
  } finally {
    releaseLock(lockFile);
  }
}
