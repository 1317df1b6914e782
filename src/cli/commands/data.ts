// `cyclener data stats` and `cyclener data build`: flags over the library's dataStats and buildData (src/api/data.ts).

import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { BUILD_FILES, readSeedsFile, type Count } from '../../data/build';
import { claimOutputs } from '../../util/output';
import { DATASETS, parseConfigName, parseCount, type QMode } from '../../data/config';
import { DataError } from '../../data/errors';
import { NONE_LINE } from '../../data/entity-seq';
import { AT_LEAST_1, SEED, UsageError } from '../args';
import { registerCommand, type Io } from '../registry';
import { buildData, dataStats, formatDataStats, type StatsFormat } from '../../api/data';
import {
  fmtInt,
  READER_FLAGS,
  readLabeledWithFlags,
  readOptionsOf,
  requireCleanTags,
  chooseVerbalizer,
  corpusLabels,
  VERBALIZER_FLAGS,
} from '../common';

registerCommand({
  name: 'data stats',
  summary: 'count sentences, tokens and entities of a labelled file, an S file or a Q file',
  positionals: [{ name: 'FILE', help: 'CoNLL columns, CoNLL-2012 *_conll, JSONL, S text or Q file' }],
  flags: {
    // Not --format: in `predict` that is the output format; the input's is --input-format everywhere.
    'input-format': {
      type: 'string',
      arg: 'F',
      help: 'input format',
      default: 'auto',
      choices: ['auto', 'conll', 'conll2012', 'jsonl', 'text', 'q'],
      aliases: ['format'],
    },
    ...READER_FLAGS,
    json: { type: 'boolean', help: 'print JSON instead of a table' },
  },
  details:
    'Sentences are separated by blank or whitespace-only lines; -DOCSTART- lines are counted as documents, not tokens.',
  run(args, io: Io): number {
    const r = dataStats(args.positionals[0] as string, {
      format: args.flags['input-format'] as StatsFormat,
      read: readOptionsOf(args.flags),
      log: (l) => io.err(l),
    });
    io.out(args.flags.json === true ? JSON.stringify(r, null, 2) : formatDataStats(r));
    return 0;
  },
});

// ------------------------------------------------------------------ data build

function defaultDataDir(): string {
  const env = process.env.CYCLENER_DATA_DIR;
  if (env) return env;
  const candidates = [resolve(process.cwd(), '../shared/data'), resolve(__dirname, '../../../../../shared/data')];
  return candidates.find((c) => existsSync(c)) ?? (candidates[0] as string);
}

function findFile(dir: string, names: readonly string[], what: string): string {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  throw new DataError(
    dir,
    undefined,
    `no such file: none of ${names.join(', ')} found for the ${what} split (use --data-dir or --${what} FILE)`,
  );
}

function refuseTestSplit(file: string): void {
  if (/(^|[^a-z])test(?!a)/i.test(basename(file))) {
    // eng.testa is CoNLL dev, eng.testb is test
    throw new UsageError(
      `${file} looks like a test split; CycleNER data is built from train/dev only (rename the file if it is not a test split)`,
    );
  }
}

/** A count flag (500, 1k, full): a bad one is a usage error naming the flag. */
function countFlag(flag: string, value: string, allowFull: boolean): number | 'full' {
  try {
    return parseCount(value, allowFull);
  } catch (e) {
    throw new UsageError(`--${flag}: ${(e as Error).message}`);
  }
}

registerCommand({
  name: 'data build',
  summary: 'build the S/Q training files (and dev_S/dev_Q for model selection) from annotated train/dev data',
  flags: {
    config: {
      type: 'string',
      arg: 'NAME',
      help: 'paper configuration <dataset>/<#S>/<#Q>-<gq|sq>, e.g. conll2003/2k/1k-gq',
    },
    'data-dir': {
      type: 'string',
      arg: 'DIR',
      help: 'folder holding <dataset>/train.* and dev.* (default ../shared/data or $CYCLENER_DATA_DIR)',
    },
    train: { type: 'string', arg: 'FILE', help: 'annotated training file (instead of --config)' },
    dev: { type: 'string', arg: 'FILE', help: 'annotated dev file for dev_S/dev_Q' },
    'num-sentences': { type: 'string', arg: 'N', help: '#S, e.g. 2k or full (with --train)' },
    'num-sequences': { type: 'string', arg: 'N', help: '#Q, e.g. 1k (with --train)' },
    mode: { type: 'string', arg: 'M', help: 'how Q is made (with --train)', choices: ['gq', 'sq'] },
    'dev-num-sentences': {
      type: 'string',
      arg: 'N',
      help: "dev #S (default: the paper's Table 3 dev configuration, else 1k)",
      aliases: ['dev-sentences'],
    },
    'dev-num-sequences': {
      type: 'string',
      arg: 'N',
      help: "dev #Q (default: the paper's Table 3 dev configuration, else 500)",
      aliases: ['dev-sequences'],
    },
    out: { type: 'string', arg: 'DIR', help: 'output folder', required: true },
    seed: { type: 'int', arg: 'N', help: 'random seed', default: 1, range: SEED },
    'input-format': {
      type: 'string',
      arg: 'F',
      help: 'format of the annotated files',
      default: 'auto',
      choices: ['auto', 'conll', 'conll2012', 'jsonl'],
      aliases: ['format'],
    },
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
    'seed-entities': {
      type: 'int',
      arg: 'N',
      help: 'SQ: number of distinct seed entities drawn from the gold annotations',
      default: 1000,
      range: AT_LEAST_1,
    },
    // Not --seeds: in `experiment` that is a list of random seeds.
    'seed-file': {
      type: 'string',
      arg: 'FILE',
      help: 'SQ: seed entities, one "surface<TAB>type" per line (instead of drawing them)',
      aliases: ['seeds'],
    },
    vectors: {
      type: 'string',
      arg: 'FILE',
      help: 'SQ: GloVe/word2vec text vectors (default: PPMI+SVD vectors trained on the training text)',
    },
    'allow-overlap': {
      type: 'boolean',
      help: "GQ: let S reuse Q's sentences when #S + #Q exceeds the corpus (the paper's full-size configurations)",
    },
    'dev-independent': {
      type: 'boolean',
      help: "GQ: draw dev_Q from sentences not in dev_S too (default: dev_Q may overlap dev_S, as in the paper's Table 3 dev sizes)",
    },
    'include-empty-q': {
      type: 'boolean',
      help: `GQ: also draw Q from sentences without entities (written as ${NONE_LINE})`,
    },
    force: { type: 'boolean', help: 'overwrite the files of a previous build in --out' },
  },
  details: [
    'Writes S.txt (one sentence per line), Q.txt (one entity sequence per line, "surface <sep> type <sep> ...",',
    `${NONE_LINE} for an empty sequence), dev_S.txt, dev_Q.txt, dev_gold.jsonl (labels of dev_S, for monitoring only)`,
    'and manifest.json. GQ draws Q from sentences not in S. Test splits are refused.',
    'Examples:',
    '  cyclener data build --config conll2003/2k/1k-gq --out runs/data/conll-2k-1k-gq',
    '  cyclener data build --train train.txt --dev dev.txt --num-sentences full --num-sequences 1k --mode sq --out out/',
  ].join('\n'),
  run(args, io: Io): number {
    const f = args.flags;
    const cfgName = f.config;
    let dataset: string | undefined = f.dataset;
    let trainFile = f.train;
    let devFile = f.dev;
    let numS: Count;
    let numQ: number;
    let mode: QMode;
    try {
      if (cfgName) {
        if (f['num-sentences'] !== undefined || f['num-sequences'] !== undefined || f.mode !== undefined)
          throw new UsageError('give either --config or --num-sentences/--num-sequences/--mode, not both');
        const cfg = parseConfigName(cfgName);
        const info = DATASETS[cfg.dataset];
        if (!info && !trainFile)
          throw new UsageError(
            `unknown dataset "${cfg.dataset}" in --config (known: ${Object.keys(DATASETS).join(', ')}); pass --train FILE`,
          );
        dataset = dataset ?? cfg.dataset;
        const dir = join(f['data-dir'] ?? defaultDataDir(), cfg.dataset);
        if (info) {
          trainFile = trainFile ?? findFile(dir, info.train, 'train');
          devFile = devFile ?? findFile(dir, info.dev, 'dev');
        }
        numS = cfg.numS;
        numQ = cfg.numQ;
        mode = cfg.mode;
      } else {
        if (!trainFile) throw new UsageError('give --config NAME or --train FILE (see cyclener data build --help)');
        const s = f['num-sentences'],
          q = f['num-sequences'],
          m = f.mode;
        if (!s || !q || !m)
          throw new UsageError('with --train, --num-sentences, --num-sequences and --mode are required');
        numS = countFlag('num-sentences', s, true);
        numQ = countFlag('num-sequences', q, false) as number;
        mode = m as QMode;
      }
    } catch (e) {
      if (e instanceof UsageError || e instanceof DataError) throw e;
      throw new UsageError((e as Error).message);
    }
    const out = f.out;
    refuseTestSplit(trainFile as string);
    if (devFile) refuseTestSplit(devFile);
    // Before any work: --out created if missing and writable, no output is an input, none exists without --force,
    // and OUT/.lock keeps a second build out (released by the dispatcher).
    claimOutputs(
      { '--out': BUILD_FILES.map((n) => join(out, n)) },
      {
        force: f.force === true,
        createFolders: true,
        lock: join(out, '.lock'),
        inputs: {
          '--train': trainFile,
          '--dev': devFile,
          '--seed-file': f['seed-file'],
          '--vectors': f.vectors,
          '--verbalizer': f.verbalizer,
        },
      },
    );

    const train = readLabeledWithFlags(trainFile as string, f, f['input-format']);
    requireCleanTags(train);
    const dev = devFile ? readLabeledWithFlags(devFile, f, f['input-format']) : undefined;
    if (dev) requireCleanTags(dev);
    for (const c of [train, ...(dev ? [dev] : [])])
      if (c.repairedTags > 0)
        io.err(
          `note: ${c.file}: --repair-tags re-encoded ${fmtInt(c.repairedTags)} tag(s) from their conlleval reading`,
        );
    const v = chooseVerbalizer(
      f,
      [...corpusLabels(train), ...(dev ? corpusLabels(dev) : [])],
      dataset && DATASETS[dataset] ? dataset : undefined,
      { warn: (l) => io.err(l), corpora: dev ? [train, dev] : [train] },
    );
    const seeds = f['seed-file'] ? readSeedsFile(f['seed-file'], v) : undefined;
    const ds = f['dev-num-sentences'],
      dq = f['dev-num-sequences'];
    const r = buildData({
      train,
      ...(dev ? { dev } : {}),
      out,
      mode,
      numS,
      numQ,
      ...(ds ? { devNumS: countFlag('dev-num-sentences', ds, true) } : {}),
      ...(dq ? { devNumQ: countFlag('dev-num-sequences', dq, false) as number } : {}),
      seed: f.seed,
      verbalizer: v,
      ...(cfgName ? { configName: cfgName } : {}),
      ...(dataset ? { dataset } : {}),
      ...(seeds ? { seeds } : {}),
      seedEntities: f['seed-entities'],
      ...(f.vectors ? { vectorsFile: f.vectors } : {}),
      allowOverlap: f['allow-overlap'] === true,
      devIndependent: f['dev-independent'] === true,
      includeEmptyQ: f['include-empty-q'] === true,
    });
    for (const n of r.notices) io.err(`note: ${n}`);
    const c = r.counts;
    io.out(
      `wrote ${out}: S ${fmtInt(c.S)}, Q ${fmtInt(c.Q)}${dev ? `, dev_S ${fmtInt(c.devS)}, dev_Q ${fmtInt(c.devQ)}` : ''} (seed ${f.seed})`,
    );
    return 0;
  },
});
