// Copies the small records of finished cells from an experiment folder (`cyclener experiment --out`, which also holds
// weights and is not committed) into the committed results folder: <to>/<preset>/<cell id>/result.json, and
// evals.jsonl with the eval records of the cycle run's metrics.jsonl. `cyclener report --collect FROM` runs it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadRecords } from './report';
import type { CellResult } from './result';
import { atomicWriteFile } from '../util/fs';

export interface Collected {
  /** Records written (new, or newer than the one they replaced). */
  copied: string[];
  /** Records already there with the same content. */
  same: string[];
  /** Records left as they were because the one there finished later than the one in FROM. */
  kept: string[];
}

/** The eval lines of a cycle run's metrics.jsonl, as they were written (empty when there is none). */
function evalLines(cellDir: string): string {
  const metrics = path.join(cellDir, 'run', 'metrics.jsonl');
  if (!fs.existsSync(metrics)) return '';
  const lines = fs
    .readFileSync(metrics, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.includes('"eval"')) return false;
      try {
        return (JSON.parse(l) as { type?: unknown }).type === 'eval';
      } catch {
        return false;
      }
    });
  return lines.length ? lines.join('\n') + '\n' : '';
}

function findResults(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'result.json') out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Copy every finished cell's result.json (and evals.jsonl) under `from` into `to`; see Collected. */
export function collectResults(from: string, to: string): Collected {
  loadRecords(from); // every result.json there is whole (else: an error naming it, and nothing is copied)
  const done: Collected = { copied: [], same: [], kept: [] };
  for (const file of findResults(from)) {
    const text = fs.readFileSync(file, 'utf8');
    const r = JSON.parse(text) as CellResult;
    const dest = path.join(to, r.preset, ...r.cellId.split('/'));
    const destFile = path.join(dest, 'result.json');
    const evals = evalLines(path.dirname(file));
    const label = path.join(r.preset, r.cellId);
    if (fs.existsSync(destFile)) {
      const old = fs.readFileSync(destFile, 'utf8');
      const oldEvals = fs.existsSync(path.join(dest, 'evals.jsonl'))
        ? fs.readFileSync(path.join(dest, 'evals.jsonl'), 'utf8')
        : '';
      if (old === text && (evals === '' || evals === oldEvals)) {
        done.same.push(label);
        continue;
      }
      const before = (JSON.parse(old) as Partial<CellResult>).finishedAt ?? '';
      if (old !== text && before > r.finishedAt) {
        done.kept.push(label);
        continue;
      }
    }
    fs.mkdirSync(dest, { recursive: true });
    atomicWriteFile(destFile, text);
    if (evals) atomicWriteFile(path.join(dest, 'evals.jsonl'), evals);
    done.copied.push(label);
  }
  return done;
}
