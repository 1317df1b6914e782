import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  RawTensor,
  openModelWeights,
  parseSafetensors,
  readTensorChunks,
  readModelWeights,
  serializeSafetensors,
  writeModelWeights,
  writeSafetensors,
  readSafetensors,
} from '../../../src/t5/safetensors';

function f32(shape: number[], values: number[]): RawTensor {
  return { dtype: 'F32', shape, data: new Uint8Array(new Float32Array(values).buffer) };
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 't5-st-'));
}

/** Build a file from a hand-written header (for malformed cases). */
function rawFile(header: unknown, dataBytes: number): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const b = Buffer.alloc(8 + h.length + dataBytes);
  b.writeBigUInt64LE(BigInt(h.length), 0);
  h.copy(b, 8);
  return b;
}

test('safetensors: serialize -> parse round-trips dtype, shape, bytes and metadata', () => {
  const a = f32([2, 3], [1, 2, 3, 4, 5, 6]);
  const b: RawTensor = { dtype: 'BF16', shape: [2], data: new Uint8Array([0x80, 0x3f, 0x00, 0x40]) };
  const c: RawTensor = { dtype: 'I64', shape: [], data: new Uint8Array(new BigInt64Array([42n]).buffer) };
  const buf = serializeSafetensors({ 'x.weight': a, 'y.bias': b, scalar: c }, { format: 'pt' });
  const hlen = Number(buf.readBigUInt64LE(0));
  assert.equal(hlen % 8, 0, 'header padded to 8 bytes');
  const f = parseSafetensors(buf);
  assert.deepEqual(f.metadata, { format: 'pt' });
  assert.deepEqual([...f.tensors.keys()].sort(), ['scalar', 'x.weight', 'y.bias']);
  assert.deepEqual(f.tensors.get('x.weight')!.shape, [2, 3]);
  assert.deepEqual([...new Float32Array(new Uint8Array(f.tensors.get('x.weight')!.data).buffer)], [1, 2, 3, 4, 5, 6]);
  assert.equal(f.tensors.get('y.bias')!.dtype, 'BF16');
  assert.deepEqual([...f.tensors.get('y.bias')!.data], [0x80, 0x3f, 0x00, 0x40]);
  assert.deepEqual(f.tensors.get('scalar')!.shape, []);
});

test('safetensors: malformed files are rejected with errors naming the problem', () => {
  assert.throws(() => parseSafetensors(new Uint8Array(4), 'f'), /too short/);
  const big = Buffer.alloc(16);
  big.writeBigUInt64LE(1000n, 0);
  assert.throws(() => parseSafetensors(big, 'f'), /truncated file/);
  const notJson = Buffer.alloc(16);
  notJson.writeBigUInt64LE(8n, 0);
  notJson.write('{{{{{{{{', 8);
  assert.throws(() => parseSafetensors(notJson, 'f'), /bad header: not valid JSON/);
  assert.throws(
    () => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4), 'f'),
    /tensor "w": truncated file/,
  );
  assert.throws(
    () => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), 'f'),
    /tensor "w": data_offsets \[0, 8\] hold 8 bytes but F32\[3\] needs 12/,
  );
  assert.throws(
    () => parseSafetensors(rawFile({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1), 'f'),
    /tensor "w": unsupported dtype "Q4"/,
  );
  assert.throws(
    () => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), 'f'),
    /tensor "w": bad shape/,
  );
  assert.throws(
    () =>
      parseSafetensors(
        rawFile(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
          },
          8,
        ),
        'f',
      ),
    /tensor "b" overlaps tensor "a"/,
  );
});

test('safetensors: a truncated real file names the tensor that ran off the end', () => {
  const buf = serializeSafetensors({ a: f32([4], [1, 2, 3, 4]), b: f32([4], [5, 6, 7, 8]) });
  assert.throws(() => parseSafetensors(buf.subarray(0, buf.length - 3), 'cut'), /tensor "b": truncated file/);
});

test('safetensors: openModelWeights validates as readModelWeights and reads each tensor in chunks, from one open file', () => {
  const dir = tmpdir();
  // 5 MiB + 4 bytes: two chunks of 4 MiB and one of the rest; the small tensors sit at 4-byte offsets.
  const big = new Float32Array((5 * 1024 * 1024 + 4) / 4).map((_, i) => i % 1000);
  const tensors = new Map<string, RawTensor>([
    ['big', { dtype: 'F32', shape: [big.length], data: new Uint8Array(big.buffer) }],
    ['small', f32([3], [1, 2, 3])],
    ['empty', f32([0], [])],
  ]);
  for (const shards of [false, true]) {
    writeModelWeights(dir, tensors, shards ? { maxShardBytes: 1024 } : {});
    const w = openModelWeights(dir);
    try {
      const mem = readModelWeights(dir).tensors;
      assert.deepEqual([...w.tensors.keys()].sort(), [...mem.keys()].sort());
      for (const [name, t] of w.tensors) {
        const parts: Buffer[] = [];
        readTensorChunks(t, (c) => parts.push(Buffer.from(c))); // copied: the chunk buffer is reused
        assert.ok(parts.every((c) => c.byteLength <= 4 * 1024 * 1024));
        assert.deepEqual(t.shape, mem.get(name)!.shape);
        assert.ok(Buffer.concat(parts).equals(Buffer.from(mem.get(name)!.data)), `${name} (shards ${shards})`);
      }
    } finally {
      w.close();
    }
  }
  // Malformed files fail with readModelWeights' errors (one shared header check).
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
  fs.writeFileSync(
    path.join(dir, 'model.safetensors'),
    rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4),
  );
  assert.throws(() => openModelWeights(dir), /tensor "w": truncated file/);
  fs.writeFileSync(path.join(dir, 'model.safetensors'), new Uint8Array(4));
  assert.throws(() => openModelWeights(dir), /too short/);
  fs.rmSync(dir, { recursive: true });
});

test('safetensors: atomic write leaves only the final file', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'm.safetensors');
  writeSafetensors(file, { a: f32([1], [3]) });
  writeSafetensors(file, { a: f32([1], [4]) }); // overwrite in place
  assert.deepEqual(fs.readdirSync(dir), ['m.safetensors']);
  assert.deepEqual([...new Float32Array(new Uint8Array(readSafetensors(file).tensors.get('a')!.data).buffer)], [4]);
  fs.rmSync(dir, { recursive: true });
});

test('safetensors: sharded write/read with index, and switching layouts removes stale files', () => {
  const dir = tmpdir();
  const tensors = new Map<string, RawTensor>();
  for (let i = 0; i < 5; i++) tensors.set(`layer.${i}.weight`, f32([4], [i, i + 1, i + 2, i + 3]));
  const files = writeModelWeights(dir, tensors, { maxShardBytes: 40 });
  assert.ok(files.includes('model.safetensors.index.json'));
  assert.equal(files.length, 4, 'two tensors (32 bytes) per 40-byte shard: 3 shards + index');
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
  assert.equal(index.metadata.total_size, 80);
  assert.equal(index.weight_map['layer.4.weight'], 'model-00003-of-00003.safetensors');
  const back = readModelWeights(dir);
  assert.equal(back.tensors.size, 5);
  assert.deepEqual(
    [...new Float32Array(new Uint8Array(back.tensors.get('layer.3.weight')!.data).buffer)],
    [3, 4, 5, 6],
  );
  // A shard missing a tensor the index promises is named.
  index.weight_map['layer.9.weight'] = 'model-00001-of-00003.safetensors';
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
  assert.throws(
    () => readModelWeights(dir),
    /tensor "layer.9.weight" is listed in shard model-00001-of-00003.safetensors but missing/,
  );
  // Back to a single file: shards and index go away.
  writeModelWeights(dir, tensors);
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  assert.equal(readModelWeights(dir).tensors.size, 5);
  fs.rmSync(dir, { recursive: true });
});
