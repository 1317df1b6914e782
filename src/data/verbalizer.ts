// Label verbaliser: dataset labels (PER, B-/I- stripped) <-> natural-language type words used in
// entity sequences ("person"). The inverse turns model output back into tags; it is
// case-insensitive and whitespace-tolerant because generated text may vary ("Organization").

import { readUtf8 } from './readers';
import { DataError } from './errors';
import { normType } from './entity-seq';

export const DEFAULT_VERBALIZERS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  conll2003: { PER: 'person', ORG: 'organization', LOC: 'location', MISC: 'miscellaneous' },
  wnut17: {
    person: 'person',
    location: 'location',
    corporation: 'corporation',
    product: 'product',
    'creative-work': 'creative work',
    group: 'group',
  },
  bc2gm: { GENE: 'gene' },
  ontonotes: {
    PERSON: 'person',
    NORP: 'group',
    FAC: 'facility',
    ORG: 'organization',
    GPE: 'geopolitical',
    LOC: 'location',
    PRODUCT: 'product',
    EVENT: 'event',
    WORK_OF_ART: 'work of art',
    LAW: 'law',
    LANGUAGE: 'language',
    DATE: 'date',
    TIME: 'time',
    PERCENT: 'percent',
    MONEY: 'money',
    QUANTITY: 'quantity',
    ORDINAL: 'ordinal',
    CARDINAL: 'cardinal',
  },
};

export class Verbalizer {
  private readonly toWord = new Map<string, string>();
  private readonly toLabel = new Map<string, string>();

  constructor(map: Readonly<Record<string, string>>) {
    for (const [label, word] of Object.entries(map)) {
      if (word.trim() === '' || word.includes('<sep>') || /[\r\n]/.test(word))
        throw new Error(`verbaliser: bad word "${word}" for label ${label}`);
      const key = normType(word);
      const other = this.toLabel.get(key);
      if (other !== undefined)
        throw new Error(
          `verbaliser: labels ${other} and ${label} both map to "${word}"; the mapping must be one-to-one`,
        );
      this.toWord.set(label, word.trim());
      this.toLabel.set(key, label);
    }
  }

  labels(): string[] {
    return [...this.toWord.keys()];
  }
  words(): string[] {
    return [...this.toWord.values()];
  }
  /** Set of type words, for parseEntitySequence's unknown-type check. */
  wordSet(): Set<string> {
    return new Set(this.toWord.values());
  }
  has(label: string): boolean {
    return this.toWord.has(label);
  }

  verbalize(label: string): string {
    const w = this.toWord.get(label);
    if (w === undefined)
      throw new Error(`verbaliser has no word for label "${label}" (known: ${this.labels().join(', ')})`);
    return w;
  }

  /** Dataset label for a type word, or undefined when the word is unknown. */
  label(word: string): string | undefined {
    return this.toLabel.get(normType(word));
  }

  toJSON(): Record<string, string> {
    return Object.fromEntries(this.toWord);
  }
}

export function defaultVerbalizer(dataset: string): Verbalizer {
  const m = DEFAULT_VERBALIZERS[dataset];
  if (!m)
    throw new Error(
      `no default verbaliser for dataset "${dataset}" (known: ${Object.keys(DEFAULT_VERBALIZERS).join(', ')})`,
    );
  return new Verbalizer(m);
}

/** The type word of a label no verbaliser knows: lower-cased, '_'/'-' -> space ("WORK_OF_ART" -> "work of art"). */
export function fallbackWord(label: string): string {
  return label.toLowerCase().replace(/[_-]+/g, ' ');
}

/**
 * The default verbaliser that knows most of `labels` (the first when several know them all). Labels it does not know
 * get their fallback word and are listed in `unknown`, for the caller to warn about: one stray label (I-FOO in a CoNLL
 * file) must not turn every other label into its fallback word. With no default knowing any label (a custom dataset),
 * every label gets its fallback word and `unknown` is empty.
 */
export function verbalizerForLabels(labels: Iterable<string>): {
  verbalizer: Verbalizer;
  dataset: string | undefined;
  unknown: string[];
} {
  const ls = [...new Set(labels)];
  let best: string | undefined;
  let known = 0;
  for (const [name, m] of Object.entries(DEFAULT_VERBALIZERS)) {
    const n = ls.filter((l) => l in m).length;
    if (n > known) [best, known] = [name, n];
  }
  const base = best === undefined ? {} : DEFAULT_VERBALIZERS[best]!;
  const unknown = ls.filter((l) => !(l in base));
  const map: Record<string, string> = { ...base };
  for (const l of unknown) map[l] = fallbackWord(l);
  return { verbalizer: new Verbalizer(map), dataset: best, unknown: best === undefined ? [] : unknown };
}

/** Load a JSON object {"LABEL": "word", ...}. */
export function loadVerbalizer(file: string): Verbalizer {
  let obj: unknown;
  try {
    obj = JSON.parse(readUtf8(file));
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(file, undefined, `invalid JSON (${(e as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new DataError(file, undefined, 'expected a JSON object {"LABEL": "type word", ...}');
  for (const [k, v] of Object.entries(obj))
    if (typeof v !== 'string') throw new DataError(file, undefined, `value for "${k}" must be a string`);
  try {
    return new Verbalizer(obj as Record<string, string>);
  } catch (e) {
    throw new DataError(file, undefined, (e as Error).message);
  }
}
