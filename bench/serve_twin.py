# PyTorch twin of `cyclener serve` for bench/serve.ts (npm run bench:serve): the same model (bench/jobs_twin.py's
# T5, Hugging Face structure, from the same model.safetensors) behind a minimal HTTP server from the standard library,
# with the same dynamic batching (up to MAX_BATCH texts, waiting at most MAX_WAIT_MS for a batch to fill) and
# POST /v1/entities {"texts": [...]} -> {"results": [{"text", "sequence", "entities": [{"surface", "type"}]}]}.
# Decoding is the twin's plain greedy (no grounding constraint; every row decoded until all have ended, as
# transformers does), up to MAX_NEW tokens; tokenization is a SentencePiece unigram Viterbi over tokenizer.json's
# vocabulary (no normalizer: the benchmark's texts are ASCII). It prints "listening on http://HOST:PORT" when ready.
#   usage: python3 bench/serve_twin.py MODEL_DIR THREADS fp32|bf16 PREFIX MAX_NEW MAX_BATCH MAX_WAIT_MS [PORT]
import json, os, queue, signal, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jobs_twin as J  # reads MODEL_DIR THREADS PRECISION from argv[1:4], sets the threads
import torch

PREFIX, MAX_NEW, MAX_BATCH, MAX_WAIT = sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]) / 1000
PORT = int(sys.argv[8]) if len(sys.argv) > 8 else 0
SP = '\u2581'

TOK = json.load(open(f'{J.MODEL_DIR}/tokenizer.json'))['model']
PIECES = [p for p, _ in TOK['vocab']]
SCORE = {p: s for p, s in TOK['vocab']}
ID = {p: i for i, p in enumerate(PIECES)}
UNK = TOK.get('unk_id', 2)
LONGEST = max(len(p) for p in PIECES)
del TOK


def viterbi(word):
    # best-scoring segmentation of one Metaspace word into vocabulary pieces (unknown characters: <unk>, score -10)
    n = len(word); best = [(-1e18, 0, None)] * (n + 1); best[0] = (0.0, 0, None)
    for e in range(1, n + 1):
        for b in range(max(0, e - LONGEST), e):
            p = word[b:e]
            s = SCORE.get(p)
            if s is None and e - b == 1: s = -10.0; p = None
            if s is not None and best[b][0] + s > best[e][0]: best[e] = (best[b][0] + s, b, p)
    out, e = [], n
    while e > 0:
        _, b, p = best[e]; out.append(UNK if p is None else ID[p]); e = b
    return out[::-1]


def encode(text):
    ids = []
    for w in (PREFIX + text).split(' '):
        if w: ids += viterbi(SP + w)
    return ids + [J.EOS]


def decode(ids):
    return ''.join(PIECES[i] for i in ids if i > 2 and i < len(PIECES)).replace(SP, ' ').strip()


def entities(seq):
    parts = [p.strip() for p in seq.split('<sep>')]
    return [{'surface': parts[i], 'type': parts[i + 1]} for i in range(0, len(parts) - 1, 2)]


MODEL = J.fresh(0.0).eval()


@torch.no_grad()
def greedy(src):
    # jobs_twin.greedy's loop, keeping the tokens and stopping when every row has ended (or at MAX_NEW)
    ids = J.pad(src, J.PAD); mask = torch.zeros_like(ids)
    for i, x in enumerate(src): mask[i, :len(x)] = 1
    rows = ids.shape[0]; out = [[] for _ in range(rows)]
    with J.autocast():
        enc = MODEL.encode(ids, mask); cross = MODEL.cross(enc)
        mb = (1.0 - mask[:, None, None, :].float()) * J.MIN
        last = torch.full((rows, 1), J.START, dtype=torch.long); cache = None
        alive = torch.ones(rows, dtype=torch.bool)
        for t in range(MAX_NEW):
            logits, cache = MODEL.decode(last, cross, mb, cache, t)
            nxt = logits[:, -1].float().argmax(-1)
            nxt = torch.where(alive, nxt, torch.full_like(nxt, J.PAD))
            for i in range(rows):
                if alive[i] and nxt[i] != J.EOS: out[i].append(int(nxt[i]))
            alive = alive & (nxt != J.EOS)
            if not alive.any(): break
            last = nxt[:, None]
    return out


JOBS = queue.Queue()
STATS = {'requests': 0, 'texts': 0, 'batches': 0}


def worker():
    # dynamic batching: the first waiting text opens a batch, which takes more for up to MAX_WAIT or MAX_BATCH texts
    while True:
        batch = [JOBS.get()]
        deadline = J.time.perf_counter() + MAX_WAIT
        while len(batch) < MAX_BATCH:
            left = deadline - J.time.perf_counter()
            if left <= 0: break
            try: batch.append(JOBS.get(timeout=left))
            except queue.Empty: break
        try:
            seqs = greedy([encode(text) for text, _ in batch])
            for (text, slot), s in zip(batch, seqs):
                seq = decode(s); slot['result'] = {'text': text, 'sequence': seq, 'entities': entities(seq)}
        except Exception as e:  # noqa: BLE001 (answer 500, keep serving)
            for _, slot in batch: slot['error'] = str(e)
        for _, slot in batch: slot['done'].set()
        STATS['texts'] += len(batch); STATS['batches'] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *a): pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code); self.send_header('content-type', 'application/json')
        self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)

    def do_GET(self):
        self.reply(200, {'status': 'ok'} if self.path == '/health' else {'error': 'not found'})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get('content-length', 0)))
        if self.path != '/v1/entities': return self.reply(404, {'error': 'not found'})
        try: texts = json.loads(raw)['texts']; assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)
        except Exception: return self.reply(400, {'error': 'body: {"texts": [string, ...]}'})
        STATS['requests'] += 1
        slots = [{'done': threading.Event()} for _ in texts]
        for t, s in zip(texts, slots): JOBS.put((t, s))
        for s in slots: s['done'].wait()
        err = next((s['error'] for s in slots if 'error' in s), None)
        self.reply(500, {'error': err}) if err else self.reply(200, {'results': [s['result'] for s in slots]})


def stop(*_):
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, stop)
threading.Thread(target=worker, daemon=True).start()
server = ThreadingHTTPServer(('127.0.0.1', PORT), Handler)
server.daemon_threads = True
print(f'listening on http://127.0.0.1:{server.server_address[1]}', flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
finally:
    print(f"stopped: {STATS['requests']} requests, {STATS['texts']} texts in {STATS['batches']} batches", file=sys.stderr, flush=True)
