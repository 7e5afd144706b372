// The seed README's four-order example, over HTTP, against a real server process, in both position
// scopes: in `strategy` scope (the default) order #4 is REJECTED, in `account` scope it closes the MINDA
// position STRATEGY_B opened, as the seed's README describes it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { get, post, ROOT, runCli, type Server, seedOrder, startServer } from '../helpers/server.js';

/** The seed's own profile file, as the README's example uses it. */
const SEED_EXAMPLE = JSON.parse(readFileSync(join(ROOT, 'Jsons/seed_example.json'), 'utf8'));

test("the seed's example in strategy scope (the default): orders 1-4 as the rules decide them, and STRATEGY_B closes MINDA", async (t) => {
  const server = await startServer(t, { profile: SEED_EXAMPLE });
  const create = (strategy: string, instrument: string, position: string) =>
    post(`${server.url}/create_order`, seedOrder(strategy, instrument, position));

  const order1 = await create('STRATEGY_A', 'GRASIM', 'SELL');
  assert.equal(order1.status, 200);
  assert.equal(order1.body.RESPONSE, 'REJECTED', 'order #1: STRATEGY_A has not bought GRASIM');
  assert.deepEqual(order1.body.rejected, [{ user: 'Holland Proctor', reason: 'NO_OPEN_POSITION' }]);

  const order2 = await create('STRATEGY_B', 'MINDA', 'BUY');
  assert.equal(order2.body.RESPONSE, 'ACCEPTED', 'order #2 buys MINDA for Holland Proctor');
  assert.equal(order2.body.quantity, 1, 'an order without QUANTITY is for one unit');
  assert.deepEqual(order2.body.accepted, [{ user: 'Holland Proctor', quantity: 1 }]);

  const order3 = await create('STRATEGY_D', 'INFY', 'BUY');
  assert.equal(order3.body.RESPONSE, 'REJECTED', 'order #3: STRATEGY_D does not trade INFY');
  assert.deepEqual(order3.body.rejected, [{ user: 'Oaklee Wagner', reason: 'INSTRUMENT_NOT_IN_STRATEGY' }]);

  const order4 = await create('STRATEGY_A', 'MINDA', 'SELL');
  assert.equal(order4.body.RESPONSE, 'REJECTED', 'order #4 names STRATEGY_A, which does not trade MINDA');
  assert.deepEqual(order4.body.rejected, [{ user: 'Holland Proctor', reason: 'INSTRUMENT_NOT_IN_STRATEGY' }]);

  const positions = await get(`${server.url}/positions`);
  assert.deepEqual(
    positions.body.positions.map((p: any) => [p.user, p.strategy, p.instrument, p.quantity, p.order_id]),
    [['Holland Proctor', 'STRATEGY_B', 'MINDA', 1, order2.body.order_id]],
    'the MINDA position is still open after order #4',
  );

  const sell = await create('STRATEGY_B', 'MINDA', 'SELL');
  assert.equal(sell.body.RESPONSE, 'ACCEPTED', 'the same SELL for STRATEGY_B closes it');
  assert.deepEqual(sell.body.accepted, [
    {
      user: 'Holland Proctor',
      quantity: 1,
      buy_order_id: order2.body.order_id,
      opened_at: order2.body.received_at,
    },
  ]);
  assert.deepEqual((await get(`${server.url}/positions`)).body.positions, []);
  const trades = await get(`${server.url}/trades`);
  assert.equal(trades.body.trades.length, 1);
  assert.equal(trades.body.trades[0].sell_order_id, sell.body.order_id);

  const log = await get(`${server.url}/orders`);
  assert.deepEqual(
    log.body.orders.map((o: any) => [o.order_id, o.status]),
    [order1, order2, order3, order4, sell].map((o) => [o.body.order_id, o.body.status]),
    'every order is in the log, rejected ones too, oldest first',
  );
  const ids = log.body.orders.map((o: any) => o.order_id);
  assert.deepEqual(
    ids,
    [...ids].sort((a: number, b: number) => a - b),
  );
  assert.equal(new Set(ids).size, ids.length);
});

test("the seed's example in account scope: all four orders play out as the seed's README says, order #4 closing STRATEGY_B's MINDA", {}, async (t) => {
  const server = await startServer(t, { profile: SEED_EXAMPLE, env: { POSITION_SCOPE: 'account' } });
  const create = (strategy: string, instrument: string, position: string) =>
    post(`${server.url}/create_order`, seedOrder(strategy, instrument, position));

  const order1 = await create('STRATEGY_A', 'GRASIM', 'SELL');
  assert.equal(order1.status, 200);
  assert.equal(order1.body.RESPONSE, 'REJECTED', 'order #1: Holland Proctor holds no GRASIM');
  assert.deepEqual(order1.body.rejected, [{ user: 'Holland Proctor', reason: 'NO_OPEN_POSITION' }]);

  const order2 = await create('STRATEGY_B', 'MINDA', 'BUY');
  assert.equal(order2.body.RESPONSE, 'ACCEPTED', 'order #2 buys MINDA for Holland Proctor');
  assert.deepEqual(order2.body.accepted, [{ user: 'Holland Proctor', quantity: 1 }]);

  const order3 = await create('STRATEGY_D', 'INFY', 'BUY');
  assert.equal(order3.body.RESPONSE, 'REJECTED', 'order #3: STRATEGY_D does not trade INFY');
  assert.deepEqual(order3.body.rejected, [{ user: 'Oaklee Wagner', reason: 'INSTRUMENT_NOT_IN_STRATEGY' }]);

  const order4 = await create('STRATEGY_A', 'MINDA', 'SELL');
  assert.equal(order4.status, 200);
  assert.equal(
    order4.body.RESPONSE,
    'ACCEPTED',
    'order #4: Holland Proctor subscribes to STRATEGY_A and holds MINDA, whichever strategy bought it',
  );
  assert.deepEqual(order4.body.accepted, [
    {
      user: 'Holland Proctor',
      quantity: 1,
      buy_order_id: order2.body.order_id,
      opened_at: order2.body.received_at,
    },
  ]);
  assert.deepEqual(order4.body.rejected, []);
  assert.deepEqual((await get(`${server.url}/positions`)).body.positions, []);
  const trades = await get(`${server.url}/trades`);
  assert.deepEqual(
    trades.body.trades.map((trade: any) => [
      trade.user,
      trade.strategy,
      trade.instrument,
      trade.quantity,
      trade.buy_order_id,
      trade.sell_order_id,
    ]),
    [['Holland Proctor', 'STRATEGY_B', 'MINDA', 1, order2.body.order_id, order4.body.order_id]],
    'the trade keeps the strategy that opened the position',
  );
  assert.deepEqual(
    (await get(`${server.url}/orders`)).body.orders.map((o: any) => o.status),
    ['REJECTED', 'ACCEPTED', 'REJECTED', 'ACCEPTED'],
  );
  await expectCleanReplay(server);
});

/** `ordergate check` beside the running server: the log replays, in the database's scope, to no mismatch. */
async function expectCleanReplay(server: Server): Promise<void> {
  const check = await runCli(['check', '--database-url', server.databaseUrl, '--json']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.equal(JSON.parse(check.stdout).mismatches, 0);
}

test('an order for a strategy no one trades is REJECTED with STRATEGY_NOT_TRADED', async (t) => {
  const server = await startServer(t);
  const answer = await post(`${server.url}/orders`, {
    strategy: 'STRATEGY_Z',
    instrument: 'ACC',
    position: 'buy',
  });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.status, 'REJECTED');
  assert.equal(answer.body.reason, 'STRATEGY_NOT_TRADED');
  assert.equal(answer.body.position, 'BUY', 'any letter case is accepted and logged as BUY');
  assert.deepEqual([answer.body.accepted, answer.body.rejected], [[], []]);
});
