// OpenMP wait policy and thread governor: the decisions, from given observations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../../src/tensor';

test('wait policy: spin only when the wanted threads fit beside the other runnable processes', () => {
  assert.equal(T.ompWaitPolicy('auto', 2, 2, 0), null, 'quiet 2-core machine: libgomp default (spin, then sleep)');
  assert.equal(T.ompWaitPolicy('auto', 2, 2, 1), 'PASSIVE', 'another process holds a core');
  assert.equal(T.ompWaitPolicy('auto', 2, 8, 3), null, 'enough free cores');
  assert.equal(T.ompWaitPolicy('auto', 1, 2, 5), 'PASSIVE', 'one thread never spins for peers');
  assert.equal(T.ompWaitPolicy('auto', 2, 2, null), 'PASSIVE', 'unknown load: the safe choice');
  assert.equal(T.ompWaitPolicy('passive', 2, 2, 0), 'PASSIVE');
  assert.equal(T.ompWaitPolicy('active', 2, 2, 3), null);
});

test('CYCLENER_OMP_WAIT is checked', () => {
  assert.equal(T.waitMode({}), 'auto');
  assert.equal(T.waitMode({ CYCLENER_OMP_WAIT: 'Passive' }), 'passive');
  assert.throws(
    () => T.waitMode({ CYCLENER_OMP_WAIT: 'spin' }),
    /CYCLENER_OMP_WAIT must be auto, active or passive, got 'spin'/,
  );
});

test('thread governor: fewer threads after two busy observations, back after two quiet ones', () => {
  let s: T.GovernorState = { current: 2, pending: null };
  s = T.governThreadCount(s, 2, 2, 1);
  assert.deepEqual(s, { current: 2, pending: 1 }, 'one observation is not enough');
  s = T.governThreadCount(s, 2, 2, 0);
  assert.deepEqual(s, { current: 2, pending: null }, 'a short-lived process does not flip the count');
  s = T.governThreadCount(T.governThreadCount(s, 2, 2, 1), 2, 2, 1);
  assert.deepEqual(s, { current: 1, pending: null });
  s = T.governThreadCount(s, 2, 2, 5);
  assert.deepEqual(s, { current: 1, pending: null }, 'never below one thread');
  s = T.governThreadCount(T.governThreadCount(s, 2, 2, 0), 2, 2, 0);
  assert.deepEqual(s, { current: 2, pending: null }, 'back to the wanted count');
  assert.deepEqual(
    T.governThreadCount({ current: 4, pending: 3 }, 4, 8, 5),
    { current: 3, pending: null },
    'as many as the free cores',
  );
});
