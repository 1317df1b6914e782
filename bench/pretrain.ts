// Pretraining throughput (tokens/s = source + target tokens per second of training, data building included) per
// model size, thread count and precision, on this CPU, with the share of padded source/target positions. Nothing is
// exported; the corpus is an argument. --grouping off,on runs both (A/B in one process); 'P:C' = maxPadFraction P,
// groupCost C.
//   node dist/bench/pretrain.js --corpus ../shared/corpora/news.txt.xz --tokenizer models/base-news-11m \
//     [--models tiny,models/base-news-11m] [--threads 1,2] [--precision fp32,bf16] [--steps 20] [--batch 32] \
//     [--mixture span=1] [--grouping on]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../src/tensor';
import { pretrain, PRETRAIN_DEFAULTS } from '../src/pretrain';
import type { GroupOptions } from '../src/t5/train';

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1]) return process.argv[i + 1]!;
  if (dflt === undefined) throw new Error(`missing --${name}`);
  return dflt;
}

function grouping(spec: string): GroupOptions | null | undefined {
  if (spec === 'off') return null;
  if (spec === 'on') return undefined; // pretrain's defaults
  const [p, c] = spec.split(':').map(Number);
  if (!Number.isFinite(p) || (c !== undefined && !Number.isFinite(c)))
    throw new Error(`--grouping: expected off, on or P:C, got ${spec}`);
  return c === undefined ? { maxPadFraction: p } : { maxPadFraction: p, groupCost: c };
}

async function main(): Promise<void> {
  const corpus = arg('corpus');
  const tokenizer = arg('tokenizer');
  const steps = Number(arg('steps', '20'));
  const batch = Number(arg('batch', '32'));
  const mixture = arg('mixture', PRETRAIN_DEFAULTS.mixture);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cyclener-bench-pretrain-'));
  try {
    for (const model of arg('models', 'tiny,models/base-news-11m').split(',')) {
      for (const threads of arg('threads', '1,2').split(',').map(Number)) {
        for (const precision of arg('precision', 'fp32,bf16').split(','))
          for (const group of arg('grouping', 'on').split(',')) {
            T.setNumThreads(threads);
            const warm = 3; // first steps pay for allocator warm-up and the first corpus chunk
            const cpu0 = process.cpuUsage();
            const r = await pretrain({
              ...PRETRAIN_DEFAULTS,
              corpus: [corpus],
              out: path.join(out, `${path.basename(model)}-${threads}-${precision}-${group}`),
              model,
              tokenizerDir: tokenizer,
              mixture,
              lengthGrouping: grouping(group),
              steps: warm + steps,
              warmup: 10,
              batch,
              bf16: precision === 'bf16',
              evalEvery: 1e9,
              logEvery: 1e9,
              valDocs: 1,
              valBatches: 1,
              valBatchSize: 4,
              checkpointMinutes: 1e9,
              saveDtype: 'float32',
              noExport: true,
              log: () => {},
              stopAfter: warm + steps,
            });
            // tokens/s covers the whole sitting (warm-up steps included): slightly pessimistic. CPU seconds (all threads
            // of the process, setup included) are steadier than wall time when other jobs share the cores.
            const cpu = process.cpuUsage(cpu0);
            const cpuS = (cpu.user + cpu.system) / 1e6;
            console.log(
              JSON.stringify({
                model,
                params: r.params,
                threads,
                precision,
                batch,
                mixture,
                grouping: group,
                steps: r.losses.length,
                seconds: +r.seconds.toFixed(1),
                tokens: r.tokens,
                tokens_per_s: Math.round(r.tokensPerSecond),
                cpu_s: +cpuS.toFixed(1),
                tokens_per_cpu_s: Math.round(r.tokens / cpuS),
                pad_source: +r.padding.source.toFixed(3),
                pad_target: +r.padding.target.toFixed(3),
                last_loss: +r.losses.at(-1)!.toFixed(3),
              }),
            );
          }
      }
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
