// The failed-authentication limiter on its own, with a clock of the test's: each of its limits at the
// limit and one past it. test/e2e/auth-flood.test.ts shows the same through a real server.

import assert from 'node:assert/strict';
import test from 'node:test';
import {
  AUTH_CHECKS_WAITING_MAX,
  AUTH_FAILURE_ADDRESSES_MAX,
  AUTH_FAILURE_WINDOW_MS,
  AUTH_FAILURES_MAX,
  createAuthFailures,
  type HeldBack,
} from '../../src/http/auth-failures.js';

function limiter() {
  const clock = { ms: 1000 };
  const heldBackSeen: string[] = [];
  const failures = createAuthFailures(
    (address) => heldBackSeen.push(address),
    () => clock.ms,
  );
  return { failures, clock, heldBackSeen };
}

/** Admits a lookup and reports what became of it: looked up at once, waiting, or refused. */
function admit(failures: ReturnType<typeof limiter>['failures'], address: string) {
  const outcome: { lookedUp: boolean; refused?: { ms: number; why: HeldBack } } = { lookedUp: false };
  failures.admit(
    address,
    () => {
      outcome.lookedUp = true;
    },
    (ms, why) => {
      outcome.refused = { ms, why };
    },
  );
  return outcome;
}

test('an address is free for AUTH_FAILURES_MAX failures and held back from the next request until the window ends', () => {
  const { failures, clock, heldBackSeen } = limiter();
  for (let i = 1; i < AUTH_FAILURES_MAX; i++) failures.record('10.0.0.1');
  assert.equal(failures.heldBackMs('10.0.0.1'), 0, `${AUTH_FAILURES_MAX - 1} failures: free`);
  clock.ms += 1000;
  failures.record('10.0.0.1');
  assert.equal(
    failures.heldBackMs('10.0.0.1'),
    AUTH_FAILURE_WINDOW_MS - 1000,
    `${AUTH_FAILURES_MAX} failures: held back until the window opened by the first one ends`,
  );
  assert.deepEqual(heldBackSeen, ['10.0.0.1'], 'said once');
  assert.equal(failures.heldBackMs('10.0.0.2'), 0, 'another address is not held back');
  assert.equal(admit(failures, '10.0.0.1').refused?.why, 'failures', 'nor looked up');
  clock.ms += AUTH_FAILURE_WINDOW_MS - 1001;
  assert.equal(failures.heldBackMs('10.0.0.1'), 1, 'held back to the last millisecond');
  clock.ms += 1;
  assert.equal(failures.heldBackMs('10.0.0.1'), 0, 'free once the window ends');
  failures.record('10.0.0.1');
  assert.equal(failures.heldBackMs('10.0.0.1'), 0, 'and counted afresh');
});

test('an address has at most as many lookups in flight as failures left; the others wait their turn', () => {
  const { failures } = limiter();
  const first = Array.from({ length: AUTH_FAILURES_MAX }, () => admit(failures, '10.0.0.1'));
  assert.ok(
    first.every((o) => o.lookedUp),
    `${AUTH_FAILURES_MAX} lookups in flight at once`,
  );
  const next = admit(failures, '10.0.0.1');
  assert.deepEqual(next, { lookedUp: false }, 'one more waits');
  assert.ok(admit(failures, '10.0.0.2').lookedUp, 'another address does not');
  failures.settled('10.0.0.1', false);
  assert.ok(next.lookedUp, 'a valid key let the waiting one in');
  // Each failure takes a lookup's place away: the waiting one stays waiting until the count is known.
  const later = admit(failures, '10.0.0.1');
  for (let i = 1; i < AUTH_FAILURES_MAX; i++) failures.settled('10.0.0.1', true);
  assert.deepEqual(later, { lookedUp: false }, `${AUTH_FAILURES_MAX - 1} failed, 1 in flight: it waits`);
  failures.settled('10.0.0.1', true);
  assert.equal(later.refused?.why, 'failures', `the ${AUTH_FAILURES_MAX}th failure refuses the waiting ones`);
  assert.equal(later.lookedUp, false);
});

test('AUTH_CHECKS_WAITING_MAX requests of an address may wait; one more is refused for a second', () => {
  const { failures } = limiter();
  for (let i = 0; i < AUTH_FAILURES_MAX; i++) admit(failures, '10.0.0.1');
  const waiting = Array.from({ length: AUTH_CHECKS_WAITING_MAX }, () => admit(failures, '10.0.0.1'));
  assert.ok(
    waiting.every((o) => !o.lookedUp && o.refused === undefined),
    `${AUTH_CHECKS_WAITING_MAX} wait`,
  );
  assert.deepEqual(admit(failures, '10.0.0.1').refused, { ms: 1000, why: 'waiting' }, 'one more is refused');
  failures.settled('10.0.0.1', false);
  assert.ok(waiting[0]!.lookedUp, 'the first to wait goes first');
  assert.equal(admit(failures, '10.0.0.1').refused, undefined, 'a place to wait was freed');
});

test('AUTH_FAILURE_ADDRESSES_MAX addresses are counted; one more drops the one that failed least recently', () => {
  const { failures } = limiter();
  const other = (i: number) => `10.1.${i >> 8}.${i & 255}`;
  const holdBack = (address: string) => {
    for (let i = 0; i < AUTH_FAILURES_MAX; i++) failures.record(address);
  };
  holdBack('10.0.0.1');
  for (let i = 1; i < AUTH_FAILURE_ADDRESSES_MAX; i++) failures.record(other(i));
  assert.ok(failures.heldBackMs('10.0.0.1') > 0, `${AUTH_FAILURE_ADDRESSES_MAX} addresses: all counted`);
  failures.record(other(AUTH_FAILURE_ADDRESSES_MAX));
  assert.equal(failures.heldBackMs('10.0.0.1'), 0, 'one more: the least recent is dropped');

  holdBack('10.0.0.2');
  for (let i = 1; i < AUTH_FAILURE_ADDRESSES_MAX; i++) failures.record(other(AUTH_FAILURE_ADDRESSES_MAX + i));
  failures.record('10.0.0.2');
  failures.record(other(2 * AUTH_FAILURE_ADDRESSES_MAX));
  assert.ok(failures.heldBackMs('10.0.0.2') > 0, 'a failure makes an address the most recent again');
});
