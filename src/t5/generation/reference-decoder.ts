// The reference decoder: model.decode() one position at a time on its growing (T.cat) cache.

import * as T from '../../tensor';
import type { Tensor } from '../../tensor';
import { DecoderCache, T5ForConditionalGeneration } from '../model';
import type { Decoder } from './decoder';
import { GenerateInput, GenerationContext, repeatRows } from './types';

/** Encode once (rows repeated n times); returns the cross-attention cache and the source mask bias, both kept. */
function prepare(
  model: T5ForConditionalGeneration,
  ids: Int32Array,
  mask: Int32Array,
  rows: number,
  len: number,
): { cache: DecoderCache; maskBias: Tensor } {
  return T.tidy(() => {
    const m = T.tensor(mask, [rows, len]);
    const enc = model.encode(T.tensor(ids, [rows, len], 'int64'), m);
    return { cache: model.emptyCache(enc), maskBias: T5ForConditionalGeneration.maskBias(m) };
  });
}

/** model.decode() one position at a time on its growing (T.cat) cache: the straightforward reference. */
export class ReferenceDecoder implements Decoder {
  private cache: DecoderCache;
  private maskBias: Tensor;
  constructor(
    private readonly ctx: GenerationContext,
    inp: GenerateInput,
    n: number,
  ) {
    const p = prepare(
      ctx.model,
      repeatRows(inp.ids, inp.batch, inp.length, n),
      repeatRows(inp.mask, inp.batch, inp.length, n),
      inp.batch * n,
      inp.length,
    );
    this.cache = p.cache;
    this.maskBias = p.maskBias;
  }

  readonly sparseHeadExact = true; // columns picked from the full logits

  step(last: Int32Array, body: (logits: Tensor) => Tensor[], vocabRows?: Int32Array): Tensor[] {
    const rows = last.length;
    const res = T.tidy(() => {
      const { logits, cache } = this.ctx.model.decode(
        T.tensor(last, [rows, 1], 'int64'),
        null,
        this.maskBias,
        this.cache,
      );
      let l = logits.view([rows, this.ctx.vocab]);
      if (vocabRows) l = l.indexSelect(1, T.tensor(vocabRows, [vocabRows.length], 'int64'));
      return { cache: cache!, out: body(l.float()) };
    });
    for (const l of this.cache.layers) if (l.self) T.dispose([l.self.k, l.self.v]);
    this.cache = res.cache;
    return res.out;
  }

  select(idx: Int32Array, sameSources: boolean): void {
    const old = this.cache;
    const oldBias = this.maskBias;
    const res = T.tidy(() => {
      const ix = T.tensor(idx, [idx.length], 'int64');
      const pick = (t: Tensor) => t.indexSelect(0, ix);
      const layers = old.layers.map((l) => ({
        self: l.self && { k: pick(l.self.k), v: pick(l.self.v) },
        cross: sameSources ? l.cross : { k: pick(l.cross.k), v: pick(l.cross.v) },
      }));
      return { cache: { length: old.length, layers }, maskBias: sameSources ? oldBias : pick(oldBias) };
    });
    for (const l of old.layers) {
      if (l.self) T.dispose([l.self.k, l.self.v]);
      if (!sameSources) T.dispose([l.cross.k, l.cross.v]);
    }
    if (!sameSources) oldBias.dispose();
    this.cache = res.cache;
    this.maskBias = res.maskBias;
  }

  dispose(): void {
    for (const l of this.cache.layers) {
      if (l.self) T.dispose([l.self.k, l.self.v]);
      T.dispose([l.cross.k, l.cross.v]);
    }
    this.maskBias.dispose();
  }
}
