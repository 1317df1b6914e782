#!/usr/bin/env python3
"""Export a cyclener (Hugging Face layout) T5 model folder to ONNX, fp32, in the layout transformers.js and optimum load:

  OUT/onnx/encoder_model.onnx            input_ids, attention_mask -> last_hidden_state
  OUT/onnx/decoder_model.onnx            encoder_attention_mask, input_ids, encoder_hidden_states
                                         -> logits, present.{i}.{decoder,encoder}.{key,value}
  OUT/onnx/decoder_with_past_model.onnx  encoder_attention_mask, input_ids, past_key_values.{i}.{decoder,encoder}.{key,value}
                                         -> logits, present.{i}.decoder.{key,value}
  OUT/onnx/decoder_model_merged.onnx     both decoders behind one If on `use_cache_branch` (weights stored once): what
                                         transformers.js runs; in the cache branch the encoder presents are placeholders
                                         (callers keep the past ones, as optimum and transformers.js do)
  OUT/config.json, generation_config.json, tokenizer_config.json (+ cyclener.json, spiece.model if present); the
  tokenizer.json is cyclener's to write (src/api/export.ts: the tokenizer as cyclener encodes, <sep> and </s> included)

Usage: /usr/bin/python3 tools/onnx/export_t5.py MODEL_DIR OUT_DIR [--opset N]
Needs PyTorch (Debian: python3-torch) and onnx (python3-onnx). OUT_DIR must be empty or absent: `cyclener export --onnx`
(src/api/export.ts) runs this into a temp folder and moves the files into place. The T5 here follows Hugging Face's
modeling_t5 (as bench/jobs_twin.py does) with the same weights, read from model.safetensors (bf16/fp16 upcast to fp32).
Errors: one line on stderr naming the file and the problem, exit 2 for a bad model folder, 1 for anything else.
"""
import argparse, hashlib, json, math, os, shutil, struct, sys

EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """A problem with the model folder: `file` and `problem` (printed as "FILE: PROBLEM", exit 2)."""
    def __init__(s, file, problem):
        super().__init__(f'{file}: {problem}'); s.file = file; s.problem = problem


def die(msg, code=1):
    print(f'export_t5: {msg}', file=sys.stderr)
    sys.exit(code)


try:
    import torch, torch.nn as nn, torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    die(f'PyTorch is not installed for {sys.executable} ({e}); on Debian: apt-get install python3-torch')
try:
    import onnx
    from onnx import helper, TensorProto
except ImportError as e:  # pragma: no cover
    die(f'the onnx package is not installed for {sys.executable} ({e}); on Debian: apt-get install python3-onnx')

MIN = torch.finfo(torch.float32).min


# ------------------------------------------------------------------ reading the model folder

def read_json(path, what):
    try:
        with open(path, encoding='utf-8') as f:
            v = json.load(f)
    except FileNotFoundError:
        raise BadInput(path, f'missing ({what})')
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(path, f'not valid JSON ({e})')
    if not isinstance(v, dict):
        raise BadInput(path, f'expected a JSON object')
    return v


def read_config(model_dir):
    path = os.path.join(model_dir, 'config.json')
    c = read_json(path, 'the T5 config')
    if c.get('model_type', 't5') != 't5':
        raise BadInput(path, f'model_type is {c.get("model_type")!r}, only T5 models export')
    def pos_int(k, dflt=None):
        v = c.get(k, dflt)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise BadInput(path, f'"{k}" must be a positive integer, got {v!r}')
        return v
    cfg = {
        'd_model': pos_int('d_model'), 'd_kv': pos_int('d_kv'), 'num_heads': pos_int('num_heads'),
        'd_ff': pos_int('d_ff'), 'vocab_size': pos_int('vocab_size'), 'num_layers': pos_int('num_layers'),
        'num_decoder_layers': pos_int('num_decoder_layers', c.get('num_layers')),
        'num_buckets': pos_int('relative_attention_num_buckets', 32),
        'max_distance': pos_int('relative_attention_max_distance', 128),
        'eps': float(c.get('layer_norm_epsilon', 1e-6)),
        'proj': c.get('feed_forward_proj', 'relu'),
        'tied': c.get('tie_word_embeddings', True),
        'pad': c.get('pad_token_id', 0), 'eos': c.get('eos_token_id', 1),
        'start': c.get('decoder_start_token_id', 0),
    }
    cfg['scale_out'] = c.get('scale_decoder_outputs', cfg['tied'])
    if not isinstance(cfg['proj'], str):
        raise BadInput(path, f'feed_forward_proj must be a string, got {cfg["proj"]!r}')
    if not isinstance(cfg['tied'], bool) or not isinstance(cfg['scale_out'], bool):
        raise BadInput(path, 'tie_word_embeddings and scale_decoder_outputs must be true or false')
    parts = cfg['proj'].split('-')
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != 'gated'):
        raise BadInput(path, f'feed_forward_proj {cfg["proj"]!r} is not "ACT" or "gated-ACT"')
    cfg['gated'] = len(parts) == 2
    act = 'gelu_new' if cfg['proj'] == 'gated-gelu' else parts[-1]
    if act not in ('relu', 'gelu', 'gelu_new'):
        raise BadInput(path, f'activation {act!r} is not supported (relu, gelu, gelu_new)')
    cfg['act'] = act
    return c, cfg


def read_safetensors(path):
    # 8-byte little-endian header length, JSON header, raw little-endian data; bf16/fp16 upcast to fp32 as cyclener does
    try:
        with open(path, 'rb') as f:
            buf = f.read()
    except FileNotFoundError:
        raise BadInput(path, f'missing (the weights)')
    if len(buf) < 8:
        raise BadInput(path, f'not a safetensors file (too short)')
    n = struct.unpack('<Q', buf[:8])[0]
    try:
        header = json.loads(buf[8:8 + n])
    except Exception as e:
        raise BadInput(path, f'not a safetensors file (bad header: {e})')
    dt = {'F32': torch.float32, 'BF16': torch.bfloat16, 'F16': torch.float16}
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        if v.get('dtype') not in dt:
            raise BadInput(path, f'tensor {k} has dtype {v.get("dtype")}, expected F32, BF16 or F16')
        a, b = v['data_offsets']
        if 8 + n + b > len(buf):
            raise BadInput(path, f'tensor {k} lies past the end of the file (truncated?)')
        t = torch.frombuffer(bytearray(buf[8 + n + a:8 + n + b]), dtype=dt[v['dtype']]) if b > a else torch.empty(0)
        t = t.reshape(v['shape']).float()
        if not torch.isfinite(t).all():
            raise BadInput(path, f'tensor {k} holds NaN or Inf')
        out[k] = t
    return out


# ------------------------------------------------------------------ the model (Hugging Face modeling_t5, inference only)

class Norm(nn.Module):
    def __init__(s, d, eps):
        super().__init__(); s.weight = nn.Parameter(torch.ones(d)); s.eps = eps

    def forward(s, x):
        return s.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + s.eps))


class Attention(nn.Module):
    def __init__(s, c, bias):
        super().__init__()
        D, I = c['d_model'], c['num_heads'] * c['d_kv']
        s.H, s.K = c['num_heads'], c['d_kv']
        s.q, s.k, s.v = (nn.Linear(D, I, bias=False) for _ in range(3)); s.o = nn.Linear(I, D, bias=False)
        if bias:
            s.relative_attention_bias = nn.Embedding(c['num_buckets'], s.H)

    def heads(s, x):
        return x.view(x.shape[0], -1, s.H, s.K).transpose(1, 2)

    def kv(s, x):
        return s.heads(s.k(x)), s.heads(s.v(x))

    def forward(s, x, k, v, bias):
        sc = torch.matmul(s.heads(s.q(x)), k.transpose(2, 3)) + bias  # no 1/sqrt(d_kv): T5 folds it into q
        w = F.softmax(sc, -1)
        return s.o(torch.matmul(w, v).transpose(1, 2).reshape(x.shape[0], -1, s.H * s.K))


class SelfLayer(nn.Module):
    def __init__(s, c, bias):
        super().__init__(); s.SelfAttention = Attention(c, bias); s.layer_norm = Norm(c['d_model'], c['eps'])


class CrossLayer(nn.Module):
    def __init__(s, c):
        super().__init__(); s.EncDecAttention = Attention(c, False); s.layer_norm = Norm(c['d_model'], c['eps'])


class Dense(nn.Module):
    def __init__(s, c):
        super().__init__()
        D, FF = c['d_model'], c['d_ff']
        s.gated, s.act = c['gated'], c['act']
        if s.gated:
            s.wi_0 = nn.Linear(D, FF, bias=False); s.wi_1 = nn.Linear(D, FF, bias=False)
        else:
            s.wi = nn.Linear(D, FF, bias=False)
        s.wo = nn.Linear(FF, D, bias=False)

    def f(s, x):
        if s.act == 'relu':
            return F.relu(x)
        return F.gelu(x, approximate='tanh' if s.act == 'gelu_new' else 'none')

    def forward(s, x):
        return s.wo(s.f(s.wi_0(x)) * s.wi_1(x) if s.gated else s.f(s.wi(x)))


class FFLayer(nn.Module):
    def __init__(s, c):
        super().__init__(); s.DenseReluDense = Dense(c); s.layer_norm = Norm(c['d_model'], c['eps'])


class Block(nn.Module):
    def __init__(s, c, dec, bias):
        super().__init__()
        s.layer = nn.ModuleList([SelfLayer(c, bias)] + ([CrossLayer(c)] if dec else []) + [FFLayer(c)])


class Stack(nn.Module):
    def __init__(s, c, dec, n):
        super().__init__()
        s.block = nn.ModuleList([Block(c, dec, i == 0) for i in range(n)])
        s.final_layer_norm = Norm(c['d_model'], c['eps'])


class T5(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.c = c
        s.shared = nn.Embedding(c['vocab_size'], c['d_model'])
        s.encoder = Stack(c, False, c['num_layers'])
        s.decoder = Stack(c, True, c['num_decoder_layers'])
        if not c['tied']:
            s.lm_head = nn.Linear(c['d_model'], c['vocab_size'], bias=False)

    def bucket(s, rp, bidir):
        # HF T5Attention._relative_position_bucket; the log branch in float32, as cyclener's model.ts
        NB, MD = s.c['num_buckets'], s.c['max_distance']
        b = torch.zeros_like(rp); n = NB
        if bidir:
            n //= 2; b = (rp > 0).long() * n; rp = rp.abs()
        else:
            rp = -torch.min(rp, torch.zeros_like(rp))
        me = n // 2
        large = me + (torch.log(rp.float() / me) / math.log(MD / me) * (n - me)).long()
        large = torch.min(large, torch.full_like(large, n - 1))
        return b + torch.where(rp < me, rp, large)

    def pbias(s, stack, rp, bidir):
        return stack.block[0].layer[0].SelfAttention.relative_attention_bias(s.bucket(rp, bidir)).permute(2, 0, 1).unsqueeze(0)

    @staticmethod
    def mask_bias(mask):
        return (1.0 - mask[:, None, None, :].float()) * MIN

    def encode(s, ids, mask):
        h = s.shared(ids)
        pos = torch.arange(ids.shape[1], dtype=torch.long)
        bias = s.pbias(s.encoder, pos[None, :] - pos[:, None], True) + s.mask_bias(mask)
        for b in s.encoder.block:
            sl, fl = b.layer[0], b.layer[-1]
            x = sl.layer_norm(h); k, v = sl.SelfAttention.kv(x)
            h = h + sl.SelfAttention(x, k, v, bias)
            h = h + fl.DenseReluDense(fl.layer_norm(h))
        return s.encoder.final_layer_norm(h)

    def decode(s, ids, enc_mask, cross, past):
        """ids [b, t] at positions past_len .. past_len+t-1; cross: per layer (k, v) of the encoder output; past: per
        layer (k, v) of the earlier decoder positions, or None. Returns logits [b, t, V] and per layer the new (k, v)."""
        t = ids.shape[1]
        q_pos = torch.arange(t, dtype=torch.long)
        if past is not None:
            past_len = past[0][0].shape[2]
            q_pos = q_pos + past_len
            k_pos = torch.arange(past_len + t, dtype=torch.long)
        else:
            k_pos = torch.arange(t, dtype=torch.long)
        rp = k_pos[None, :] - q_pos[:, None]
        bias = s.pbias(s.decoder, rp, False) + (rp > 0).float()[None, None] * MIN  # causal
        mb = s.mask_bias(enc_mask)
        h = s.shared(ids)
        new = []
        for i, b in enumerate(s.decoder.block):
            sl, cl, fl = b.layer
            x = sl.layer_norm(h); k, v = sl.SelfAttention.kv(x)
            if past is not None:
                k = torch.cat([past[i][0], k], 2); v = torch.cat([past[i][1], v], 2)
            new.append((k, v))
            h = h + sl.SelfAttention(x, k, v, bias)
            h = h + cl.EncDecAttention(cl.layer_norm(h), cross[i][0], cross[i][1], mb)
            h = h + fl.DenseReluDense(fl.layer_norm(h))
        h = s.decoder.final_layer_norm(h)
        if s.c['scale_out']:
            h = h * s.c['d_model'] ** -0.5
        # 2-D F.linear exports as Gemm(transB=1): the tied embedding is stored once, not again transposed
        w = s.shared.weight if s.c['tied'] else s.lm_head.weight
        logits = F.linear(h.reshape(-1, h.shape[-1]), w).reshape(h.shape[0], t, -1)
        return logits, new

    def cross(s, enc):
        return [b.layer[1].EncDecAttention.kv(enc) for b in s.decoder.block]


def load_model(model_dir, cfg):
    path = os.path.join(model_dir, 'model.safetensors')
    weights = read_safetensors(path)
    m = T5(cfg)
    sd = m.state_dict()
    if cfg['tied'] and 'shared.weight' not in weights:
        for alt in ('encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'):
            if alt in weights:
                weights['shared.weight'] = weights[alt]; break
    missing = sorted(k for k in sd if k not in weights)
    if missing:
        raise BadInput(path, f'tensors missing for this config.json: {", ".join(missing[:5])}'
                       + (f' and {len(missing) - 5} more' if len(missing) > 5 else ''))
    for k in sd:
        if tuple(weights[k].shape) != tuple(sd[k].shape):
            raise BadInput(path, f'tensor {k} has shape {list(weights[k].shape)}, config.json says {list(sd[k].shape)}')
    m.load_state_dict({k: weights[k] for k in sd})
    return m.eval()


# ------------------------------------------------------------------ export wrappers

class Encoder(nn.Module):
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, input_ids, attention_mask): return s.m.encode(input_ids, attention_mask)


class Decoder(nn.Module):  # no past: computes the cross-attention keys/values from the encoder output
    def __init__(s, m): super().__init__(); s.m = m
    def forward(s, encoder_attention_mask, input_ids, encoder_hidden_states):
        cross = s.m.cross(encoder_hidden_states)
        logits, new = s.m.decode(input_ids, encoder_attention_mask, cross, None)
        out = [logits]
        for (k, v), (ck, cv) in zip(new, cross): out += [k, v, ck, cv]
        return tuple(out)


class DecoderWithPast(nn.Module):
    def __init__(s, m): super().__init__(); s.m = m; s.n = m.c['num_decoder_layers']
    def forward(s, encoder_attention_mask, input_ids, *pkv):
        past = [(pkv[4 * i], pkv[4 * i + 1]) for i in range(s.n)]
        cross = [(pkv[4 * i + 2], pkv[4 * i + 3]) for i in range(s.n)]
        logits, new = s.m.decode(input_ids, encoder_attention_mask, cross, past)
        out = [logits]
        for k, v in new: out += [k, v]
        return tuple(out)


def pkv_names(prefix, n, with_encoder=True):
    out = []
    for i in range(n):
        out += [f'{prefix}.{i}.decoder.key', f'{prefix}.{i}.decoder.value']
        if with_encoder: out += [f'{prefix}.{i}.encoder.key', f'{prefix}.{i}.encoder.value']
    return out


def export_all(m, cfg, onnx_dir, opset):
    n, H, K = cfg['num_decoder_layers'], cfg['num_heads'], cfg['d_kv']
    b, s, t, p = 2, 7, 1, 3  # example sizes; every one of them is a dynamic axis
    ids = torch.randint(2, cfg['vocab_size'], (b, s)); mask = torch.ones(b, s, dtype=torch.long); mask[1, 5:] = 0
    enc = m.encode(ids, mask)
    dec_ids = torch.full((b, t), cfg['start'], dtype=torch.long)
    common = dict(opset_version=opset, do_constant_folding=True, export_params=True)
    # Names of the symbolic axes as optimum writes them (transformers.js sizes an empty cache from them: heads and d_kv
    # stay fixed numbers).
    torch.onnx.export(Encoder(m), (ids, mask), os.path.join(onnx_dir, 'encoder_model.onnx'),
                      input_names=['input_ids', 'attention_mask'], output_names=['last_hidden_state'],
                      dynamic_axes={'input_ids': {0: 'batch_size', 1: 'encoder_sequence_length'},
                                    'attention_mask': {0: 'batch_size', 1: 'encoder_sequence_length'},
                                    'last_hidden_state': {0: 'batch_size', 1: 'encoder_sequence_length'}}, **common)
    presents = pkv_names('present', n)
    dyn = {'encoder_attention_mask': {0: 'batch_size', 1: 'encoder_sequence_length'},
           'input_ids': {0: 'batch_size', 1: 'decoder_sequence_length'},
           'encoder_hidden_states': {0: 'batch_size', 1: 'encoder_sequence_length'},
           'logits': {0: 'batch_size', 1: 'decoder_sequence_length'}}
    for nm in presents:
        dyn[nm] = {0: 'batch_size', 2: 'decoder_sequence_length' if '.decoder.' in nm else 'encoder_sequence_length_out'}
    torch.onnx.export(Decoder(m), (mask, dec_ids, enc), os.path.join(onnx_dir, 'decoder_model.onnx'),
                      input_names=['encoder_attention_mask', 'input_ids', 'encoder_hidden_states'],
                      output_names=['logits'] + presents, dynamic_axes=dyn, **common)
    pasts = pkv_names('past_key_values', n)
    pkv = []
    for i in range(n):
        pkv += [torch.randn(b, H, p, K), torch.randn(b, H, p, K), torch.randn(b, H, s, K), torch.randn(b, H, s, K)]
    dyn = {'encoder_attention_mask': {0: 'batch_size', 1: 'encoder_sequence_length'},
           'input_ids': {0: 'batch_size', 1: 'decoder_sequence_length'},
           'logits': {0: 'batch_size', 1: 'decoder_sequence_length'}}
    for nm in pasts:
        dyn[nm] = {0: 'batch_size', 2: 'past_decoder_sequence_length' if '.decoder.' in nm else 'encoder_sequence_length_out'}
    for nm in pkv_names('present', n, with_encoder=False):
        dyn[nm] = {0: 'batch_size', 2: 'past_decoder_sequence_length + 1'}
    torch.onnx.export(DecoderWithPast(m), (mask, dec_ids, *pkv), os.path.join(onnx_dir, 'decoder_with_past_model.onnx'),
                      input_names=['encoder_attention_mask', 'input_ids'] + pasts,
                      output_names=['logits'] + pkv_names('present', n, with_encoder=False), dynamic_axes=dyn, **common)


def store_transposes_once(path):
    """torch's constant folding stores a weight used by both a Gather and a MatMul twice (the tied embedding: the
    lookup's [V, D] and the LM head's [D, V]): keep one and compute the other with a Transpose node, which ONNX Runtime
    folds again when it loads the model. Only large weights are looked at."""
    from onnx import numpy_helper
    m = onnx.load(path)
    g = m.graph
    arrs = {t.name: numpy_helper.to_array(t) for t in g.initializer if len(t.dims) == 2 and t.raw_data and len(t.raw_data) >= 1 << 20}
    by_content = {(a.shape, hashlib.sha256(a.tobytes()).hexdigest()): n for n, a in arrs.items()}
    swap = {}
    for n, a in arrs.items():
        if n in swap.values():
            continue
        other = by_content.get((a.T.shape, hashlib.sha256(a.T.copy().tobytes()).hexdigest()))
        if other is not None and other != n and other not in swap:
            swap[n] = other  # n = transpose(other)
    if not swap:
        return
    keep = [t for t in g.initializer if t.name not in swap]
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = [helper.make_node('Transpose', [src], [dst], name=f'transpose_of/{src}', perm=[1, 0]) for dst, src in swap.items()]
    rest = list(g.node)
    del g.node[:]
    g.node.extend(nodes + rest)
    onnx.checker.check_model(m)
    onnx.save(m, path)


# ------------------------------------------------------------------ the merged decoder

def merge_decoders(no_past, with_past, cfg):
    """One model with an If on `use_cache_branch` (true: with_past's graph, false: no_past's), each branch's weights moved
    to the outer graph and shared where equal (all of them, for T5). Outputs: logits and every present; the cache branch
    fills the encoder presents with a small placeholder, which callers ignore (they keep the past encoder keys/values)."""
    H, K = cfg['num_heads'], cfg['d_kv']
    outer_inits, by_content = [], {}

    def hoist(graph, tag):
        rename = {}
        for t in graph.initializer:
            c = onnx.TensorProto(); c.CopyFrom(t); c.name = ''
            key = hashlib.sha256(c.SerializeToString()).hexdigest()
            if key not in by_content:
                new = onnx.TensorProto(); new.CopyFrom(t); new.name = f'w{len(outer_inits)}'
                outer_inits.append(new); by_content[key] = new.name
            rename[t.name] = by_content[key]
        inputs = {i.name for i in graph.input}
        for node in graph.node:
            if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
                raise RuntimeError('merge_decoders: nested subgraphs are not handled')
            for j, x in enumerate(node.input):
                if x in rename: node.input[j] = rename[x]
                elif x and x not in inputs: node.input[j] = f'{tag}/{x}'
            for j, x in enumerate(node.output):
                if x: node.output[j] = f'{tag}/{x}'
            node.name = f'{tag}/{node.name}'
        for o in graph.output:
            if o.name in inputs or o.name in rename:
                raise RuntimeError(f'merge_decoders: output {o.name} is an input or a weight')
            o.name = f'{tag}/{o.name}'
        del graph.initializer[:]
        return graph

    g0 = hoist(onnx.GraphProto.FromString(no_past.graph.SerializeToString()), 'nopast')
    g1 = hoist(onnx.GraphProto.FromString(with_past.graph.SerializeToString()), 'past')
    names0 = [o.name.split('/', 1)[1] for o in g0.output]  # logits, present.{i}.{decoder,encoder}.{key,value}
    names1 = {o.name.split('/', 1)[1]: o for o in g1.output}
    # then-branch outputs in the else-branch's order; the encoder presents are one shared placeholder
    placeholder = 'past/encoder_present_placeholder'
    then_outputs = []
    need_ph = False
    for nm in names0:
        if nm in names1:
            then_outputs.append(names1[nm])
        else:
            need_ph = True
            then_outputs.append(helper.make_tensor_value_info(f'past/{nm}', TensorProto.FLOAT, None))
    then_nodes = list(g1.node)
    if need_ph:
        then_nodes.append(helper.make_node('Constant', [], [placeholder], name='past/placeholder',
                                           value=helper.make_tensor('ph', TensorProto.FLOAT, [1, H, 1, K], [0.0] * (H * K))))
        for nm in names0:
            if nm not in names1:
                then_nodes.append(helper.make_node('Identity', [placeholder], [f'past/{nm}'], name=f'past/id/{nm}'))
    then_g = helper.make_graph(then_nodes, 'with_past', [], then_outputs)
    else_g = helper.make_graph(list(g0.node), 'no_past', [], list(g0.output))
    # both branches' outputs untyped in shape (they differ: the placeholder), element type kept
    for g in (then_g, else_g):
        for o in g.output:
            elem = o.type.tensor_type.elem_type or TensorProto.FLOAT
            o.type.CopyFrom(helper.make_tensor_type_proto(elem, None))
    # outer inputs: the no-past decoder's, then the with-past one's past_key_values, then use_cache_branch
    inputs = list(no_past.graph.input)
    seen = {i.name for i in inputs}
    for i in with_past.graph.input:
        if i.name not in seen:
            inputs.append(i); seen.add(i.name)
    inputs.append(helper.make_tensor_value_info('use_cache_branch', TensorProto.BOOL, [1]))
    outputs = []
    for o in no_past.graph.output:
        v = onnx.ValueInfoProto(); v.CopyFrom(o)
        if '.encoder.' in o.name or '.decoder.' in o.name:
            dims = ['batch_size', H, 'encoder_sequence_length_out' if '.encoder.' in o.name else 'present_decoder_sequence_length', K]
            v = helper.make_tensor_value_info(o.name, TensorProto.FLOAT, dims)
        outputs.append(v)
    node = helper.make_node('If', ['use_cache_branch'], [o.name for o in outputs], name='optimum::if',
                            then_branch=then_g, else_branch=else_g)
    graph = helper.make_graph([node], 'decoder_model_merged', inputs, outputs, initializer=outer_inits)
    opset = [o for o in no_past.opset_import]
    merged = helper.make_model(graph, opset_imports=opset, producer_name='cyclener export_t5.py')
    merged.ir_version = no_past.ir_version
    onnx.checker.check_model(merged)
    return merged


# ------------------------------------------------------------------ the folder

def tokenizer_config(cfg, model_dir):
    # transformers.js reads tokenizer_config.json beside tokenizer.json; T5's own special tokens
    return {'tokenizer_class': 'T5Tokenizer', 'model_max_length': 512, 'pad_token': '<pad>', 'eos_token': '</s>',
            'unk_token': '<unk>', 'clean_up_tokenization_spaces': False}


def main():
    ap = argparse.ArgumentParser(description='Export a T5 model folder to ONNX (transformers.js layout), fp32')
    ap.add_argument('model_dir'); ap.add_argument('out_dir')
    ap.add_argument('--opset', type=int, default=14)
    a = ap.parse_args()
    torch.set_num_threads(max(1, int(os.environ.get('CYCLENER_THREADS', '1') or 1)))
    torch.manual_seed(0)
    model_dir, out = a.model_dir, a.out_dir
    try:
        if not os.path.isdir(model_dir):
            raise BadInput(model_dir, f'not a folder')
        raw_cfg, cfg = read_config(model_dir)
        m = load_model(model_dir, cfg)
    except BadInput as e:
        print(json.dumps({'error': {'file': e.file, 'problem': e.problem}}), flush=True)
        die(str(e), EXIT_BAD_INPUT)
    if os.path.exists(out) and os.listdir(out):
        die(f'{out}: not empty (export_t5.py writes into an empty or new folder)')
    onnx_dir = os.path.join(out, 'onnx')
    os.makedirs(onnx_dir, exist_ok=True)
    with torch.no_grad():
        export_all(m, cfg, onnx_dir, a.opset)
    for f in ('encoder_model.onnx', 'decoder_model.onnx', 'decoder_with_past_model.onnx'):
        store_transposes_once(os.path.join(onnx_dir, f))
    no_past = onnx.load(os.path.join(onnx_dir, 'decoder_model.onnx'))
    with_past = onnx.load(os.path.join(onnx_dir, 'decoder_with_past_model.onnx'))
    for f in ('encoder_model.onnx', 'decoder_model.onnx', 'decoder_with_past_model.onnx'):
        onnx.checker.check_model(os.path.join(onnx_dir, f))
    onnx.save(merge_decoders(no_past, with_past, cfg), os.path.join(onnx_dir, 'decoder_model_merged.onnx'))
    # config.json as it was (transformers.js reads model_type, layers, heads, d_kv, ids from it)
    shutil.copyfile(os.path.join(model_dir, 'config.json'), os.path.join(out, 'config.json'))
    gen = os.path.join(model_dir, 'generation_config.json')
    g = read_json(gen, 'generation config') if os.path.isfile(gen) else {}
    g = {'decoder_start_token_id': cfg['start'], 'eos_token_id': cfg['eos'], 'pad_token_id': cfg['pad'], **g}
    with open(os.path.join(out, 'generation_config.json'), 'w') as f:
        json.dump(g, f, indent=2); f.write('\n')
    for name in ('spiece.model', 'cyclener.json', 'special_tokens_map.json'):
        if os.path.isfile(os.path.join(model_dir, name)):
            shutil.copyfile(os.path.join(model_dir, name), os.path.join(out, name))
    tc = os.path.join(model_dir, 'tokenizer_config.json')
    if os.path.isfile(tc):
        shutil.copyfile(tc, os.path.join(out, 'tokenizer_config.json'))
    else:
        with open(os.path.join(out, 'tokenizer_config.json'), 'w') as f:
            json.dump(tokenizer_config(cfg, model_dir), f, indent=2); f.write('\n')
    print(json.dumps({'ok': True, 'torch': torch.__version__, 'onnx': onnx.__version__, 'opset': a.opset,
                      'files': sorted(os.path.relpath(os.path.join(d, x), out) for d, _, fs in os.walk(out) for x in fs)}))


if __name__ == '__main__':
    main()
