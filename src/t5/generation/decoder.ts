// The decoding state behind the search loops, and the choice between its two implementations.

import type { Tensor } from '../../tensor';
import { FastDecoder, type EncodedRows } from './fast-decoder';
import { ReferenceDecoder } from './reference-decoder';
import type { GenerateInput, GenerateOptions, GenerationContext } from './types';

/** Advances the rows currently in the batch by one position per step. */
export interface Decoder {
  /**
   * Feeds `last` (one token per batch row); `body` turns the float32 logits [rows, V] into the tensors to return.
   * With `vocabRows` (ascending token ids) the logits are those columns only, [rows, vocabRows.length].
   */
  step(last: Int32Array, body: (logits: Tensor) => Tensor[], vocabRows?: Int32Array): Tensor[];
  /** Whether logits for `vocabRows` equal the full head's columns bit for bit (the sparseHead default). */
  readonly sparseHeadExact: boolean;
  /**
   * Keeps batch rows `idx`, in that order (beam reorder, dropping finished rows). `sameSources`: every row keeps
   * its source (a reorder among the beams of each input), so the cross-attention state stays as it is.
   */
  select(idx: Int32Array, sameSources: boolean): void;
  /** Encodes a further input's rows for placeRows (the fast decoder only: refills). */
  encodeRows?(inp: GenerateInput, n: number): EncodedRows;
  /** Puts rows `idx` of an encoded input in the places of rows `slots` (finished), each at its first position. */
  placeRows?(slots: Int32Array, src: EncodedRows, idx: Int32Array): void;
  /** Appends rows `idx` of an encoded input to the batch, each at its first position. */
  addRows?(src: EncodedRows, idx: Int32Array): void;
  dispose(): void;
}

/** The decoder for `inp`, each source repeated `n` times (beams / return sequences); `reserve`: FastDecoder's. */
export function makeDecoder(
  ctx: GenerationContext,
  inp: GenerateInput,
  n: number,
  opts: GenerateOptions,
  reserve = 0,
): Decoder {
  return (opts.decoder ?? 'fast') === 'fast'
    ? new FastDecoder(ctx, inp, n, opts.maxNewTokens, reserve)
    : new ReferenceDecoder(ctx, inp, n);
}

/** A finished-row count worth a compaction: copying the caches costs about one step of the rows dropped. */
export function worthDropping(opts: GenerateOptions, finished: number, rows: number): boolean {
  return (opts.dropFinished ?? true) && finished > 0 && finished * 8 >= rows;
}
