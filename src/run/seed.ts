// Engine RNG seeds of data-parallel ranks. The formula is part of every saved run's trajectory (dropout draws): a
// change here would make existing runs resume differently.

import * as T from '../tensor';

const RANK_STRIDE = 7919;

/** The seed of rank `rank` at global step `step`: rank 0 of a fresh run draws the run's own seed; any other rank its
 *  own stream, offset by the step a sitting starts at so that a resumed rank does not replay its first draws. */
export function rankSeed(seed: number, rank: number, step = 0): number {
  return seed + RANK_STRIDE * rank + step;
}

/**
 * Seed this process's engine RNG for a sitting that starts at `step`. Rank 0 of a resumed run keeps the generator
 * state it restored from the checkpoint (`restored`), so an uninterrupted run and an interrupted-and-resumed one draw
 * the same dropout masks; every other case seeds from rankSeed.
 */
export function seedRankEngine(seed: number, step: number, restored: boolean): void {
  const rank = T.dist.rank();
  if (restored && rank === 0) return;
  T.manualSeed(rankSeed(seed, rank, step));
}
