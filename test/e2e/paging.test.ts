// Every list pages, by rows and by bytes, against a real server: GET /orders, /positions, /trades,
// /users and /strategies take after= and limit= and answer next_after (null on the last page); a limit
// of 1000 is served and 1001 refused; a page never grows past 4 MiB whatever its rows hold; GET /orders
// is compact unless view=full; paging the book while orders keep arriving skips and repeats nothing;
// and the NDJSON exports stream the whole list.

import assert from 'node:assert/strict';
import test from 'node:test';
import { get, type Server, startServer } from '../helpers/server.js';
import {
  type LoggedOrder,
  type Position,
  type Profile,
  postOrder,
  readLog,
  readPositions,
} from '../helpers/wire.js';

const PAGE_BYTES_MAX = 4 * 1024 * 1024;
const PAGE_LIMIT_MAX = 1000;

async function placeOk(server: Server, strategy: string, instrument: string, position: 'BUY' | 'SELL') {
  const reply = await postOrder(server, { strategy, instrument, position }, { timeoutMs: 60_000 });
  assert.equal(reply.status, 200, reply.text);
  return JSON.parse(reply.text) as LoggedOrder;
}

/** Reads a list page by page with a small limit, checking next_after as it goes. */
async function pageThrough(server: Server, path: string, field: string, limit: number) {
  const rows: any[] = [];
  let after: string | null = null;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 10_000, `${path} pages forever`);
    const sep = path.includes('?') ? '&' : '?';
    const from = after === null ? '' : `&after=${encodeURIComponent(after)}`;
    const page = await get(`${server.url}${path}${sep}limit=${limit}${from}`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    assert.ok(page.body[field].length <= limit);
    rows.push(...page.body[field]);
    if (page.body.next_after === null) return rows;
    assert.ok(page.body[field].length > 0, 'a page that is not the last holds rows');
    after = String(page.body.next_after);
  }
}

const USERS = Array.from({ length: 120 }, (_, i) => `User ${String(1000 - i * 7).padStart(4, '0')}`);

test('every list pages with after, limit and next_after, and the pages add up to the whole list', async (t) => {
  const profile: Profile = Object.fromEntries(
    USERS.map((user, i): [string, Record<string, string[]>] => [
      user,
      i % 3 === 0 ? { S1: ['ACC', 'INFY'], S2: ['NTPC'] } : { S1: ['ACC'] },
    ]),
  );
  const server = await startServer(t, { profile });
  await placeOk(server, 'S1', 'ACC', 'BUY');
  await placeOk(server, 'S1', 'INFY', 'BUY');
  await placeOk(server, 'S2', 'NTPC', 'BUY');
  await placeOk(server, 'S1', 'ACC', 'SELL');
  await placeOk(server, 'S1', 'ACC', 'BUY');
  await placeOk(server, 'S9', 'ACC', 'BUY'); // concerns no one

  const positions = await pageThrough(server, '/positions', 'positions', 7);
  const whole = (await get(`${server.url}/positions?limit=${PAGE_LIMIT_MAX}`)).body;
  assert.equal(whole.next_after, null);
  assert.deepEqual(positions, whole.positions, 'pages of 7 add up to one page of 1000');
  assert.equal(positions.length, 120 + 40 + 40);
  const keys = positions.map((p) => `${p.strategy} ${p.instrument}`);
  assert.deepEqual(keys, [...keys].sort(), 'by strategy and instrument');

  const users = await pageThrough(server, '/users', 'users', 7);
  assert.deepEqual(
    users.map((u) => u.user),
    [...USERS].sort(),
    'every user once, by name',
  );
  const first = users.find((u) => u.user === USERS[0]);
  assert.deepEqual(first, {
    user: USERS[0],
    strategies: { S1: ['ACC', 'INFY'], S2: ['NTPC'] },
    open_positions: 3,
  });

  const strategies = await pageThrough(server, '/strategies', 'strategies', 1);
  assert.deepEqual(strategies, [
    { strategy: 'S1', subscribers: 120, instruments: { ACC: 120, INFY: 40 } },
    { strategy: 'S2', subscribers: 40, instruments: { NTPC: 40 } },
  ]);

  const trades = await pageThrough(server, '/trades', 'trades', 7);
  assert.equal(trades.length, 120);
  assert.deepEqual(
    trades.map((tr) => tr.trade_id),
    [...trades.map((tr) => tr.trade_id)].sort((a, b) => a - b),
  );

  const compact = await pageThrough(server, '/orders', 'orders', 4);
  const full = await pageThrough(server, '/orders?view=full', 'orders', 4);
  assert.deepEqual(
    compact.map((o) => o.order_id),
    [1, 2, 3, 4, 5, 6],
  );
  assert.deepEqual(
    compact.map((o) => [o.accepted_count, o.rejected_count]),
    full.map((o) => [o.accepted.length, o.rejected.length]),
    'the compact view counts what the full view lists',
  );
  for (const [i, order] of compact.entries()) {
    assert.equal(order.accepted, undefined, 'no per-user list in the compact view');
    const { accepted, rejected, ...head } = full[i];
    assert.deepEqual(
      { ...order, accepted_count: undefined, rejected_count: undefined },
      {
        ...head,
        accepted_count: undefined,
        rejected_count: undefined,
      },
    );
  }
  assert.deepEqual((await get(`${server.url}/orders/1`)).body, full[0], 'GET /orders/:id is the full answer');

  const detail = (await get(`${server.url}/users/${encodeURIComponent(USERS[0]!)}`)).body;
  assert.equal(detail.open_positions, 3);
  assert.equal(detail.positions.length, 3);
  assert.equal(detail.positions_next_after, null);
});

test('a limit of 1000 is served, 1001 and 0 are refused, and a cursor must be one the server gave', async (t) => {
  const server = await startServer(t);
  for (const path of ['/orders', '/positions', '/trades', '/users', '/strategies']) {
    assert.equal((await get(`${server.url}${path}?limit=${PAGE_LIMIT_MAX}`)).status, 200, path);
    for (const limit of [PAGE_LIMIT_MAX + 1, 0]) {
      const refused = await get(`${server.url}${path}?limit=${limit}`);
      assert.equal(refused.status, 400, `${path} limit ${limit}`);
      assert.equal(refused.body.field, 'limit');
    }
  }
  for (const path of ['/positions', '/users', '/strategies']) {
    for (const after of ['not-a-cursor', 'eyJ4Ijox', '%21']) {
      const refused = await get(`${server.url}${path}?after=${after}`);
      assert.equal(refused.status, 400, `${path} after=${after}`);
      assert.equal(refused.body.error, 'INVALID_REQUEST');
      assert.equal(refused.body.field, 'after');
    }
  }
  const users = (await get(`${server.url}/users?limit=1`)).body;
  assert.equal(typeof users.next_after, 'string');
  const crossed = await get(`${server.url}/positions?after=${users.next_after}`);
  assert.equal(crossed.status, 400, 'a users cursor is not a positions cursor');
  assert.equal((await get(`${server.url}/orders?view=everything`)).body.field, 'view');
});

/** Names of 64 characters: the longest allowed, so each user's verdict is as large as it gets. */
const longName = (i: number) => `Trader ${String(i).padStart(6, '0')} ${'x'.repeat(50)}`;

test('a page of the log stops before 4 MiB, and an answer larger than a page is shown compact', async (t) => {
  // 40,000 users on one strategy: a SELL closing all of them answers about 5 MB, over a whole page.
  const users = 40_000;
  const profile: Profile = Object.fromEntries(
    Array.from({ length: users }, (_, i) => [longName(i), { BIG: ['ACC'] }]),
  );
  const server = await startServer(t, { profile });
  const answers: LoggedOrder[] = [];
  for (let i = 0; i < 3; i++) {
    answers.push(await placeOk(server, 'BIG', 'ACC', 'BUY'));
    answers.push(await placeOk(server, 'BIG', 'ACC', 'SELL'));
  }
  const sizes = answers.map((answer) => Buffer.byteLength(JSON.stringify(answer)));
  assert.ok(sizes[1]! > PAGE_BYTES_MAX, `a SELL answer of ${sizes[1]} bytes is over a page`);
  assert.ok(
    sizes[0]! < PAGE_BYTES_MAX && 2 * sizes[0]! > PAGE_BYTES_MAX,
    `a BUY answer of ${sizes[0]} bytes: one fits a page, two do not`,
  );

  let after = 0;
  const seen: number[] = [];
  const pageBytes: number[] = [];
  for (;;) {
    const response = await fetch(`${server.url}/orders?view=full&limit=${PAGE_LIMIT_MAX}&after=${after}`);
    const text = await response.text();
    assert.equal(response.status, 200, text.slice(0, 200));
    assert.ok(Buffer.byteLength(text) <= PAGE_BYTES_MAX, `a page of ${Buffer.byteLength(text)} bytes`);
    pageBytes.push(Buffer.byteLength(text));
    const page = JSON.parse(text);
    for (const order of page.orders) {
      seen.push(order.order_id);
      const answer = answers[order.order_id - 1]!;
      if (order.answer_bytes === undefined) assert.deepEqual(order, answer, 'a whole answer as it was sent');
      else {
        assert.equal(order.answer_bytes, sizes[order.order_id - 1], 'its size, exact');
        assert.equal(order.accepted_count, answer.accepted.length);
        assert.equal(order.accepted, undefined);
      }
    }
    if (page.next_after === null) break;
    after = page.next_after;
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6], 'every order once, in order');
  t.diagnostic(`answers of ${sizes.join(', ')} bytes; pages of ${pageBytes.join(', ')} bytes`);
  const compact = (await get(`${server.url}/orders?limit=${PAGE_LIMIT_MAX}`)).body;
  assert.equal(compact.orders.length, 6, 'the compact view holds the whole log on one page');
  assert.equal(compact.next_after, null);
  const sell = await fetch(`${server.url}/orders/2`);
  assert.deepEqual(JSON.parse(await sell.text()), answers[1], 'GET /orders/:id has the whole answer');
});

test('paging the book while orders keep arriving skips and repeats nothing', async (t) => {
  // Positions that stay open throughout on S1/ACC and S1/NTPC, and churn around and between them:
  // S0 (before), S1/INFY (between the two, in the book's order) and S2 (after).
  const profile: Profile = Object.fromEntries(
    Array.from({ length: 200 }, (_, i) => [
      `U${String(i).padStart(3, '0')}`,
      { S0: ['ACC'], S1: ['ACC', 'INFY', 'NTPC'], S2: ['ACC'] },
    ]),
  );
  const server = await startServer(t, { profile });
  await placeOk(server, 'S1', 'ACC', 'BUY');
  await placeOk(server, 'S1', 'NTPC', 'BUY');
  const stable = new Set((await readPositions(server)).map((p) => `${p.strategy} ${p.instrument} ${p.user}`));
  assert.equal(stable.size, 400);
  let churning = true;
  const churn = (async () => {
    const books: [string, string][] = [
      ['S0', 'ACC'],
      ['S1', 'INFY'],
      ['S2', 'ACC'],
    ];
    let orders = 0;
    while (churning) {
      for (const [strategy, instrument] of books) {
        await placeOk(server, strategy, instrument, orders % 2 === 0 ? 'BUY' : 'SELL');
      }
      orders++;
    }
    return orders;
  })();
  let passes = 0;
  try {
    for (; passes < 5; passes++) {
      const seen = new Map<string, number>();
      for (const p of (await pageThrough(server, '/positions', 'positions', 9)) as Position[]) {
        const key = `${p.strategy} ${p.instrument} ${p.user}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      for (const [key, count] of seen) assert.equal(count, 1, `${key} seen ${count} times`);
      for (const key of stable) assert.ok(seen.has(key), `${key}, open throughout, was skipped`);
    }
  } finally {
    churning = false;
  }
  assert.ok((await churn) > 0, 'orders arrived while the pages were read');
});

test('the exports stream the whole log and book as NDJSON', async (t) => {
  const profile: Profile = Object.fromEntries(USERS.map((user) => [user, { S1: ['ACC', 'INFY'] }]));
  const server = await startServer(t, { profile });
  for (let i = 0; i < 5; i++) {
    await placeOk(server, 'S1', 'ACC', i % 2 === 0 ? 'BUY' : 'SELL');
    await placeOk(server, 'S1', 'INFY', 'BUY');
  }
  const ndjson = async (path: string) => {
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const text = await response.text();
    assert.ok(text.endsWith('\n'));
    return text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
  };
  assert.deepEqual(await ndjson('/export/positions'), await readPositions(server));
  assert.deepEqual(await ndjson('/export/orders?view=full'), await readLog(server));
  assert.deepEqual(
    (await ndjson('/export/orders')).map((o) => o.accepted_count),
    (await readLog(server)).map((o) => o.accepted.length),
  );
  assert.deepEqual(
    (await ndjson('/export/users')).map((u) => u.user),
    [...USERS].sort(),
  );
  assert.equal((await ndjson('/export/trades')).length, 2 * USERS.length);
  assert.equal((await ndjson('/export/orders?strategy=S1&instrument=INFY')).length, 5);
  assert.equal((await get(`${server.url}/export/positions?limit=5`)).status, 400, 'an export has no limit');
});
