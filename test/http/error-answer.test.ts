// Errors that never claim more than is known: a bug's 500 on an order says the order may have been
// applied once it reached the gate, and not before; a read's 500 says it changed nothing; a store's
// 503 carries the store's own outcome; only the order routes say anything about an outcome.

import assert from 'node:assert/strict';
import test from 'node:test';
import type { FastifyError } from 'fastify';
import { errorAnswer, type FailedRequest } from '../../src/http/error-answer.js';
import { HttpError } from '../../src/http/errors.js';
import { StoreError } from '../../src/store/store.js';

const order: FailedRequest = {
  method: 'POST',
  url: '/orders',
  is404: false,
  noBody: false,
  ordering: true,
  placing: true,
};
const bug = () => new TypeError('x is undefined') as unknown as FastifyError;

test('a bug while an order was placed: 500, outcome UNKNOWN, and the message does not say "not applied"', () => {
  const { status, body } = errorAnswer(bug(), order);
  assert.equal(status, 500);
  assert.equal(body.error, 'INTERNAL_ERROR');
  assert.equal(body.outcome, 'UNKNOWN');
  assert.doesNotMatch(body.message, /not applied/);
  assert.match(body.message, /may or may not be applied: retry with the same client_order_id/);
  assert.doesNotMatch(body.message, /x is undefined/, 'no internals in the answer');
});

test('a bug before the order reached the gate: 500, outcome NOT_APPLIED', () => {
  const { body } = errorAnswer(bug(), { ...order, placing: false });
  assert.equal(body.outcome, 'NOT_APPLIED');
  assert.match(body.message, /before the order reached the gate: the order was not applied/);
});

test('a bug on a read: 500 that says the request changes nothing, with no outcome', () => {
  const { status, body } = errorAnswer(bug(), { ...order, method: 'GET', ordering: false, placing: false });
  assert.equal(status, 500);
  assert.equal(body.outcome, undefined);
  assert.match(body.message, /this request changes nothing/);
});

test("a store's 503 keeps its own outcome; a refusal before the gate applied nothing", () => {
  const unknown = new StoreError(
    'STORE_UNAVAILABLE',
    'the commit failed',
    'UNKNOWN',
  ) as unknown as FastifyError;
  assert.deepEqual(errorAnswer(unknown, order), {
    status: 503,
    body: { error: 'STORE_UNAVAILABLE', message: 'the commit failed', outcome: 'UNKNOWN' },
  });
  const full = new StoreError('OVERLOADED', 'too many') as unknown as FastifyError;
  assert.equal(errorAnswer(full, order).body.outcome, 'NOT_APPLIED');
  const draining = new HttpError('SHUTTING_DOWN', 'draining') as unknown as FastifyError;
  assert.deepEqual(errorAnswer(draining, { ...order, placing: false }).body.outcome, 'NOT_APPLIED');
  const invalid = new HttpError('INVALID_REQUEST', 'bad', 'strategy') as unknown as FastifyError;
  assert.equal(errorAnswer(invalid, order).body.outcome, undefined, 'a 4xx says nothing of an outcome');
});
