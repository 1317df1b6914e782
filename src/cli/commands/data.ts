// `cyclener data stats` and `cyclener data build`.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DATASETS, parseConfigName, parseCount, type QMode } from '../../data/config';
import { DataError } from '../../data/errors';
import { NONE_LINE, SEP, toQLine, parseQLine, type SeqEntity } from '../../data/entity-seq';
import { buildGQ } from '../../data/gq';
import { readQFile, readSentenceLines, readUtf8, sentenceToJson, splitLines, type LabeledCorpus } from '../../data/readers';
import { Rng } from '../../data/rng';
import { buildSQ, lengthDistribution, sampleSeeds } from '../../data/sq';
import type { LabeledSentence } from '../../data/types';
import type { Verbalizer } from '../../data/verbalizer';
import { loadTextVectors, trainVectors, wordTokens, type WordVectors } from '../../data/wordvec';
import { AT_LEAST_1, SEED, UsageError, type ParsedArgs } from '../args';
import { registerCommand, type Io } from '../registry';
import { chooseVerbalizer, corpusLabels, ensureDir, fmtInt, num, READER_FLAGS, readLabeledWithFlags, requireCleanTags, str, VERBALIZER_FLAGS, writeLines } from '../common';

// ------------------------------------------------------------------ data stats

function labeledStats(c: LabeledCorpus) {
  const tokens = c.sentences.reduce((s, x) => s + x.tokens.length, 0);
  const byType: Record<string, number> = {};
  let entities = 0;
  let withEntities = 0;
  let maxEnt = 0;
  for (const s of c.sentences) {
    if (s.entities.length > 0) withEntities++;
    maxEnt = Math.max(maxEnt, s.entities.length);
    for (const e of s.entities) { byType[e.label] = (byType[e.label] ?? 0) + 1; entities++; }
  }
  return {
    file: c.file, format: c.format, scheme: c.scheme, schemeDetected: c.schemeDetected,
    sentences: c.sentences.length, tokens, meanSentenceLength: tokens / c.sentences.length, documents: c.documents,
    sentencesWithEntities: withEntities, sentencesWithoutEntities: c.sentences.length - withEntities,
    entities, entitiesPerSentence: entities / c.sentences.length, maxEntitiesPerSentence: maxEnt,
    entitiesByType: Object.fromEntries(Object.entries(byType).sort(([a], [b]) => (a < b ? -1 : 1))),
    tagProblems: c.tagProblems.length, firstTagProblems: c.tagProblems.slice(0, 5), repairedTags: c.repairedTags,
  };
}

function textStats(file: string) {
  const lines = readSentenceLines(file);
  const tokens = lines.reduce((s, l) => s + l.trim().split(/\s+/).length, 0);
  return { file, format: 'text', sentences: lines.length, whitespaceTokens: tokens, meanSentenceLength: tokens / lines.length };
}

function qStats(file: string) {
  const seqs = readQFile(file);
  const byType: Record<string, number> = {};
  let entities = 0;
  for (const q of seqs) for (const e of q) { byType[e.type] = (byType[e.type] ?? 0) + 1; entities++; }
  return {
    file, format: 'q', sequences: seqs.length, emptySequences: seqs.filter((q) => q.length === 0).length,
    entities, entitiesPerSequence: entities / seqs.length, distinctSurfaces: new Set(seqs.flat().map((e) => e.surface)).size,
    entitiesByType: Object.fromEntries(Object.entries(byType).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}

function guessPlainFormat(file: string): 'q' | undefined {
  const lines = splitLines(readUtf8(file));
  return lines.some((l) => l.includes(SEP) || l.trim() === NONE_LINE) ? 'q' : undefined;
}

registerCommand({
  name: 'data stats',
  summary: 'count sentences, tokens and entities of a labelled file, an S file or a Q file',
  positionals: [{ name: 'FILE', help: 'CoNLL columns, CoNLL-2012 *_conll, JSONL, S text or Q file' }],
  flags: {
    format: { type: 'string', arg: 'F', help: 'input format', default: 'auto', choices: ['auto', 'conll', 'conll2012', 'jsonl', 'text', 'q'] },
    ...READER_FLAGS,
    json: { type: 'boolean', help: 'print JSON instead of a table' },
  },
  details: 'Sentences are separated by blank or whitespace-only lines; -DOCSTART- lines are counted as documents, not tokens.',
  run(args: ParsedArgs, io: Io): number {
    const file = args.positionals[0] as string;
    let format = str(args.flags.format) ?? 'auto';
    if (format === 'auto') format = guessPlainFormat(file) ?? 'auto';
    const stats = format === 'text' ? textStats(file) : format === 'q' ? qStats(file) : labeledStats(readLabeledWithFlags(file, args.flags, format));
    if (args.flags.json === true) { io.out(JSON.stringify(stats, null, 2)); return 0; }
    const rows: [string, string][] = [];
    for (const [k, v] of Object.entries(stats)) {
      if (k === 'firstTagProblems') {
        for (const p of v as { line: number; problem: string }[]) rows.push(['  tag problem', `${file}:${p.line}: ${p.problem}`]);
      } else if (typeof v === 'object' && v !== null) {
        for (const [t, n] of Object.entries(v as Record<string, number>)) rows.push([`  ${t}`, fmtInt(n)]);
      } else if (typeof v === 'number') rows.push([k, Number.isInteger(v) ? fmtInt(v) : v.toFixed(2)]);
      else rows.push([k, String(v)]);
    }
    const w = Math.max(...rows.map(([k]) => k.length));
    io.out(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n'));
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
  throw new DataError(dir, undefined, `no such file: none of ${names.join(', ')} found for the ${what} split (use --data-dir or --${what} FILE)`);
}

function refuseTestSplit(file: string): void {
  if (/(^|[^a-z])test(?!a)/i.test(basename(file))) { // eng.testa is CoNLL dev, eng.testb is test
    throw new UsageError(`${file} looks like a test split; CycleNER data is built from train/dev only (rename the file if it is not a test split)`);
  }
}

interface SplitResult {
  S: string[];
  Q: SeqEntity[][];
  sSentences: LabeledSentence[];
  notices: string[];
  info: Record<string, unknown>;
}

function buildSplit(
  corpus: LabeledCorpus, mode: QMode, numS: number | 'full', numQ: number, rng: Rng, v: Verbalizer,
  opts: { allowOverlap: boolean; includeEmptyQ: boolean; seedEntities: number; seeds?: SeqEntity[]; vectors: () => WordVectors; lengthFrom: LabeledSentence[] },
): SplitResult {
  const sents = corpus.sentences;
  if (mode === 'gq') {
    const r = buildGQ(sents, { numS, numQ, rng, verbalizer: v, allowOverlap: opts.allowOverlap, includeEmptyQ: opts.includeEmptyQ });
    return { S: r.S, Q: r.Q, sSentences: r.sIndices.map((i) => sents[i] as LabeledSentence), notices: r.notices, info: { qFromSentences: r.qIndices.length } };
  }
  // SQ: S is a random sample; seeds come from the other sentences first, so S and the seed list
  // are independent whenever the corpus is large enough.
  const notices: string[] = [];
  const perm = rng.fork('sq-s-order').permutation(sents.length);
  let nS = numS === 'full' ? sents.length : numS;
  if (nS > sents.length) { notices.push(`only ${sents.length} sentences available: S has ${sents.length} instead of ${nS}`); nS = sents.length; }
  const sIdx = perm.slice(0, nS);
  const inS = new Set(sIdx);
  let seeds = opts.seeds;
  let seedSource = 'file';
  if (!seeds) {
    const others = sents.filter((_, i) => !inS.has(i));
    seeds = sampleSeeds(others, opts.seedEntities, v, rng.fork('sq-seeds'));
    seedSource = 'sentences not in S';
    if (seeds.length < opts.seedEntities) {
      const outside = seeds.length;
      const more = sampleSeeds(sents, opts.seedEntities, v, rng.fork('sq-seeds-all'));
      const have = new Set(seeds.map((s) => `${s.surface}\u0000${s.type}`));
      for (const m of more) if (seeds.length < opts.seedEntities && !have.has(`${m.surface}\u0000${m.type}`)) seeds.push(m);
      notices.push(`seed entities: ${outside} from sentences outside S, ${seeds.length - outside} from S's sentences` +
        (seeds.length < opts.seedEntities ? `; only ${seeds.length} distinct entities exist, fewer than the ${opts.seedEntities} requested` : ''));
      seedSource = 'sentences not in S, then S';
    }
  }
  const r = buildSQ({ numQ, seeds, lengthDist: lengthDistribution(opts.lengthFrom), vectors: opts.vectors(), rng: rng.fork('sq-build') });
  if (r.seedsWithoutVector > 0) notices.push(`${r.seedsWithoutVector} of ${seeds.length} seed entities have no word vector and were grouped at random`);
  return { S: sIdx.map((i) => (sents[i] as LabeledSentence).text), Q: r.Q, sSentences: sIdx.map((i) => sents[i] as LabeledSentence), notices, info: { seeds: seeds.length, seedSource, seedsWithoutVector: r.seedsWithoutVector } };
}

function readSeedsFile(file: string, v: Verbalizer): SeqEntity[] {
  // One seed per line: "surface<TAB>type" where type is a label (PER) or a type word (person).
  return splitLines(readUtf8(file)).flatMap((line, i) => {
    if (line.trim() === '') return [];
    const parts = line.split('\t');
    if (parts.length !== 2 || !parts[0]!.trim() || !parts[1]!.trim()) throw new DataError(file, i + 1, 'expected "surface<TAB>type"');
    const t = parts[1]!.trim();
    const type = v.has(t) ? v.verbalize(t) : v.label(t) !== undefined ? t : undefined;
    if (type === undefined) throw new DataError(file, i + 1, `unknown type "${t}" (known: ${v.labels().join(', ')} or ${v.words().join(', ')})`);
    return [{ surface: parts[0]!.trim(), type }];
  });
}

/** A count flag (500, 1k, full): a bad one is a usage error naming the flag. */
function countFlag(flag: string, value: string, allowFull: boolean): number | 'full' {
  try {
    return parseCount(value, allowFull);
  } catch (e) {
    throw new UsageError(`--${flag}: ${(e as Error).message}`);
  }
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

registerCommand({
  name: 'data build',
  summary: 'build the S/Q training files (and dev_S/dev_Q for model selection) from annotated train/dev data',
  flags: {
    config: { type: 'string', arg: 'NAME', help: 'paper configuration <dataset>/<#S>/<#Q>-<gq|sq>, e.g. conll2003/2k/1k-gq' },
    'data-dir': { type: 'string', arg: 'DIR', help: 'folder holding <dataset>/train.* and dev.* (default ../shared/data or $CYCLENER_DATA_DIR)' },
    train: { type: 'string', arg: 'FILE', help: 'annotated training file (instead of --config)' },
    dev: { type: 'string', arg: 'FILE', help: 'annotated dev file for dev_S/dev_Q' },
    'num-sentences': { type: 'string', arg: 'N', help: '#S, e.g. 2k or full (with --train)' },
    'num-sequences': { type: 'string', arg: 'N', help: '#Q, e.g. 1k (with --train)' },
    mode: { type: 'string', arg: 'M', help: 'how Q is made (with --train)', choices: ['gq', 'sq'] },
    'dev-sentences': { type: 'string', arg: 'N', help: "dev #S (default: the paper's Table 3 dev configuration, else 1k)" },
    'dev-sequences': { type: 'string', arg: 'N', help: "dev #Q (default: the paper's Table 3 dev configuration, else 500)" },
    out: { type: 'string', arg: 'DIR', help: 'output folder', required: true },
    seed: { type: 'int', arg: 'N', help: 'random seed', default: 1, range: SEED },
    format: { type: 'string', arg: 'F', help: 'format of the annotated files', default: 'auto', choices: ['auto', 'conll', 'conll2012', 'jsonl'] },
    ...READER_FLAGS,
    ...VERBALIZER_FLAGS,
    'seed-entities': { type: 'int', arg: 'N', help: 'SQ: number of distinct seed entities drawn from the gold annotations', default: 1000, range: AT_LEAST_1 },
    seeds: { type: 'string', arg: 'FILE', help: 'SQ: seed entities, one "surface<TAB>type" per line (instead of drawing them)' },
    vectors: { type: 'string', arg: 'FILE', help: 'SQ: GloVe/word2vec text vectors (default: PPMI+SVD vectors trained on the training text)' },
    'allow-overlap': { type: 'boolean', help: "GQ: let S reuse Q's sentences when #S + #Q exceeds the corpus (the paper's full-size configurations)" },
    'dev-independent': { type: 'boolean', help: "GQ: draw dev_Q from sentences not in dev_S too (default: dev_Q may overlap dev_S, as in the paper's Table 3 dev sizes)" },
    'include-empty-q': { type: 'boolean', help: `GQ: also draw Q from sentences without entities (written as ${NONE_LINE})` },
    force: { type: 'boolean', help: 'overwrite files in --out' },
  },
  details: [
    'Writes S.txt (one sentence per line), Q.txt (one entity sequence per line, "surface <sep> type <sep> ...",',
    `${NONE_LINE} for an empty sequence), dev_S.txt, dev_Q.txt, dev_gold.jsonl (labels of dev_S, for monitoring only)`,
    'and manifest.json. GQ draws Q from sentences not in S. Test splits are refused.',
    'Examples:',
    '  cyclener data build --config conll2003/2k/1k-gq --out runs/data/conll-2k-1k-gq',
    '  cyclener data build --train train.txt --dev dev.txt --num-sentences full --num-sequences 1k --mode sq --out out/',
  ].join('\n'),
  run(args: ParsedArgs, io: Io): number {
    const f = args.flags;
    const cfgName = str(f.config);
    let dataset: string | undefined = str(f.dataset);
    let trainFile = str(f.train);
    let devFile = str(f.dev);
    let numS: number | 'full';
    let numQ: number;
    let mode: QMode;
    try {
      if (cfgName) {
        if (f['num-sentences'] !== undefined || f['num-sequences'] !== undefined || f.mode !== undefined) throw new UsageError('give either --config or --num-sentences/--num-sequences/--mode, not both');
        const cfg = parseConfigName(cfgName);
        const info = DATASETS[cfg.dataset];
        if (!info && !trainFile) throw new UsageError(`unknown dataset "${cfg.dataset}" in --config (known: ${Object.keys(DATASETS).join(', ')}); pass --train FILE`);
        dataset = dataset ?? cfg.dataset;
        const dir = join(str(f['data-dir']) ?? defaultDataDir(), cfg.dataset);
        if (info) {
          trainFile = trainFile ?? findFile(dir, info.train, 'train');
          devFile = devFile ?? findFile(dir, info.dev, 'dev');
        }
        numS = cfg.numS; numQ = cfg.numQ; mode = cfg.mode;
      } else {
        if (!trainFile) throw new UsageError('give --config NAME or --train FILE (see cyclener data build --help)');
        const s = str(f['num-sentences']), q = str(f['num-sequences']), m = str(f.mode);
        if (!s || !q || !m) throw new UsageError('with --train, --num-sentences, --num-sequences and --mode are required');
        numS = countFlag('num-sentences', s, true); numQ = countFlag('num-sequences', q, false) as number; mode = m as QMode;
      }
    } catch (e) {
      if (e instanceof UsageError || e instanceof DataError) throw e;
      throw new UsageError((e as Error).message);
    }
    const out = str(f.out) as string;
    const seed = num(f.seed) as number;
    refuseTestSplit(trainFile as string);
    if (devFile) refuseTestSplit(devFile);
    if (!f.force && existsSync(join(out, 'S.txt'))) throw new UsageError(`${join(out, 'S.txt')} exists; pass --force to overwrite`);

    const format = str(f.format);
    const train = readLabeledWithFlags(trainFile as string, f, format);
    requireCleanTags(train);
    const dev = devFile ? readLabeledWithFlags(devFile, f, format) : undefined;
    if (dev) requireCleanTags(dev);
    const v = chooseVerbalizer(f, [...corpusLabels(train), ...(dev ? corpusLabels(dev) : [])], dataset && DATASETS[dataset] ? dataset : undefined);

    const rng = new Rng(seed);
    const seeds = str(f.seeds) ? readSeedsFile(str(f.seeds) as string, v) : undefined;
    let vectors: WordVectors | undefined;
    const getVectors = (): WordVectors => {
      if (vectors) return vectors;
      const vf = str(f.vectors);
      if (vf) {
        const need = new Set<string>();
        for (const s of [...train.sentences, ...(dev?.sentences ?? [])]) for (const e of s.entities) for (const w of wordTokens(e.surface)) need.add(w);
        for (const s of seeds ?? []) for (const w of wordTokens(s.surface)) need.add(w);
        vectors = loadTextVectors(vf, need);
      } else {
        // Unsupervised: only the text of the train/dev files is used, never their labels.
        vectors = trainVectors([...train.sentences, ...(dev?.sentences ?? [])].map((s) => s.text), { seed });
      }
      return vectors;
    };
    const common = { allowOverlap: f['allow-overlap'] === true, includeEmptyQ: f['include-empty-q'] === true, seedEntities: num(f['seed-entities']) as number, vectors: getVectors };
    const tr = buildSplit(train, mode, numS, numQ, rng.fork('train'), v, { ...common, ...(seeds ? { seeds } : {}), lengthFrom: train.sentences });

    let dv: SplitResult | undefined;
    const notices = tr.notices.map((n) => `train: ${n}`);
    let devCfg: { numS: number | 'full'; numQ: number } | undefined;
    if (dev) {
      const table3 = dataset ? DATASETS[dataset]?.devConfig[mode] : undefined;
      const ds = str(f['dev-sentences']), dq = str(f['dev-sequences']);
      devCfg = { numS: ds ? countFlag('dev-sentences', ds, true) : table3?.numS ?? 1000, numQ: dq ? (countFlag('dev-sequences', dq, false) as number) : table3?.numQ ?? 500 };
      // Dev SQ seeds come from the dev annotations (Table 3 builds dev from the dev split).
      // Dev data is never trained on (it only scores the E-/S-cycle losses for model selection), so by
      // default dev_Q may come from dev_S's sentences, which gives the paper's Table 3 dev sizes.
      const devOverlap = f['dev-independent'] !== true;
      dv = buildSplit(dev, mode, devCfg.numS, devCfg.numQ, rng.fork('dev'), v, { ...common, allowOverlap: devOverlap, lengthFrom: dev.sentences });
      notices.push(...dv.notices.map((n) => `dev: ${n}`));
    } else notices.push('no dev file: dev_S.txt/dev_Q.txt not written (model selection needs them; pass --dev FILE)');

    ensureDir(out);
    const files: Record<string, { lines: number; sha256: string }> = {};
    const put = (name: string, lines: string[]) => {
      const p = join(out, name);
      writeLines(p, lines);
      files[name] = { lines: lines.length, sha256: sha256(p) };
    };
    put('S.txt', tr.S);
    put('Q.txt', tr.Q.map(toQLine));
    if (dv) {
      put('dev_S.txt', dv.S);
      put('dev_Q.txt', dv.Q.map(toQLine));
      put('dev_gold.jsonl', dv.sSentences.map(sentenceToJson));
    }
    // Round-trip check: what we wrote parses back to what we built (no lossy surfaces).
    tr.Q.forEach((q, i) => {
      const back = parseQLine(toQLine(q)).entities;
      if (back.length !== q.length || back.some((e, k) => e.surface !== q[k]!.surface || e.type !== q[k]!.type)) throw new Error(`internal: Q line ${i + 1} does not round-trip`);
    });
    const manifest = {
      tool: 'cyclener data build',
      config: cfgName ?? `${dataset ?? 'custom'}/${numS}/${numQ}-${mode}`,
      dataset: dataset ?? null,
      mode,
      seed,
      requested: { numS, numQ, dev: devCfg ?? null },
      actual: { S: tr.S.length, Q: tr.Q.length, devS: dv?.S.length ?? 0, devQ: dv?.Q.length ?? 0 },
      inputs: { train: { path: resolve(trainFile as string), sha256: sha256(trainFile as string), scheme: train.scheme }, dev: dev ? { path: resolve(devFile as string), sha256: sha256(devFile as string), scheme: dev.scheme } : null },
      options: { allowOverlap: common.allowOverlap, devIndependent: f['dev-independent'] === true, includeEmptyQ: common.includeEmptyQ, seedEntities: mode === 'sq' ? (seeds ? seeds.length : common.seedEntities) : null, vectors: mode === 'sq' ? str(f.vectors) ?? 'trained: PPMI+SVD on the train/dev text' : null },
      train: tr.info,
      dev: dv?.info ?? null,
      format: { S: 'one sentence per line', Q: `entities "surface ${SEP} type" joined by " ${SEP} "; ${NONE_LINE} = no entities`, sep: SEP, none: NONE_LINE },
      verbalizer: v.toJSON(),
      files,
      notices,
    };
    writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const n of notices) io.err(`note: ${n}`);
    io.out(`wrote ${out}: S ${fmtInt(tr.S.length)}, Q ${fmtInt(tr.Q.length)}${dv ? `, dev_S ${fmtInt(dv.S.length)}, dev_Q ${fmtInt(dv.Q.length)}` : ''} (seed ${seed})`);
    return 0;
  },
});
