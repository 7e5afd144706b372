// Concurrency against a real server (issue 3, point 8): bursts of identical orders open and close each
// user's position exactly once; a BUY/SELL storm from 32 clients replays, in order_id order, on the
// independent model (test/helpers/model.ts) to the same verdicts and the same open positions;
// concurrent retries of one client_order_id make one order. The storm's seed is printed;
// STORM_SEED=<seed> replays its orders.

import assert from 'node:assert/strict';
import test from 'node:test';
import { byUser, Model, positionKey } from '../helpers/model.js';
import { pick, prng } from '../helpers/random.js';
import { type Server, startServer } from '../helpers/server.js';
import {
  type Fill,
  type LoggedOrder,
  type OrderRequest,
  type Position,
  type Profile,
  postOrder,
  readLog,
  readPositions,
  readTrades,
  type Side,
} from '../helpers/wire.js';

interface Answer {
  readonly status: number;
  readonly replayed: boolean;
  readonly body: Record<string, unknown>;
}

/** 50 users who all trade S_ALL, and two of another strategy that also trades ACC. */
const TRADERS = Array.from({ length: 50 }, (_, i) => `Trader ${String(i + 1).padStart(2, '0')}`);
const BURST_PROFILE: Profile = {
  ...Object.fromEntries(TRADERS.map((user) => [user, { S_ALL: ['ACC', 'INFY'] }])),
  'Outsider One': { S_OTHER: ['ACC'] },
  'Outsider Two': { S_OTHER: ['ACC', 'INFY'] },
};
const BURST_SIZE = 200;

// ---------------------------------------------------------------------------------------------------
// HTTP.

/** Sends one order to POST /orders, or in the seed's format to POST /create_order. */
async function place(
  server: Server,
  order: OrderRequest,
  options: { seedFormat?: boolean; clientOrderId?: string; idempotencyKey?: string } = {},
): Promise<Answer> {
  const body = options.seedFormat
    ? { STRATEGY: order.strategy, INSTRUMENT: order.instrument, POSITION: order.position }
    : {
        ...order,
        ...(options.clientOrderId === undefined ? {} : { client_order_id: options.clientOrderId }),
      };
  const reply = await postOrder(server, body, {
    path: options.seedFormat ? '/create_order' : '/orders',
    headers: options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey },
  });
  return {
    status: reply.status,
    replayed: reply.replayed,
    body: JSON.parse(reply.text) as Record<string, unknown>,
  };
}

/** The answer as the log keeps it: /create_order adds RESPONSE in front, nothing else differs. */
function asLogged(answer: Answer): LoggedOrder {
  const { RESPONSE, ...order } = answer.body;
  if (RESPONSE !== undefined) assert.equal(RESPONSE, order.status);
  return order as unknown as LoggedOrder;
}

const users = (items: readonly { user: string }[]) => byUser(items).map((item) => item.user);

// ---------------------------------------------------------------------------------------------------
// (a) and (b): bursts of identical orders.

/** count identical orders at once, alternately to /orders and /create_order; answers in order_id order. */
async function burst(server: Server, order: OrderRequest, count: number): Promise<LoggedOrder[]> {
  const answers = await Promise.all(
    Array.from({ length: count }, (_, i) => place(server, order, { seedFormat: i % 2 === 1 })),
  );
  for (const answer of answers) {
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.replayed, false);
  }
  const placed = answers.map(asLogged).sort((a, b) => a.order_id - b.order_id);
  assert.equal(new Set(placed.map((p) => p.order_id)).size, count, 'one order_id per request');
  return placed;
}

/** The log's orders of this side for this (strategy, instrument) are exactly the burst's, as answered. */
async function checkLogged(
  server: Server,
  order: OrderRequest,
  placed: readonly LoggedOrder[],
): Promise<void> {
  const query = `&strategy=${order.strategy}&instrument=${order.instrument}`;
  const log = (await readLog(server, { query })).filter((entry) => entry.position === order.position);
  const fields = ({ order_id, status, reason, position, accepted, rejected }: LoggedOrder) => ({
    order_id,
    status,
    reason,
    position,
    accepted: byUser(accepted),
    rejected: byUser(rejected),
  });
  assert.deepEqual(log.map(fields), placed.map(fields));
}

/** The burst's other orders each are REJECTED (NO_USER_ELIGIBLE), with `reason` for every trader. */
function assertRejectedForEach(others: readonly LoggedOrder[], reason: string): void {
  for (const other of others) {
    const where = `order ${other.order_id}`;
    assert.equal(other.status, 'REJECTED', where);
    assert.equal(other.reason, 'NO_USER_ELIGIBLE', where);
    assert.deepEqual(other.accepted, [], where);
    assert.deepEqual(
      byUser(other.rejected),
      TRADERS.map((user) => ({ user, reason })),
      where,
    );
  }
}

test('200 concurrent identical BUYs, then 200 SELLs, for one strategy and instrument of 50 users: each position opens once and closes once', {
  timeout: 60_000,
}, async (t) => {
  const server = await startServer(t, { profile: BURST_PROFILE });
  const buy: OrderRequest = { strategy: 'S_ALL', instrument: 'ACC', position: 'BUY' };
  const sell: OrderRequest = { ...buy, position: 'SELL' };
  let buyOrderId = 0;

  await t.test(
    '200 concurrent BUYs: the first in order_id is ACCEPTED for all 50 users once; the 199 others are REJECTED with POSITION_ALREADY_OPEN for each',
    async () => {
      const placed = await burst(server, buy, BURST_SIZE);
      const [first, ...others] = placed;
      assert.equal(first?.status, 'ACCEPTED', JSON.stringify(first));
      assert.equal(first.reason, null);
      assert.deepEqual(users(first.accepted), TRADERS, 'every user of S_ALL once, and only them');
      assert.deepEqual(first.rejected, []);
      buyOrderId = first.order_id;
      assertRejectedForEach(others, 'POSITION_ALREADY_OPEN');
      await checkLogged(server, buy, placed);
    },
  );

  await t.test(
    'GET /positions after the BUYs: each of the 50 users holds S_ALL ACC exactly once, from the accepted BUY',
    async () => {
      const positions = await readPositions(server);
      assert.deepEqual(
        byUser(positions).map(({ user, strategy, instrument, order_id }) => ({
          user,
          strategy,
          instrument,
          order_id,
        })),
        TRADERS.map((user) => ({ user, strategy: 'S_ALL', instrument: 'ACC', order_id: buyOrderId })),
      );
    },
  );

  await t.test(
    '200 concurrent SELLs: the first closes all 50 positions once; the 199 others are REJECTED with NO_OPEN_POSITION for each',
    async () => {
      const placed = await burst(server, sell, BURST_SIZE);
      const [first, ...others] = placed;
      assert.equal(first?.status, 'ACCEPTED', JSON.stringify(first));
      assert.deepEqual(
        byUser(first.accepted).map(({ user, buy_order_id }) => ({ user, buy_order_id })),
        TRADERS.map((user) => ({ user, buy_order_id: buyOrderId })),
      );
      assert.deepEqual(first.rejected, []);
      assertRejectedForEach(others, 'NO_OPEN_POSITION');
      await checkLogged(server, sell, placed);

      assert.deepEqual(await readPositions(server), [], 'no position is left open');
      const trades = await readTrades(server);
      assert.deepEqual(
        byUser(trades).map(({ user, strategy, instrument, buy_order_id, sell_order_id }) => ({
          user,
          strategy,
          instrument,
          buy_order_id,
          sell_order_id,
        })),
        TRADERS.map((user) => ({
          user,
          strategy: 'S_ALL',
          instrument: 'ACC',
          buy_order_id: buyOrderId,
          sell_order_id: first.order_id,
        })),
        'one round trip per user',
      );
    },
  );
});

// ---------------------------------------------------------------------------------------------------
// (c): a BUY/SELL storm, replayed on an independent model.

const STORM_USERS = 50;
const STORM_ORDERS = 4000;
const STORM_CLIENTS = 32;
/** 5 % of the orders go to S4, which no one trades: REJECTED with STRATEGY_NOT_TRADED, logged all the same. */
const TRADED_STRATEGIES = ['S1', 'S2', 'S3'];
const STORM_INSTRUMENTS = ['ACC', 'INFY', 'NTPC', 'TCS', 'WIPRO', 'L&T'];

/** k distinct items, in a random order. */
function sample<T>(random: () => number, items: readonly T[], k: number): T[] {
  const pool = [...items];
  for (let i = pool.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

/**
 * Each user trades 1–3 of S1..S3 with 1–4 instruments each, chosen per user: users of one strategy
 * differ, so a BUY fills some and denies others. At most 50 × 3 × 4 = 600 positions can be open.
 */
function stormProfile(random: () => number): Profile {
  const profile: Profile = {};
  for (let i = 1; i <= STORM_USERS; i += 1) {
    const strategies = sample(random, TRADED_STRATEGIES, 1 + Math.floor(random() * 3));
    profile[`User ${i}`] = Object.fromEntries(
      strategies.map((s) => [s, sample(random, STORM_INSTRUMENTS, 1 + Math.floor(random() * 4))]),
    );
  }
  return profile;
}

function stormOrders(random: () => number): OrderRequest[] {
  return Array.from({ length: STORM_ORDERS }, () => ({
    strategy: random() < 0.05 ? 'S4' : pick(random, TRADED_STRATEGIES),
    instrument: pick(random, STORM_INSTRUMENTS),
    position: random() < 0.5 ? 'BUY' : 'SELL',
  }));
}

/** Sends the orders from `clients` concurrent clients, each one request at a time, in list order overall. */
async function storm(
  server: Server,
  orders: readonly OrderRequest[],
  clients: number,
): Promise<LoggedOrder[]> {
  const answered: LoggedOrder[] = [];
  let next = 0;
  const client = async () => {
    while (next < orders.length) {
      const index = next++;
      const answer = await place(server, orders[index]!, { seedFormat: index % 4 === 0 });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      answered.push(asLogged(answer));
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return answered;
}

const fillsOf = (fills: readonly Fill[]) =>
  byUser(fills).map(({ user, buy_order_id }) => ({ user, buy_order_id }));

test(`a storm of ${STORM_ORDERS} BUYs and SELLs from ${STORM_CLIENTS} concurrent clients replays, in order_id order, to every logged verdict and the open positions`, {
  timeout: 120_000,
}, async (t) => {
  const seed = Number(process.env.STORM_SEED ?? Math.floor(Math.random() * 2 ** 32));
  t.diagnostic(`seed ${seed} (rerun with STORM_SEED=${seed})`);
  const random = prng(seed);
  const profile = stormProfile(random);
  const orders = stormOrders(random);
  const server = await startServer(t, { profile });

  const started = Date.now();
  const answered = await storm(server, orders, STORM_CLIENTS);
  const elapsedMs = Date.now() - started;
  t.diagnostic(`${answered.length} orders answered in ${elapsedMs} ms`);

  const log = await readLog(server);
  await t.test('the log holds every answered order once, exactly as it was answered', () => {
    assert.equal(log.length, STORM_ORDERS);
    const byId = new Map(answered.map((answer) => [answer.order_id, answer]));
    assert.equal(byId.size, STORM_ORDERS, 'one order_id per answer');
    for (const entry of log) assert.deepEqual(entry, byId.get(entry.order_id), `order ${entry.order_id}`);
  });

  const model = new Model(profile);
  await t.test(
    'replayed in order_id order on the model, every logged verdict equals the verdict of the model',
    () => {
      const tally = new Map<string, number>();
      for (const entry of log) {
        const expected = model.apply(entry);
        const where = `order ${entry.order_id} (${entry.position} ${entry.strategy} ${entry.instrument})`;
        assert.equal(entry.status, expected.status, where);
        assert.equal(entry.reason, expected.reason, where);
        assert.deepEqual(fillsOf(entry.accepted), fillsOf(expected.accepted), `${where}: accepted users`);
        assert.deepEqual(byUser(entry.rejected), byUser(expected.rejected), `${where}: rejected users`);
        const count = (outcome: string) => tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
        count(`${entry.position} ${entry.status}${entry.reason === null ? '' : ` ${entry.reason}`}`);
        for (const denial of entry.rejected) count(`${entry.position} for a user: ${denial.reason}`);
      }
      t.diagnostic([...tally].map(([outcome, count]) => `${outcome}: ${count}`).join('; '));
      // The storm must have met every rule, or it proves little.
      const everyRule = [
        ...[
          'BUY ACCEPTED',
          'SELL ACCEPTED',
          'BUY REJECTED NO_USER_ELIGIBLE',
          'SELL REJECTED NO_USER_ELIGIBLE',
        ],
        ...['BUY REJECTED STRATEGY_NOT_TRADED', 'SELL REJECTED STRATEGY_NOT_TRADED'],
        ...['BUY for a user: INSTRUMENT_NOT_IN_STRATEGY', 'BUY for a user: POSITION_ALREADY_OPEN'],
        ...['SELL for a user: INSTRUMENT_NOT_IN_STRATEGY', 'SELL for a user: NO_OPEN_POSITION'],
      ];
      for (const outcome of everyRule) assert.ok((tally.get(outcome) ?? 0) > 0, `no ${outcome} in the storm`);
    },
  );

  await t.test(
    'GET /positions equals the open positions of the model, and GET /trades its closed round trips',
    async () => {
      const positions = await readPositions(server);
      const keyed = (listed: readonly Position[]) =>
        new Map(listed.map((p) => [positionKey(p.user, p.strategy, p.instrument), p.order_id]));
      const served = keyed(positions);
      const open = keyed(model.positions());
      assert.equal(served.size, positions.length, 'one position per user, strategy and instrument');
      assert.deepEqual(served, open);
      t.diagnostic(`${open.size} positions open at the end`);

      const expectedTrades = log.flatMap((entry) =>
        entry.position === 'SELL'
          ? entry.accepted.map(
              (fill) =>
                `${fill.user}|${entry.strategy}|${entry.instrument}|${fill.buy_order_id}|${entry.order_id}`,
            )
          : [],
      );
      const trades = (await readTrades(server)).map(
        (trade) =>
          `${trade.user}|${trade.strategy}|${trade.instrument}|${trade.buy_order_id}|${trade.sell_order_id}`,
      );
      assert.deepEqual([...trades].sort(), [...expectedTrades].sort());
    },
  );
});

// ---------------------------------------------------------------------------------------------------
// (d): one client_order_id, many concurrent requests.

const RETRIES = 20;

/** The requests' answers must all name one order, replayed for all but exactly one; the log has it once. */
async function checkOneOrder(
  server: Server,
  answers: readonly Answer[],
  clientOrderId: string,
): Promise<LoggedOrder> {
  for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const placed = answers.map(asLogged);
  const first = placed[0]!;
  for (const other of placed) assert.deepEqual(other, first, 'every answer is the same order');
  assert.equal(first.client_order_id, clientOrderId);
  assert.equal(answers.filter((answer) => !answer.replayed).length, 1, 'exactly one answer is not a replay');
  const logged = (await readLog(server)).filter((entry) => entry.client_order_id === clientOrderId);
  assert.deepEqual(logged, [first], 'the log has the order once');
  return first;
}

test('the same client_order_id from 20 concurrent requests makes one order: one order_id for all, every answer but one marked Idempotent-Replayed', {
  timeout: 60_000,
}, async (t) => {
  const server = await startServer(t, { profile: BURST_PROFILE });
  const order: OrderRequest = { strategy: 'S_ALL', instrument: 'INFY', position: 'BUY' };

  await t.test(
    '20 × POST /orders with client_order_id in the body: one order, ACCEPTED for the 50 users',
    async () => {
      const answers = await Promise.all(
        Array.from({ length: RETRIES }, () => place(server, order, { clientOrderId: 'same-body-1' })),
      );
      const placed = await checkOneOrder(server, answers, 'same-body-1');
      assert.equal(placed.status, 'ACCEPTED');
      assert.deepEqual(users(placed.accepted), TRADERS);
    },
  );

  await t.test(
    '20 × the Idempotency-Key header, alternately on /create_order and /orders: one order',
    async () => {
      const sell: OrderRequest = { ...order, position: 'SELL' };
      const answers = await Promise.all(
        Array.from({ length: RETRIES }, (_, i) =>
          place(server, sell, { seedFormat: i % 2 === 0, idempotencyKey: 'same-header-1' }),
        ),
      );
      const placed = await checkOneOrder(server, answers, 'same-header-1');
      assert.equal(placed.status, 'ACCEPTED', 'it closes the positions the first test opened');
      assert.equal(placed.accepted.length, TRADERS.length);
    },
  );

  await t.test(
    '20 × one client_order_id, half BUY and half SELL: one order; its side is replayed, the other gets 409',
    async () => {
      const sides: Side[] = Array.from({ length: RETRIES }, (_, i) => (i % 2 === 0 ? 'BUY' : 'SELL'));
      const answers = await Promise.all(
        sides.map((position) => place(server, { ...order, position }, { clientOrderId: 'mixed-1' })),
      );
      const logged = (await readLog(server)).filter((entry) => entry.client_order_id === 'mixed-1');
      assert.equal(logged.length, 1, 'the log has one order for the id');
      const winner = logged[0]!;
      const same = answers.filter((_, i) => sides[i] === winner.position);
      const conflicting = answers.filter((_, i) => sides[i] !== winner.position);
      assert.equal(same.length, RETRIES / 2);
      for (const answer of same) {
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(asLogged(answer), winner);
      }
      assert.equal(same.filter((answer) => !answer.replayed).length, 1, 'exactly one answer is not a replay');
      for (const answer of conflicting) {
        assert.equal(answer.status, 409, JSON.stringify(answer.body));
        assert.equal(answer.body.error, 'IDEMPOTENCY_CONFLICT');
      }
    },
  );

  await t.test('the whole log: three orders, one per client_order_id', async () => {
    const log = await readLog(server);
    assert.deepEqual(
      log.map((entry) => entry.client_order_id),
      ['same-body-1', 'same-header-1', 'mixed-1'],
    );
  });
});
