// Benchmark (not a test): t5-small-sized train step and generation throughput, fp32 and bf16,
// against the same model written in plain PyTorch (Debian python3-torch, no transformers),
// run in the same invocation with the same thread count. The two sides are interleaved run by run
// (PyTorch is a child process answering one timed run per request), so load from other processes hits both
// alike; each number is the median of the runs. Ratio = PyTorch time / our time (>= 1: we are faster).
// Usage: npm run bench:t5 [-- --quick]

import { spawn } from 'node:child_process';
import * as readline from 'node:readline';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as T from '../src/tensor';
import { presetConfig } from '../src/t5/config';
import { T5ForConditionalGeneration } from '../src/t5/model';
import { generate, GenerateInput } from '../src/t5/generation';
import { Seq2SeqTensors, seq2seqLoss } from '../src/t5/train';

const quick = process.argv.includes('--quick');
const B = 16;
const S = 32;
const TGT = 24;
const NEW = 24;
const BEAMS = 4;
const WARM = quick ? 1 : 2;
const ITERS = quick ? 2 : 5;
const threads = T.getNumThreads();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function seconds(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

// Random ids from a fixed LCG so both sides see the same shapes (values do not matter for speed).
function ids(n: number, seed: number): Int32Array {
  let s = seed;
  return Int32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 2 + (s % 32000);
  });
}

/** Our side: one closure per measurement, each one run = one train step or one batch generation. */
function ourJobs(model: T5ForConditionalGeneration): Record<string, () => void> {
  const opt = new T.AdamW(model.parameters(), { lr: 1e-4 });
  const batch = (): Seq2SeqTensors => ({
    inputIds: T.tensor(ids(B * S, 1), [B, S], 'int64'),
    attentionMask: T.ones([B, S], { dtype: 'int64' }),
    labels: T.tensor(ids(B * TGT, 2), [B, TGT], 'int64'),
  });
  const trainStep = (ac: 'bfloat16' | null) => () => {
    model.train();
    T.tidy(() => {
      seq2seqLoss(model, batch(), ac).backward();
    });
    opt.step();
    opt.zeroGrad();
  };
  const input: GenerateInput = { ids: ids(B * S, 3), mask: new Int32Array(B * S).fill(1), batch: B, length: S };
  // eos -1: never finishes, so every run decodes exactly NEW steps (as the Python side).
  const greedy = () => void generate(model, input, { maxNewTokens: NEW, eosTokenId: -1 });
  const beam = () => void generate(model, input, { maxNewTokens: NEW, eosTokenId: -1, numBeams: BEAMS });
  const bf16 = (f: () => void) => () => T.autocast(f, 'bfloat16');
  return {
    train_fp32: trainStep(null),
    train_bf16: trainStep('bfloat16'),
    greedy_fp32: greedy,
    greedy_bf16: bf16(greedy),
    beam_fp32: beam,
    beam_bf16: bf16(beam),
  };
}

const PY = String.raw`
import json, math, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1])); torch.manual_seed(0)
V, D, DKV, FF, L, H, NB, MD = 32128, 512, 64, 2048, 6, 8, 32, 128
B, S, TGT, NEW, BEAMS = 16, 32, 24, 24, 4
MIN = torch.finfo(torch.float32).min

def bucket(rp, bidir):
    b = 0; n = NB
    if bidir:
        n //= 2; b = (rp > 0).long() * n; rp = rp.abs()
    else:
        rp = -torch.min(rp, torch.zeros_like(rp))
    me = n // 2
    large = me + (torch.log(rp.float() / me) / math.log(MD / me) * (n - me)).long()
    large = torch.min(large, torch.full_like(large, n - 1))
    return b + torch.where(rp < me, rp, large)

class Norm(nn.Module):
    def __init__(s): super().__init__(); s.weight = nn.Parameter(torch.ones(D))
    def forward(s, x):
        x32 = x.float(); return s.weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-6))

class Attn(nn.Module):
    def __init__(s, bias):
        super().__init__()
        s.q, s.k, s.v = (nn.Linear(D, H * DKV, bias=False) for _ in range(3)); s.o = nn.Linear(H * DKV, D, bias=False)
        s.rel = nn.Embedding(NB, H) if bias else None
    def heads(s, x): return x.view(x.shape[0], -1, H, DKV).transpose(1, 2)
    def kv(s, x): return s.heads(s.k(x)), s.heads(s.v(x))
    def forward(s, x, k, v, bias, train):
        sc = torch.matmul(s.heads(s.q(x)), k.transpose(2, 3))
        if bias is not None: sc = sc + bias
        w = F.dropout(F.softmax(sc.float(), -1).type_as(v), 0.1, train)
        return s.o(torch.matmul(w, v).transpose(1, 2).reshape(x.shape[0], -1, H * DKV))

class FFN(nn.Module):
    def __init__(s): super().__init__(); s.wi = nn.Linear(D, FF, bias=False); s.wo = nn.Linear(FF, D, bias=False)
    def forward(s, x, train): return s.wo(F.dropout(F.relu(s.wi(x)), 0.1, train))

class Block(nn.Module):
    def __init__(s, dec, bias):
        super().__init__()
        s.ln0, s.sa = Norm(), Attn(bias)
        s.ln1, s.ca = (Norm(), Attn(False)) if dec else (None, None)
        s.ln2, s.ff = Norm(), FFN()

class T5(nn.Module):
    def __init__(s):
        super().__init__()
        s.shared = nn.Embedding(V, D)
        s.enc = nn.ModuleList([Block(False, i == 0) for i in range(L)]); s.enc_ln = Norm()
        s.dec = nn.ModuleList([Block(True, i == 0) for i in range(L)]); s.dec_ln = Norm()
    def pbias(s, blocks, q0, ql, kl, bidir):
        ctx = torch.arange(q0, q0 + ql)[:, None]; mem = torch.arange(kl)[None, :]
        return blocks[0].sa.rel(bucket(mem - ctx, bidir)).permute(2, 0, 1).unsqueeze(0)
    def encode(s, ids, mask, train):
        h = F.dropout(s.shared(ids), 0.1, train)
        bias = s.pbias(s.enc, 0, ids.shape[1], ids.shape[1], True) + ((1.0 - mask[:, None, None, :].float()) * MIN)
        for b in s.enc:
            x = b.ln0(h); k, v = b.sa.kv(x); h = h + F.dropout(b.sa(x, k, v, bias, train), 0.1, train)
            h = h + F.dropout(b.ff(b.ln2(h), train), 0.1, train)
        return F.dropout(s.enc_ln(h), 0.1, train)
    def decode(s, ids, cross, mbias, cache, past, train):
        t = ids.shape[1]; kl = past + t
        h = F.dropout(s.shared(ids), 0.1, train)
        bias = s.pbias(s.dec, past, t, kl, False)
        if t > 1: bias = bias + torch.triu(torch.full((t, kl), MIN), 1 + past)
        new = []
        for i, b in enumerate(s.dec):
            x = b.ln0(h); k, v = b.sa.kv(x)
            if cache is not None: k = torch.cat([cache[i][0], k], 2); v = torch.cat([cache[i][1], v], 2)
            new.append((k, v))
            h = h + F.dropout(b.sa(x, k, v, bias, train), 0.1, train)
            h = h + F.dropout(b.ca(b.ln1(h), cross[i][0], cross[i][1], mbias, train), 0.1, train)
            h = h + F.dropout(b.ff(b.ln2(h), train), 0.1, train)
        h = F.dropout(s.dec_ln(h), 0.1, train)
        return F.linear(h * D ** -0.5, s.shared.weight), new

def ids(n, seed):
    out = []; s = seed
    for _ in range(n):
        s = (s * 1103515245 + 12345) % 2147483648; out.append(2 + s % 32000)
    return torch.tensor(out, dtype=torch.long)

m = T5(); opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
src = ids(B * S, 1).view(B, S); lab = ids(B * TGT, 2).view(B, TGT); mask = torch.ones(B, S, dtype=torch.long)
dec_in = torch.cat([torch.zeros(B, 1, dtype=torch.long), lab[:, :-1]], 1)

def train_step(bf16):
    m.train()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        enc = m.encode(src, mask, True)
        cross = [b.ca.kv(enc) for b in m.dec]
        logits, _ = m.decode(dec_in, cross, (1.0 - mask[:, None, None, :].float()) * MIN, None, 0, True)
        loss = F.cross_entropy(logits.float().view(-1, V), lab.view(-1), ignore_index=-100)
    loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)

gsrc = ids(B * S, 3).view(B, S)

@torch.no_grad()
def gen(bf16, beams):
    m.eval()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        x = gsrc.repeat_interleave(beams, 0); mk = torch.ones_like(x); rows = x.shape[0]
        enc = m.encode(x, mk, False); cross = [b.ca.kv(enc) for b in m.dec]
        mb = (1.0 - mk[:, None, None, :].float()) * MIN
        last = torch.zeros(rows, 1, dtype=torch.long); cache = None
        scores = torch.zeros(rows); scores[torch.arange(rows) % beams != 0] = -1e9
        for t in range(NEW):
            logits, cache = m.decode(last, cross, mb, cache, t, False)
            if beams == 1:
                last = logits[:, -1].float().argmax(-1, keepdim=True)
            else:
                lp = F.log_softmax(logits[:, -1].float(), -1) + scores[:, None]
                val, idx = lp.view(B, beams * V).topk(2 * beams, 1)
                val, idx = val[:, :beams], idx[:, :beams]
                src_rows = (idx // V + torch.arange(B)[:, None] * beams).view(-1)
                scores = val.reshape(-1); last = (idx % V).view(-1, 1)
                cache = [(k.index_select(0, src_rows), v.index_select(0, src_rows)) for k, v in cache]

JOBS = {
    'train_fp32': lambda: train_step(False), 'train_bf16': lambda: train_step(True),
    'greedy_fp32': lambda: gen(False, 1), 'greedy_bf16': lambda: gen(True, 1),
    'beam_fp32': lambda: gen(False, BEAMS), 'beam_bf16': lambda: gen(True, BEAMS),
}
print('ready', flush=True)
for line in sys.stdin:  # one timed run per request, so the two sides can be interleaved
    key = line.strip()
    t0 = time.perf_counter(); JOBS[key](); print(time.perf_counter() - t0, flush=True)
`;

/** The PyTorch side as a child process: write a job name, read back its time in seconds. */
async function startPyTorch(): Promise<((key: string) => Promise<number>) & { close(): void }> {
  const file = path.join(os.tmpdir(), `cyclener-bench-t5-${process.pid}.py`);
  fs.writeFileSync(file, PY);
  const child = spawn('/usr/bin/python3', [file, String(threads)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new Error('PyTorch side exited');
    return r.value;
  };
  if ((await next()) !== 'ready') throw new Error('PyTorch side did not start');
  fs.rmSync(file, { force: true });
  const run = async (key: string) => {
    child.stdin!.write(key + '\n');
    return Number(await next());
  };
  return Object.assign(run, { close: () => child.stdin!.end() });
}

async function main(): Promise<void> {
  console.log(
    `t5-small dims (60.5M params); batch ${B}, source ${S}, target ${TGT}; generation ${NEW} new tokens, beam ${BEAMS}; ${threads} threads${quick ? ' (quick)' : ''}`,
  );
  const py = await startPyTorch();
  const model = new T5ForConditionalGeneration(presetConfig('small', { dropoutRate: 0.1 }), { seed: 0 });
  const jobs = ourJobs(model);
  const rows: Array<[string, string, number]> = [
    ['train step fp32', 'train_fp32', 0],
    ['train step bf16', 'train_bf16', 0],
    ['greedy fp32', 'greedy_fp32', B * NEW],
    ['greedy bf16', 'greedy_bf16', B * NEW],
    [`beam ${BEAMS} fp32`, 'beam_fp32', B * NEW],
    [`beam ${BEAMS} bf16`, 'beam_bf16', B * NEW],
  ];
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`${pad('', 18)}${pad('cyclener', 24)}${pad('pytorch eager', 24)}ratio (pt time / ours)`);
  for (const [label, key, toks] of rows) {
    const ours: number[] = [];
    const theirs: number[] = [];
    const runs = (key.startsWith('beam') ? Math.max(1, ITERS - 2) : ITERS) + WARM;
    for (let i = 0; i < runs; i++) {
      const p = await py(key);
      const o = seconds(jobs[key]);
      if (i >= WARM) {
        theirs.push(p);
        ours.push(o);
      }
    }
    const a = median(ours);
    const b = median(theirs);
    const fmt = (t: number) => (toks ? `${t.toFixed(3)} s ${(toks / t).toFixed(0)} tok/s` : `${t.toFixed(3)} s`);
    console.log(`${pad(label, 18)}${pad(fmt(a), 24)}${pad(fmt(b), 24)}${(b / a).toFixed(2)}`);
  }
  py.close();
  model.dispose();
  console.log('targets: train ratio >= 0.9; bf16 train step <= 0.6 s; greedy >= 1000 tok/s at batch 16');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
