// Running it live, against real server processes on a real SQLite file: users and subscriptions put and
// removed while the gate runs (with each disposition of the leaver's positions), the states of the
// gate, a strategy and a user, bad input on the new routes, the database as the source of truth at a
// restart, and the scheduled square-off, killed with SIGKILL as it starts. Every scenario ends with
// `ordergate check` replaying the whole log (orders and change records) with no mismatch.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { call, ok } from '../helpers/calls.js';
import { createKey, runCli, type Server, startServer } from '../helpers/server.js';
import { waitFor, waitForOutput } from '../helpers/wait.js';
import { getJson, type Position, readPositions, readTrades } from '../helpers/wire.js';

const PROFILE = {
  Ann: { S1: ['ACC', 'INFY'], S2: ['NTPC'] },
  Bob: { S1: ['ACC'] },
};
const EVERY_DAY = 'sun,mon,tue,wed,thu,fri,sat';
const REQUEST_TIMEOUT_MS = 10_000;
/** How long a big square-off (thousands of positions) may take to show up once a server is up. */
const SQUARE_OFF_TIMEOUT_MS = 60_000;

const order = (server: Server, strategy: string, instrument: string, position: 'BUY' | 'SELL') =>
  ok(server, 'POST', '/orders', { strategy, instrument, position });

/** The users an answer filled, sorted. */
const filled = (answer: any): string[] => answer.accepted.map((fill: any) => fill.user).sort();
/** user → reason, for the users an answer denied. */
const denied = (answer: any): Record<string, string> =>
  Object.fromEntries(answer.rejected.map((denial: any) => [denial.user, denial.reason]));

const positionsOf = async (server: Server, user: string): Promise<Position[]> =>
  readPositions(server, { query: `&user=${encodeURIComponent(user)}` });

async function userNames(server: Server): Promise<string[]> {
  const page = await getJson<{ users: { user: string }[] }>(server, '/users?limit=1000');
  return page.users.map((entry) => entry.user);
}

/** `ordergate check` on the server's database (beside it or after it stopped): no mismatch. */
async function expectCleanReplay(server: Server) {
  const result = await runCli(['check', '--database-url', server.databaseUrl, '--json']);
  assert.equal(result.code, 0, `ordergate check: ${result.stdout}${result.stderr}`);
  const report = JSON.parse(result.stdout);
  assert.equal(report.mismatches, 0, JSON.stringify(report.problems));
  assert.equal(report.integrity, 'ok');
  return report as { orders: number; changes: number; openPositions: number; trades: number };
}

/** Reads the SQLite file directly, read-only, once no server holds it. */
function withDatabase<T>(server: Server, use: (db: Database.Database) => T): T {
  const db = new Database(server.dbPath, { readonly: true, fileMustExist: true });
  try {
    return use(db);
  } finally {
    db.close();
  }
}

const count = (db: Database.Database, sql: string) => Number(db.prepare(sql).pluck().get());

test('a user put with PUT /users/:name gets the next BUY, is listed by GET /users, and survives a restart', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const put = await ok(server, 'PUT', '/users/Cy', { subscriptions: { S1: ['ACC'], S3: ['L&T'] } });
  assert.equal(put.kind, 'user-put');
  assert.equal(put.user, 'Cy');
  assert.ok(Number.isInteger(put.version) && put.version > 0, `a version: ${put.version}`);
  assert.deepEqual([put.closed, put.left_close_only, put.released], [[], [], []]);

  const buy = await order(server, 'S1', 'ACC', 'BUY');
  assert.ok(buy.order_id > put.version, 'orders and changes share one sequence: the BUY comes after');
  assert.deepEqual(filled(buy), ['Ann', 'Bob', 'Cy']);
  const only = await order(server, 'S3', 'L&T', 'BUY');
  assert.deepEqual(filled(only), ['Cy'], 'a strategy nobody traded before, through the new user alone');

  const users = await getJson<{ users: any[] }>(server, '/users');
  assert.deepEqual(
    users.users.map((u) => u.user),
    ['Ann', 'Bob', 'Cy'],
  );
  const cy = users.users.find((u) => u.user === 'Cy');
  assert.deepEqual(cy.strategies, { S1: ['ACC'], S3: ['L&T'] });
  assert.equal(cy.open_positions, 2);

  // One strategy more, through the subscription route; the other stays.
  const sub = await ok(server, 'PUT', '/users/Cy/subscriptions/S2', { instruments: ['NTPC'] });
  assert.equal(sub.kind, 'subscription-put');
  assert.ok(sub.version > only.order_id);

  await server.kill();
  await server.restart();
  assert.deepEqual(await userNames(server), ['Ann', 'Bob', 'Cy'], 'the users in force after a kill -9');
  const detail = await getJson<any>(server, '/users/Cy');
  assert.deepEqual(detail.strategies, { S1: ['ACC'], S3: ['L&T'], S2: ['NTPC'] });
  const sell = await order(server, 'S1', 'ACC', 'SELL');
  assert.deepEqual(filled(sell), ['Ann', 'Bob', 'Cy']);
  const cyFill = sell.accepted.find((fill: any) => fill.user === 'Cy');
  assert.equal(cyFill.buy_order_id, buy.order_id);
  const again = await order(server, 'S2', 'NTPC', 'BUY');
  assert.deepEqual(filled(again), ['Ann', 'Cy'], 'the subscription put before the restart');

  const report = await expectCleanReplay(server);
  assert.equal(report.changes, 2);
  assert.equal(report.orders, 4);
});

test('a restart after changes but before the first order: the next change and the next order take new numbers of the one sequence', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const put = await ok(server, 'PUT', '/users/Cy', { subscriptions: { S1: ['ACC'] } });
  const halt = await ok(server, 'PUT', '/strategies/S2/state', { state: 'HALTED', reason: 'not yet' });
  assert.deepEqual([put.version, halt.version], [1, 2]);
  assert.equal(await server.stop(), 0);
  await server.restart();
  const buy = await order(server, 'S1', 'ACC', 'BUY');
  assert.equal(buy.order_id, 3, 'the order after the records 1 and 2');
  assert.deepEqual(filled(buy), ['Ann', 'Bob', 'Cy']);
  const resume = await call(server, 'PUT', '/strategies/S2/state', { state: 'ACTIVE' });
  assert.equal(resume.status, 200, JSON.stringify(resume.body));
  assert.equal(resume.body.version, 4);
  await expectCleanReplay(server);
});

test('DELETE /users/:name?positions=close-only: the position stays, only a SELL closes it', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const buy = await order(server, 'S1', 'ACC', 'BUY');
  assert.deepEqual(filled(buy), ['Ann', 'Bob']);

  const gone = await ok(server, 'DELETE', '/users/Ann?positions=close-only');
  assert.equal(gone.kind, 'user-delete');
  assert.equal(gone.positions, 'close-only');
  assert.deepEqual(gone.closed, []);
  assert.deepEqual(gone.released, []);
  assert.deepEqual(
    gone.left_close_only.map((p: any) => [p.strategy, p.instrument, p.buy_order_id]),
    [['S1', 'ACC', buy.order_id]],
  );
  assert.deepEqual(await userNames(server), ['Bob']);
  const held = await positionsOf(server, 'Ann');
  assert.deepEqual(
    held.map((p) => [p.strategy, p.instrument, p.order_id]),
    [['S1', 'ACC', buy.order_id]],
  );

  // Ann is no subscriber any more: a BUY does not concern her, a SELL still closes what she holds.
  const bought = await order(server, 'S2', 'NTPC', 'BUY');
  assert.equal(bought.status, 'REJECTED');
  assert.equal(bought.reason, 'STRATEGY_NOT_TRADED');
  const sell = await order(server, 'S1', 'ACC', 'SELL');
  assert.deepEqual(filled(sell), ['Ann', 'Bob']);
  assert.deepEqual(await positionsOf(server, 'Ann'), []);
  const trades = await readTrades(server, { query: '&user=Ann' });
  assert.deepEqual(
    trades.map((trade) => [trade.buy_order_id, trade.sell_order_id]),
    [[buy.order_id, sell.order_id]],
  );

  // The default disposition is close-only too.
  const second = await order(server, 'S1', 'ACC', 'BUY');
  assert.deepEqual(filled(second), ['Bob']);
  const byDefault = await ok(server, 'DELETE', '/users/Bob');
  assert.equal(byDefault.positions, 'close-only');
  assert.equal(byDefault.left_close_only.length, 1);
  assert.equal((await positionsOf(server, 'Bob')).length, 1);
  await expectCleanReplay(server);
});

test('DELETE /users/:name?positions=close-now: each position is closed at once by a system SELL', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const acc = await order(server, 'S1', 'ACC', 'BUY');
  const ntpc = await order(server, 'S2', 'NTPC', 'BUY');

  const gone = await ok(server, 'DELETE', '/users/Ann?positions=close-now');
  assert.equal(gone.positions, 'close-now');
  assert.deepEqual(gone.left_close_only, []);
  assert.deepEqual(gone.released, []);
  const closed = [...gone.closed].sort((a: any, b: any) => a.order_id - b.order_id);
  assert.deepEqual(closed.map((c: any) => [c.strategy, c.instrument, c.positions]).sort(), [
    ['S1', 'ACC', 1],
    ['S2', 'NTPC', 1],
  ]);
  assert.deepEqual(
    closed.map((c: any) => c.order_id),
    [gone.version + 1, gone.version + 2],
    "the system SELLs are the log's next records after the change",
  );
  for (const close of closed) {
    const logged = await getJson<any>(server, `/orders/${close.order_id}`);
    assert.equal(logged.origin, 'close-now');
    assert.equal(logged.position, 'SELL');
    assert.equal(logged.status, 'ACCEPTED');
    assert.deepEqual([logged.strategy, logged.instrument], [close.strategy, close.instrument]);
    const opener = close.strategy === 'S1' ? acc : ntpc;
    assert.deepEqual(
      logged.accepted.map((fill: any) => [fill.user, fill.buy_order_id]),
      [['Ann', opener.order_id]],
      'only the leaver: Bob keeps his S1 ACC',
    );
    assert.deepEqual(logged.rejected, []);
  }
  assert.deepEqual(await positionsOf(server, 'Ann'), []);
  assert.equal((await positionsOf(server, 'Bob')).length, 1);
  const trades = await readTrades(server, { query: '&user=Ann' });
  assert.deepEqual(
    trades.map((trade) => trade.sell_order_id).sort((a, b) => a - b),
    closed.map((c: any) => c.order_id),
  );
  const sell = await order(server, 'S1', 'ACC', 'SELL');
  assert.deepEqual(filled(sell), ['Bob'], 'nothing of Ann is left to sell');

  // One strategy of a user: only its positions are closed, the other strategy stays subscribed and held.
  await ok(server, 'PUT', '/users/Ann', { subscriptions: PROFILE.Ann });
  await order(server, 'S1', 'INFY', 'BUY');
  await order(server, 'S2', 'NTPC', 'BUY');
  const unsubscribed = await ok(server, 'DELETE', '/users/Ann/subscriptions/S1?positions=close-now');
  assert.equal(unsubscribed.kind, 'subscription-delete');
  assert.deepEqual(
    unsubscribed.closed.map((c: any) => [c.strategy, c.instrument, c.positions, c.order_id]),
    [['S1', 'INFY', 1, unsubscribed.version + 1]],
  );
  assert.deepEqual(
    (await positionsOf(server, 'Ann')).map((p) => [p.strategy, p.instrument]),
    [['S2', 'NTPC']],
  );
  assert.deepEqual((await getJson<any>(server, '/users/Ann')).strategies, { S2: ['NTPC'] });

  await server.kill();
  await server.restart();
  assert.deepEqual(
    (await positionsOf(server, 'Ann')).map((p) => [p.strategy, p.instrument]),
    [['S2', 'NTPC']],
  );
  await expectCleanReplay(server);
});

test('DELETE /users/:name?positions=preserve: the position leaves the book, and no later SELL closes it', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const buy = await order(server, 'S1', 'ACC', 'BUY');

  const gone = await ok(server, 'DELETE', '/users/Ann?positions=preserve');
  assert.equal(gone.positions, 'preserve');
  assert.deepEqual(gone.closed, []);
  assert.deepEqual(gone.left_close_only, []);
  assert.deepEqual(
    gone.released.map((p: any) => [p.strategy, p.instrument, p.buy_order_id]),
    [['S1', 'ACC', buy.order_id]],
  );
  assert.equal(gone.released[0].opened_at, buy.received_at);
  assert.deepEqual(await positionsOf(server, 'Ann'), []);
  assert.deepEqual(
    (await readPositions(server)).map((p) => p.user),
    ['Bob'],
  );

  const sell = await order(server, 'S1', 'ACC', 'SELL');
  assert.deepEqual(filled(sell), ['Bob'], 'the released position is no longer the gate’s to close');
  assert.deepEqual(await readTrades(server, { query: '&user=Ann' }), []);

  // After a kill -9 the released position does not come back, and a SELL still leaves Ann out.
  await server.kill();
  await server.restart();
  assert.deepEqual(await positionsOf(server, 'Ann'), []);
  // Ann put back: her first BUY opens a new position (the released one is not hers in the gate any more).
  await ok(server, 'PUT', '/users/Ann', { subscriptions: { S1: ['ACC'] } });
  const reopened = await order(server, 'S1', 'ACC', 'BUY');
  assert.deepEqual(filled(reopened), ['Ann', 'Bob']);
  const closes = await order(server, 'S1', 'ACC', 'SELL');
  assert.deepEqual(closes.accepted.map((fill: any) => [fill.user, fill.buy_order_id]).sort(), [
    ['Ann', reopened.order_id],
    ['Bob', reopened.order_id],
  ]);
  await expectCleanReplay(server);
});

test('states: halts and close-only of a strategy, a user and the gate; the most restrictive wins; they survive a restart', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const opened = await order(server, 'S1', 'ACC', 'BUY');
  assert.deepEqual(filled(opened), ['Ann', 'Bob']);

  // A strategy HALTED: nothing of it goes through, BUY or SELL; other strategies do.
  const halt = await ok(server, 'PUT', '/strategies/S1/state', { state: 'HALTED', reason: 'maintenance' });
  assert.deepEqual([halt.kind, halt.scope, halt.name, halt.state], ['state', 'strategy', 'S1', 'HALTED']);
  for (const [instrument, side] of [
    ['INFY', 'BUY'],
    ['ACC', 'SELL'],
  ] as const) {
    const answer = await order(server, 'S1', instrument, side);
    assert.equal(answer.status, 'REJECTED');
    assert.equal(answer.reason, 'STRATEGY_HALTED');
    assert.deepEqual(denied(answer), { Ann: 'STRATEGY_HALTED', Bob: 'STRATEGY_HALTED' });
  }
  assert.equal((await readPositions(server)).length, 2, 'the halted SELL closed nothing');
  assert.deepEqual(filled(await order(server, 'S2', 'NTPC', 'BUY')), ['Ann']);

  // A strategy CLOSE_ONLY: BUYs rejected, SELLs close.
  await ok(server, 'PUT', '/strategies/S1/state', { state: 'CLOSE_ONLY', reason: 'wind down' });
  const noBuy = await order(server, 'S1', 'INFY', 'BUY');
  assert.equal(noBuy.reason, 'CLOSE_ONLY');
  assert.deepEqual(denied(noBuy), { Ann: 'CLOSE_ONLY', Bob: 'CLOSE_ONLY' });
  const closes = await order(server, 'S1', 'ACC', 'SELL');
  assert.equal(closes.status, 'ACCEPTED');
  assert.deepEqual(filled(closes), ['Ann', 'Bob']);

  // ACTIVE resumes.
  const resumed = await ok(server, 'PUT', '/strategies/S1/state', { state: 'ACTIVE' });
  assert.equal(resumed.state, 'ACTIVE');
  assert.deepEqual(filled(await order(server, 'S1', 'ACC', 'BUY')), ['Ann', 'Bob']);

  // A user HALTED: that user alone.
  await ok(server, 'PUT', '/users/Ann/state', { state: 'HALTED', reason: 'risk review' });
  const annSell = await order(server, 'S1', 'ACC', 'SELL');
  assert.deepEqual(filled(annSell), ['Bob']);
  assert.deepEqual(denied(annSell), { Ann: 'USER_HALTED' });
  const annOnly = await order(server, 'S2', 'NTPC', 'SELL');
  assert.equal(annOnly.status, 'REJECTED');
  assert.equal(annOnly.reason, 'NO_USER_ELIGIBLE', 'a user state does not block the order itself');
  assert.deepEqual(denied(annOnly), { Ann: 'USER_HALTED' });
  assert.deepEqual(filled(await order(server, 'S1', 'ACC', 'BUY')), ['Bob']);

  // Strategy CLOSE_ONLY and user HALTED: the halt wins, also on a SELL (which close-only lets through).
  await ok(server, 'PUT', '/strategies/S2/state', { state: 'CLOSE_ONLY', reason: 'expiry' });
  const s2Sell = await order(server, 'S2', 'NTPC', 'SELL');
  assert.equal(s2Sell.status, 'REJECTED');
  assert.deepEqual(denied(s2Sell), { Ann: 'USER_HALTED' });

  // The gate CLOSE_ONLY: BUYs of every strategy rejected; SELLs go through.
  await ok(server, 'PUT', '/state', { state: 'CLOSE_ONLY', reason: 'end of day' });
  const gateBuy = await order(server, 'S1', 'INFY', 'BUY');
  assert.equal(gateBuy.reason, 'CLOSE_ONLY');
  assert.deepEqual(
    denied(gateBuy),
    { Ann: 'USER_HALTED', Bob: 'CLOSE_ONLY' },
    'her own halt is the stricter',
  );
  const gateSell = await order(server, 'S1', 'ACC', 'SELL');
  assert.deepEqual(filled(gateSell), ['Bob']);
  assert.deepEqual(denied(gateSell), { Ann: 'USER_HALTED' });

  // The gate HALTED and the strategy CLOSE_ONLY: the gate's halt wins, for every user, BUY and SELL.
  await ok(server, 'PUT', '/state', { state: 'HALTED', reason: 'kill switch' });
  for (const [strategy, instrument, side] of [
    ['S2', 'NTPC', 'BUY'],
    ['S2', 'NTPC', 'SELL'],
    ['S1', 'ACC', 'SELL'],
    ['S1', 'ACC', 'BUY'],
  ] as const) {
    const answer = await order(server, strategy, instrument, side);
    assert.equal(answer.status, 'REJECTED', `${strategy} ${instrument} ${side}`);
    assert.equal(answer.reason, 'GATE_HALTED', `${strategy} ${instrument} ${side}`);
    for (const reason of Object.values(denied(answer))) assert.equal(reason, 'GATE_HALTED');
  }
  const nobody = await order(server, 'NOBODY', 'ACC', 'BUY');
  assert.equal(nobody.reason, 'GATE_HALTED', 'the halt names itself even for an order that concerns no one');

  const states = await getJson<any>(server, '/state');
  assert.equal(states.gate.state, 'HALTED');
  assert.equal(states.gate.reason, 'kill switch');
  assert.deepEqual(
    states.strategies.map((s: any) => [s.strategy, s.state, s.reason]),
    [['S2', 'CLOSE_ONLY', 'expiry']],
  );
  assert.deepEqual(
    states.users.map((u: any) => [u.user, u.state, u.reason]),
    [['Ann', 'HALTED', 'risk review']],
  );

  // Everything survives a kill -9.
  await server.kill();
  await server.restart();
  assert.deepEqual(await getJson<any>(server, '/state'), states);
  assert.equal((await order(server, 'S1', 'ACC', 'BUY')).reason, 'GATE_HALTED');

  await ok(server, 'PUT', '/state', { state: 'ACTIVE' });
  await ok(server, 'PUT', '/strategies/S2/state', { state: 'ACTIVE' });
  // Still halted on her own, Ann is not let through by the gate resuming.
  assert.deepEqual(denied(await order(server, 'S2', 'NTPC', 'SELL')), { Ann: 'USER_HALTED' });
  await ok(server, 'PUT', '/users/Ann/state', { state: 'ACTIVE' });
  const cleared = await getJson<any>(server, '/state');
  assert.equal(cleared.gate.state, 'ACTIVE');
  assert.deepEqual([cleared.strategies, cleared.users], [[], []]);
  assert.deepEqual(filled(await order(server, 'S2', 'NTPC', 'SELL')), ['Ann']);
  assert.deepEqual(filled(await order(server, 'S1', 'ACC', 'SELL')), ['Ann']);
  await expectCleanReplay(server);
});

test('changes and orders in flight at a kill -9: every one answered is in the log as answered after the restart, and check replays it', {
  timeout: 120_000,
}, async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const url = server.url;
  let running = true;
  const answeredOrders = new Map<number, unknown>();
  const answeredChanges: number[] = [];
  const send = async (method: string, path: string, body?: unknown) => {
    try {
      const response = await fetch(url + path, {
        method,
        ...(body !== undefined && {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      return response.status === 200 ? JSON.parse(text) : undefined;
    } catch {
      return undefined; // the kill
    }
  };
  const orders = [0, 1].map(async (lane) => {
    for (let i = lane; running; i += 2) {
      const [strategy, instrument] = i % 4 < 2 ? ['S1', 'ACC'] : ['S2', 'NTPC'];
      const answer = await send('POST', '/orders', orderBody(strategy, instrument, i % 3 ? 'BUY' : 'SELL'));
      if (answer !== undefined) answeredOrders.set(answer.order_id, answer);
    }
  });
  const changes = (async () => {
    const dispositions = ['close-only', 'close-now', 'preserve'];
    for (let i = 0; running; i++) {
      const step = i % 4;
      const answer =
        step === 0
          ? await send('PUT', `/users/U${i}`, { subscriptions: { S1: ['ACC'], S2: ['NTPC'] } })
          : step === 1
            ? await send(
                'PUT',
                '/strategies/S2/state',
                i % 8 === 1 ? { state: 'CLOSE_ONLY', reason: 'x' } : { state: 'ACTIVE' },
              )
            : step === 2
              ? await send('DELETE', `/users/U${i - 2}?positions=${dispositions[(i >> 2) % 3]}`)
              : await send('PUT', `/users/Bob/subscriptions/S${1 + ((i >> 2) % 2)}`, {
                  instruments: ['ACC', 'NTPC'],
                });
      if (answer !== undefined) answeredChanges.push(answer.version);
      if (answer?.closed !== undefined)
        for (const close of answer.closed) answeredOrders.set(close.order_id, undefined);
    }
  })();
  await waitFor(
    'changes and orders answered',
    () => answeredChanges.length >= 40 && answeredOrders.size >= 40,
    60_000,
  );
  await server.kill();
  running = false;
  await Promise.all([...orders, changes]);

  await server.restart();
  for (const [orderId, answer] of answeredOrders) {
    const logged = await getJson<any>(server, `/orders/${orderId}`);
    if (answer !== undefined) assert.deepEqual(logged, answer, `order ${orderId} as answered`);
  }
  assert.equal(await server.stop(), 0);
  withDatabase(server, (db) => {
    const seqs = new Set(db.prepare('SELECT seq FROM changes').pluck().all() as number[]);
    for (const version of answeredChanges) assert.ok(seqs.has(version), `change ${version} is in the log`);
  });
  const report = await expectCleanReplay(server);
  assert.ok(report.changes >= answeredChanges.length);
});

test('only an admin key changes users, states and square-offs; a read key reads the states; each change names its key', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const admin = await createKey(server, '--admin');
  const reader = await createKey(server, '--read');
  const engine = await createKey(server, '--strategy', 'S1');
  const as = (key: { token: string }) => ({ authorization: `Bearer ${key.token}` });
  const changes: [string, string, unknown?][] = [
    ['PUT', '/state', { state: 'HALTED', reason: 'x' }],
    ['PUT', '/strategies/S1/state', { state: 'HALTED', reason: 'x' }],
    ['PUT', '/users/Ann/state', { state: 'HALTED', reason: 'x' }],
    ['PUT', '/users/Cy', { subscriptions: { S1: ['ACC'] } }],
    ['PUT', '/users/Ann/subscriptions/S1', { instruments: ['ACC'] }],
    ['DELETE', '/users/Ann/subscriptions/S1'],
    ['DELETE', '/users/Ann'],
    ['POST', '/square-off', {}],
    ['PUT', '/profile', JSON.stringify(PROFILE)],
  ];
  for (const [method, path, body] of changes) {
    assert.equal((await call(server, method, path, body)).status, 401, `${method} ${path} without a key`);
    for (const key of [reader, engine]) {
      const answer = await call(server, method, path, body, as(key));
      assert.equal(answer.status, 403, `${method} ${path}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error, 'FORBIDDEN');
    }
  }
  for (const path of ['/state', '/profile']) {
    assert.equal((await call(server, 'GET', path, undefined, as(reader))).status, 200, `GET ${path}`);
    assert.equal((await call(server, 'GET', path, undefined, as(engine))).status, 403, `GET ${path}`);
  }
  const before = await call(server, 'GET', '/state', undefined, as(reader));
  assert.equal(before.body.version, 0, 'nothing was changed by the refused requests');

  const halted = await call(
    server,
    'PUT',
    '/strategies/S1/state',
    { state: 'HALTED', reason: 'x' },
    as(admin),
  );
  assert.equal(halted.status, 200, JSON.stringify(halted.body));
  assert.equal(halted.body.by, admin.id);
  const state = await call(server, 'GET', '/state', undefined, as(reader));
  assert.deepEqual(state.body.strategies, [
    {
      strategy: 'S1',
      state: 'HALTED',
      reason: 'x',
      since: halted.body.at,
      by: admin.id,
      version: halted.body.version,
    },
  ]);
  assert.equal(state.body.version, halted.body.version);
  const blocked = await call(server, 'POST', '/orders', orderBody('S1', 'ACC', 'BUY'), as(engine));
  assert.equal(blocked.body.reason, 'STRATEGY_HALTED');
  await expectCleanReplay(server);
});

const orderBody = (strategy: string, instrument: string, position: string) => ({
  strategy,
  instrument,
  position,
});

interface BadCase {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly status: number;
  readonly error: string;
  /** What the message must say: the field or the value at fault. */
  readonly message: RegExp;
  readonly field?: string;
}

const BAD_INPUT: readonly BadCase[] = [
  {
    method: 'PUT',
    path: '/users/Cy',
    body: { subscriptions: { S1: ['ACC'] }, admin: true },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /admin/,
    field: 'admin',
  },
  {
    method: 'PUT',
    path: '/users/Cy',
    body: { subscriptions: { S1: [] } },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /S1.*empty/,
    field: 'subscriptions',
  },
  {
    method: 'PUT',
    path: '/users/Cy',
    body: { subscriptions: {} },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /subscriptions/,
  },
  {
    method: 'PUT',
    path: '/users/Cy',
    body: {},
    status: 400,
    error: 'INVALID_REQUEST',
    message: /subscriptions/,
  },
  {
    method: 'PUT',
    path: '/users/Cy',
    body: { subscriptions: { S1: ['ACC', 'ACC'] } },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /ACC/,
  },
  {
    method: 'PUT',
    path: '/users/Cy',
    body: { subscriptions: { 'S|1': ['ACC'] } },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /S\|1/,
  },
  {
    method: 'PUT',
    path: '/users/Cy',
    body: { subscriptions: { S1: ['AC\nC'] } },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /instrument|name/,
  },
  {
    method: 'PUT',
    path: '/users/Cy',
    body: { subscriptions: { S1: 'ACC' } },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /subscriptions/,
  },
  {
    method: 'PUT',
    path: '/users/Cy',
    body: '{"subscriptions": ',
    status: 400,
    error: 'INVALID_JSON',
    message: /JSON/,
  },
  {
    method: 'PUT',
    path: `/users/${encodeURIComponent('|bad')}`,
    body: { subscriptions: { S1: ['ACC'] } },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /params\.name/,
    field: 'name',
  },
  {
    method: 'PUT',
    path: `/users/${'A'.repeat(65)}`,
    body: { subscriptions: { S1: ['ACC'] } },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /params\.name/,
  },
  {
    method: 'PUT',
    path: '/users/Cy/subscriptions/S1',
    body: { instruments: [] },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /empty/,
  },
  {
    method: 'PUT',
    path: '/users/Cy/subscriptions/S1',
    body: { instruments: ['ACC'], strategy: 'S2' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /strategy/,
    field: 'strategy',
  },
  {
    method: 'PUT',
    path: `/users/Cy/subscriptions/${encodeURIComponent('S 1|')}`,
    body: { instruments: ['ACC'] },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /params\.strategy/,
  },
  {
    method: 'PUT',
    path: '/state',
    body: { state: 'PAUSED', reason: 'x' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /state must be one of ACTIVE, CLOSE_ONLY, HALTED/,
    field: 'state',
  },
  {
    method: 'PUT',
    path: '/state',
    body: { state: 'halted', reason: 'x' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /state/,
    field: 'state',
  },
  {
    method: 'PUT',
    path: '/state',
    body: { state: 'HALTED' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /reason/,
    field: 'reason',
  },
  {
    method: 'PUT',
    path: '/strategies/S1/state',
    body: { state: 'CLOSE_ONLY' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /reason/,
    field: 'reason',
  },
  {
    method: 'PUT',
    path: '/users/Ann/state',
    body: { state: 'HALTED', reason: '' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /reason/,
    field: 'reason',
  },
  {
    method: 'PUT',
    path: '/state',
    body: { state: 'HALTED', reason: 'x'.repeat(201) },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /reason/,
    field: 'reason',
  },
  {
    method: 'PUT',
    path: '/state',
    body: { state: 'ACTIVE', until: 'tomorrow' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /until/,
    field: 'until',
  },
  {
    method: 'PUT',
    path: '/state',
    status: 400,
    error: 'EMPTY_BODY',
    message: /body/,
  },
  {
    method: 'PUT',
    path: `/strategies/${encodeURIComponent('|')}/state`,
    body: { state: 'HALTED', reason: 'x' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /params\.name/,
  },
  {
    method: 'PUT',
    path: '/users/Nobody/state',
    body: { state: 'HALTED', reason: 'x' },
    status: 404,
    error: 'USER_NOT_FOUND',
    message: /"Nobody"/,
  },
  { method: 'DELETE', path: '/users/Nobody', status: 404, error: 'USER_NOT_FOUND', message: /"Nobody"/ },
  {
    method: 'DELETE',
    path: '/users/Nobody?positions=close-now',
    status: 404,
    error: 'USER_NOT_FOUND',
    message: /"Nobody"/,
  },
  {
    method: 'DELETE',
    path: '/users/Ann?positions=sell',
    status: 400,
    error: 'INVALID_REQUEST',
    message: /positions must be one of close-only, close-now, preserve/,
    field: 'positions',
  },
  {
    method: 'DELETE',
    path: '/users/Ann?position=close-now',
    status: 400,
    error: 'INVALID_REQUEST',
    message: /position/,
    field: 'position',
  },
  {
    method: 'DELETE',
    path: '/users/Ann/subscriptions/S9',
    status: 404,
    error: 'SUBSCRIPTION_NOT_FOUND',
    message: /"S9"/,
  },
  {
    method: 'DELETE',
    path: '/users/Nobody/subscriptions/S1',
    status: 404,
    error: 'USER_NOT_FOUND',
    message: /"Nobody"/,
  },
  {
    method: 'POST',
    path: '/square-off',
    body: { user: 'Nobody' },
    status: 404,
    error: 'USER_NOT_FOUND',
    message: /"Nobody"/,
  },
  {
    method: 'POST',
    path: '/square-off',
    body: { strategy: 'S1', all: true },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /all/,
    field: 'all',
  },
  {
    method: 'POST',
    path: '/square-off',
    body: { strategy: 'S|1' },
    status: 400,
    error: 'INVALID_REQUEST',
    message: /strategy/,
  },
  {
    method: 'PUT',
    path: '/profile',
    body: '{"Cy": {"S1": ["ACC"]}, "Cy": {"S2": ["NTPC"]}}',
    status: 400,
    error: 'INVALID_REQUEST',
    message: /Cy/,
  },
  {
    method: 'PUT',
    path: '/profile',
    body: '{"Cy": {"S1": []}}',
    status: 400,
    error: 'INVALID_REQUEST',
    message: /empty/,
  },
  {
    method: 'PUT',
    path: '/profile',
    body: 'not json',
    status: 400,
    error: 'INVALID_REQUEST',
    message: /JSON/,
  },
];

test('bad input on the live routes: a 4xx with a JSON error naming the problem, never a 500, and nothing logged', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const before = await getJson<any>(server, '/state');
  for (const bad of BAD_INPUT) {
    const what = `${bad.method} ${bad.path} ${bad.body === undefined ? '' : JSON.stringify(bad.body)}`;
    const answer = await call(server, bad.method, bad.path, bad.body);
    assert.equal(answer.status, bad.status, `${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
    assert.equal(typeof answer.body, 'object', `${what}: a JSON error, got ${answer.body}`);
    assert.equal(answer.body.error, bad.error, `${what}: ${JSON.stringify(answer.body)}`);
    assert.match(answer.body.message, bad.message, `${what}: ${JSON.stringify(answer.body)}`);
    if (bad.field !== undefined) assert.equal(answer.body.field, bad.field, what);
  }
  // None of them changed anything: no record, the same users and states.
  assert.deepEqual(await getJson<any>(server, '/state'), before);
  assert.equal(before.version, 0);
  assert.deepEqual(await userNames(server), ['Ann', 'Bob']);
  assert.doesNotMatch(server.output(), /INTERNAL_ERROR|"statusCode":5\d\d/);
  const report = await expectCleanReplay(server);
  assert.equal(report.changes, 0);
});

test('a restart with another profile file leaves the users in force as they were, with a warning; --import-profile applies it', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await ok(server, 'PUT', '/users/Cy', { subscriptions: { S1: ['ACC'] } });
  const buy = await order(server, 'S1', 'ACC', 'BUY');
  assert.deepEqual(filled(buy), ['Ann', 'Bob', 'Cy']);
  const exported = await getJson<any>(server, '/profile');
  assert.equal(await server.stop(), 0);

  // The file now lists Dee and no longer Bob or Cy.
  const other = { Ann: { S1: ['ACC'] }, Dee: { S1: ['ACC'], S2: ['NTPC'] } };
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify(other));
  await server.restart();
  await waitForOutput(server, /the profile file differs from the users in force in the database/);
  assert.deepEqual(await userNames(server), ['Ann', 'Bob', 'Cy']);
  assert.deepEqual(await getJson<any>(server, '/profile'), exported);
  assert.deepEqual(filled(await order(server, 'S1', 'ACC', 'SELL')), ['Ann', 'Bob', 'Cy']);
  const reopened = await order(server, 'S1', 'ACC', 'BUY');
  assert.deepEqual(filled(reopened), ['Ann', 'Bob', 'Cy']);
  assert.equal(await server.stop(), 0);

  // The same file with --import-profile (IMPORT_PROFILE=1): it becomes the users in force, as a record.
  const importing = await startServer(t, { dir: server.dir, env: { IMPORT_PROFILE: '1' } });
  await waitForOutput(importing, /profile file imported at start/);
  assert.deepEqual(await userNames(importing), ['Ann', 'Dee']);
  assert.deepEqual(await getJson<any>(importing, '/profile'), other);
  // Bob and Cy left: their positions stay, close-only; Dee's first BUY opens hers.
  assert.deepEqual(
    (await readPositions(importing)).map((p) => p.user),
    ['Ann', 'Bob', 'Cy'],
  );
  const sell = await order(importing, 'S1', 'ACC', 'SELL');
  assert.deepEqual(filled(sell), ['Ann', 'Bob', 'Cy']);
  assert.deepEqual(denied(sell), { Dee: 'NO_OPEN_POSITION' });
  assert.deepEqual(filled(await order(importing, 'S2', 'NTPC', 'BUY')), ['Dee']);
  assert.equal(await importing.stop(), 0);

  // Started again with the flag and the same file: nothing differs, nothing is imported again.
  const again = await startServer(t, { dir: server.dir, env: { IMPORT_PROFILE: '1' } });
  assert.doesNotMatch(again.output(), /profile file imported at start|differs from the users in force/);
  assert.deepEqual(await userNames(again), ['Ann', 'Dee']);
  assert.equal(await again.stop(), 0);
  const report = await expectCleanReplay(again);
  assert.equal(report.changes, 2, 'the user put and one import');
});

test('the commands the profile warning and GET /profile name exist: ordergate import and ordergate export', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await ok(server, 'PUT', '/users/Cy', { subscriptions: { S1: ['ACC'] } });
  assert.equal(await server.stop(), 0);
  await server.restart();
  const [warning] = await waitForOutput(server, /the profile file differs from the users in force[^\n]*/);
  const advised = /`ordergate (\w+)[^`]*`/.exec(warning);
  assert.ok(advised !== null, `the warning names a command: ${warning}`);
  const openapi = await getJson<any>(server, '/openapi.json');
  const described = /`ordergate (\w+)`/.exec(openapi.paths['/profile'].get.description);
  assert.ok(described !== null);
  for (const command of [advised[1]!, described[1]!]) {
    const help = await runCli([command, '--help']);
    assert.equal(help.code, 0, `ordergate ${command} --help: ${help.stdout}${help.stderr}`);
  }
});

test('POST /square-off: of a user, of a strategy, then of everything (the gate close-only until the next trading day)', async (t) => {
  const zone = quietZone(Date.now());
  const server = await startServer(t, {
    profile: PROFILE,
    env: { SQUARE_OFF_TZ: zone, SQUARE_OFF_DAYS: EVERY_DAY },
  });
  const acc = await order(server, 'S1', 'ACC', 'BUY');
  await order(server, 'S1', 'INFY', 'BUY');
  await order(server, 'S2', 'NTPC', 'BUY');

  const bob = await ok(server, 'POST', '/square-off', { user: 'Bob' });
  assert.equal(bob.kind, 'square-off');
  assert.equal(bob.close_only_until, null, 'one user squared off: the gate stays as it is');
  assert.deepEqual(
    bob.closed.map((c: any) => [c.order_id, c.strategy, c.instrument, c.positions]),
    [[bob.version + 1, 'S1', 'ACC', 1]],
  );
  const logged = await getJson<any>(server, `/orders/${bob.closed[0].order_id}`);
  assert.equal(logged.origin, 'square-off');
  assert.deepEqual(
    logged.accepted.map((fill: any) => [fill.user, fill.buy_order_id]),
    [['Bob', acc.order_id]],
  );

  const s1 = await ok(server, 'POST', '/square-off', { strategy: 'S1' });
  assert.deepEqual(s1.closed.map((c: any) => [c.strategy, c.instrument, c.positions]).sort(), [
    ['S1', 'ACC', 1],
    ['S1', 'INFY', 1],
  ]);
  assert.deepEqual(
    (await readPositions(server)).map((p) => [p.user, p.strategy]),
    [['Ann', 'S2']],
  );
  assert.equal((await getJson<any>(server, '/state')).gate.state, 'ACTIVE');
  assert.deepEqual(filled(await order(server, 'S1', 'ACC', 'BUY')), ['Ann', 'Bob']);

  // Everything, with no body at all.
  const all = await call(server, 'POST', '/square-off');
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.deepEqual(all.body.closed.map((c: any) => [c.strategy, c.instrument, c.positions]).sort(), [
    ['S1', 'ACC', 2],
    ['S2', 'NTPC', 1],
  ]);
  assertNextLocalMidnight(all.body.close_only_until, zone, Date.parse(all.body.at));
  assert.deepEqual(await readPositions(server), []);
  const state = await getJson<any>(server, '/state');
  assert.equal(state.gate.state, 'CLOSE_ONLY');
  assert.equal(state.gate.reason, 'square-off');
  assert.equal(state.gate.close_only_until, all.body.close_only_until);
  const refused = await order(server, 'S1', 'ACC', 'BUY');
  assert.equal(refused.reason, 'CLOSE_ONLY');
  assert.deepEqual(denied(refused), { Ann: 'CLOSE_ONLY', Bob: 'CLOSE_ONLY' });

  // The close-only period survives a kill -9; the gate set ACTIVE by hand ends it.
  await server.kill();
  await server.restart();
  assert.equal((await order(server, 'S2', 'NTPC', 'BUY')).reason, 'CLOSE_ONLY');
  await ok(server, 'PUT', '/state', { state: 'ACTIVE' });
  assert.equal((await getJson<any>(server, '/state')).gate.close_only_until, null);
  assert.deepEqual(filled(await order(server, 'S2', 'NTPC', 'BUY')), ['Ann']);
  await expectCleanReplay(server);
});

test('two square-offs whose close-only periods end on different days: GET /state says the same before and after a restart', async (t) => {
  const zone = quietZone(Date.now());
  const today = localTime(Date.now(), zone).day;
  const dayAfter = (day: string, n: number) =>
    new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
  const scratch = mkdtempSync(join(tmpdir(), 'ordergate-holidays-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const holidays = join(scratch, 'holidays.txt');
  writeFileSync(holidays, `${dayAfter(today, 1)}\n`);
  const env = { SQUARE_OFF_TZ: zone, SQUARE_OFF_DAYS: EVERY_DAY };

  // Tomorrow a holiday: the first square-off's close-only period lasts until the day after.
  const first = await startServer(t, { profile: PROFILE, env: { ...env, HOLIDAYS_PATH: holidays } });
  await order(first, 'S1', 'ACC', 'BUY');
  const long = await ok(first, 'POST', '/square-off', {});
  assert.equal(localTime(Date.parse(long.close_only_until), zone).day, dayAfter(today, 2));
  assert.equal(await first.stop(), 0);

  // The holiday called off (the file no longer given): a second square-off's period ends tomorrow.
  const server = await startServer(t, { dir: first.dir, env });
  const short = await ok(server, 'POST', '/square-off', {});
  assert.equal(localTime(Date.parse(short.close_only_until), zone).day, dayAfter(today, 1));
  const before = await getJson<any>(server, '/state');
  await server.kill();
  await server.restart();
  const after = await getJson<any>(server, '/state');
  assert.deepEqual(after.gate, before.gate, 'the close-only period in force is the one the server had');
  await expectCleanReplay(server);
});

test('POST /square-off with AFTER_SQUARE_OFF=active leaves the gate ACTIVE', async (t) => {
  const server = await startServer(t, {
    profile: PROFILE,
    env: { AFTER_SQUARE_OFF: 'active', SQUARE_OFF_DAYS: EVERY_DAY },
  });
  await order(server, 'S1', 'ACC', 'BUY');
  const all = await ok(server, 'POST', '/square-off', {});
  assert.equal(all.close_only_until, null);
  assert.equal(all.closed.length, 1);
  assert.equal((await getJson<any>(server, '/state')).gate.state, 'ACTIVE');
  assert.deepEqual(filled(await order(server, 'S1', 'ACC', 'BUY')), ['Ann', 'Bob']);
  await expectCleanReplay(server);
});

/**
 * A server on a generated profile of `users` users, stopped after a BUY on every (strategy, instrument)
 * the profile trades: its folder, the books, and how many positions they opened.
 */
async function openEveryBook(t: TestContext, users: number) {
  const scratch = mkdtempSync(join(tmpdir(), 'ordergate-square-off-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const generated = join(scratch, 'profile.json');
  const made = await runCli(['generate', '--users', String(users), '--seed', '13', '--out', generated]);
  assert.equal(made.code, 0, made.stderr);
  const profile = JSON.parse(readFileSync(generated, 'utf8')) as Record<string, Record<string, string[]>>;
  const books = new Map<string, [string, string]>();
  for (const strategies of Object.values(profile))
    for (const [strategy, instruments] of Object.entries(strategies))
      for (const instrument of instruments) books.set(`${strategy}|${instrument}`, [strategy, instrument]);
  assert.ok(books.size >= 10, `several books: ${books.size}`);
  const opening = await startServer(t, { profile });
  let opened = 0;
  for (const [strategy, instrument] of books.values()) {
    const buy = await order(opening, strategy, instrument, 'BUY');
    opened += buy.accepted.length;
  }
  assert.equal((await readPositions(opening)).length, opened);
  assert.equal(await opening.stop(), 0);
  return { dir: opening.dir, books: [...books.values()], opened };
}

test('the scheduled square-off, killed with SIGKILL as it starts: after a restart every position is closed exactly once, by one record of the day', {
  timeout: 240_000,
}, async (t) => {
  // First, without a schedule: a BUY on every book opens thousands of positions.
  const { dir, books, opened } = await openEveryBook(t, 400);
  assert.ok(opened >= 1000, `many positions: ${opened}`);

  // Then with the square-off a few seconds ahead (if the start takes longer, it runs at start).
  const zone = quietZone(Date.now());
  const at = localTime(Date.now() + 8000, zone);
  const env = { SQUARE_OFF_AT: at.time, SQUARE_OFF_TZ: zone, SQUARE_OFF_DAYS: EVERY_DAY };
  const server = await startServer(t, { dir, env });
  await waitFor(
    'the square-off starting',
    () => /square-off: closing every open position/.test(server.output()),
    SQUARE_OFF_TIMEOUT_MS,
    1,
  );
  await server.kill();
  const finishedBeforeKill = /square-off done/.test(server.output());
  t.diagnostic(`the square-off had ${finishedBeforeKill ? 'finished' : 'not finished'} when killed`);

  await server.restart();
  await waitFor(
    'every position closed after the restart',
    async () => (await readPositions(server)).length === 0,
    SQUARE_OFF_TIMEOUT_MS,
  );
  const secondRun = /square-off: closing every open position/.test(server.output());
  t.diagnostic(
    `after the restart the square-off ${secondRun ? 'ran (the first did not commit)' : 'was done'}`,
  );
  const refused = await order(server, ...books[0]!, 'BUY');
  assert.equal(refused.status, 'REJECTED');
  assert.equal(refused.reason, 'CLOSE_ONLY');
  assert.ok(refused.rejected.length > 0);
  for (const denial of refused.rejected) assert.equal(denial.reason, 'CLOSE_ONLY');
  const state = await getJson<any>(server, '/state');
  assert.equal(state.gate.state, 'CLOSE_ONLY');
  assertNextLocalMidnight(state.gate.close_only_until, zone, Date.now());
  assert.equal(await server.stop(), 0);

  withDatabase(server, (db) => {
    assert.deepEqual(
      db.prepare('SELECT day FROM square_offs').pluck().all(),
      [at.day],
      'one square-off, for the day',
    );
    assert.equal(count(db, "SELECT count(*) FROM changes WHERE kind = 'square-off'"), 1);
    assert.equal(count(db, 'SELECT count(*) FROM positions'), 0);
    assert.equal(count(db, 'SELECT count(*) FROM trades'), opened, 'every position closed');
    assert.equal(
      count(
        db,
        'SELECT count(*) FROM (SELECT 1 FROM trades GROUP BY user_id, buy_order_id HAVING count(*) > 1)',
      ),
      0,
      'and each exactly once',
    );
    assert.equal(
      count(db, "SELECT count(*) FROM orders WHERE origin = 'square-off'"),
      books.length,
      'one system SELL per book',
    );
    assert.equal(
      count(
        db,
        "SELECT count(*) FROM trades WHERE sell_order_id NOT IN (SELECT order_id FROM orders WHERE origin = 'square-off')",
      ),
      0,
      'every trade closed by the square-off',
    );
  });
  const report = await expectCleanReplay(server);
  assert.equal(report.trades, opened);
  assert.equal(report.openPositions, 0);
});

test('the scheduled square-off with orders in flight, killed with SIGKILL as it starts: every position the log opened is closed exactly once', {
  timeout: 240_000,
}, async (t) => {
  const { dir, books, opened } = await openEveryBook(t, 200);
  const zone = quietZone(Date.now());
  const at = localTime(Date.now() + 12_000, zone);
  const env = { SQUARE_OFF_AT: at.time, SQUARE_OFF_TZ: zone, SQUARE_OFF_DAYS: EVERY_DAY };
  const server = await startServer(t, { dir, env });

  // Four clients send BUYs and SELLs round the books until the kill: some decided before the square-off,
  // some after it (CLOSE_ONLY), some in flight when the process dies (no answer).
  let loading = true;
  let answered = 0;
  const url = server.url;
  const load = Promise.all(
    [0, 1, 2, 3].map(async (lane) => {
      for (let i = lane; loading; i += 4) {
        const [strategy, instrument] = books[i % books.length]!;
        const position = i % 3 === 0 ? 'SELL' : 'BUY';
        try {
          const response = await fetch(`${url}/orders`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ strategy, instrument, position }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          await response.text();
          if (response.status === 200) answered++;
        } catch {
          // The kill: no answer.
        }
      }
    }),
  );
  await waitFor(
    'the square-off starting',
    () => /square-off: closing every open position/.test(server.output()),
    SQUARE_OFF_TIMEOUT_MS,
    1,
  );
  await server.kill();
  loading = false;
  await load;
  t.diagnostic(`${answered} orders answered during the run; ${opened} positions opened before it`);

  await server.restart();
  await waitFor(
    'every position closed after the restart',
    async () => (await readPositions(server)).length === 0,
    SQUARE_OFF_TIMEOUT_MS,
  );
  assert.equal((await order(server, ...books[0]!, 'BUY')).reason, 'CLOSE_ONLY');
  assert.equal(await server.stop(), 0);

  withDatabase(server, (db) => {
    assert.deepEqual(db.prepare('SELECT day FROM square_offs').pluck().all(), [at.day]);
    assert.equal(count(db, "SELECT count(*) FROM changes WHERE kind = 'square-off'"), 1);
    assert.equal(count(db, 'SELECT count(*) FROM positions'), 0);
    // Every position a BUY in the log opened, closed by exactly one trade.
    const buys = db
      .prepare("SELECT order_id, answer FROM orders WHERE side = 'BUY' AND status = 'ACCEPTED'")
      .all() as {
      order_id: number;
      answer: string;
    }[];
    const openedInLog = new Set<string>();
    for (const { order_id, answer } of buys)
      for (const fill of JSON.parse(answer).accepted as { user: string }[])
        openedInLog.add(`${fill.user}|${order_id}`);
    assert.ok(openedInLog.size >= opened);
    const trades = db
      .prepare('SELECT users.name AS user, buy_order_id FROM trades JOIN users USING (user_id)')
      .all() as { user: string; buy_order_id: number }[];
    const closed = trades.map((trade) => `${trade.user}|${trade.buy_order_id}`);
    assert.equal(new Set(closed).size, closed.length, 'no position closed twice');
    assert.deepEqual(new Set(closed), openedInLog, 'every position opened is closed');
  });
  await expectCleanReplay(server);
});

test('a scheduled square-off committed before a kill -9 is not done again by the restart on the same day', async (t) => {
  const opening = await startServer(t, { profile: PROFILE });
  await order(opening, 'S1', 'ACC', 'BUY');
  await order(opening, 'S2', 'NTPC', 'BUY');
  assert.equal(await opening.stop(), 0);

  // Past the time today: the square-off runs at start. AFTER_SQUARE_OFF=active lets BUYs in after it.
  const zone = quietZone(Date.now());
  const env = {
    SQUARE_OFF_AT: '00:00',
    SQUARE_OFF_TZ: zone,
    SQUARE_OFF_DAYS: EVERY_DAY,
    AFTER_SQUARE_OFF: 'active',
  };
  const server = await startServer(t, { dir: opening.dir, env });
  await waitForOutput(server, /square-off done/, SQUARE_OFF_TIMEOUT_MS);
  assert.deepEqual(await readPositions(server), []);
  await server.kill();

  await server.restart();
  await waitForOutput(server, /square-off scheduled at 00:00/);
  const buy = await order(server, 'S1', 'ACC', 'BUY');
  assert.deepEqual(filled(buy), ['Ann', 'Bob']);
  assert.equal(await server.stop(), 0);
  assert.doesNotMatch(server.output(), /square-off: closing/, 'the day is squared off already');
  withDatabase(server, (db) => {
    assert.equal(count(db, 'SELECT count(*) FROM square_offs'), 1);
    assert.equal(count(db, "SELECT count(*) FROM changes WHERE kind = 'square-off'"), 1);
    assert.equal(count(db, 'SELECT count(*) FROM trades'), 3);
    assert.equal(count(db, 'SELECT count(*) FROM positions'), 2, 'the BUY after the restart stays open');
  });
  await expectCleanReplay(server);
});

test('no scheduled square-off on a day the holidays file lists, and one at start once it no longer does', async (t) => {
  const zone = quietZone(Date.now());
  const today = localTime(Date.now(), zone).day;
  const scratch = mkdtempSync(join(tmpdir(), 'ordergate-holidays-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const holidays = join(scratch, 'holidays.txt');
  writeFileSync(holidays, `# exchange holidays\n2020-01-26\n${today}   # today\n\n`);
  // The time is long past today (at least half an hour: quietZone), so a trading day would square off at start.
  const env = { SQUARE_OFF_AT: '00:00', SQUARE_OFF_TZ: zone, SQUARE_OFF_DAYS: EVERY_DAY };
  const server = await startServer(t, { profile: PROFILE, env: { ...env, HOLIDAYS_PATH: holidays } });
  await waitForOutput(server, /square-off scheduled at 00:00/);
  const buy = await order(server, 'S1', 'ACC', 'BUY');
  assert.equal(buy.status, 'ACCEPTED');
  assert.equal((await getJson<any>(server, '/state')).gate.state, 'ACTIVE');
  assert.equal((await readPositions(server)).length, 2);
  assert.equal(await server.stop(), 0);
  assert.doesNotMatch(server.output(), /square-off: closing/);
  withDatabase(server, (db) => assert.equal(count(db, 'SELECT count(*) FROM square_offs'), 0));

  // The same start without the holiday: the day's square-off is due, and runs at once.
  const trading = await startServer(t, { dir: server.dir, env });
  await waitFor(
    'the square-off at start',
    async () => (await readPositions(trading)).length === 0,
    SQUARE_OFF_TIMEOUT_MS,
  );
  assert.equal((await order(trading, 'S1', 'ACC', 'BUY')).reason, 'CLOSE_ONLY');
  assert.equal(await trading.stop(), 0);
  withDatabase(trading, (db) =>
    assert.deepEqual(db.prepare('SELECT day FROM square_offs').pluck().all(), [today]),
  );
  await expectCleanReplay(trading);
});

test('bad square-off settings and holiday files stop the start with exit 2, naming the problem, before anything is written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-square-off-settings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const profile = join(dir, 'profile.json');
  writeFileSync(profile, JSON.stringify(PROFILE));
  const badDay = join(dir, 'bad-holidays.txt');
  writeFileSync(badDay, '2026-01-26\n2026-02-30x\n');
  const cases: [Record<string, string>, RegExp][] = [
    [{ SQUARE_OFF_AT: '25:00' }, /SQUARE_OFF_AT must be HH:MM/],
    [{ SQUARE_OFF_AT: '9:15' }, /SQUARE_OFF_AT must be HH:MM/],
    [{ SQUARE_OFF_TZ: 'Mars/Olympus_Mons' }, /SQUARE_OFF_TZ must be an IANA time zone/],
    [{ SQUARE_OFF_DAYS: 'mon,funday' }, /SQUARE_OFF_DAYS: "funday" is not one of/],
    [{ SQUARE_OFF_DAYS: ' , ' }, /SQUARE_OFF_DAYS must name at least one weekday/],
    [{ AFTER_SQUARE_OFF: 'halted' }, /AFTER_SQUARE_OFF must be close-only or active/],
    [{ IMPORT_PROFILE: 'maybe' }, /IMPORT_PROFILE must be on or off/],
    [{ HOLIDAYS_PATH: join(dir, 'missing.txt') }, /HOLIDAYS_PATH .*missing\.txt: cannot read it \(ENOENT\)/],
    [{ HOLIDAYS_PATH: badDay }, /HOLIDAYS_PATH .*line 2: "2026-02-30x" is not a date/],
  ];
  for (const [settings, problem] of cases) {
    const database = join(dir, 'ordergate.db');
    const result = await runCli(['serve'], {
      env: {
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_URL: `sqlite:${database}`,
        PROFILE_PATH: profile,
        LOG_DIR: join(dir, 'logs'),
        ...settings,
      },
      timeoutMs: 30_000,
    });
    const said = result.stdout + result.stderr;
    assert.equal(result.code, 2, `${JSON.stringify(settings)}: exit ${result.code}\n${said}`);
    assert.match(said, problem, JSON.stringify(settings));
    assert.equal(existsSync(database), false, `${JSON.stringify(settings)}: no database was created`);
  }
});

/** The local day (YYYY-MM-DD), time (HH:MM:SS) and second of the day of an instant in a time zone. */
function localTime(ms: number, timeZone: string): { day: string; time: string; second: number } {
  const parts: Record<string, string> = {};
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  for (const part of format.formatToParts(new Date(ms))) parts[part.type] = part.value;
  return {
    day: `${parts.year}-${parts.month}-${parts.day}`,
    time: `${parts.hour}:${parts.minute}:${parts.second}`,
    second: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second),
  };
}

/**
 * UTC, unless it is within half an hour of midnight there: then a zone where it is not, so that a test's
 * "today" and "a few seconds ahead" stay on one day however slowly the machine runs.
 */
function quietZone(nowMs: number): string {
  const margin = 30 * 60;
  for (const zone of ['UTC', 'Asia/Tokyo']) {
    const { second } = localTime(nowMs, zone);
    if (second > margin && second < 86_400 - margin) return zone;
  }
  return 'America/New_York';
}

/** A close-only period ends at the start of the next day (every day trades) in the zone. */
function assertNextLocalMidnight(until: string | null, zone: string, fromMs: number): void {
  assert.equal(typeof until, 'string', `close_only_until: ${until}`);
  const untilMs = Date.parse(until!);
  assert.ok(untilMs > fromMs, `${until} is ahead`);
  assert.ok(untilMs - fromMs <= 86_400_000, `${until} is within a day`);
  const local = localTime(untilMs, zone);
  assert.equal(local.time, '00:00:00', `${until} is midnight in ${zone}`);
  assert.notEqual(local.day, localTime(fromMs, zone).day, `${until} is the next day in ${zone}`);
}
