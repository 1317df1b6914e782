// A synthetic NER world for tests and experiments: template sentences filled from typed
// gazetteers. S (sentences) and Q (entity sequences) are drawn independently; a labelled
// evaluation set comes from the same generator with another seed. Some names are ambiguous
// (a person and a place share a surface) and Q covers only part of the gazetteer, so the
// Lexical Matcher is imperfect and context has to decide.

import { detokenize } from '../data/detok';
import { formatEntitySequence } from '../data/entity-seq';
import type { LabeledCorpus } from '../data/readers';
import { Rng } from '../util/rng';
import type { Entity, LabeledSentence } from '../data/types';
import { T5Tokenizer } from '../t5/tokenizer';

export const SYN_TYPES: Record<string, string> = { PER: 'person', LOC: 'location', ORG: 'organization' };

const TEMPLATES: string[] = [
  '{PER} visited {LOC} last week .',
  '{PER} flew to {LOC} on Monday .',
  '{PER} works for {ORG} .',
  '{ORG} hired {PER} as chief executive .',
  '{ORG} opened an office in {LOC} .',
  'the weather in {LOC} was cold .',
  'shares of {ORG} rose sharply .',
  '{PER} said the talks were useful .',
  'police in {LOC} arrested {PER} .',
  '{PER} met {PER} in {LOC} .',
  'the market was calm today .',
  'prices fell for a third day .',
];

const SYL = ['ka', 'lo', 'mi', 'ren', 'ta', 'vo', 'sul', 'dar', 'en', 'pi', 'gor', 'ba', 'ne', 'tis', 'ru', 'fal'];

export interface SyntheticWorld {
  S: string[];
  Q: string[];
  /** Labelled sentences of the same distribution (never used for training). */
  evalSet: LabeledCorpus;
  /** Surfaces per label. */
  gazetteer: Record<string, string[]>;
  tokenizerJson: string;
}

export interface SyntheticOptions {
  seed?: number;
  nS?: number;
  nQ?: number;
  nEval?: number;
  namesPerType?: number;
  /** Share of each gazetteer Q may draw from (the rest appears only in sentences). */
  qCoverage?: number;
  /** Names shared by PER and LOC. */
  ambiguous?: number;
}

function makeName(rng: Rng, used: Set<string>): string {
  for (;;) {
    const n = 2 + rng.int(2);
    let w = '';
    for (let i = 0; i < n; i++) w += SYL[rng.int(SYL.length)];
    w = w[0]!.toUpperCase() + w.slice(1);
    if (!used.has(w)) {
      used.add(w);
      return w;
    }
  }
}

interface Filled {
  tokens: string[];
  spans: { start: number; end: number; label: string }[];
}

function fill(rng: Rng, names: Record<string, string[]>): Filled {
  const t = TEMPLATES[rng.int(TEMPLATES.length)] as string;
  const tokens: string[] = [];
  const spans: Filled['spans'] = [];
  for (const w of t.split(' ')) {
    const m = /^\{(PER|LOC|ORG)\}$/.exec(w);
    if (!m) {
      tokens.push(w);
      continue;
    }
    const pool = names[m[1] as string] as string[];
    const surface = pool[rng.int(pool.length)] as string;
    const parts = surface.split(' ');
    spans.push({ start: tokens.length, end: tokens.length + parts.length, label: m[1] as string });
    tokens.push(...parts);
  }
  return { tokens, spans };
}

function toSentence(f: Filled): LabeledSentence {
  const d = detokenize(f.tokens);
  const entities: Entity[] = f.spans.map((s) => {
    const cs = (d.offsets[s.start] as { start: number }).start;
    const ce = (d.offsets[s.end - 1] as { end: number }).end;
    return { start: s.start, end: s.end, charStart: cs, charEnd: ce, label: s.label, surface: d.text.slice(cs, ce) };
  });
  const tags = f.tokens.map(() => 'O');
  for (const s of f.spans) for (let i = s.start; i < s.end; i++) tags[i] = `${i === s.start ? 'B' : 'I'}-${s.label}`;
  return { tokens: f.tokens, tags, scheme: 'IOB2', text: d.text, offsets: d.offsets, entities };
}

export function sentenceSequence(s: LabeledSentence): string {
  return formatEntitySequence(s.entities.map((e) => ({ surface: e.surface, type: SYN_TYPES[e.label] as string })));
}

/** Word-level tokenizer over the world's words (T5 conventions: <pad> 0, </s> 1, <unk> 2, <sep> non-special). */
export function wordTokenizerJson(words: Iterable<string>): string {
  const vocab: Record<string, number> = { '<pad>': 0, '</s>': 1, '<unk>': 2, '<sep>': 3 };
  for (const w of words) if (!(w in vocab)) vocab[w] = Object.keys(vocab).length;
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      special(0, '<pad>'),
      special(1, '</s>'),
      special(2, '<unk>'),
      { id: 3, content: '<sep>', single_word: false, lstrip: true, rstrip: true, normalized: false, special: false },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  });
}

export function buildSyntheticWorld(opts: SyntheticOptions = {}): SyntheticWorld {
  const rng = new Rng(opts.seed ?? 7);
  const per = opts.namesPerType ?? 40;
  const used = new Set<string>();
  const gaz: Record<string, string[]> = { PER: [], LOC: [], ORG: [] };
  for (let i = 0; i < per; i++) {
    gaz.PER!.push(`${makeName(rng, used)}${rng.int(2) === 0 ? ` ${makeName(rng, used)}` : ''}`);
    gaz.LOC!.push(makeName(rng, used));
    gaz.ORG!.push(`${makeName(rng, used)} ${rng.int(2) === 0 ? 'Corp' : 'Group'}`);
  }
  // Ambiguous surfaces: the same word is a person in person contexts and a place in place contexts.
  for (let i = 0; i < (opts.ambiguous ?? 6); i++) {
    const w = makeName(rng, used);
    gaz.PER!.push(w);
    gaz.LOC!.push(w);
  }
  const cov = opts.qCoverage ?? 0.6;
  const qNames: Record<string, string[]> = Object.fromEntries(
    Object.entries(gaz).map(([k, v]) => [k, v.slice(0, Math.max(1, Math.round(v.length * cov)))]),
  );
  const sRng = rng.fork('S');
  const qRng = rng.fork('Q');
  const eRng = rng.fork('eval');
  const S = Array.from({ length: opts.nS ?? 600 }, () => toSentence(fill(sRng, gaz)).text);
  const Q = Array.from({ length: opts.nQ ?? 300 }, () => sentenceSequence(toSentence(fill(qRng, qNames))));
  const evalSentences = Array.from({ length: opts.nEval ?? 200 }, () => toSentence(fill(eRng, gaz)));
  const words = new Set<string>();
  for (const t of TEMPLATES) for (const w of t.split(' ')) if (!w.startsWith('{')) words.add(w);
  for (const v of Object.values(gaz)) for (const n of v) for (const w of n.split(' ')) words.add(w);
  for (const w of Object.values(SYN_TYPES)) words.add(w);
  words.add('entity');
  words.add('entities:');
  words.add('sentence:');
  const evalSet: LabeledCorpus = {
    file: '<synthetic eval>',
    format: 'conll',
    scheme: 'IOB2',
    schemeDetected: false,
    sentences: evalSentences,
    documents: 0,
    tagProblems: [],
    repairedTags: 0,
  };
  return { S, Q, evalSet, gazetteer: gaz, tokenizerJson: wordTokenizerJson([...words].sort()) };
}

export function syntheticTokenizer(w: SyntheticWorld): T5Tokenizer {
  return T5Tokenizer.fromJSON(w.tokenizerJson);
}
