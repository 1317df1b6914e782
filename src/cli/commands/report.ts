// `cyclener report`: the results of `cyclener experiment` as one Markdown page (plus curve SVGs
// next to it) and optionally one self-contained HTML file, beside the paper's numbers.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { markdownBlocks, toHtml, toMarkdown } from '../../experiments/doc';
import { readUtf8 } from '../../data/readers';
import { buildReport, loadResults } from '../../experiments/report';
import { registerCommand, type Io } from '../registry';

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
    notes: {
      type: 'string',
      arg: 'FILE',
      help: 'hand-written Markdown (e.g. why the numbers differ from the paper) placed after the introduction',
    },
  },
  details:
    'Every planned cell appears ("not run" until its result.json exists); seeds are averaged (mean ± sample std).',
  run(args, io: Io): number {
    const f = args.flags;
    const resultsDir = f.results;
    const out = f.out;
    if (!fs.existsSync(resultsDir)) io.err(`note: ${resultsDir} does not exist: every cell is reported as not run`);
    const results = loadResults(resultsDir);
    const base = path.basename(out).replace(/\.[^.]*$/, '');
    const svgDir = path.join(path.dirname(out), `${base}-curves`);
    const notes = f.notes ? markdownBlocks(readUtf8(f.notes)) : [];
    const blocks = buildReport(results, { svgDir, svgHref: `${base}-curves`, resultsDir, notes });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, toMarkdown(blocks));
    const html = f.html;
    if (html) {
      fs.mkdirSync(path.dirname(html), { recursive: true });
      fs.writeFileSync(html, toHtml(blocks, 'CycleNER results'));
    }
    io.out(`wrote ${out}${html ? ` and ${html}` : ''} from ${results.length} result(s)`);
    return 0;
  },
});
