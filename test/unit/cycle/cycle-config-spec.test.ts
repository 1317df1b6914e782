// train's config has one spec (CYCLE_SPEC in src/cycle/config.ts): the defaults lie in their ranges and choices, every
// flag sets its key and back, a config file is checked key by key (fresh and on a resume), and the resume diff names
// exactly the non-resumable keys.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatHelp, parseArgs } from '../../../src/cli/args';
import { listCommands } from '../../../src/cli/registry';
import {
  CONFIG_KEYS,
  DECODE_FIELDS,
  DEFAULT_CONFIG,
  makeConfig,
  RESUMABLE_KEYS,
  resumableOf,
  specOf,
  type CycleConfig,
} from '../../../src/cycle/config';
import {
  applyFlags,
  configDifferences,
  CYCLE_FLAGS,
  RESUMABLE_FLAGS,
  type CycleFlag,
} from '../../../src/cycle/config-flags';
import { inRange } from '../../../src/util/range';
import { cli } from '../../helpers/cli-helpers';

const train = () => listCommands().find((c) => c.name === 'train')!;

test('spec: every key has a help and a default inside its range or choices; decode defaults follow DECODE_FIELDS', () => {
  assert.deepEqual(Object.keys(DEFAULT_CONFIG), CONFIG_KEYS);
  for (const k of CONFIG_KEYS) {
    const s = specOf(k);
    assert.ok(s.help.length > 0, k);
    assert.deepEqual(DEFAULT_CONFIG[k], s.default, k);
    if (s.range) assert.ok(typeof s.default === 'number' && inRange(s.default, s.range), k);
    if (s.choices) assert.ok(s.choices.includes(s.default), k);
    // Alone in a config file, the default is a valid value of its key.
    assert.deepEqual(makeConfig({ [k]: s.default } as Partial<CycleConfig>)[k], s.default, k);
  }
  for (const k of ['s2eDecode', 'e2sDecode', 'evalDecode'] as const)
    for (const [f, v] of Object.entries(DEFAULT_CONFIG[k])) {
      const rule = DECODE_FIELDS[f as keyof typeof DECODE_FIELDS];
      assert.ok(rule === 'boolean' ? typeof v === 'boolean' : inRange(v as number, rule.range), `${k}.${f}`);
    }
  assert.deepEqual(RESUMABLE_KEYS, ['epochs', 'maxSteps']);
  assert.deepEqual(RESUMABLE_FLAGS, ['epochs', 'max-steps']);
});

/** A value of the flag other than the default (the first valid one of a few candidates). */
function otherValue(name: string, fl: CycleFlag): string | number | boolean {
  if (fl.type === 'boolean') return true;
  if (fl.choices) return fl.choices.find((c) => c !== fl.shownDefault)!;
  const candidates = [2, 3, 0.5, 0.25, 7].filter((v) => v !== fl.shownDefault);
  const v = candidates.find((c) => inRange(c, fl.range!) && (fl.type === 'number' || Number.isInteger(c)));
  assert.ok(v !== undefined, name);
  return v;
}

/** What a flag's value needs from other keys to be a valid config (makeConfig's cross-key rules). */
const REQUIRES: Record<string, Partial<CycleConfig>> = {
  'e2s-samples': { e2sDecode: { ...DEFAULT_CONFIG.e2sDecode, doSample: true } },
};

test('flags <-> keys: each flag parses, sets its key (or decode field), stays valid, and a resume names it', () => {
  const help = formatHelp('train', '', train().flags, []);
  for (const [name, fl] of Object.entries(CYCLE_FLAGS) as [string, CycleFlag][]) {
    assert.ok(name in specOf(fl.key).flags!, `--${name} is declared on ${fl.key}`);
    assert.equal(train().flags[name], fl, `train takes --${name} as the spec derives it`);
    assert.match(help, new RegExp(`\\n  --${name}[ \\n]`), name);
    const v = otherValue(name, fl);
    const argv = fl.type === 'boolean' ? [`--${name}`] : [`--${name}`, String(v)];
    const parsed = parseArgs([...argv, '--out', 'RUN'], train().flags, [], 'train').flags;
    assert.equal(parsed[name], v, name);
    const base = makeConfig(REQUIRES[name] ?? {});
    const c = structuredClone(base);
    applyFlags(c, { [name]: v });
    const want = fl.sets ?? {
      [fl.key]: fl.field ? { ...(base[fl.key] as object), [fl.field]: v } : v,
    };
    for (const [k, x] of Object.entries(want)) assert.deepEqual(c[k as keyof CycleConfig], x, `--${name} sets ${k}`);
    assert.deepEqual(makeConfig(c), c, `--${name} ${String(v)} is a valid config`);
    // The resume diff: a non-resumable flag that changes the run names itself; a resumable one never differs.
    const diffs = configDifferences(base, { [name]: v });
    if (fl.resumable) assert.deepEqual(diffs, [], name);
    else {
      assert.equal(diffs.length, 1, name);
      assert.ok(diffs[0]!.startsWith(`--${name}: run has `), diffs[0]);
    }
    // Given with the run's value, no flag is a difference.
    assert.deepEqual(configDifferences(c, { [name]: v }), [], name);
  }
  // Each key's flags are all in the table; a flag given false is as good as absent.
  for (const k of CONFIG_KEYS)
    for (const f of Object.keys(specOf(k).flags ?? {})) assert.ok(f in CYCLE_FLAGS, `--${f} of ${k}`);
  const c = makeConfig();
  applyFlags(c, { 'no-ground': false, fp32: false, 'cycle-allow-empty': false });
  assert.deepEqual(c, makeConfig());
});

test('resume: only resumable keys of a config file apply; the others must match the run', () => {
  const saved = makeConfig({ batchSize: 16, epochs: 2 });
  const file = { file: 'run.json', values: { batchSize: 16, epochs: 5, maxSteps: 40 } };
  assert.deepEqual(configDifferences(saved, {}, file), []);
  assert.deepEqual(resumableOf(file.values), { epochs: 5, maxSteps: 40 });
  assert.deepEqual(
    configDifferences(saved, { epochs: 9, batch: 8 }, { file: 'run.json', values: { lrS2E: 1e-3, epochs: 5 } }),
    ['--batch: run has 16, command line says 8', '--config run.json: run has 0.0003, the file says 0.001'],
  );
});

test('train --config: an unknown key, a wrong type, an out-of-range value or a wrong choice is refused naming the key, fresh or on a resume', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-spec-'));
  try {
    const s = path.join(root, 'S.txt');
    const q = path.join(root, 'Q.txt');
    fs.writeFileSync(s, 'Anna went home .\n');
    fs.writeFileSync(q, 'Anna <sep> person\n');
    const cases: [Record<string, unknown>, string][] = [
      [{ batchsize: 8 }, 'unknown key "batchsize" (known: epochs, maxSteps, batchSize, '],
      [{ batchSize: '8' }, 'batchSize must be an integer >= 1, got "8"'],
      [{ patience: -1 }, 'patience must be >= 0, got -1'],
      [{ warmup: 'lexicon' }, 'warmup must be none, fragments or lexical, got "lexicon"'],
      [{ e2sDecode: { maxNewTokens: 8, topP: 0 } }, 'e2sDecode.topP must be in (0, 1], got 0'],
    ];
    // A run to resume: its config.json is the defaults.
    const resumeRun = path.join(root, 'resumed');
    fs.mkdirSync(resumeRun);
    fs.writeFileSync(path.join(resumeRun, 'config.json'), JSON.stringify(makeConfig()));
    for (const [i, [values, message]] of cases.entries()) {
      const file = path.join(root, `bad${i}.json`);
      fs.writeFileSync(file, JSON.stringify(values));
      const args = ['train', '--sentences', s, '--entities', q, '--config', file];
      const fresh = await cli([...args, '--out', path.join(root, `run${i}`)]);
      assert.equal(fresh.code, 1, fresh.err);
      assert.ok(fresh.err.startsWith(`cyclener: ${file}: ${message}`), fresh.err);
      const resumed = await cli([...args, '--out', resumeRun, '--resume']);
      assert.equal(resumed.code, 1, resumed.err);
      assert.ok(resumed.err.startsWith(`cyclener: ${file}: ${message}`), resumed.err);
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
