// `cyclener predict`: S2E inference to JSONL with character offsets, CoNLL columns or raw entity sequences.

import * as fs from 'node:fs';
import { DataError } from '../../data/errors';
import { jsonlRecord, readUtf8, sniffFormat, splitLines, textLineChunks, type LabeledCorpus } from '../../data/readers';
import { tokenizeText } from '../../data/detok';
import type { Range } from '../../data/types';
import {
  alignPieces,
  openPredictor,
  PREDICT_WINDOW,
  sequenceAbove,
  type PiecedPrediction,
  type SentenceIssues,
} from '../../cycle/predict';
import { nerEntities, shape } from '../../api/formats';
import { modelDirArg } from '../model-arg';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';
import { registerCommand, type Io } from '../registry';
import type { FlagValue } from '../args';
import { offsetsOf, READER_FLAGS, readLabeledWithFlags } from '../common';
import { IssueTally, predictOptions, PREDICT_FLAGS } from '../predict-flags';
import { atomicWriteFile } from '../../util/fs';
import { claimOutputs, writeFileAtomicAsync } from '../../util/output';

/** Sentences per chunk when predict streams a text file (enough to keep generation batches full). */
const STREAM_CHUNK = 1024;

/** Whether predict can stream `file`: text lines in a regular file, in one process (--nproc shards the whole input). */
function streamable(file: string, format: string, world: number): boolean {
  let regular = false;
  try {
    regular = fs.statSync(file).isFile();
  } catch {
    return false; // readInput names the problem
  }
  if (!regular || world > 1) return false;
  const sniffed = format === 'auto' ? sniffFormat(file) : format;
  return sniffed === 'text' || sniffed === 'q';
}

export interface InputSentences {
  sentences: { text: string; offsets: readonly Range[]; tokens?: readonly string[] }[];
  corpus?: LabeledCorpus;
}

/** Text lines, or a labelled file (CoNLL/JSONL: its labels are ignored for prediction). */
export function readInput(file: string, format: string, f: Record<string, FlagValue>): InputSentences {
  const sniffed = format === 'auto' ? sniffFormat(file) : format;
  const fmt = sniffed === 'q' ? 'text' : sniffed; // a sentence may hold "<sep>": still one sentence per line
  if (fmt === 'text') {
    const lines = splitLines(readUtf8(file));
    lines.forEach((l, i) => {
      if (l.trim() === '') throw new DataError(file, i + 1, 'empty line (one sentence per line)');
    });
    return { sentences: lines.map((text) => ({ text, offsets: tokenizeText(text) })) };
  }
  const corpus = readLabeledWithFlags(file, f, fmt);
  return { sentences: corpus.sentences.map((s) => ({ text: s.text, offsets: s.offsets, tokens: s.tokens })), corpus };
}

registerCommand({
  name: 'predict',
  summary: 'tag sentences with an S2E model (text lines, CoNLL or JSONL in; JSONL with character offsets or CoNLL out)',
  flags: {
    model: { type: 'string', arg: 'DIR|HUB_ID', help: "S2E model directory, a run's best/, or a run", required: true },
    input: { type: 'string', arg: 'FILE', help: 'text (one sentence per line), CoNLL or JSONL', required: true },
    'input-format': {
      type: 'string',
      arg: 'F',
      help: 'input format',
      default: 'auto',
      choices: ['auto', 'text', 'conll', 'conll2012', 'jsonl'],
    },
    out: { type: 'string', arg: 'FILE', help: 'output file (its folder must exist)', required: true },
    force: { type: 'boolean', help: 'overwrite an existing --out' },
    format: {
      type: 'string',
      arg: 'F',
      help: 'output format: jsonl (= cyclener), hf, spacy, conll or seq (raw entity sequences, one per line)',
      default: 'jsonl',
      choices: ['jsonl', 'cyclener', 'hf', 'spacy', 'conll', 'seq'],
    },
    grounded: {
      type: 'boolean',
      help: '',
      deprecated:
        "does nothing: decoding follows the model's setting (grounded unless trained with --no-ground); --no-ground forces plain decoding",
    },
    ...PREDICT_FLAGS,
    ...NPROC_FLAG,
    ...READER_FLAGS,
    offsets: {
      ...READER_FLAGS.offsets,
      help: 'unit of JSONL start/end, read and written: utf16 (JavaScript string indices) or codepoints (Python str indices, spaCy)',
    },
  },
  details: [
    'JSONL out (--format jsonl or cyclener): {"text", "entities": [{"start", "end", "label", "score"}]} with end-exclusive offsets in',
    '--offsets units; a sentence whose generated sequence was cut or lost entities also gets "issues": {"cut": bool, "dropped":',
    '[{"surface", "type", "why"}]}. --format hf: one JSON array per line, [{"entity_group", "score", "word", "start", "end"}]',
    "(transformers' token-classification pipeline, aggregated); --format spacy: one displaCy manual doc per line,",
    '{"text", "ents": [{"start", "end", "label"}]}. A score is the decoder\'s probability of the entity (docs/api.md);',
    "--threshold drops the entities below it (default: the model's recorded threshold, else none).",
    "Entity surfaces are always the input's own text (the model may have seen it normalised: é as e, emoji as a space).",
    "Decoding (grounding, --max-new-tokens) defaults to the settings recorded in the model's cyclener.json: a `train` run's S2E",
    'is decoded as its dev F1 was measured.',
  ].join('\n'),
  async run(args, cliIo: Io): Promise<number> {
    const f = args.flags;
    const worker = await startWorker(f.nproc, cliIo);
    if (typeof worker === 'number') return worker;
    const io = worker.io;
    // Checked and locked before any work; released by the dispatcher. Rank 0 writes.
    if (worker.lead)
      claimOutputs({ '--out': f.out }, { force: f.force === true, inputs: { '--input': f.input, '--model': f.model } });
    const modelDir = (await modelDirArg(f.model, '--model', io)) as string;
    // A line longer than the model's input is split as NerModel.predict splits it, never cut.
    const predictor = openPredictor(modelDir, { ...predictOptions(f), window: PREDICT_WINDOW });
    const totals = { sentences: 0, entities: 0, issues: new IssueTally() };
    // One chunk of input sentences, predicted and rendered in the output format (`first`: the file's first chunk).
    const render = async (sentences: InputSentences['sentences'], first: boolean): Promise<string> => {
      const p = await predictor.predict(sentences.map((s) => s.text));
      const threshold = f.threshold ?? p.score.threshold;
      totals.sentences += sentences.length;
      if (f.format === 'seq') {
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
        if (f.format === 'hf' || f.format === 'spacy')
          return JSON.stringify(shape(text, nerEntities(text, a.entities), f.format, offsetsOf(f)));
        if (f.format === 'jsonl' || f.format === 'cyclener') {
          const is = p.issues[i] as SentenceIssues;
          const dropped = [...is.dropped, ...a.unplaced.map((u) => ({ surface: u.surface, type: u.type, why: u.why }))];
          const extra = is.cut || dropped.length > 0 ? { issues: { cut: is.cut, dropped } } : {};
          return jsonlRecord({ text, entities: a.entities }, offsetsOf(f), extra);
        }
        const s = sentences[i]!;
        const toks = s.tokens ?? s.offsets.map((o) => s.text.slice(o.start, o.end));
        return toks.map((t, k) => `${t} ${a.tags[k]}`).join('\n');
      });
      // CoNLL: sentences are blocks separated by a blank line; the others: one line each.
      return f.format === 'conll' ? `${first ? '' : '\n'}${lines.join('\n\n')}\n` : `${lines.join('\n')}\n`;
    };
    try {
      if (streamable(f.input, f['input-format'], worker.size)) {
        // Text lines from a regular file: read, predicted and written a chunk at a time, in flat memory; the output
        // is still atomic (a temp file renamed at the end), so an error on line 90,000 leaves no partial output.
        await writeFileAtomicAsync(
          f.out,
          (async function* () {
            for await (const c of textLineChunks(f.input, STREAM_CHUNK)) {
              const lines =
                c.first === 1 && c.lines[0]?.charCodeAt(0) === 0xfeff
                  ? [c.lines[0].slice(1), ...c.lines.slice(1)]
                  : c.lines;
              lines.forEach((l, i) => {
                if (l.trim() === '') throw new DataError(f.input, c.first + i, 'empty line (one sentence per line)');
              });
              yield await render(
                lines.map((text) => ({ text, offsets: tokenizeText(text) })),
                c.first === 1,
              );
            }
          })(),
        );
      } else {
        const input = readInput(f.input, f['input-format'], f);
        const out = await render(input.sentences, true);
        // Every worker holds all outputs now; rank 0 writes them.
        await finishWorker();
        if (!worker.lead) return 0;
        atomicWriteFile(f.out, out);
      }
    } finally {
      predictor.dispose();
    }
    const what = f.format === 'seq' ? '' : `, ${totals.entities} entities`;
    io.err(`${totals.sentences} sentences${what} written to ${f.out}; ${totals.issues.summary()}`);
    return 0;
  },
});
