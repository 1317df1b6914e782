// `cyclener demo`: the main job on embedded defaults — the whole pipeline on a world cyclener builds itself,
// with the models it trains itself, in about a minute on 2 cores. Nothing is downloaded or read from outside.
import * as path from 'node:path';
import * as T from '../../tensor';
import { markEntities, runSyntheticDemo, DEMO_SETTINGS } from '../../demo/demo';
import { SYN_TYPES } from '../../demo/synthetic';
import { AT_LEAST_1, NON_NEGATIVE } from '../args';
import { ensureDir } from '../common';
import { registerCommand, type Io } from '../registry';

registerCommand({
  name: 'demo',
  summary: 'run CycleNER end to end on a synthetic world (no labels used in training) and show F1 and tagged sentences',
  flags: {
    out: { type: 'string', arg: 'DIR', help: 'run directory (config, metrics, checkpoints)', default: 'runs/demo' },
    'cycle-steps': {
      type: 'int',
      arg: 'N',
      help: 'cycle training steps',
      default: DEMO_SETTINGS.cycleSteps,
      range: AT_LEAST_1,
    },
    'warmup-steps': {
      type: 'int',
      arg: 'N',
      help: 'fragment warm-up steps on S before the cycles (0 = none)',
      default: DEMO_SETTINGS.warmupSteps,
      range: NON_NEGATIVE,
    },
    'no-ground': { type: 'boolean', help: "plain decoding inside the cycles and for the scores (the paper's setting)" },
    'eval-every': {
      type: 'int',
      arg: 'N',
      help: 'log dev F1 and the dev E-cycle loss every N cycle steps (0 = never)',
      default: DEMO_SETTINGS.evalEvery,
      range: NON_NEGATIVE,
    },
    examples: {
      type: 'int',
      arg: 'N',
      help: 'tagged evaluation sentences to print (0 = none)',
      default: 8,
      range: NON_NEGATIVE,
    },
  },
  details: [
    'World: template sentences filled from typed gazetteers (person, location, organization); S = 300 sentences,',
    'Q = 200 entity sequences from other sentences, naming only 20% of the names; 150 labelled sentences to score.',
    `Models: a tiny T5 pair (d_model ${DEMO_SETTINGS.dModel}) from random initialisation; fragment warm-up on S alone, then grounded`,
    "S-/E-cycle training. Scores are conlleval-exact micro F1, next to the paper's Lexical Matcher built from Q.",
  ].join('\n'),
  async run(args, io: Io): Promise<number> {
    const out = args.flags.out;
    ensureDir(out);
    // Tiny models gain nothing from a second thread, and a busy core makes OpenMP collapse (measured 10-30x).
    if (process.env.CYCLENER_THREADS === undefined) T.setNumThreads(1);
    io.out('CycleNER demo: S (unlabelled sentences) and Q (independent entity sequences) from a synthetic world\n');
    const f = args.flags;
    const r = await runSyntheticDemo(path.resolve(out), (l) => io.out(`  ${l}`), {
      cycleSteps: f['cycle-steps'],
      warmupSteps: f['warmup-steps'],
      grounded: f['no-ground'] !== true,
      evalEvery: f['eval-every'],
    });
    const w = r.world;
    io.out(`\n  S: ${w.S.length} sentences, e.g. "${w.S[0]}"`);
    io.out(`  Q: ${w.Q.length} entity sequences, e.g. "${w.Q[0]}"\n`);
    const rows: [string, number | null][] = [
      ['Lexical Matcher (gazetteer from Q)', r.f1.lexicalMatcher],
      ['S2E, random initialisation', r.f1.random],
      ['S2E after fragment warm-up', r.f1.warmup],
      ['S2E after CycleNER training', r.f1.cycle],
    ];
    io.out('  system                                  exact F1');
    for (const [name, f1] of rows) if (f1 !== null) io.out(`  ${name.padEnd(40)}${f1.toFixed(3)}`);
    io.out(
      `  ${`  the same, ${f['no-ground'] === true ? 'grounded' : 'plain'} decoding`.padEnd(40)}${r.f1.cycleOtherDecoding.toFixed(3)}`,
    );
    const n = Math.min(f.examples, r.tagged.length);
    io.out(`\n  Tagged evaluation sentences (gold | predicted):`);
    for (const { sentence, predicted } of r.tagged.slice(0, n)) {
      io.out(`  gold: ${markEntities(sentence.text, sentence.entities, (l) => SYN_TYPES[l] ?? l)}`);
      io.out(`  pred: ${markEntities(sentence.text, predicted, (l) => SYN_TYPES[l] ?? l)}\n`);
    }
    io.out(`  run directory: ${out} (metrics.jsonl, config.json, checkpoints)`);
    return 0;
  },
});
