// Training-data configurations named as in the paper: <dataset>/<#S>/<#Q>-<gq|sq>,
// e.g. conll2003/2k/1k-gq; counts take k suffixes ("3.4k" = 3400) and #S may be "full".
// Dev configurations follow the paper's Table 3 (used for unsupervised model selection).

export type QMode = 'gq' | 'sq';

export interface DataConfig {
  name: string;
  dataset: string;
  numS: number | 'full';
  numQ: number;
  mode: QMode;
}

export interface DatasetInfo {
  /** Candidate file names in <data-dir>/<dataset>/, first existing wins. */
  train: string[];
  dev: string[];
  /** Table 3 dev configuration per mode. */
  devConfig: Record<QMode, { numS: number; numQ: number }>;
}

export const DATASETS: Readonly<Record<string, DatasetInfo>> = {
  conll2003: {
    train: ['train.txt', 'eng.train'],
    dev: ['dev.txt', 'eng.testa'],
    devConfig: { gq: { numS: 3200, numQ: 1000 }, sq: { numS: 3200, numQ: 2000 } },
  },
  wnut17: {
    train: ['train.conll', 'train.txt'],
    dev: ['dev.conll', 'dev.txt'],
    devConfig: { gq: { numS: 1000, numQ: 500 }, sq: { numS: 1000, numQ: 500 } },
  },
  bc2gm: {
    train: ['train.tsv', 'train.txt'],
    dev: ['dev.tsv', 'dev.txt'],
    devConfig: { gq: { numS: 2500, numQ: 1000 }, sq: { numS: 2500, numQ: 1000 } },
  },
  ontonotes: {
    train: ['train.jsonl', 'train.conll', 'train.txt'],
    dev: ['dev.jsonl', 'dev.conll', 'dev.txt'],
    devConfig: { gq: { numS: 15700, numQ: 5000 }, sq: { numS: 15700, numQ: 5000 } },
  },
};

/** "1k" -> 1000, "3.4k" -> 3400, "500" -> 500, "full" -> 'full'. */
export function parseCount(s: string, allowFull: boolean): number | 'full' {
  const t = s.trim().toLowerCase();
  if (t === 'full' || t === 'all') {
    if (!allowFull) throw new Error(`"${s}" is not allowed here; give a number`);
    return 'full';
  }
  const m = /^(\d+(?:\.\d+)?)(k?)$/.exec(t);
  if (!m) throw new Error(`bad count "${s}" (expected e.g. 500, 1k, 3.4k${allowFull ? ' or full' : ''})`);
  const n = Math.round(Number(m[1]) * (m[2] ? 1000 : 1));
  if (n <= 0) throw new Error(`count "${s}" must be positive`);
  return n;
}

export function parseConfigName(name: string): DataConfig {
  const m = /^([A-Za-z0-9_.-]+)\/([^/]+)\/([^/]+?)-?(gq|sq)$/i.exec(name.trim());
  if (!m) throw new Error(`bad config "${name}" (expected <dataset>/<#S>/<#Q>-<gq|sq>, e.g. conll2003/2k/1k-gq)`);
  const dataset = (m[1] as string).toLowerCase();
  return {
    name,
    dataset,
    numS: parseCount(m[2] as string, true),
    numQ: parseCount(m[3] as string, false) as number,
    mode: (m[4] as string).toLowerCase() as QMode,
  };
}
