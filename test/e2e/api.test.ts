// The read side over HTTP: filters and paging of the log, positions, trades, users, strategies,
// the OpenAPI document, and a profile that changes between restarts.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import test from 'node:test';
import { get, post, startServer } from '../helpers/server.js';

const PROFILE = {
  Ann: { S1: ['ACC', 'INFY'], S2: ['NTPC'] },
  Bob: { S1: ['ACC'] },
  Cy: { S2: ['NTPC', 'ACC'] },
};

test('the log, positions and trades filter and page as documented', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const place = (strategy: string, instrument: string, position: string) =>
    post(`${server.url}/orders`, { strategy, instrument, position });
  await place('S1', 'ACC', 'BUY'); // 1: Ann, Bob
  await place('S1', 'INFY', 'BUY'); // 2: Ann; Bob denied
  await place('S2', 'NTPC', 'BUY'); // 3: Ann, Cy
  await place('S1', 'ACC', 'SELL'); // 4: Ann, Bob close
  await place('S9', 'ACC', 'BUY'); // 5: rejected, nobody
  await place('S2', 'ACC', 'BUY'); // 6: Cy; Ann denied

  const all = await get(`${server.url}/orders`);
  assert.deepEqual(
    all.body.orders.map((o: any) => o.order_id),
    [1, 2, 3, 4, 5, 6],
  );
  assert.equal(all.body.next_after, null);

  const page1 = await get(`${server.url}/orders?limit=4`);
  assert.deepEqual(
    page1.body.orders.map((o: any) => o.order_id),
    [1, 2, 3, 4],
  );
  assert.equal(page1.body.next_after, 4);
  const page2 = await get(`${server.url}/orders?limit=4&after=4`);
  assert.deepEqual(
    page2.body.orders.map((o: any) => o.order_id),
    [5, 6],
  );
  assert.equal(page2.body.next_after, null);

  const ids = async (query: string) =>
    (await get(`${server.url}/orders?${query}`)).body.orders.map((o: any) => o.order_id);
  assert.deepEqual(
    await ids('user=Bob'),
    [1, 4],
    'orders applied for Bob: his open BUYs and both sides of his trades',
  );
  assert.deepEqual(await ids('user=Cy'), [3, 6]);
  assert.deepEqual(
    await ids('user=Ann&strategy=S2'),
    [3],
    'order 6 was denied for Ann: in its rejected list only',
  );
  assert.deepEqual(await ids('strategy=S1&instrument=ACC'), [1, 4]);
  assert.deepEqual(await ids('status=REJECTED'), [5]);
  assert.deepEqual(await ids('user=Nobody'), []);
  assert.equal((await get(`${server.url}/orders/3`)).body.order_id, 3);

  const positions = async (query: string) =>
    (await get(`${server.url}/positions?${query}`)).body.positions.map((p: any) =>
      [p.user, p.strategy, p.instrument, p.order_id].join(' '),
    );
  assert.deepEqual(
    await positions(''),
    ['Ann S1 INFY 2', 'Cy S2 ACC 6', 'Ann S2 NTPC 3', 'Cy S2 NTPC 3'],
    'ordered by strategy, instrument, then user',
  );
  assert.deepEqual(await positions('user=Cy'), ['Cy S2 ACC 6', 'Cy S2 NTPC 3']);
  assert.deepEqual(await positions('strategy=S2&instrument=NTPC'), ['Ann S2 NTPC 3', 'Cy S2 NTPC 3']);
  assert.deepEqual(await positions('limit=1'), ['Ann S1 INFY 2']);

  const trades = await get(`${server.url}/trades`);
  assert.deepEqual(
    trades.body.trades.map((tr: any) => [tr.user, tr.buy_order_id, tr.sell_order_id]),
    [
      ['Ann', 1, 4],
      ['Bob', 1, 4],
    ],
  );
  const firstTrade = await get(`${server.url}/trades?limit=1`);
  assert.equal(firstTrade.body.trades.length, 1);
  assert.equal(firstTrade.body.next_after, firstTrade.body.trades[0].trade_id, 'another trade follows');
  const bobTrades = await get(`${server.url}/trades?user=Bob&limit=1`);
  assert.equal(bobTrades.body.trades.length, 1);
  assert.equal(bobTrades.body.next_after, null, "Bob's only trade: the last page");

  const users = await get(`${server.url}/users`);
  assert.deepEqual(
    users.body.users.map((u: any) => [u.user, u.open_positions]),
    [
      ['Ann', 2],
      ['Bob', 0],
      ['Cy', 2],
    ],
  );
  const cy = await get(`${server.url}/users/Cy`);
  assert.deepEqual(cy.body.strategies, { S2: ['NTPC', 'ACC'] });
  assert.equal(cy.body.positions.length, 2);
  assert.equal((await get(`${server.url}/users/Zed`)).body.error, 'USER_NOT_FOUND');

  const strategies = await get(`${server.url}/strategies`);
  assert.deepEqual(strategies.body.strategies, [
    { strategy: 'S1', subscribers: 2, instruments: { ACC: 2, INFY: 1 } },
    { strategy: 'S2', subscribers: 2, instruments: { NTPC: 2, ACC: 1 } },
  ]);
});

test('GET /openapi.json describes every route and /docs serves the browser UI', async (t) => {
  const server = await startServer(t);
  const spec = await get(`${server.url}/openapi.json`);
  assert.match(spec.body.openapi, /^3\./);
  for (const path of [
    '/create_order',
    '/orders',
    '/orders/{order_id}',
    '/positions',
    '/trades',
    '/users',
    '/health',
  ]) {
    assert.ok(spec.body.paths[path], `${path} is documented`);
  }
  const docs = await fetch(`${server.url}/docs/`);
  assert.equal(docs.status, 200);
  assert.match(await docs.text(), /swagger/i);
});

test('a user removed by an imported profile keeps their position and can still sell it after a restart', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const buy = await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: 'BUY' });
  assert.deepEqual(
    buy.body.accepted.map((a: any) => a.user),
    ['Ann', 'Bob'],
  );
  await server.stop();
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify({ Ann: PROFILE.Ann, Cy: PROFILE.Cy }));
  await server.restart({ IMPORT_PROFILE: '1' });
  const users = await get(`${server.url}/users`);
  assert.deepEqual(
    users.body.users.map((u: any) => u.user),
    ['Ann', 'Cy'],
    'the new profile is in force',
  );
  const bob = await get(`${server.url}/users/Bob`);
  assert.equal(bob.body.positions.length, 1, 'Bob left the profile but his position is still open');
  const sell = await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: 'SELL' });
  assert.deepEqual(
    sell.body.accepted.map((a: any) => a.user),
    ['Ann', 'Bob'],
    'a held position can always be closed',
  );
  const again = await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: 'BUY' });
  assert.deepEqual(
    again.body.accepted.map((a: any) => a.user),
    ['Ann'],
    'but Bob opens no new one',
  );
});

test('a retry with the same client_order_id returns the original answer and applies nothing', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const order = { strategy: 'S1', instrument: 'ACC', position: 'BUY', client_order_id: 'engine-1-0001' };
  const first = await post(`${server.url}/orders`, order);
  const retry = await post(`${server.url}/orders`, order);
  assert.equal(retry.status, 200);
  assert.equal(retry.headers.get('idempotent-replayed'), 'true');
  assert.equal(first.headers.get('idempotent-replayed'), null);
  assert.deepEqual(retry.body, first.body);
  const conflict = await post(`${server.url}/orders`, { ...order, position: 'SELL' });
  assert.equal(conflict.status, 409);
  assert.equal(conflict.body.error, 'IDEMPOTENCY_CONFLICT');
  const viaHeader = await post(
    `${server.url}/create_order`,
    { STRATEGY: 'S1', INSTRUMENT: 'ACC', POSITION: 'BUY' },
    { 'idempotency-key': 'engine-1-0001' },
  );
  assert.equal(viaHeader.body.order_id, first.body.order_id);
  assert.equal(viaHeader.body.RESPONSE, 'ACCEPTED');
  assert.equal((await get(`${server.url}/orders`)).body.orders.length, 1, 'one order in the log');
});

test('a client that half-closes its connection after the order still gets the answer', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const body = JSON.stringify({ strategy: 'S1', instrument: 'ACC', position: 'BUY' });
  const { port } = new URL(server.url);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.end(
        `POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
  });
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.match(answer, /"status":"ACCEPTED"/);
  assert.equal((await get(`${server.url}/orders`)).body.orders.length, 1);
});
