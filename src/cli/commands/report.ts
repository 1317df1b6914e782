// `cyclener report`: the results of `cyclener experiment` as one Markdown page (plus curve SVGs
// next to it) and optionally one self-contained HTML file, beside the paper's numbers.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { markdownBlocks, toHtml, toMarkdown } from '../../experiments/doc';
import { readUtf8 } from '../../data/readers';
import { collectResults } from '../../experiments/collect';
import type { Block } from '../../experiments/doc';
import { PRESETS } from '../../experiments/plan';
import { buildReport, loadRecords } from '../../experiments/report';
import { registerCommand, type Io } from '../registry';
import { UsageError } from '../args';
import { atomicWriteFile } from '../../util/fs';
import { claimOutputs } from '../../util/output';

registerCommand({
  name: 'report',
  summary: "write the experiments' results next to the paper's numbers (Markdown, curve SVGs, optional HTML)",
  flags: {
    results: {
      type: 'string',
      arg: 'DIR',
      help: 'folder written by cyclener experiment --out',
      default: 'runs/experiments',
    },
    out: {
      type: 'string',
      arg: 'FILE',
      help: 'Markdown file; curves go to <name>-curves/ beside it',
      default: 'docs/results.md',
    },
    html: { type: 'string', arg: 'FILE', help: 'also write one self-contained HTML page (figures inlined)' },
    force: { type: 'boolean', help: 'overwrite an existing --out / --html (and the curves beside --out)' },
    notes: {
      type: 'string',
      arg: 'FILE|DIR',
      help: "hand-written Markdown (e.g. why the numbers differ from the paper) placed after the introduction; a folder: its intro.md there and each <preset>.md at the end of that preset's section",
    },
    collect: {
      type: 'string',
      arg: 'DIR',
      help: "first copy each finished cell's result.json (and its run's eval records as evals.jsonl) from DIR (cyclener experiment --out) into --results",
    },
  },
  details: [
    'Every planned cell appears ("not run" until its result.json exists); seeds are averaged (mean ± sample std).',
    'Besides result.json, --results may hold reconstructed.json (a cell whose result.json was lost, rebuilt from an',
    'earlier report) and summary.json (the mean ± std such a row printed); results/README.md describes them.',
    'A --results folder that does not exist or holds no record is an error, and nothing is written.',
    '--collect never replaces a record with one that finished earlier; it prints what it copied.',
  ].join('\n'),
  run(args, io: Io): number {
    const f = args.flags;
    const resultsDir = f.results;
    const out = f.out;
    if (f.collect === undefined && !fs.statSync(resultsDir, { throwIfNoEntry: false })?.isDirectory())
      throw new UsageError(`--results ${resultsDir}: no such folder (cyclener experiment --out DIR writes one)`);
    if (f.collect !== undefined && !fs.statSync(f.collect, { throwIfNoEntry: false })?.isDirectory())
      throw new UsageError(`--collect ${f.collect}: no such folder (cyclener experiment --out DIR writes one)`);
    const load = () => {
      const rs = loadRecords(resultsDir);
      if (rs.results.length + rs.reconstructed.length === 0)
        throw new UsageError(
          `--results ${resultsDir} holds no result.json (no experiment cell has finished there): nothing to report`,
        );
      return rs;
    };
    // Without --collect, a folder with nothing to report fails before any output is claimed.
    let records = f.collect === undefined ? load() : null;
    const { notes, presetNotes } = f.notes === undefined ? { notes: [], presetNotes: {} } : readNotes(f.notes);
    const notesDir = f.notes !== undefined && fs.statSync(f.notes, { throwIfNoEntry: false })?.isDirectory();
    const html = f.html;
    claimOutputs(
      { '--out': out, '--html': html },
      {
        force: f.force === true,
        createFolders: true,
        inputs: notesDir || f.notes === undefined ? {} : { '--notes': f.notes },
      },
    );
    if (f.collect !== undefined) {
      fs.mkdirSync(resultsDir, { recursive: true });
      const c = collectResults(f.collect, resultsDir);
      for (const l of c.copied) io.out(`collected ${l}`);
      for (const l of c.kept)
        io.err(`kept ${l}: the record in ${resultsDir} finished later than the one in ${f.collect}`);
      records = load();
    }
    if (!records) throw new Error('unreachable: no records loaded');
    const base = path.basename(out).replace(/\.[^.]*$/, '');
    const svgDir = path.join(path.dirname(out), `${base}-curves`);
    const blocks = buildReport(records.results, {
      svgDir,
      svgHref: `${base}-curves`,
      resultsDir,
      notes,
      presetNotes,
      reconstructed: { cells: records.reconstructed, summaries: records.summaries },
    });
    atomicWriteFile(out, toMarkdown(blocks));
    if (html) atomicWriteFile(html, toHtml(blocks, 'CycleNER results'));
    io.out(
      `wrote ${out}${html ? ` and ${html}` : ''} from ${records.results.length} result(s)${records.reconstructed.length ? ` and ${records.reconstructed.length} reconstructed record(s)` : ''}`,
    );
    return 0;
  },
});

/** --notes FILE (after the introduction) or DIR: intro.md after the introduction, <preset>.md at the end of its section. */
function readNotes(p: string): { notes: Block[]; presetNotes: Record<string, Block[]> } {
  if (!fs.statSync(p, { throwIfNoEntry: false })?.isDirectory())
    return { notes: markdownBlocks(readUtf8(p)), presetNotes: {} };
  const presetNotes: Record<string, Block[]> = {};
  let notes: Block[] = [];
  for (const name of fs.readdirSync(p).sort()) {
    const file = path.join(p, name);
    const preset = name.replace(/\.md$/, '');
    if (name === 'intro.md') notes = markdownBlocks(readUtf8(file));
    else if (name.endsWith('.md') && PRESETS[preset]) presetNotes[preset] = markdownBlocks(readUtf8(file));
    else
      throw new UsageError(
        `--notes ${p}: ${name} is neither intro.md nor <preset>.md of a known preset (${Object.keys(PRESETS).join(', ')})`,
      );
  }
  return { notes, presetNotes };
}
