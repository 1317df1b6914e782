// `cyclener experiment <name>`: run the cells of a named experiment (paper Tables 4-6, Figure 4)
// as subprocesses of this CLI, resumably; several runners on one experiment share its cells.

import * as path from 'node:path';
import {
  EXPERIMENTS,
  filterCells,
  getPreset,
  parseSeeds,
  PlanError,
  planExperiment,
  PRESETS,
} from '../../experiments/plan';
import {
  cellDir,
  killActiveChildren,
  stopActiveChildren,
  missingInputs,
  runCell,
  TRAIN_TEST_GOLD_FLAG,
  type RunContext,
} from '../../experiments/runner';
import { shellQuote } from '../../experiments/result';
import { UsageError } from '../args';
import { registerCommand, type Io } from '../registry';
import { modelDirArg } from '../model-arg';
import { prepareFolder } from '../../util/output';

const stamp = () => new Date().toISOString().slice(11, 19);

registerCommand({
  name: 'experiment',
  summary: 'run a named experiment of the paper (table4, table5a, table5b, table6, figure4) cell by cell, resumably',
  positionals: [{ name: 'NAME', help: `experiment: ${Object.keys(EXPERIMENTS).join(', ')}`, required: false }],
  flags: {
    preset: { type: 'string', arg: 'P', help: 'training budget', default: 'cpu', choices: Object.keys(PRESETS) },
    out: {
      type: 'string',
      arg: 'DIR',
      help: 'results folder; cells go to DIR/<preset>/<cell id>/',
      default: 'runs/experiments',
    },
    seeds: { type: 'string', arg: 'LIST', help: 'comma-separated seeds (data sampling and training)', default: '1' },
    'data-dir': {
      type: 'string',
      arg: 'DIR',
      help: 'folder holding <dataset>/{train,dev,test}.*',
      default: '../shared/data',
    },
    'base-model': {
      type: 'string',
      arg: 'DIR|HUB_ID',
      help: 'T5 directory both models start from',
      default: 'models/base-news-11m',
    },
    cells: { type: 'string', arg: 'TEXT', help: 'only cells whose id contains TEXT (comma-separated alternatives)' },
    'eval-split': {
      type: 'string',
      arg: 'S',
      help: 'split of the final evaluation (dev only where a test split is absent; recorded in result.json)',
      default: 'test',
      choices: ['test', 'dev'],
    },
    list: { type: 'boolean', help: 'list experiments and presets, or the cells of NAME, and exit' },
    'dry-run': { type: 'boolean', help: 'print the cells, their folders and missing inputs; run nothing' },
  },
  details: [
    'Each cell runs `data build`, `train` / `train-supervised` / `baseline lexical` and `evaluate --json` as subprocesses,',
    'logs in <cell>/logs/, and writes <cell>/result.json. Rerunning skips finished stages and resumes training',
    '(`train --resume`); a result or stages computed from other data files (sha256) or settings, or a damaged',
    'result.json, are redone, with a line saying why. A cell being run by another live runner (<cell>/lock) is skipped, so two runners started on the',
    'same experiment share its cells. CYCLENER_THREADS and the rest of the environment are passed to every subprocess.',
    `Cycle cells of table6 and figure4 log test P/R/F1 per evaluation with \`train ${TRAIN_TEST_GOLD_FLAG}\`.`,
    'Then: cyclener report --results DIR. See docs/experiments.md.',
  ].join('\n'),
  async run(args, io: Io): Promise<number> {
    const f = args.flags;
    const name = args.positionals[0];
    try {
      const preset = getPreset(f.preset);
      if (f.list === true && !name) {
        io.out('experiments:');
        for (const e of Object.values(EXPERIMENTS)) io.out(`  ${e.name.padEnd(8)} ${e.summary}`);
        io.out('presets:');
        for (const p of Object.values(PRESETS)) io.out(`  ${p.name.padEnd(8)} ${p.summary}`);
        return 0;
      }
      if (!name) throw new UsageError(`give an experiment name (${Object.keys(EXPERIMENTS).join(', ')}) or --list`);
      const dataDir = f['data-dir'];
      const all = planExperiment(name, { preset: preset.name, seeds: parseSeeds(f.seeds), dataDir });
      const cells = filterCells(all, f.cells);
      const root = path.join(f.out, preset.name);
      const ctx: RunContext = {
        root,
        preset: preset.name,
        dataDir,
        baseModel: f['base-model'],
        cliMain: path.resolve(__dirname, '..', 'main.js'),
        evalSplit: f['eval-split'] as 'test' | 'dev',
        log: (l) => io.out(`${stamp()} ${l}`),
      };
      if (f.list === true || f['dry-run'] === true) {
        for (const c of cells) {
          io.out(
            `${c.id}  ${c.kind}${c.dataConfig ? ` ${c.dataConfig}` : ''}  ${shellQuote([...c.dataArgs, ...c.trainArgs])}`,
          );
          if (f['dry-run'] === true) {
            io.out(`    folder ${cellDir(ctx, c)}`);
            for (const m of missingInputs(c, ctx)) io.out(`    missing: ${m}`);
          }
        }
        io.out(`${cells.length} cell(s), preset ${preset.name}`);
        return 0;
      }
      prepareFolder(root, `--out ${f.out}`); // a read-only or forbidden --out is reported before any cell runs
      if (cells.some((c) => c.kind !== 'lexical'))
        ctx.baseModel = (await modelDirArg(ctx.baseModel, '--base-model', io)) as string;
      io.out(
        `${stamp()} experiment ${name}, preset ${preset.name}: ${cells.length} cell(s) in ${root}; CYCLENER_THREADS=${process.env.CYCLENER_THREADS ?? '(unset)'}`,
      );
      // Stop the stage's subprocess with the runner and wait for it (a training stage writes its checkpoint first), so no
      // orphan keeps writing into a cell whose lock looks stale. A second signal, seconds later, kills it at once.
      let stopping = 0;
      const stop = (sig: NodeJS.Signals) => {
        const code = sig === 'SIGINT' ? 130 : 143;
        if (stopping > 0) {
          if (Date.now() - stopping < 2000) return;
          killActiveChildren('SIGKILL');
          process.exit(code);
        }
        stopping = Date.now();
        io.err(`${sig}: stopping the running stage after its current step (again to kill it at once)`);
        void stopActiveChildren().then(() => {
          io.err(`stopped by ${sig}; rerun the same command to resume`);
          process.exit(code);
        });
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const counts = new Map<string, number>();
      for (const [i, c] of cells.entries()) {
        const r = await runCell(c, ctx);
        counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
        if (r.outcome !== 'done')
          io.out(`${stamp()} [${i + 1}/${cells.length}] ${c.id}: ${r.outcome}${r.message ? ` (${r.message})` : ''}`);
      }
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.out(`${stamp()} ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')}`);
      return counts.has('failed') ? 1 : 0;
    } catch (e) {
      if (e instanceof PlanError) throw new UsageError(e.message);
      throw e;
    }
  },
});
