#!/usr/bin/env python3
"""Pretrain a small T5 base model for cyclener on a GPU machine (PyTorch + transformers; such machines have no Node).

Why this exists: on the project's 2-core CPU machines a briefly pretrained 9M T5 (span corruption only) could not copy
names, and CycleNER collapsed from it. A lent GPU can afford ~10^8 tokens in minutes. This script implements the same
objective mixture as `cyclener pretrain` (src/pretrain/), writes a Hugging Face checkpoint (config.json,
model.safetensors in bf16, tokenizer.json) that cyclener loads. Pretraining only: the base-model gate (supervised S2E
on gold pairs vs the Lexical Matcher, on dev) is `cyclener gate`, run on the returned model (docs/pretraining.md).

Objectives (choose with --mixture name=weight,...):
  span       T5 span corruption (noise density 0.15, mean span length 3, sentinels), over packed inputs (default,
             --span-inputs packed): a contiguous window of random_spans_helper(128, 128) = 141 tokens of the corpus from
             a random sentence onward, across sentence and document boundaries, so every input is exactly 128 tokens
             (T5's reduce_concat_tokens + split_tokens + random_spans_helper); or --span-inputs sentences: 1-3
             consecutive sentences of one document cut to 127 tokens (the recipe of models/base-news-11m)
  denoise    "denoise: " + sentence with ~25% of its words masked in spans -> the whole original sentence (copying)
  frag2sent  "sentence: " + fragments of the sentence as an entity sequence with pseudo-types -> the sentence (E2S stand-in)
  sent2frag  "entities: " + sentence -> its capitalised fragments as an entity sequence, type `entity` (S2E stand-in)
Fragments are maximal runs of capitalised tokens (leading function words stripped; a lone sentence-initial word skipped);
frag2sent also mixes in random lowercase spans so E2S learns to place any fragment.

Usage (paths are arguments; nothing from ../shared is committed):
  python3 pretrain_t5.py --corpus news.txt.xz --spm spiece.model --out runs/base \
      --minutes 7 --mixture span=0.3,denoise=0.2,frag2sent=0.25,sent2frag=0.25
"""
import argparse
import json
import lzma
import os
import random
import re
import time

import numpy as np
import torch

# DataLoader workers fork after the parent used the tokenizer: Rust-side threads + fork can deadlock, so keep it serial
os.environ["TOKENIZERS_PARALLELISM"] = "false"

S2E_PREFIX = "entities: "
E2S_PREFIX = "sentence: "
DENOISE_PREFIX = "denoise: "
SEP = "<sep>"
PSEUDO_TYPES = ["entity", "person", "location", "organization", "miscellaneous", "group", "product", "corporation",
                "creative work", "geopolitical", "date", "event", "facility", "gene", "nationality", "title"]
FUNCTION_WORDS = set("""the a an in on at for but and or of to he she it we they i this that these those his her its
their our my your there here when while after before as if by with from not no yes so then thus also however mr mrs ms dr
""".split())

SENT_SPLIT = re.compile(r'(?<=[.!?])\s+(?=[A-Z"\'(])')
WORD_RE = re.compile(r"[^\W_][\w'&.\-]*[^\W_]|[^\W_]|\S", re.UNICODE)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------------------- corpus
def read_corpus(path, max_docs=None):
    """One document per line (xz or plain) -> list of documents, each a list of sentences."""
    opener = lzma.open if path.endswith(".xz") else open
    docs = []
    bad = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if "\ufffd" in line:
                bad += 1
            sents = [s.strip() for s in SENT_SPLIT.split(line) if 10 <= len(s.strip()) <= 600]
            if sents:
                docs.append(sents)
            if max_docs and len(docs) >= max_docs:
                break
    if bad:
        log(f"warning: {bad} corpus lines held undecodable bytes (replaced with U+FFFD)")
    return docs


def words_with_spans(sentence):
    return [(m.group(0), m.start(), m.end()) for m in WORD_RE.finditer(sentence)]


def is_cap(w):
    return w[:1].isupper()


def capitalised_fragments(sentence):
    """Character spans of maximal capitalised runs; connectors (of, de, &, and) allowed inside a run."""
    ws = words_with_spans(sentence)
    out = []
    i = 0
    while i < len(ws):
        if not is_cap(ws[i][0]):
            i += 1
            continue
        j = i + 1
        while j < len(ws):
            if is_cap(ws[j][0]):
                j += 1
            elif ws[j][0] in ("of", "de", "&", "and", "for") and j + 1 < len(ws) and is_cap(ws[j + 1][0]):
                j += 2
            else:
                break
        run = ws[i:j]
        while run and run[0][0].lower() in FUNCTION_WORDS:
            run = run[1:]
        if run and not (i == 0 and j == 1):  # a lone sentence-initial capital says nothing
            out.append((run[0][1], run[-1][2]))
        i = j
    return out


def random_fragments(sentence, rng, max_frags=4):
    ws = words_with_spans(sentence)
    words = [w for w in ws if w[0][:1].isalnum()]
    if len(words) < 3:
        return []
    k = rng.randint(1, min(max_frags, max(1, len(words) // 4)))
    starts = sorted(rng.sample(range(len(words)), k))
    out, last_end = [], -1
    for s in starts:
        if s <= last_end:
            continue
        e = min(len(words) - 1, s + rng.choice([0, 0, 1, 1, 2]))
        out.append((words[s][1], words[e][2]))
        last_end = e
    return out


def serialise(pairs):
    return f" {SEP} ".join(f"{s} {SEP} {t}" for s, t in pairs)


# ----------------------------------------------------------------------------------------------------------- objectives
SPAN_INPUTS = ("packed", "sentences")
PACKED_CHARS_PER_TOKEN = 6  # characters taken per raw token before tokenizing a packed window (news: ~4.7)


def noise_counts(length, noise_density=0.15, mean_span=3.0):
    """Noise tokens, non-noise tokens and noise spans of a `length`-token mask (random_spans_noise_mask's counts)."""
    num_noise = min(max(int(round(length * noise_density)), 1), length - 1)
    num_nonnoise = length - num_noise
    num_spans = min(max(int(round(num_noise / mean_span)), 1), num_noise, num_nonnoise)
    return num_noise, num_nonnoise, num_spans


def span_corrupted_lengths(length, noise_density=0.15, mean_span=3.0):
    """(input, target) lengths with EOS after span corruption of `length` raw tokens."""
    num_noise, num_nonnoise, num_spans = noise_counts(length, noise_density, mean_span)
    return num_nonnoise + num_spans + 1, num_noise + num_spans + 1


def random_spans_helper(inputs_length, targets_length=None, noise_density=0.15, mean_span=3.0):
    """T5's random_spans_helper: the largest raw token count whose corrupted input fits inputs_length and target fits
    targets_length (None: unconstrained) -> (raw tokens, input length, target length). T5: 512 -> (568, 512, 114)."""
    def fits(n):
        a, b = span_corrupted_lengths(n, noise_density, mean_span)
        return a <= inputs_length and (targets_length is None or b <= targets_length)
    if not fits(2):
        raise ValueError(f"span corruption: {inputs_length}/{targets_length} cannot hold even 2 corrupted tokens")
    n = 2
    while fits(n + 1):
        n += 1
    return (n,) + span_corrupted_lengths(n, noise_density, mean_span)


def packed_text(docs, doc, sent, min_chars):
    """Text from sentence `sent` of document `doc` onward (sentences and documents in order, joined by a space) up to
    the first sentence end at or beyond min_chars characters; exhausted when the documents ended first."""
    parts, n = [], -1
    for k in range(doc, len(docs)):
        for s in docs[k][sent if k == doc else 0:]:
            parts.append(s)
            n += len(s) + 1
            if n >= min_chars:
                return " ".join(parts), False
    return " ".join(parts), True


def random_spans_noise_mask(length, rng, noise_density=0.15, mean_span=3.0):
    """T5's random_spans_noise_mask: alternating non-noise/noise spans, starting with non-noise."""
    num_noise, num_nonnoise, num_spans = noise_counts(length, noise_density, mean_span)

    def segment(n, k):
        # random partition of n items into k non-empty segments
        cuts = sorted(rng.sample(range(1, n), k - 1)) if k > 1 else []
        bounds = [0] + cuts + [n]
        return [bounds[i + 1] - bounds[i] for i in range(k)]

    noise_lens = segment(num_noise, num_spans)
    nonnoise_lens = segment(num_nonnoise, num_spans)
    mask = np.zeros(length, dtype=bool)
    pos = 0
    for a, b in zip(nonnoise_lens, noise_lens):
        pos += a
        mask[pos:pos + b] = True
        pos += b
    return mask


class Sampler:
    def __init__(self, docs, tok, sentinel0, eos, mixture, rng, max_src, max_tgt, span_inputs="packed", label="train"):
        self.docs, self.tok, self.rng = docs, tok, rng
        self.sentinel0, self.eos = sentinel0, eos
        self.names = list(mixture.keys())
        self.weights = np.array([mixture[n] for n in self.names], dtype=float)
        self.weights /= self.weights.sum()
        self.max_src, self.max_tgt = max_src, max_tgt
        assert span_inputs in SPAN_INPUTS, span_inputs
        self.span_inputs, self.label = span_inputs, label
        self.raw_length = random_spans_helper(max_src, max_tgt)[0] if span_inputs == "packed" else None
        self.short = 0  # packed windows that ran out of text (end of the documents): shorter inputs, reported

    def sentence(self):
        k = self.rng.randrange(len(self.docs))
        d = self.docs[k]
        i = self.rng.randrange(len(d))
        return k, d, i

    def packed_window(self, k, i):
        """Exactly raw_length tokens of the text from sentence i of document k onward (fewer only at the end)."""
        min_chars = self.raw_length * PACKED_CHARS_PER_TOKEN
        while True:
            text, exhausted = packed_text(self.docs, k, i, min_chars)
            ids = self.tok.encode(text, add_special_tokens=False).ids
            if len(ids) >= self.raw_length:
                return ids[: self.raw_length]
            if exhausted:
                self.short += 1
                if self.short & (self.short - 1) == 0:  # 1, 2, 4, ...: never silent, never flooding the log
                    log(f"{self.label}: {self.short} packed span window(s) ran out of text at the end of the documents "
                        f"(shorter inputs)")
                return ids
            min_chars *= 2

    def example(self, name):
        rng = self.rng
        k, d, i = self.sentence()
        s = d[i]
        if name == "span":
            if self.span_inputs == "packed":
                ids = self.packed_window(k, i)
            else:
                text = " ".join(d[i:i + rng.randint(1, 3)])
                ids = self.tok.encode(text, add_special_tokens=False).ids[: self.max_src - 1]
            if len(ids) < 4:
                return None
            mask = random_spans_noise_mask(len(ids), rng)
            src, tgt, k, prev = [], [], 0, False
            for t, m in zip(ids, mask):
                if m:
                    if not prev:
                        src.append(self.sentinel0 - k)
                        tgt.append(self.sentinel0 - k)
                        k += 1
                    tgt.append(t)
                else:
                    src.append(t)
                prev = m
            return src + [self.eos], tgt + [self.eos]
        if name == "denoise":
            ws = s.split(" ")
            if len(ws) < 4:
                return None
            keep, j = [], 0
            while j < len(ws):
                if rng.random() < 0.1:  # ~10% of positions start a masked span, Poisson(2.5) words long
                    n = max(1, min(len(ws) - j, int(np.random.poisson(2.5))))
                    keep.append("<extra_id_0>")
                    j += n
                else:
                    keep.append(ws[j])
                    j += 1
            return DENOISE_PREFIX + " ".join(keep), s
        if name == "frag2sent":
            spans = capitalised_fragments(s) if rng.random() < 0.75 else random_fragments(s, rng)
            spans = spans[:8]
            if rng.random() < 0.5:
                pairs = [(s[a:b], "entity") for a, b in spans]
            else:
                pairs = [(s[a:b], rng.choice(PSEUDO_TYPES)) for a, b in spans]
            return E2S_PREFIX + serialise(pairs), s
        if name == "sent2frag":
            spans = capitalised_fragments(s)[:8]
            return S2E_PREFIX + s, serialise([(s[a:b], "entity") for a, b in spans])
        raise ValueError(name)

    def batch(self, size):
        names = np.random.choice(len(self.names), size=size, p=self.weights)
        srcs, tgts = [], []
        text_src, text_tgt = [], []
        for k in names:
            ex = self.example(self.names[k])
            if ex is None:
                continue
            a, b = ex
            if isinstance(a, str):
                text_src.append(a)
                text_tgt.append(b)
            else:
                srcs.append(a)
                tgts.append(b)
        if text_src:
            es = self.tok.encode_batch(text_src)
            et = self.tok.encode_batch(text_tgt)
            for x, y in zip(es, et):
                if len(x.ids) <= self.max_src and len(y.ids) <= self.max_tgt:
                    srcs.append(x.ids)
                    tgts.append(y.ids)
        return collate(srcs, tgts)


def collate(srcs, tgts, pad=0):
    B = len(srcs)
    ls, lt = max(len(x) for x in srcs), max(len(y) for y in tgts)
    inp = torch.full((B, ls), pad, dtype=torch.long)
    att = torch.zeros((B, ls), dtype=torch.long)
    lab = torch.full((B, lt), -100, dtype=torch.long)
    for i, (x, y) in enumerate(zip(srcs, tgts)):
        inp[i, : len(x)] = torch.tensor(x)
        att[i, : len(x)] = 1
        lab[i, : len(y)] = torch.tensor(y)
    return inp, att, lab


# ----------------------------------------------------------------------------------------------------------- tokenizer
def build_tokenizer(spm_path, out_dir):
    """tokenizer.json (T5 layout, `<sep>` non-special) from the SentencePiece model; see spm_convert.py."""
    from spm_convert import spm_to_t5_tokenizer
    tok = spm_to_t5_tokenizer(spm_path)
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    return tok


# ----------------------------------------------------------------------------------------------------------- main
def model_config(args, vocab_size):
    from transformers import T5Config
    return T5Config(vocab_size=vocab_size, d_model=args.d_model, d_kv=args.d_kv, d_ff=args.d_ff,
                    num_layers=args.layers, num_decoder_layers=args.layers, num_heads=args.heads,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                    layer_norm_epsilon=1e-6, feed_forward_proj=args.ffn, tie_word_embeddings=args.tie,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--spm", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=7.0)
    ap.add_argument("--max-docs", type=int, default=None)
    ap.add_argument("--mixture", default="span=0.3,denoise=0.2,frag2sent=0.25,sent2frag=0.25")
    ap.add_argument("--span-inputs", choices=SPAN_INPUTS, default="packed",
                    help="span objective inputs: packed = T5 fixed-length windows of consecutive text (every input 128 "
                         "tokens); sentences = 1-3 sentences (the recipe of models/base-news-11m)")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--d-kv", type=int, default=64)
    ap.add_argument("--d-ff", type=int, default=640)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--ffn", default="gated-gelu")
    ap.add_argument("--tie", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--init", default=None, help="continue from this checkpoint directory (weights only)")
    args = ap.parse_args()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    metrics = open(os.path.join(args.out, "metrics.jsonl"), "a")
    tok = build_tokenizer(args.spm, args.out)
    vocab = tok.get_vocab_size()
    sentinel0 = tok.token_to_id("<extra_id_0>")
    sep_id = tok.token_to_id(SEP)
    log(f"tokenizer: {vocab} tokens, <extra_id_0>={sentinel0}, <sep>={sep_id}, </s>={tok.token_to_id('</s>')}, "
        f"<pad>={tok.token_to_id('<pad>')}, <unk>={tok.token_to_id('<unk>')}")
    mixture = {k: float(v) for k, v in (kv.split("=") for kv in args.mixture.split(","))}

    t0 = time.time()
    docs = read_corpus(args.corpus, args.max_docs)
    val_docs = [d for k, d in enumerate(docs) if k % 200 == 0]
    train_docs = [d for k, d in enumerate(docs) if k % 200 != 0]
    log(f"corpus: {len(train_docs)} train docs, {len(val_docs)} held-out docs, "
        f"{sum(len(d) for d in docs)} sentences, read in {time.time() - t0:.0f}s")

    from transformers import T5ForConditionalGeneration
    cfg = model_config(args, vocab_size=vocab)
    if args.init:
        model = T5ForConditionalGeneration.from_pretrained(args.init, dtype=torch.float32).cuda()
    else:
        model = T5ForConditionalGeneration(cfg).cuda()
    cfg = model.config
    nparams = sum(p.numel() for p in model.parameters())
    log(f"model: {nparams / 1e6:.2f}M parameters, config {cfg.to_diff_dict()}")

    if "span" in mixture:
        raw, src_len, tgt_len = random_spans_helper(128, 128)
        log(f"span inputs {args.span_inputs}" + (f": {raw} raw tokens -> source {src_len} / target {tgt_len}"
                                                  if args.span_inputs == "packed" else ": 1-3 sentences"))
    val_batches = {}
    for name in mixture:
        vs = Sampler(val_docs, tok, sentinel0, 1, {name: 1.0}, random.Random(1234), 128, 128, args.span_inputs, "validation")
        val_batches[name] = [vs.batch(128) for _ in range(2)]

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01, fused=True)
    budget = args.minutes * 60
    step, tokens = 0, 0
    t_start = time.time()
    # DataLoader worker processes build batches so the GPU never waits on Python example building (threads hit the GIL).
    class Batches(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            wid = info.id if info else 0
            np.random.seed(args.seed * 1000 + wid)
            s = Sampler(train_docs, tok, sentinel0, 1, mixture, random.Random(args.seed * 1000 + wid), 128, 128,
                        args.span_inputs, f"train worker {wid}")
            while True:
                yield s.batch(args.batch)

    loader = iter(torch.utils.data.DataLoader(Batches(), batch_size=None, num_workers=args.workers, prefetch_factor=8,
                                              pin_memory=True))
    model.train()
    # dropout off for pretraining (T5 v1.1 practice); the saved config keeps dropout_rate for fine-tuning
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    last_log = time.time()
    while True:
        elapsed = time.time() - t_start
        if elapsed > budget:
            break
        frac = elapsed / budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * max(0.05, 1.0 - frac)
        for g in opt.param_groups:
            g["lr"] = lr
        inp, att, lab = next(loader)
        inp, att, lab = inp.cuda(non_blocking=True), att.cuda(non_blocking=True), lab.cuda(non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=inp, attention_mask=att, labels=lab).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens += int(att.sum()) + int((lab != -100).sum()) if step % 50 == 0 else 0
        if time.time() - last_log > 30:
            last_log = time.time()
            model.eval()
            vl = {}
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
                for name, bs in val_batches.items():
                    vl[name] = float(np.mean([float(model(input_ids=a.cuda(), attention_mask=b.cuda(),
                                                          labels=c.cuda()).loss) for a, b, c in bs]))
            model.train()
            rec = {"step": step, "minutes": round((time.time() - t_start) / 60, 2), "lr": lr, "train_loss": float(loss),
                   "val_loss": vl, "approx_tokens_seen": tokens * 50, "steps_per_s": round(step / (time.time() - t_start), 2)}
            metrics.write(json.dumps(rec) + "\n")
            metrics.flush()
            log(json.dumps(rec))
    log(f"pretraining done: {step} steps in {(time.time() - t_start) / 60:.1f} min, ~{tokens * 50 / 1e6:.0f}M tokens")
    model.config.dropout_rate = 0.1
    model.save_pretrained(args.out, safe_serialization=True)
    summary = {"steps": step, "minutes": args.minutes, "approx_tokens_seen": tokens * 50, "params": nparams,
               "mixture": mixture, "args": vars(args)}
    # ship bf16 weights (the <=25 MB budget); training precision was fp32 master weights + bf16 autocast
    bf = T5ForConditionalGeneration.from_pretrained(args.out, dtype=torch.float32).to(torch.bfloat16)
    bf.save_pretrained(args.out, safe_serialization=True)
    with open(os.path.join(args.out, "pretrain_summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log("saved " + args.out)
    os._exit(0)  # do not wait for DataLoader workers


if __name__ == "__main__":
    main()
