// Benchmark (not a test): S2E inference in cyclener against ONNX Runtime, the runtime JavaScript users run models on
// (onnxruntime-node; transformers.js runs on it too). One model, exported with `cyclener export --onnx`
// (src/api/export.ts), the same sentences (500 CoNLL-2003 dev sentences), the same batches (64, sentences of similar
// length together, as predict batches them), the same thread count:
//   ours plain       predictSequences(..., { grounded: false }): cyclener's plain greedy decoding (--no-ground), at the
//                    library's precision (bf16 autocast by default) and in fp32
//   ours grounded    the default predict: outputs restricted to spans of the sentence and known types
//   ONNX Runtime     bench/ort.ts: plain greedy over the fp32 export, the encoder once, decoder_with_past_model.onnx
//                    for every step after the first; every row decoded until all have emitted EOS (as transformers
//                    does), and again with finished rows dropped from the batch (as ours does)
//   transformers.js  (when @huggingface/transformers can be loaded, --transformers-js DIR) its text2text-generation
//                    pipeline's tokenizer, model.generate and batch_decode on the same export (decoder_model_merged.onnx)
// Every system decodes the same token ids (our tokenizer's; transformers.js its own) and turns the outputs into text;
// ours also cleans and maps them back (finishSequence). Outputs are compared token for token with ONNX Runtime's.
// The systems alternate run by run (--runs, default 3), so load from other processes hits all alike; figures are
// medians.
// Usage: npm run bench:infer -- [--quick] [--threads N] [--model DIR] [--conll DIR] [--sents 500] [--batch 64]
//        [--max-new-tokens N] [--runs R] [--onnx DIR] [--transformers-js DIR]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../src/tensor';
import * as G from '../src/t5/generation';
import { readLabeled } from '../src/data/readers';
import { defaultVerbalizer, Verbalizer } from '../src/data/verbalizer';
import { buildSyntheticWorld, SYN_TYPES } from '../src/demo/synthetic';
import { DEFAULT_CONFIG } from '../src/cycle/config';
import { DEFAULT_S2E_PREFIX, loadModelDir, resolveS2EDir } from '../src/cycle/model-io';
import { predictSequences } from '../src/cycle/predict';
import { Direction, inLengthBatches, lengthBatches } from '../src/cycle/seq2seq';
import { DEFAULT_PRECISION, type Precision } from '../src/t5/precision';
import { exportOnnx } from '../src/api/export';
import { reexecWithCliAllocator } from './allocator';
import { loadOrtT5, ortGreedy } from './ort';

// ---------------------------------------------------------------- options

const ROOT = path.resolve(__dirname, '..', '..'); // dist/bench -> repository root
const argv = process.argv.slice(2);
function flag(name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
}
const pathFlag = (name: string, dflt: string) =>
  argv.includes(`--${name}`) ? path.resolve(flag(name, dflt)) : path.resolve(ROOT, dflt);
function intFlag(name: string, dflt: number): number {
  const v = Number(flag(name, String(dflt)));
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`--${name}: a positive integer, not ${flag(name, '')}`);
  return v;
}
const quick = argv.includes('--quick');
const threads = intFlag('threads', T.getNumThreads());
const modelArg = pathFlag('model', 'models/base-news-11m');
const conllDir = pathFlag('conll', '../shared/data/conll2003');
const nSents = intFlag('sents', 500);
const batch = intFlag('batch', 64);
const runs = intFlag('runs', quick ? 1 : 3);
const onnxArg = argv.includes('--onnx') ? path.resolve(flag('onnx', '')) : null;
const tjsArg = argv.includes('--transformers-js') ? path.resolve(flag('transformers-js', '')) : ROOT;

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const now = () => Number(process.hrtime.bigint()) / 1e9;
const notes: string[] = [];
const note = (s: string) => {
  notes.push(s);
  console.log(`  ${s}`);
};

// ---------------------------------------------------------------- our side: the generate() calls of a predict

/** Every generate() call's input rows and output sequences, in call order (predict batches by length). */
let calls: { input: number[][]; sequences: number[][] }[] = [];
function captureGenerate(): void {
  // predict generates through generateMany (its batches decoded as one stream of rows): one call per batch here.
  const many = G.generateMany;
  (G as unknown as { generateMany: typeof G.generateMany }).generateMany = (model, inputs, opts) => {
    const outs = many(model, inputs, opts);
    outs.forEach((out, i) => calls.push({ input: unpad(inputs[i]!.input), sequences: out.sequences }));
    return outs;
  };
}

/** A padded batch's token lists. */
function unpad(b: G.GenerateInput): number[][] {
  return Array.from({ length: b.batch }, (_, r) => {
    const ids: number[] = [];
    for (let j = 0; j < b.length; j++) if (b.mask[r * b.length + j]) ids.push(b.ids[r * b.length + j]!);
    return ids;
  });
}

/** The order in which inLengthBatches (hence predict) visits `texts`: its batches (lengthBatches) one after another. */
function lengthOrder(texts: readonly string[], batch: number): number[] {
  return lengthBatches(texts, batch).flat();
}

/** Per text, the ids our generate() calls produced (checked against the encoded sources of the same texts). */
async function oursIds(dir: Direction, texts: readonly string[], batch: number): Promise<number[][]> {
  const order = lengthOrder(texts, batch);
  const out = new Array<number[]>(texts.length);
  let k = 0;
  for (const c of calls) {
    const idx = order.slice(k, k + c.input.length);
    const src = await dir.encodeSources(idx.map((i) => texts[i]!));
    if (JSON.stringify(src) !== JSON.stringify(c.input))
      throw new Error('bench:infer: predict batched the sentences differently from inLengthBatches (changed?)');
    idx.forEach((i, j) => (out[i] = c.sequences[j]!));
    k += c.input.length;
  }
  if (k !== texts.length) throw new Error(`bench:infer: predict generated ${k} sequences for ${texts.length} texts`);
  return out;
}

// ---------------------------------------------------------------- transformers.js (optional)

interface TjsTensor {
  tolist(): (bigint | number)[][];
}
interface TjsPipeline {
  (texts: string[], opts: Record<string, unknown>): Promise<{ generated_text: string }[]>;
  tokenizer: {
    (texts: string[], opts: Record<string, unknown>): Record<string, unknown>;
    batch_decode(ids: number[][], opts: Record<string, unknown>): string[];
  };
  model: { generate(inputs: Record<string, unknown>): Promise<TjsTensor> };
  dispose(): Promise<void>;
}
interface TjsModule {
  env: { version?: string; allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string };
  pipeline(task: string, model: string, opts: Record<string, unknown>): Promise<TjsPipeline>;
}

function loadTransformersJs(): TjsModule | string {
  let file: string;
  try {
    file = require.resolve('@huggingface/transformers', { paths: [tjsArg] });
  } catch {
    return `@huggingface/transformers not found from ${tjsArg} (not a dependency of cyclener: ~475 MB with its own onnxruntime-node and sharp; install it in a scratch folder with ONNXRUNTIME_NODE_INSTALL=skip npm install @huggingface/transformers, then pass --transformers-js THAT_FOLDER)`;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as TjsModule;
}

// ---------------------------------------------------------------- main

interface System {
  name: string;
  /** Timed in the first run only (slow). */
  once?: boolean;
  /** One pass over the texts: per text its generated ids (null: not comparable token for token), and the decoder's
   *  row-steps (rows fed per step, summed), when known. */
  run(): Promise<{ ids: number[][] | null; texts?: string[]; rowSteps?: number }>;
  times: number[];
  ids?: number[][] | null;
  texts?: string[];
  rowSteps?: number;
}

async function main(): Promise<void> {
  if (reexecWithCliAllocator()) return;
  T.setNumThreads(threads);
  T.onThreadChange((n, wanted) =>
    note(`thread governor: ours now runs ${n} of ${wanted} threads (other processes busy)`),
  );
  captureGenerate();
  const tStart = now();
  const modelDir = resolveS2EDir(modelArg);
  console.log(
    `S2E inference on ${path.relative(ROOT, modelDir) || modelDir}: ${threads} thread(s) (ONNX Runtime: intra-op ${threads}, inter-op 1), ${T.allocator()} malloc, batch ${batch}, ${runs} run(s); load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );

  // The sentences: CoNLL-2003 dev, else the synthetic world's (shorter).
  const dv = path.join(conllDir, 'dev.txt');
  let texts: string[];
  let v: Verbalizer;
  if (fs.existsSync(dv)) {
    texts = readLabeled(dv)
      .sentences.slice(0, nSents)
      .map((s) => s.text);
    v = defaultVerbalizer('conll2003');
    console.log(`data: the first ${texts.length} sentences of ${dv}`);
  } else {
    texts = buildSyntheticWorld({ nS: 10, nQ: 10, nEval: nSents, seed: 8 })
      .evalSet.sentences.slice(0, nSents)
      .map((s) => s.text);
    v = new Verbalizer(SYN_TYPES);
    console.log(`data: ${texts.length} synthetic sentences (no ${dv}; pass --conll DIR)`);
  }

  const tLoad = now();
  const m = loadModelDir(modelDir);
  const loadOurs = now() - tLoad;
  const types = m.meta?.types?.length ? m.meta.types : v.words().sort();
  const prefix = m.meta?.prefix ?? DEFAULT_S2E_PREFIX;
  const maxNewTokens = intFlag(
    'max-new-tokens',
    m.meta?.decode?.maxNewTokens ?? DEFAULT_CONFIG.evalDecode.maxNewTokens,
  );
  const limits = { maxSourceTokens: 512, maxTargetTokens: 512 };
  const dirOf = (p: Precision) => new Direction(m.model, m.tokenizer, prefix, limits, p);
  const decode = { maxNewTokens };

  // The export (or a given one).
  let onnxDir = onnxArg;
  let tmp: string | null = null;
  if (!onnxDir) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclener-bench-infer-'));
    onnxDir = path.join(tmp, 'model');
    const t0 = now();
    const r = await exportOnnx({ model: modelDir, out: onnxDir });
    note(
      `export: cyclener export --onnx in ${(now() - t0).toFixed(1)} s (PyTorch ${r.torch}, onnx ${r.onnx}, opset ${r.opset})`,
    );
  }
  const t1 = now();
  const ort = await loadOrtT5(onnxDir, { threads });
  const loadOrt = now() - t1;
  note(
    `load: ours ${(loadOurs * 1000).toFixed(0)} ms (NerModel's loadModelDir), ONNX Runtime sessions ${(loadOrt * 1000).toFixed(0)} ms`,
  );

  const systems: System[] = [];
  const ours = (name: string, p: Precision, grounded: boolean): System => {
    const dir = dirOf(p);
    return {
      name,
      times: [],
      async run() {
        calls = [];
        await predictSequences(dir, texts, { grounded, types, batchSize: batch, decode });
        const ids = await oursIds(dir, texts, batch);
        // The fast decoder drops finished rows: each row is fed once per token it generated.
        return { ids, rowSteps: ids.reduce((a, x) => a + x.length, 0) };
      },
    };
  };
  const dflt = DEFAULT_PRECISION;
  systems.push(ours(`ours plain (--no-ground), ${dflt}`, dflt, false));
  if (dflt !== 'fp32') systems.push(ours('ours plain (--no-ground), fp32', 'fp32', false));
  systems.push(ours(`ours grounded (default), ${dflt}`, dflt, true));
  const fp32Dir = dirOf('fp32');
  const ortSystem = (name: string, dropFinished: boolean): System => ({
    name,
    times: [],
    async run() {
      let rowSteps = 0;
      const ids = await inLengthBatches(texts, batch, async (b) => {
        const src = await fp32Dir.encodeSources(b);
        const r = await ortGreedy(ort, src, maxNewTokens, { dropFinished });
        rowSteps += r.rowSteps;
        await m.tokenizer.decodeBatch(r.sequences); // text out, as the others
        return r.sequences;
      });
      return { ids, rowSteps };
    },
  });
  // The anchor: greedy as transformers and transformers.js run it. Then the same runtime doing our decoder's work:
  // finished rows dropped from the batch (their keys/values copied out), as ours does.
  systems.push(ortSystem('ONNX Runtime, fp32', false));
  systems.push(ortSystem('ONNX Runtime, fp32, drops finished', true));
  const tjs = loadTransformersJs();
  let tjsPipe: TjsPipeline | null = null;
  let tjsNote = () => {};
  if (typeof tjs === 'string') note(`transformers.js: skipped, ${tjs}`);
  else {
    tjs.env.allowRemoteModels = false;
    tjs.env.allowLocalModels = true;
    tjs.env.localModelPath = path.dirname(onnxDir) + path.sep;
    const t2 = now();
    const pipe = await tjs.pipeline('text2text-generation', path.basename(onnxDir), {
      dtype: 'fp32',
      device: 'cpu',
      session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
    });
    tjsPipe = pipe;
    note(`transformers.js ${tjs.env.version ?? '?'}: pipeline loaded in ${((now() - t2) * 1000).toFixed(0)} ms`);
    const eos = Number(JSON.parse(fs.readFileSync(path.join(onnxDir, 'config.json'), 'utf8')).eos_token_id ?? 1);
    // The pipeline's steps: its tokenizer, model.generate, batch_decode. Its generate() keeps decoding a row after its
    // EOS while other rows run (it never pads finished rows), so each row is cut at its first EOS here.
    const cut = (rows: (bigint | number)[][]) =>
      rows.map((r) => {
        const ids = r.slice(1).map(Number); // without the decoder start
        const e = ids.indexOf(eos);
        return e < 0 ? ids : ids.slice(0, e + 1);
      });
    // (1) The pipeline as its documentation shows it, one text per call: correct outputs, no batching.
    systems.push({
      name: 'transformers.js pipeline, 1 text/call',
      once: true,
      times: [],
      async run() {
        const out: string[] = [];
        for (const t of texts) {
          const [r] = await pipe([prefix + t], { max_new_tokens: maxNewTokens, do_sample: false, num_beams: 1 });
          out.push(r!.generated_text);
        }
        return { ids: null, texts: out };
      },
    });
    // (2) The pipeline's steps on our batches: its tokenizer, model.generate, batch_decode. transformers.js 4.x keeps
    // decoding a row after its EOS (it never pads finished rows, and stops only when every row's last token is EOS at
    // once), so the pipeline on an array of texts returns text past the EOS: counted here, and each row cut at its EOS.
    let runOn = 0;
    systems.push({
      name: `transformers.js generate, batch ${batch}`,
      once: true,
      times: [],
      async run() {
        let rowSteps = 0;
        runOn = 0;
        const ids = await inLengthBatches(texts, batch, async (b) => {
          const enc = pipe.tokenizer(
            b.map((t) => prefix + t),
            { padding: true },
          );
          const out = (
            await pipe.model.generate({ ...enc, max_new_tokens: maxNewTokens, do_sample: false, num_beams: 1 })
          ).tolist();
          rowSteps += b.length * (out[0]!.length - 1);
          const seqs = cut(out);
          const asPipeline = pipe.tokenizer.batch_decode(
            out.map((r) => r.slice(1).map(Number)),
            { skip_special_tokens: true },
          );
          const fixed = pipe.tokenizer.batch_decode(seqs, { skip_special_tokens: true });
          runOn += fixed.filter((t, i) => t !== asPipeline[i]).length;
          return seqs;
        });
        return { ids, rowSteps };
      },
    });
    tjsNote = () =>
      note(
        `transformers.js: on arrays of ${batch} texts its pipeline would return ${runOn} of ${texts.length} texts running on past their EOS (its generate() does not stop finished rows; the batch row cuts each at its EOS); the transformers.js rows ran once`,
      );
  }

  try {
    for (let r = 0; r < runs; r++) {
      for (const s of systems) {
        if (s.once && r > 0) continue;
        const t0 = now();
        const res = await s.run();
        s.times.push(now() - t0);
        if (r === 0) {
          s.ids = res.ids;
          s.texts = res.texts;
          s.rowSteps = res.rowSteps;
        }
        console.log(`  run ${r + 1}/${runs} ${s.name}: ${(texts.length / (now() - t0)).toFixed(1)} sent/s`);
      }
    }
  } finally {
    await ort.release();
    await tjsPipe?.dispose();
    m.model.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- table
  const ref = systems.find((s) => s.name === 'ONNX Runtime, fp32')!;
  const rate = (s: System) => texts.length / median(s.times);
  tjsNote();
  // Outputs known only as text (the pipeline) are compared with ONNX Runtime's ids decoded by the same tokenizer.
  const refTexts = tjsPipe && ref.ids ? tjsPipe.tokenizer.batch_decode(ref.ids, { skip_special_tokens: true }) : null;
  const same = (s: System) =>
    s.ids && ref.ids
      ? s.ids.filter((x, i) => JSON.stringify(x) === JSON.stringify(ref.ids![i])).length
      : s.texts && refTexts
        ? s.texts.filter((t, i) => t === refTexts[i]).length
        : NaN;
  const tokens = (s: System) => (s.ids ? s.ids.reduce((a, x) => a + x.length, 0) : NaN);
  const refDrop = systems.find((s) => s.name === 'ONNX Runtime, fp32, drops finished')!;
  const head = ['system', 'sent/s', 'vs ORT', 'vs ORT-drop', 'identical to ORT', 'tokens out', 'decoder row-steps'];
  const w = [38, 8, 7, 12, 17, 11, 18];
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join(' ');
  console.log('\n' + line(head));
  for (const s of systems)
    console.log(
      line([
        s.name,
        rate(s).toFixed(1),
        `${(rate(s) / rate(ref)).toFixed(2)}x`,
        `${(rate(s) / rate(refDrop)).toFixed(2)}x`,
        Number.isNaN(same(s)) ? '-' : `${same(s)}/${texts.length}`,
        Number.isNaN(tokens(s)) ? '-' : String(tokens(s)),
        s.rowSteps !== undefined ? String(s.rowSteps) : '-',
      ]),
    );
  console.log(
    [
      '',
      `${texts.length} sentences, batches of ${batch} by length, greedy, at most ${maxNewTokens} new tokens; sent/s: median of ${runs} run(s), systems interleaved.`,
      "vs ORT = sent/s / ONNX Runtime's (>= 1: faster); vs ORT-drop = the same against ONNX Runtime dropping finished rows; identical = generated token ids equal to ONNX Runtime's, sentence by sentence.",
      "decoder row-steps: rows fed to the decoder, summed over steps (ours drops finished rows; ONNX Runtime's anchor and transformers.js decode every row until the batch's last EOS).",
      '',
      'notes:',
      ...notes.map((n) => `  ${n}`),
      `total ${(now() - tStart).toFixed(0)} s`,
    ].join('\n'),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
