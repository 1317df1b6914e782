// Minimal flag parser for the CLI: --flag value, --flag=value, boolean --flag, positionals.
// Unknown flags, missing values and bad numbers (not decimal notation, not an integer, outside the declared range)
// are UsageErrors (one line, exit code 2). Old flag names (`aliases`) and retired flags (`deprecated`) still parse,
// with a warning. `ParsedArgs<F>.flags` is typed from the spec table F: a flag with a default or `required` is never
// undefined, so commands read `f.batch` as a number without casts.

import { describeRange, parseDecimal, rangeProblem } from '../util/range';
import type { Setting, SettingType, SettingValue } from '../data/setting';
import { UsageError } from '../util/errors';

export {
  ANY,
  AT_LEAST_1,
  DROPOUT,
  FRACTION,
  NON_NEGATIVE,
  POSITIVE,
  PROBABILITY_BELOW_1,
  SEED,
  type Range,
} from '../util/range';

export { UsageError };

export type FlagType = SettingType;

/** A setting (src/data/setting.ts) as a flag of one command. */
export interface FlagSpec extends Setting {
  required?: boolean;
  /** A retired flag: accepted, ignored, and warned about with this text (not listed in --help). */
  deprecated?: string;
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

export interface PositionalSpec {
  name: string;
  help: string;
  required?: boolean;
}

export type FlagValue = SettingValue;

/** A flag whose kind is only known at run time (a table derived from a spec) may hold any value. */
type ValueOf<S extends FlagSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['type'] extends 'string'
    ? string
    : S['type'] extends 'int' | 'number'
      ? number
      : Exclude<FlagValue, undefined>;

/** The parsed values of a spec table: defined when the flag has a default or is required, else maybe undefined. */
export type FlagValues<F extends FlagTable> = string extends keyof F
  ? Record<string, FlagValue>
  : {
      -readonly [K in keyof F]: F[K] extends { required: true } | { default: string | number | boolean }
        ? ValueOf<F[K]>
        : ValueOf<F[K]> | undefined;
    };

export interface ParsedArgs<F extends FlagTable = FlagTable> {
  flags: FlagValues<F>;
  positionals: string[];
  help: boolean;
  /** Flags set on the command line (not filled in from a default), by their current names. */
  given: ReadonlySet<string>;
  /** Old names and retired flags used: one line each, for stderr. */
  warnings: string[];
}

export function parseArgs<F extends FlagTable>(
  argv: readonly string[],
  flags: F,
  positionals: readonly PositionalSpec[],
  command: string,
): ParsedArgs<F> {
  const out: Record<string, FlagValue> = {};
  const pos: string[] = [];
  const warnings: string[] = [];
  let help = false;
  const aliasOf = new Map<string, string>();
  for (const [name, spec] of Object.entries(flags)) for (const a of spec.aliases ?? []) aliasOf.set(a, name);
  const hint = `(see cyclener ${command} --help)`;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--help' || a === '-h') {
      help = true;
      continue;
    }
    if (a === '--') {
      pos.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      pos.push(a);
      continue;
    }
    if (!a.startsWith('--')) throw new UsageError(`unknown option ${a} for "cyclener ${command}" ${hint}`);
    const eq = a.indexOf('=');
    const typed = a.slice(2, eq < 0 ? undefined : eq);
    const name = aliasOf.get(typed) ?? typed;
    const spec = flags[name];
    if (!spec) throw new UsageError(`unknown option --${name} for "cyclener ${command}" ${hint}`);
    if (name !== typed) warnings.push(`warning: --${typed} is now --${name} (the old name still works for now)`);
    if (spec.deprecated) warnings.push(`warning: --${name} ${spec.deprecated}`);
    if (spec.type === 'boolean') {
      if (eq >= 0) {
        const v = a.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(`--${name} takes no value or true/false, got "${v}"`);
        out[name] = v === 'true';
      } else out[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = a.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2))
        throw new UsageError(`--${name} needs a value ${spec.arg ?? ''}`.trimEnd());
      raw = next;
      i++;
    }
    out[name] = convert(name, raw, spec);
  }
  const given = new Set(Object.keys(out));
  const done = () => ({ flags: out as FlagValues<F>, positionals: pos, help, given, warnings });
  if (help) return done();
  for (const [name, spec] of Object.entries(flags)) {
    if (out[name] === undefined && spec.default !== undefined) out[name] = spec.default;
    if (out[name] === undefined && spec.required) throw new UsageError(`missing required option --${name} ${hint}`);
  }
  const required = positionals.filter((p) => p.required !== false).length;
  if (pos.length < required) throw new UsageError(`missing ${positionals[pos.length]?.name ?? 'argument'} ${hint}`);
  if (pos.length > positionals.length) throw new UsageError(`unexpected argument "${pos[positionals.length]}" ${hint}`);
  return done();
}

function convert(name: string, raw: string, spec: FlagSpec): FlagValue {
  if (spec.choices && !spec.choices.includes(raw))
    throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got "${raw}"`);
  if (spec.type === 'string') return raw;
  const n = parseDecimal(raw);
  if (n === null)
    throw new UsageError(
      spec.type === 'int'
        ? `--${name} needs a whole number in decimal notation (e.g. 16), got "${raw}"`
        : `--${name} needs a decimal number (e.g. 16, 0.001, 5e-4), got "${raw}"`,
    );
  if (spec.type === 'int' && !Number.isInteger(n)) throw new UsageError(`--${name} needs an integer, got "${raw}"`);
  const problem = spec.range ? rangeProblem(n, spec.range, spec.type === 'int') : null;
  if (problem) throw new UsageError(`--${name} ${problem}`);
  return n;
}

export function formatHelp(
  command: string,
  summary: string,
  flags: FlagTable,
  positionals: readonly PositionalSpec[],
  details?: string,
): string {
  const usage = [
    `cyclener ${command}`,
    ...positionals.map((p) => (p.required === false ? `[${p.name}]` : p.name)),
    Object.keys(flags).length > 0 ? '[options]' : '',
  ]
    .filter(Boolean)
    .join(' ');
  const lines = [`usage: ${usage}`, '', summary];
  if (positionals.length > 0) {
    lines.push('', 'arguments:');
    for (const p of positionals) lines.push(`  ${p.name.padEnd(24)} ${p.help}`);
  }
  lines.push('', 'options:');
  for (const [name, s] of Object.entries(flags)) {
    if (s.deprecated) continue;
    const shown = s.default ?? s.shownDefault;
    const left = `--${name}${s.type === 'boolean' ? '' : ` ${s.arg ?? (s.type === 'string' ? 'VALUE' : 'N')}`}`;
    const extra = [
      s.required ? 'required' : '',
      shown !== undefined ? `default ${String(shown)}` : '',
      s.choices ? `one of ${s.choices.join('|')}` : '',
      s.range ? describeRange(s.range) : '',
    ]
      .filter(Boolean)
      .join('; ');
    lines.push(`  ${left.padEnd(24)} ${s.help}${extra ? ` (${extra})` : ''}`);
  }
  lines.push(`  ${'--help'.padEnd(24)} show this help`);
  if (details) lines.push('', details);
  return lines.join('\n');
}
