// `cyclener report`: the results of `cyclener experiment` as one Markdown page (plus curve SVGs
// next to it) and optionally one self-contained HTML file, beside the paper's numbers.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { markdownBlocks, toHtml, toMarkdown } from '../../experiments/doc';
import { readUtf8 } from '../../data/readers';
import { buildReport, loadResults } from '../../experiments/report';
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
      arg: 'FILE',
      help: 'hand-written Markdown (e.g. why the numbers differ from the paper) placed after the introduction',
    },
  },
  details: [
    'Every planned cell appears ("not run" until its result.json exists); seeds are averaged (mean ± sample std).',
    'A --results folder that does not exist or holds no result.json is an error, and nothing is written.',
  ].join('\n'),
  run(args, io: Io): number {
    const f = args.flags;
    const resultsDir = f.results;
    const out = f.out;
    if (!fs.statSync(resultsDir, { throwIfNoEntry: false })?.isDirectory())
      throw new UsageError(`--results ${resultsDir}: no such folder (cyclener experiment --out DIR writes one)`);
    const results = loadResults(resultsDir);
    if (results.length === 0)
      throw new UsageError(
        `--results ${resultsDir} holds no result.json (no experiment cell has finished there): nothing to report`,
      );
    const html = f.html;
    claimOutputs(
      { '--out': out, '--html': html },
      { force: f.force === true, createFolders: true, inputs: { '--notes': f.notes } },
    );
    const base = path.basename(out).replace(/\.[^.]*$/, '');
    const svgDir = path.join(path.dirname(out), `${base}-curves`);
    const notes = f.notes ? markdownBlocks(readUtf8(f.notes)) : [];
    const blocks = buildReport(results, { svgDir, svgHref: `${base}-curves`, resultsDir, notes });
    atomicWriteFile(out, toMarkdown(blocks));
    if (html) atomicWriteFile(html, toHtml(blocks, 'CycleNER results'));
    io.out(`wrote ${out}${html ? ` and ${html}` : ''} from ${results.length} result(s)`);
    return 0;
  },
});
