// Word vectors for the SQ builder: read GloVe / word2vec text files when the user has them, or
// train small vectors offline and deterministically from the unlabeled sentences themselves:
// positive PMI over a symmetric co-occurrence window (context counts smoothed with alpha = 0.75,
// as in Levy et al. 2015), factorised by a seeded randomized SVD (range finder + power iterations
// + Jacobi on the small projected matrix). A few thousand sentences take a second or two.

import { DataError } from './errors';
import { readUtf8, splitLines } from './readers';
import { Rng } from '../util/rng';

export interface WordVectors {
  dim: number;
  size: number;
  get(word: string): Float64Array | undefined;
}

class MapVectors implements WordVectors {
  constructor(
    readonly dim: number,
    private readonly m: Map<string, Float64Array>,
  ) {}
  get size(): number {
    return this.m.size;
  }
  get(word: string): Float64Array | undefined {
    return this.m.get(word) ?? this.m.get(word.toLowerCase());
  }
}

/** Lower-cased word tokens (letters/digits runs; punctuation dropped) used for vector lookup. */
export function wordTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’.-][\p{L}\p{N}]+)*/gu) ?? [];
}

/**
 * GloVe (no header) or word2vec text format ("count dim" header). Only words in `keep` are stored
 * when it is given (matching exact or lower-cased), which keeps memory small for big files.
 */
export function loadTextVectors(file: string, keep?: ReadonlySet<string>): WordVectors {
  const lines = splitLines(readUtf8(file));
  const m = new Map<string, Float64Array>();
  let dim = 0;
  let start = 0;
  const header = /^(\d+)\s+(\d+)\s*$/.exec(lines[0] ?? '');
  if (header) {
    dim = Number(header[2]);
    start = 1;
  }
  for (let i = start; i < lines.length; i++) {
    const line = (lines[i] as string).trimEnd();
    if (line === '') continue;
    const parts = line.split(/ +/);
    const word = parts[0] as string;
    const n = parts.length - 1;
    if (dim === 0) dim = n;
    if (n !== dim) throw new DataError(file, i + 1, `vector for "${word}" has ${n} values, expected ${dim}`);
    if (keep && !keep.has(word) && !keep.has(word.toLowerCase())) continue;
    const v = new Float64Array(dim);
    for (let k = 0; k < dim; k++) {
      const x = Number(parts[k + 1]);
      if (!Number.isFinite(x))
        throw new DataError(file, i + 1, `value ${k + 1} of "${word}" is not a number: "${parts[k + 1]}"`);
      v[k] = x;
    }
    if (!m.has(word)) m.set(word, v);
  }
  if (dim === 0) throw new DataError(file, undefined, 'no vectors found');
  return new MapVectors(dim, m);
}

export interface TrainOptions {
  dim?: number;
  window?: number;
  /** Most frequent words used as contexts (columns of the PPMI matrix). */
  maxContexts?: number;
  /** Most frequent words that get a vector (rows). */
  maxVocab?: number;
  powerIterations?: number;
  seed?: number;
}

/** Train PPMI + randomized-SVD vectors from raw sentences (one string each). Deterministic. */
export function trainVectors(sentences: readonly string[], opts: TrainOptions = {}): WordVectors {
  const dim = opts.dim ?? 50;
  const window = opts.window ?? 4;
  const maxContexts = opts.maxContexts ?? 10000;
  const maxVocab = opts.maxVocab ?? 50000;
  const rng = new Rng(opts.seed ?? 1);
  const docs = sentences.map(wordTokens);
  const freq = new Map<string, number>();
  for (const d of docs) for (const w of d) freq.set(w, (freq.get(w) ?? 0) + 1);
  // Frequency order with a lexical tie-break, so the vocabulary never depends on Map order.
  const vocab = [...freq.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([w]) => w)
    .slice(0, maxVocab);
  const V = vocab.length;
  const C = Math.min(maxContexts, V);
  const l = Math.min(dim + 10, C, V);
  if (V === 0 || l === 0) return new MapVectors(dim, new Map());
  const id = new Map(vocab.map((w, i) => [w, i]));
  // Sparse co-occurrence counts: row w -> Map(context -> count).
  const rows: Map<number, number>[] = Array.from({ length: V }, () => new Map());
  for (const d of docs) {
    const ids = d.map((w) => id.get(w) ?? -1);
    for (let i = 0; i < ids.length; i++) {
      const w = ids[i] as number;
      if (w < 0) continue;
      for (let j = Math.max(0, i - window); j <= Math.min(ids.length - 1, i + window); j++) {
        const c = ids[j] as number;
        if (j === i || c < 0 || c >= C) continue;
        const r = rows[w] as Map<number, number>;
        r.set(c, (r.get(c) ?? 0) + 1);
      }
    }
  }
  // PPMI in CSR form.
  const rowSum = new Float64Array(V);
  const colSum = new Float64Array(C);
  rows.forEach((r, w) =>
    r.forEach((n, c) => {
      rowSum[w] += n;
      colSum[c] += n;
    }),
  );
  let colAlphaTotal = 0;
  const colAlpha = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    colAlpha[c] = Math.pow(colSum[c] as number, 0.75);
    colAlphaTotal += colAlpha[c] as number;
  }
  const indptr = new Int32Array(V + 1);
  const idx: number[] = [];
  const val: number[] = [];
  for (let w = 0; w < V; w++) {
    const entries = [...(rows[w] as Map<number, number>).entries()].sort((a, b) => a[0] - b[0]);
    for (const [c, n] of entries) {
      const pmi = Math.log((n * colAlphaTotal) / ((rowSum[w] as number) * (colAlpha[c] as number)));
      if (pmi > 0) {
        idx.push(c);
        val.push(pmi);
      }
    }
    indptr[w + 1] = idx.length;
  }
  const mul = (X: Float64Array, k: number): Float64Array => {
    // (V x C) * (C x k), row-major
    const Y = new Float64Array(V * k);
    for (let w = 0; w < V; w++)
      for (let p = indptr[w] as number; p < (indptr[w + 1] as number); p++) {
        const c = idx[p] as number,
          v = val[p] as number;
        for (let j = 0; j < k; j++) Y[w * k + j] += v * (X[c * k + j] as number);
      }
    return Y;
  };
  const mulT = (Y: Float64Array, k: number): Float64Array => {
    // (C x V) * (V x k)
    const X = new Float64Array(C * k);
    for (let w = 0; w < V; w++)
      for (let p = indptr[w] as number; p < (indptr[w + 1] as number); p++) {
        const c = idx[p] as number,
          v = val[p] as number;
        for (let j = 0; j < k; j++) X[c * k + j] += v * (Y[w * k + j] as number);
      }
    return X;
  };
  const omega = new Float64Array(C * l);
  for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
  let Q = orthonormalize(mul(omega, l), V, l);
  for (let it = 0; it < (opts.powerIterations ?? 2); it++) {
    const Z = orthonormalize(mulT(Q, l), C, l);
    Q = orthonormalize(mul(Z, l), V, l);
  }
  // B^T = M^T Q (C x l); B B^T = (M^T Q)^T (M^T Q) is l x l.
  const Bt = mulT(Q, l);
  const G = new Float64Array(l * l);
  for (let c = 0; c < C; c++)
    for (let i = 0; i < l; i++) {
      const a = Bt[c * l + i] as number;
      if (a === 0) continue;
      for (let j = 0; j < l; j++) G[i * l + j] += a * (Bt[c * l + j] as number);
    }
  const { values, vectors } = jacobiEigen(G, l);
  const order = Array.from({ length: l }, (_, i) => i).sort((a, b) => (values[b] as number) - (values[a] as number));
  const k = Math.min(dim, l);
  const out = new Map<string, Float64Array>();
  for (let w = 0; w < V; w++) {
    const v = new Float64Array(k);
    for (let j = 0; j < k; j++) {
      const e = order[j] as number;
      const sigma = Math.sqrt(Math.max(0, values[e] as number));
      let s = 0;
      for (let i = 0; i < l; i++) s += (Q[w * l + i] as number) * (vectors[i * l + e] as number);
      v[j] = s * Math.sqrt(sigma); // U * Sigma^(1/2)
    }
    out.set(vocab[w] as string, v);
  }
  return new MapVectors(k, out);
}

/** Modified Gram-Schmidt on the columns of a row-major (n x k) matrix, in place. */
function orthonormalize(A: Float64Array, n: number, k: number): Float64Array {
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += (A[i * k + j] as number) * (A[i * k + p] as number);
      for (let i = 0; i < n; i++) A[i * k + j] -= d * (A[i * k + p] as number);
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += (A[i * k + j] as number) ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) A[i * k + j] = norm > 1e-12 ? (A[i * k + j] as number) / norm : 0;
  }
  return A;
}

/** Cyclic Jacobi eigendecomposition of a symmetric (n x n) row-major matrix. */
function jacobiEigen(S: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(S);
  const Vm = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Vm[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += (A[i * n + j] as number) ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q] as number;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = ((A[q * n + q] as number) - (A[p * n + p] as number)) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p] as number,
            akq = A[k * n + q] as number;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k] as number,
            aqk = A[q * n + k] as number;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = Vm[k * n + p] as number,
            vkq = Vm[k * n + q] as number;
          Vm[k * n + p] = c * vkp - s * vkq;
          Vm[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = A[i * n + i] as number;
  return { values, vectors: Vm };
}

/** Unit-length average of the vectors of an entity's words; undefined when no word has a vector. */
export function entityVector(surface: string, wv: WordVectors): Float64Array | undefined {
  const sum = new Float64Array(wv.dim);
  let n = 0;
  for (const w of wordTokens(surface)) {
    const v = wv.get(w);
    if (!v) continue;
    for (let i = 0; i < wv.dim; i++) sum[i] += v[i] as number;
    n++;
  }
  if (n === 0) return undefined;
  let norm = 0;
  for (let i = 0; i < wv.dim; i++) norm += (sum[i] as number) ** 2;
  norm = Math.sqrt(norm);
  if (norm === 0) return undefined;
  for (let i = 0; i < wv.dim; i++) sum[i] = (sum[i] as number) / norm;
  return sum;
}

export function cosine(a: Float64Array, b: Float64Array): number {
  let d = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] as number) * (b[i] as number);
    na += (a[i] as number) ** 2;
    nb += (b[i] as number) ** 2;
  }
  return na > 0 && nb > 0 ? d / Math.sqrt(na * nb) : 0;
}
