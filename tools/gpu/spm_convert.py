"""SentencePiece unigram `spiece.model` -> Hugging Face `tokenizer.json` laid out as T5's (no transformers needed).

T5 layout: the SentencePiece pieces keep their ids (<pad>=0, </s>=1, <unk>=2 when trained with those ids), then
<extra_id_99> ... <extra_id_0> are appended (so <extra_id_0> is the highest sentinel id), then `<sep>` is added as a
NON-special token (decoding with skip_special_tokens keeps it). Encoding appends `</s>`.
The protobuf is parsed by hand (the fields used are few), so only the `tokenizers` package is needed.
"""
import struct

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """Yield (field_number, wire_type, value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, val


def read_spm(path):
    buf = open(path, "rb").read()
    pieces, charsmap, unk_id = [], b"", 0
    for field, _, val in _fields(buf):
        if field == 1:  # SentencePiece
            piece, score, typ = "", 0.0, 1
            for f, _, v in _fields(val):
                if f == 1:
                    piece = v.decode("utf-8")
                elif f == 2:
                    score = struct.unpack("<f", v)[0]
                elif f == 3:
                    typ = v
            if typ == 2:
                unk_id = len(pieces)
            pieces.append((piece, score, typ))
        elif field == 3:  # NormalizerSpec
            for f, _, v in _fields(val):
                if f == 2:
                    charsmap = bytes(v)
    return pieces, charsmap, unk_id


def spm_to_t5_tokenizer(spm_path, extra_ids=100, sep="<sep>"):
    pieces, charsmap, unk_id = read_spm(spm_path)
    vocab = [(p, s) for p, s, _ in pieces] + [(f"<extra_id_{i}>", 0.0) for i in range(extra_ids - 1, -1, -1)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    norms = [normalizers.Replace(Regex(" {2,}"), " ")]
    if charsmap:
        norms.insert(0, normalizers.Precompiled(charsmap))
    tok.normalizer = normalizers.Sequence(norms)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    eos_id = next(i for i, (p, _, _) in enumerate(pieces) if p == "</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", eos_id)])
    specials = [p for p, _, t in pieces if t in (2, 3)] + [f"<extra_id_{i}>" for i in range(extra_ids)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    # lstrip/rstrip absorb the spaces around <sep> so they do not become stray "▁" pieces
    tok.add_tokens([AddedToken(sep, special=False, normalized=False, lstrip=True, rstrip=True)])
    return tok
