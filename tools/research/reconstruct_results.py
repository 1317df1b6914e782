#!/usr/bin/env python3
"""Rebuild the records of the cells whose result.json was lost (issue 25, item 5) from git history.

usage: tools/research/reconstruct_results.py [--out results]   (run from the repository root, with its history)

The report docs/results.md of commits e756e28..ac35493 printed, for each lost cell, a table row per cell (per seed
where the row had one seed, else the mean ± std over its seeds), a Figure 4 row, its curve SVG and, for most, its
command lines and wall minutes. This script reads those versions with `git show` and writes, for every lost cell,
<out>/<preset>/<cell id>/reconstructed.json (+ curves.svg, copied from docs/results-curves/) and, for every row over
several seeds, <out>/<preset>/<row>/summary.json with the mean ± std as printed. Values are copied as printed and
never derived: a per-seed value that no version printed is null. Every version that printed a value must agree, or
the script stops. Rerunning it rewrites the same files.
"""
import json
import os
import re
import shutil
import subprocess
import sys

# The versions of docs/results.md generated from the lost result.json files (oldest first).
COMMITS = ['e756e28', 'c3ba2e3', 'c65075e', 'd03ee4b', 'ac35493']
LOST_PRESETS = ['cpu', 'cpu-lexwarm', 'cpu-plain', 'cpu-full']
# Per-seed dev F1 of the cpu-full Table 4 WNUT-17 cells, printed only in a paragraph of ac35493
# ("What bounds the supervised model": "dev F1 0.118 ± 0.038 over 3 seeds (0.127 / 0.077 / 0.151, ...)").
PARAGRAPH_F1 = {('cpu-full', 'table4/wnut17/full/supervised'): ('0.127 / 0.077 / 0.151', [0.127, 0.077, 0.151])}

SCORE_COLS = [
    ('precision', 'P'),
    ('recall', 'R'),
    ('f1', 'F1'),
    ('f1WithEntities', 'F1 (sentences with entities)'),
    ('hallucinated', 'hallucinated'),
    ('malformed', 'malformed'),
    ('epochs', 'epochs'),
]
FIG_COLS = [
    ('eLoss', 'ρ(E-loss, F1)'),
    ('sLoss', 'ρ(S-loss, F1)'),
    ('eLossDevF1', 'ρ(E-loss, dev F1)'),
    ('sLossDevF1', 'ρ(S-loss, dev F1)'),
]


def full_sha(c):
    return subprocess.check_output(['git', 'rev-parse', c], text=True).strip()


def show(c):
    return subprocess.check_output(['git', 'show', f'{c}:docs/results.md'], text=True)


def cells(line):
    return [x.strip() for x in line.strip().strip('|').split('|')]


def preset_sections(doc):
    out = {}
    for m in re.finditer(r'^## Preset `([^`]+)`\n(.*?)(?=^## )', doc, re.S | re.M):
        out[m.group(1)] = m.group(2)
    return out


def tables(section):
    """{heading: [row dicts]} for each ### heading whose first table follows it."""
    out = {}
    for m in re.finditer(r'^### (.+?)\n(.*?)(?=^### |\Z)', section, re.S | re.M):
        lines = [l for l in m.group(2).split('\n') if l.startswith('|')]
        if len(lines) < 2:
            continue
        head = cells(lines[0])
        out[m.group(1)] = [dict(zip(head, cells(l))) for l in lines[2:]]
    return out


def commands(doc):
    """{(preset, cell id): (wall minutes, notes, command lines)} of the Commands section."""
    sec = doc[doc.index('\n## Commands\n') :]
    out = {}
    for m in re.finditer(r"^`([^`\n]+)` \(([^\n]*)\)\n\n```\n(.*?)\n```", sec, re.S | re.M):
        parts = m.group(2).split('; ')
        wall = {}
        for w in parts[1].split(', '):
            k, v, unit = w.split(' ')
            assert unit == 'min', w
            wall[k] = float(v)
        out[(parts[0], m.group(1))] = (wall, parts[2:], m.group(3).split('\n'))
    return out


def num(s):
    return None if s in ('–', '') else float(s)


def stat(s):
    if s in ('–', ''):
        return None
    m = re.fullmatch(r'(-?[\d.]+)(?: ± ([\d.]+))?', s)
    assert m, s
    return {'mean': float(m.group(1)), 'std': None if m.group(2) is None else float(m.group(2))}


def seeds_of(s):
    return [int(x) for x in s.split(' ')[0].split(',')]


def row_id(exp, t):
    """The row (cell id without seed) of a Table 4/6 row."""
    if exp == 'table4':
        return f"table4/{t['dataset']}/full/supervised"
    kind = 'lexical' if t['approach'] == 'Lexical Matcher' else 'cyclener'
    return f"table6/{t['dataset']}/{t['configuration'].strip('/').replace('/', '-')}/{kind}"


def data_config(row):
    parts = row.split('/')
    if parts[0] == 'table4':
        return None
    return f'{parts[1]}/{parts[2].replace("-", "/", 1)}'


def base_model(section):
    m = re.search(r'base model: `([^`]+)` \(d_model (\d+), (\d+)\+(\d+) layers, vocab (\d+)\)', section)
    return {'path': m.group(1), 'dModel': int(m.group(2)), 'layers': int(m.group(3)), 'decoderLayers': int(m.group(4)), 'vocab': int(m.group(5))}


def agree(store, key, value, where):
    if key in store and store[key][0] != value:
        sys.exit(f'{key}: {where} printed {value}, {store[key][1]} printed {store[key][0]}')
    store[key] = (value, store.get(key, (None, where))[1])


def main():
    out = sys.argv[sys.argv.index('--out') + 1] if '--out' in sys.argv else 'results'
    # (preset, row) -> {seeds, per-commit rows}
    rows = {}  # (preset, row, seeds tuple) -> (table row dict, commit)
    figs = {}  # (preset, row, seeds tuple) -> (fig row dict, commit)
    cmds = {}  # (preset, cell id) -> ((wall, notes, lines), commit)
    meta = {}  # preset -> (base model, threads)
    seen = {}
    for c in COMMITS:
        doc = show(c)
        for preset, sec in preset_sections(doc).items():
            if preset not in LOST_PRESETS:
                continue
            meta[preset] = (base_model(sec), re.search(r'CYCLENER_THREADS: (\S+)', sec).group(1))
            for heading, trs in tables(sec).items():
                exp = 'table4' if heading.startswith('Table 4') else 'table6' if heading.startswith('Table 6') else None
                fig = heading.startswith('Figure 4')
                for t in trs:
                    if fig:
                        if t['seeds'] == 'not run':
                            continue
                        k = (preset, t['cell'], tuple(seeds_of(t['seeds'])))
                        agree(seen, ('fig',) + k, json.dumps(t, ensure_ascii=False), c)
                        figs[k] = (t, c)
                    elif exp and t['seeds'] != 'not run':
                        k = (preset, row_id(exp, t), tuple(seeds_of(t['seeds'])))
                        t = {**t, '_split': 'dev' if 'dev split' in t['seeds'] else 'test'}
                        same = {kk: v for kk, v in t.items() if kk != 'epochs'}  # the column came later
                        agree(seen, ('row',) + k, json.dumps(same, ensure_ascii=False), c)
                        rows[k] = (t, c)  # the latest version that printed it (all agree)
        for k, v in commands(doc).items():
            if k[0] in LOST_PRESETS:
                agree(seen, ('cmd',) + k, json.dumps(v), c)
                cmds[k] = (v, c)
    final = {(p, r): s for (p, r, s) in rows}  # the seeds of each row in the last version that printed it
    for (p, r, s) in rows:
        if len(s) > len(final[(p, r)]):
            final[(p, r)] = s
    written = []
    for (preset, row), seeds in sorted(final.items()):
        t, tc = rows[(preset, row, seeds)]
        exp = row.split('/')[0]
        kind = row.split('/')[3]
        fig = figs.get((preset, row, seeds))
        bm, threads = meta[preset]
        if len(seeds) > 1:
            summ = {
                'version': 1,
                'reconstructed': {
                    'from': full_sha(tc),
                    'file': 'docs/results.md',
                    'note': f'the row of seeds {",".join(map(str, seeds))} as printed (mean ± sample std) '
                    + span(seen[('row', preset, row, seeds)][1], tc)
                    + '; '
                    + (f'its Figure 4 row ' + span(seen[('fig', preset, row, seeds)][1], fig[1]) if fig else 'no Figure 4 row'),
                },
                'preset': preset,
                'experiment': exp,
                'row': row,
                'seeds': list(seeds),
                'scores': {k: stat(t.get(col, '–')) for k, col in SCORE_COLS},
                'wallMinutes': stat(t['wall min']),
                'figure4': {k: stat(fig[0][col]) for k, col in FIG_COLS} if fig else None,
            }
            d = os.path.join(out, preset, *row.split('/'))
            os.makedirs(d, exist_ok=True)
            write(os.path.join(d, 'summary.json'), summ)
            written.append(d + '/summary.json')
        for i, seed in enumerate(seeds):
            cell = f'{row}/seed{seed}'
            sources = []
            single = rows.get((preset, row, (seed,)))
            scores = {k: None for k, _ in SCORE_COLS}
            wall = {}
            if single:
                st, sc = single
                scores = {k: num(st.get(col, '–')) for k, col in SCORE_COLS}
                wall = {'total': num(st['wall min'])}
                sources.append(f'scores: the single-seed row at {sc}')
            para = PARAGRAPH_F1.get((preset, row))
            if para and not single:
                scores['f1'] = para[1][i]
                sources.append(f'F1: the paragraph listing "{para[0]}" at {tc}')
            fs = figs.get((preset, row, (seed,)))
            figure4 = None
            if kind == 'cyclener':
                if fs:
                    f, fc = fs
                    figure4 = {
                        'evaluations': int(f['evaluations']),
                        'against': f['F1 used'],
                        **{k: num(f[col]) for k, col in FIG_COLS},
                        'bestStep': int(f['best step']),
                    }
                    sources.append(f'Figure 4: the single-seed row at {fc}')
                elif fig:
                    f, fc = fig
                    figure4 = {
                        'evaluations': int(f['evaluations'].split(',')[i]),
                        'against': f['F1 used'],
                        **{k: None for k, _ in FIG_COLS},
                        'bestStep': int(f['best step'].split(',')[i]),
                    }
                    sources.append(f'Figure 4 evaluations and best step: the row of seeds {",".join(map(str, seeds))} at {fc}')
            curve = None
            link_src = fs or fig
            if link_src:
                m = re.search(r'\[seed %d\]\(results-curves/([^)]+\.svg)\)' % seed, link_src[0]['curves'])
                curve = m.group(1) if m else None
                curve_commit = link_src[1]
            notes = []
            commands_ = None
            cm = cmds.get((preset, cell))
            if cm:
                (cw, cn, lines), cc = cm
                wall, notes, commands_ = cw, cn, lines
                sources.append(f'commands and wall minutes: the Commands section at {cc}')
            first = re.search(r'at (\w+)$', sources[0]).group(1) if sources else tc
            rec = {
                'version': 1,
                'reconstructed': {'from': full_sha(first), 'file': 'docs/results.md', 'note': '; '.join(sources) or 'seed listed only'},
                'experiment': exp,
                'cellId': cell,
                'kind': kind,
                'dataset': row.split('/')[1],
                'dataConfig': data_config(row),
                'seed': seed,
                'preset': preset,
                'evalSplit': t['_split'],
                'baseModel': None if kind == 'lexical' else bm,
                'threads': threads,
                'scores': scores,
                'wallMinutes': wall,
                'commands': commands_,
                'figure4': figure4,
                'curve': 'curves.svg' if curve else None,
                'notes': notes,
            }
            d = os.path.join(out, preset, *cell.split('/'))
            os.makedirs(d, exist_ok=True)
            write(os.path.join(d, 'reconstructed.json'), rec)
            if curve:
                # From the version that linked it, not the working tree: a later rerun of the same cell
                # writes its own curve under the same name there.
                svg = subprocess.check_output(['git', 'show', f'{curve_commit}:docs/results-curves/{curve}'])
                with open(os.path.join(d, 'curves.svg'), 'wb') as fh:
                    fh.write(svg)
            written.append(d + '/reconstructed.json')
    print('\n'.join(written))
    print(f'{len(written)} file(s)', file=sys.stderr)


def span(first, last):
    return f'at {last}' if first == last else f'from {first} to {last}'


def write(path, value):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(json.dumps(value, indent=2, ensure_ascii=False) + '\n')


if __name__ == '__main__':
    main()
