// safetensors, by hand: [u64 LE header length][JSON header][raw little-endian data].
// Header: { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {string: string} }.
// Offsets are relative to the start of the data region. Every error names the file and tensor.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWriteFile, readJsonFile, writeJsonFile } from '../util/fs';

export type StDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const ST_ITEMSIZE: Record<StDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export interface RawTensor {
  dtype: StDType;
  shape: number[];
  /** Little-endian bytes; may be a view into a larger file buffer. */
  data: Uint8Array;
  /** The file it was read from (named in errors about its values). */
  file?: string;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, RawTensor>;
}

const MAX_HEADER = 100 * 1024 * 1024; // same cap as the Rust implementation

function numelOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Where a tensor is in a file: bytes [begin, end) of the data region, which starts at `dataStart`. */
interface HeaderEntry {
  name: string;
  dtype: StDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * The validated header of a safetensors file of `fileBytes` bytes whose first bytes (at least the length and the
 * header, when the file has them) are in `buf`. `source` names it in errors.
 */
function parseHeader(
  buf: Uint8Array,
  fileBytes: number,
  source: string,
): { metadata: Record<string, string>; dataStart: number; entries: HeaderEntry[] } {
  if (fileBytes < 8)
    throw new Error(`safetensors ${source}: file is ${fileBytes} bytes, too short for the 8-byte header length`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > MAX_HEADER) throw new Error(`safetensors ${source}: bad header: header length ${n} exceeds ${MAX_HEADER}`);
  if (8 + n > fileBytes)
    throw new Error(`safetensors ${source}: truncated file: header needs ${n} bytes but only ${fileBytes - 8} follow`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch (e) {
    throw new Error(`safetensors ${source}: bad header: not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new Error(`safetensors ${source}: bad header: not a JSON object`);
  const dataStart = 8 + n;
  const dataLen = fileBytes - dataStart;
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  const spans: Array<[number, number, string]> = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null)
        throw new Error(`safetensors ${source}: bad header: __metadata__ is not an object`);
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string')
          throw new Error(`safetensors ${source}: bad header: __metadata__.${k} is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    const where = `safetensors ${source}: tensor "${name}"`;
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) throw new Error(`${where}: bad header entry`);
    if (typeof e.dtype !== 'string' || !(e.dtype in ST_ITEMSIZE))
      throw new Error(`${where}: unsupported dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new Error(`${where}: bad shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isInteger(d) && d >= 0) ||
      off[1] < off[0]
    ) {
      throw new Error(`${where}: bad data_offsets ${JSON.stringify(off)}`);
    }
    const dtype = e.dtype as StDType;
    const shape = e.shape as number[];
    const [b, end] = off as [number, number];
    const want = numelOf(shape) * ST_ITEMSIZE[dtype];
    if (end - b !== want)
      throw new Error(
        `${where}: data_offsets [${b}, ${end}] hold ${end - b} bytes but ${dtype}${JSON.stringify(shape)} needs ${want}`,
      );
    if (end > dataLen)
      throw new Error(`${where}: truncated file: data ends at ${end} but the data region has ${dataLen} bytes`);
    entries.push({ name, dtype, shape, begin: b, end });
    spans.push([b, end, name]);
  }
  // The format forbids overlaps (and holes); overlapping views would alias silently.
  spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1])
      throw new Error(`safetensors ${source}: tensor "${spans[i][2]}" overlaps tensor "${spans[i - 1][2]}"`);
  }
  return { metadata, dataStart, entries };
}

/** Parse a whole safetensors file held in memory. `source` names it in errors. */
export function parseSafetensors(buf: Uint8Array, source = '<buffer>'): SafetensorsFile {
  const { metadata, dataStart, entries } = parseHeader(buf, buf.byteLength, source);
  const tensors = new Map<string, RawTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    tensors.set(name, {
      dtype,
      shape,
      data: buf.subarray(dataStart + begin, dataStart + end),
      ...(source !== '<buffer>' ? { file: source } : {}),
    });
  }
  return { metadata, tensors };
}

export function readSafetensors(file: string): SafetensorsFile {
  return parseSafetensors(fs.readFileSync(file), file);
}

/** A tensor of a safetensors file left on disk: `bytes` bytes at `offset` of the file open as `fd`. */
export interface TensorOnDisk {
  dtype: StDType;
  shape: number[];
  file: string;
  fd: number;
  offset: number;
  bytes: number;
}

/** The header of a safetensors file, validated as parseSafetensors does, with its tensors left in the file (`fd`). */
function locateSafetensors(
  file: string,
  fd: number,
): { metadata: Record<string, string>; tensors: Map<string, TensorOnDisk> } {
  const size = fs.fstatSync(fd).size;
  const readAt = (n: number) => {
    const b = Buffer.alloc(Math.max(0, Math.min(n, size)));
    if (fs.readSync(fd, b, 0, b.byteLength, 0) !== b.byteLength) throw new Error(`safetensors ${file}: short read`);
    return b;
  };
  let buf = readAt(8);
  if (size >= 8) {
    const n = Number(buf.readBigUInt64LE(0));
    if (n <= MAX_HEADER && 8 + n <= size) buf = readAt(8 + n);
  }
  const { metadata, dataStart, entries } = parseHeader(buf, size, file);
  const tensors = new Map<string, TensorOnDisk>();
  for (const { name, dtype, shape, begin, end } of entries)
    tensors.set(name, { dtype, shape, file, fd, offset: dataStart + begin, bytes: end - begin });
  return { metadata, tensors };
}

const CHUNK_BYTES = 4 * 1024 * 1024; // a multiple of every item size
let chunkBuffer: Buffer | null = null;

/**
 * A tensor's bytes read from its file CHUNK_BYTES at a time into one buffer that every call reuses (4 MiB for the
 * process): `fn` must copy each chunk before it returns. A model's weights thus never sit whole in JS memory, where
 * the file's buffer waited for a full GC (which a server may not run for hours) after the load.
 */
export function readTensorChunks(t: TensorOnDisk, fn: (chunk: Uint8Array) => void): void {
  chunkBuffer ??= Buffer.allocUnsafeSlow(CHUNK_BYTES);
  for (let done = 0; done < t.bytes;) {
    const k = Math.min(CHUNK_BYTES, t.bytes - done);
    if (fs.readSync(t.fd, chunkBuffer, 0, k, t.offset + done) !== k)
      throw new Error(`safetensors ${t.file}: short read (the file changed while it was read?)`);
    fn(chunkBuffer.subarray(0, k));
    done += k;
  }
}

/** Serialise; tensors are laid out in name order, header padded with spaces to 8 bytes (as the Rust crate does). */
export function serializeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Buffer {
  const entries = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))].sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
  );
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    const want = numelOf(t.shape) * ST_ITEMSIZE[t.dtype];
    if (t.data.byteLength !== want)
      throw new Error(
        `safetensors write: tensor "${name}" has ${t.data.byteLength} bytes but ${t.dtype}${JSON.stringify(t.shape)} needs ${want}`,
      );
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + want] };
    off += want;
  }
  let hjson = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (hjson.byteLength % 8)) % 8;
  if (pad) hjson = Buffer.concat([hjson, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.allocUnsafe(8 + hjson.byteLength + off);
  out.writeBigUInt64LE(BigInt(hjson.byteLength), 0);
  hjson.copy(out, 8);
  let p = 8 + hjson.byteLength;
  for (const [, t] of entries) {
    out.set(t.data, p);
    p += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(
  file: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  atomicWriteFile(file, serializeSafetensors(tensors, metadata));
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/**
 * Read a model directory's weights: `model.safetensors`, or the shards listed by
 * `model.safetensors.index.json` (every tensor must be in the shard the index names).
 */
export function readModelWeights(dir: string): SafetensorsFile {
  return modelWeights(dir, readSafetensors);
}

/**
 * readModelWeights with the tensors left in their files, each open (one descriptor per file, so the load reads
 * one version of it even if a save renames a new one in): read them with readTensorChunks, then `close()`.
 */
export function openModelWeights(dir: string): {
  metadata: Record<string, string>;
  tensors: Map<string, TensorOnDisk>;
  close(): void;
} {
  const fds: number[] = [];
  const close = () => {
    for (const fd of fds.splice(0)) fs.closeSync(fd);
  };
  try {
    const w = modelWeights(dir, (file) => {
      const fd = fs.openSync(file, 'r');
      fds.push(fd);
      return locateSafetensors(file, fd);
    });
    return { ...w, close };
  } catch (e) {
    close();
    throw e;
  }
}

function modelWeights<R>(
  dir: string,
  readFile: (file: string) => { metadata: Record<string, string>; tensors: Map<string, R> },
): { metadata: Record<string, string>; tensors: Map<string, R> } {
  const indexPath = path.join(dir, INDEX_FILE);
  if (!fs.existsSync(indexPath)) {
    const single = path.join(dir, SINGLE_FILE);
    if (!fs.existsSync(single)) throw new Error(`no ${SINGLE_FILE} or ${INDEX_FILE} in ${dir}`);
    return readFile(single);
  }
  const index = readJsonFile<{ metadata?: Record<string, unknown>; weight_map?: Record<string, string> }>(indexPath);
  const wm = index.weight_map;
  if (!wm || typeof wm !== 'object') throw new Error(`${indexPath}: no weight_map`);
  const shards = new Map<string, { metadata: Record<string, string>; tensors: Map<string, R> }>();
  const out: { metadata: Record<string, string>; tensors: Map<string, R> } = { metadata: {}, tensors: new Map() };
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\'))
      throw new Error(`${indexPath}: tensor "${name}" maps to bad shard name ${JSON.stringify(shard)}`);
    let f = shards.get(shard);
    if (!f) {
      f = readFile(path.join(dir, shard));
      shards.set(shard, f);
      Object.assign(out.metadata, f.metadata);
    }
    const t = f.tensors.get(name);
    if (!t) throw new Error(`${indexPath}: tensor "${name}" is listed in shard ${shard} but missing from it`);
    out.tensors.set(name, t);
  }
  return out;
}

/**
 * Write a model directory's weights; a single file when it fits in `maxShardBytes`, else
 * `model-0000i-of-0000n.safetensors` shards plus the index (same naming as transformers).
 * Stale weight files from a previous save are removed afterwards.
 */
export function writeModelWeights(
  dir: string,
  tensors: Map<string, RawTensor>,
  opts: { maxShardBytes?: number; metadata?: Record<string, string> } = {},
): string[] {
  const max = opts.maxShardBytes ?? 5 * 1024 ** 3;
  const metadata = opts.metadata ?? { format: 'pt' };
  const names = [...tensors.keys()].sort();
  const groups: string[][] = [];
  let cur: string[] = [];
  let curBytes = 0;
  let total = 0;
  for (const n of names) {
    const b = tensors.get(n)!.data.byteLength;
    total += b;
    if (cur.length > 0 && curBytes + b > max) {
      groups.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(n);
    curBytes += b;
  }
  if (cur.length > 0 || groups.length === 0) groups.push(cur);
  const written: string[] = [];
  if (groups.length === 1) {
    writeSafetensors(path.join(dir, SINGLE_FILE), tensors, metadata);
    written.push(SINGLE_FILE);
  } else {
    const weightMap: Record<string, string> = {};
    const pad = (i: number) => String(i).padStart(5, '0');
    groups.forEach((g, i) => {
      const file = `model-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`;
      const m = new Map<string, RawTensor>();
      for (const n of g) {
        m.set(n, tensors.get(n)!);
        weightMap[n] = file;
      }
      writeSafetensors(path.join(dir, file), m, metadata);
      written.push(file);
    });
    writeJsonFile(path.join(dir, INDEX_FILE), { metadata: { total_size: total }, weight_map: weightMap });
    written.push(INDEX_FILE);
  }
  // A directory must not hold both layouts: loaders prefer the index and would read stale shards.
  for (const f of fs.readdirSync(dir)) {
    const isWeights = f === SINGLE_FILE || f === INDEX_FILE || /^model-\d{5}-of-\d{5}\.safetensors$/.test(f);
    if (isWeights && !written.includes(f)) fs.rmSync(path.join(dir, f));
  }
  return written;
}
