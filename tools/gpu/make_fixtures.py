#!/usr/bin/env python3
"""Make the Hugging Face reference fixtures that cyclener's T5 tests compare against (run where `transformers` exists).

Writes into OUT_DIR (then copied to test/fixtures/t5/):
  hf-tiny-v1_0/, hf-tiny-v1_1/, hf-tiny-gated-tied/   tiny random T5ForConditionalGeneration checkpoints (save_pretrained)
  hf-tiny-logits.json    per model: input_ids, attention_mask, decoder_input_ids, fp32 logits, greedy and beam outputs
  param-shapes-t5-small.json, param-shapes-flan-t5-small.json   state_dict name -> shape, and the keys save_pretrained keeps
  tokenizer/             a tiny SentencePiece model, the tokenizer.json transformers converts from it (+ <sep>), encodings.json
Everything is made from seeds and template sentences written here: no downloaded weights or corpus text.
"""
import json
import os
import random
import sys

import torch
from safetensors.torch import load_file
from transformers import T5Config, T5ForConditionalGeneration

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

TINY = dict(vocab_size=96, d_model=16, d_kv=4, num_heads=4, relative_attention_num_buckets=8,
            relative_attention_max_distance=20, dropout_rate=0.1, layer_norm_epsilon=1e-6, pad_token_id=0,
            eos_token_id=1, decoder_start_token_id=0)
VARIANTS = {
    "hf-tiny-v1_0": dict(d_ff=32, num_layers=2, num_decoder_layers=2, feed_forward_proj="relu", tie_word_embeddings=True),
    "hf-tiny-v1_1": dict(d_ff=24, num_layers=2, num_decoder_layers=3, feed_forward_proj="gated-gelu",
                         tie_word_embeddings=False),
    "hf-tiny-gated-tied": dict(d_ff=24, num_layers=3, num_decoder_layers=2, feed_forward_proj="gated-gelu",
                               tie_word_embeddings=True),
}

logits_out = {}
for k, (name, extra) in enumerate(VARIANTS.items()):
    torch.manual_seed(100 + k)
    cfg = T5Config(**TINY, **extra)
    model = T5ForConditionalGeneration(cfg).eval()
    # default init gives near-uniform logits; widen the weights so the comparison is sharp
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "layer_norm" not in n:
                p.mul_(3.0)
    model.save_pretrained(os.path.join(out, name), safe_serialization=True)
    input_ids = torch.tensor([[5, 17, 33, 8, 91, 40, 1], [12, 64, 3, 1, 0, 0, 0]])
    attention_mask = (input_ids != 0).long()
    attention_mask[0, :] = 1
    decoder_input_ids = torch.tensor([[0, 7, 19, 44, 2], [0, 50, 50, 13, 9]])
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids).logits
        greedy = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=10, do_sample=False,
                                num_beams=1, min_new_tokens=0, use_cache=False)
        beam = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=10, do_sample=False,
                              num_beams=3, length_penalty=1.0, early_stopping=True, num_return_sequences=2, use_cache=False)
        enc = model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    saved = load_file(os.path.join(out, name, "model.safetensors"))
    logits_out[name] = {
        "config": cfg.to_dict(),
        "input_ids": input_ids.tolist(), "attention_mask": attention_mask.tolist(),
        "decoder_input_ids": decoder_input_ids.tolist(),
        "encoder_last_hidden_state": enc.tolist(),
        "logits": logits.tolist(),
        "greedy_max_new_tokens": 10, "greedy": greedy.tolist(),
        "beam": {"num_beams": 3, "length_penalty": 1.0, "early_stopping": True, "num_return_sequences": 2,
                 "max_new_tokens": 10, "sequences": beam.tolist()},
        "saved_keys": sorted(saved.keys()),
    }
with open(os.path.join(out, "hf-tiny-logits.json"), "w") as f:
    json.dump(logits_out, f)

SHAPES = {
    "t5-small": dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8,
                     feed_forward_proj="relu", tie_word_embeddings=True),
    "flan-t5-small": dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_decoder_layers=8,
                          num_heads=6, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}
for name, c in SHAPES.items():
    cfg = T5Config(**c)
    with torch.device("meta"):
        m = T5ForConditionalGeneration(cfg)
    sd = m.state_dict()
    tied = set()
    if c["tie_word_embeddings"]:
        tied = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"}
    with open(os.path.join(out, f"param-shapes-{name}.json"), "w") as f:
        json.dump({"config": cfg.to_dict(), "state_dict": {k: list(v.shape) for k, v in sd.items()},
                   "tied_to_shared": sorted(tied & set(sd.keys()))}, f, indent=0)

# ---------------------------------------------------------------------------------------------------- tokenizer
import sentencepiece as spm  # noqa: E402

tdir = os.path.join(out, "tokenizer")
os.makedirs(tdir, exist_ok=True)
rng = random.Random(7)
people = ["Jeff Bezos", "Angela Merkel", "Peter Blackburn", "Marie Curie", "José Álvarez", "Chen Wei"]
orgs = ["Amazon", "the European Commission", "Reuters", "BRCA1 protein", "NATO", "Real Madrid"]
places = ["Seattle", "Brussels", "Sri Lanka", "New York", "Zürich", "Kragujevac"]
verbs = ["met", "visited", "criticised", "joined", "left", "praised"]
lines = []
for _ in range(3000):
    lines.append(f"{rng.choice(people)} {rng.choice(verbs)} {rng.choice(orgs)} in {rng.choice(places)} "
                 f"on {rng.choice(['Monday', 'Tuesday', 'Friday'])}, {rng.choice(['officials', 'a spokesman'])} said.")
with open(os.path.join(tdir, "train.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
spm.SentencePieceTrainer.train(input=os.path.join(tdir, "train.txt"), model_prefix=os.path.join(tdir, "spiece"),
                               vocab_size=120, hard_vocab_limit=False, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                               pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", character_coverage=1.0)
os.remove(os.path.join(tdir, "train.txt"))
import transformers  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spm_convert import spm_to_t5_tokenizer  # noqa: E402

tk = spm_to_t5_tokenizer(os.path.join(tdir, "spiece.model"))
tk.save(os.path.join(tdir, "tokenizer.json"))
texts = ["Jeff Bezos met Amazon in Seattle.", "Amazon <sep> organization <sep> Jeff Bezos <sep> person",
         "EU<sep> organization", "  multiple   spaces  here ", "Zürich and José Álvarez", "emoji 😀 unknown ✓",
         "", "<extra_id_0> Seattle <extra_id_1>", "Kragujevac <sep> location <sep> Stanojlovic <sep> person"]
enc = []
for t in texts:
    e = tk.encode(t)
    enc.append({"text": t, "ids": e.ids, "tokens": e.tokens,
                "decoded": tk.decode(e.ids, skip_special_tokens=False),
                "decoded_skip_special": tk.decode(e.ids, skip_special_tokens=True)})
with open(os.path.join(tdir, "encodings.json"), "w") as f:
    json.dump({"made_by": "tools/gpu/spm_convert.py with tokenizers " + __import__("tokenizers").__version__,
               "vocab_size": tk.get_vocab_size(), "sep_id": tk.token_to_id("<sep>"),
               "extra_id_0": tk.token_to_id("<extra_id_0>"), "encodings": enc}, f, indent=1, ensure_ascii=False)
print("fixtures written to", out, "transformers", transformers.__version__)
