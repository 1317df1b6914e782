// Shared by the pretrain tests: a small deterministic news-like corpus (one document per line).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/util/rng';

const PEOPLE = [
  'Angela Merkel',
  'John Smith',
  'Maria Garcia',
  'Boris Johnson',
  'Ken Watanabe',
  'Ana Silva',
  'Peter Müller',
];
const PLACES = ['Berlin', 'New York', 'Tokyo', 'Buenos Aires', 'London', 'Paris', 'São Paulo', 'Cape Town'];
const ORGS = [
  'the United Nations',
  'Bank of England',
  'Reuters',
  'Toyota Motor Corp',
  'European Union',
  'Manchester United',
];
const VERBS = ['said', 'announced', 'denied', 'confirmed', 'reported', 'warned'];
const THINGS = [
  'the new budget',
  'a trade agreement',
  'record profits',
  'the election results',
  'heavy rain',
  'a football match',
];

export function sentence(rng: Rng): string {
  const pick = <T>(a: readonly T[]) => a[rng.int(a.length)]!;
  switch (rng.int(3)) {
    case 0:
      return `${pick(PEOPLE)} ${pick(VERBS)} on Monday that ${pick(THINGS)} would affect ${pick(PLACES)}.`;
    case 1:
      return `In ${pick(PLACES)}, ${pick(ORGS)} ${pick(VERBS)} ${pick(THINGS)} after talks with ${pick(PEOPLE)}.`;
    default:
      return `Officials from ${pick(ORGS)} ${pick(VERBS)} that ${pick(THINGS)} was expected in ${pick(PLACES)} next week.`;
  }
}

export function corpusLines(n: number, seed = 1): string[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: 2 + rng.int(4) }, () => sentence(rng)).join(' '));
}

export function tmpDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cyclener-${label}-`));
}
