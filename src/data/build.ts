// `cyclener data build` as a library function: from annotated train (and dev) corpora to the S/Q training files,
// dev_S/dev_Q/dev_gold for model selection, and manifest.json (what was asked, what was built, from which files).

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { QMode } from './config';
import { DataError } from './errors';
import { NONE_LINE, parseQLine, SEP, toQLine, type SeqEntity } from './entity-seq';
import { buildGQ } from './gq';
import { readUtf8, sentenceToJson, splitLines, type LabeledCorpus } from './readers';
import { Rng } from '../util/rng';
import { buildSQ, lengthDistribution, sampleSeeds } from './sq';
import type { LabeledSentence } from './types';
import type { Verbalizer } from './verbalizer';
import { loadTextVectors, trainVectors, wordTokens, type WordVectors } from './wordvec';
import { writeFilesAtomic } from '../util/output';

export type Count = number | 'full';

export interface BuildOptions {
  train: LabeledCorpus;
  /** Annotated dev data for dev_S/dev_Q/dev_gold; none: only S/Q are written (with a notice). */
  dev?: LabeledCorpus;
  mode: QMode;
  numS: Count;
  numQ: number;
  /** Dev #S/#Q (required with `dev`). */
  devNumS?: Count;
  devNumQ?: number;
  seed: number;
  verbalizer: Verbalizer;
  /** Recorded in the manifest: the paper configuration name (else dataset/#S/#Q-mode) and the dataset. */
  configName?: string;
  dataset?: string;
  /** SQ: seed entities (default: drawn from the gold annotations, `seedEntities` of them). */
  seeds?: SeqEntity[];
  seedEntities: number;
  /** SQ: GloVe/word2vec text vectors (default: PPMI+SVD vectors trained on the train/dev text). */
  vectorsFile?: string;
  /** GQ: S may reuse Q's sentences; dev_Q from sentences not in dev_S; Q from sentences without entities too. */
  allowOverlap: boolean;
  devIndependent: boolean;
  includeEmptyQ: boolean;
}

export interface BuildResult {
  counts: { S: number; Q: number; devS: number; devQ: number };
  /** Departures from what was asked (fewer sentences, seeds from S, ...), prefixed train:/dev:. */
  notices: string[];
  manifest: Record<string, unknown>;
}

interface SplitResult {
  S: string[];
  Q: SeqEntity[][];
  sSentences: LabeledSentence[];
  notices: string[];
  info: Record<string, unknown>;
}

function buildSplit(
  corpus: LabeledCorpus,
  mode: QMode,
  numS: Count,
  numQ: number,
  rng: Rng,
  v: Verbalizer,
  opts: {
    allowOverlap: boolean;
    includeEmptyQ: boolean;
    seedEntities: number;
    seeds?: SeqEntity[];
    vectors: () => WordVectors;
    lengthFrom: LabeledSentence[];
  },
): SplitResult {
  const sents = corpus.sentences;
  if (mode === 'gq') {
    const r = buildGQ(sents, {
      numS,
      numQ,
      rng,
      verbalizer: v,
      allowOverlap: opts.allowOverlap,
      includeEmptyQ: opts.includeEmptyQ,
    });
    return {
      S: r.S,
      Q: r.Q,
      sSentences: r.sIndices.map((i) => sents[i] as LabeledSentence),
      notices: r.notices,
      info: { qFromSentences: r.qIndices.length },
    };
  }
  // SQ: S is a random sample; seeds come from the other sentences first, so S and the seed list
  // are independent whenever the corpus is large enough.
  const notices: string[] = [];
  const perm = rng.fork('sq-s-order').permutation(sents.length);
  let nS = numS === 'full' ? sents.length : numS;
  if (nS > sents.length) {
    notices.push(`only ${sents.length} sentences available: S has ${sents.length} instead of ${nS}`);
    nS = sents.length;
  }
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
      for (const m of more)
        if (seeds.length < opts.seedEntities && !have.has(`${m.surface}\u0000${m.type}`)) seeds.push(m);
      notices.push(
        `seed entities: ${outside} from sentences outside S, ${seeds.length - outside} from S's sentences` +
          (seeds.length < opts.seedEntities
            ? `; only ${seeds.length} distinct entities exist, fewer than the ${opts.seedEntities} requested`
            : ''),
      );
      seedSource = 'sentences not in S, then S';
    }
  }
  const r = buildSQ({
    numQ,
    seeds,
    lengthDist: lengthDistribution(opts.lengthFrom),
    vectors: opts.vectors(),
    rng: rng.fork('sq-build'),
  });
  if (r.seedsWithoutVector > 0)
    notices.push(
      `${r.seedsWithoutVector} of ${seeds.length} seed entities have no word vector and were grouped at random`,
    );
  return {
    S: sIdx.map((i) => (sents[i] as LabeledSentence).text),
    Q: r.Q,
    sSentences: sIdx.map((i) => sents[i] as LabeledSentence),
    notices,
    info: { seeds: seeds.length, seedSource, seedsWithoutVector: r.seedsWithoutVector },
  };
}

/** SQ seed entities, one "surface<TAB>type" per line, where type is a label (PER) or a type word (person). */
export function readSeedsFile(file: string, v: Verbalizer): SeqEntity[] {
  return splitLines(readUtf8(file)).flatMap((line, i) => {
    if (line.trim() === '') return [];
    const parts = line.split('\t');
    if (parts.length !== 2 || !parts[0]!.trim() || !parts[1]!.trim())
      throw new DataError(file, i + 1, 'expected "surface<TAB>type"');
    const t = parts[1]!.trim();
    const type = v.has(t) ? v.verbalize(t) : v.label(t) !== undefined ? t : undefined;
    if (type === undefined)
      throw new DataError(
        file,
        i + 1,
        `unknown type "${t}" (known: ${v.labels().join(', ')} or ${v.words().join(', ')})`,
      );
    return [{ surface: parts[0]!.trim(), type }];
  });
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** What buildData may write into its folder. */
export const BUILD_FILES = ['S.txt', 'Q.txt', 'dev_S.txt', 'dev_Q.txt', 'dev_gold.jsonl', 'manifest.json'] as const;

/** Build the splits and write S.txt, Q.txt, dev_S.txt, dev_Q.txt, dev_gold.jsonl and manifest.json into `out`. */
export function buildData(out: string, o: BuildOptions): BuildResult {
  const { train, dev, mode, seed, verbalizer: v } = o;
  const rng = new Rng(seed);
  let vectors: WordVectors | undefined;
  const getVectors = (): WordVectors => {
    if (vectors) return vectors;
    if (o.vectorsFile) {
      const need = new Set<string>();
      for (const s of [...train.sentences, ...(dev?.sentences ?? [])])
        for (const e of s.entities) for (const w of wordTokens(e.surface)) need.add(w);
      for (const s of o.seeds ?? []) for (const w of wordTokens(s.surface)) need.add(w);
      vectors = loadTextVectors(o.vectorsFile, need);
    } else {
      // Unsupervised: only the text of the train/dev files is used, never their labels.
      vectors = trainVectors(
        [...train.sentences, ...(dev?.sentences ?? [])].map((s) => s.text),
        { seed },
      );
    }
    return vectors;
  };
  const common = {
    allowOverlap: o.allowOverlap,
    includeEmptyQ: o.includeEmptyQ,
    seedEntities: o.seedEntities,
    vectors: getVectors,
  };
  const tr = buildSplit(train, mode, o.numS, o.numQ, rng.fork('train'), v, {
    ...common,
    ...(o.seeds ? { seeds: o.seeds } : {}),
    lengthFrom: train.sentences,
  });

  let dv: SplitResult | undefined;
  const notices = tr.notices.map((n) => `train: ${n}`);
  let devCfg: { numS: Count; numQ: number } | undefined;
  if (dev) {
    if (o.devNumS === undefined || o.devNumQ === undefined)
      throw new Error('buildData: dev data needs devNumS and devNumQ');
    devCfg = { numS: o.devNumS, numQ: o.devNumQ };
    // Dev SQ seeds come from the dev annotations (Table 3 builds dev from the dev split).
    // Dev data is never trained on (it only scores the E-/S-cycle losses for model selection), so by
    // default dev_Q may come from dev_S's sentences, which gives the paper's Table 3 dev sizes.
    dv = buildSplit(dev, mode, devCfg.numS, devCfg.numQ, rng.fork('dev'), v, {
      ...common,
      allowOverlap: !o.devIndependent,
      lengthFrom: dev.sentences,
    });
    notices.push(...dv.notices.map((n) => `dev: ${n}`));
  } else notices.push('no dev file: dev_S.txt/dev_Q.txt not written (model selection needs them; pass --dev FILE)');

  mkdirSync(out, { recursive: true });
  const files: Record<string, { lines: number; sha256: string }> = {};
  // Written together at the end (manifest last): a failure (a full disk) leaves the previous files, never a mix.
  const staged: { file: string; chunks: string[] }[] = [];
  const put = (name: string, lines: string[]) => {
    const text = lines.length > 0 ? `${lines.join('\n')}\n` : '';
    staged.push({ file: join(out, name), chunks: [text] });
    files[name] = { lines: lines.length, sha256: createHash('sha256').update(text).digest('hex') };
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
    if (back.length !== q.length || back.some((e, k) => e.surface !== q[k]!.surface || e.type !== q[k]!.type))
      throw new Error(`internal: Q line ${i + 1} does not round-trip`);
  });
  const manifest = {
    tool: 'cyclener data build',
    config: o.configName ?? `${o.dataset ?? 'custom'}/${o.numS}/${o.numQ}-${mode}`,
    dataset: o.dataset ?? null,
    mode,
    seed,
    requested: { numS: o.numS, numQ: o.numQ, dev: devCfg ?? null },
    actual: { S: tr.S.length, Q: tr.Q.length, devS: dv?.S.length ?? 0, devQ: dv?.Q.length ?? 0 },
    inputs: {
      train: { path: resolve(train.file), sha256: sha256(train.file), scheme: train.scheme },
      dev: dev ? { path: resolve(dev.file), sha256: sha256(dev.file), scheme: dev.scheme } : null,
    },
    options: {
      allowOverlap: o.allowOverlap,
      devIndependent: o.devIndependent,
      includeEmptyQ: o.includeEmptyQ,
      seedEntities: mode === 'sq' ? (o.seeds ? o.seeds.length : o.seedEntities) : null,
      vectors: mode === 'sq' ? (o.vectorsFile ?? 'trained: PPMI+SVD on the train/dev text') : null,
    },
    train: tr.info,
    dev: dv?.info ?? null,
    format: {
      S: 'one sentence per line',
      Q: `entities "surface ${SEP} type" joined by " ${SEP} "; ${NONE_LINE} = no entities`,
      sep: SEP,
      none: NONE_LINE,
    },
    verbalizer: v.toJSON(),
    files,
    notices,
  };
  staged.push({ file: join(out, 'manifest.json'), chunks: [JSON.stringify(manifest, null, 2) + '\n'] });
  writeFilesAtomic(staged);
  return { counts: manifest.actual, notices, manifest };
}
