// `predictFile`: the one implementation of `cyclener predict` (a text / CoNLL / JSONL file tagged by an S2E model into
// JSONL with offsets, the hf / spacy shapes, CoNLL columns or entity sequences). A text file is read, predicted and
// rendered a chunk at a time (flat memory). The CLI command parses flags, opens it and writes the chunks.

import * as fs from 'node:fs';
import { DataError } from '../data/errors';
import { tokenizeText } from '../data/detok';
import {
  jsonlRecord,
  readLabeled,
  readUtf8,
  sniffFormat,
  splitLines,
  textLineChunks,
  type LabeledCorpus,
  type LabeledFormat,
  type OffsetUnit,
  type ReadOptions,
} from '../data/readers';
import type { Range } from '../data/types';
import {
  alignPieces,
  openPredictor,
  PREDICT_WINDOW,
  sequenceAbove,
  type PiecedPrediction,
  type SentenceIssues,
} from '../cycle/predict';
import { DEFAULT_PRECISION, type Precision } from '../t5/precision';
import { writeFileAtomicAsync } from '../util/output';
import { nerEntities, shape } from './formats';
import { IssueTally } from './issues';

/** Output formats of a file (`jsonl` = `cyclener`; `seq`: raw entity sequences, one per line). */
export type PredictFileFormat = 'jsonl' | 'cyclener' | 'hf' | 'spacy' | 'conll' | 'seq';
export type InputFormat = 'auto' | 'text' | 'conll' | 'conll2012' | 'jsonl';

export interface PredictFileOptions {
  /** An S2E model directory, a run's best/, or a run (a Hub id: resolve it first, src/api/model-ref.ts). */
  model: string;
  /** Text (one sentence per line), CoNLL or JSONL (labels are ignored). */
  input: string;
  inputFormat?: InputFormat;
  /** How a labelled input is read (tag column, scheme, repair); `offsets` also sets the unit JSONL is written in. */
  read?: ReadOptions;
  /** Default 'jsonl'. */
  format?: PredictFileFormat;
  /** Entities scored below it are dropped (default: the model's recorded threshold, else 0). */
  threshold?: number;
  /** Decoding (default: as the model records it). */
  grounded?: boolean;
  maxNewTokens?: number;
  numBeams?: number;
  /** Sentences per generation batch (default 32). */
  batchSize?: number;
  precision?: Precision;
  /** Read, predict and render a text file a chunk at a time (default true; a labelled file is read whole). */
  stream?: boolean;
}

/** What a prediction wrote: sentences, entities (not counted for `seq`) and the issue count line. */
export interface PredictFileSummary {
  sentences: number;
  entities: number;
  /** "K sentences had output cut or entities dropped (...)" */
  issues: string;
}

/** An opened file prediction: its output a chunk at a time (one chunk unless `streamed`); `dispose` frees the model. */
export interface FilePrediction {
  streamed: boolean;
  chunks(): AsyncGenerator<string>;
  /** Counts of the chunks rendered so far. */
  summary(): PredictFileSummary;
  dispose(): void;
}

/** Sentences per chunk when a text file is streamed (enough to keep generation batches full). */
const STREAM_CHUNK = 1024;

interface InputSentences {
  sentences: { text: string; offsets: readonly Range[]; tokens?: readonly string[] }[];
  corpus?: LabeledCorpus;
}

/** Whether `file` can be streamed: text lines in a regular file. */
function streamable(file: string, format: InputFormat): boolean {
  let regular = false;
  try {
    regular = fs.statSync(file).isFile();
  } catch {
    return false; // readInput names the problem
  }
  if (!regular) return false;
  const sniffed = format === 'auto' ? sniffFormat(file) : format;
  return sniffed === 'text' || sniffed === 'q';
}

/** Text lines, or a labelled file (CoNLL/JSONL: its labels are ignored for prediction). */
export function readInput(file: string, format: InputFormat, read: ReadOptions = {}): InputSentences {
  const sniffed = format === 'auto' ? sniffFormat(file) : format;
  const fmt = sniffed === 'q' ? 'text' : sniffed; // a sentence may hold "<sep>": still one sentence per line
  if (fmt === 'text') {
    const lines = splitLines(readUtf8(file));
    lines.forEach((l, i) => {
      if (l.trim() === '') throw new DataError(file, i + 1, 'empty line (one sentence per line)');
    });
    return { sentences: lines.map((text) => ({ text, offsets: tokenizeText(text) })) };
  }
  const corpus = readLabeled(file, { ...read, format: fmt as LabeledFormat });
  return { sentences: corpus.sentences.map((s) => ({ text: s.text, offsets: s.offsets, tokens: s.tokens })), corpus };
}

/** Load the model and open `o.input` for prediction (see FilePrediction). */
export function openFilePrediction(o: PredictFileOptions): FilePrediction {
  const format = o.format ?? 'jsonl';
  const inputFormat = o.inputFormat ?? 'auto';
  const offsets: OffsetUnit = o.read?.offsets ?? 'utf16';
  // A line longer than the model's input is split as NerModel.predict splits it, never cut.
  const predictor = openPredictor(o.model, {
    ...(o.grounded !== undefined ? { grounded: o.grounded } : {}),
    ...(o.maxNewTokens !== undefined ? { maxNewTokens: o.maxNewTokens } : {}),
    ...(o.numBeams !== undefined ? { numBeams: o.numBeams } : {}),
    batch: o.batchSize ?? 32,
    precision: o.precision ?? DEFAULT_PRECISION,
    window: PREDICT_WINDOW,
  });
  const totals = { sentences: 0, entities: 0, issues: new IssueTally() };
  // One chunk of input sentences, predicted and rendered in the output format (`first`: the file's first chunk).
  const render = async (sentences: InputSentences['sentences'], first: boolean): Promise<string> => {
    const p = await predictor.predict(sentences.map((s) => s.text));
    const threshold = o.threshold ?? p.score.threshold;
    totals.sentences += sentences.length;
    if (format === 'seq') {
      totals.issues.add(p.issues);
      return p.seqs.map((s, i) => `${sequenceAbove(s, p.scores[i] as number[], threshold)}\n`).join('');
    }
    const al = sentences.map((s, i) => alignPieces(s, p.pieces[i] as PiecedPrediction, p.verbalizer, threshold));
    totals.entities += al.reduce((n, a) => n + a.entities.length, 0);
    totals.issues.add(
      p.issues,
      al.map((a) => a.unplaced.length),
    );
    const lines = al.map((a, i) => {
      const text = sentences[i]!.text;
      if (format === 'hf' || format === 'spacy')
        return JSON.stringify(shape(text, nerEntities(text, a.entities), format, offsets));
      if (format === 'jsonl' || format === 'cyclener') {
        const is = p.issues[i] as SentenceIssues;
        const dropped = [...is.dropped, ...a.unplaced.map((u) => ({ surface: u.surface, type: u.type, why: u.why }))];
        const extra = is.cut || dropped.length > 0 ? { issues: { cut: is.cut, dropped } } : {};
        return jsonlRecord({ text, entities: a.entities }, offsets, extra);
      }
      const s = sentences[i]!;
      const toks = s.tokens ?? s.offsets.map((x) => s.text.slice(x.start, x.end));
      return toks.map((t, k) => `${t} ${a.tags[k]}`).join('\n');
    });
    // CoNLL: sentences are blocks separated by a blank line; the others: one line each.
    return format === 'conll' ? `${first ? '' : '\n'}${lines.join('\n\n')}\n` : `${lines.join('\n')}\n`;
  };
  const streamed = o.stream !== false && streamable(o.input, inputFormat);
  const input = o.input;
  return {
    streamed,
    async *chunks() {
      if (!streamed) {
        yield await render(readInput(input, inputFormat, o.read).sentences, true);
        return;
      }
      for await (const c of textLineChunks(input, STREAM_CHUNK)) {
        const lines =
          c.first === 1 && c.lines[0]?.charCodeAt(0) === 0xfeff ? [c.lines[0].slice(1), ...c.lines.slice(1)] : c.lines;
        lines.forEach((l, i) => {
          if (l.trim() === '') throw new DataError(input, c.first + i, 'empty line (one sentence per line)');
        });
        yield await render(
          lines.map((text) => ({ text, offsets: tokenizeText(text) })),
          c.first === 1,
        );
      }
    },
    summary: () => ({ sentences: totals.sentences, entities: totals.entities, issues: totals.issues.summary() }),
    dispose: () => predictor.dispose(),
  };
}

/** `cyclener predict` as a function: tag `o.input` into `out`, written atomically (a temp file renamed at the end, so
 *  an error leaves no partial output); resolves with the counts. */
export async function predictFile(o: PredictFileOptions & { out: string }): Promise<PredictFileSummary> {
  const p = openFilePrediction(o);
  try {
    await writeFileAtomicAsync(o.out, p.chunks());
    return p.summary();
  } finally {
    p.dispose();
  }
}
