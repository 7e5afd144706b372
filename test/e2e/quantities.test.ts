// Quantities, sized subscriptions, the two position scopes and the holdings rollup (issue 14, points
// 1-3), over HTTP against real server processes on real SQLite files: an order's quantity and its bad
// values; a subscription's multiplier or fixed quantity put through the API and the profile file, and
// its bad values; each user's BUY sized and rounded down (QUANTITY_ZERO at 0), a SELL closing the whole
// position; GET /users/:name/holdings; the account scope's rules; the scope fixed for a database's
// life (a database from before scopes counting as strategy); a kill -9 keeping every quantity; and
// `ordergate check` replaying each run to no mismatch.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import Database from 'better-sqlite3';
import { call, deniedReasons, encoded, filledQuantities, ok, order } from '../helpers/calls.js';
import { testOn } from '../helpers/postgres.js';
import { runCli, type Server, startServer } from '../helpers/server.js';
import { getJson, readPositions, readTrades } from '../helpers/wire.js';

type Scope = 'strategy' | 'account';
const SCOPES: readonly Scope[] = ['strategy', 'account'];

/** `ordergate check` beside the running server (or after it stopped): no mismatch. */
async function expectCleanReplay(server: Server): Promise<void> {
  const check = await runCli(['check', '--database-url', server.databaseUrl, '--json']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const report = JSON.parse(check.stdout);
  assert.equal(report.mismatches, 0, check.stdout);
  assert.ok(report.orders > 0, 'check replayed the orders');
}

const BAD_QUANTITIES: readonly unknown[] = [0, -1, 1.5, 'abc', 100_000_001, null, '3'];

test('an order carries quantity (POST /orders) or QUANTITY (POST /create_order), 1 by default; a bad one is a 400 that names the field', async (t) => {
  const server = await startServer(t, { profile: { Ann: { S1: ['ACC', 'INFY', 'NTPC'] } } });
  for (const bad of BAD_QUANTITIES) {
    const api = await call(server, 'POST', '/orders', {
      strategy: 'S1',
      instrument: 'ACC',
      position: 'BUY',
      quantity: bad,
    });
    assert.equal(api.status, 400, `quantity ${JSON.stringify(bad)}: ${JSON.stringify(api.body)}`);
    assert.equal(api.body.error, 'INVALID_REQUEST');
    assert.equal(api.body.field, 'quantity', JSON.stringify(api.body));
    assert.match(api.body.message, /quantity/);
    const seed = await call(server, 'POST', '/create_order', {
      STRATEGY: 'S1',
      INSTRUMENT: 'ACC',
      POSITION: 'BUY',
      QUANTITY: bad,
    });
    assert.equal(seed.status, 400, `QUANTITY ${JSON.stringify(bad)}: ${JSON.stringify(seed.body)}`);
    assert.equal(seed.body.field, 'QUANTITY', JSON.stringify(seed.body));
    assert.match(seed.body.message, /QUANTITY/);
  }
  assert.deepEqual((await getJson<any>(server, '/orders')).orders, [], 'a refused order is not logged');

  const byDefault = await order(server, 'S1', 'ACC', 'BUY');
  assert.equal(byDefault.quantity, 1);
  assert.deepEqual(byDefault.accepted, [{ user: 'Ann', quantity: 1 }]);
  const keys = Object.keys(byDefault);
  assert.equal(
    keys.indexOf('quantity'),
    keys.indexOf('position') + 1,
    `"quantity" follows "position": ${keys}`,
  );

  const largest = await order(server, 'S1', 'INFY', 'BUY', 100_000_000);
  assert.equal(largest.quantity, 100_000_000);
  assert.deepEqual(largest.accepted, [{ user: 'Ann', quantity: 100_000_000 }]);

  const seed = await ok(server, 'POST', '/create_order', {
    STRATEGY: 'S1',
    INSTRUMENT: 'NTPC',
    POSITION: 'BUY',
    QUANTITY: 25,
  });
  assert.equal(seed.RESPONSE, 'ACCEPTED');
  assert.equal(seed.quantity, 25);
  assert.deepEqual(seed.accepted, [{ user: 'Ann', quantity: 25 }]);

  const logged = await getJson<any>(server, `/orders/${seed.order_id}`);
  assert.equal(logged.quantity, 25, 'the log keeps the quantity');
  await expectCleanReplay(server);
});

test("a subscription's multiplier or fixed quantity sizes each user's BUY, rounded down (0 is QUANTITY_ZERO), and a SELL closes the whole position", async (t) => {
  const server = await startServer(t, {
    profile: {
      Unit: { S1: ['ACC', 'INFY'] },
      Half: { S1: { instruments: ['ACC', 'INFY'], multiplier: '0.5' } },
      Forty: { S1: { instruments: ['ACC', 'INFY'], quantity: 40 } },
    },
  });
  // Put through the API, both ways: one subscription, and a whole user.
  const put = await ok(server, 'PUT', '/users/OneHalf/subscriptions/S1', {
    instruments: ['ACC', 'INFY'],
    multiplier: 1.5,
  });
  assert.equal(put.multiplier, '1.5', 'a number multiplier is shown as its decimal text');
  await ok(server, 'PUT', '/users/Quarter', {
    subscriptions: { S1: { instruments: ['ACC', 'INFY'], multiplier: '2.25' }, S2: ['ACC'] },
  });

  const buy = await order(server, 'S1', 'ACC', 'BUY', 3);
  assert.equal(buy.status, 'ACCEPTED');
  assert.deepEqual(filledQuantities(buy), { Unit: 3, Half: 1, Forty: 40, OneHalf: 4, Quarter: 6 });
  assert.deepEqual(buy.rejected, []);

  const one = await order(server, 'S1', 'INFY', 'BUY', 1);
  assert.deepEqual(filledQuantities(one), { Unit: 1, Forty: 40, OneHalf: 1, Quarter: 2 });
  assert.deepEqual(deniedReasons(one), { Half: 'QUANTITY_ZERO' }, '1 × 0.5 rounds down to 0');

  const positions = await readPositions(server);
  assert.deepEqual(
    Object.fromEntries(
      positions.filter((p: any) => p.instrument === 'ACC').map((p: any) => [p.user, p.quantity]),
    ),
    { Unit: 3, Half: 1, Forty: 40, OneHalf: 4, Quarter: 6 },
  );

  // A SELL of 7 closes each whole position, whatever its own quantity.
  const sell = await order(server, 'S1', 'ACC', 'SELL', 7);
  assert.equal(sell.quantity, 7);
  assert.deepEqual(filledQuantities(sell), { Unit: 3, Half: 1, Forty: 40, OneHalf: 4, Quarter: 6 });
  for (const fill of sell.accepted) assert.equal(fill.buy_order_id, buy.order_id);
  const trades = await readTrades(server);
  assert.deepEqual(
    Object.fromEntries(trades.map((trade: any) => [trade.user, [trade.quantity, trade.sell_order_id]])),
    {
      Unit: [3, sell.order_id],
      Half: [1, sell.order_id],
      Forty: [40, sell.order_id],
      OneHalf: [4, sell.order_id],
      Quarter: [6, sell.order_id],
    },
  );
  assert.deepEqual(
    (await readPositions(server)).map((p: any) => p.instrument),
    ['INFY', 'INFY', 'INFY', 'INFY'],
  );

  // How GET shows them: the object form for a sized subscription, the seed's plain list for a unit one.
  const quarter = await getJson<any>(server, '/users/Quarter');
  assert.deepEqual(quarter.strategies, {
    S1: { instruments: ['ACC', 'INFY'], multiplier: '2.25' },
    S2: ['ACC'],
  });
  assert.deepEqual((await getJson<any>(server, '/users/Forty')).strategies, {
    S1: { instruments: ['ACC', 'INFY'], quantity: 40 },
  });
  assert.deepEqual((await getJson<any>(server, '/users/Unit')).strategies, { S1: ['ACC', 'INFY'] });
  const profile = await getJson<any>(server, '/profile');
  assert.deepEqual(profile, {
    Unit: { S1: ['ACC', 'INFY'] },
    Half: { S1: { instruments: ['ACC', 'INFY'], multiplier: '0.5' } },
    Forty: { S1: { instruments: ['ACC', 'INFY'], quantity: 40 } },
    OneHalf: { S1: { instruments: ['ACC', 'INFY'], multiplier: '1.5' } },
    Quarter: { S1: { instruments: ['ACC', 'INFY'], multiplier: '2.25' }, S2: ['ACC'] },
  });

  // A subscription put back to a plain list is one unit per unit ordered again.
  await ok(server, 'PUT', '/users/Half/subscriptions/S1', { instruments: ['ACC', 'INFY'] });
  assert.deepEqual((await getJson<any>(server, '/users/Half')).strategies, { S1: ['ACC', 'INFY'] });
  const again = await order(server, 'S1', 'ACC', 'BUY', 5);
  assert.deepEqual(filledQuantities(again), { Unit: 5, Half: 5, Forty: 40, OneHalf: 7, Quarter: 11 });
  await expectCleanReplay(server);
});

test('a bad multiplier or fixed quantity, or both at once, is a 400 on every route and changes nothing', async (t) => {
  const server = await startServer(t, { profile: { Ann: { S1: ['ACC'] } } });
  const before = await getJson<any>(server, '/users/Ann');
  const bad: readonly [string, Record<string, unknown>][] = [
    ...['0', '-1', '1.00001', 'abc', 1001, '1001', 0, -0.5, '', '1e2', true].map(
      (multiplier) =>
        [`multiplier ${JSON.stringify(multiplier)}`, { multiplier }] as [string, Record<string, unknown>],
    ),
    ...[0, -3, 1.5, 100_000_001, '40'].map(
      (quantity) =>
        [`quantity ${JSON.stringify(quantity)}`, { quantity }] as [string, Record<string, unknown>],
    ),
    ['both a multiplier and a quantity', { multiplier: '0.5', quantity: 40 }],
  ];
  for (const [what, sizing] of bad) {
    const one = await call(server, 'PUT', '/users/Ann/subscriptions/S1', { instruments: ['ACC'], ...sizing });
    assert.equal(one.status, 400, `PUT subscription, ${what}: ${JSON.stringify(one.body)}`);
    assert.equal(one.body.error, 'INVALID_REQUEST');
    const whole = await call(server, 'PUT', '/users/Ann', {
      subscriptions: { S1: { instruments: ['ACC'], ...sizing } },
    });
    assert.equal(whole.status, 400, `PUT user, ${what}: ${JSON.stringify(whole.body)}`);
    assert.equal(whole.body.error, 'INVALID_REQUEST');
    const named = 'multiplier' in sizing ? /multiplier/ : /quantity/;
    assert.match(`${one.body.message} ${one.body.field}`, named, `${what}: ${one.body.message}`);
    assert.match(`${whole.body.message} ${whole.body.field}`, named, `${what}: ${whole.body.message}`);
  }
  assert.deepEqual(await getJson<any>(server, '/users/Ann'), before, 'nothing changed');
  const buy = await order(server, 'S1', 'ACC', 'BUY', 3);
  assert.deepEqual(filledQuantities(buy), { Ann: 3 });

  // The same in the profile file: refused at start, naming the user, the strategy and the multiplier.
  for (const [what, sizing] of [bad[0]!, bad.at(-1)!]) {
    const profilePath = join(server.dir, `bad-${what.replace(/\W/g, '_')}.json`);
    writeFileSync(profilePath, JSON.stringify({ Bea: { S7: { instruments: ['ACC'], ...sizing } } }));
    const started = await runCli(['serve'], {
      env: {
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_URL: `sqlite:${join(server.dir, `fresh-${what.replace(/\W/g, '_')}.db`)}`,
        PROFILE_PATH: profilePath,
        LOG_DIR: join(server.dir, 'logs-bad'),
      },
      timeoutMs: 30_000,
    });
    assert.notEqual(
      started.code,
      0,
      `${what}: a bad profile file is refused\n${started.stdout}${started.stderr}`,
    );
    assert.notEqual(started.code, null, `${what}: the server exited by itself`);
    const output = started.stdout + started.stderr;
    assert.match(output, /Bea/, output);
    assert.match(output, /S7/, output);
    assert.match(output, /multiplier/, output);
  }
});

test('PUT /users names the multiplier or quantity when its JSON type is wrong', async (t) => {
  const server = await startServer(t, { profile: { Ann: { S1: ['ACC'] } } });
  for (const sizing of [{ multiplier: true }, { quantity: 1.5 }, { quantity: '40' }]) {
    const answer = await call(server, 'PUT', '/users/Ann', {
      subscriptions: { S1: { instruments: ['ACC'], ...sizing } },
    });
    assert.equal(answer.status, 400);
    const field = Object.keys(sizing)[0]!;
    assert.match(
      `${answer.body.message}`,
      new RegExp(field),
      `${JSON.stringify(sizing)}: ${answer.body.message}`,
    );
  }
});

test('GET /users/:name/holdings: the net quantity per instrument, by instrument, summing the strategies that hold it; 404 for a stranger', async (t) => {
  const server = await startServer(t, {
    profile: {
      Ann: { S1: ['INFY', 'ACC'], S2: { instruments: ['INFY'], multiplier: '2' } },
      Bob: { S2: ['INFY'] },
    },
  });
  assert.deepEqual(await getJson<any>(server, '/users/Ann/holdings'), { user: 'Ann', holdings: [] });
  await order(server, 'S1', 'INFY', 'BUY', 3);
  await order(server, 'S2', 'INFY', 'BUY', 5);
  await order(server, 'S1', 'ACC', 'BUY', 4);
  assert.deepEqual(await getJson<any>(server, '/users/Ann/holdings'), {
    user: 'Ann',
    holdings: [
      { instrument: 'ACC', quantity: 4, strategies: { S1: 4 } },
      { instrument: 'INFY', quantity: 13, strategies: { S1: 3, S2: 10 } },
    ],
  });
  assert.deepEqual(await getJson<any>(server, '/users/Bob/holdings'), {
    user: 'Bob',
    holdings: [{ instrument: 'INFY', quantity: 5, strategies: { S2: 5 } }],
  });
  const stranger = await call(server, 'GET', `/users/${encoded('No One')}/holdings`);
  assert.equal(stranger.status, 404);
  assert.equal(stranger.body.error, 'USER_NOT_FOUND');

  await order(server, 'S2', 'INFY', 'SELL');
  assert.deepEqual((await getJson<any>(server, '/users/Ann/holdings')).holdings, [
    { instrument: 'ACC', quantity: 4, strategies: { S1: 4 } },
    { instrument: 'INFY', quantity: 3, strategies: { S1: 3 } },
  ]);
  await expectCleanReplay(server);
});

test('account scope: a BUY fills who holds the instrument from no strategy, a SELL closes it for any subscriber who holds it, whichever strategy opened it', {}, async (t) => {
  const server = await startServer(t, {
    profile: {
      Ann: { S1: ['INFY', 'ACC'], S2: { instruments: ['INFY'], quantity: 9 } },
      Bob: { S2: { instruments: ['INFY'], multiplier: '0.5' } },
      Cy: { S1: ['INFY'], S3: ['ACC'] },
    },
    env: { POSITION_SCOPE: 'account' },
  });
  const first = await order(server, 'S1', 'INFY', 'BUY', 4);
  assert.deepEqual(filledQuantities(first), { Ann: 4, Cy: 4 });

  const second = await order(server, 'S2', 'INFY', 'BUY', 4);
  assert.deepEqual(filledQuantities(second), { Bob: 2 });
  assert.deepEqual(deniedReasons(second), { Ann: 'POSITION_ALREADY_OPEN' }, 'Ann holds INFY, from S1');
  assert.deepEqual(await getJson<any>(server, '/users/Ann/holdings'), {
    user: 'Ann',
    holdings: [{ instrument: 'INFY', quantity: 4, strategies: { S1: 4 } }],
  });

  // Cy subscribes to S3, which does not trade INFY, but holds INFY: S3's SELL closes it.
  const fromS3 = await order(server, 'S3', 'INFY', 'SELL');
  assert.deepEqual(fromS3.accepted, [
    { user: 'Cy', quantity: 4, buy_order_id: first.order_id, opened_at: first.received_at },
  ]);
  assert.deepEqual(fromS3.rejected, []);

  // S2's SELL closes Ann's S1 position and Bob's S2 position.
  const fromS2 = await order(server, 'S2', 'INFY', 'SELL', 100);
  assert.deepEqual(filledQuantities(fromS2), { Ann: 4, Bob: 2 });
  const buyOf = Object.fromEntries(fromS2.accepted.map((fill: any) => [fill.user, fill.buy_order_id]));
  assert.deepEqual(buyOf, { Ann: first.order_id, Bob: second.order_id });
  const trades = await readTrades(server);
  assert.deepEqual(
    trades
      .map((trade: any) => [
        trade.user,
        trade.strategy,
        trade.instrument,
        trade.quantity,
        trade.sell_order_id,
      ])
      .sort(),
    [
      ['Ann', 'S1', 'INFY', 4, fromS2.order_id],
      ['Bob', 'S2', 'INFY', 2, fromS2.order_id],
      ['Cy', 'S1', 'INFY', 4, fromS3.order_id],
    ],
    'each trade keeps the strategy that opened it',
  );
  assert.deepEqual(await readPositions(server), []);

  // With nothing held, S2's BUY fills Ann at her fixed quantity; a SELL by S1 (which she also trades)
  // then closes it, and S3's (which Ann does not subscribe to) does not concern her.
  const third = await order(server, 'S2', 'INFY', 'BUY', 1);
  assert.deepEqual(filledQuantities(third), { Ann: 9 }, 'Bob: 1 × 0.5 rounds down to 0');
  assert.deepEqual(deniedReasons(third), { Bob: 'QUANTITY_ZERO' });
  const notHers = await order(server, 'S3', 'INFY', 'SELL');
  assert.equal(notHers.status, 'REJECTED');
  assert.deepEqual(deniedReasons(notHers), { Cy: 'INSTRUMENT_NOT_IN_STRATEGY' });
  const byS1 = await order(server, 'S1', 'INFY', 'SELL');
  assert.deepEqual(filledQuantities(byS1), { Ann: 9 });
  assert.deepEqual(deniedReasons(byS1), { Cy: 'NO_OPEN_POSITION' });
  await expectCleanReplay(server);
});

test('the same orders in strategy scope keep a position per strategy: S2 buys what S1 holds, and S3 cannot sell it', async (t) => {
  const server = await startServer(t, {
    profile: {
      Ann: { S1: ['INFY', 'ACC'], S2: { instruments: ['INFY'], quantity: 9 } },
      Bob: { S2: { instruments: ['INFY'], multiplier: '0.5' } },
      Cy: { S1: ['INFY'], S3: ['ACC'] },
    },
  });
  const first = await order(server, 'S1', 'INFY', 'BUY', 4);
  assert.deepEqual(filledQuantities(first), { Ann: 4, Cy: 4 });
  const second = await order(server, 'S2', 'INFY', 'BUY', 4);
  assert.deepEqual(filledQuantities(second), { Ann: 9, Bob: 2 });
  const fromS3 = await order(server, 'S3', 'INFY', 'SELL');
  assert.equal(fromS3.status, 'REJECTED');
  assert.deepEqual(deniedReasons(fromS3), { Cy: 'INSTRUMENT_NOT_IN_STRATEGY' });
  assert.deepEqual((await getJson<any>(server, '/users/Ann/holdings')).holdings, [
    { instrument: 'INFY', quantity: 13, strategies: { S1: 4, S2: 9 } },
  ]);
  const fromS2 = await order(server, 'S2', 'INFY', 'SELL');
  assert.deepEqual(filledQuantities(fromS2), { Ann: 9, Bob: 2 });
  for (const fill of fromS2.accepted) assert.equal(fill.buy_order_id, second.order_id);
  await expectCleanReplay(server);
});

for (const [made, asked] of [
  ['account', 'strategy'],
  ['strategy', 'account'],
] as const) {
  test(`a database made in ${made} scope refuses to start in ${asked} scope, saying so, and starts again in ${made} scope`, {}, async (t) => {
    const server = await startServer(t, {
      env: made === 'account' ? { POSITION_SCOPE: 'account' } : {},
    });
    await order(server, 'STRATEGY_A', 'GRASIM', 'BUY', 2);
    assert.equal(await server.stop(), 0);
    const refused = await server.restart({ POSITION_SCOPE: asked }).then(
      () => null,
      (error: Error) => error.message,
    );
    assert.notEqual(refused, null, `the server started in ${asked} scope on a ${made} database`);
    const exit = /server exited \((\d+)\)/.exec(refused!);
    assert.ok(exit !== null && Number(exit[1]) !== 0, `a non-zero exit code: ${refused}`);
    assert.match(refused!, new RegExp(`keeps positions in ${made} scope`), refused!);
    await server.restart(made === 'account' ? { POSITION_SCOPE: 'account' } : {});
    const positions = await readPositions(server);
    assert.deepEqual(
      positions.map((p: any) => [p.user, p.strategy, p.instrument, p.quantity]),
      [['Holland Proctor', 'STRATEGY_A', 'GRASIM', 2]],
    );
    await expectCleanReplay(server);
  });
}

test('a database made empty is fixed to its scope at once: a first start in account scope, then strategy scope, is refused', async (t) => {
  const server = await startServer(t, { env: { POSITION_SCOPE: 'account' } });
  assert.equal(await server.stop(), 0);
  await assert.rejects(server.restart({ POSITION_SCOPE: 'strategy' }), /keeps positions in account scope/);
  await assert.rejects(
    server.restart({ POSITION_SCOPE: 'sideways' }),
    /POSITION_SCOPE must be strategy or account/,
  );
});

testOn(
  'sqlite',
  'a database with orders from before scopes (no scope recorded) counts as strategy scope: account is refused, strategy starts',
  {},
  async (t) => {
    const server = await startServer(t);
    const buy = await order(server, 'STRATEGY_A', 'GRASIM', 'BUY');
    assert.equal(await server.stop(), 0);
    // What a database made before POSITION_SCOPE existed looks like: orders, and no scope in its meta.
    const db = new Database(server.dbPath);
    const removed = db.prepare("DELETE FROM meta WHERE key = 'position_scope'").run();
    db.close();
    assert.equal(removed.changes, 1, 'the scope was recorded in meta');
    await assert.rejects(server.restart({ POSITION_SCOPE: 'account' }), /keeps positions in strategy scope/);
    await server.restart();
    assert.deepEqual(
      (await readPositions(server)).map((p: any) => p.order_id),
      [buy.order_id],
    );
    await expectCleanReplay(server);
  },
);

for (const scope of SCOPES) {
  test(`${scope} scope: a kill -9 and a restart keep every position with its quantity, and check replays the mixed run to no mismatch`, {}, async (t) => {
    const env = { POSITION_SCOPE: scope };
    const server = await startServer(t, {
      profile: {
        Ann: { S1: ['INFY', 'ACC'], S2: { instruments: ['INFY', 'NTPC'], multiplier: '0.3333' } },
        Bob: { S1: { instruments: ['ACC'], quantity: 7 }, S2: ['NTPC'] },
        Cy: { S2: { instruments: ['INFY', 'NTPC'], multiplier: 1000 } },
      },
      env,
    });
    await order(server, 'S1', 'INFY', 'BUY', 10);
    await order(server, 'S2', 'INFY', 'BUY', 100_000_000);
    await ok(server, 'PUT', '/users/Bob/subscriptions/S2', { instruments: ['NTPC'], multiplier: '2.5' });
    await order(server, 'S2', 'NTPC', 'BUY', 3);
    await order(server, 'S1', 'ACC', 'BUY');
    await order(server, 'S1', 'INFY', 'SELL', 2);
    await ok(server, 'PUT', '/users/Dee', { subscriptions: { S1: { instruments: ['INFY'], quantity: 12 } } });
    await order(server, 'S1', 'INFY', 'BUY', 1);
    const before = {
      positions: await readPositions(server),
      trades: await readTrades(server),
      holdings: await Promise.all(
        ['Ann', 'Bob', 'Cy', 'Dee'].map((u) => getJson<any>(server, `/users/${u}/holdings`)),
      ),
    };
    assert.ok(before.positions.length >= 5, JSON.stringify(before.positions));
    const cy = before.holdings[2].holdings.find((h: any) => h.instrument === 'INFY');
    assert.equal(cy?.quantity, 100_000_000_000, '10^8 × 1000, held exactly');
    await expectCleanReplay(server);

    await server.kill();
    await server.restart(env);
    const after = {
      positions: await readPositions(server),
      trades: await readTrades(server),
      holdings: await Promise.all(
        ['Ann', 'Bob', 'Cy', 'Dee'].map((u) => getJson<any>(server, `/users/${u}/holdings`)),
      ),
    };
    assert.deepEqual(after, before);
    // The book rebuilt from the database decides as the one built live did.
    const sell = await order(server, 'S2', 'INFY', 'SELL');
    const held = before.positions.filter(
      (p: any) => p.instrument === 'INFY' && (scope === 'account' ? p.user !== 'Dee' : p.strategy === 'S2'),
    );
    assert.deepEqual(filledQuantities(sell), Object.fromEntries(held.map((p: any) => [p.user, p.quantity])));
    await expectCleanReplay(server);
  });
}
