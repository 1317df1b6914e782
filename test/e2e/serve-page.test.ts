// The page of `cyclener serve` in headless Chromium (Debian `chromium`, driven by playwright-core) over real HTTP on
// loopback: type a sentence, click Tag, see each entity highlighted (text, label, one colour per label, offsets on
// hover) exactly as the library tags it; an error shows as a status line; a screenshot lands in the output folder.
// CYCLENER_TEST_OUT=dir keeps a copy of the screenshot. The model: the tiny synthetic T5 fine-tuned for a few seconds on five sentences, so it tags them.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { NerModel, startServer, type NerEntity } from '../../src';
import { tinyTunedTagger } from '../helpers/cli-helpers';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

test('serve page in Chromium: type, click Tag, entities highlighted with label, colour and offsets; screenshot', async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: install Debian's chromium (npm run setup does)`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cyc-serve-page-'));
  const { world, model: tuned } = await tinyTunedTagger(root);
  const sentences = world.evalSet.sentences;
  const model = await NerModel.load(tuned, { precision: 'fp32' });
  // The sentence with the most entity types among those the model tags exactly right.
  const tagged = await model.predict(sentences.map((s) => s.text));
  const right = sentences
    .map((s, i) => ({ text: s.text, want: tagged[i]!, gold: s.entities }))
    .filter(
      (x) =>
        JSON.stringify(x.want.map((e) => [e.start, e.end, e.label])) ===
        JSON.stringify(x.gold.map((e) => [e.charStart, e.charEnd, e.label])),
    );
  right.sort((a, b) => new Set(b.want.map((e) => e.label)).size - new Set(a.want.map((e) => e.label)).size);
  const pick = right[0];
  assert.ok(
    pick && new Set(pick.want.map((e) => e.label)).size >= 2,
    `fine-tuned model tags no sentence with 2 types right: ${JSON.stringify(tagged)}`,
  );
  const { text } = pick;
  // The page asks for this one text alone: the library's answer for it alone (a score's last digits depend on the batch).
  const [want] = (await model.predict([text])) as [NerEntity[]];

  const server = await startServer({ model, port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // /v1/model answers late, as on a loaded machine: the legend is not there when the first wait starts.
    await page.route('**/v1/model', async (route) => {
      await new Promise((r) => setTimeout(r, 1000));
      await route.continue();
    });
    const res = await page.goto(`${server.url}/`);
    // The page's CSP allows no eval: waits must not hand Chromium a string to evaluate (page.waitForFunction with a
    // string predicate fails under it once the predicate is not true at once), so they are locator waits.
    assert.doesNotMatch(res?.headers()['content-security-policy'] ?? '', /unsafe-eval/);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src/);
    // The legend comes from /v1/model: one chip per label.
    await page.locator('#legend mark').nth(2).waitFor();
    assert.equal(await page.locator('#legend mark').count(), 3);
    assert.match((await page.textContent('#model')) ?? '', /types: location, organization, person$/);

    await page.fill('#text', text);
    await page.click('#tag');
    await page.waitForSelector('#out mark');
    // Each highlight: its text, its label chip, its tooltip (title: label, offsets and score) and its colour.
    const marks = (await page.evaluate(`[...document.querySelectorAll('#out mark')].map((m) => ({
      text: m.firstChild.textContent,
      label: m.querySelector('.label').textContent,
      title: m.getAttribute('title'),
      background: getComputedStyle(m).backgroundColor,
    }))`)) as { text: string; label: string; title: string; background: string }[];
    assert.deepEqual(
      marks.map(({ text, label, title }) => ({ text, label, title })),
      want.map((e) => ({
        text: e.text,
        label: e.label,
        title: `${e.label} [${e.start}, ${e.end}) score ${e.score.toFixed(3)}`,
      })),
    );
    assert.equal(
      (await page.textContent('#out'))!,
      want.reduceRight((t, e) => t.slice(0, e.end) + e.label + t.slice(e.end), text),
      'the sentence, with each label after its entity',
    );
    // One colour per label, the legend's colour, different for different labels.
    const legend = Object.fromEntries(
      (await page.evaluate(
        `[...document.querySelectorAll('#legend mark')].map((m) => [m.textContent, getComputedStyle(m).backgroundColor])`,
      )) as [string, string][],
    );
    assert.deepEqual(Object.keys(legend).sort(), ['LOC', 'ORG', 'PER']);
    assert.equal(new Set(Object.values(legend)).size, 3, `three distinct colours: ${JSON.stringify(legend)}`);
    for (const m of marks) assert.equal(m.background, legend[m.label], `${m.text} coloured as ${m.label}`);

    const shot = path.join(root, 'out', 'serve-page.png');
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    const png = fs.readFileSync(shot);
    assert.ok(png.length > 1000, `screenshot ${png.length} bytes`);
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
    assert.equal(png.readUInt32BE(16), 900, 'PNG width = the viewport');
    if (process.env.CYCLENER_TEST_OUT)
      fs.copyFileSync(shot, path.join(process.env.CYCLENER_TEST_OUT, 'serve-page.png'));

    // The threshold slider (steps of 0.01, moved with the keyboard as a user can): past the lowest score, that entity
    // disappears, the others stay; the page says how many are hidden. No request is sent for it.
    const scores = want.map((e) => e.score).sort((a, b) => a - b);
    const steps = Math.floor(scores[0]! * 100) + 1;
    assert.ok(steps / 100 <= scores[scores.length - 1]!, `the scores differ enough to split: ${scores.join(', ')}`);
    let requests = 0;
    page.on('request', () => requests++);
    await page.focus('#threshold');
    for (let i = 0; i < steps; i++) await page.keyboard.press('ArrowRight');
    await page.locator('#threshold-value', { hasText: (steps / 100).toFixed(2) }).waitFor();
    const kept = want.filter((e) => e.score >= steps / 100);
    await page.locator('#out .hidden-count').waitFor();
    assert.deepEqual(
      await page.locator('#out mark').evaluateAll((ms) => ms.map((m) => m.getAttribute('title'))),
      kept.map((e) => `${e.label} [${e.start}, ${e.end}) score ${e.score.toFixed(3)}`),
    );
    assert.equal(await page.textContent('#out .hidden-count'), `(${want.length - kept.length} below the threshold)`);
    await page.keyboard.press('Home');
    await page
      .locator('#out mark')
      .nth(want.length - 1)
      .waitFor();
    assert.equal(await page.locator('#out mark').count(), want.length);
    assert.equal(requests, 0, 'the slider filters the last answer in the page');

    // Empty text: a status line, no request; a refused request: the server's message.
    await page.fill('#text', '   ');
    await page.click('#tag');
    assert.equal(await page.textContent('#status'), 'Type some text first.');
    await page.fill('#text', 'x'.repeat(100_001));
    await page.click('#tag');
    await page.locator('#status', { hasText: /^Error/ }).waitFor();
    assert.equal(
      await page.textContent('#status'),
      'Error 400: body/texts/0 must NOT have more than 100000 characters',
    );
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
    await server.close();
    model.dispose();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
