// Which verbaliser (dataset label -> type word) a command or library call uses: `--verbalizer FILE` (or an in-memory
// map), else `--dataset NAME`, else the default set that knows the labels, with a warning for each label it does not.
// One implementation for the CLI's flags and the library's options, so both choose, warn and refuse alike.

import type { LabeledCorpus } from './readers';
import { UsageError } from '../util/errors';
import { defaultVerbalizer, DEFAULT_VERBALIZERS, loadVerbalizer, Verbalizer, verbalizerForLabels } from './verbalizer';

export interface VerbalizerSource {
  /** A JSON file {"LABEL": "type word", ...} (`--verbalizer FILE`) or such a map. */
  verbalizer?: string | Readonly<Record<string, string>> | undefined;
  /** A default verbaliser by name (`--dataset NAME`). */
  dataset?: string | undefined;
}

/** "FILE:LINE" of the first mention labelled `label` in the corpora (token files: the line of its first token). */
export function labelSite(corpora: readonly LabeledCorpus[], label: string): string | undefined {
  for (const c of corpora)
    for (const s of c.sentences) {
      const e = s.entities.find((x) => x.label === label);
      if (e && s.source) return `${s.source.file}:${s.source.line + (c.format === 'jsonl' ? 0 : e.start)}`;
    }
  return undefined;
}

/**
 * The source's verbaliser, else `dataset` (a caller's default), else the default that knows the labels. Labels that
 * default does not know get their fallback word, each with a warning naming where it occurs (`notes`: the corpora the
 * labels come from). A label the chosen verbaliser has no word for is a UsageError.
 */
export function chooseVerbalizer(
  src: VerbalizerSource,
  labels: Iterable<string>,
  dataset?: string,
  notes?: { warn: (line: string) => void; corpora: readonly LabeledCorpus[] },
): Verbalizer {
  const ds = src.dataset ?? dataset;
  let v: Verbalizer;
  if (typeof src.verbalizer === 'string') v = loadVerbalizer(src.verbalizer);
  else if (src.verbalizer) v = new Verbalizer({ ...src.verbalizer });
  else if (ds && DEFAULT_VERBALIZERS[ds]) v = defaultVerbalizer(ds);
  else if (ds && src.dataset)
    throw new UsageError(
      `no default verbaliser for dataset "${ds}" (known: ${Object.keys(DEFAULT_VERBALIZERS).join(', ')}); pass --verbalizer FILE`,
    );
  else {
    const guessed = verbalizerForLabels(labels);
    v = guessed.verbalizer;
    const known = Object.keys(DEFAULT_VERBALIZERS[guessed.dataset ?? ''] ?? {});
    for (const l of guessed.unknown) {
      const site = notes ? labelSite(notes.corpora, l) : undefined;
      notes?.warn(
        `warning: ${site ? `${site}: ` : ''}label "${l}" has no word in the ${guessed.dataset} verbaliser (${known.join(', ')}): its type word is "${v.verbalize(l)}"; the other labels keep theirs (pass --verbalizer FILE to choose)`,
      );
    }
  }
  const missing = [...new Set(labels)].filter((l) => !v.has(l));
  if (missing.length > 0)
    throw new UsageError(
      `the verbaliser has no word for label(s) ${missing.join(', ')}; pass --verbalizer FILE with a mapping`,
    );
  return v;
}

/** The labels of a corpus, sorted. */
export function corpusLabels(c: LabeledCorpus): string[] {
  const s = new Set<string>();
  for (const x of c.sentences) for (const e of x.entities) s.add(e.label);
  return [...s].sort();
}
