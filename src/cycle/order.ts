// Data order: a seeded permutation per epoch (and per pass, for the smaller set that is cycled),
// derived from (seed, set, epoch, pass) alone, so a resumed run needs no RNG state to continue it.

import { Rng } from '../util/rng';

export class EpochOrder {
  private cache = new Map<string, number[]>();
  constructor(
    readonly seed: number,
    readonly name: string,
    readonly n: number,
  ) {
    if (n <= 0) throw new Error(`${name}: empty set`);
  }

  /** Index of the k-th item drawn in `epoch`; the set wraps (reshuffled each pass) when k >= n. */
  at(epoch: number, k: number): number {
    const pass = Math.floor(k / this.n);
    const key = `${epoch}/${pass}`;
    let p = this.cache.get(key);
    if (!p) {
      if (this.cache.size > 8) this.cache.clear();
      p = new Rng(this.seed).fork(`${this.name}/epoch${epoch}/pass${pass}`).permutation(this.n);
      this.cache.set(key, p);
    }
    return p[k % this.n] as number;
  }
}
