// Tag schemes: parsing, detection, conlleval-compatible chunking, conversion, validation, repair.
//
// Chunking for IOB1/IOB2 follows conlleval's startOfChunk/endOfChunk rules exactly (an I- after O
// or after another type opens a chunk; B- always opens one; a type change closes one), so spans
// computed here give exactly conlleval's numbers. IOBES/BILOU are mapped to IOB2 first (S/U->B,
// E/L->I): conlleval does not understand S- and would merge adjacent singletons.

import type { Range, TagScheme } from './types';

export interface ParsedTag {
  prefix: 'O' | 'B' | 'I' | 'E' | 'S' | 'L' | 'U';
  type: string;
}

const TAG_RE = /^([BIESLU])-(\S+)$/;

/** Parse a tag string; returns undefined when it is not O or PREFIX-TYPE. */
export function parseTag(tag: string): ParsedTag | undefined {
  if (tag === 'O') return { prefix: 'O', type: '' };
  const m = TAG_RE.exec(tag);
  if (!m) return undefined;
  return { prefix: m[1] as ParsedTag['prefix'], type: m[2] as string };
}

function split(tag: string): [string, string] {
  // conlleval: ($tag, $type) = split(/-/, $tag) — only the part before the first '-' matters for
  // the prefix; the type is the rest (types such as "creative-work" keep their hyphen here).
  if (tag === 'O' || tag === '') return ['O', ''];
  const i = tag.indexOf('-');
  if (i < 0) return [tag, ''];
  return [tag.slice(0, i), tag.slice(i + 1)];
}

/** conlleval's endOfChunk: does a chunk end between the previous and the current tag? */
export function endOfChunk(prevTag: string, tag: string, prevType: string, type: string): boolean {
  let end = false;
  if (prevTag === 'B' && tag === 'B') end = true;
  if (prevTag === 'B' && tag === 'O') end = true;
  if (prevTag === 'I' && tag === 'B') end = true;
  if (prevTag === 'I' && tag === 'O') end = true;
  if (prevTag === 'E' && tag === 'E') end = true;
  if (prevTag === 'E' && tag === 'I') end = true;
  if (prevTag === 'E' && tag === 'O') end = true;
  if (prevTag !== 'O' && prevTag !== '.' && prevType !== type) end = true;
  if (prevTag === ']' || prevTag === '[') end = true;
  return end;
}

/** conlleval's startOfChunk: does a chunk start at the current tag? */
export function startOfChunk(prevTag: string, tag: string, prevType: string, type: string): boolean {
  let start = false;
  if (prevTag === 'B' && tag === 'B') start = true;
  if (prevTag === 'I' && tag === 'B') start = true;
  if (prevTag === 'O' && tag === 'B') start = true;
  if (prevTag === 'O' && tag === 'I') start = true;
  if (prevTag === 'E' && tag === 'E') start = true;
  if (prevTag === 'E' && tag === 'I') start = true;
  if (prevTag === 'O' && tag === 'E') start = true;
  if (tag !== 'O' && tag !== '.' && prevType !== type) start = true;
  if (tag === '[' || tag === ']') start = true;
  return start;
}

export interface TokenChunk extends Range {
  label: string;
}

/**
 * Chunks of one sentence exactly as conlleval finds them (sentence boundaries act as O).
 * Meant for IOB1/IOB2 (and plain B/I/O); use `chunks` for any scheme.
 */
export function conllevalChunks(tags: readonly string[]): TokenChunk[] {
  const out: TokenChunk[] = [];
  let prevTag = 'O';
  let prevType = '';
  let open: TokenChunk | undefined;
  for (let i = 0; i <= tags.length; i++) {
    const [tag, type] = i < tags.length ? split(tags[i] as string) : ['O', ''];
    if (open && endOfChunk(prevTag, tag, prevType, type)) {
      open.end = i;
      out.push(open);
      open = undefined;
    }
    if (i < tags.length && startOfChunk(prevTag, tag, prevType, type)) {
      // conlleval counts every start; close a chunk it never saw end (not reachable with B/I/E/O).
      if (open) {
        open.end = i;
        out.push(open);
      }
      open = { start: i, end: i + 1, label: type };
    }
    prevTag = tag;
    prevType = type;
  }
  return out;
}

/** IOBES/BILOU -> IOB2 tag by tag (lenient; validation reports the invalid sequences). */
function toIob2Lenient(tags: readonly string[]): string[] {
  return tags.map((t) => {
    const p = parseTag(t);
    if (!p || p.prefix === 'O') return 'O';
    if (p.prefix === 'S' || p.prefix === 'U' || p.prefix === 'B') return `B-${p.type}`;
    return `I-${p.type}`;
  });
}

/** Entity chunks of one sentence in any scheme. */
export function chunks(tags: readonly string[], scheme: TagScheme): TokenChunk[] {
  if (scheme === 'IOB1' || scheme === 'IOB2') return conllevalChunks(tags);
  return conllevalChunks(toIob2Lenient(tags));
}

/** Encode chunks as tags of the given scheme. Chunks must not overlap. */
export function chunksToTags(n: number, spans: readonly TokenChunk[], scheme: TagScheme): string[] {
  const tags = new Array<string>(n).fill('O');
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  let lastEnd = 0;
  let lastLabel = '';
  for (const s of sorted) {
    if (s.start < lastEnd) throw new Error(`overlapping chunks at token ${s.start}`);
    if (s.start < 0 || s.end > n || s.end <= s.start)
      throw new Error(`bad chunk [${s.start},${s.end}) for ${n} tokens`);
    const len = s.end - s.start;
    for (let i = s.start; i < s.end; i++) tags[i] = `I-${s.label}`;
    switch (scheme) {
      case 'IOB2':
        tags[s.start] = `B-${s.label}`;
        break;
      case 'IOB1':
        // B- only where the chunk directly follows a chunk of the same type.
        if (s.start === lastEnd && lastLabel === s.label && s.start > 0) tags[s.start] = `B-${s.label}`;
        break;
      case 'IOBES':
      case 'BILOU': {
        const [b, e, single] = scheme === 'IOBES' ? ['B', 'E', 'S'] : ['B', 'L', 'U'];
        if (len === 1) tags[s.start] = `${single}-${s.label}`;
        else {
          tags[s.start] = `${b}-${s.label}`;
          tags[s.end - 1] = `${e}-${s.label}`;
        }
        break;
      }
    }
    lastEnd = s.end;
    lastLabel = s.label;
  }
  return tags;
}

export function convertTags(tags: readonly string[], from: TagScheme, to: TagScheme): string[] {
  return chunksToTags(tags.length, chunks(tags, from), to);
}

export interface TagIssue {
  /** Token index in the sentence. */
  index: number;
  problem: string;
}

/** Sequences that are not well-formed in `scheme` (each still has a lenient reading). */
export function validateTags(tags: readonly string[], scheme: TagScheme): TagIssue[] {
  const issues: TagIssue[] = [];
  const parsed = tags.map((t) => parseTag(t));
  for (let i = 0; i < tags.length; i++) {
    const p = parsed[i];
    if (!p) {
      issues.push({ index: i, problem: `invalid tag "${tags[i]}"` });
      continue;
    }
    const prev = i > 0 ? parsed[i - 1] : undefined;
    const next = i + 1 < tags.length ? parsed[i + 1] : undefined;
    const sameAsPrev = !!prev && prev.prefix !== 'O' && prev.type === p.type;
    if (scheme === 'IOB2' || scheme === 'IOB1') {
      if (p.prefix !== 'O' && p.prefix !== 'B' && p.prefix !== 'I') {
        issues.push({ index: i, problem: `tag "${tags[i]}" is not allowed in ${scheme}` });
      } else if (scheme === 'IOB2' && p.prefix === 'I' && !sameAsPrev) {
        issues.push({ index: i, problem: `"${tags[i]}" starts an entity (IOB2 needs B-${p.type})` });
      } else if (scheme === 'IOB1' && p.prefix === 'B' && !sameAsPrev) {
        issues.push({
          index: i,
          problem: `"${tags[i]}" does not follow a ${p.type} entity (IOB1 uses B- only between adjacent entities of one type)`,
        });
      }
      continue;
    }
    const [B, I, E, S] = scheme === 'IOBES' ? ['B', 'I', 'E', 'S'] : ['B', 'I', 'L', 'U'];
    const allowed = new Set(['O', B, I, E, S]);
    if (!allowed.has(p.prefix)) {
      issues.push({ index: i, problem: `tag "${tags[i]}" is not allowed in ${scheme}` });
      continue;
    }
    const continues = (q: ParsedTag | undefined) => !!q && q.type === p.type && (q.prefix === I || q.prefix === E);
    const opened = !!prev && prev.type === p.type && (prev.prefix === B || prev.prefix === I);
    if (p.prefix === B && !continues(next))
      issues.push({ index: i, problem: `"${tags[i]}" is not followed by ${I}-/${E}-${p.type}` });
    if ((p.prefix === I || p.prefix === E) && !opened)
      issues.push({ index: i, problem: `"${tags[i]}" does not continue a ${p.type} entity` });
    if (p.prefix === I && !continues(next))
      issues.push({ index: i, problem: `"${tags[i]}" is not followed by ${I}-/${E}-${p.type}` });
  }
  return issues;
}

/** Re-encode a sentence from its lenient (conlleval) reading; returns tags and number changed. */
export function repairTags(tags: readonly string[], scheme: TagScheme): { tags: string[]; changed: number } {
  const fixed = chunksToTags(tags.length, chunks(tags, scheme), scheme);
  let changed = 0;
  for (let i = 0; i < tags.length; i++) if (fixed[i] !== tags[i]) changed++;
  return { tags: fixed, changed };
}

/**
 * Guess the scheme of a corpus. E-/S- => IOBES, L-/U- => BILOU; otherwise IOB1 when entities open
 * with I- and B- appears only between same-type entities, IOB2 when entities open with B-.
 * With no evidence (no entities) IOB2 is returned.
 */
export function detectScheme(sentences: readonly (readonly string[])[]): TagScheme {
  let iStarts = 0;
  let bStarts = 0;
  let hasES = false;
  let hasLU = false;
  for (const tags of sentences) {
    let prev: ParsedTag | undefined;
    for (const t of tags) {
      const p = parseTag(t);
      if (!p) {
        prev = undefined;
        continue;
      }
      if (p.prefix === 'E' || p.prefix === 'S') hasES = true;
      if (p.prefix === 'L' || p.prefix === 'U') hasLU = true;
      const afterSame = !!prev && prev.prefix !== 'O' && prev.type === p.type;
      if (p.prefix === 'I' && !afterSame) iStarts++;
      if (p.prefix === 'B' && !afterSame) bStarts++;
      prev = p;
    }
  }
  if (hasES) return 'IOBES';
  if (hasLU) return 'BILOU';
  if (iStarts > bStarts) return 'IOB1';
  return 'IOB2';
}

export function parseScheme(s: string): TagScheme | undefined {
  const u = s.toUpperCase();
  if (u === 'IOB1' || u === 'IOB2' || u === 'IOBES' || u === 'BILOU') return u;
  if (u === 'BIO') return 'IOB2';
  if (u === 'BIOES') return 'IOBES';
  return undefined;
}
