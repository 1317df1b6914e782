#!/usr/bin/env node
// Function length check (issue 24: no function in src/ over 120 lines), run by `npm run lint`.
// Counts every function, method, arrow function, function expression and constructor from its first line to its
// last, nested functions included in their parent's length. Prints nothing and exits 0 when all are within the
// limit; otherwise lists the longer ones (length, file:line, name), longest first, and exits 1.
// Usage: node scripts/check-function-length.js [--max N] [DIR...]   (default: --max 120 src)
const fs = require('node:fs');
const path = require('node:path');
// The project's own TypeScript, whatever the working directory.
const ts = require(require.resolve('typescript', { paths: [path.join(__dirname, '..')] }));

const args = process.argv.slice(2);
let max = 120;
const dirs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--max') {
    max = Number(args[++i]);
    if (!Number.isInteger(max) || max < 1) {
      console.error(`check-function-length: --max must be a positive integer, got ${args[i]}`);
      process.exit(2);
    }
  } else dirs.push(args[i]);
}
if (dirs.length === 0) dirs.push(path.join(__dirname, '..', 'src'));

function walk(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return walk(p);
      return e.name.endsWith('.ts') ? [p] : [];
    });
}

const isFunction = (n) =>
  ts.isFunctionDeclaration(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isArrowFunction(n) ||
  ts.isFunctionExpression(n) ||
  ts.isConstructorDeclaration(n);

// A function's own name, else that of what it is assigned to (`const f = () => ...`, `{ f: () => ... }`).
function nameOf(n) {
  if (ts.isConstructorDeclaration(n)) return 'constructor';
  if (n.name) return n.name.getText();
  if (n.parent && n.parent.name) return n.parent.name.getText();
  return '<anonymous>';
}

const over = [];
for (const file of dirs.flatMap(walk)) {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const visit = (n) => {
    if (isFunction(n)) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      const length = last - first + 1;
      if (length > max)
        over.push({ length, where: `${path.relative(process.cwd(), file)}:${first + 1}`, name: nameOf(n) });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
}

if (over.length > 0) {
  over.sort((a, b) => b.length - a.length);
  console.error(`functions over ${max} lines (split them into named pieces):`);
  for (const f of over) console.error(`${f.length} ${f.where} ${f.name}`);
  process.exit(1);
}
