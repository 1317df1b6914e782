// Why a sitting of a run stopped: one vocabulary for the three trainers (their results' `stoppedBy`, the `end` record
// of metrics.jsonl), and the stop votes of a process group.

import * as T from '../tensor';

export type StopReason =
  /** The step budget is spent (epochs, --max-steps, --steps). */
  | 'steps'
  /** The time budget is spent (pretrain --max-minutes). */
  | 'time'
  /** A sitting's own step limit (pretrain's stopAfter, for tests and benchmarks). */
  | 'stop-after'
  /** Ctrl-C / SIGTERM / an aborted AbortSignal: the checkpoint holds the last step, --resume continues. */
  | 'signal'
  /** No better evaluation in `patience` evaluations. */
  | 'patience'
  /** The S2E outputs collapsed and the run was told to stop (or had no rollback left). */
  | 'collapse';

/** Whether any rank of the process group was signalled (alone: whether this process was): a rank's stop is everyone's,
 *  at the same step. */
export function signalledOnAnyRank(signal: AbortSignal | undefined): Promise<boolean> {
  return T.dist.anyRank(signal?.aborted === true);
}
