// End-of-run counts of sentences whose generated output was cut or lost entities (`predict`, `evaluate --model`).

import { issueCounts, type SentenceIssues } from '../cycle/predict';

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
