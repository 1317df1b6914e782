// A tiny document model for the results report, rendered to Markdown or to self-contained HTML
// (so both come from one description). Inline text may hold `code` and [text](href) links.

export type Block =
  | { kind: 'heading'; level: 1 | 2 | 3; text: string }
  | { kind: 'para'; text: string }
  | { kind: 'table'; head: string[]; rows: string[][] }
  | { kind: 'list'; items: string[] }
  | { kind: 'code'; lines: string[] }
  /** An SVG figure: linked from Markdown, inlined into HTML. */
  | { kind: 'figure'; href: string; svg: string; caption: string };

const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function toMarkdown(blocks: readonly Block[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    if (b.kind === 'heading') out.push(`${'#'.repeat(b.level)} ${b.text}`);
    else if (b.kind === 'para') out.push(b.text);
    else if (b.kind === 'list') out.push(b.items.map((i) => `- ${i}`).join('\n'));
    else if (b.kind === 'code') out.push(['```', ...b.lines, '```'].join('\n'));
    else if (b.kind === 'figure') out.push(`[![${b.caption}](${b.href})](${b.href})`);
    else
      out.push(
        [
          `| ${b.head.map(mdCell).join(' | ')} |`,
          `|${b.head.map(() => ' --- ').join('|')}|`,
          ...b.rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
        ].join('\n'),
      );
    out.push('');
  }
  return out.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Escape, then turn `code` and [text](href) into HTML (links to .svg files point at the inlined figure). */
export function inlineHtml(s: string): string {
  return esc(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(
      /\[([^\]]+)\]\(([^)\s]+)\)/g,
      (_, t: string, h: string) => `<a href="${h.endsWith('.svg') ? `#${anchor(h)}` : h}">${t}</a>`,
    );
}

const anchor = (href: string) => `fig-${href.replace(/[^A-Za-z0-9]+/g, '-')}`;

export function toHtml(blocks: readonly Block[], title: string): string {
  const body: string[] = [];
  for (const b of blocks) {
    if (b.kind === 'heading') body.push(`<h${b.level}>${inlineHtml(b.text)}</h${b.level}>`);
    else if (b.kind === 'para') body.push(`<p>${inlineHtml(b.text)}</p>`);
    else if (b.kind === 'list') body.push(`<ul>${b.items.map((i) => `<li>${inlineHtml(i)}</li>`).join('')}</ul>`);
    else if (b.kind === 'code') body.push(`<pre>${esc(b.lines.join('\n'))}</pre>`);
    else if (b.kind === 'figure')
      body.push(
        `<figure id="${anchor(b.href)}">${b.svg.replace(/^<\?xml[^>]*>/, '')}<figcaption>${inlineHtml(b.caption)}</figcaption></figure>`,
      );
    else
      body.push(
        `<table><thead><tr>${b.head.map((h) => `<th>${inlineHtml(h)}</th>`).join('')}</tr></thead><tbody>${b.rows.map((r) => `<tr>${r.map((c) => `<td>${inlineHtml(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`,
      );
  }
  const css =
    'body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}figure{display:inline-block;margin:8px}';
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${esc(title)}</title><style>${css}</style></head><body>\n${body.join('\n')}\n</body></html>\n`;
}

/** Hand-written Markdown (headings, "- " lists, tables, paragraphs; inline `code` and links) as blocks, e.g. the report's notes. */
export function markdownBlocks(text: string): Block[] {
  const out: Block[] = [];
  for (const chunk of text.replace(/\r\n/g, '\n').split(/\n\s*\n/)) {
    const lines = chunk.split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) continue;
    const h = /^(#{1,6})\s+(.*)$/.exec(lines[0] as string);
    if (h && lines.length === 1)
      out.push({ kind: 'heading', level: Math.min(3, (h[1] as string).length) as 1 | 2 | 3, text: h[2] as string });
    else if (lines.length >= 2 && lines.every((l) => l.trim().startsWith('|')) && /^[\s|:-]+$/.test(lines[1] as string))
      out.push({ kind: 'table', head: tableCells(lines[0] as string), rows: lines.slice(2).map(tableCells) });
    else if (lines.every((l) => /^\s*- |^\s{2,}\S/.test(l)) && /^\s*- /.test(lines[0] as string)) {
      const items: string[] = [];
      for (const l of lines)
        if (/^\s*- /.test(l)) items.push(l.replace(/^\s*- /, ''));
        else items[items.length - 1] += ' ' + l.trim();
      out.push({ kind: 'list', items });
    } else out.push({ kind: 'para', text: lines.map((l) => l.trim()).join(' ') });
  }
  return out;
}

/** The cells of a Markdown table line (`| a | b \| c |`), unescaped as mdCell escapes them. */
function tableCells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim().replace(/\\\|/g, '|'));
}
