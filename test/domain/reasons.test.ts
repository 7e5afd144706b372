import assert from 'node:assert/strict';
import test from 'node:test';
import { ORDER_REASONS, USER_REASONS } from '../../src/domain/reasons.js';
import { readmeTable } from '../helpers/readme.js';

test("README's table of per-user reasons is the code's list, in order", () => {
  const documented = readmeTable('user-reasons');
  assert.deepEqual(
    documented,
    USER_REASONS.map((r) => [String(r.number), r.code, r.description]),
  );
});

test("README's table of per-order reasons is the code's list, in order", () => {
  assert.deepEqual(
    readmeTable('order-reasons'),
    ORDER_REASONS.map((r) => [String(r.number), r.code, r.description]),
  );
});

test('reason numbers are unique and positive', () => {
  for (const list of [USER_REASONS, ORDER_REASONS]) {
    const numbers = list.map((r) => r.number);
    assert.equal(new Set(numbers).size, numbers.length);
    assert.ok(numbers.every((n) => n > 0));
  }
});
