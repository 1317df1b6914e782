// Allowed ranges of numeric settings: one rule set for CLI flags (src/cli/args.ts) and for the numeric keys of
// config files (src/cycle/config.ts), so `--batch 0` and `"batchSize": 0` are refused with the same words.

export interface Range {
  /** Lower bound, inclusive unless minExclusive. */
  min?: number;
  /** Upper bound, inclusive unless maxExclusive. */
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

/** Any finite value (e.g. a column index that may count from the end). */
export const ANY: Range = {};
/** > 0: learning rates, minutes, penalties. */
export const POSITIVE: Range = { min: 0, minExclusive: true };
/** >= 0: counts where 0 means "off" / "none" / "all". */
export const NON_NEGATIVE: Range = { min: 0 };
/** >= 1: steps, epochs, batch sizes, beams, threads. */
export const AT_LEAST_1: Range = { min: 1 };
/** [0, 1]: shares and scores. */
export const FRACTION: Range = { min: 0, max: 1 };
/** [0, 1): probabilities where 1 would be unreachable (a self-training threshold; 0 = off). */
export const PROBABILITY_BELOW_1: Range = { min: 0, max: 1, maxExclusive: true };
/** [0, 1): dropout (1 would drop everything). */
export const DROPOUT: Range = { min: 0, max: 1, maxExclusive: true };
/** Seeds: the data RNG takes 32 bits, so a larger seed would silently alias a smaller one. */
export const SEED: Range = { min: 0, max: 2 ** 32 - 1 };

/** Decimal notation only: Number() would also read "0x10" as 16, "0b11", "0o17", "" and " " as numbers. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The value of a number written in decimal notation (16, 0.001, 5e-4, -2), else null (hex, Infinity, blanks...). */
export function parseDecimal(raw: string): number | null {
  if (!DECIMAL.test(raw)) return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : null;
}

/** ">= 1", "> 0", "in [0, 1)", "<= 5"; "" for ANY. */
export function describeRange(r: Range): string {
  if (r.min !== undefined && r.max !== undefined)
    return `in ${r.minExclusive ? '(' : '['}${r.min}, ${r.max}${r.maxExclusive ? ')' : ']'}`;
  if (r.min !== undefined) return `${r.minExclusive ? '>' : '>='} ${r.min}`;
  if (r.max !== undefined) return `${r.maxExclusive ? '<' : '<='} ${r.max}`;
  return '';
}

export function inRange(v: number, r: Range): boolean {
  if (r.min !== undefined && (r.minExclusive ? !(v > r.min) : !(v >= r.min))) return false;
  if (r.max !== undefined && (r.maxExclusive ? !(v < r.max) : !(v <= r.max))) return false;
  return true;
}

/**
 * What is wrong with `v` as a value of `range` (an integer when `integer`), as "must be ..., got ..." to put after the
 * setting's name; null when it is fine. Non-numbers (a JSON string, NaN, Infinity) are refused too.
 */
export function rangeProblem(v: unknown, range: Range, integer: boolean): string | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    const shown = typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
    return `must be ${integer ? 'an integer' : 'a number'}${describeRange(range) ? ` ${describeRange(range)}` : ''}, got ${shown}`;
  }
  if (integer && !Number.isInteger(v)) return `must be an integer, got ${v}`;
  if (!inRange(v, range)) return `must be ${describeRange(range)}, got ${v}`;
  return null;
}
