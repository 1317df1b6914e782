// `exportOnnx`: the library form of `cyclener export --onnx DIR`. A T5 model folder (an S2E, a run, any cyclener or
// Hugging Face T5 checkpoint with its tokenizer.json) exported to ONNX, fp32, in the layout transformers.js and optimum
// load (onnx/encoder_model.onnx, onnx/decoder_model.onnx, onnx/decoder_with_past_model.onnx,
// onnx/decoder_model_merged.onnx, config.json, generation_config.json, tokenizer.json, tokenizer_config.json). The
// graphs are traced by tools/onnx/export_t5.py in Python (PyTorch + onnx: Debian's python3-torch and python3-onnx,
// which `npm run setup` installs); this side keeps the output discipline of src/util/output.ts: the folder is checked
// and locked before any work, no file of the model is ever written over, existing files need `force`, and the files
// are written into a temp folder inside DIR and renamed into place only when all of them exist (a failure leaves
// the previous export as it was).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../data/errors';
import { resolveS2EDir } from '../cycle/model-io';
import { claimOutputs } from '../util/output';
import { pidAlive } from '../util/lock';
import { t5EosPostProcessor, T5Tokenizer } from '../t5/tokenizer';

/** Files every export writes, relative to its folder (config.json last: a folder with it is complete). */
export const ONNX_EXPORT_FILES = [
  'onnx/encoder_model.onnx',
  'onnx/decoder_model.onnx',
  'onnx/decoder_with_past_model.onnx',
  'onnx/decoder_model_merged.onnx',
  'tokenizer.json',
  'tokenizer_config.json',
  'generation_config.json',
  'config.json',
] as const;
/** Copied along when the model folder has them (cyclener.json: the S2E's prefix, type words and decoding). */
const OPTIONAL_FILES = ['spiece.model', 'special_tokens_map.json', 'cyclener.json'];

export interface ExportOnnxOptions {
  /** A model folder (config.json, model.safetensors, tokenizer.json), a run, or its best/ (the S2E inside). */
  model: string;
  /** The export's folder (created if missing). */
  out: string;
  /** Replace the files of an earlier export in `out`. */
  force?: boolean;
  /** Python 3 with PyTorch and onnx (default: $CYCLENER_PYTHON, else /usr/bin/python3, else python3 on the PATH). */
  python?: string;
  /** ONNX opset (default 14). */
  opset?: number;
}

export interface ExportOnnxResult {
  /** The model folder exported (the S2E of a run). */
  model: string;
  out: string;
  /** Files written, relative to `out`. */
  files: string[];
  torch: string;
  onnx: string;
  opset: number;
}

/** Where the exporter script lives: tools/onnx/ of this package (dist/src/api -> the package root). */
export function exportScript(): string {
  for (const root of [path.resolve(__dirname, '..', '..', '..'), path.resolve(__dirname, '..', '..')]) {
    const p = path.join(root, 'tools', 'onnx', 'export_t5.py');
    if (fs.existsSync(p)) return p;
  }
  throw new Error('tools/onnx/export_t5.py is missing from this installation of cyclener');
}

export function defaultPython(): string {
  return process.env.CYCLENER_PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

const STAGE_PREFIX = '.export-tmp-';

/** Temp folders of exports killed mid-way (their process is gone). */
function staleStages(out: string): string[] {
  try {
    return fs.readdirSync(out).flatMap((e) => {
      const m = e.startsWith(STAGE_PREFIX) ? /^(\d+)-/.exec(e.slice(STAGE_PREFIX.length)) : null;
      return m && !pidAlive(Number(m[1])) ? [path.join(out, e)] : [];
    });
  } catch {
    return [];
  }
}

function run(
  cmd: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; err?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: null, stdout, stderr, err }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The tokenizer.json of the export: the one cyclener encodes with (`<sep>` added when the vocabulary lacks it), with
 * the post-processor that appends `</s>` when it has none (cyclener appends it itself), so that a tokenizer loaded from
 * the file (transformers.js, tokenizers) gives the ids cyclener gives. cyclener's own mapping of characters the
 * vocabulary lacks (é as e: src/t5/normalize.ts) is not part of it.
 */
export function tokenizerForExport(tok: T5Tokenizer): string {
  const j = JSON.parse(tok.json) as Record<string, unknown>;
  if (j.post_processor === null || j.post_processor === undefined) {
    j.post_processor = t5EosPostProcessor(tok.eosId);
    return JSON.stringify(j);
  }
  return tok.json;
}

/** The model folder, and for a run (or its best/) the files beside the folders that lead to it: a run's config.json is
 *  not written over by an export into the run's own folder. */
function modelFiles(given: string, dir: string): string[] {
  const out = [dir];
  const top = path.resolve(given);
  for (let d = path.resolve(dir); d !== top && d.startsWith(top + path.sep);) {
    d = path.dirname(d);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isFile()) out.push(path.join(d, e.name));
  }
  return out;
}

const NEEDS =
  'Python 3 with PyTorch and onnx (Debian: apt-get install python3-torch python3-onnx; `npm run setup` installs both)';

/** Export `o.model` to ONNX in `o.out` (see the top of this file). */
export async function exportOnnx(o: ExportOnnxOptions): Promise<ExportOnnxResult> {
  if (!fs.existsSync(o.model)) throw new DataError(o.model, undefined, 'no such file or directory');
  let dir: string;
  try {
    dir = resolveS2EDir(o.model);
  } catch (e) {
    throw new DataError(o.model, undefined, (e as Error).message.replace(`${o.model}: `, ''));
  }
  if (!fs.existsSync(path.join(dir, 'model.safetensors')))
    throw new DataError(
      path.join(dir, 'model.safetensors'),
      undefined,
      'no such file (sharded checkpoints, model.safetensors.index.json, do not export: save the model in one file)',
    );
  let tokenizerJson: string;
  try {
    tokenizerJson = tokenizerForExport(T5Tokenizer.fromDir(dir).withSep());
  } catch (e) {
    throw new DataError(
      dir,
      undefined,
      `${(e as Error).message} (the export carries the tokenizer transformers.js loads)`,
    );
  }
  const files = [...ONNX_EXPORT_FILES.slice(0, -1), ...OPTIONAL_FILES.filter((f) => fs.existsSync(path.join(dir, f)))];
  files.push('config.json');
  const out = o.out;
  // Before any work: OUT (and OUT/onnx) created and writable, no output is a file of the model or the model folder
  // itself, none exists without force, OUT/.lock keeps a second export out.
  const claim = claimOutputs(
    { '--onnx': files.map((f) => path.join(out, f)) },
    {
      force: o.force === true,
      createFolders: true,
      lock: path.join(out, '.lock'),
      inputs: { '--model': modelFiles(o.model, dir) },
    },
  );
  for (const s of staleStages(out)) fs.rmSync(s, { recursive: true, force: true });
  const stage = path.join(out, `${STAGE_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    const python = o.python ?? defaultPython();
    const args = [exportScript(), dir, stage, '--opset', String(o.opset ?? 14)];
    const r = await run(python, args);
    if (r.err)
      throw new Error(
        `cannot run ${python} (${(r.err as NodeJS.ErrnoException).code ?? r.err.message}): the export needs ${NEEDS}`,
      );
    const last = r.stdout.trim().split('\n').pop() ?? '';
    let reply: {
      ok?: boolean;
      error?: { file: string; problem: string };
      files?: string[];
      torch?: string;
      onnx?: string;
      opset?: number;
    } = {};
    try {
      reply = JSON.parse(last) as typeof reply;
    } catch {
      // no reply line: the stderr below says why
    }
    if (r.code === 2 && reply.error) throw new DataError(reply.error.file, undefined, reply.error.problem);
    const why = r.stderr.trim().split('\n').slice(-3).join(' | ');
    if (/No module named|PyTorch is not installed|onnx package is not installed/.test(r.stderr))
      throw new Error(`the export needs ${NEEDS}; ${python} says: ${why}`);
    if (r.code !== 0 || !reply.ok) throw new Error(`ONNX export of ${dir} failed (${python}, exit ${r.code}): ${why}`);
    fs.writeFileSync(path.join(stage, 'tokenizer.json'), tokenizerJson);
    const missing = files.filter((f) => !fs.existsSync(path.join(stage, f)));
    if (missing.length > 0) throw new Error(`ONNX export of ${dir}: the exporter did not write ${missing.join(', ')}`);
    // All files are there: flush them, then rename each into place (config.json last).
    for (const f of files) {
      const fd = fs.openSync(path.join(stage, f), 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const f of files) fs.renameSync(path.join(stage, f), path.join(out, f));
    return {
      model: dir,
      out,
      files,
      torch: reply.torch ?? '?',
      onnx: reply.onnx ?? '?',
      opset: reply.opset ?? o.opset ?? 14,
    };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
    claim.release();
  }
}
