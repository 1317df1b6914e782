// The paper's entity-sequence text format: "surface <sep> type <sep> surface <sep> type", entities
// in order of appearance, repeats kept. At the model level a sentence without entities is the
// empty string; in Q files (one sequence per line) it is the line `<none>`, because an empty line
// would be ambiguous with a stray blank line.

/** The separator of the text format (the tokenizer adds it as one token: SEP_TOKEN in src/t5/tokenizer.ts). */
export const SEP = '<sep>';
export const NONE_LINE = '<none>';

export interface SeqEntity {
  surface: string;
  /** Verbalised type word(s), e.g. "organization". */
  type: string;
}

export interface ParsedSequence {
  /** Well-formed entities, in order. */
  entities: SeqEntity[];
  /** Human-readable problems; empty when the sequence is well-formed. */
  problems: string[];
}

/** Serialise entities; throws when a surface or type cannot be represented. */
export function formatEntitySequence(entities: readonly SeqEntity[]): string {
  return entities
    .map((e) => {
      for (const [what, v] of [
        ['surface', e.surface],
        ['type', e.type],
      ] as const) {
        if (v.trim() === '') throw new Error(`entity ${what} is empty`);
        if (v.includes(SEP)) throw new Error(`entity ${what} "${v}" contains ${SEP}`);
        if (/[\r\n]/.test(v)) throw new Error(`entity ${what} "${v}" contains a line break`);
      }
      return `${e.surface.trim()} ${SEP} ${e.type.trim()}`;
    })
    .join(` ${SEP} `);
}

/**
 * Parse model output or a Q line. Tolerant of spacing around <sep> ("EU<sep> organization").
 * Problems reported: odd number of fields, empty surface or type, unknown type (when `types` is
 * given, compared after lower-casing and collapsing spaces). Only well-formed entities are kept.
 */
export function parseEntitySequence(text: string, types?: ReadonlySet<string>): ParsedSequence {
  const t = text.trim();
  if (t === '' || t === NONE_LINE) return { entities: [], problems: [] };
  const fields = t.split(/\s*<sep>\s*/);
  const problems: string[] = [];
  if (fields.length % 2 !== 0) problems.push(`odd number of fields (${fields.length}): the last surface has no type`);
  const known = types ? new Set([...types].map(normType)) : undefined;
  const entities: SeqEntity[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const surface = (fields[i] as string).trim();
    const type = (fields[i + 1] as string).trim().replace(/\s+/g, ' ');
    const n = i / 2 + 1;
    if (surface === '') {
      problems.push(`entity ${n}: empty surface`);
      continue;
    }
    if (type === '') {
      problems.push(`entity ${n} ("${surface}"): empty type`);
      continue;
    }
    if (known && !known.has(normType(type))) {
      problems.push(`entity ${n} ("${surface}"): unknown type "${type}"`);
      continue;
    }
    entities.push({ surface, type });
  }
  return { entities, problems };
}

/** A Q-file line for a sequence (`<none>` when empty). */
export function toQLine(entities: readonly SeqEntity[]): string {
  return entities.length === 0 ? NONE_LINE : formatEntitySequence(entities);
}

/** Parse one Q-file line; an empty line is a problem (write `<none>` for no entities). */
export function parseQLine(line: string, types?: ReadonlySet<string>): ParsedSequence {
  if (line.trim() === '')
    return { entities: [], problems: [`empty line (write ${NONE_LINE} for a sentence without entities)`] };
  return parseEntitySequence(line, types);
}

export function normType(t: string): string {
  return t.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** Type words of model-level entity sequences (sorted, distinct), e.g. the types grounded decoding may emit. */
export function typesOf(seqs: readonly string[]): string[] {
  const s = new Set<string>();
  for (const q of seqs) {
    const f = q.trim() === '' ? [] : q.split(/\s*<sep>\s*/);
    for (let i = 1; i < f.length; i += 2) s.add((f[i] as string).trim());
  }
  return [...s].filter((t) => t !== '').sort();
}
