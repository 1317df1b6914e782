// Decoding flags shared by `predict` and `evaluate --model`, and their end-of-run issue count. Grounding and the
// length limit default to the model's recorded setting (cyclener.json `decode`, see src/cycle/model-io.ts).

import { issueCounts, type SentenceIssues } from '../cycle/predict';
import { FALLBACK_DECODE } from '../cycle/model-io';
import type { FlagSpec, FlagValue } from './args';
import { AT_LEAST_1, FRACTION } from './args';
import { PRECISION_FLAG, precisionOf } from './common';

export const PREDICT_FLAGS = {
  'no-ground': {
    type: 'boolean',
    help: "plain decoding: S2E may emit any text (default: the model's setting, grounded unless it was trained with --no-ground; --no-ground=false forces grounded)",
  },
  'max-new-tokens': {
    type: 'int',
    arg: 'N',
    help: `longest entity sequence in tokens (default: the model's setting, else ${FALLBACK_DECODE.maxNewTokens})`,
    range: AT_LEAST_1,
  },
  beams: { type: 'int', arg: 'N', help: 'beam width (1 = greedy)', shownDefault: 1, range: AT_LEAST_1 },
  'predict-batch': { type: 'int', arg: 'N', help: 'sentences per generation batch', default: 32, range: AT_LEAST_1 },
  threshold: {
    type: 'number',
    arg: 'T',
    help: "drop entities scored below T (default: the model's recorded threshold, else 0: keep all)",
    range: FRACTION,
  },
  ...PRECISION_FLAG,
} satisfies Record<string, FlagSpec>;

/** predictWithModelDir's options from the flags: decoding left undefined where the model's setting applies. */
export function predictOptions(
  f: { 'no-ground'?: boolean; 'max-new-tokens'?: number; beams?: number; 'predict-batch': number } & Record<
    string,
    FlagValue
  >,
) {
  return {
    ...(f['no-ground'] !== undefined ? { grounded: !f['no-ground'] } : {}),
    ...(f['max-new-tokens'] !== undefined ? { maxNewTokens: f['max-new-tokens'] } : {}),
    ...(f.beams !== undefined ? { numBeams: f.beams } : {}),
    batch: f['predict-batch'],
    precision: precisionOf(f),
  };
}

/**
 * "K sentences had output cut or entities dropped (...)": the end-of-run count of predict and evaluate --model.
 * `unplaced[i]`: entities of sentence i that alignment could not place (not in the sentence, unknown type, overlap).
 */
export function issueSummary(issues: readonly SentenceIssues[], unplaced: readonly number[] = []): string {
  return new IssueTally().add(issues, unplaced).summary();
}

/** issueSummary's counts, added a chunk at a time (a stream of predictions keeps no per-sentence record). */
export class IssueTally {
  private sentences = 0;
  private cut = 0;
  private emptySurface = 0;
  private partialWord = 0;
  private unplaced = 0;
  private placing = false;

  /** `unplaced`: per sentence, entities that could not be placed in it (aligned output only). */
  add(issues: readonly SentenceIssues[], unplaced: readonly number[] = []): this {
    const c = issueCounts(issues);
    this.cut += c.cut;
    this.emptySurface += c.emptySurface;
    this.partialWord += c.partialWord;
    this.sentences += issues.filter((x, i) => x.cut || x.dropped.length > 0 || (unplaced[i] ?? 0) > 0).length;
    this.unplaced += unplaced.reduce((a, b) => a + b, 0);
    this.placing ||= unplaced.length > 0;
    return this;
  }

  summary(): string {
    const why = [
      `${this.emptySurface} empty surface`,
      `${this.partialWord} partial word`,
      ...(this.placing ? [`${this.unplaced} not placed`] : []),
    ];
    const dropped = this.emptySurface + this.partialWord + this.unplaced;
    return `${this.sentences} sentences had output cut or entities dropped (${this.cut} cut: malformed or stopped by --max-new-tokens; ${dropped} entities dropped: ${why.join(', ')})`;
  }
}
