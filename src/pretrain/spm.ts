// SentencePiece tokenizer training with the `spm_train` binary (Debian package `sentencepiece`) on a reservoir
// sample of corpus sentences, then tokenizer.json in T5 layout via src/t5's converter (the same layout as
// tools/gpu/spm_convert.py): pieces keep their ids (<pad>=0, </s>=1, <unk>=2, no <s>), <extra_id_99>..<extra_id_0>
// follow (so <extra_id_0> is the highest sentinel), then `<sep>` as a non-special added token.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../util/rng';
import { atomicWriteFile } from '../util/fs';
import { SEP_TOKEN, T5Tokenizer, tokenizerJsonFromSpiece } from '../t5/tokenizer';
import { readSentences, type CorpusStats } from './corpus';

export const EXTRA_IDS = 100;
/** Added after the SentencePiece pieces: 100 sentinels and `<sep>`. */
export const ADDED_TOKENS = EXTRA_IDS + 1;

export interface SpmOptions {
  files: string[];
  outDir: string;
  /** Total vocabulary (pieces + sentinels + <sep>); 16000 gives the shipped model's 15899 pieces. */
  vocabSize: number;
  /** Sentences sampled (reservoir) to train on. */
  sampleSentences: number;
  seed: number;
  threads?: number;
  characterCoverage?: number;
  /** Let spm_train return fewer pieces than asked on tiny corpora (tests). */
  softVocabLimit?: boolean;
  stats?: CorpusStats;
  log?: (msg: string) => void;
}

/** Uniform sample of at most k sentences (Algorithm R) in one streaming pass. */
export async function sampleSentences(
  files: string[],
  k: number,
  seed: number,
  stats?: CorpusStats,
): Promise<{ sample: string[]; seen: number }> {
  const rng = new Rng(seed).fork('spm-sample');
  const sample: string[] = [];
  let seen = 0;
  for await (const s of readSentences(files, { stats })) {
    if (sample.length < k) sample.push(s);
    else {
      const j = Math.floor(rng.float() * (seen + 1));
      if (j < k) sample[j] = s;
    }
    seen++;
  }
  return { sample, seen };
}

export function spmTrainAvailable(): boolean {
  return spawnSync('spm_train', ['--help'], { stdio: 'ignore' }).error === undefined;
}

/** Train spiece.model into outDir and write the matching tokenizer.json; returns the tokenizer. */
export async function trainTokenizer(o: SpmOptions): Promise<T5Tokenizer> {
  const pieces = o.vocabSize - ADDED_TOKENS;
  if (pieces < 8)
    throw new Error(
      `--vocab-size ${o.vocabSize} is too small (need > ${ADDED_TOKENS + 8}: ${EXTRA_IDS} sentinels and <sep> are added)`,
    );
  if (!spmTrainAvailable())
    throw new Error('spm_train not found: install the Debian package `sentencepiece` (scripts/setup.sh does)');
  const { sample, seen } = await sampleSentences(o.files, o.sampleSentences, o.seed, o.stats);
  if (sample.length === 0) throw new Error(`corpus ${o.files.join(',')}: no sentences to train a tokenizer on`);
  o.log?.(`tokenizer: training a ${pieces}-piece unigram model on ${sample.length} of ${seen} sentences`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclener-spm-'));
  try {
    const input = path.join(tmp, 'sentences.txt');
    fs.writeFileSync(input, sample.join('\n') + '\n');
    const prefix = path.join(tmp, 'spiece');
    const args = [
      `--input=${input}`,
      `--model_prefix=${prefix}`,
      `--vocab_size=${pieces}`,
      '--model_type=unigram',
      '--pad_id=0',
      '--eos_id=1',
      '--unk_id=2',
      '--bos_id=-1',
      `--character_coverage=${o.characterCoverage ?? 0.9995}`,
      `--num_threads=${o.threads ?? Math.max(1, os.availableParallelism())}`,
      `--input_sentence_size=${sample.length}`,
      '--shuffle_input_sentence=false',
      `--random_seed=${o.seed >>> 0 || 1}`,
      '--minloglevel=2',
    ];
    if (o.softVocabLimit) args.push('--hard_vocab_limit=false');
    const r = spawnSync('spm_train', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0)
      throw new Error(
        `spm_train failed (exit ${r.status}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`,
      );
    fs.mkdirSync(o.outDir, { recursive: true });
    const model = fs.readFileSync(`${prefix}.model`);
    atomicWriteFile(path.join(o.outDir, 'spiece.model'), model);
    const json = tokenizerJsonFromSpiece(model, { extraIds: EXTRA_IDS, addTokens: [SEP_TOKEN] });
    atomicWriteFile(path.join(o.outDir, 'tokenizer.json'), json);
    return T5Tokenizer.fromJSON(json);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** An existing tokenizer (tokenizer.json or spiece.model in dir), with `<sep>` added when missing. */
export function loadTokenizerDir(dir: string): T5Tokenizer {
  return T5Tokenizer.fromDir(dir).withSep();
}

/** Checks the T5 layout the objectives rely on. */
export function checkLayout(tok: T5Tokenizer): { sentinel0: number; sep: number } {
  const id = (t: string) => tok.inner.tokenToId(t);
  const s0 = id('<extra_id_0>');
  if (s0 === null || s0 === undefined)
    throw new Error('tokenizer has no <extra_id_0> (T5 sentinels are needed for span corruption)');
  for (let i = 1; i < EXTRA_IDS; i++) {
    if (id(`<extra_id_${i}>`) !== s0 - i)
      throw new Error(`tokenizer: <extra_id_${i}> is not <extra_id_0> - ${i} (not the T5 layout)`);
  }
  if (tok.sepId < 0) throw new Error('tokenizer has no <sep>');
  return { sentinel0: s0, sep: tok.sepId };
}
