// `cyclener predict`: the flags of the library's `openFilePrediction` (src/api/predict.ts); the output written by rank 0,
// atomically, a chunk at a time when the input is streamed.

import { openFilePrediction, type InputFormat, type PredictFileFormat } from '../../api/predict';
import { modelDirArg } from '../model-arg';
import { finishWorker, NPROC_FLAG, startWorker } from '../launch';
import { registerCommand, type Io } from '../registry';
import { READER_FLAGS, readOptionsOf } from '../common';
import { predictOptions, PREDICT_FLAGS } from '../predict-flags';
import { atomicWriteFile } from '../../util/fs';
import { claimOutputs, writeFileAtomicAsync } from '../../util/output';

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
    const d = predictOptions(f);
    const p = openFilePrediction({
      model: modelDir,
      input: f.input,
      inputFormat: f['input-format'] as InputFormat,
      read: readOptionsOf(f),
      format: f.format as PredictFileFormat,
      ...(f.threshold !== undefined ? { threshold: f.threshold } : {}),
      ...(d.grounded !== undefined ? { grounded: d.grounded } : {}),
      ...(d.maxNewTokens !== undefined ? { maxNewTokens: d.maxNewTokens } : {}),
      ...(d.numBeams !== undefined ? { numBeams: d.numBeams } : {}),
      batchSize: d.batch,
      precision: d.precision,
      // --nproc shards the whole input: each rank decodes its share of it.
      stream: worker.size === 1,
    });
    try {
      if (p.streamed) await writeFileAtomicAsync(f.out, p.chunks());
      else {
        let out = '';
        for await (const c of p.chunks()) out += c;
        // Every worker holds all outputs now; rank 0 writes them.
        await finishWorker();
        if (!worker.lead) return 0;
        atomicWriteFile(f.out, out);
      }
    } finally {
      p.dispose();
    }
    const t = p.summary();
    const what = f.format === 'seq' ? '' : `, ${t.entities} entities`;
    io.err(`${t.sentences} sentences${what} written to ${f.out}; ${t.issues}`);
    return 0;
  },
});
