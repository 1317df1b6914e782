// Helpers shared by CLI commands: common reader flags, verbaliser choice, file writing.

import { existsSync, mkdirSync } from 'node:fs';
import { writeLines } from '../util/fs';
import { DataError } from '../data/errors';
import {
  readLabeled,
  type LabeledCorpus,
  type LabeledFormat,
  type OffsetUnit,
  type ReadOptions,
} from '../data/readers';
import { parseScheme } from '../data/tags';
import { DEFAULT_VERBALIZERS, type Verbalizer } from '../data/verbalizer';
import { chooseVerbalizer as chooseVerbalizerOf, corpusLabels, labelSite } from '../data/verbalizer-choice';
import type { ReaderSettings, RunHooks } from '../api/run-common';
import type { FlagSpec, FlagValue } from './args';
import { ANY } from './args';
import { FP32_HELP, type Precision } from '../t5/precision';

/** `--fp32`: the opt-out of bf16 autocast (the default for training and generation, see src/t5/precision.ts). */
export const PRECISION_FLAG = {
  fp32: { type: 'boolean', help: FP32_HELP },
} satisfies Record<string, FlagSpec>;

export function precisionOf(f: Record<string, FlagValue | undefined>): Precision {
  return f.fp32 === true ? 'fp32' : 'bf16';
}

export const READER_FLAGS = {
  'tag-column': {
    type: 'int',
    arg: 'N',
    help: 'column holding the tag, 0-based, negative from the end (default: last column)',
    range: ANY,
  },
  scheme: {
    type: 'string',
    arg: 'S',
    help: 'tag scheme instead of detecting it',
    choices: ['IOB1', 'IOB2', 'IOBES', 'BILOU', 'BIO', 'BIOES'],
  },
  'repair-tags': {
    type: 'boolean',
    help: 're-encode invalid tag sequences from their conlleval reading (counted) instead of failing',
  },
  offsets: {
    type: 'string',
    arg: 'U',
    help: 'unit of JSONL start/end: utf16 (JavaScript string indices) or codepoints (Python str indices, spaCy)',
    default: 'utf16',
    choices: ['utf16', 'codepoints'],
  },
} satisfies Record<string, FlagSpec>;

export function offsetsOf(f: Record<string, FlagValue | undefined>): OffsetUnit {
  return f.offsets === 'codepoints' ? 'codepoints' : 'utf16';
}

export const VERBALIZER_FLAGS = {
  dataset: {
    type: 'string',
    arg: 'NAME',
    help: `default label verbaliser to use (${Object.keys(DEFAULT_VERBALIZERS).join(', ')}); guessed from the labels when absent`,
  },
  verbalizer: {
    type: 'string',
    arg: 'FILE',
    help: 'JSON object {"LABEL": "type word", ...} overriding the default verbaliser',
  },
} satisfies Record<string, FlagSpec>;

export function str(v: FlagValue): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: FlagValue): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** The reader options of the reader flags (READER_FLAGS), in `format` ('auto' or absent: guessed). */
export function readOptionsOf(flags: Record<string, FlagValue>, format?: string): ReadOptions {
  const schemeFlag = str(flags.scheme);
  const scheme = schemeFlag ? parseScheme(schemeFlag) : undefined;
  return {
    format: (format && format !== 'auto' ? format : 'auto') as LabeledFormat | 'auto',
    ...(num(flags['tag-column']) !== undefined ? { tagColumn: num(flags['tag-column']) as number } : {}),
    ...(scheme ? { scheme } : {}),
    repair: flags['repair-tags'] === true,
    offsets: offsetsOf(flags),
  };
}

export function readLabeledWithFlags(file: string, flags: Record<string, FlagValue>, format?: string): LabeledCorpus {
  return readLabeled(file, readOptionsOf(flags, format));
}

/** --verbalizer FILE, else --dataset NAME, else the default that knows the labels (data/verbalizer-choice.ts). */
export function chooseVerbalizer(
  flags: Record<string, FlagValue>,
  labels: Iterable<string>,
  dataset?: string,
  notes?: { warn: (line: string) => void; corpora: readonly LabeledCorpus[] },
): Verbalizer {
  return chooseVerbalizerOf({ verbalizer: str(flags.verbalizer), dataset: str(flags.dataset) }, labels, dataset, notes);
}

export { corpusLabels, labelSite };

/** The options whose flag was given (the library's options leave out what is undefined). */
export function givenOptions<T extends Record<string, unknown>>(r: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as never;
}

/** The reader flags (READER_FLAGS) given on the command line, as the library's reader settings. */
export function readerSettingsOf(
  f: Record<string, FlagValue>,
  given: ReadonlySet<string> = new Set(Object.keys(f)),
): ReaderSettings {
  const at = (k: string) => (given.has(k) ? f[k] : undefined);
  return {
    ...(num(at('tag-column')) !== undefined ? { tagColumn: num(at('tag-column')) as number } : {}),
    ...(str(at('scheme')) !== undefined ? { scheme: str(at('scheme')) as ReaderSettings['scheme'] } : {}),
    ...(typeof at('repair-tags') === 'boolean' ? { repair: at('repair-tags') as boolean } : {}),
    ...(str(at('offsets')) !== undefined ? { offsets: offsetsOf(f) } : {}),
  };
}

/** Refuse to use invalid tag sequences silently. */
export function requireCleanTags(c: LabeledCorpus): void {
  if (c.tagProblems.length === 0) return;
  const p = c.tagProblems[0]!;
  throw new DataError(
    c.file,
    p.line,
    `${p.problem}; ${c.tagProblems.length} invalid tag sequence(s) for ${c.scheme} in this file (pass --repair-tags to re-encode them, or --scheme to override the detected scheme)`,
  );
}

export function ensureDir(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true });
}

export { writeLines };

export function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

/** The files of a flag for fingerprintFiles: [file] (or `map(file)`) when the flag is given. */
export function optFiles(file: string | undefined, map: (f: string) => string[] = (x) => [x]): string[] | undefined {
  return file === undefined ? undefined : map(file);
}

/**
 * The hooks a training command passes to its library call: progress lines to `log`, and Ctrl-C stopping the run
 * cleanly once it trains (onInterrupt, installed by onStart; before that, while reading and loading, it quits at once).
 * `dispose` removes the handler.
 */
export function trainingHooks(log: (line: string) => void): {
  hooks: Required<Pick<RunHooks, 'signal' | 'onStart' | 'onProgress'>>;
  dispose: () => void;
} {
  const ac = new AbortController();
  let interrupt: ReturnType<typeof onInterrupt> | undefined;
  return {
    hooks: {
      signal: ac.signal,
      onStart: () => {
        interrupt = onInterrupt(log, ac);
      },
      onProgress: (e) => (e.kind === 'log' ? log(e.message) : undefined),
    },
    dispose: () => interrupt?.dispose(),
  };
}

/**
 * Ctrl-C / SIGTERM during a long run: the first signal asks the run to stop after its current step and write its
 * checkpoint (so `--resume` loses nothing); a second one, seconds later, quits at once. Repeats within 2 s are the
 * same request (a terminal's Ctrl-C reaches an experiment runner's stage directly and again through the runner).
 */
export function onInterrupt(
  log: (line: string) => void,
  ac = new AbortController(),
): { signal: AbortSignal; dispose: () => void } {
  let first = 0;
  const handler = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      if (Date.now() - first < 2000) return;
      log(`${sig} again: quitting without a checkpoint`);
      process.exit(130);
    }
    first = Date.now();
    log(`${sig}: stopping after the current step and writing the checkpoint (again to quit at once)`);
    ac.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
