// Experiment runner and report: planning against the paper's tables, aggregation, Pearson, the
// Markdown page, resumability and locks, and real lexical / smoke cycle cells on the CoNLL fixture.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../../../src/cli/commands';
import { cli } from '../../helpers/cli-helpers';
import { markdownBlocks, toHtml, toMarkdown } from '../../../src/experiments/doc';
import { TABLE5A, TABLE5B, TABLE6 } from '../../../src/experiments/paper';
import { filterCells, planExperiment, type Cell } from '../../../src/experiments/plan';
import { buildReport, fmtStat, meanStd } from '../../../src/experiments/report';
import {
  correlations,
  evalRecords,
  trainedSeconds,
  type CellResult,
  type EvalRecord,
} from '../../../src/experiments/result';
import { cellDir, runCell, type RunContext } from '../../../src/experiments/runner';

const CLI_MAIN = path.join(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
const FIXTURE = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'conll-mini.txt');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-exp-'));
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
const NO_DATA = path.join(root, 'no-data');
const env = { ...process.env, CYCLENER_THREADS: '1' };

const ids = (cells: readonly Cell[]) => cells.map((c) => c.id);
const configs = (cells: readonly Cell[]) => cells.map((c) => `${c.kind}:${c.dataConfig}`);

test('plan: table6 follows the paper (Tables 3 and 6), OntoNotes only when its data exists', () => {
  const cells = planExperiment('table6', { preset: 'cpu', seeds: [1], dataDir: NO_DATA });
  assert.deepEqual(configs(cells), [
    'cyclener:conll2003/2k/1k-gq',
    'cyclener:conll2003/14k/14k-sq',
    'cyclener:wnut17/3.4k/1k-gq',
    'cyclener:wnut17/3.4k/3.4k-sq',
    'cyclener:bc2gm/12.5k/1k-gq',
    'cyclener:bc2gm/12.5k/12.5k-sq',
    'lexical:conll2003/1k/1k-gq',
    'lexical:bc2gm/1k/1k-gq',
  ]);
  assert.equal(cells[0]!.id, 'table6/conll2003/2k-1k-gq/cyclener/seed1');
  assert.deepEqual(cells[0]!.trainArgs, ['--max-steps', '300', '--batch', '16', '--eval-every', '50', '--seed', '1']);
  assert.equal(cells[0]!.devLossLines, 200);
  assert.equal(cells[0]!.testCurve, true);
  assert.deepEqual(cells[0]!.dataArgs, [], '2k + 1k fits in CoNLL train');
  assert.deepEqual(cells[2]!.dataArgs, ['--allow-overlap'], 'WNUT 3.4k + 1k GQ must reuse Q sentences');
  assert.equal(cells[6]!.id, 'table6/conll2003/1k-1k-gq/lexical/seed1');
  const full = planExperiment('table6', { preset: 'cpu', seeds: [1], dataDir: NO_DATA, allDatasets: true });
  assert.equal(full.length, 11);
  assert.ok(ids(full).includes('table6/ontonotes/116k-5k-gq/cyclener/seed1'));
  assert.ok(ids(full).includes('table6/ontonotes/5k-5k-gq/lexical/seed1'));
  for (const c of full) assert.ok(TABLE6[`${c.kind}:${c.dataConfig}`], `paper number for ${c.id}`);
  fs.mkdirSync(path.join(root, 'onto-data', 'ontonotes'), { recursive: true });
  assert.equal(
    planExperiment('table6', { preset: 'cpu', seeds: [1], dataDir: path.join(root, 'onto-data') }).length,
    11,
  );
});

test('plan: table5a varies #Q at fixed #S, table5b #S at fixed #Q; table4, figure4; presets and seeds', () => {
  const a = planExperiment('table5a', { preset: 'cpu', seeds: [1], dataDir: NO_DATA });
  assert.equal(a.length, 20);
  assert.deepEqual(
    a.slice(0, 6).map((c) => c.dataConfig),
    ['100', '1k', '1.5k', '2k', '3k', '14k'].map((q) => `conll2003/14k/${q}-gq`),
  );
  assert.ok(
    a.every(
      (c) =>
        /^(conll2003\/14k|wnut17\/3\.4k)\//.test(c.dataConfig as string) &&
        TABLE5A[c.dataConfig as string] !== undefined,
    ),
  );
  const b = planExperiment('table5b', { preset: 'cpu', seeds: [1], dataDir: NO_DATA });
  assert.equal(b.length, 18);
  assert.ok(
    b.every(
      (c) =>
        /^(conll2003\/[^/]+\/1k|wnut17\/[^/]+\/500)-[gs]q$/.test(c.dataConfig as string) &&
        TABLE5B[c.dataConfig as string] !== undefined,
    ),
  );
  assert.equal(b.find((c) => c.dataConfig === 'wnut17/500/500-gq')?.id, 'table5b/wnut17/500-500-gq/cyclener/seed1');
  const t4 = planExperiment('table4', { preset: 'cpu', seeds: [1, 2], dataDir: NO_DATA });
  assert.deepEqual(ids(t4), [
    'table4/conll2003/full/supervised/seed1',
    'table4/conll2003/full/supervised/seed2',
    'table4/wnut17/full/supervised/seed1',
    'table4/wnut17/full/supervised/seed2',
  ]);
  assert.deepEqual(t4[1]!.trainArgs, ['--steps', '400', '--batch', '32', '--lr', '5e-4', '--seed', '2']);
  const f4 = planExperiment('figure4', { preset: 'paper', seeds: [3], dataDir: NO_DATA });
  assert.deepEqual(
    f4.map((c) => c.dataConfig),
    ['conll2003/14k/1k-gq', 'conll2003/14k/1k-sq', 'wnut17/3.4k/1k-gq', 'wnut17/3.4k/1k-sq'],
  );
  assert.ok(
    f4.every(
      (c) =>
        c.testCurve && c.devLossLines === null && c.testCurveSentences === null && !c.trainArgs.includes('--max-steps'),
    ),
  );
  // A preset's data flags go to its cyclener cells only, after the configuration's own.
  const empty = planExperiment('table6', { preset: 'cpu-full-silver-const-k3-empty', seeds: [1], dataDir: NO_DATA });
  const cell = (id: string) => empty.find((c) => c.id === `table6/${id}/seed1`)!;
  assert.deepEqual(cell('wnut17/3.4k-1k-gq/cyclener').dataArgs, ['--allow-overlap', '--include-empty-q']);
  assert.deepEqual(cell('conll2003/2k-1k-gq/cyclener').dataArgs, ['--include-empty-q']);
  assert.ok(cell('wnut17/3.4k-1k-gq/cyclener').trainArgs.includes('--cycle-allow-empty'));
  assert.deepEqual(cell('bc2gm/1k-1k-gq/lexical').dataArgs, []);
  const smoke = planExperiment('figure4', { preset: 'smoke', seeds: [1], dataDir: NO_DATA });
  assert.deepEqual(smoke[0]!.trainArgs.slice(0, 2), ['--max-steps', '4']);
  assert.throws(
    () => planExperiment('table7', { preset: 'cpu', seeds: [1], dataDir: NO_DATA }),
    /unknown experiment "table7" \(known: table4, table5a, table5b, table6, figure4\)/,
  );
  assert.throws(
    () => planExperiment('table6', { preset: 'gpu', seeds: [1], dataDir: NO_DATA }),
    /unknown preset "gpu" \(known: cpu, cpu-lexwarm, cpu-lexwarm-copied, cpu-lexwarm-self, cpu-plain, cpu-full, cpu-full-e2s-sample, cpu-full-e2s-noise, cpu-full-silver, cpu-full-silver-const, cpu-full-silver-const-k3, cpu-full-silver-const-k5, cpu-full-silver-const-b48, cpu-full-silver-const-b48-half-lr, cpu-full-silver-const-b48-half-lr-e30, cpu-full-silver-const-b48-half-lr-swap, cpu-full-silver-const-b48-half-lr-auto, cpu-full-silver-const-b48-half-lr-swap-auto, cpu-full-silver-const-b48-half-lr-names, cpu-full-silver-const-b48-half-lr-swap-names, cpu-full-silver-const-k3-empty, cpu-full-silver-refresh, cpu-full-silver-held, paper, smoke\)/,
  );
  // cpu-full: budgets that converge (patience on the selection criterion, both kinds of cell).
  const full = planExperiment('table4', { preset: 'cpu-full', seeds: [1], dataDir: NO_DATA });
  assert.equal(full[0]!.supervisedDev, true);
  assert.equal(full[0]!.devLossLines, 1000);
  assert.deepEqual(full[0]!.trainArgs, [
    '--steps',
    '4000',
    '--batch',
    '32',
    '--lr',
    '5e-4',
    '--eval-every',
    '200',
    '--patience',
    '3',
    '--seed',
    '1',
  ]);
  const fullCycle = planExperiment('table6', { preset: 'cpu-full', seeds: [1], dataDir: NO_DATA }).find(
    (c) => c.kind === 'cyclener',
  )!;
  assert.equal(fullCycle.supervisedDev, false);
  assert.ok(fullCycle.trainArgs.join(' ').includes('--patience 5'));
  assert.equal(t4[1]!.supervisedDev, false, 'cpu: fixed supervised budget');
  assert.throws(() => filterCells(f4, 'nothing'), /matches no cell \(known: figure4\//);
});

test('aggregation: mean ± sample std; Pearson of the dev losses with F1', () => {
  const s = meanStd([0.8, 0.9, 1.0])!;
  assert.ok(Math.abs(s.mean - 0.9) < 1e-12 && Math.abs((s.std as number) - 0.1) < 1e-12);
  assert.equal(fmtStat(s), '0.900 ± 0.100');
  assert.equal(fmtStat(meanStd([0.5])), '0.500');
  assert.equal(fmtStat(meanStd([null])), '–');
  // x = 1,2,3,4; y = 2,4,5,9: sxy = 11, sxx = 5, syy = 26, r = 11 / sqrt(130).
  const evals: EvalRecord[] = [1, 2, 3, 4].map((x, i) => ({
    step: x,
    epoch: x,
    devELoss: x,
    devSLoss: -x,
    devF1: 0.1,
    testF1: [2, 4, 5, 9][i]!,
  }));
  const c = correlations(evals);
  assert.equal(c.against, 'testF1');
  assert.ok(Math.abs((c.eLoss as number) - 11 / Math.sqrt(130)) < 1e-12);
  assert.ok(Math.abs((c.sLoss as number) + 11 / Math.sqrt(130)) < 1e-12);
  assert.equal(c.eLossDevF1, null, 'no variance in dev F1');
  assert.equal(correlations(evals.map((e) => ({ ...e, testF1: undefined }))).against, 'devF1');
  // Silver F1 against dev F1 (label-free criteria; absent in older runs: null).
  const withSilver = evals.map((e, i) => ({ ...e, devF1: [2, 4, 5, 9][i]!, sSilverF1: e.step, devSilverF1: null }));
  const cs = correlations(withSilver);
  assert.ok(Math.abs((cs.sSilverDevF1 as number) - 11 / Math.sqrt(130)) < 1e-12);
  assert.equal(cs.devSilverDevF1, null);
  assert.equal(c.sSilverDevF1, null);
  const rec = evalRecords(
    '{"type":"eval","step":3,"epoch":1,"devSLoss":1,"devELoss":2,"devF1":0.5,"sSilverF1":0.25}\n',
  );
  assert.deepEqual(rec, [{ step: 3, epoch: 1, devSLoss: 1, devELoss: 2, devF1: 0.5, sSilverF1: 0.25 }]);
});

function fakeResult(
  cellId: string,
  kind: CellResult['kind'],
  dataConfig: string,
  seed: number,
  p: number,
  r: number,
  f1: number,
): CellResult {
  const micro = { precision: p, recall: r, f1 };
  return {
    version: 1,
    experiment: cellId.split('/')[0]!,
    cellId,
    kind,
    dataset: 'conll2003',
    dataConfig,
    seed,
    preset: 'cpu',
    baseModel:
      kind === 'lexical'
        ? null
        : { path: 'models/base-news-11m', dModel: 256, layers: 4, decoderLayers: 4, vocab: 16000 },
    dataDir: '../shared/data',
    evalFile: 'test.txt',
    evalSplit: 'test',
    threads: '1',
    commands: [
      {
        stage: 'data',
        cmd: `node dist/src/cli/main.js data build --config ${dataConfig} --seed ${seed}`,
        argv: [],
        cwd: '/x',
        seconds: 6,
        exit: 0,
        at: '',
      },
    ],
    wallSeconds: { data: 6, train: 114, total: 120 },
    test: {
      sentences: 10,
      exact: { micro, perType: [] },
      bag: { micro },
      withEntitiesOnly: { sentences: 8, exact: { micro: { ...micro, f1: f1 + 0.1 } }, bag: { micro } },
      errors: {},
      hallucinated: kind === 'lexical' ? null : 4 * seed,
      malformedSequences: kind === 'lexical' ? null : 0,
      unknownTypeEntities: null,
    },
    evals:
      kind === 'cyclener'
        ? [50, 100, 150].map((step, i) => ({
            step,
            epoch: i,
            devSLoss: 4 - i,
            devELoss: 2 - i * 0.3,
            devF1: 0.1 * (i + seed),
          }))
        : [],
    pearson: null,
    notes: [],
    finishedAt: '',
  };
}

test('report: Markdown tables with our numbers, the paper\'s, "not run", curves and commands', () => {
  const dir = path.join(root, 'report');
  const rs = [
    fakeResult('table6/conll2003/2k-1k-gq/cyclener/seed1', 'cyclener', 'conll2003/2k/1k-gq', 1, 0.4, 0.6, 0.5),
    fakeResult('table6/conll2003/2k-1k-gq/cyclener/seed2', 'cyclener', 'conll2003/2k/1k-gq', 2, 0.6, 0.8, 0.7),
    fakeResult('table6/conll2003/1k-1k-gq/lexical/seed1', 'lexical', 'conll2003/1k/1k-gq', 1, 0.762, 0.38, 0.507),
  ];
  rs[0]!.pearson = correlations(rs[0]!.evals);
  rs[1]!.pearson = correlations(rs[1]!.evals);
  rs[0]!.training = { steps: 300, epochs: 2.5, bestStep: 200 };
  rs[1]!.training = { steps: 400, epochs: 3.5, bestStep: 300 };
  const blocks = buildReport(rs, {
    svgDir: path.join(dir, 'results-curves'),
    svgHref: 'results-curves',
    resultsDir: 'runs/experiments',
  });
  const md = toMarkdown(blocks);
  const line = (prefix: string) => md.split('\n').find((l) => l.startsWith(prefix)) ?? '';
  // dataset, approach, configuration, seeds, P, R, F1, F1 with entities, hallucinated, malformed, epochs, wall min, paper P/R/F1
  assert.equal(
    line('| conll2003 | CycleNER | /2k/1k-gq |'),
    '| conll2003 | CycleNER | /2k/1k-gq | 1,2 | 0.500 ± 0.141 | 0.700 ± 0.141 | 0.600 ± 0.141 | 0.700 ± 0.141 | 6.0 ± 2.8 | 0.0 ± 0.0 | 3.00 ± 0.71 | 2.0 ± 0.0 | 0.814 | 0.837 | 0.825 |',
  );
  assert.equal(
    line('| conll2003 | Lexical Matcher | /1k/1k-gq |'),
    '| conll2003 | Lexical Matcher | /1k/1k-gq | 1 | 0.762 | 0.380 | 0.507 | 0.607 | – | – | – | 2.0 | 0.830 | 0.279 | 0.418 |',
  );
  assert.match(
    line('| conll2003 | CycleNER | /14k/14k-sq |'),
    /^\| conll2003 \| CycleNER \| \/14k\/14k-sq \| not run \|.*\| 0\.750 \| 0\.632 \| 0\.686 \|$/,
  );
  assert.match(
    line('| conll2003 | not run |'),
    /\| 0\.913 \| BiLSTM 0\.551; LUKE \(SOTA\) 0\.943 \|$/,
    'table 4 row: not run, paper T5 0.913',
  );
  assert.match(line('| conll2003 | GQ | 14k | 100 |'), /not run.*\| 0\.619 \|$/);
  assert.match(
    line('| table6/conll2003/2k-1k-gq/cyclener |'),
    /\| 1,2 \| 3,3 \| devF1 \| -1\.00 ± 0\.00 \| – \|.*\[seed 1\]\(results-curves\/cpu__table6_conll2003_2k_1k_gq_cyclener_seed1\.svg\)/,
  );
  assert.match(line('| figure4/conll2003/14k-1k-gq/cyclener |'), /not run \|.*\| -0\.81 \|/);
  assert.ok(fs.existsSync(path.join(dir, 'results-curves', 'cpu__table6_conll2003_2k_1k_gq_cyclener_seed1.svg')));
  assert.match(md, /```\nnode dist\/src\/cli\/main\.js data build --config conll2003\/2k\/1k-gq --seed 2\n```/);
  assert.match(md, /base model: `models\/base-news-11m` \(d_model 256, 4\+4 layers, vocab 16000\)/);
  const html = toHtml(blocks, 'r');
  assert.match(html, /<td>not run<\/td>/);
  assert.match(html, /<figure id="fig-results-curves-cpu-table6-conll2003-2k-1k-gq-cyclener-seed1-svg"><svg/);
});

test('report: a --results folder that does not exist or holds no result is an error; an existing page needs --force', async () => {
  const out = path.join(root, 'guard-docs', 'results.md');
  fs.mkdirSync(path.dirname(out));
  fs.writeFileSync(out, 'my page\n');
  let r = await cli(['report', '--results', path.join(root, 'typo'), '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--results \S+typo: no such folder/);
  const empty = path.join(root, 'guard-empty');
  fs.mkdirSync(empty);
  r = await cli(['report', '--results', empty, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--results \S+guard-empty holds no result\.json/);
  assert.equal(fs.readFileSync(out, 'utf8'), 'my page\n');
  const results = path.join(root, 'guard-results');
  const cell = path.join(results, 'cpu', 'table6', 'lexical');
  fs.mkdirSync(cell, { recursive: true });
  const res = fakeResult('table6/conll2003/1k-1k-gq/lexical/seed1', 'lexical', 'conll2003/1k/1k-gq', 1, 0.7, 0.4, 0.5);
  fs.writeFileSync(path.join(cell, 'result.json'), JSON.stringify(res));
  r = await cli(['report', '--results', results, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.err, /results\.md exists; pass --force to overwrite it/);
  assert.equal(fs.readFileSync(out, 'utf8'), 'my page\n');
  r = await cli(['report', '--results', results, '--out', out, '--force']);
  assert.equal(r.code, 0, r.err);
  assert.match(fs.readFileSync(out, 'utf8'), /\| conll2003 \| Lexical Matcher \| \/1k\/1k-gq \| 1 \| 0\.700 \|/);
});

test('report: a result.json that is JSON but lacks fields the report reads is an error naming the file', async () => {
  const results = path.join(root, 'damaged-results');
  const cell = path.join(results, 'cpu', 'table6', 'lexical');
  fs.mkdirSync(cell, { recursive: true });
  const out = path.join(root, 'damaged.md');
  for (const damaged of [
    {},
    { ...fakeResult('table6/x/seed1', 'lexical', 'conll2003/1k/1k-gq', 1, 1, 1, 1), preset: 3 },
  ]) {
    fs.writeFileSync(path.join(cell, 'result.json'), JSON.stringify(damaged));
    const r = await cli(['report', '--results', results, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.err, /lexical\/result\.json: damaged result \(field \w+ is missing or not a string\)/);
    assert.ok(!fs.existsSync(out));
  }
});

test('report: a variant preset shows only the cells it ran; hand-written notes follow the introduction', () => {
  const dir = path.join(root, 'report-variant');
  const v = {
    ...fakeResult('table6/conll2003/2k-1k-gq/cyclener/seed1', 'cyclener', 'conll2003/2k/1k-gq', 1, 0.3, 0.4, 0.35),
    preset: 'cpu-lexwarm',
  };
  const notes = markdownBlocks(
    '## Why the numbers differ\n\nThe base model is small\nand `weak`.\n\n- one\n- two\n  continued\n',
  );
  assert.deepEqual(notes, [
    { kind: 'heading', level: 2, text: 'Why the numbers differ' },
    { kind: 'para', text: 'The base model is small and `weak`.' },
    { kind: 'list', items: ['one', 'two continued'] },
  ]);
  const md = toMarkdown(buildReport([v], { svgDir: path.join(dir, 'c'), svgHref: 'c', resultsDir: 'r', notes }));
  const sec = md.slice(md.indexOf('## Preset `cpu-lexwarm`'));
  assert.ok(md.indexOf('## Why the numbers differ') < md.indexOf('## Preset'), 'notes come first');
  assert.match(sec, /\| conll2003 \| CycleNER \| \/2k\/1k-gq \| 1 \| 0\.300 \| 0\.400 \| 0\.350 \|/);
  assert.doesNotMatch(
    sec.slice(0, sec.indexOf('## Curves')),
    /not run|Table 4|Table 5/,
    'no empty tables or not-run rows for a variant',
  );
});

function conllDataDir(): string {
  const d = path.join(root, 'data');
  fs.mkdirSync(path.join(d, 'conll2003'), { recursive: true });
  for (const s of ['train', 'dev', 'test']) fs.copyFileSync(FIXTURE, path.join(d, 'conll2003', `${s}.txt`));
  return d;
}

function ctxFor(out: string, dataDir: string, baseModel = path.join(root, 'no-model')): RunContext {
  const lines: string[] = [];
  return {
    root: out,
    preset: 'smoke',
    dataDir,
    baseModel,
    cliMain: CLI_MAIN,
    evalSplit: 'test',
    env,
    log: (l) => {
      lines.push(l);
    },
  };
}

test('runner: a real lexical cell end to end; result.json skips it; live locks are respected, stale ones taken over', async () => {
  const dataDir = conllDataDir();
  const [cell] = filterCells(
    planExperiment('table6', { preset: 'smoke', seeds: [1], dataDir }),
    'conll2003/1k-1k-gq/lexical',
  );
  const ctx = ctxFor(path.join(root, 'out', 'smoke'), dataDir);
  const dir = cellDir(ctx, cell!);
  fs.mkdirSync(dir, { recursive: true });
  // Held by a live process (our parent): skipped, lock left alone.
  fs.writeFileSync(path.join(dir, 'lock'), `${process.ppid}\n`);
  assert.deepEqual(await runCell(cell!, ctx), { outcome: 'skipped: locked', message: `held by pid ${process.ppid}` });
  assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8'), `${process.ppid}\n`);
  // Runner dead but its subprocess alive: still locked.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
  fs.writeFileSync(path.join(dir, 'lock'), `${dead}\nhost\ntime\nchild ${process.ppid}\n`);
  assert.equal((await runCell(cell!, ctx)).outcome, 'skipped: locked');
  // Held by a dead process: taken over and run.
  fs.writeFileSync(path.join(dir, 'lock'), `${dead}\n`);
  const r = await runCell(cell!, ctx);
  assert.equal(r.outcome, 'done', r.message);
  assert.ok(!fs.existsSync(path.join(dir, 'lock')), 'lock released');
  const res = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')) as CellResult;
  assert.equal(res.kind, 'lexical');
  assert.equal(res.cellId, 'table6/conll2003/1k-1k-gq/lexical/seed1');
  assert.deepEqual(
    res.commands.map((c) => c.stage),
    ['data', 'evaluate'],
  );
  assert.match(
    res.commands[0]!.cmd,
    /^node \S*main\.js data build --config conll2003\/1k\/1k-gq --data-dir \S+ --out \S+ --seed 1$/,
  );
  assert.match(res.commands[1]!.cmd, /baseline lexical --q \S+Q\.txt --gold \S+test\.txt --dataset conll2003 --json$/);
  assert.ok(res.test.exact.micro.f1 > 0 && res.test.exact.micro.f1 <= 1, JSON.stringify(res.test.exact.micro));
  assert.equal(res.test.sentences, 5);
  // Done: a second run does nothing.
  assert.deepEqual(await runCell(cell!, ctx), { outcome: 'skipped: done' });
  // Missing inputs name the path and fail the cell without running anything.
  const bad = await runCell(
    filterCells(planExperiment('table6', { preset: 'smoke', seeds: [1], dataDir }), 'bc2gm/1k-1k-gq/lexical')[0]!,
    ctx,
  );
  assert.equal(bad.outcome, 'failed');
  assert.match(bad.message ?? '', /none of .*bc2gm\/train\.tsv/);
});

test('cli: experiment --dry-run / --list and report', async () => {
  const dataDir = conllDataDir();
  let r = await cli([
    'experiment',
    'table6',
    '--preset',
    'smoke',
    '--data-dir',
    dataDir,
    '--base-model',
    path.join(root, 'no-model'),
    '--dry-run',
    '--cells',
    'conll2003',
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /table6\/conll2003\/2k-1k-gq\/cyclener\/seed1 {2}cyclener conll2003\/2k\/1k-gq {2}--max-steps 4/);
  assert.match(r.out, /missing: base model: no such file/);
  assert.match(r.out, /3 cell\(s\), preset smoke/);
  r = await cli(['experiment', 'nope']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown experiment "nope" \(known: table4/);
  r = await cli(['experiment', '--list']);
  assert.match(r.out, /presets:\n {2}cpu/);
  const out = path.join(root, 'docs', 'results.md');
  r = await cli([
    'report',
    '--results',
    path.join(root, 'out'),
    '--out',
    out,
    '--html',
    path.join(root, 'docs', 'results.html'),
  ]);
  assert.equal(r.code, 0, r.err);
  const md = fs.readFileSync(out, 'utf8');
  assert.match(md, /## Preset `smoke`/);
  assert.match(md, /\| conll2003 \| Lexical Matcher \| \/1k\/1k-gq \| 1 \| \d\.\d{3} \|/);
});

test('runner: a smoke cycle cell end to end on a tiny random T5, then resumed training after an interruption', async () => {
  const T = await import('../../../src/tensor');
  const { T5Tokenizer } = await import('../../../src/t5/tokenizer');
  const { presetConfig } = await import('../../../src/t5/config');
  const { T5ForConditionalGeneration } = await import('../../../src/t5/model');
  const { saveModelDir } = await import('../../../src/cycle/model-io');
  T.setNumThreads(1);
  const tok = T5Tokenizer.fromDir(
    path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 't5', 'tokenizer'),
  ).withSep();
  const base = path.join(root, 'tiny-base');
  const m = new T5ForConditionalGeneration(presetConfig('tiny', { vocabSize: Math.max(128, tok.vocabSize) }), {
    seed: 1,
  });
  saveModelDir(base, m, tok, { task: 's2e', prefix: 'entities: ', types: [] });
  m.dispose();
  const dataDir = conllDataDir();
  const [cell] = filterCells(
    planExperiment('table6', { preset: 'smoke', seeds: [1], dataDir }),
    'conll2003/2k-1k-gq/cyclener',
  );
  const ctx = ctxFor(path.join(root, 'out', 'smoke'), dataDir, base);
  let r = await runCell(cell!, ctx);
  assert.equal(r.outcome, 'done', r.message);
  const dir = cellDir(ctx, cell!);
  const read = () => JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')) as CellResult;
  let res = read();
  assert.deepEqual(
    res.commands.map((c) => c.stage),
    ['data', 'train', 'evaluate'],
  );
  assert.deepEqual(
    res.evals.map((e) => e.step),
    [2, 4],
  );
  assert.ok(res.evals.every((e) => typeof e.devELoss === 'number' && typeof e.devF1 === 'number'));
  assert.equal(res.baseModel?.dModel, 32);
  assert.equal(typeof res.test.hallucinated, 'number');
  assert.ok(
    res.evals.every((e) => typeof e.testF1 === 'number') && res.pearson?.against === 'testF1',
    JSON.stringify(res.evals),
  );
  assert.match(res.commands[1]!.cmd, / --test-gold \S+test_curve\.jsonl$/);
  assert.match(res.commands[1]!.cmd, / --max-steps 4 --batch 2 --eval-every 2 --seed 1/);
  // Interrupted after training's checkpoint but before the marker and the evaluation: train resumes.
  fs.rmSync(path.join(dir, 'result.json'));
  fs.rmSync(path.join(dir, 'train.done'));
  r = await runCell(cell!, ctx);
  assert.equal(r.outcome, 'done', r.message);
  res = read();
  assert.deepEqual(
    res.commands.map((c) => c.stage),
    ['data', 'train', 'evaluate', 'train', 'evaluate'],
  );
  assert.match(res.commands[3]!.cmd, / --resume$/);
  assert.deepEqual(
    res.evals.map((e) => e.step),
    [2, 4],
  );
  assert.equal(res.training?.steps, 4);
  assert.equal(typeof res.training?.epochs, 'number');

  // A supervised cell selects on dev loss (smoke: --dev with the first 8 dev sentences, eval every 2 steps).
  const [sup] = filterCells(
    planExperiment('table4', { preset: 'smoke', seeds: [1], dataDir }),
    'conll2003/full/supervised',
  );
  r = await runCell(sup!, ctx);
  assert.equal(r.outcome, 'done', r.message);
  const supRes = JSON.parse(fs.readFileSync(path.join(cellDir(ctx, sup!), 'result.json'), 'utf8')) as CellResult;
  assert.match(
    supRes.commands[0]!.cmd,
    / --dev \S+dev\.txt --dev-num 8 --steps 4 --batch 2 --eval-every 2 --patience 2 --seed 1$/,
  );
  assert.equal(supRes.training?.steps, 4);
  assert.ok(supRes.training?.bestStep === 2 || supRes.training?.bestStep === 4);
  // Stopped before its marker (a kill after the last checkpoint): the stage continues the checkpoint with --resume.
  fs.rmSync(path.join(cellDir(ctx, sup!), 'train.done'));
  fs.rmSync(path.join(cellDir(ctx, sup!), 'result.json'));
  r = await runCell(sup!, ctx);
  assert.equal(r.outcome, 'done', r.message);
  const again = JSON.parse(fs.readFileSync(path.join(cellDir(ctx, sup!), 'result.json'), 'utf8')) as CellResult;
  assert.match(again.commands.filter((c) => c.stage === 'train').at(-1)!.cmd, / --resume$/);
  assert.deepEqual(
    [again.training?.steps, again.training?.bestStep, again.test.exact.micro.f1],
    [4, supRes.training?.bestStep, supRes.test.exact.micro.f1],
  );
});

test('runner: result.json is reused only when whole and from the same inputs; a damaged or stale one is redone', async () => {
  const dataDir = path.join(root, 'data-key');
  fs.mkdirSync(path.join(dataDir, 'conll2003'), { recursive: true });
  for (const s of ['train', 'dev', 'test']) fs.copyFileSync(FIXTURE, path.join(dataDir, 'conll2003', `${s}.txt`));
  const [cell] = filterCells(
    planExperiment('table6', { preset: 'smoke', seeds: [1], dataDir }),
    'conll2003/1k-1k-gq/lexical',
  );
  const lines: string[] = [];
  const ctx = { ...ctxFor(path.join(root, 'out-key', 'smoke'), dataDir), log: (l: string) => void lines.push(l) };
  const dir = cellDir(ctx, cell!);
  const resultFile = path.join(dir, 'result.json');
  const stages = () => (JSON.parse(fs.readFileSync(resultFile, 'utf8')) as CellResult).commands.map((c) => c.stage);
  assert.equal((await runCell(cell!, ctx)).outcome, 'done');
  assert.deepEqual(await runCell(cell!, ctx), { outcome: 'skipped: done' });

  // Cut short (a kill, a full disk): not "skipped: done" but evaluated again; the data stage is still good.
  const whole = fs.readFileSync(resultFile, 'utf8');
  fs.writeFileSync(resultFile, whole.slice(0, whole.length >> 1));
  lines.length = 0;
  let r = await runCell(cell!, ctx);
  assert.equal(r.outcome, 'done', r.message);
  assert.match(lines.join('\n'), /lexical\/seed1: redoing: \S+result\.json is damaged \(not valid JSON/);
  assert.deepEqual(stages(), ['data', 'evaluate', 'evaluate']);
  // Parsable but without its scores: damaged too.
  const res = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(resultFile, JSON.stringify({ ...res, test: {} }));
  lines.length = 0;
  assert.equal((await runCell(cell!, ctx)).outcome, 'done');
  assert.match(
    lines.join('\n'),
    /redoing: \S+result\.json is damaged \(field test\.sentences is missing or not a number\)/,
  );

  // The test split changes: the cached result is stale, and so are the cell's stages (all run again).
  const test = path.join(dataDir, 'conll2003', 'test.txt');
  fs.writeFileSync(test, fs.readFileSync(FIXTURE, 'utf8').split('\n').slice(0, 12).join('\n') + '\n');
  lines.length = 0;
  r = await runCell(cell!, ctx);
  assert.equal(r.outcome, 'done', r.message);
  assert.match(
    lines.join('\n'),
    /lexical\/seed1: redoing its stages: \S+cell\.json is stale \(test split: test\.txt changed \(sha256 [0-9a-f]{12}… → [0-9a-f]{12}…\)\)/,
  );
  assert.deepEqual(stages(), ['data', 'evaluate']);
  assert.equal((JSON.parse(fs.readFileSync(resultFile, 'utf8')) as CellResult).test.sentences, 1);
  assert.deepEqual(await runCell(cell!, ctx), { outcome: 'skipped: done' });
});

test("trainedSeconds: a run's training time summed over the processes that resumed it (the killed ones too)", () => {
  const lines = (recs: object[]) => recs.map((r) => JSON.stringify(r)).join('\n');
  // One process: its last step (or its end record).
  assert.equal(
    trainedSeconds(
      lines([
        { type: 'step', step: 1, elapsed: 5 },
        { type: 'step', step: 2, elapsed: 9 },
      ]),
    ),
    9,
  );
  assert.equal(
    trainedSeconds(
      lines([
        { type: 'step', step: 1, elapsed: 5 },
        { type: 'end', step: 1, seconds: 12 },
      ]),
    ),
    12,
  );
  // Killed after step 300 at 1,556 s (no end record, no stage record), resumed: 1,556 + the second process's 1,600.
  const resumed = lines([
    { type: 'warmup', step: 0, seconds: 170 },
    { type: 'step', step: 1, elapsed: 195 },
    { type: 'step', step: 300, elapsed: 1556 },
    { type: 'eval', step: 300, devF1: 0.4 },
    { type: 'step', step: 301, elapsed: 3 },
    { type: 'step', step: 700, elapsed: 1580 },
    { type: 'end', step: 700, seconds: 1600 },
  ]);
  assert.equal(trainedSeconds(resumed + '\nnot json\n'), 1556 + 1600);
  assert.equal(trainedSeconds(''), 0);
});
