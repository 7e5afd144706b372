// Quantities and the account scope on the PostgreSQL store, against a throwaway database on the
// machine's PostgreSQL: the seed's example in account scope (order #4 closes STRATEGY_B's MINDA), a
// multiplier's BUY and the SELL that closes it, quantities past 2^31 (10^8 × 1000, in bigint columns)
// kept exactly through a kill -9 and a restart, the scope fixed for the database's life, and
// `ordergate check` replaying the log to no mismatch.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import pg from 'pg';
import { encoded, filledQuantities, ok, order } from '../helpers/calls.js';
import { createDatabase, dropDatabase, uniqueDatabaseName } from '../helpers/postgres.js';
import { ROOT, runCli, type Server, startServer } from '../helpers/server.js';
import { getJson, readPositions, readTrades } from '../helpers/wire.js';

const SEED_EXAMPLE = JSON.parse(readFileSync(join(ROOT, 'Jsons/seed_example.json'), 'utf8'));

async function expectCleanReplay(server: Server): Promise<any> {
  const check = await runCli(['check', '--database-url', server.databaseUrl, '--json']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const report = JSON.parse(check.stdout);
  assert.equal(report.mismatches, 0, check.stdout);
  return report;
}

const seedOrder = (
  server: Server,
  STRATEGY: string,
  INSTRUMENT: string,
  POSITION: string,
  QUANTITY?: number,
) => ok(server, 'POST', '/create_order', { STRATEGY, INSTRUMENT, POSITION, QUANTITY });

/**
 * The account scope on PostgreSQL, with the seed's users given either by the profile file the database
 * is made with, or put through the API once the server runs (on a database made with another user).
 */
async function accountScopeRun(t: TestContext, via: 'profile' | 'api'): Promise<void> {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  const env = { DATABASE_URL: url, POSITION_SCOPE: 'account' };
  const profile = via === 'profile' ? SEED_EXAMPLE : { Keeper: { Z: ['ZZZ'] } };
  const server = await startServer(t, { profile, env });
  if (via === 'api') {
    for (const [user, subscriptions] of Object.entries(SEED_EXAMPLE))
      await ok(server, 'PUT', `/users/${encoded(user)}`, { subscriptions });
  }

  // The seed's four orders.
  const order1 = await seedOrder(server, 'STRATEGY_A', 'GRASIM', 'SELL');
  assert.equal(order1.RESPONSE, 'REJECTED');
  assert.deepEqual(order1.rejected, [{ user: 'Holland Proctor', reason: 'NO_OPEN_POSITION' }]);
  const order2 = await seedOrder(server, 'STRATEGY_B', 'MINDA', 'BUY');
  assert.equal(order2.RESPONSE, 'ACCEPTED');
  assert.deepEqual(order2.accepted, [{ user: 'Holland Proctor', quantity: 1 }]);
  const order3 = await seedOrder(server, 'STRATEGY_D', 'INFY', 'BUY');
  assert.equal(order3.RESPONSE, 'REJECTED');
  assert.deepEqual(order3.rejected, [{ user: 'Oaklee Wagner', reason: 'INSTRUMENT_NOT_IN_STRATEGY' }]);
  const order4 = await seedOrder(server, 'STRATEGY_A', 'MINDA', 'SELL');
  assert.equal(order4.RESPONSE, 'ACCEPTED', 'order #4 closes the MINDA position STRATEGY_B opened');
  assert.deepEqual(order4.accepted, [
    { user: 'Holland Proctor', quantity: 1, buy_order_id: order2.order_id, opened_at: order2.received_at },
  ]);
  assert.deepEqual(
    (await readTrades(server)).map((trade: any) => [
      trade.user,
      trade.strategy,
      trade.instrument,
      trade.quantity,
    ]),
    [['Holland Proctor', 'STRATEGY_B', 'MINDA', 1]],
  );

  // A multiplier: Oaklee Wagner buys 2.5 per unit of ACC, and a fixed 100,000,000 per order of L&T.
  await ok(server, 'PUT', `/users/${encoded('Oaklee Wagner')}/subscriptions/STRATEGY_D`, {
    instruments: ['ACC'],
    multiplier: '2.5',
  });
  await ok(server, 'PUT', `/users/${encoded('Oaklee Wagner')}/subscriptions/STRATEGY_E`, {
    instruments: ['L&T'],
    quantity: 100_000_000,
  });
  await ok(server, 'PUT', `/users/${encoded('Holland Proctor')}/subscriptions/STRATEGY_D`, {
    instruments: ['ACC', 'L&T'],
    multiplier: 1000,
  });
  const buy = await seedOrder(server, 'STRATEGY_D', 'ACC', 'BUY', 3);
  assert.deepEqual(filledQuantities(buy), { 'Oaklee Wagner': 7, 'Holland Proctor': 3000 });
  const big = await order(server, 'STRATEGY_D', 'L&T', 'BUY', 100_000_000);
  assert.deepEqual(filledQuantities(big), { 'Holland Proctor': 100_000_000_000 }, '10^8 × 1000, exactly');
  const fixed = await order(server, 'STRATEGY_E', 'L&T', 'BUY', 5);
  assert.deepEqual(filledQuantities(fixed), { 'Oaklee Wagner': 100_000_000 });
  const hollandHoldings = {
    user: 'Holland Proctor',
    holdings: [
      { instrument: 'ACC', quantity: 3000, strategies: { STRATEGY_D: 3000 } },
      { instrument: 'L&T', quantity: 100_000_000_000, strategies: { STRATEGY_D: 100_000_000_000 } },
    ],
  };
  assert.deepEqual(
    await getJson<any>(server, `/users/${encoded('Holland Proctor')}/holdings`),
    hollandHoldings,
  );
  assert.deepEqual((await getJson<any>(server, `/users/${encoded('Oaklee Wagner')}`)).strategies, {
    STRATEGY_D: { instruments: ['ACC'], multiplier: '2.5' },
    STRATEGY_E: { instruments: ['L&T'], quantity: 100_000_000 },
  });
  await expectCleanReplay(server);

  // kill -9 and a restart: the book comes back from the bigint columns with the same quantities.
  const before = { positions: await readPositions(server), trades: await readTrades(server) };
  for (const position of before.positions) assert.equal(typeof (position as any).quantity, 'number');
  await server.kill();
  await assert.rejects(server.restart({ POSITION_SCOPE: 'strategy' }), /keeps positions in account scope/);
  await server.restart(env);
  assert.deepEqual({ positions: await readPositions(server), trades: await readTrades(server) }, before);
  assert.deepEqual(
    await getJson<any>(server, `/users/${encoded('Holland Proctor')}/holdings`),
    hollandHoldings,
  );

  // The SELL of one unit closes each whole position, whichever strategy of the user's opened it.
  const sell = await order(server, 'STRATEGY_E', 'L&T', 'SELL', 1);
  assert.deepEqual(
    filledQuantities(sell),
    { 'Oaklee Wagner': 100_000_000 },
    'Holland does not trade STRATEGY_E',
  );
  const sellAll = await order(server, 'STRATEGY_D', 'L&T', 'SELL', 1);
  assert.deepEqual(filledQuantities(sellAll), { 'Holland Proctor': 100_000_000_000 });
  assert.equal(sellAll.accepted[0].buy_order_id, big.order_id);
  const sellAcc = await order(server, 'STRATEGY_D', 'ACC', 'SELL');
  assert.deepEqual(filledQuantities(sellAcc), { 'Oaklee Wagner': 7, 'Holland Proctor': 3000 });
  assert.deepEqual(await readPositions(server), []);
  const trades = await readTrades(server);
  assert.deepEqual(
    trades.map((trade: any) => [trade.user, trade.strategy, trade.instrument, trade.quantity]).sort(),
    [
      ['Holland Proctor', 'STRATEGY_B', 'MINDA', 1],
      ['Holland Proctor', 'STRATEGY_D', 'ACC', 3000],
      ['Holland Proctor', 'STRATEGY_D', 'L&T', 100_000_000_000],
      ['Oaklee Wagner', 'STRATEGY_D', 'ACC', 7],
      ['Oaklee Wagner', 'STRATEGY_E', 'L&T', 100_000_000],
    ],
  );
  const report = await expectCleanReplay(server);
  assert.equal(report.openPositions, 0);
}

test(
  "PostgreSQL, account scope, users put through the API: the seed's example as its README says, a multiplier's BUY and SELL, quantities through a kill -9, and check",
  {
    timeout: 180_000,
  },
  (t) => accountScopeRun(t, 'api'),
);

test('PostgreSQL, account scope, users from the profile file: the same run', { timeout: 180_000 }, (t) =>
  accountScopeRun(t, 'profile'),
);

test("PostgreSQL, strategy scope: the seed's order #4 is REJECTED, holdings sum two strategies' INFY, and a strategy database (or one from before scopes) refuses account scope", {
  timeout: 120_000,
}, async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  const profile = {
    ...SEED_EXAMPLE,
    Ivy: { S1: ['INFY'], S2: { instruments: ['INFY'], multiplier: '0.5' } },
  };
  const server = await startServer(t, { profile, env: { DATABASE_URL: url } });
  await seedOrder(server, 'STRATEGY_B', 'MINDA', 'BUY');
  const order4 = await seedOrder(server, 'STRATEGY_A', 'MINDA', 'SELL');
  assert.equal(order4.RESPONSE, 'REJECTED');
  assert.deepEqual(order4.rejected, [{ user: 'Holland Proctor', reason: 'INSTRUMENT_NOT_IN_STRATEGY' }]);
  await order(server, 'S1', 'INFY', 'BUY', 3);
  const half = await order(server, 'S2', 'INFY', 'BUY', 1);
  assert.deepEqual(half.rejected, [{ user: 'Ivy', reason: 'QUANTITY_ZERO' }]);
  await order(server, 'S2', 'INFY', 'BUY', 9);
  assert.deepEqual(await getJson<any>(server, '/users/Ivy/holdings'), {
    user: 'Ivy',
    holdings: [{ instrument: 'INFY', quantity: 7, strategies: { S1: 3, S2: 4 } }],
  });
  await expectCleanReplay(server);
  assert.equal(await server.stop(), 0);
  await assert.rejects(server.restart({ POSITION_SCOPE: 'account' }), /keeps positions in strategy scope/);
  // What a database made before POSITION_SCOPE existed looks like: orders, and no scope recorded.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const cleared = await client.query('DELETE FROM position_scope WHERE id = 1');
  await client.end();
  assert.equal(cleared.rowCount, 1);
  await assert.rejects(server.restart({ POSITION_SCOPE: 'account' }), /keeps positions in strategy scope/);
  await server.restart();
  assert.deepEqual((await getJson<any>(server, '/users/Ivy/holdings')).holdings, [
    { instrument: 'INFY', quantity: 7, strategies: { S1: 3, S2: 4 } },
  ]);
});
