// The committed results (results/: result.json, reconstructed.json, summary.json, notes/) rebuild the committed
// docs/results.md byte for byte, with its curves; --collect brings a new cell's record in; a lost record is an error.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import '../../src/cli/commands';
import { runCli } from '../../src/cli/registry';
import { markdownBlocks, toMarkdown } from '../../src/experiments/doc';

const REPO = path.join(__dirname, '..', '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-results-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** The command that regenerates docs/results.md (results/README.md and docs/experiments.md name it). */
const REGENERATE = 'cyclener report --results results --notes results/notes --out docs/results.md --force';

async function cli(args: string[], cwd = REPO): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const here = process.cwd();
  process.chdir(cwd);
  try {
    const code = await runCli(args, { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`) });
    return { code, out, err };
  } finally {
    process.chdir(here);
  }
}

const curveLinks = (md: string) => [
  ...new Set([...md.matchAll(/\(results-curves\/([^)\s]+\.svg)\)/g)].map((m) => m[1]!)),
];

test('results/: the report rebuilds docs/results.md byte for byte, and every curve it links is committed', async () => {
  for (const doc of ['results/README.md', 'docs/experiments.md'])
    assert.ok(fs.readFileSync(path.join(REPO, doc), 'utf8').includes(REGENERATE), `${doc} names the command`);
  const out = path.join(tmp, 'rebuilt', 'results.md');
  const args = REGENERATE.split(' ').slice(1);
  args[args.indexOf('docs/results.md')] = out;
  const r = await cli(args);
  assert.equal(r.code, 0, r.err);
  const committed = fs.readFileSync(path.join(REPO, 'docs', 'results.md'), 'utf8');
  const rebuilt = fs.readFileSync(out, 'utf8');
  if (rebuilt !== committed) {
    const a = committed.split('\n');
    const b = rebuilt.split('\n');
    const i = a.findIndex((l, k) => l !== b[k]);
    assert.fail(
      `docs/results.md differs from what \`${REGENERATE}\` writes, first at line ${i + 1}:\n  committed: ${a[i]}\n  rebuilt:   ${b[i]}\n` +
        'Edit results/ (records, notes/) instead of docs/results.md, then rerun that command.',
    );
  }
  // The curves: each one linked is committed, as the report draws or copies it; no stale one is left.
  const linked = curveLinks(committed);
  assert.ok(linked.length > 20, 'the curves of the reconstructed and the live cycle cells');
  const curves = path.join(REPO, 'docs', 'results-curves');
  for (const name of linked) {
    const file = path.join(curves, name);
    assert.ok(fs.existsSync(file), `docs/results-curves/${name} is linked but missing`);
    assert.ok(
      fs.readFileSync(file).equals(fs.readFileSync(path.join(tmp, 'rebuilt', 'results-curves', name))),
      `docs/results-curves/${name} differs from the report's`,
    );
  }
  assert.deepEqual(
    fs.readdirSync(curves).sort(),
    [...linked].sort(),
    'docs/results-curves holds exactly the linked curves',
  );
  // Every reconstructed record names the commit it was read from.
  const recs: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name === 'reconstructed.json' || e.name === 'summary.json') recs.push(path.join(d, e.name));
  };
  walk(path.join(REPO, 'results'));
  assert.ok(recs.length >= 26);
  for (const f of recs)
    assert.match(
      (JSON.parse(fs.readFileSync(f, 'utf8')) as { reconstructed: { from: string } }).reconstructed.from,
      /^[0-9a-f]{40}$/,
    );
});

/** A copy of the committed records of `presets` (and notes) in a scratch folder. */
function copyResults(name: string, presets: string[]): string {
  const dir = path.join(tmp, name);
  for (const p of presets) fs.cpSync(path.join(REPO, 'results', p), path.join(dir, p), { recursive: true });
  return dir;
}

test('results/: --collect copies a new cell from an experiment folder; the report takes it with no edit', async () => {
  const results = copyResults('collect-results', ['cpu-full-silver-held']);
  // A finished cell of a preset not yet in results/, as `cyclener experiment --out runs` leaves it.
  const runs = path.join(tmp, 'runs');
  const template = JSON.parse(
    fs.readFileSync(
      path.join(REPO, 'results/cpu-full-silver-held/table6/conll2003/2k-1k-gq/cyclener/seed1/result.json'),
      'utf8',
    ),
  ) as Record<string, unknown>;
  const cellId = 'table6/conll2003/2k-1k-gq/cyclener/seed2';
  const cell = path.join(runs, 'cpu-full-e2s-noise', ...cellId.split('/'));
  fs.mkdirSync(path.join(cell, 'run'), { recursive: true });
  const rec = { ...template, preset: 'cpu-full-e2s-noise', cellId, seed: 2, finishedAt: '2026-12-07T01:00:00.000Z' };
  const text = JSON.stringify(rec, null, 2) + '\n';
  fs.writeFileSync(path.join(cell, 'result.json'), text);
  const evalLine = '{"type":"eval","step":0,"epoch":0,"devSLoss":1,"devELoss":2,"devF1":0.3}';
  fs.writeFileSync(
    path.join(cell, 'run', 'metrics.jsonl'),
    `{"type":"step","step":1,"loss":3}\n${evalLine}\n{"type":"eval","step":100,"cut`,
  );
  const out = path.join(tmp, 'collect-docs', 'results.md');
  const args = ['report', '--collect', runs, '--results', results, '--out', out, '--force'];
  let r = await cli(args);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /collected cpu-full-e2s-noise\/table6\/conll2003\/2k-1k-gq\/cyclener\/seed2/);
  const dest = path.join(results, 'cpu-full-e2s-noise', ...cellId.split('/'));
  assert.equal(fs.readFileSync(path.join(dest, 'result.json'), 'utf8'), text);
  assert.equal(fs.readFileSync(path.join(dest, 'evals.jsonl'), 'utf8'), `${evalLine}\n`, 'only whole eval records');
  const md = fs.readFileSync(out, 'utf8');
  assert.match(md, /## Preset `cpu-full-e2s-noise`[\s\S]*\| conll2003 \| CycleNER \| \/2k\/1k-gq \| 2 \| 0\.400 \|/);
  // Again: nothing new. An older record in the experiment folder never replaces a newer one in results/.
  r = await cli(args);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.out, /collected/);
  fs.writeFileSync(
    path.join(cell, 'result.json'),
    JSON.stringify({ ...rec, finishedAt: '2026-12-01T00:00:00.000Z', notes: ['older'] }),
  );
  r = await cli(args);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /kept cpu-full-e2s-noise\/table6\S+seed2: the record in \S+ finished later/);
  assert.equal(fs.readFileSync(path.join(dest, 'result.json'), 'utf8'), text);
});

test('results/: a lost reconstructed record, a row without its summary, or misnamed notes is an error', async () => {
  const out = path.join(tmp, 'lost-docs', 'results.md');
  const row = 'cpu/table6/conll2003/2k-1k-gq/cyclener';
  // A seed of a summarized row went missing.
  let results = copyResults('lost-seed', ['cpu']);
  fs.rmSync(path.join(results, row, 'seed2'), { recursive: true });
  let r = await cli(['report', '--results', results, '--out', out, '--force']);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /the summary of cpu table6\/conll2003\/2k-1k-gq\/cyclener covers seeds 1,2 but reconstructed records exist for seeds 1/,
  );
  // The summary went missing: the row's mean ± std would be made up from seed 1 alone.
  results = copyResults('lost-summary', ['cpu']);
  fs.rmSync(path.join(results, row, 'summary.json'));
  r = await cli(['report', '--results', results, '--out', out, '--force']);
  assert.equal(r.code, 1);
  assert.match(r.err, /reconstructed row cpu table6\/conll2003\/2k-1k-gq\/cyclener has 2 seeds but no summary\.json/);
  // A curve named by a record is missing.
  results = copyResults('lost-curve', ['cpu-plain']);
  fs.rmSync(path.join(results, 'cpu-plain/table6/conll2003/2k-1k-gq/cyclener/seed1/curves.svg'));
  r = await cli(['report', '--results', results, '--out', out, '--force']);
  assert.equal(r.code, 1);
  assert.match(r.err, /reconstructed\.json: its curve curves\.svg is missing beside it/);
  // Notes for a preset without records, or a file that names no preset.
  results = copyResults('notes-results', ['cpu-plain']);
  const notes = path.join(tmp, 'notes');
  fs.mkdirSync(notes);
  fs.writeFileSync(path.join(notes, 'cpu-full.md'), 'Why.\n');
  r = await cli(['report', '--results', results, '--notes', notes, '--out', out, '--force']);
  assert.equal(r.code, 1);
  assert.match(r.err, /notes for preset cpu-full, which has no records/);
  fs.renameSync(path.join(notes, 'cpu-full.md'), path.join(notes, 'cpu-plan.md'));
  r = await cli(['report', '--results', results, '--notes', notes, '--out', out, '--force']);
  assert.equal(r.code, 2);
  assert.match(r.err, /cpu-plan\.md is neither intro\.md nor <preset>\.md of a known preset/);
  fs.renameSync(path.join(notes, 'cpu-plan.md'), path.join(notes, 'cpu-plain.md'));
  fs.writeFileSync(path.join(notes, 'intro.md'), '## Notes\n\nFirst.\n');
  r = await cli(['report', '--results', results, '--notes', notes, '--out', out, '--force']);
  assert.equal(r.code, 0, r.err);
  const md = fs.readFileSync(out, 'utf8');
  assert.ok(md.indexOf('## Notes\n\nFirst.') < md.indexOf('## Preset `cpu-plain`'), 'intro.md after the introduction');
  const sec = md.slice(md.indexOf('## Preset `cpu-plain`'), md.indexOf('## Curves'));
  assert.ok(sec.endsWith('\nWhy.\n\n'), 'cpu-plain.md at the end of its section');
  // A reconstructed row says so, and prints – where nothing was recorded (epochs, silver F1).
  assert.match(
    sec,
    /\| conll2003 \| CycleNER \| \/2k\/1k-gq \| 1 \(reconstructed\) \| 0\.085 \| 0\.245 \| 0\.126 \| 0\.138 \| 8709\.0 \| 430\.0 \| – \| 36\.7 \|/,
  );
  assert.match(md, /\(cpu-plain; reconstructed from docs\/results\.md at [0-9a-f]{7}; data 0\.0 min, train 32\.5 min/);
  assert.ok(
    fs.existsSync(
      path.join(tmp, 'lost-docs', 'results-curves', 'cpu_plain__table6_conll2003_2k_1k_gq_cyclener_seed1.svg'),
    ),
  );
});

test('notes: Markdown tables in hand-written notes survive as tables', () => {
  const blocks = markdownBlocks('Intro.\n\n| a | b \\| c |\n| --- | --- |\n| 1 | 2 |\n');
  assert.deepEqual(blocks[1], { kind: 'table', head: ['a', 'b | c'], rows: [['1', '2']] });
  assert.equal(toMarkdown(blocks), 'Intro.\n\n| a | b \\| c |\n| --- | --- |\n| 1 | 2 |\n');
});
