// One setting's flag as the library declares it: kind, help, default and allowed values. The specs of train's config
// (src/cycle/config.ts), pretrain's options (src/pretrain/settings.ts) and the supervised runs
// (src/supervised/settings.ts) are made of these, and the CLI's FlagSpec (src/cli/args.ts) extends it, so a flag's
// default, range and --help line come from the library that uses the value.

import { rangeProblem, type Range } from '../util/range';

export type SettingType = 'string' | 'int' | 'number' | 'boolean';

/** A flag's value as parsed (undefined: not given and no default). */
export type SettingValue = string | number | boolean | undefined;

export interface Setting {
  type: SettingType;
  help: string;
  /** Placeholder shown in help, e.g. FILE. */
  arg?: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  /** Allowed values of an int/number setting (every flag declares one: test/unit/cli/cli-args.test.ts); shown in --help. */
  range?: Range;
  /** Shown in --help as the default but not filled in (the value comes from elsewhere when absent: train's config). */
  shownDefault?: string | number | boolean;
  /** Former names, still accepted with a warning (not listed in --help). */
  aliases?: readonly string[];
}

/** What is wrong with `v` as a value of `s` ("must be ..., got ...", to put after its name); null when it is fine. The
 *  library checks its options with it as the CLI's parser checks flags. */
export function settingProblem(s: Setting, v: unknown): string | null {
  if (s.type === 'boolean') return typeof v === 'boolean' ? null : `must be true or false, got ${JSON.stringify(v)}`;
  if (s.type === 'string') {
    if (typeof v !== 'string') return `must be a string, got ${JSON.stringify(v)}`;
    return s.choices && !s.choices.includes(v) ? `must be one of ${s.choices.join(', ')}, got "${v}"` : null;
  }
  return rangeProblem(v, s.range ?? {}, s.type === 'int');
}
