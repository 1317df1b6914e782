// How faithfully E2S copies Q's entity names into the sentence it generates (S′). A name that E2S drops or changes
// teaches S2E, in the E-cycle, to emit a name that is not in its input: the copy rate is logged at every step and
// evaluation, and `eCycleFilter: 'copied'` trains S2E only on the pairs whose names were all copied.

import { parseEntitySequence } from '../data/entity-seq';

export interface CopyCounts {
  /** Entity names in the entity sequences. */
  names: number;
  /** Of those, names found verbatim in the generated sentence. */
  copied: number;
}

/** Names of `q` found verbatim (case-sensitive, as the grounded S2E must find them) in `s`. */
export function nameCopy(q: string, s: string): CopyCounts {
  const names = parseEntitySequence(q).entities.map((e) => e.surface);
  return { names: names.length, copied: names.filter((n) => s.includes(n)).length };
}

export function copyCounts(qs: readonly string[], ss: readonly string[]): CopyCounts {
  let names = 0;
  let copied = 0;
  qs.forEach((q, i) => {
    const c = nameCopy(q, ss[i] ?? '');
    names += c.names;
    copied += c.copied;
  });
  return { names, copied };
}

export const copyRate = (c: CopyCounts): number | null => (c.names === 0 ? null : c.copied / c.names);
