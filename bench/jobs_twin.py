# PyTorch twin of bench/jobs.ts (npm run bench:jobs): the same T5 (Hugging Face modeling_t5 structure and parameter
# names, written out here because transformers is not installed), loaded from the same model.safetensors, driven by
# bench/jobs.ts over stdin/stdout one JSON line per request, so the two sides can be interleaved run by run.
# Every request is timed here, without the pipe; token ids come from the TS side (no tokenizer on this side).
#   usage: python3 bench/jobs_twin.py MODEL_DIR THREADS fp32|bf16
import contextlib, json, math, struct, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

MODEL_DIR, THREADS, PRECISION = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(THREADS)
torch.manual_seed(0)
CFG = json.load(open(f'{MODEL_DIR}/config.json'))
D, DKV, H, FF, V = CFG['d_model'], CFG['d_kv'], CFG['num_heads'], CFG['d_ff'], CFG['vocab_size']
NB, MD, EPS = CFG['relative_attention_num_buckets'], CFG['relative_attention_max_distance'], CFG['layer_norm_epsilon']
PROJ = CFG.get('feed_forward_proj', 'relu')
GATED = PROJ.startswith('gated-')
ACT = PROJ.split('-')[-1]
TIED = CFG.get('tie_word_embeddings', True)
SCALE_OUT = CFG.get('scale_decoder_outputs', TIED)
PAD, EOS, START = CFG.get('pad_token_id', 0), CFG.get('eos_token_id', 1), CFG.get('decoder_start_token_id', 0)
MIN = torch.finfo(torch.float32).min


def act(x):
    if ACT == 'relu': return F.relu(x)
    return F.gelu(x, approximate='tanh' if (ACT == 'gelu_new' or PROJ == 'gated-gelu') else 'none')


def autocast():
    return torch.autocast('cpu', dtype=torch.bfloat16) if PRECISION == 'bf16' else contextlib.nullcontext()


def read_safetensors(path):
    # 8-byte little-endian header length, JSON header, raw little-endian data; bf16 is upcast as the TS loader does.
    # One copy of the file (a bytearray the tensors view), dropped once the caller has copied them into its model.
    buf = bytearray(open(path, 'rb').read())
    n = struct.unpack('<Q', buf[:8])[0]
    header = json.loads(bytes(buf[8:8 + n]))
    dt = {'F32': torch.float32, 'BF16': torch.bfloat16, 'F16': torch.float16}
    out = {}
    for k, v in header.items():
        if k == '__metadata__': continue
        a, b = v['data_offsets']
        t = torch.frombuffer(buf, dtype=dt[v['dtype']], offset=8 + n + a, count=(b - a) // torch.empty(0, dtype=dt[v['dtype']]).element_size()) if b > a else torch.empty(0)
        out[k] = t.reshape(v['shape']).float()
    return out


def mem():
    # This process's memory in MiB (/proc/self/status): peak RSS (VmHWM), RSS now, and its anonymous / file parts.
    f = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
    kib = lambda k: int(f[k].split()[0]) / 1024 if k in f else float('nan')
    return {'hwm': kib('VmHWM'), 'rss': kib('VmRSS'), 'anon': kib('RssAnon'), 'file': kib('RssFile')}


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
        v = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        return s.weight * (x * torch.rsqrt(v + EPS))


class Attention(nn.Module):
    def __init__(s, bias):
        super().__init__()
        s.q, s.k, s.v = (nn.Linear(D, H * DKV, bias=False) for _ in range(3)); s.o = nn.Linear(H * DKV, D, bias=False)
        if bias: s.relative_attention_bias = nn.Embedding(NB, H)
    def heads(s, x): return x.view(x.shape[0], -1, H, DKV).transpose(1, 2)
    def kv(s, x): return s.heads(s.k(x)), s.heads(s.v(x))
    def forward(s, x, k, v, bias, p, train):
        sc = torch.matmul(s.heads(s.q(x)), k.transpose(2, 3))  # no 1/sqrt(d_kv): folded into q's init (T5)
        if bias is not None: sc = sc + bias
        w = F.dropout(F.softmax(sc.float(), -1).type_as(sc), p, train)
        return s.o(torch.matmul(w, v).transpose(1, 2).reshape(x.shape[0], -1, H * DKV))


class SelfLayer(nn.Module):
    def __init__(s, bias): super().__init__(); s.SelfAttention = Attention(bias); s.layer_norm = Norm()


class CrossLayer(nn.Module):
    def __init__(s): super().__init__(); s.EncDecAttention = Attention(False); s.layer_norm = Norm()


class Dense(nn.Module):
    def __init__(s):
        super().__init__()
        if GATED: s.wi_0 = nn.Linear(D, FF, bias=False); s.wi_1 = nn.Linear(D, FF, bias=False)
        else: s.wi = nn.Linear(D, FF, bias=False)
        s.wo = nn.Linear(FF, D, bias=False)
    def forward(s, x, p, train):
        h = act(s.wi_0(x)) * s.wi_1(x) if GATED else act(s.wi(x))
        return s.wo(F.dropout(h, p, train))


class FFLayer(nn.Module):
    def __init__(s): super().__init__(); s.DenseReluDense = Dense(); s.layer_norm = Norm()


class Block(nn.Module):
    def __init__(s, dec, bias):
        super().__init__()
        s.layer = nn.ModuleList([SelfLayer(bias)] + ([CrossLayer()] if dec else []) + [FFLayer()])


class Stack(nn.Module):
    def __init__(s, dec, n):
        super().__init__()
        s.block = nn.ModuleList([Block(dec, i == 0) for i in range(n)]); s.final_layer_norm = Norm()


class T5(nn.Module):
    def __init__(s, dropout):
        super().__init__()
        s.p = dropout
        s.shared = nn.Embedding(V, D)
        s.encoder = Stack(False, CFG['num_layers']); s.decoder = Stack(True, CFG.get('num_decoder_layers', CFG['num_layers']))
        if not TIED: s.lm_head = nn.Linear(D, V, bias=False)

    def pbias(s, stack, q0, ql, kl, bidir):
        ctx = torch.arange(q0, q0 + ql)[:, None]; mem = torch.arange(kl)[None, :]
        return stack.block[0].layer[0].SelfAttention.relative_attention_bias(bucket(mem - ctx, bidir)).permute(2, 0, 1).unsqueeze(0)

    def encode(s, ids, mask):
        tr = s.training; p = s.p
        h = F.dropout(s.shared(ids), p, tr)
        bias = s.pbias(s.encoder, 0, ids.shape[1], ids.shape[1], True) + (1.0 - mask[:, None, None, :].float()) * MIN
        for b in s.encoder.block:
            sl, fl = b.layer[0], b.layer[-1]
            x = sl.layer_norm(h); k, v = sl.SelfAttention.kv(x)
            h = h + F.dropout(sl.SelfAttention(x, k, v, bias, p, tr), p, tr)
            h = h + F.dropout(fl.DenseReluDense(fl.layer_norm(h), p, tr), p, tr)
        return F.dropout(s.encoder.final_layer_norm(h), p, tr)

    def cross(s, enc): return [b.layer[1].EncDecAttention.kv(enc) for b in s.decoder.block]

    def decode(s, ids, cross, mbias, cache, past):
        tr = s.training; p = s.p
        t = ids.shape[1]; kl = past + t
        h = F.dropout(s.shared(ids), p, tr)
        bias = s.pbias(s.decoder, past, t, kl, False)
        if t > 1: bias = bias + torch.triu(torch.full((t, kl), MIN), 1 + past)
        new = []
        for i, b in enumerate(s.decoder.block):
            sl, cl, fl = b.layer
            x = sl.layer_norm(h); k, v = sl.SelfAttention.kv(x)
            if cache is not None: k = torch.cat([cache[i][0], k], 2); v = torch.cat([cache[i][1], v], 2)
            new.append((k, v))
            h = h + F.dropout(sl.SelfAttention(x, k, v, bias, p, tr), p, tr)
            h = h + F.dropout(cl.EncDecAttention(cl.layer_norm(h), cross[i][0], cross[i][1], mbias, p, tr), p, tr)
            h = h + F.dropout(fl.DenseReluDense(fl.layer_norm(h), p, tr), p, tr)
        h = F.dropout(s.decoder.final_layer_norm(h), p, tr)
        if SCALE_OUT: h = h * D ** -0.5
        return F.linear(h, s.shared.weight if TIED else s.lm_head.weight), new


def fresh(dropout):
    # Read from the file at each load (as from_pretrained does), not kept: the twin holds no copy beside its models.
    weights = read_safetensors(f'{MODEL_DIR}/model.safetensors')
    m = T5(dropout)
    sd = {k: v for k, v in weights.items() if k in m.state_dict()}
    missing = set(m.state_dict()) - set(sd)
    if missing: raise SystemExit(f'twin: weights missing from {MODEL_DIR}: {sorted(missing)[:5]}')
    m.load_state_dict(sd)
    return m


def pad(seqs, value):
    n = max(1, max(len(x) for x in seqs))
    out = torch.full((len(seqs), n), value, dtype=torch.long)
    for i, x in enumerate(seqs): out[i, :len(x)] = torch.tensor(x, dtype=torch.long)
    return out


def batch_loss(m, batch):
    # collate as src/t5/train.ts: sources right-padded with pad, labels with -100; decoder inputs = shift right
    src = pad([e['s'] for e in batch], PAD); mask = torch.zeros_like(src)
    for i, e in enumerate(batch): mask[i, :len(e['s'])] = 1
    lab = pad([e['t'] for e in batch], -100)
    dec = torch.cat([torch.full((lab.shape[0], 1), START, dtype=torch.long), lab[:, :-1]], 1)
    dec = torch.where(dec == -100, torch.full_like(dec, PAD), dec)
    with autocast():
        enc = m.encode(src, mask)
        logits, _ = m.decode(dec, m.cross(enc), (1.0 - mask[:, None, None, :].float()) * MIN, None, 0)
        loss = F.cross_entropy(logits.float().reshape(-1, V), lab.reshape(-1), ignore_index=-100)
    return loss, sum(len(e['t']) for e in batch)


def train_step(m, opt, groups, lr, clip):
    # One optimizer step over micro-batches (the TS trainer's length groups, or the whole batch), each loss weighted
    # by its share of target tokens as Seq2SeqTrainer.step does: the gradient of one big batch.
    m.train()
    total = sum(len(e['t']) for g in groups for e in g)
    loss_sum = 0.0
    for g in groups:
        loss, n = batch_loss(m, g)
        (loss * (n / total)).backward()
        loss_sum += loss.item() * n / total
    if clip: torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
    for pg in opt.param_groups: pg['lr'] = lr
    opt.step(); opt.zero_grad(set_to_none=True)
    return loss_sum


@torch.no_grad()
def eval_loss(m, groups):
    # token-weighted mean over micro-batches, as evalLoss over chunks (and evaluate() over length groups)
    m.eval()
    tot = 0.0; n = 0
    for b in groups:
        loss, k = batch_loss(m, b); tot += loss.item() * k; n += k
    return tot / max(1, n)


@torch.no_grad()
def greedy(m, src, steps):
    # Plain greedy (argmax; finished rows are fed pad, as transformers does) for exactly `steps` steps: the TS side
    # passes the number of decoder steps its own (grounded / n-gram-blocked) decoding took, so both do the same work.
    m.eval()
    ids = pad(src, PAD); mask = torch.zeros_like(ids)
    for i, x in enumerate(src): mask[i, :len(x)] = 1
    rows = ids.shape[0]
    with autocast():
        enc = m.encode(ids, mask); cross = m.cross(enc)
        mb = (1.0 - mask[:, None, None, :].float()) * MIN
        last = torch.full((rows, 1), START, dtype=torch.long); cache = None
        alive = torch.ones(rows, dtype=torch.bool)
        for t in range(steps):
            logits, cache = m.decode(last, cross, mb, cache, t)
            nxt = logits[:, -1].float().argmax(-1)
            nxt = torch.where(alive, nxt, torch.full_like(nxt, PAD))
            alive = alive & (nxt != EOS)
            last = nxt[:, None]
    return steps


def peak(dtype, n=1024):
    a = torch.randn(n, n).to(dtype); b = torch.randn(n, n).to(dtype)
    torch.matmul(a, b)
    best = math.inf
    for _ in range(12):
        t0 = time.perf_counter(); torch.matmul(a, b); best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


MODELS, OPTS = {}, {}


def run_op(o):
    op = o['op']
    if op == 'train': return train_step(MODELS[o['name']], OPTS[o['name']], o['groups'], o['lr'], o.get('clip', 0))
    if op == 'gen': return greedy(MODELS[o['name']], o['src'], o['steps'])
    if op == 'loss': return eval_loss(MODELS[o['name']], o['groups'])
    raise SystemExit(f'twin: unknown op {op}')


def handle(req):
    op = req['op']
    if op == 'mem':
        return mem()
    if op == 'peak':
        return {'fp32': peak(torch.float32), 'bf16': peak(torch.bfloat16)}
    if op == 'load':  # fresh copy of the shipped weights under a name, with its AdamW
        m = MODELS[req['name']] = fresh(req['dropout'])
        OPTS[req['name']] = torch.optim.AdamW(m.parameters(), lr=req['lr'], betas=tuple(req['betas']), eps=req.get('eps', 1e-8), weight_decay=req['wd'])
        return {'params': sum(p.numel() for p in m.parameters())}
    if op == 'run':  # a sequence of ops, each timed; the TS side sums what it needs
        times, results = [], []
        for o in req['ops']:
            t0 = time.perf_counter(); results.append(run_op(o)); times.append(time.perf_counter() - t0)
        return {'times': times, 'results': results}
    if op == 'pretrain':  # replay the dumped pretraining batches from the shipped weights (dropout 0, as pretrain())
        d = json.load(open(req['file']))
        m = fresh(0.0)
        opt = torch.optim.AdamW(m.parameters(), lr=d['lrs'][0], betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01)
        times, losses = [], []
        for groups, lr in zip(d['steps'], d['lrs']):
            t0 = time.perf_counter(); losses.append(train_step(m, opt, groups, lr, 1.0)); times.append(time.perf_counter() - t0)
        return {'times': times, 'losses': losses}
    raise SystemExit(f'twin: unknown request {op}')


if __name__ == '__main__':  # bench/serve_twin.py imports the model (same first three arguments)
    print(json.dumps({'ready': True, 'torch': torch.__version__, 'mem': mem()}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(handle(json.loads(line))), flush=True)
