import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatEntitySequence,
  NONE_LINE,
  parseEntitySequence,
  parseQLine,
  toQLine,
} from '../../../src/data/entity-seq';
import { defaultVerbalizer, Verbalizer, verbalizerForLabels } from '../../../src/data/verbalizer';

test('format follows the paper: surface <sep> type, joined by <sep>, repeats kept', () => {
  const q = [
    { surface: 'Amazon', type: 'organization' },
    { surface: 'Amazon', type: 'location' },
  ];
  assert.equal(formatEntitySequence(q), 'Amazon <sep> organization <sep> Amazon <sep> location');
  assert.equal(formatEntitySequence([]), '');
  assert.equal(toQLine([]), NONE_LINE);
  assert.deepEqual(parseQLine(toQLine(q)).entities, q);
});

test('parsing tolerates spacing around <sep>', () => {
  const r = parseEntitySequence('EU<sep> organization <sep>German<sep>miscellaneous');
  assert.deepEqual(r.entities, [
    { surface: 'EU', type: 'organization' },
    { surface: 'German', type: 'miscellaneous' },
  ]);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(parseEntitySequence('  ').entities, []);
});

test('malformed sequences are reported, well-formed entities kept', () => {
  const odd = parseEntitySequence('EU <sep> organization <sep> Paris');
  assert.deepEqual(odd.entities, [{ surface: 'EU', type: 'organization' }]);
  assert.match(odd.problems[0]!, /odd number of fields \(3\)/);
  const empty = parseEntitySequence(' <sep> person <sep> Bob <sep> person');
  assert.deepEqual(empty.entities, [{ surface: 'Bob', type: 'person' }]);
  assert.match(empty.problems[0]!, /entity 1: empty surface/);
  const unknown = parseEntitySequence('Bob <sep> Person <sep> X <sep> thing', new Set(['person']));
  assert.deepEqual(unknown.entities, [{ surface: 'Bob', type: 'Person' }]);
  assert.match(unknown.problems[0]!, /unknown type "thing"/);
});

test('format refuses surfaces it cannot represent', () => {
  assert.throws(() => formatEntitySequence([{ surface: 'a <sep> b', type: 'x' }]), /contains <sep>/);
  assert.throws(() => formatEntitySequence([{ surface: 'a\nb', type: 'x' }]), /line break/);
});

test('verbaliser defaults and case-insensitive inverse', () => {
  const c = defaultVerbalizer('conll2003');
  assert.equal(c.verbalize('ORG'), 'organization');
  assert.equal(c.label('Organization'), 'ORG');
  assert.equal(c.label('  miscellaneous '), 'MISC');
  assert.equal(c.label('company'), undefined);
  assert.equal(defaultVerbalizer('wnut17').verbalize('creative-work'), 'creative work');
  assert.equal(defaultVerbalizer('wnut17').label('creative  work'), 'creative-work');
  assert.equal(defaultVerbalizer('ontonotes').label('work of art'), 'WORK_OF_ART');
  assert.throws(() => c.verbalize('GENE'), /no word for label "GENE"/);
  assert.throws(() => new Verbalizer({ A: 'x', B: 'X' }), /one-to-one/);
  assert.equal(verbalizerForLabels(['GENE']).dataset, 'bc2gm');
  assert.equal(verbalizerForLabels(['WEIRD_THING']).verbalizer.verbalize('WEIRD_THING'), 'weird thing');
});
