// T5 tokenizer on Hugging Face `tokenizers` (Node binding): loads tokenizer.json, or builds one
// from a SentencePiece spiece.model the way transformers' T5 converter does.
// EOS handling is done here (not by the post-processor) so truncation always keeps `</s>`.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from 'tokenizers';
import { CharNormalizer, identityText, type NormalizedText } from './normalize';

export const SEP_TOKEN = '<sep>';

export interface EncodeOptions {
  /** Append `</s>` (default true, as T5 does). */
  addEos?: boolean;
  /** Truncate to this many tokens, `</s>` included. */
  maxLength?: number;
  /** Map characters the vocabulary lacks first (default true; see `normalize`). False = the raw HF tokenizer. */
  normalize?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (default true); `<sep>` is not special and stays. */
  skipSpecialTokens?: boolean;
  /** Cut at the first `</s>` (default true). */
  stopAtEos?: boolean;
  /** Rewrite the spacing around `<sep>` to exactly " <sep> " (default true), so "a <sep> b" round-trips. */
  canonicalSep?: boolean;
}

export interface PaddedBatch {
  /** [batch * length] row-major, padded with pad id on the right. */
  ids: Int32Array;
  /** [batch * length], 1 for tokens, 0 for padding. */
  mask: Int32Array;
  batch: number;
  length: number;
}

export class T5Tokenizer {
  readonly padId: number;
  readonly eosId: number;
  readonly unkId: number;
  /** Id of `<sep>`, or -1 when the vocabulary lacks it. */
  readonly sepId: number;
  private readonly specialIds: Set<number>;
  /** Maps characters the vocabulary lacks (é→e, emoji→space) before encoding; null when it spells them all. */
  readonly normalizer: CharNormalizer | null;

  private constructor(
    readonly inner: Tokenizer,
    readonly json: string,
  ) {
    const id = (t: string) => inner.tokenToId(t);
    const need = (t: string) => {
      const v = id(t);
      if (v === null || v === undefined) throw new Error(`tokenizer: vocabulary has no "${t}"`);
      return v;
    };
    this.padId = need('<pad>');
    this.eosId = need('</s>');
    this.unkId = need('<unk>');
    this.sepId = id(SEP_TOKEN) ?? -1;
    const parsed = JSON.parse(json) as { added_tokens?: Array<{ id: number; special: boolean }> };
    this.specialIds = new Set((parsed.added_tokens ?? []).filter((t) => t.special).map((t) => t.id));
    this.normalizer = CharNormalizer.fromTokenizerJson(parsed as Record<string, unknown>);
  }

  static fromJSON(json: string): T5Tokenizer {
    return new T5Tokenizer(Tokenizer.fromString(json), json);
  }

  static fromFile(file: string): T5Tokenizer {
    return T5Tokenizer.fromJSON(fs.readFileSync(file, 'utf8'));
  }

  /** tokenizer.json if present, else built from spiece.model (with `<sep>` added). */
  static fromDir(dir: string): T5Tokenizer {
    const tj = path.join(dir, 'tokenizer.json');
    if (fs.existsSync(tj)) return T5Tokenizer.fromFile(tj);
    const sp = path.join(dir, 'spiece.model');
    if (fs.existsSync(sp))
      return T5Tokenizer.fromJSON(tokenizerJsonFromSpiece(fs.readFileSync(sp), { addTokens: [SEP_TOKEN] }));
    throw new Error(`no tokenizer.json or spiece.model in ${dir}`);
  }

  /** Add `<sep>` (non-special: decoding with skipSpecialTokens keeps it) when missing; returns a new tokenizer. */
  withSep(): T5Tokenizer {
    if (this.sepId >= 0) return this;
    return T5Tokenizer.fromJSON(addTokensToJson(this.json, [SEP_TOKEN]));
  }

  /** Vocabulary size including added tokens (may be below the model's padded vocab_size). */
  get vocabSize(): number {
    return this.inner.getVocabSize(true);
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /**
   * The text the model sees, with a map back to `text`: every encode goes through this, so training,
   * grounding and prediction agree. Identity when the vocabulary needs no normalisation.
   */
  normalize(text: string): NormalizedText {
    return this.normalizer ? this.normalizer.normalize(text) : identityText(text);
  }

  save(file: string): void {
    fs.writeFileSync(file, this.json);
  }

  async encode(text: string, opts: EncodeOptions = {}): Promise<number[]> {
    return (await this.encodeBatch([text], opts))[0];
  }

  async encodeBatch(texts: string[], opts: EncodeOptions = {}): Promise<number[][]> {
    const addEos = opts.addEos ?? true;
    if (opts.maxLength !== undefined && opts.maxLength < (addEos ? 1 : 0))
      throw new Error(`tokenizer: maxLength ${opts.maxLength} too small`);
    if (texts.length === 0) return [];
    const norm = this.normalizer && opts.normalize !== false ? this.normalizer : null;
    const encs = await this.inner.encodeBatch(norm ? texts.map((t) => norm.normalizeString(t)) : texts, {
      addSpecialTokens: false,
    });
    return encs.map((e) => {
      let ids = e.getIds();
      if (opts.maxLength !== undefined) ids = ids.slice(0, opts.maxLength - (addEos ? 1 : 0));
      return addEos ? [...ids, this.eosId] : ids;
    });
  }

  /** Right-pad to the longest sequence (or `toLength`). */
  pad(seqs: number[][], toLength?: number): PaddedBatch {
    const length = toLength ?? Math.max(1, ...seqs.map((s) => s.length));
    const ids = new Int32Array(seqs.length * length).fill(this.padId);
    const mask = new Int32Array(seqs.length * length);
    seqs.forEach((s, b) => {
      if (s.length > length) throw new Error(`tokenizer.pad: sequence ${b} has ${s.length} tokens > length ${length}`);
      ids.set(s, b * length);
      mask.fill(1, b * length, b * length + s.length);
    });
    return { ids, mask, batch: seqs.length, length };
  }

  async encodePadded(texts: string[], opts: EncodeOptions = {}): Promise<PaddedBatch> {
    return this.pad(await this.encodeBatch(texts, opts));
  }

  /**
   * Decode generated ids: stops at the first `</s>` (T5 output convention), drops padding,
   * and with skipSpecialTokens (default) drops special tokens but keeps `<sep>`.
   */
  async decodeBatch(seqs: ArrayLike<number>[], opts: DecodeOptions = {}): Promise<string[]> {
    const skip = opts.skipSpecialTokens ?? true;
    const stop = opts.stopAtEos ?? true;
    const canon = (opts.canonicalSep ?? true) && this.sepId >= 0;
    const cut = seqs.map((s) => {
      const a = Array.from(s);
      const e = stop ? a.indexOf(this.eosId) : -1;
      return e >= 0 ? a.slice(0, e) : a;
    });
    if (cut.length === 0) return [];
    const out = await this.inner.decodeBatch(cut, skip);
    // <sep> swallows the spaces around it when encoding; decoding restores the canonical " <sep> ".
    return canon ? out.map((t) => (t.includes(SEP_TOKEN) ? t.replace(/\s*<sep>\s*/g, ' <sep> ').trim() : t)) : out;
  }

  async decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): Promise<string> {
    return (await this.decodeBatch([ids], opts))[0];
  }
}

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

function addedToken(id: number, content: string, special: boolean): AddedTokenJson {
  if (content === SEP_TOKEN && !special) {
    // As tools/gpu/spm_convert.py: lstrip/rstrip absorb the spaces around <sep>, so they never become stray "▁" pieces.
    return { id, content, single_word: false, lstrip: true, rstrip: true, normalized: false, special: false };
  }
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special };
}

/** Append non-special added tokens (ids after the current vocab) to a tokenizer.json string. */
export function addTokensToJson(json: string, tokens: string[]): string {
  const j = JSON.parse(json) as { added_tokens: AddedTokenJson[]; model: { vocab: Array<[string, number]> } };
  const tok = Tokenizer.fromString(json);
  let next = tok.getVocabSize(true);
  for (const t of tokens) {
    if (tok.tokenToId(t) !== null && tok.tokenToId(t) !== undefined) continue;
    j.added_tokens.push(addedToken(next++, t, false));
  }
  return JSON.stringify(j, null, 2);
}

// ---- SentencePiece model (protobuf) ----

export interface SpmPiece {
  piece: string;
  score: number;
  /** 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
  type: number;
}

export interface SpmModel {
  pieces: SpmPiece[];
  modelType: number; // 1 unigram, 2 bpe
  unkId: number;
  byteFallback: boolean;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
}

class PbReader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
  ) {}
  varint(): number {
    let r = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('spiece.model: truncated varint');
      const b = this.buf[this.pos++];
      r += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return r;
      mul *= 128;
    }
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.end) throw new Error('spiece.model: truncated field');
    const s = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  float(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  /** Iterate fields: calls fn(field, wireType); fn must consume the value or call skip. */
  fields(fn: (field: number, wire: number) => void): void {
    while (this.pos < this.end) {
      const key = this.varint();
      fn(Math.floor(key / 8), key & 7);
    }
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`spiece.model: unsupported wire type ${wire}`);
  }
  sub(): PbReader {
    const b = this.bytes();
    return new PbReader(b);
  }
}

export function parseSpiece(buf: Uint8Array): SpmModel {
  const m: SpmModel = {
    pieces: [],
    modelType: 1,
    unkId: 0,
    byteFallback: false,
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
  };
  const r = new PbReader(buf);
  const dec = new TextDecoder();
  r.fields((f, w) => {
    if (f === 1 && w === 2) {
      const p = r.sub();
      const piece: SpmPiece = { piece: '', score: 0, type: 1 };
      p.fields((g, gw) => {
        if (g === 1 && gw === 2) piece.piece = dec.decode(p.bytes());
        else if (g === 2 && gw === 5) piece.score = p.float();
        else if (g === 3 && gw === 0) piece.type = p.varint();
        else p.skip(gw);
      });
      m.pieces.push(piece);
    } else if (f === 2 && w === 2) {
      const t = r.sub();
      t.fields((g, gw) => {
        if (g === 3 && gw === 0) m.modelType = t.varint();
        else if (g === 40 && gw === 0) m.unkId = t.varint();
        else if (g === 35 && gw === 0) m.byteFallback = t.varint() !== 0;
        else t.skip(gw);
      });
    } else if (f === 3 && w === 2) {
      const n = r.sub();
      n.fields((g, gw) => {
        if (g === 2 && gw === 2) m.precompiledCharsmap = n.bytes();
        else if (g === 3 && gw === 0) m.addDummyPrefix = n.varint() !== 0;
        else if (g === 4 && gw === 0) m.removeExtraWhitespaces = n.varint() !== 0;
        else n.skip(gw);
      });
    } else r.skip(w);
  });
  if (m.pieces.length === 0) throw new Error('spiece.model: no pieces');
  if (m.modelType !== 1) throw new Error(`spiece.model: model type ${m.modelType} is not Unigram (1)`);
  return m;
}

/**
 * tokenizer.json equivalent to transformers' T5TokenizerFast converted from `spiece.model`:
 * Unigram over the pieces + `<extra_id_99>`..`<extra_id_0>`, Precompiled normaliser + whitespace
 * collapsing, Metaspace pre-tokenizer/decoder, `$A </s>` post-processor.
 */
export function tokenizerJsonFromSpiece(
  buf: Uint8Array,
  opts: { extraIds?: number; addTokens?: string[] } = {},
): string {
  const spm = parseSpiece(buf);
  const extra = opts.extraIds ?? 100;
  const vocab: Array<[string, number]> = spm.pieces.map((p) => [p.piece, p.score]);
  for (let i = extra - 1; i >= 0; i--) vocab.push([`<extra_id_${i}>`, 0]);
  const added: AddedTokenJson[] = [];
  spm.pieces.forEach((p, i) => {
    if (p.type === 2 || p.type === 3) added.push(addedToken(i, p.piece, true));
  });
  for (let i = 0; i < extra; i++) added.push(addedToken(spm.pieces.length + extra - 1 - i, `<extra_id_${i}>`, true));
  added.sort((a, b) => a.id - b.id);
  let next = vocab.length;
  for (const t of opts.addTokens ?? []) added.push(addedToken(next++, t, false));
  const eosId = spm.pieces.findIndex((p) => p.piece === '</s>');
  if (eosId < 0) throw new Error('spiece.model: no </s> piece');
  const norms: unknown[] = [];
  if (spm.precompiledCharsmap.length > 0)
    norms.push({ type: 'Precompiled', precompiled_charsmap: Buffer.from(spm.precompiledCharsmap).toString('base64') });
  norms.push({ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' });
  const prepend = spm.addDummyPrefix ? 'always' : 'never';
  const j = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: norms },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: prepend, split: true },
    post_processor: t5EosPostProcessor(eosId),
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: prepend, split: true },
    model: { type: 'Unigram', unk_id: spm.unkId, vocab, byte_fallback: spm.byteFallback },
  };
  return JSON.stringify(j, null, 2);
}

/** tokenizer.json's post-processor of a T5 tokenizer: `</s>` (id `eosId`) after each sequence, as HF's T5 files have. */
export function t5EosPostProcessor(eosId: number): Record<string, unknown> {
  return {
    type: 'TemplateProcessing',
    single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: '</s>', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 0 } },
      { SpecialToken: { id: '</s>', type_id: 0 } },
    ],
    special_tokens: { '</s>': { id: '</s>', ids: [eosId], tokens: ['</s>'] } },
  };
}
