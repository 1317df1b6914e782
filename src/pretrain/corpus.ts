// Streaming reader for one-document-per-line corpora, plain or .xz (decompressed by `xz -dc` in a child process,
// so a 200 MB corpus is never held in memory). Broken input is counted, never fatal: lines that are not valid
// UTF-8 or longer than maxLineBytes are skipped, and a truncated .xz stream ends its file with a warning.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { DataError } from '../data/errors';
import { splitSentences } from './text';

export interface CorpusStats {
  /** raw lines seen (decoded or skipped) */
  lines: number;
  invalidUtf8: number;
  tooLong: number;
  /** one message per file whose decompression failed (e.g. truncated .xz) */
  streamErrors: string[];
}

export function newStats(): CorpusStats {
  return { lines: 0, invalidUtf8: 0, tooLong: 0, streamErrors: [] };
}

export function describeProblems(s: CorpusStats): string | null {
  const parts: string[] = [];
  if (s.invalidUtf8) parts.push(`${s.invalidUtf8} line(s) with invalid UTF-8`);
  if (s.tooLong) parts.push(`${s.tooLong} over-long line(s)`);
  for (const e of s.streamErrors) parts.push(e);
  return parts.length ? `corpus warning: skipped ${parts.join('; ')}` : null;
}

export interface LineOptions {
  /** Lines longer than this (bytes) are skipped without being buffered whole. */
  maxLineBytes?: number;
  /** Global line number (over all files, 0-based) to start at; earlier lines are counted, not decoded. */
  startLine?: number;
  stats?: CorpusStats;
}

export function checkCorpusFiles(files: readonly string[]): void {
  if (files.length === 0) throw new Error('no corpus file given');
  for (const f of files) {
    if (!fs.existsSync(f)) throw new DataError(f, undefined, 'no such file');
    if (fs.statSync(f).isDirectory()) throw new DataError(f, undefined, 'is a directory');
  }
}

function openStream(file: string): { stream: Readable; done: Promise<string | null>; close: () => void } {
  if (!file.endsWith('.xz')) {
    const stream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    return { stream, done: Promise.resolve(null), close: () => stream.destroy() };
  }
  const child = spawn('xz', ['-dc', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b: Buffer) => {
    if (err.length < 2000) err += b.toString();
  });
  let exited = false;
  const done = new Promise<string | null>((resolve) => {
    child.on('error', (e) => {
      exited = true;
      resolve(`${file}: cannot run xz (${e.message})`);
    });
    child.on('close', (code, signal) => {
      exited = true;
      resolve(
        code === 0 || signal === 'SIGTERM'
          ? null
          : `${file}: xz failed (${err.trim().split('\n')[0] || `exit ${code}`}); the rest of the file was skipped`,
      );
    });
  });
  return {
    stream: child.stdout,
    done,
    close: () => {
      if (!exited) child.kill('SIGTERM');
    },
  };
}

/** Lines of the files in order, with their global line number. */
export async function* readLines(
  files: readonly string[],
  opts: LineOptions = {},
): AsyncGenerator<{ text: string; lineNo: number }> {
  const maxBytes = opts.maxLineBytes ?? 4 << 20;
  const start = opts.startLine ?? 0;
  const stats = opts.stats ?? newStats();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let lineNo = 0;
  for (const file of files) {
    const src = openStream(file);
    let parts: Buffer[] = [];
    let len = 0;
    let overflow = false;
    // Returns the decoded line or null when skipped.
    const finish = (): string | null => {
      const n = lineNo++;
      stats.lines++;
      const bufs = parts;
      const over = overflow;
      parts = [];
      len = 0;
      overflow = false;
      if (n < start) return null;
      if (over) {
        stats.tooLong++;
        return null;
      }
      try {
        return decoder.decode(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs));
      } catch {
        stats.invalidUtf8++;
        return null;
      }
    };
    try {
      for await (const chunk of src.stream as AsyncIterable<Buffer>) {
        let pos = 0;
        for (;;) {
          const nl = chunk.indexOf(10, pos);
          const end = nl < 0 ? chunk.length : nl;
          if (!overflow && lineNo >= start) {
            if (len + end - pos > maxBytes) {
              overflow = true;
              parts = [];
            } else if (end > pos) parts.push(chunk.subarray(pos, end));
          }
          len += end - pos;
          if (nl < 0) break;
          const text = finish();
          if (text !== null) yield { text, lineNo: lineNo - 1 };
          pos = nl + 1;
        }
      }
      if (len > 0 || parts.length > 0) {
        const text = finish(); // last line without a newline (possibly cut short)
        if (text !== null) yield { text, lineNo: lineNo - 1 };
      }
      const problem = await src.done;
      if (problem) stats.streamErrors.push(problem);
    } finally {
      src.close();
    }
  }
}

export interface CorpusDoc {
  sentences: string[];
  /** index among documents that have at least one sentence (global over the files) */
  docIndex: number;
  lineNo: number;
}

/** Documents (lines with at least one 10-600 character sentence), from a position saved earlier. */
export async function* readDocuments(
  files: readonly string[],
  opts: LineOptions & { startDoc?: number } = {},
): AsyncGenerator<CorpusDoc> {
  let docIndex = opts.startDoc ?? 0;
  for await (const { text, lineNo } of readLines(files, opts)) {
    const sentences = splitSentences(text);
    if (sentences.length > 0) yield { sentences, docIndex: docIndex++, lineNo };
  }
}

/** Every sentence of the corpus (a sample of these trains the SentencePiece model). */
export async function* readSentences(files: readonly string[], opts: LineOptions = {}): AsyncGenerator<string> {
  for await (const d of readDocuments(files, opts)) yield* d.sentences;
}
