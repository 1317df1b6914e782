// `cyclener train-supervised` as a function (the command only parses its flags and calls it): supervised S2E
// fine-tuning on ⟨sentence → entity sequence⟩ pairs, given as a list, a TSV file of pairs or labelled sentences.
// The run's settings are kept in the flags' terms (RUN_SETTINGS), as OUT/inputs.json records them at the start and a
// resume adopts them: the library and the command record, compare and refuse alike.

import * as path from 'node:path';
import * as T from '../tensor';
import { formatEntitySequence, parseQLine, rareTypeWarnings, typesOf, type SeqEntity } from '../data/entity-seq';
import { DataError } from '../data/errors';
import { readUtf8, splitLines } from '../data/readers';
import type { SettingValue } from '../data/setting';
import { chooseVerbalizer, corpusLabels } from '../data/verbalizer-choice';
import { modelSource } from '../hub';
import { loadModelDir, reinitialise } from '../cycle/model-io';
import {
  pairsFromSentences,
  sampleSentences,
  SUPERVISED_RUN,
  trainSupervised as runSupervised,
  type Pair,
  type SupervisedResult,
} from '../supervised/supervised';
import { SUPERVISED_EPOCHS, SUPERVISED_SETTINGS as S, supervisedConfig } from '../supervised/settings';
import type { Precision } from '../t5/precision';
import { UsageError } from '../util/errors';
import {
  compareInputs,
  fingerprintFiles,
  modelWeightFiles,
  openRunDir,
  readRunInputs,
  refuseDifferences,
  writeRunInputs,
} from '../util/run-dir';
import { findCheckpoint } from '../run/checkpoint';
import { modelRefDir } from './model-ref';
import {
  entitySeq,
  fileOf,
  inputFingerprint,
  labeledCorpus,
  progress,
  type EntitiesOf,
  type LabeledInput,
  type ReaderSettings,
  type RunHooks,
} from './run-common';

type PairInput = readonly { sentence: string; entities: EntitiesOf }[];

/** Messages name the options by the command's flags (`batchSize` is `--batch`), as OUT/inputs.json does. */
export interface SupervisedOptions extends RunHooks {
  /** Training pairs: a list, or a TSV file (`--pairs`: sentence<TAB>entity sequence, `<none>` for none). */
  pairs?: PairInput | string;
  /** Or labelled sentences (`--train`: a CoNLL / CoNLL-2012 / JSONL file read with `read`, a corpus or a list),
   *  their labels verbalised; `num` draws that many of them (seeded by `seed`). */
  train?: LabeledInput;
  num?: number;
  baseModel: string;
  /** The output model directory (as `cyclener train-supervised --out`). */
  out: string;
  /** Optimizer steps (default: `epochs` over the pairs, 3). */
  steps?: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  seed?: number;
  prefix?: string;
  precision?: Precision;
  /** The base's architecture and tokenizer with re-initialised weights (seeded): the no-pretraining control. */
  randomInit?: boolean;
  /** Type words for grounded prediction (a list or a comma-separated string; default: those of the pairs). */
  types?: readonly string[] | string;
  /** Dataset label -> type word for labelled data (`train`, `dev.gold`): a map or a JSON file (`--verbalizer`),
   *  else the default set `dataset` names, else guessed from the labels. The model records the one `train` was
   *  verbalised with; with `pairs`, a map given here (a file only verbalises `dev.gold`, as `--pairs --verbalizer`). */
  verbalizer?: Readonly<Record<string, string>> | string;
  dataset?: string;
  read?: ReaderSettings;
  /** The decoding recorded as the model's default for predict/evaluate (as `--no-ground`, `--max-new-tokens`):
   *  grounded, at most 128 new tokens unless given. */
  decode?: { grounded?: boolean; maxNewTokens?: number };
  /** Held-out pairs, or labelled sentences (`--dev`, never a test split; the first `num` of them): out/ keeps the
   *  model with the lowest dev loss; `patience` evaluations without one stop early. `num`, `evalEvery` and
   *  `patience` without dev data are refused. */
  dev?: { pairs?: PairInput; gold?: LabeledInput; num?: number; evalEvery?: number; patience?: number };
  /** Continue from out/checkpoint with the settings recorded in out/inputs.json; only `steps`/`epochs` may change. */
  resume?: boolean;
  force?: boolean;
}

/** The flags that make a run what it is, recorded in OUT/inputs.json at the start; a resume keeps them. */
const RUN_SETTINGS = [
  'lr',
  'batch',
  'seed',
  'prefix',
  'num',
  'random-init',
  'types',
  'no-ground',
  'max-new-tokens',
  'dev-num',
  'eval-every',
  'patience',
  'fp32',
  'tag-column',
  'scheme',
  'repair-tags',
  'offsets',
  'dataset',
] as const;

/** What a resume may change: the step budget. */
const RESUME_ALLOWED = ['steps', 'epochs'];

type Settings = Record<(typeof RUN_SETTINGS)[number], SettingValue>;

/** The options in the flags' terms, defaults filled in (as the parsed flags hold them), and which were given. */
function settingsOf(o: SupervisedOptions): { f: Settings; given: Set<string> } {
  const grounded = o.decode?.grounded;
  const f: Settings = {
    lr: o.lr,
    batch: o.batchSize,
    seed: o.seed,
    prefix: o.prefix,
    num: o.num,
    'random-init': o.randomInit,
    types: typeof o.types === 'string' ? o.types : o.types?.join(','),
    'no-ground': grounded === undefined ? undefined : !grounded,
    'max-new-tokens': o.decode?.maxNewTokens,
    'dev-num': o.dev?.num,
    'eval-every': o.dev?.evalEvery,
    patience: o.dev?.patience,
    fp32: o.precision === undefined ? undefined : o.precision === 'fp32',
    'tag-column': o.read?.tagColumn,
    scheme: o.read?.scheme,
    'repair-tags': o.read?.repair,
    offsets: o.read?.offsets,
    dataset: o.dataset,
  };
  const given = new Set(RUN_SETTINGS.filter((k) => f[k] !== undefined));
  f.lr ??= S.lr.default;
  f.batch ??= S.batch.default;
  f.seed ??= S.seed.default;
  f.prefix ??= S.prefix.default;
  f['max-new-tokens'] ??= S['max-new-tokens'].default;
  f.offsets ??= 'utf16';
  return { f, given };
}

/** Take the recorded settings into `f` (as `train --resume` takes RUN/config.json); returns the given settings whose
 *  value differs from the run's. */
function adoptRecorded(f: Settings, given: ReadonlySet<string>, recorded: Record<string, unknown>): string[] {
  const diffs: string[] = [];
  const show = (v: unknown) => (v === undefined ? 'unset' : typeof v === 'string' ? v : JSON.stringify(v));
  for (const k of RUN_SETTINGS) {
    const was = recorded[k] as SettingValue;
    if (given.has(k) && JSON.stringify(f[k]) !== JSON.stringify(was))
      diffs.push(`--${k}: run has ${show(was)}, command line says ${show(f[k])}`);
    else f[k] = was;
  }
  return diffs;
}

const num = (v: SettingValue) => v as number;

/** The reader settings of `f` (the recorded ones on a resume). */
const readerOf = (f: Settings): ReaderSettings => ({
  ...(f['tag-column'] !== undefined ? { tagColumn: num(f['tag-column']) } : {}),
  ...(f.scheme !== undefined ? { scheme: f.scheme as ReaderSettings['scheme'] } : {}),
  ...(f['repair-tags'] !== undefined ? { repair: f['repair-tags'] === true } : {}),
  offsets: f.offsets === 'codepoints' ? 'codepoints' : 'utf16',
});

/** Option combinations that are usage errors: refused before the output folder is touched. */
function checkOptions(o: SupervisedOptions): void {
  if (o.pairs !== undefined && o.train !== undefined)
    throw new UsageError('give --pairs FILE or --train FILE, not both');
  if (o.pairs !== undefined && o.num !== undefined)
    throw new UsageError('--num draws sentences of --train; --pairs uses every pair');
  const d = o.dev;
  const devData = d?.pairs !== undefined || d?.gold !== undefined;
  if (!devData && (d?.evalEvery !== undefined || d?.patience !== undefined || d?.num !== undefined))
    throw new UsageError('--eval-every, --patience and --dev-num need --dev FILE');
  if (d?.pairs !== undefined && d.gold !== undefined)
    throw new UsageError('give dev pairs or a labelled --dev file, not both');
  const devFile = fileOf(o.dev?.gold);
  if (devFile !== undefined && /(^|[/\\._-])test([/\\._-]|$)/i.test(path.basename(devFile)))
    throw new UsageError(`--dev ${devFile} looks like a test split; model selection runs on dev only`);
  if (path.resolve(o.out) === path.resolve(o.baseModel))
    throw new UsageError('--out is the --base-model directory: write the fine-tuned model elsewhere');
}

const asPair = (p: { sentence: string; entities: EntitiesOf }): Pair => ({
  sentence: p.sentence,
  sequence: entitySeq(p.entities),
});

/** The entities of a pairs file's lines (sentence<TAB>entity sequence), or a DataError naming the file and line. */
function readPairsFile(file: string): { sentence: string; entities: SeqEntity[] }[] {
  return splitLines(readUtf8(file)).map((l, i) => {
    const tab = l.indexOf('\t');
    if (tab < 0) throw new DataError(file, i + 1, 'expected "sentence<TAB>entity sequence"');
    const p = parseQLine(l.slice(tab + 1));
    if (p.problems.length > 0) throw new DataError(file, i + 1, p.problems.join('; '));
    return { sentence: l.slice(0, tab), entities: p.entities };
  });
}

/** The training pairs (`pairs`, or `train` verbalised) and the label map the model records. */
function readPairs(
  o: SupervisedOptions,
  f: Settings,
  log: (l: string) => void,
): { pairs: Pair[]; verbalizer?: Record<string, string> } {
  if (o.pairs !== undefined) {
    if (typeof o.pairs !== 'string')
      return {
        pairs: o.pairs.map(asPair),
        ...(typeof o.verbalizer === 'object' ? { verbalizer: { ...o.verbalizer } } : {}),
      };
    const parsed = readPairsFile(o.pairs);
    for (const w of rareTypeWarnings(
      o.pairs,
      parsed.map((p) => p.entities),
    ))
      log(w);
    return { pairs: parsed.map(asPair) };
  }
  if (o.train === undefined) throw new UsageError('give --pairs FILE or --train FILE');
  const corpus = labeledCorpus(o.train, 'train', readerOf(f));
  const v = chooseVerbalizer(
    { verbalizer: o.verbalizer, dataset: f.dataset as string | undefined },
    corpusLabels(corpus),
    undefined,
    {
      warn: log,
      corpora: [corpus],
    },
  );
  const sents = sampleSentences(corpus.sentences, f.num as number | undefined, num(f.seed));
  log(`${sents.length} labelled sentences from ${corpus.file}`);
  return { pairs: pairsFromSentences(sents, v), verbalizer: v.toJSON() };
}

/** The dev pairs (labelled sentences verbalised as the training data were), with their cadence and patience. */
function readDev(
  o: SupervisedOptions,
  f: Settings,
  verbalizer: Record<string, string> | undefined,
  nPairs: number,
  log: (l: string) => void,
): { pairs: Pair[]; evalEvery: number; patience: number } | undefined {
  const d = o.dev;
  if (d === undefined || (d.pairs === undefined && d.gold === undefined)) return undefined;
  const evalEvery = (f['eval-every'] as number | undefined) ?? Math.max(1, Math.ceil(nPairs / num(f.batch)));
  const patience = (f.patience as number | undefined) ?? 0;
  const n = f['dev-num'] as number | undefined;
  if (d.pairs !== undefined) return { pairs: d.pairs.slice(0, n ?? d.pairs.length).map(asPair), evalEvery, patience };
  const corpus = labeledCorpus(d.gold!, 'dev', readerOf(f));
  const v = verbalizer
    ? null
    : chooseVerbalizer(
        { verbalizer: o.verbalizer, dataset: f.dataset as string | undefined },
        corpusLabels(corpus),
        undefined,
        {
          warn: log,
          corpora: [corpus],
        },
      );
  const toType = (label: string) => (verbalizer ? verbalizer[label] : v!.verbalize(label));
  const unknown = corpusLabels(corpus).filter((l) => toType(l) === undefined);
  if (unknown.length > 0)
    throw new DataError(corpus.file, undefined, `label(s) ${unknown.join(', ')} do not occur in the training data`);
  const pairs = corpus.sentences.slice(0, n ?? corpus.sentences.length).map((s) => ({
    sentence: s.text,
    sequence: formatEntitySequence(s.entities.map((e) => ({ surface: e.surface, type: toType(e.label) as string }))),
  }));
  log(
    `dev: ${pairs.length} labelled sentences from ${corpus.file}, dev loss every ${evalEvery} steps${patience > 0 ? `, patience ${patience}` : ''}`,
  );
  return { pairs, evalEvery, patience };
}

/** OUT/inputs.json's files: a file's fingerprint, or that of the lines the data would have as a file. */
function supervisedInputs(o: SupervisedOptions, baseDir: string) {
  const tsv = (ps: PairInput) => ps.map((p) => `${p.sentence}\t${entitySeq(p.entities) || '<none>'}`);
  const gold = (x: LabeledInput | undefined) =>
    typeof x === 'string' || x === undefined ? x : labeledCorpus(x, '').sentences.map((s) => JSON.stringify(s));
  const entries = {
    train: inputFingerprint('train', gold(o.train)),
    pairs: inputFingerprint('pairs', typeof o.pairs === 'object' ? tsv(o.pairs) : o.pairs),
    dev: inputFingerprint('dev', o.dev?.pairs ? tsv(o.dev.pairs) : gold(o.dev?.gold)),
    verbalizer: inputFingerprint('verbalizer', fileOf(o.verbalizer)),
    'base-model': fingerprintFiles({ m: modelWeightFiles(baseDir) }).m,
  };
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined)) as Record<
    string,
    NonNullable<(typeof entries)['base-model']>
  >;
}

/** Supervised S2E fine-tuning (`cyclener train-supervised`); an abort saves the model of the last step run and a
 *  checkpoint that `resume` continues exactly. In a data-parallel job every rank calls it; rank 0 writes out/. */
export async function trainSupervised(o: SupervisedOptions): Promise<SupervisedResult> {
  const { log, metrics } = progress(o);
  checkOptions(o);
  // Rank 0 owns the run folder (lock, --force, the resume checks); the others start once it is ready.
  const run =
    T.dist.rank() === 0
      ? openRunDir(o.out, SUPERVISED_RUN, {
          resume: o.resume === true,
          force: o.force === true,
          log,
          inputs: {
            '--base-model': o.baseModel,
            '--train': fileOf(o.train),
            '--pairs': fileOf(o.pairs),
            '--dev': fileOf(o.dev?.gold),
            '--verbalizer': fileOf(o.verbalizer),
          },
        })
      : null;
  try {
    await T.dist.barrier(); // every rank reads the folder once rank 0 has cleaned it up
    // A resume runs with the settings recorded at the start: an option given with another value is a difference.
    const resume = o.resume === true && findCheckpoint(o.out) !== null;
    const recorded = resume ? readRunInputs(o.out) : null;
    const { f, given } = settingsOf(o);
    const diffs = recorded ? adoptRecorded(f, given, recorded.settings) : [];
    const { pairs, verbalizer } = readPairs(o, f, log);
    const steps =
      o.steps ??
      (o.epochs === undefined && typeof recorded?.settings.steps === 'number'
        ? recorded.settings.steps
        : Math.ceil(((o.epochs ?? SUPERVISED_EPOCHS) * pairs.length) / num(f.batch)));
    const dev = readDev(o, f, verbalizer, pairs.length, log);
    const types = f.types
      ? String(f.types)
          .split(',')
          .map((t) => t.trim())
      : typesOf(pairs.map((p) => p.sequence));
    const baseDir = await modelRefDir(o.baseModel, '--base-model', log);
    const m = loadModelDir(baseDir); // a base that cannot be loaded leaves the folder as it was
    o.onStart?.();
    try {
      if (run) {
        const files = supervisedInputs(o, baseDir);
        if (recorded) refuseDifferences(o.out, [...diffs, ...compareInputs(recorded.files, files)], RESUME_ALLOWED);
        else {
          // A checkpoint without inputs.json (an older library run): its settings are checked against the checkpoint's.
          if (resume) log(`${o.out} has no inputs.json: input files not checked, recorded now`);
          const settings = Object.fromEntries(RUN_SETTINGS.filter((k) => f[k] !== undefined).map((k) => [k, f[k]]));
          writeRunInputs(o.out, { command: 'train-supervised', files, settings: { ...settings, steps } });
        }
      }
      await T.dist.barrier();
      if (f['random-init'] === true) reinitialise(m, num(f.seed));
      return await runSupervised(
        m.model,
        m.tokenizer,
        pairs,
        supervisedConfig({
          prefix: String(f.prefix),
          batchSize: num(f.batch),
          steps,
          lr: num(f.lr),
          seed: num(f.seed),
          precision: f.fp32 === true ? 'fp32' : 'bf16',
          ...(dev ? { dev } : {}),
        }),
        o.out,
        {
          types,
          ...(verbalizer ? { verbalizer } : {}),
          baseModel: modelSource(baseDir),
          decode: { grounded: f['no-ground'] !== true, maxNewTokens: num(f['max-new-tokens']) },
        },
        { log, ...(metrics ? { metrics } : {}), ...(o.signal ? { signal: o.signal } : {}), checkpoint: true, resume },
      );
    } finally {
      m.model.dispose();
    }
  } finally {
    run?.release();
  }
}
