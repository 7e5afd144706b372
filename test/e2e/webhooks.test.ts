// The TradingView webhook over real HTTP, as TradingView calls it: a JSON alert with its placeholders
// filled in (numbers as text) and a text alert, the alias table, retries answered from the log (by
// TradingView's id and time, or by the same body within the window, across a restart too), a short
// refused, the keys that open it and those that do not, and the token in no log line.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKey, get, post, revokeKey, type Server, startServer } from '../helpers/server.js';
import { waitForLogLine } from '../helpers/wait.js';

const PROFILE = {
  Ann: { STRATEGY_A: ['INFY', 'L&T', 'ACC'] },
  Bob: { STRATEGY_A: ['INFY'], STRATEGY_B: ['ACC'] },
};

/** The JSON template once TradingView has filled it in for a strategy's entry order. */
const ENTRY = {
  ticker: 'INFY',
  action: 'buy',
  contracts: '10',
  position_size: '10',
  id: 'Long Entry',
  time: '2026-12-01T09:15:00Z',
};

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An alert as TradingView posts it: the message as the body, its type by whether it is JSON. */
async function alert(server: Server, token: string, message: string | object) {
  const json = typeof message === 'object';
  const response = await fetch(`${server.url}/webhooks/tradingview/${token}`, {
    method: 'POST',
    headers: { 'content-type': json ? 'application/json' : 'text/plain; charset=utf-8' },
    body: json ? JSON.stringify(message) : message,
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, any>,
  };
}

async function orderCount(server: Server, token: string): Promise<number> {
  const page = await get(`${server.url}/orders?limit=1000`, bearer(token));
  assert.equal(page.status, 200, JSON.stringify(page.body));
  return page.body.orders.length;
}

/** An admin key (the operator's), then a webhook key for STRATEGY_A. */
async function keys(server: Server) {
  const admin = await createKey(server, '--admin');
  const webhook = await createKey(server, '--webhook', 'STRATEGY_A');
  return { admin, webhook };
}

function logText(server: Server): string {
  const files = readdirSync(server.logDir).map((name) => readFileSync(join(server.logDir, name), 'utf8'));
  return files.join('') + server.output();
}

test('a JSON alert buys, a text alert sells, LT is L&T, and TradingView retries are answered from the log', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const { admin, webhook } = await keys(server);

  const bought = await alert(server, webhook.token, ENTRY);
  assert.equal(bought.status, 200, JSON.stringify(bought.body));
  assert.equal(bought.body.status, 'ACCEPTED');
  assert.deepEqual(
    [bought.body.strategy, bought.body.instrument, bought.body.position],
    ['STRATEGY_A', 'INFY', 'BUY'],
  );
  assert.deepEqual(bought.body.accepted.map((each: { user: string }) => each.user).sort(), ['Ann', 'Bob']);
  assert.equal(bought.body.quantity, 10, 'contracts is the quantity, though it came as a string');
  assert.deepEqual(
    bought.body.accepted.map((each: { quantity: number }) => each.quantity),
    [10, 10],
    "each user buys the alert's contracts (multiplier 1)",
  );
  assert.match(bought.body.client_order_id, /^tv:[A-Za-z0-9_-]{43}$/);

  const retried = await alert(server, webhook.token, ENTRY);
  assert.equal(retried.status, 200);
  assert.equal(retried.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(retried.body, bought.body, 'the original answer, the same order_id');
  assert.equal(await orderCount(server, admin.token), 1, 'the retry applied nothing');

  const conflicting = await alert(server, webhook.token, { ...ENTRY, ticker: 'ACC' });
  assert.equal(conflicting.status, 409, 'the same id and time for another order');
  assert.equal(conflicting.body.error, 'IDEMPOTENCY_CONFLICT');
  const resized = await alert(server, webhook.token, { ...ENTRY, contracts: '11' });
  assert.equal(resized.status, 409, 'the same id and time for another quantity');

  const sold = await alert(server, webhook.token, 'sell NSE:INFY 10');
  assert.equal(sold.status, 200, JSON.stringify(sold.body));
  assert.equal(sold.body.position, 'SELL');
  assert.equal(sold.body.accepted.length, 2, 'both positions closed');
  assert.deepEqual(
    sold.body.accepted.map((each: { quantity: number }) => each.quantity),
    [10, 10],
    'a SELL closes the whole position',
  );
  assert.equal((await get(`${server.url}/positions`, bearer(admin.token))).body.positions.length, 0);

  const lt = await alert(server, webhook.token, 'BUY NSE:LT');
  assert.equal(lt.body.instrument, 'L&T', 'through the shipped alias table');
  assert.deepEqual(lt.body.accepted, [{ user: 'Ann', quantity: 1 }], 'no quantity in the text: one unit');

  const again = await alert(server, webhook.token, 'BUY NSE:LT');
  assert.equal(again.headers.get('idempotent-replayed'), 'true', 'the same text within the window');
  assert.equal(again.body.order_id, lt.body.order_id);
  const newer = await alert(server, webhook.token, { ...ENTRY, time: '2026-12-01T09:20:00Z' });
  assert.equal(newer.headers.get('idempotent-replayed'), null, 'a later alert is a new order');
  assert.equal(await orderCount(server, admin.token), 4);

  await server.stop();
  await server.restart();
  const afterRestart = await alert(server, webhook.token, 'BUY NSE:LT');
  assert.equal(afterRestart.headers.get('idempotent-replayed'), 'true', 'durable: the key is in the log');
  assert.equal(afterRestart.body.order_id, lt.body.order_id);
  const retryAfterRestart = await alert(server, webhook.token, ENTRY);
  assert.equal(retryAfterRestart.body.order_id, bought.body.order_id);
  assert.equal(await orderCount(server, admin.token), 4);
});

test('the same text after the window is a new order', async (t) => {
  const server = await startServer(t, { profile: PROFILE, env: { WEBHOOK_DEDUPE_SECONDS: '1' } });
  const { admin, webhook } = await keys(server);
  const first = await alert(server, webhook.token, 'buy ACC');
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const retry = await alert(server, webhook.token, 'buy ACC');
  assert.equal(retry.body.order_id, first.body.order_id, 'within the second: a retry');
  await sleep(2100);
  const later = await alert(server, webhook.token, 'buy ACC');
  assert.notEqual(later.body.order_id, first.body.order_id);
  assert.equal(later.headers.get('idempotent-replayed'), null);
  assert.equal(later.body.rejected[0].reason, 'POSITION_ALREADY_OPEN', 'decided anew');
  assert.equal(await orderCount(server, admin.token), 2);
});

test('what cannot be read is a 4xx naming it, logged with the key id; a short is refused; nothing is placed', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const { admin, webhook } = await keys(server);
  const cases: [string | object, number, string, string, RegExp][] = [
    [
      { ...ENTRY, action: 'sell', position_size: '-10' },
      422,
      'SHORT_NOT_SUPPORTED',
      'position_size',
      /opens a short/,
    ],
    ['short NSE:INFY 5', 422, 'SHORT_NOT_SUPPORTED', 'action', /does not short/],
    [{ ...ENTRY, contracts: '2.5' }, 400, 'ALERT_INVALID', 'contracts', /whole number/],
    [{ ...ENTRY, ticker: '{{ticker}}' }, 400, 'ALERT_INVALID', 'ticker', /\{\{ticker\}\} as it was written/],
    ['hold NSE:INFY', 400, 'ALERT_INVALID', 'action', /"hold" is none of/],
    ['{"ticker": "INFY", "action": "buy",}', 400, 'ALERT_INVALID', 'body', /not valid JSON/],
    ['', 400, 'ALERT_INVALID', 'body', /empty/],
  ];
  for (const [message, status, error, field, text] of cases) {
    const answer = await alert(server, webhook.token, message);
    const what = JSON.stringify(message);
    assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
    assert.deepEqual([answer.body.error, answer.body.field], [error, field], what);
    assert.match(answer.body.message, text, what);
  }
  const broken = await fetch(`${server.url}/webhooks/tradingview/${webhook.token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"ticker": ',
  });
  assert.equal(broken.status, 400);
  assert.equal(((await broken.json()) as { field: string }).field, 'body');
  const form = await fetch(`${server.url}/webhooks/tradingview/${webhook.token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a=b',
  });
  assert.equal(form.status, 415);
  const large = await alert(server, webhook.token, `buy ${'X'.repeat(5000)}`);
  assert.equal(large.status, 413);
  assert.match(large.body.message, /over 4096 bytes/);
  assert.equal(await orderCount(server, admin.token), 0, 'nothing logged as an order');
  const line = JSON.parse(await waitForLogLine(server.logDir, /"error":"SHORT_NOT_SUPPORTED"/));
  assert.equal(line.keyId, webhook.id);
  assert.equal(line.level, 40, 'a warning');
  assert.match(String(line.body), /position_size/, 'with the body, for the operator to fix the alert');
});

test('only a webhook key opens the webhook, and it opens nothing else; a revoke counts at once', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const { admin, webhook } = await keys(server);
  const engine = await createKey(server, '--strategy', 'STRATEGY_A');
  const order = { strategy: 'STRATEGY_A', instrument: 'INFY', position: 'BUY' };

  const normal = await alert(server, engine.token, ENTRY);
  assert.equal(normal.status, 401, "a strategy key's token in the URL");
  assert.match(normal.body.message, /only a webhook key/);
  const asBearer = await post(`${server.url}/orders`, order, bearer(webhook.token));
  assert.equal(asBearer.status, 401, "a webhook key's token as a header");
  assert.match(asBearer.body.message, /only in its webhook URL/);
  const asHeader = await get(`${server.url}/orders`, { 'x-api-key': webhook.token });
  assert.equal(asHeader.status, 401);
  const adminInUrl = await alert(server, admin.token, ENTRY);
  assert.equal(adminInUrl.status, 401, 'not even an admin key');
  const wrong = await alert(server, `${webhook.token.slice(0, -4)}AAAA`, ENTRY);
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error, 'UNAUTHORIZED');

  assert.equal((await alert(server, webhook.token, ENTRY)).status, 200);
  await revokeKey(server, webhook.id);
  const revoked = await alert(server, webhook.token, { ...ENTRY, action: 'sell', position_size: '0' });
  assert.equal(revoked.status, 401, 'revoked: refused from the next request on');
  assert.equal(await orderCount(server, admin.token), 1);

  const spec = (await get(`${server.url}/openapi.json`)).body;
  const route = spec.paths['/webhooks/tradingview/{token}'].post;
  const token = route.parameters.find((each: { name: string }) => each.name === 'token');
  assert.equal(token.in, 'path');
  assert.match(token.description, /secret/i);
  assert.deepEqual(Object.keys(route.requestBody.content).sort(), ['application/json', 'text/plain']);
});

test('wrong tokens in the webhook URL count as failed authentications: 429 once the address has too many', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const { webhook } = await keys(server);
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++)
    statuses.push((await alert(server, `og_000000000000_${'x'.repeat(43)}`, 'buy INFY')).status);
  assert.deepEqual([...new Set(statuses)], [401]);
  const held = await alert(server, webhook.token, 'buy INFY');
  assert.equal(held.status, 429, 'the address is held back, its valid key too');
  assert.equal(held.body.error, 'AUTH_RATE_LIMITED');
  assert.ok(Number(held.headers.get('retry-after')) >= 1);
});

test('the token is in no log line or terminal output: after orders, refusals, malformed and revoked requests', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const { admin, webhook } = await keys(server);
  const secret = webhook.token.slice(16);
  assert.equal((await alert(server, webhook.token, ENTRY)).status, 200);
  await alert(server, webhook.token, { ...ENTRY, contracts: 'x' });
  await alert(server, webhook.token, '{"ticker": ');
  await alert(server, webhook.token, `buy ${'X'.repeat(5000)}`);
  await fetch(`${server.url}/webhooks/tradingview/${webhook.token}`, { method: 'POST', body: 'buy INFY' });
  await fetch(`${server.url}/webhooks/tradingview/${webhook.token}/extra`, { method: 'POST' });
  await fetch(`${server.url}/webhooks/tradingview/${webhook.token}`);
  await fetch(`${server.url}/webhooks/tradingview/${webhook.token}%ZZ`, { method: 'POST' });
  const missing = await fetch(`${server.url}/webhooks/tradingview/${webhook.token}/extra`, {
    method: 'POST',
    headers: bearer(admin.token),
  });
  assert.equal(missing.status, 404);
  assert.equal((await missing.text()).includes(secret), false, 'not in a 404 message either');
  await post(
    `${server.url}/orders`,
    { strategy: 'STRATEGY_A', instrument: 'INFY', position: 'BUY' },
    bearer(webhook.token),
  );
  await revokeKey(server, webhook.id);
  await alert(server, webhook.token, 'sell INFY');
  await alert(server, `${webhook.token}x`, 'sell INFY');
  assert.equal(await server.stop(), 0);
  const text = logText(server);
  assert.match(text, /"msg":"order"/, 'the order was logged');
  assert.match(text, /TradingView alert refused/, 'and the refusal');
  assert.equal(text.includes(secret), false, 'no secret in any log line');
  assert.equal(text.includes(webhook.token.slice(0, 20)), false, 'nor any part of the token');
});
