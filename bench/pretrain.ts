// Pretraining throughput (tokens/s = source + target tokens per second of training, data building included) per
// model size, thread count and precision, on this CPU. Nothing is exported; the corpus is an argument.
//   node dist/bench/pretrain.js --corpus ../shared/corpora/news.txt.xz --tokenizer models/base-news-11m \
//     [--models tiny,models/base-news-11m] [--threads 1,2] [--precision fp32,bf16] [--steps 20] [--batch 32]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../src/tensor';
import { pretrain, PRETRAIN_DEFAULTS } from '../src/pretrain';

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1]) return process.argv[i + 1]!;
  if (dflt === undefined) throw new Error(`missing --${name}`);
  return dflt;
}

async function main(): Promise<void> {
  const corpus = arg('corpus');
  const tokenizer = arg('tokenizer');
  const steps = Number(arg('steps', '20'));
  const batch = Number(arg('batch', '32'));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclener-bench-pretrain-'));
  try {
    for (const model of arg('models', 'tiny,models/base-news-11m').split(',')) {
      for (const threads of arg('threads', '1,2').split(',').map(Number)) {
        for (const precision of arg('precision', 'fp32,bf16').split(',')) {
          T.setNumThreads(threads);
          const warm = 3; // first steps pay for allocator warm-up and the first corpus chunk
          const r = await pretrain({
            ...PRETRAIN_DEFAULTS, corpus: [corpus], out: path.join(out, `${path.basename(model)}-${threads}-${precision}`), model, tokenizerDir: tokenizer,
            steps: warm + steps, warmup: 10, batch, bf16: precision === 'bf16', evalEvery: 1e9, logEvery: 1e9, valDocs: 1, valBatches: 1, valBatchSize: 4,
            checkpointMinutes: 1e9, saveDtype: 'float32', noExport: true, log: () => {},
            stopAfter: warm + steps,
          });
          // tokens/s covers the whole sitting (warm-up steps included): slightly pessimistic.
          console.log(JSON.stringify({ model, params: r.params, threads, precision, batch, steps: r.losses.length, seconds: +r.seconds.toFixed(1), tokens: r.tokens, tokens_per_s: Math.round(r.tokensPerSecond), last_loss: +r.losses.at(-1)!.toFixed(3) }));
        }
      }
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
