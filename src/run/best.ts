// Best-so-far and patience, as every trainer selects: a score per evaluation (lower is better), the best kept, the
// evaluations since it counted. The state is part of each trainer's checkpoint, so a resume selects as before.

export interface BestState {
  bestScore: number | null;
  bestStep: number | null;
  evalsWithoutImprovement: number;
}

export const freshBest = (): BestState => ({ bestScore: null, bestStep: null, evalsWithoutImprovement: 0 });

/**
 * Record the evaluation at `step` with `score` (null: not measured, it neither improves nor counts against
 * patience). `eligible` false (a collapsed evaluation) never becomes the best but counts. Returns whether it is the
 * new best (the caller then writes its model).
 */
export function recordScore(state: BestState, score: number | null, step: number, eligible = true): boolean {
  if (score === null) return false;
  const improved = eligible && (state.bestScore === null || score < state.bestScore);
  if (improved) {
    state.bestScore = score;
    state.bestStep = step;
    state.evalsWithoutImprovement = 0;
  } else state.evalsWithoutImprovement++;
  return improved;
}

/** Whether `patience` evaluations in a row brought no better score (patience 0: never). */
export function patienceSpent(state: BestState, patience: number): boolean {
  return patience > 0 && state.evalsWithoutImprovement >= patience;
}
