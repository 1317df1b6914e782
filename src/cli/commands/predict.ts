// `cyclener predict`: S2E inference to JSONL with character offsets, CoNLL columns or raw entity sequences.

import { DataError } from '../../data/errors';
import { jsonlRecord, readUtf8, sniffFormat, splitLines, type LabeledCorpus } from '../../data/readers';
import { tokenizeText } from '../../data/detok';
import type { Range } from '../../data/types';
import {
  alignPieces,
  predictWithModelDir,
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
import { offsetsOf, READER_FLAGS, readLabeledWithFlags, writeLines } from '../common';
import { issueSummary, predictOptions, PREDICT_FLAGS } from '../predict-flags';
import { atomicWriteFile } from '../../util/fs';
import { claimOutputs } from '../../util/output';

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
    const input = readInput(f.input, f['input-format'], f);
    const p = await predictWithModelDir(
      (await modelDirArg(f.model, '--model', io)) as string,
      input.sentences.map((s) => s.text),
      // A line longer than the model's input is split as NerModel.predict splits it, never cut.
      { ...predictOptions(f), window: PREDICT_WINDOW },
    );
    // Every worker holds all outputs now; rank 0 writes them.
    await finishWorker();
    if (!worker.lead) return 0;
    const out = f.out;
    const threshold = f.threshold ?? p.score.threshold;
    if (f.format === 'seq') {
      writeLines(
        out,
        p.seqs.map((s, i) => sequenceAbove(s, p.scores[i] as number[], threshold)),
      );
      io.err(`${input.sentences.length} sentences written to ${out}; ${issueSummary(p.issues)}`);
      return 0;
    }
    const al = input.sentences.map((s, i) => alignPieces(s, p.pieces[i] as PiecedPrediction, p.verbalizer, threshold));
    if (f.format === 'hf' || f.format === 'spacy') {
      const fmt = f.format;
      writeLines(
        out,
        al.map((a, i) => {
          const text = input.sentences[i]!.text;
          return JSON.stringify(shape(text, nerEntities(text, a.entities), fmt, offsetsOf(f)));
        }),
      );
    } else if (f.format === 'jsonl' || f.format === 'cyclener') {
      writeLines(
        out,
        al.map((a, i) => {
          const is = p.issues[i] as SentenceIssues;
          const dropped = [...is.dropped, ...a.unplaced.map((u) => ({ surface: u.surface, type: u.type, why: u.why }))];
          const extra = is.cut || dropped.length > 0 ? { issues: { cut: is.cut, dropped } } : {};
          return jsonlRecord({ text: input.sentences[i]!.text, entities: a.entities }, offsetsOf(f), extra);
        }),
      );
    } else {
      const blocks = al.map((a, i) => {
        const s = input.sentences[i]!;
        const toks = s.tokens ?? s.offsets.map((o) => s.text.slice(o.start, o.end));
        return toks.map((t, k) => `${t} ${a.tags[k]}`).join('\n');
      });
      atomicWriteFile(out, blocks.join('\n\n') + '\n');
    }
    const entities = al.reduce((n, a) => n + a.entities.length, 0);
    io.err(
      `${input.sentences.length} sentences, ${entities} entities written to ${out}; ${issueSummary(
        p.issues,
        al.map((a) => a.unplaced.length),
      )}`,
    );
    return 0;
  },
});
