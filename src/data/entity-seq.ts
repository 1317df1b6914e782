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
  /** Surfaces given without a type ("Narnia <sep>", a last "Narnia"): still predictions, for scoring (wrong ones). */
  untyped: string[];
}

/** <none>, </s>, <pad>, <unk>, <extra_id_0>: markers of the format or tokenizer, never a name or type in a file. */
const SPECIAL_TOKEN = /^(<none>|<\/s>|<s>|<pad>|<unk>|<extra_id_\d+>)$/i;

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
 * given, compared after lower-casing and collapsing spaces), and with `inFile` a special token as a surface or type
 * (model output keeps such an entity: it was predicted, and scores as a wrong prediction). Only well-formed entities
 * are kept.
 */
export function parseEntitySequence(text: string, types?: ReadonlySet<string>, inFile = false): ParsedSequence {
  const t = text.trim();
  if (t === '' || t === NONE_LINE) return { entities: [], problems: [], untyped: [] };
  const fields = t.split(/\s*<sep>\s*/);
  const problems: string[] = [];
  const untyped: string[] = [];
  if (fields.length % 2 !== 0) {
    problems.push(`odd number of fields (${fields.length}): the last surface has no type`);
    const last = (fields[fields.length - 1] as string).trim();
    if (last !== '') untyped.push(last);
  }
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
    if (inFile && (SPECIAL_TOKEN.test(surface) || SPECIAL_TOKEN.test(type))) {
      const [what, v] = SPECIAL_TOKEN.test(surface) ? ['surface', surface] : ['type', type];
      problems.push(
        `entity ${n}: ${what} "${v}" is a special token (a line holding only ${NONE_LINE} means no entities)`,
      );
      continue;
    }
    if (type === '') {
      problems.push(`entity ${n} ("${surface}"): empty type`);
      untyped.push(surface);
      continue;
    }
    if (known && !known.has(normType(type))) {
      problems.push(`entity ${n} ("${surface}"): unknown type "${type}"`);
      continue;
    }
    entities.push({ surface, type });
  }
  return { entities, problems, untyped };
}

/**
 * The log-probability of each entity of a generated sequence, from its tokens' log-probabilities: entity k owns the
 * `<sep>` that opened it (none for the first), its surface tokens, the `<sep>` that closed the surface and its type
 * tokens. So it is log P(this entity next | the entities before it), and the entities' values plus the tokens after
 * the last type (EOS, or a dangling surface) sum to the sequence's log-probability. One value per complete
 * surface/type pair, in order: the pairs that splitting the decoded text at `<sep>` gives.
 */
export function entityLogProbs(
  tokens: readonly number[],
  logProbs: readonly number[],
  sepId: number,
  eosId: number,
): number[] {
  const out: number[] = [];
  let field = 0; // fields completed so far (surface, type, surface, ...)
  let acc = 0; // the current entity's sum so far
  for (let i = 0; i < tokens.length && tokens[i] !== eosId; i++) {
    const lp = logProbs[i] as number;
    if (tokens[i] !== sepId) {
      acc += lp;
      continue;
    }
    field++;
    if (field % 2 === 1)
      acc += lp; // closes a surface: part of this entity
    else {
      out.push(acc); // closes a type: the entity is complete, the <sep> opens the next one
      acc = lp;
    }
  }
  if (field % 2 === 1) out.push(acc); // the last type ended at EOS or the length limit
  return out;
}

/** A Q-file line for a sequence (`<none>` when empty). */
export function toQLine(entities: readonly SeqEntity[]): string {
  return entities.length === 0 ? NONE_LINE : formatEntitySequence(entities);
}

/** Parse one Q-file line; an empty line is a problem (write `<none>` for no entities). */
export function parseQLine(line: string, types?: ReadonlySet<string>): ParsedSequence {
  if (line.trim() === '')
    return {
      entities: [],
      problems: [`empty line (write ${NONE_LINE} for a sentence without entities)`],
      untyped: [],
    };
  return parseEntitySequence(line, types, true);
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

/** Edit distance with adjacent transpositions counted as one edit ("preson" -> "person": 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/**
 * Type words of entity sequences (one list per line of `file`) that look misspelt: rare (once, or at most 1% of the
 * entities) and within 1 edit (2 for words of 6+ letters) of a more frequent type word. Every type word of Q becomes a
 * type S2E learns to emit, so "locaton" next to "location" is worth a warning; not an error, as rare types are legal.
 */
export function rareTypeWarnings(file: string, seqs: readonly (readonly SeqEntity[])[]): string[] {
  const words = new Map<string, { count: number; line: number; shown: string }>();
  let total = 0;
  seqs.forEach((q, i) => {
    for (const e of q) {
      total++;
      const k = normType(e.type);
      const w = words.get(k);
      if (w) w.count++;
      else words.set(k, { count: 1, line: i + 1, shown: e.type });
    }
  });
  const out: string[] = [];
  for (const [k, w] of words) {
    if (w.count > 1 && w.count > total / 100) continue;
    const close = [...words]
      .filter(
        ([o, x]) => o !== k && x.count > w.count && editDistance(k, o) <= (Math.min(k.length, o.length) >= 6 ? 2 : 1),
      )
      .sort(([, x], [, y]) => y.count - x.count)[0];
    if (!close) continue;
    const times = (n: number) => `${n} time${n === 1 ? '' : 's'}`;
    out.push(
      `warning: ${file}:${w.line}: type word "${w.shown}" occurs ${times(w.count)} in ${total} entities and is close to "${close[1].shown}" (${times(close[1].count)}): a misspelling? Each type word of Q is a type S2E learns to emit`,
    );
  }
  return out;
}
