// Readers for the labelled formats (CoNLL-style columns, CoNLL-2012 *_conll, JSONL with character
// offsets) and the plain files the trainer reads (S: one sentence per line; Q: see entity-seq.ts).
// Every problem is a DataError naming file and line; nothing is dropped silently.

import { closeSync, createReadStream, openSync, readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { DataError } from './errors';
import { detokenize, tokenizeText } from './detok';
import { chunks, chunksToTags, detectScheme, parseTag, repairTags, validateTags } from './tags';
import type { Entity, LabeledSentence, Range, TagScheme } from './types';
import { formatEntitySequence, NONE_LINE, parseQLine, SEP, type SeqEntity } from './entity-seq';
import { codePointToUtf16, utf16ToCodePoint } from '../t5/normalize';

export type LabeledFormat = 'conll' | 'conll2012' | 'jsonl';

export interface ReadOptions {
  /** 'auto' (default) guesses from the file name and first line. */
  format?: LabeledFormat | 'auto';
  /** Column holding the tag (0-based; negative counts from the end). Default: last column. */
  tagColumn?: number;
  /** Column holding the word (0-based). Default 0. */
  tokenColumn?: number;
  /** Tag scheme; detected when absent. */
  scheme?: TagScheme;
  /** Re-encode invalid tag sequences from their conlleval reading (counted in `repairedTags`). */
  repair?: boolean;
  /** Unit of JSONL `start`/`end` (default utf16). */
  offsets?: OffsetUnit;
}

/**
 * Unit of JSONL character offsets. utf16 (the default): UTF-16 code units, i.e. JavaScript string
 * indices. codepoints: Unicode code points, i.e. Python `str` indices and spaCy character offsets.
 * They differ after any character outside the Basic Multilingual Plane (most emoji count 2 in utf16, 1 in codepoints).
 */
export type OffsetUnit = 'utf16' | 'codepoints';

export interface TagProblem {
  line: number;
  problem: string;
}

export interface LabeledCorpus {
  file: string;
  format: LabeledFormat;
  scheme: TagScheme;
  /** True when the scheme came from detection rather than the caller. */
  schemeDetected: boolean;
  sentences: LabeledSentence[];
  /** `-DOCSTART-` lines (CoNLL) or `#begin document` lines (CoNLL-2012). */
  documents: number;
  /** Invalid tag sequences for the scheme (left as read; with `repair`, those the repair could not fix). */
  tagProblems: TagProblem[];
  /** Number of tags changed by `repair`. */
  repairedTags: number;
}

// ---------------------------------------------------------------- raw file access

/** Byte offset of the first invalid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i] as number;
    let need = 0;
    let min = 0;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    if (i + need >= buf.length) return i; // truncated sequence at end of file
    let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k] as number;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * What pipes, FIFOs and devices (/dev/stdin) held, by path: they can be read only once, and a command reads its input
 * twice (to sniff the format, then to parse it), so the second read must see the same text, not an empty stream.
 */
const streamed = new Map<string, Buffer>();

/** Paths of this process's standard input: read from fd 0 (a socket there cannot be opened by path: ENXIO). */
const STDIN_PATHS = new Set(['/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

function readBytes(file: string, regular: boolean): Buffer {
  if (regular) return readFileSync(file);
  const key = resolve(file);
  let buf = streamed.get(key);
  if (buf === undefined) {
    if (STDIN_PATHS.has(key)) buf = readFileSync(0);
    else {
      const fd = openSync(file, 'r');
      try {
        buf = readFileSync(fd); // reads to the end: a pipe's size is 0 until then
      } finally {
        closeSync(fd);
      }
    }
    streamed.set(key, buf);
  }
  return buf;
}

/** Read a whole file (or pipe, FIFO, /dev/stdin) as UTF-8 text; errors for missing, empty or non-UTF-8 input. */
export function readUtf8(file: string): string {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new DataError(file, undefined, 'no such file');
  }
  if (st.isDirectory()) throw new DataError(file, undefined, 'is a directory, expected a file');
  const buf = readBytes(file, st.isFile());
  if (buf.length === 0)
    throw new DataError(
      file,
      undefined,
      st.isFile() ? 'file is empty' : 'is empty (nothing was read from this pipe or device)',
    );
  const bad = firstInvalidUtf8(buf);
  if (bad >= 0) {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < bad; i++)
      if (buf[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    const hex = Array.from(buf.subarray(bad, Math.min(bad + 4, buf.length)), (x) =>
      x.toString(16).padStart(2, '0'),
    ).join(' ');
    throw new DataError(
      file,
      line,
      `not valid UTF-8 (byte 0x${hex.slice(0, 2)} at column ${bad - lineStart + 1}, bytes ${hex}); convert the file to UTF-8`,
    );
  }
  let text = buf.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // BOM
  if (text.trim() === '') throw new DataError(file, undefined, 'file holds only whitespace');
  return text;
}

/**
 * The lines of a UTF-8 text file, `size` at a time, read as a stream: a file of any length in bounded memory (the
 * streaming twin of readUtf8 + splitLines, with the same errors: invalid UTF-8 names its line and column). `first` is
 * the 1-based number of a chunk's first line. A regular file only (a pipe is read whole by readUtf8).
 */
export async function* textLineChunks(
  file: string,
  size: number,
): AsyncGenerator<{ first: number; lines: string[] }, void, undefined> {
  let carry: Buffer = Buffer.alloc(0);
  let lineNo = 1;
  let pending: string[] = [];
  let first = 1;
  let any = false;
  const decode = (line: Buffer, n: number): string => {
    const bad = firstInvalidUtf8(line);
    if (bad >= 0) {
      const hex = Array.from(line.subarray(bad, Math.min(bad + 4, line.length)), (x) =>
        x.toString(16).padStart(2, '0'),
      ).join(' ');
      throw new DataError(
        file,
        n,
        `not valid UTF-8 (byte 0x${hex.slice(0, 2)} at column ${bad + 1}, bytes ${hex}); convert the file to UTF-8`,
      );
    }
    const t = line.toString('utf8');
    return t.endsWith('\r') ? t.slice(0, -1) : t;
  };
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    any ||= buf.length > 0;
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      pending.push(decode(buf.subarray(start, nl), lineNo++));
      start = nl + 1;
      if (pending.length >= size) {
        yield { first, lines: pending };
        first = lineNo;
        pending = [];
      }
    }
    carry = Buffer.from(buf.subarray(start));
  }
  if (!any) throw new DataError(file, undefined, 'file is empty');
  if (carry.length > 0) pending.push(decode(carry, lineNo));
  if (pending.length > 0) yield { first, lines: pending };
}

/** Lines without their terminators (\n or \r\n); a final newline does not add an empty line. */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

// ---------------------------------------------------------------- format detection

/** The labelled format of a file: by its name (.jsonl, _conll), else its first line; CoNLL columns otherwise. */
export function detectFormat(file: string, text?: string): LabeledFormat {
  const name = basename(file).toLowerCase();
  if (name.endsWith('.jsonl') || name.endsWith('.json')) return 'jsonl';
  if (name.endsWith('_conll')) return 'conll2012';
  const body = text ?? readUtf8(file);
  const first = splitLines(body).find((l) => l.trim() !== '') ?? '';
  if (first.trimStart().startsWith('{')) return 'jsonl';
  if (first.startsWith('#begin document')) return 'conll2012';
  return 'conll';
}

/** A sniffed file: a labelled format, entity sequences (Q files, `predict --format seq` output) or plain text lines. */
export type SniffedFormat = LabeledFormat | 'q' | 'text';

const TAGGED_LINE = /\s(O|[BIESLU]-\S+)$/;

/**
 * What a file holds, for every "auto" format: JSONL or CoNLL-2012 by name or first line, entity sequences when a line
 * holds <sep> or is <none>, CoNLL when at least half of the first 30 lines end in a tag, else text (one sentence per
 * line).
 */
export function sniffFormat(file: string, text?: string): SniffedFormat {
  const body = text ?? readUtf8(file);
  const named = detectFormat(file, body);
  if (named !== 'conll') return named;
  const lines = splitLines(body);
  if (lines.some((l) => l.includes(SEP) || l.trim() === NONE_LINE)) return 'q';
  const head = lines.filter((l) => l.trim() !== '').slice(0, 30);
  const tagged = head.filter((l) => TAGGED_LINE.test(l.trim()) || l.startsWith('-DOCSTART-')).length;
  return tagged * 2 >= head.length ? 'conll' : 'text';
}

export function readLabeled(file: string, opts: ReadOptions = {}): LabeledCorpus {
  const text = readUtf8(file);
  const format = !opts.format || opts.format === 'auto' ? detectFormat(file, text) : opts.format;
  switch (format) {
    case 'conll':
      return readColumnsText(file, text, opts);
    case 'conll2012':
      return readConll2012Text(file, text, opts);
    case 'jsonl':
      return readJsonlText(file, text, opts.offsets);
  }
}

// ---------------------------------------------------------------- shared sentence building

interface RawSentence {
  tokens: string[];
  tags: string[];
  lines: number[];
}

function buildSentence(file: string, raw: RawSentence, scheme: TagScheme): LabeledSentence {
  const { text, offsets } = detokenize(raw.tokens);
  const entities = chunks(raw.tags, scheme).map((c) => entityFromTokens(text, offsets, c.start, c.end, c.label));
  return {
    tokens: raw.tokens,
    tags: raw.tags,
    scheme,
    text,
    offsets,
    entities,
    source: { file, line: raw.lines[0] ?? 0 },
  };
}

function entityFromTokens(text: string, offsets: Range[], start: number, end: number, label: string): Entity {
  const charStart = (offsets[start] as Range).start;
  const charEnd = (offsets[end - 1] as Range).end;
  return { start, end, charStart, charEnd, label, surface: text.slice(charStart, charEnd) };
}

function finishCorpus(
  file: string,
  format: LabeledFormat,
  raws: RawSentence[],
  documents: number,
  opts: ReadOptions,
): LabeledCorpus {
  if (raws.length === 0) throw new DataError(file, undefined, 'no sentences found');
  const schemeDetected = !opts.scheme;
  const scheme = opts.scheme ?? detectScheme(raws.map((r) => r.tags));
  const tagProblems: TagProblem[] = [];
  let repairedTags = 0;
  for (const r of raws) {
    // With `repair`, the problems are those left after re-encoding (none, normally): what was repaired is counted in
    // repairedTags, and requireCleanTags then lets the repaired file through.
    if (opts.repair && validateTags(r.tags, scheme).length > 0) {
      const fixed = repairTags(r.tags, scheme);
      r.tags = fixed.tags;
      repairedTags += fixed.changed;
    }
    for (const issue of validateTags(r.tags, scheme))
      tagProblems.push({ line: r.lines[issue.index] ?? 0, problem: issue.problem });
  }
  return {
    file,
    format,
    scheme,
    schemeDetected,
    sentences: raws.map((r) => buildSentence(file, r, scheme)),
    documents,
    tagProblems,
    repairedTags,
  };
}

// ---------------------------------------------------------------- CoNLL-style columns

function readColumnsText(file: string, text: string, opts: ReadOptions): LabeledCorpus {
  const lines = splitLines(text);
  const raws: RawSentence[] = [];
  let cur: RawSentence = { tokens: [], tags: [], lines: [] };
  let documents = 0;
  let sep: 'tab' | 'space' | undefined;
  let ncols = 0;
  let firstDataLine = 0;
  const flush = () => {
    if (cur.tokens.length > 0) raws.push(cur);
    cur = { tokens: [], tags: [], lines: [] };
  };
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li] as string;
    const lineNo = li + 1;
    if (line.trim() === '') {
      flush();
      continue;
    } // blank or whitespace-only (WNUT's lone tabs)
    if (sep === undefined) {
      sep = line.includes('\t') ? 'tab' : 'space';
      ncols = splitColumns(line, sep).length;
      firstDataLine = lineNo;
      if (ncols < 2)
        throw new DataError(file, lineNo, `expected at least 2 columns (word and tag), found 1: "${clip(line)}"`);
    }
    const cols = splitColumns(line, sep);
    if (cols[0] === '-DOCSTART-') {
      documents++;
      flush();
      continue;
    }
    if (cols.length !== ncols) {
      throw new DataError(
        file,
        lineNo,
        `expected ${ncols} ${sep === 'tab' ? 'tab' : 'space'}-separated columns (as on line ${firstDataLine}), found ${cols.length}: "${clip(line)}"`,
      );
    }
    const tagCol = resolveColumn(opts.tagColumn ?? -1, ncols, file, lineNo, 'tag');
    const tokCol = resolveColumn(opts.tokenColumn ?? 0, ncols, file, lineNo, 'token');
    const token = cols[tokCol] as string;
    const tag = cols[tagCol] as string;
    if (token === '') throw new DataError(file, lineNo, 'empty token');
    if (!parseTag(tag))
      throw new DataError(
        file,
        lineNo,
        `invalid tag "${clip(tag)}" in column ${tagCol + 1} (expected O or B-/I-/E-/S-/L-/U-TYPE)`,
      );
    cur.tokens.push(token);
    cur.tags.push(tag);
    cur.lines.push(lineNo);
  }
  flush();
  return finishCorpus(file, 'conll', raws, documents, opts);
}

function splitColumns(line: string, sep: 'tab' | 'space'): string[] {
  if (sep === 'tab') return line.split('\t').map((c) => c.trim());
  return line.trim().split(/ +/);
}

function resolveColumn(col: number, ncols: number, file: string, line: number, what: string): number {
  const c = col < 0 ? ncols + col : col;
  if (c < 0 || c >= ncols)
    throw new DataError(file, line, `${what} column ${col} does not exist (the file has ${ncols} columns)`);
  return c;
}

function clip(s: string, n = 60): string {
  const t = s.replace(/\t/g, '\\t');
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

// ---------------------------------------------------------------- CoNLL-2012 *_conll (OntoNotes)

const C12_WORD = 3;
const C12_NE = 10;

function readConll2012Text(file: string, text: string, opts: ReadOptions): LabeledCorpus {
  const lines = splitLines(text);
  const raws: RawSentence[] = [];
  let cur: RawSentence = { tokens: [], tags: [], lines: [] };
  let open: { type: string; line: number } | undefined;
  let documents = 0;
  const flush = (lineNo: number) => {
    if (open)
      throw new DataError(
        file,
        open.line,
        `entity "(${open.type}" is never closed before the sentence ends at line ${lineNo}`,
      );
    if (cur.tokens.length > 0) raws.push(cur);
    cur = { tokens: [], tags: [], lines: [] };
  };
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li] as string;
    const lineNo = li + 1;
    if (line.startsWith('#begin document')) {
      documents++;
      flush(lineNo);
      continue;
    }
    if (line.startsWith('#end document')) {
      flush(lineNo);
      continue;
    }
    if (line.trim() === '') {
      flush(lineNo);
      continue;
    }
    const cols = line.trim().split(/\s+/);
    if (cols.length < 12)
      throw new DataError(
        file,
        lineNo,
        `expected at least 12 columns in a CoNLL-2012 line (word in column 4, named entities in column 11), found ${cols.length}`,
      );
    const word = cols[C12_WORD] as string;
    const ne = cols[C12_NE] as string;
    const m = /^(?:\(([^()*]+))?\*(\))?$|^\(([^()*]+)\)$/.exec(ne);
    if (!m)
      throw new DataError(
        file,
        lineNo,
        `bad named-entity field "${clip(ne)}" in column 11 (expected *, (TYPE*, *) or (TYPE))`,
      );
    let tag = 'O';
    if (m[3] !== undefined) {
      if (open)
        throw new DataError(file, lineNo, `entity "(${m[3]})" opens inside "(${open.type}" from line ${open.line}`);
      tag = `B-${m[3]}`;
    } else {
      if (m[1] !== undefined) {
        if (open)
          throw new DataError(file, lineNo, `entity "(${m[1]}" opens inside "(${open.type}" from line ${open.line}`);
        open = { type: m[1], line: lineNo };
        tag = `B-${m[1]}`;
      } else if (open) tag = `I-${open.type}`;
      if (m[2] !== undefined) {
        if (!open) throw new DataError(file, lineNo, 'entity closes with ")" but none is open');
        open = undefined;
      }
    }
    cur.tokens.push(word);
    cur.tags.push(tag);
    cur.lines.push(lineNo);
  }
  flush(lines.length + 1);
  return finishCorpus(file, 'conll2012', raws, documents, { ...opts, scheme: 'IOB2' });
}

// ---------------------------------------------------------------- JSONL with character offsets

export function readJsonlText(file: string, text: string, offsets: OffsetUnit = 'utf16'): LabeledCorpus {
  const lines = splitLines(text);
  const sentences: LabeledSentence[] = [];
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li] as string;
    const lineNo = li + 1;
    if (line.trim() === '') continue; // blank lines carry no record
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new DataError(file, lineNo, `invalid JSON (${(e as Error).message})`);
    }
    sentences.push(sentenceFromJson(obj, file, lineNo, offsets));
  }
  if (sentences.length === 0) throw new DataError(file, undefined, 'no sentences found');
  return {
    file,
    format: 'jsonl',
    scheme: 'IOB2',
    schemeDetected: false,
    sentences,
    documents: 0,
    tagProblems: [],
    repairedTags: 0,
  };
}

interface JsonEntity {
  start: number;
  end: number;
  label: string;
}

export function sentenceFromJson(
  obj: unknown,
  file: string,
  lineNo: number,
  unit: OffsetUnit = 'utf16',
): LabeledSentence {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new DataError(file, lineNo, 'expected a JSON object {"text": ..., "entities": [...]}');
  const rec = obj as Record<string, unknown>;
  if (typeof rec.text !== 'string') throw new DataError(file, lineNo, 'missing string field "text"');
  if (rec.text.trim() === '') throw new DataError(file, lineNo, '"text" is empty');
  if (!Array.isArray(rec.entities))
    throw new DataError(file, lineNo, 'missing array field "entities" (use [] for a sentence without entities)');
  const text = rec.text;
  const toU16 = unit === 'codepoints' ? codePointToUtf16(text) : undefined;
  const length = toU16 ? toU16.length - 1 : text.length;
  const ents: JsonEntity[] = rec.entities.map((e, k) => {
    const where = `entities[${k}]`;
    if (typeof e !== 'object' || e === null) throw new DataError(file, lineNo, `${where} is not an object`);
    const { start, end, label } = e as Record<string, unknown>;
    if (!Number.isInteger(start) || !Number.isInteger(end))
      throw new DataError(file, lineNo, `${where}: "start" and "end" must be integers`);
    if ((start as number) < 0 || (end as number) > length || (start as number) >= (end as number)) {
      throw new DataError(
        file,
        lineNo,
        `${where}: span [${start}, ${end}) is outside the text (length ${length} ${unit === 'codepoints' ? 'code points' : 'UTF-16 units'}) or empty`,
      );
    }
    const s = toU16 ? (toU16[start as number] as number) : (start as number);
    const en = toU16 ? (toU16[end as number] as number) : (end as number);
    if (isLowSurrogate(text, s) || isLowSurrogate(text, en)) {
      throw new DataError(file, lineNo, `${where}: span [${s}, ${en}) splits a surrogate pair (an emoji?)${UNIT_HINT}`);
    }
    if (typeof label !== 'string' || label.trim() === '')
      throw new DataError(file, lineNo, `${where}: "label" must be a non-empty string`);
    if (/\s/.test(label)) throw new DataError(file, lineNo, `${where}: label "${label}" contains whitespace`);
    if (/^\s|\s$/.test(text.slice(s, en)))
      throw new DataError(
        file,
        lineNo,
        `${where}: span "${text.slice(s, en)}" starts or ends with whitespace${unit === 'utf16' && ASTRAL.test(text.slice(0, en)) ? UNIT_HINT : ''}`,
      );
    return { start: s, end: en, label };
  });
  ents.sort((a, b) => a.start - b.start || a.end - b.end);
  for (let k = 1; k < ents.length; k++) {
    const a = ents[k - 1] as JsonEntity;
    const b = ents[k] as JsonEntity;
    if (b.start < a.end)
      throw new DataError(
        file,
        lineNo,
        `entities [${a.start}, ${a.end}) and [${b.start}, ${b.end}) overlap (nested entities are not supported)`,
      );
  }
  // Tokens: words and punctuation, split further at entity boundaries so every entity is whole tokens.
  const cuts = new Set<number>();
  for (const e of ents) {
    cuts.add(e.start);
    cuts.add(e.end);
  }
  const offsets: Range[] = [];
  for (const r of tokenizeText(text)) {
    let s = r.start;
    for (let i = r.start + 1; i < r.end; i++)
      if (cuts.has(i)) {
        offsets.push({ start: s, end: i });
        s = i;
      }
    offsets.push({ start: s, end: r.end });
  }
  const tokens = offsets.map((o) => text.slice(o.start, o.end));
  const entities: Entity[] = ents.map((e) => {
    let start = -1;
    let end = -1;
    offsets.forEach((o, i) => {
      if (o.start >= e.start && o.end <= e.end) {
        if (start < 0) start = i;
        end = i + 1;
      }
    });
    return { start, end, charStart: e.start, charEnd: e.end, label: e.label, surface: text.slice(e.start, e.end) };
  });
  const tags = chunksToTags(
    tokens.length,
    entities.map((e) => ({ start: e.start, end: e.end, label: e.label })),
    'IOB2',
  );
  return { tokens, tags, scheme: 'IOB2', text, offsets, entities, source: { file, line: lineNo } };
}

const ASTRAL = /[\ud800-\udbff][\udc00-\udfff]/;
const UNIT_HINT =
  ' (offsets are read as UTF-16 units, JavaScript string indices; for Python/spaCy offsets pass --offsets codepoints)';
const isLowSurrogate = (text: string, i: number) =>
  i > 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800;

/** One JSONL line for a sentence (character offsets in UTF-16 units, end exclusive). */
export function sentenceToJson(s: {
  text: string;
  entities: readonly { charStart: number; charEnd: number; label: string }[];
}): string {
  return jsonlRecord(s, 'utf16');
}

/** One JSONL line with offsets in `unit`, plus optional extra fields after "entities". */
export function jsonlRecord(
  s: { text: string; entities: readonly { charStart: number; charEnd: number; label: string; score?: number }[] },
  unit: OffsetUnit,
  extra: Record<string, unknown> = {},
): string {
  const cp = unit === 'codepoints' ? utf16ToCodePoint(s.text) : undefined;
  const at = (i: number) => (cp ? (cp[i] as number) : i);
  return JSON.stringify({
    text: s.text,
    entities: s.entities.map((e) => ({
      start: at(e.charStart),
      end: at(e.charEnd),
      label: e.label,
      ...(e.score !== undefined ? { score: e.score } : {}),
    })),
    ...extra,
  });
}

// ---------------------------------------------------------------- S and Q files

/** S file: one sentence per line. Empty lines are an error (a sentence cannot be empty). */
export function readSentenceLines(file: string): string[] {
  const lines = splitLines(readUtf8(file));
  lines.forEach((l, i) => {
    if (l.trim() === '')
      throw new DataError(file, i + 1, 'empty line (an S file holds one non-empty sentence per line)');
  });
  return lines;
}

/**
 * Characters a line keeps when a model reads at most N of its tokens: 32 per token, twice the longest vocabulary piece
 * (16 characters in models/base-news-11m), so the cut line gives the same first N tokens. Tokenising a 10 MB line whole takes ~1.6 GB and 14 s
 * in the tokenizer (its offsets and token strings), and the trainer tokenises a sentence several times per step.
 */
export const CHARS_PER_TOKEN = 32;

/** One warning line for the lines of `file` cut to `maxChars` characters (line numbers 1-based), or null for none. */
export function longLinesWarning(
  file: string,
  cut: readonly { line: number; chars: number }[],
  maxChars: number,
  maxTokens: number,
  what = 'line',
): string | null {
  if (cut.length === 0) return null;
  const n = (x: number) => x.toLocaleString('en-US');
  const shown = cut.slice(0, 5).map((c) => `line ${c.line} (${n(c.chars)} characters)`);
  if (cut.length > 5) shown.push(`${cut.length - 5} more`);
  return `warning: ${file}: ${cut.length} ${what}${cut.length === 1 ? '' : 's'} longer than ${n(maxChars)} characters cut to that length before tokenising (the models read at most ${maxTokens} tokens): ${shown.join(', ')}`;
}

/**
 * Entity sequences cut to what the models read: one longer than `maxTokens * CHARS_PER_TOKEN` characters keeps its
 * first entities that fit, whole (capLongLines would cut an entity in half); with the warning. `lines`: the sequences
 * as written (default: formatted from `seqs`).
 */
export function capLongSequences(
  file: string,
  seqs: readonly (readonly SeqEntity[])[],
  maxTokens: number,
  lines?: readonly string[],
): { lines: string[]; warning: string | null } {
  const max = maxTokens * CHARS_PER_TOKEN;
  const cut: { line: number; chars: number }[] = [];
  const out = seqs.map((es, i) => {
    const line = lines?.[i] ?? (es.length === 0 ? '' : formatEntitySequence(es));
    if (line.length <= max) return line;
    cut.push({ line: i + 1, chars: line.length });
    let k = 0;
    for (let len = -SEP.length - 2; k < es.length; k++) {
      len += SEP.length + 2 + formatEntitySequence([es[k]!]).length;
      if (len > max) break;
    }
    return formatEntitySequence(es.slice(0, k));
  });
  return { lines: out, warning: longLinesWarning(file, cut, max, maxTokens, 'sequence') };
}

/** Lines cut to what a model reading `maxTokens` tokens can see (CHARS_PER_TOKEN), before anything tokenises them. */
export function capLongLines(
  file: string,
  lines: readonly string[],
  maxTokens: number,
): { lines: string[]; warning: string | null } {
  const max = maxTokens * CHARS_PER_TOKEN;
  const cut: { line: number; chars: number }[] = [];
  const out = lines.map((l, i) => {
    if (l.length <= max) return l;
    cut.push({ line: i + 1, chars: l.length });
    const end = /[\ud800-\udbff]/.test(l[max - 1] as string) ? max - 1 : max; // never half a surrogate pair
    return l.slice(0, end);
  });
  return { lines: out, warning: longLinesWarning(file, cut, max, maxTokens) };
}

/**
 * Generated entity sequences, one per line (predictions): unlike Q files, empty lines are allowed
 * and mean "no entities", since that is what a model outputs; the file may even be empty.
 */
export function readSequenceLines(file: string): string[] {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(file, undefined, code === 'EISDIR' ? 'is a directory, expected a file' : 'no such file');
  }
  const bad = firstInvalidUtf8(buf);
  if (bad >= 0) {
    let line = 1;
    for (let i = 0; i < bad; i++) if (buf[i] === 0x0a) line++;
    throw new DataError(file, line, 'not valid UTF-8; convert the file to UTF-8');
  }
  return splitLines(buf.toString('utf8').replace(/^\uFEFF/, ''));
}

/** Q file: one entity sequence per line, `<none>` for the empty sequence. */
export function readQFile(file: string, types?: ReadonlySet<string>): SeqEntity[][] {
  const lines = splitLines(readUtf8(file));
  return lines.map((l, i) => {
    const r = parseQLine(l, types);
    if (r.problems.length > 0) throw new DataError(file, i + 1, r.problems.join('; '));
    return r.entities;
  });
}
