// `cyclener train`'s flags, derived from CYCLE_SPEC (config.ts): their kinds, ranges, choices and --help defaults,
// setting the given ones on a config, and what they (or a --config file) would change in a run being resumed.

import type { Setting, SettingValue } from '../data/setting';
import {
  CONFIG_KEYS,
  CYCLE_SPEC,
  DECODE_FIELDS,
  RESUMABLE_KEYS,
  specOf,
  type CycleConfig,
  type KeyFlag,
} from './config';
import type { DecodeConfig } from './seq2seq';

type Spec = typeof CYCLE_SPEC;
export type CycleFlagName = {
  [K in keyof Spec]: Spec[K] extends { flags: infer F } ? keyof F & string : never;
}[keyof Spec];

/**
 * A flag of a config key. Its default is shown in --help, not filled in: the value comes from the --config file or
 * DEFAULT_CONFIG when the flag is absent.
 */
export interface CycleFlag extends Setting {
  key: keyof CycleConfig;
  field?: keyof DecodeConfig;
  sets?: Partial<CycleConfig>;
  /** Its key is part of the step budget: a resume may change it. */
  resumable: boolean;
}

function cycleFlag(key: keyof CycleConfig, fl: KeyFlag): CycleFlag {
  const s = specOf(key);
  const rule = fl.field ? DECODE_FIELDS[fl.field] : s;
  const value: unknown = fl.field ? (s.default as DecodeConfig)[fl.field] : s.default;
  const numeric = rule !== 'boolean' && rule.range !== undefined;
  const type =
    fl.sets || rule === 'boolean' || typeof value === 'boolean'
      ? 'boolean'
      : numeric
        ? rule.int
          ? 'int'
          : 'number'
        : 'string';
  const range = numeric ? (fl.range ?? rule.range) : undefined;
  const choices = type === 'string' && !fl.field ? (s.choices as readonly string[] | undefined) : undefined;
  const shownDefault =
    type !== 'boolean' && !fl.range && (typeof value === 'string' || typeof value === 'number') ? value : undefined;
  return {
    type,
    help: fl.help ?? s.help,
    ...(fl.arg ? { arg: fl.arg } : {}),
    ...(range ? { range } : {}),
    ...(choices ? { choices } : {}),
    ...(shownDefault !== undefined ? { shownDefault } : {}),
    key,
    ...(fl.field ? { field: fl.field } : {}),
    ...(fl.sets ? { sets: fl.sets } : {}),
    resumable: s.resumable === true,
  };
}

/** Every flag of CYCLE_SPEC, in the spec's order (train's --help). */
export const CYCLE_FLAGS = Object.fromEntries(
  CONFIG_KEYS.flatMap((key) => Object.entries(specOf(key).flags ?? {}).map(([name, fl]) => [name, cycleFlag(key, fl)])),
) as Record<CycleFlagName, CycleFlag>;

const FLAGS = Object.entries(CYCLE_FLAGS) as [CycleFlagName, CycleFlag][];

/** The flags a resume may change (the step budget). */
export const RESUMABLE_FLAGS = FLAGS.filter(([, fl]) => fl.resumable).map(([name]) => name);

function apply(c: CycleConfig, fl: CycleFlag, v: SettingValue): void {
  const target = c as unknown as Record<string, unknown>;
  if (fl.sets) Object.assign(c, structuredClone(fl.sets));
  else if (fl.field) target[fl.key] = { ...(target[fl.key] as object), [fl.field]: v };
  else target[fl.key] = v;
}

/** A boolean flag set to false is as good as absent. */
const given = (v: SettingValue) => v !== undefined && v !== false;

/** Set the config keys of the given flags (all, or only the resumable ones). */
export function applyFlags(
  c: CycleConfig,
  f: Readonly<Record<string, SettingValue>>,
  which: 'all' | 'resumable' = 'all',
): void {
  for (const [name, fl] of FLAGS) if (given(f[name]) && (which === 'all' || fl.resumable)) apply(c, fl, f[name]);
}

/**
 * On a resume: "--batch: run has 16, command line says 8" for each given flag, and one line for the --config file
 * (validated by the caller), that would change a key the run's config holds other than the resumable ones.
 */
export function configDifferences(
  saved: CycleConfig,
  f: Readonly<Record<string, SettingValue>>,
  configFile?: { file: string; values: Partial<CycleConfig> },
): string[] {
  const at = (c: CycleConfig, k: string) => (c as unknown as Record<string, unknown>)[k];
  const show = (c: CycleConfig, keys: string[]) => {
    const v = (k: string) => {
      const x = at(c, k);
      return typeof x === 'string' ? x : JSON.stringify(x);
    };
    return keys.length === 1 ? v(keys[0]!) : keys.map((k) => `${k}=${v(k)}`).join(', ');
  };
  const changed = (probe: CycleConfig) =>
    CONFIG_KEYS.filter((k) => JSON.stringify(at(probe, k)) !== JSON.stringify(at(saved, k)));
  const diffs: string[] = [];
  for (const [name, fl] of FLAGS) {
    if (fl.resumable || !given(f[name])) continue;
    const probe = structuredClone(saved);
    apply(probe, fl, f[name]);
    const keys = changed(probe);
    if (keys.length > 0) diffs.push(`--${name}: run has ${show(saved, keys)}, command line says ${show(probe, keys)}`);
  }
  if (configFile) {
    const probe = { ...saved, ...configFile.values };
    for (const k of RESUMABLE_KEYS) (probe as Record<string, unknown>)[k] = saved[k];
    const keys = changed(probe);
    if (keys.length > 0)
      diffs.push(`--config ${configFile.file}: run has ${show(saved, keys)}, the file says ${show(probe, keys)}`);
  }
  return diffs;
}
