import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLabeled, readQFile, readSentenceLines, readSequenceLines } from '../../../src/data/readers';
import { DataError } from '../../../src/data/errors';

const FIX = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'cyclener-readers-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
function file(name: string, content: string | Buffer): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}
function dataError(fn: () => unknown, line: number | undefined, problem: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.equal(e.line, line);
    assert.match(e.problem, problem);
    assert.ok(e.message.startsWith(e.file));
    return true;
  });
}

test('CoNLL-2003 columns: documents, sentences, IOB1 chunks, detokenised text', () => {
  const c = readLabeled(join(FIX, 'conll-mini.txt'));
  assert.equal(c.format, 'conll');
  assert.equal(c.scheme, 'IOB1');
  assert.equal(c.documents, 2);
  assert.equal(c.sentences.length, 5);
  assert.deepEqual(
    c.sentences.map((s) => s.tokens.length),
    [9, 2, 14, 3, 2],
  );
  const s0 = c.sentences[0]!;
  assert.equal(s0.text, 'EU rejects German call to boycott British lamb.');
  assert.deepEqual(
    s0.entities.map((e) => [e.surface, e.label]),
    [
      ['EU', 'ORG'],
      ['German', 'MISC'],
      ['British', 'MISC'],
    ],
  );
  const s2 = c.sentences[2]!;
  assert.equal(s2.text, 'Paris and Paris Hilton "said it\'s fine" (EU).');
  assert.deepEqual(
    s2.entities.map((e) => `${e.surface}/${e.label}`),
    ['Paris/LOC', 'Paris/LOC', 'Hilton/PER', 'EU/ORG'],
  );
  assert.deepEqual(
    c.sentences[4]!.entities.map((e) => e.surface),
    ['Spain', 'France'],
  );
  assert.equal(s0.source?.line, 3);
  for (const s of c.sentences)
    s.tokens.forEach((t, i) => assert.equal(s.text.slice(s.offsets[i]!.start, s.offsets[i]!.end), t));
  assert.equal(c.tagProblems.length, 0);
});

test('WNUT tab columns: whitespace-only lines break sentences, hyphenated types kept', () => {
  const c = readLabeled(join(FIX, 'wnut-mini.conll'));
  assert.equal(c.scheme, 'IOB2');
  assert.deepEqual(
    c.sentences.map((s) => s.tokens.join(' ')),
    ['Empire State Building = ESB', 'Hello world', '@user likes Star Wars'],
  );
  assert.deepEqual(
    c.sentences[2]!.entities.map((e) => [e.surface, e.label]),
    [['Star Wars', 'creative-work']],
  );
});

test('JSONL with character offsets', () => {
  const c = readLabeled(join(FIX, 'mini.jsonl'));
  assert.equal(c.sentences.length, 3);
  const s = c.sentences[0]!;
  assert.deepEqual(
    s.entities.map((e) => [e.surface, e.label, e.start, e.end]),
    [
      ['EU', 'ORG', 0, 1],
      ['German', 'MISC', 2, 3],
      ['British', 'MISC', 6, 7],
    ],
  );
  assert.equal(s.tags.join(' '), 'B-ORG O B-MISC O O O B-MISC O O');
  assert.deepEqual(c.sentences[2]!.entities, []);
});

test('JSONL: entity boundaries inside a word split the token', () => {
  const p = file('split.jsonl', '{"text":"pro-Kremlin views","entities":[{"start":4,"end":11,"label":"ORG"}]}\n');
  const s = readLabeled(p).sentences[0]!;
  assert.deepEqual(
    s.entities.map((e) => e.surface),
    ['Kremlin'],
  );
  assert.equal(s.tokens[s.entities[0]!.start], 'Kremlin');
});

test('CoNLL-2012 bracketed named entities', () => {
  const c = readLabeled(join(FIX, 'onto-mini_conll'));
  assert.equal(c.format, 'conll2012');
  assert.equal(c.documents, 1);
  assert.deepEqual(
    c.sentences.map((s) => s.tags.join(' ')),
    ['B-PERSON I-PERSON O O B-DATE O', 'O O O'],
  );
});

test('wrong column count names file and line', () => {
  const p = file('cols.txt', 'EU NNP I-NP I-ORG\nrejects VBZ I-VP\n');
  dataError(() => readLabeled(p), 2, /expected 4 space-separated columns \(as on line 1\), found 3/);
});

test('invalid tag names file, line and column', () => {
  const p = file('tag.tsv', 'EU\tB-ORG\nrejects\tX-ORG\n');
  dataError(() => readLabeled(p), 2, /invalid tag "X-ORG" in column 2/);
});

test('non-UTF-8 bytes give the line', () => {
  const p = file('latin1.tsv', Buffer.concat([Buffer.from('ok\tO\n\nCaf'), Buffer.from([0xe9]), Buffer.from('\tO\n')]));
  dataError(() => readLabeled(p), 3, /not valid UTF-8 \(byte 0xe9 at column 4/);
});

test('empty, whitespace-only and missing files', () => {
  dataError(() => readLabeled(file('empty.txt', '')), undefined, /file is empty/);
  dataError(() => readLabeled(file('blank.txt', '\n\t\n\n')), undefined, /only whitespace/);
  dataError(() => readLabeled(join(tmp, 'nope.txt')), undefined, /no such file/);
  dataError(() => readLabeled(file('docs.txt', '-DOCSTART- -X- O O\n\n')), undefined, /no sentences/);
});

test('invalid IOB2 sequences are reported with lines, repaired only on request', () => {
  const p = file('bad.tsv', 'a\tO\nb\tI-PER\nc\tI-PER\n\nd\tB-LOC\n');
  const c = readLabeled(p, { scheme: 'IOB2' });
  assert.deepEqual(
    c.tagProblems.map((t) => t.line),
    [2],
  );
  assert.deepEqual(c.sentences[0]!.tags, ['O', 'I-PER', 'I-PER']);
  const r = readLabeled(p, { scheme: 'IOB2', repair: true });
  assert.deepEqual(r.sentences[0]!.tags, ['O', 'B-PER', 'I-PER']);
  assert.equal(r.repairedTags, 1);
});

test('malformed JSONL lines', () => {
  dataError(() => readLabeled(file('a.jsonl', '{"text":"x y","entities":[]}\n{"text": "x"\n')), 2, /invalid JSON/);
  dataError(() => readLabeled(file('b.jsonl', '{"text":"abc"}\n')), 1, /missing array field "entities"/);
  dataError(
    () => readLabeled(file('c.jsonl', '{"text":"abc","entities":[{"start":1,"end":9,"label":"X"}]}\n')),
    1,
    /outside the text/,
  );
  dataError(
    () =>
      readLabeled(
        file(
          'd.jsonl',
          '{"text":"abc def","entities":[{"start":0,"end":5,"label":"X"},{"start":4,"end":7,"label":"Y"}]}\n',
        ),
      ),
    1,
    /overlap/,
  );
});

test('JSONL offsets: utf16 by default, codepoints (Python/spaCy) on request', () => {
  // "👍" is 2 UTF-16 units and 1 code point: "Ann" is [3, 6) in JavaScript and [2, 5) in Python.
  const js = readLabeled(
    file(
      'u.jsonl',
      '{"text":"👍 Ann met Zoë","entities":[{"start":3,"end":6,"label":"PER"},{"start":11,"end":14,"label":"PER"}]}\n',
    ),
  );
  const py = readLabeled(
    file(
      'p.jsonl',
      '{"text":"👍 Ann met Zoë","entities":[{"start":2,"end":5,"label":"PER"},{"start":10,"end":13,"label":"PER"}]}\n',
    ),
    { offsets: 'codepoints' },
  );
  assert.deepEqual(
    js.sentences[0]!.entities.map((e) => e.surface),
    ['Ann', 'Zoë'],
  );
  assert.deepEqual(py.sentences[0]!.entities, js.sentences[0]!.entities);
  assert.deepEqual(
    py.sentences[0]!.entities.map((e) => [e.charStart, e.charEnd]),
    [
      [3, 6],
      [11, 14],
    ],
    'stored as UTF-16 units',
  );
  dataError(
    () =>
      readLabeled(file('q.jsonl', '{"text":"👍 Ann","entities":[{"start":2,"end":6,"label":"PER"}]}\n'), {
        offsets: 'codepoints',
      }),
    1,
    /span \[2, 6\) is outside the text \(length 5 code points\)/,
  );
  dataError(
    () => readLabeled(file('r.jsonl', '{"text":"A👍","entities":[{"start":0,"end":2,"label":"X"}]}\n')),
    1,
    /splits a surrogate pair.*--offsets codepoints/,
  );
});

test('CoNLL-2012: unclosed entity', () => {
  const bad = '#begin document (x); part 000\nd 0 0 Pierre NNP * - - - - (PERSON* *\n\n#end document\n';
  dataError(() => readLabeled(file('bad_conll', bad)), 2, /never closed/);
});

test('S and Q files', () => {
  assert.deepEqual(readSentenceLines(file('S.txt', 'One.\r\nTwo.\n')), ['One.', 'Two.']);
  dataError(() => readSentenceLines(file('S2.txt', 'One.\n\nTwo.\n')), 2, /empty line/);
  const q = readQFile(file('Q.txt', 'EU <sep> organization\n<none>\nA<sep>person <sep>B <sep> person\n'));
  assert.deepEqual(q, [
    [{ surface: 'EU', type: 'organization' }],
    [],
    [
      { surface: 'A', type: 'person' },
      { surface: 'B', type: 'person' },
    ],
  ]);
  dataError(() => readQFile(file('Q2.txt', 'EU <sep> organization\n\n')), 2, /empty line \(write <none>/);
  dataError(() => readQFile(file('Q3.txt', 'EU <sep> organization <sep> Paris\n')), 1, /odd number of fields/);
  dataError(
    () => readQFile(file('Q4.txt', 'EU <sep> company\n'), new Set(['organization'])),
    1,
    /unknown type "company"/,
  );
  assert.deepEqual(readSequenceLines(file('pred.txt', 'EU <sep> organization\n\n')), ['EU <sep> organization', '']);
});
