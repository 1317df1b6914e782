// Where a job's wall time goes (bench/jobs.ts --profile): two profilers over the same stretches.
// - Native: libtorch's op profiler (T.profileStart/Stop: RecordFunction, one `cy::<op>` range per engine call), whose
//   self times are sorted into categories by op name, its parent op and the engine call it ran in.
// - JavaScript: V8's sampling profiler (node:inspector) over the same stretch. Samples inside an engine call are
//   dropped (the native profile measures those exactly); the others are sorted by the innermost project file on the
//   stack and scaled to wall time minus the engine calls' total.
// Both profilers add overhead (~1 µs per libtorch op, sampling every 250 µs): the profiled wall time is printed next
// to the plain one, and the table gives shares.

import * as inspector from 'node:inspector';
import * as T from '../src/tensor';
import { N } from '../src/tensor/native';

const now = () => Number(process.hrtime.bigint()) / 1e9;

/** Category of a libtorch profiler row's self time. */
export function nativeCategory(r: T.ProfileRow): string {
  const { name, parent, call } = r;
  if (name.startsWith('cy::')) {
    // Engine calls whose own code is the computation (the fused kernels of kernels.inc and optim.cc) vs argument
    // handling and the tensor table (the rest).
    const op = name.slice(4);
    if (op === 'attention') return 'attention';
    if (op === 'rmsNorm') return 'norm';
    if (op === 'gelu') return 'elementwise';
    if (op === 'to') return 'casts';
    if (['argmax', 'logsumexp', 'logSoftmax', 'crossEntropy'].includes(op)) return 'softmax/loss';
    if (['adamw', 'adafactor', 'clipGradNorm'].includes(op)) return 'optimizer';
    if (op === 'backward') return 'autograd engine';
    return 'engine-call overhead';
  }
  if (['cy::adamw', 'cy::adafactor', 'cy::clipGradNorm'].includes(call)) return 'optimizer';
  if (/Backward|evaluate_function|^autograd::|AccumulateGrad/.test(name)) return 'autograd engine';
  if (/^aten::(mm|addmm|matmul|linear|mv|dot|addmv|_mkldnn)/.test(name)) return 'matmul';
  if (/^aten::(bmm|baddbmm)$/.test(name)) return 'attention';
  if (/^aten::(_to_copy|to|_autocast_to_reduced_precision|_autocast_to_full_precision)$/.test(name)) return 'casts';
  if (name === 'aten::copy_' && /^aten::(_to_copy|to)$/.test(parent)) return 'casts';
  if (/^aten::(_?softmax|_softmax_backward_data)$/.test(name)) return 'attention';
  if (/softmax|nll_loss|cross_entropy|logsumexp|argmax|topk|sort/.test(name)) return 'softmax/loss';
  if (/^aten::(empty|empty_strided|empty_like|resize_|zeros|zeros_like|new_empty|new_zeros)$/.test(name))
    return 'allocation';
  if (/^aten::(rand|uniform_|normal_|bernoulli|randn)/.test(name)) return 'dropout RNG';
  if (call === 'cy::rmsNorm') return 'norm';
  if (
    /^aten::(copy_|clone|contiguous|cat|index_select|index|index_add_|index_put_|embedding|embedding_backward|embedding_dense_backward|scatter|gather|narrow|slice|select|view|reshape|_reshape_alias|_unsafe_view|transpose|permute|expand|as_strided|unsqueeze|squeeze|t|flatten|stack|alias|detach|unbind|split|chunk|new_empty_strided|_embedding_bag|take)/.test(
      name,
    )
  )
    return 'copies/indexing/views';
  return 'elementwise';
}

/** Category of a V8 sample outside the engine, from the innermost project file on its stack. */
function jsCategory(urls: string[], leafName: string): string {
  if (leafName === '(garbage collector)') return 'JS: GC';
  if (leafName === '(idle)') return 'JS: idle (awaiting async work)';
  for (const u of urls) {
    if (!u) continue;
    if (/node_modules\/tokenizers|\/t5\/tokenizer\.js|\/t5\/normalize\.js/.test(u)) return 'tokenization';
    if (/\/cycle\/grounding\.js/.test(u)) return 'grounding constraint';
    if (/\/pretrain\/|\/data\/|\/supervised\//.test(u)) return 'data building';
    if (/\/t5\/generation\//.test(u)) return 'JS: decode loop';
    if (/\/src\/tensor\//.test(u)) return 'JS: tensor wrappers, tidy';
    if (/\/dist\/(src|bench)\//.test(u)) return 'JS: model, trainers, other';
  }
  return 'JS: other (node, runtime)';
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface JobProfile {
  wall: number;
  nativeUs: number;
  calls: number;
  libtorchOps: number;
  native: Map<string, number>; // category -> µs
  js: Map<string, number>; // category -> sampled µs (unscaled)
  topOps: Map<string, number>; // name -> self µs
}

export class JobProfiler {
  private session = new inspector.Session();
  private t0 = 0;
  private readonly engineNames = new Set(Object.keys(N));
  readonly jobs = new Map<string, JobProfile>();
  private active: string | null = null;

  constructor() {
    this.session.connect();
    this.session.post('Profiler.enable');
    this.session.post('Profiler.setSamplingInterval', { interval: 250 });
  }

  begin(job: string): void {
    if (this.active) throw new Error(`profile of ${this.active} still open`);
    this.active = job;
    this.session.post('Profiler.start');
    T.profileStart();
    this.t0 = now();
  }

  /** Stops both profilers; the V8 profile arrives asynchronously, so await the result before the next begin(). */
  end(): Promise<void> {
    const wall = now() - this.t0;
    const rows = T.profileStop();
    const job = this.active!;
    this.active = null;
    return new Promise((resolve, reject) => {
      this.session.post('Profiler.stop', (err, res) => {
        if (err) return reject(err);
        this.add(job, wall, rows, (res as { profile: CpuProfile }).profile);
        resolve();
      });
    });
  }

  /** The native rows of every profiled stretch, per job (bench/jobs.ts --profile-dump FILE writes them). */
  readonly raw = new Map<string, T.ProfileRow[]>();

  private add(job: string, wall: number, rows: T.ProfileRow[], prof: CpuProfile): void {
    this.raw.set(job, [...(this.raw.get(job) ?? []), ...rows]);
    let p = this.jobs.get(job);
    if (!p) {
      p = { wall: 0, nativeUs: 0, calls: 0, libtorchOps: 0, native: new Map(), js: new Map(), topOps: new Map() };
      this.jobs.set(job, p);
    }
    p.wall += wall;
    const bump = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
    for (const r of rows) {
      if (r.parent === '' && r.name.startsWith('cy::')) {
        p.nativeUs += r.totalUs;
        p.calls += r.count;
      }
      if (!r.name.startsWith('cy::')) p.libtorchOps += r.count;
      bump(p.native, nativeCategory(r), r.selfUs);
      bump(p.topOps, r.name, r.selfUs);
    }
    const parent = new Map<number, CpuProfileNode>();
    const byId = new Map<number, CpuProfileNode>();
    for (const n of prof.nodes) {
      byId.set(n.id, n);
      for (const c of n.children ?? []) parent.set(c, n);
    }
    const cat = new Map<number, string | null>(); // null: inside an engine call
    const categoryOf = (id: number): string | null => {
      const hit = cat.get(id);
      if (hit !== undefined) return hit;
      const leaf = byId.get(id)!;
      const up = parent.get(id);
      let c: string | null;
      if (
        leaf.callFrame.url === '' &&
        this.engineNames.has(leaf.callFrame.functionName) &&
        up !== undefined &&
        /\/src\/tensor\//.test(up.callFrame.url)
      )
        c = null;
      else {
        const urls: string[] = [];
        for (let n: CpuProfileNode | undefined = leaf; n; n = parent.get(n.id)) urls.push(n.callFrame.url);
        c = jsCategory(urls, leaf.callFrame.functionName);
      }
      cat.set(id, c);
      return c;
    };
    for (let i = 0; i < prof.samples.length; i++) {
      const c = categoryOf(prof.samples[i]!);
      if (c !== null) bump(p.js, c, prof.timeDeltas[i] ?? 0);
    }
  }

  /** Markdown table: one column per job, ms per unit and % of wall. */
  table(units: Map<string, number>): string {
    const jobs = [...this.jobs.keys()];
    const shares = jobs.map((j) => {
      const p = this.jobs.get(j)!;
      const n = units.get(j) ?? 1;
      const m = new Map<string, number>();
      for (const [k, v] of p.native) m.set(k, v / 1e6 / n);
      const jsWall = Math.max(0, p.wall - p.nativeUs / 1e6);
      const jsSampled = [...p.js.values()].reduce((a, b) => a + b, 0);
      for (const [k, v] of p.js) m.set(k, (jsSampled > 0 ? (v / jsSampled) * jsWall : 0) / n);
      return { m, wall: p.wall / n, p };
    });
    const cats = [
      'matmul',
      'attention',
      'casts',
      'elementwise',
      'norm',
      'dropout RNG',
      'copies/indexing/views',
      'softmax/loss',
      'optimizer',
      'allocation',
      'autograd engine',
      'engine-call overhead',
      'tokenization',
      'data building',
      'grounding constraint',
      'JS: decode loop',
      'JS: tensor wrappers, tidy',
      'JS: model, trainers, other',
      'JS: other (node, runtime)',
      'JS: GC',
      'JS: idle (awaiting async work)',
    ];
    for (const s of shares) for (const k of s.m.keys()) if (!cats.includes(k)) cats.push(k);
    const lines = [
      `| category | ${jobs.join(' | ')} |`,
      `|---|${jobs.map(() => '---').join('|')}|`,
      `| wall per unit (profiled) | ${shares.map((s) => `${(s.wall * 1000).toFixed(0)} ms`).join(' | ')} |`,
      `| engine calls / libtorch ops per unit | ${shares.map((s, i) => `${Math.round(s.p.calls / (units.get(jobs[i]!) ?? 1))} / ${Math.round(s.p.libtorchOps / (units.get(jobs[i]!) ?? 1))}`).join(' | ')} |`,
    ];
    for (const c of cats) {
      if (shares.every((s) => (s.m.get(c) ?? 0) === 0)) continue;
      lines.push(
        `| ${c} | ${shares
          .map((s) => {
            const v = s.m.get(c) ?? 0;
            return `${(v * 1000).toFixed(0)} ms (${((100 * v) / s.wall).toFixed(1)}%)`;
          })
          .join(' | ')} |`,
      );
    }
    return lines.join('\n');
  }

  /** The ops with the most self time of a job. */
  top(job: string, n: number, unitCount: number): string {
    const p = this.jobs.get(job)!;
    return [...p.topOps.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${k} ${(v / 1000 / unitCount).toFixed(1)} ms`)
      .join(', ');
  }
}
