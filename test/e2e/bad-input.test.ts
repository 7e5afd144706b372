// Bad input against a real server: every malformed request gets a 4xx JSON error with a stable code
// (naming the field when there is one), never a 500, and none of them writes to the order log.

import assert from 'node:assert/strict';
import test from 'node:test';
import { startServer } from '../helpers/server.js';

const JSON_TYPE = 'application/json';
const BODY_BYTES_MAX = 64 * 1024;

interface Case {
  readonly name: string;
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly path: string;
  /** Sent byte for byte; undefined sends no body at all. */
  readonly body?: string;
  /** null sends no Content-Type header. */
  readonly contentType?: string | null;
  readonly headers?: Record<string, string>;
  readonly expected: { readonly status: number; readonly error?: string; readonly field?: string };
}

const seed = (fields: Record<string, unknown>) =>
  JSON.stringify({ STRATEGY: 'STRATEGY_A', INSTRUMENT: 'GRASIM', POSITION: 'BUY', ...fields });
const order = (fields: Record<string, unknown>) =>
  JSON.stringify({ strategy: 'STRATEGY_A', instrument: 'GRASIM', position: 'BUY', ...fields });
const without = (field: string) => {
  const body: Record<string, unknown> = { STRATEGY: 'STRATEGY_A', INSTRUMENT: 'GRASIM', POSITION: 'BUY' };
  delete body[field];
  return JSON.stringify(body);
};
const invalid = (field?: string) => ({ status: 400, error: 'INVALID_REQUEST', ...(field ? { field } : {}) });
const placed = { status: 200 } as const;

/** A valid order padded with spaces to exactly `bytes` bytes. */
function paddedOrder(bytes: number): string {
  const text = seed({ POSITION: 'SELL' });
  return text + ' '.repeat(bytes - Buffer.byteLength(text));
}

const LONG_NAME = 'A'.repeat(65);
const LONGEST_NAME = 'A'.repeat(64);

const CASES: readonly Case[] = [
  // Missing fields.
  {
    name: 'STRATEGY missing',
    path: '/create_order',
    body: without('STRATEGY'),
    expected: invalid('STRATEGY'),
  },
  {
    name: 'INSTRUMENT missing',
    path: '/create_order',
    body: without('INSTRUMENT'),
    expected: invalid('INSTRUMENT'),
  },
  {
    name: 'POSITION missing',
    path: '/create_order',
    body: without('POSITION'),
    expected: invalid('POSITION'),
  },
  { name: 'every field missing ({})', path: '/create_order', body: '{}', expected: invalid('STRATEGY') },
  {
    name: 'position missing on /orders',
    path: '/orders',
    body: '{"strategy":"S","instrument":"I"}',
    expected: invalid('position'),
  },
  // Wrong types: nothing is coerced in a body.
  {
    name: 'STRATEGY is a number',
    path: '/create_order',
    body: seed({ STRATEGY: 7 }),
    expected: invalid('STRATEGY'),
  },
  {
    name: 'INSTRUMENT is null',
    path: '/create_order',
    body: seed({ INSTRUMENT: null }),
    expected: invalid('INSTRUMENT'),
  },
  {
    name: 'POSITION is true',
    path: '/create_order',
    body: seed({ POSITION: true }),
    expected: invalid('POSITION'),
  },
  {
    name: 'STRATEGY is an array',
    path: '/create_order',
    body: seed({ STRATEGY: ['STRATEGY_A'] }),
    expected: invalid('STRATEGY'),
  },
  {
    name: 'INSTRUMENT is an object',
    path: '/create_order',
    body: seed({ INSTRUMENT: { name: 'GRASIM' } }),
    expected: invalid('INSTRUMENT'),
  },
  {
    name: 'POSITION is an array',
    path: '/create_order',
    body: seed({ POSITION: ['BUY'] }),
    expected: invalid('POSITION'),
  },
  {
    name: 'strategy is a number on /orders',
    path: '/orders',
    body: order({ strategy: 1 }),
    expected: invalid('strategy'),
  },
  // Values that are not allowed.
  {
    name: 'POSITION is HOLD',
    path: '/create_order',
    body: seed({ POSITION: 'HOLD' }),
    expected: invalid('POSITION'),
  },
  {
    name: 'POSITION is empty',
    path: '/create_order',
    body: seed({ POSITION: '' }),
    expected: invalid('POSITION'),
  },
  {
    name: 'POSITION has a space',
    path: '/create_order',
    body: seed({ POSITION: ' BUY' }),
    expected: invalid('POSITION'),
  },
  {
    name: 'position is HOLD on /orders',
    path: '/orders',
    body: order({ position: 'HOLD' }),
    expected: invalid('position'),
  },
  {
    name: 'STRATEGY is empty',
    path: '/create_order',
    body: seed({ STRATEGY: '' }),
    expected: invalid('STRATEGY'),
  },
  {
    name: 'STRATEGY has 65 chars',
    path: '/create_order',
    body: seed({ STRATEGY: LONG_NAME }),
    expected: invalid('STRATEGY'),
  },
  {
    name: 'INSTRUMENT has 65 chars',
    path: '/create_order',
    body: seed({ INSTRUMENT: LONG_NAME }),
    expected: invalid('INSTRUMENT'),
  },
  {
    name: 'STRATEGY has a newline',
    path: '/create_order',
    body: seed({ STRATEGY: 'STRATEGY\nA' }),
    expected: invalid('STRATEGY'),
  },
  {
    name: 'INSTRUMENT has a control character (BEL)',
    path: '/create_order',
    body: seed({ INSTRUMENT: 'GRA\u0007SIM' }),
    expected: invalid('INSTRUMENT'),
  },
  {
    name: 'INSTRUMENT has a NUL',
    path: '/create_order',
    body: seed({ INSTRUMENT: 'GRASIM\u0000' }),
    expected: invalid('INSTRUMENT'),
  },
  {
    name: 'STRATEGY starts with a space',
    path: '/create_order',
    body: seed({ STRATEGY: ' A' }),
    expected: invalid('STRATEGY'),
  },
  {
    name: 'instrument has a tab on /orders',
    path: '/orders',
    body: order({ instrument: 'A\tB' }),
    expected: invalid('instrument'),
  },
  // Unknown fields.
  {
    name: 'an unknown field',
    path: '/create_order',
    body: seed({ PRICE: 1 }),
    expected: invalid('PRICE'),
  },
  {
    name: 'QUANTITY 0',
    path: '/create_order',
    body: seed({ QUANTITY: 0 }),
    expected: invalid('QUANTITY'),
  },
  {
    name: 'quantity 1.5 on /orders',
    path: '/orders',
    body: order({ quantity: 1.5 }),
    expected: invalid('quantity'),
  },
  {
    name: 'a field of /orders sent to /create_order',
    path: '/create_order',
    body: seed({ client_order_id: 'x1' }),
    expected: invalid('client_order_id'),
  },
  {
    name: 'a lowercase seed field on /orders',
    path: '/orders',
    body: order({ STRATEGY: 'A' }),
    expected: invalid('STRATEGY'),
  },
  // client_order_id of /orders.
  {
    name: 'client_order_id is a number',
    path: '/orders',
    body: order({ client_order_id: 5 }),
    expected: invalid('client_order_id'),
  },
  {
    name: 'client_order_id is null',
    path: '/orders',
    body: order({ client_order_id: null }),
    expected: invalid('client_order_id'),
  },
  {
    name: 'client_order_id is an object',
    path: '/orders',
    body: order({ client_order_id: { id: 'a' } }),
    expected: invalid('client_order_id'),
  },
  {
    name: 'client_order_id is empty',
    path: '/orders',
    body: order({ client_order_id: '' }),
    expected: invalid('client_order_id'),
  },
  {
    name: 'client_order_id has a space',
    path: '/orders',
    body: order({ client_order_id: 'a b' }),
    expected: invalid('client_order_id'),
  },
  {
    name: 'client_order_id has 65 chars',
    path: '/orders',
    body: order({ client_order_id: 'k'.repeat(65) }),
    expected: invalid('client_order_id'),
  },
  {
    name: 'client_order_id differs from the Idempotency-Key header',
    path: '/orders',
    body: order({ client_order_id: 'k1' }),
    headers: { 'idempotency-key': 'k2' },
    expected: invalid('client_order_id'),
  },
  // Bodies that are not a JSON object.
  {
    name: 'a body that is not JSON',
    path: '/create_order',
    body: 'STRATEGY=A',
    expected: { status: 400, error: 'INVALID_JSON' },
  },
  {
    name: 'a JSON object followed by garbage',
    path: '/create_order',
    body: `${seed({})} x`,
    expected: { status: 400, error: 'INVALID_JSON' },
  },
  {
    name: 'a truncated JSON object',
    path: '/create_order',
    body: seed({}).slice(0, -1),
    expected: { status: 400, error: 'INVALID_JSON' },
  },
  {
    name: 'an empty body with Content-Type JSON',
    path: '/create_order',
    body: '',
    expected: { status: 400, error: 'EMPTY_BODY' },
  },
  { name: 'no body with Content-Type JSON', path: '/orders', expected: { status: 400, error: 'EMPTY_BODY' } },
  { name: 'a JSON array', path: '/create_order', body: `[${seed({})}]`, expected: invalid() },
  { name: 'a JSON string', path: '/create_order', body: '"BUY"', expected: invalid() },
  { name: 'a JSON number', path: '/create_order', body: '42', expected: invalid() },
  { name: 'JSON null', path: '/orders', body: 'null', expected: invalid() },
  // Size: the limit is 64 KiB, inclusive.
  {
    name: 'a body one byte over 64 KiB',
    path: '/create_order',
    body: paddedOrder(BODY_BYTES_MAX + 1),
    expected: { status: 413, error: 'BODY_TOO_LARGE' },
  },
  {
    name: 'a body of 1 MiB',
    path: '/orders',
    body: order({ strategy: 'A'.repeat(1024 * 1024) }),
    expected: { status: 413, error: 'BODY_TOO_LARGE' },
  },
  // Media types.
  {
    name: 'a JSON order sent as text/plain',
    path: '/create_order',
    body: seed({}),
    contentType: 'text/plain',
    expected: { status: 415, error: 'UNSUPPORTED_MEDIA_TYPE' },
  },
  {
    name: 'a JSON order with no Content-Type',
    path: '/create_order',
    body: seed({}),
    contentType: null,
    expected: { status: 415, error: 'UNSUPPORTED_MEDIA_TYPE' },
  },
  {
    name: 'a form-encoded body',
    path: '/orders',
    body: 'strategy=A&instrument=B&position=BUY',
    contentType: 'application/x-www-form-urlencoded',
    expected: { status: 415, error: 'UNSUPPORTED_MEDIA_TYPE' },
  },
  {
    name: 'no body and no Content-Type',
    path: '/create_order',
    contentType: null,
    expected: { status: 400, error: 'EMPTY_BODY' },
  },
  // Routes and methods.
  { name: 'an unknown route', method: 'GET', path: '/nope', expected: { status: 404, error: 'NOT_FOUND' } },
  {
    name: 'POST to an unknown route',
    path: '/create_orders',
    body: seed({}),
    expected: { status: 404, error: 'NOT_FOUND' },
  },
  {
    name: 'a body that is not JSON, to an unknown route',
    path: '/create_orders',
    body: 'not json',
    expected: { status: 404, error: 'NOT_FOUND' },
  },
  {
    name: 'a method the route does not have',
    method: 'GET',
    path: '/create_order',
    expected: { status: 404, error: 'NOT_FOUND' },
  },
  {
    name: 'a method the route does not have',
    method: 'PUT',
    path: '/orders',
    body: order({}),
    expected: { status: 404, error: 'NOT_FOUND' },
  },
  {
    name: 'a method the route does not have',
    method: 'DELETE',
    path: '/orders/1',
    expected: { status: 404, error: 'NOT_FOUND' },
  },
  // Query strings.
  { name: 'a limit below 1', method: 'GET', path: '/orders?limit=0', expected: invalid('limit') },
  { name: 'a limit above 1000', method: 'GET', path: '/orders?limit=1001', expected: invalid('limit') },
  {
    name: 'a limit that is not a number',
    method: 'GET',
    path: '/orders?limit=abc',
    expected: invalid('limit'),
  },
  {
    name: 'a limit that is not an integer',
    method: 'GET',
    path: '/orders?limit=1.5',
    expected: invalid('limit'),
  },
  { name: 'a limit given twice', method: 'GET', path: '/orders?limit=1&limit=2', expected: invalid('limit') },
  { name: 'a negative after', method: 'GET', path: '/orders?after=-1', expected: invalid('after') },
  { name: 'an empty after', method: 'GET', path: '/orders?after=', expected: invalid('after') },
  {
    name: 'a status that does not exist',
    method: 'GET',
    path: '/orders?status=MAYBE',
    expected: invalid('status'),
  },
  { name: 'an empty user', method: 'GET', path: '/orders?user=', expected: invalid('user') },
  { name: 'an unknown query parameter', method: 'GET', path: '/orders?sort=desc', expected: invalid('sort') },
  { name: 'a limit below 1', method: 'GET', path: '/positions?limit=0', expected: invalid('limit') },
  {
    name: 'after, which positions do not page by',
    method: 'GET',
    path: '/positions?after=1',
    expected: invalid('after'),
  },
  { name: 'a limit above 1000', method: 'GET', path: '/trades?limit=1001', expected: invalid('limit') },
  { name: 'a negative after', method: 'GET', path: '/trades?after=-1', expected: invalid('after') },
  // One order.
  {
    name: 'an order_id that is not a number',
    method: 'GET',
    path: '/orders/abc',
    expected: invalid('order_id'),
  },
  { name: 'order_id 0', method: 'GET', path: '/orders/0', expected: invalid('order_id') },
  { name: 'a negative order_id', method: 'GET', path: '/orders/-1', expected: invalid('order_id') },
  {
    name: 'an order_id never given',
    method: 'GET',
    path: '/orders/999999',
    expected: { status: 404, error: 'ORDER_NOT_FOUND' },
  },
  // Valid requests: answered 200, and the only orders the log may hold at the end.
  {
    name: 'POSITION in lowercase (buy)',
    path: '/create_order',
    body: seed({ POSITION: 'buy' }),
    expected: placed,
  },
  {
    name: 'POSITION in mixed case (sElL)',
    path: '/create_order',
    body: seed({ POSITION: 'sElL' }),
    expected: placed,
  },
  {
    name: 'Content-Type JSON with a charset',
    path: '/create_order',
    body: seed({ STRATEGY: 'STRATEGY_Z' }),
    contentType: 'application/json; charset=utf-8',
    expected: placed,
  },
  {
    name: 'names of exactly 64 chars',
    path: '/create_order',
    body: seed({ STRATEGY: LONGEST_NAME, INSTRUMENT: LONGEST_NAME }),
    expected: placed,
  },
  {
    name: 'a body of exactly 64 KiB',
    path: '/create_order',
    body: paddedOrder(BODY_BYTES_MAX),
    expected: placed,
  },
  {
    name: 'a new client_order_id',
    path: '/orders',
    body: order({ client_order_id: 'bad-input-1' }),
    expected: placed,
  },
  {
    name: 'the same client_order_id for the same order again',
    path: '/orders',
    body: order({ client_order_id: 'bad-input-1' }),
    expected: placed,
  },
  {
    name: 'the same client_order_id for a different order',
    path: '/orders',
    body: order({ position: 'SELL', client_order_id: 'bad-input-1' }),
    expected: { status: 409, error: 'IDEMPOTENCY_CONFLICT' },
  },
];

function describeCase(c: Case): string {
  const expected = [c.expected.status, c.expected.error, c.expected.field].filter(Boolean).join(' ');
  return `${c.name}: ${c.method ?? 'POST'} ${c.path.slice(0, 60)} answers ${expected}`;
}

async function send(url: string, c: Case): Promise<{ status: number; type: string; body: any }> {
  const headers: Record<string, string> = { ...c.headers };
  const method = c.method ?? 'POST';
  const defaultType = c.body !== undefined || method === 'POST' ? JSON_TYPE : null;
  const contentType = c.contentType === undefined ? defaultType : c.contentType;
  if (contentType !== null) headers['content-type'] = contentType;
  // Bytes, not a string: fetch adds text/plain to a string body, and some cases need no Content-Type.
  const body = c.body === undefined ? undefined : new TextEncoder().encode(c.body);
  const response = await fetch(url + c.path, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    assert.fail(`the answer (${response.status}) is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: parsed };
}

test('bad input: each malformed request gets its 4xx JSON error, never a 500, and writes nothing', {
  timeout: 120_000,
}, async (t) => {
  const server = await startServer(t);
  const placedOrderIds = new Set<number>();

  for (const c of CASES) {
    await t.test(describeCase(c), async () => {
      const { status, type, body } = await send(server.url, c);
      const shown = JSON.stringify(body);
      assert.notEqual(status, 500, shown);
      assert.match(type, /^application\/json\b/, `content-type ${type}`);
      assert.equal(status, c.expected.status, shown);
      if (status === 200) {
        const orderId = body.order_id;
        assert.ok(Number.isSafeInteger(orderId) && orderId > 0, shown);
        assert.ok(['ACCEPTED', 'REJECTED'].includes(body.status), shown);
        if (c.path === '/create_order') assert.equal(body.RESPONSE, body.status, shown);
        placedOrderIds.add(orderId);
        return;
      }
      assert.equal(body.error, c.expected.error, shown);
      assert.equal(typeof body.message, 'string', shown);
      assert.ok(body.message.length > 0, shown);
      assert.equal(body.field, c.expected.field, shown);
      if (c.expected.field !== undefined) assert.ok(body.message.includes(c.expected.field), shown);
    });
  }

  await t.test(
    'GET /orders after all the cases: holds exactly the orders the valid requests placed',
    async () => {
      const response = await fetch(`${server.url}/orders?limit=1000`);
      assert.equal(response.status, 200);
      const page = (await response.json()) as { orders: { order_id: number }[]; next_after: number | null };
      const logged = page.orders.map((entry) => entry.order_id);
      // Six valid cases place an order; the repeated client_order_id is answered from the log.
      assert.equal(placedOrderIds.size, 6);
      assert.deepEqual(
        logged,
        [...placedOrderIds].sort((a, b) => a - b),
      );
      assert.equal(page.next_after, null);
    },
  );
});
