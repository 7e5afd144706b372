// kill -9 under load, twice on the same database: every acknowledged order survives as it was
// answered, and replaying the log from an empty book reproduces every verdict and the open positions.

import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';
import { type Server, startServer } from '../helpers/server.js';

type Profile = Record<string, Record<string, string[]>>;

/** Six users over three strategies; overlapping instruments so orders meet open positions often. */
const PROFILE: Profile = {
  'Asha Rao': { STRATEGY_A: ['GRASIM', 'EICHER'], STRATEGY_B: ['ACC'] },
  'Bilal Khan': { STRATEGY_A: ['GRASIM', 'MINDA'] },
  'Chen Wei': { STRATEGY_B: ['ACC', 'MINDA'], STRATEGY_C: ['EICHER'] },
  "Dara O'Neil": { STRATEGY_A: ['EICHER'], STRATEGY_C: ['GRASIM', 'ACC'] },
  'Esi Mensah': { STRATEGY_C: ['MINDA', 'EICHER'] },
  'Farid Haddad': { STRATEGY_A: ['ACC'], STRATEGY_B: ['GRASIM', 'EICHER'] },
};
/** STRATEGY_D and BIRLASOFT are traded by no one: those orders are rejected, and logged all the same. */
const STRATEGIES = ['STRATEGY_A', 'STRATEGY_B', 'STRATEGY_C', 'STRATEGY_D'];
const INSTRUMENTS = ['GRASIM', 'EICHER', 'ACC', 'MINDA', 'BIRLASOFT'];

const CLIENTS = 8;
const ORDERS_PER_CYCLE = 400;
/** The kill comes once this many orders of the cycle are acknowledged, with the rest still being sent. */
const KILL_AFTER_ACKS = 150;
const CYCLES = 2;
const PAGE_LIMIT = 100;
const REQUEST_TIMEOUT_MS = 10_000;

interface OrderRequest {
  readonly strategy: string;
  readonly instrument: string;
  readonly position: 'BUY' | 'SELL';
  readonly client_order_id: string;
}

interface Fill {
  readonly user: string;
  readonly buy_order_id?: number;
  readonly opened_at?: string;
}

interface LoggedOrder {
  readonly order_id: number;
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: string | null;
  readonly strategy: string;
  readonly instrument: string;
  readonly position: 'BUY' | 'SELL';
  readonly client_order_id: string | null;
  readonly accepted: readonly Fill[];
  readonly rejected: readonly { readonly user: string; readonly reason: string }[];
}

interface Position {
  readonly user: string;
  readonly strategy: string;
  readonly instrument: string;
  readonly order_id: number;
}

/** mulberry32: small, seedable, good enough to pick orders. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function randomOrders(random: () => number, cycle: number): OrderRequest[] {
  return Array.from({ length: ORDERS_PER_CYCLE }, (_, index) => ({
    strategy: pick(random, STRATEGIES),
    instrument: pick(random, INSTRUMENTS),
    position: random() < 0.5 ? 'BUY' : 'SELL',
    client_order_id: `crash-${cycle}-${index}`,
  }));
}

/**
 * Sends the orders from CLIENTS concurrent clients, each one request at a time, and kills the server
 * with SIGKILL once KILL_AFTER_ACKS answers came back. Only a 200 counts as acknowledged; a client
 * stops at its first failure, which after the kill is every client.
 */
async function sendUntilKilled(
  server: Server,
  orders: readonly OrderRequest[],
  acknowledged: Map<string, LoggedOrder>,
): Promise<{ acks: number; failures: number }> {
  const url = `${server.url}/orders`;
  let next = 0;
  let acks = 0;
  let failures = 0;
  let killing: Promise<void> | undefined;
  const client = async () => {
    while (next < orders.length) {
      const order = orders[next++]!;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(order),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await response.text();
        assert.equal(response.status, 200, `${JSON.stringify(order)} answered ${response.status}: ${text}`);
        acknowledged.set(order.client_order_id, JSON.parse(text) as LoggedOrder);
        acks += 1;
        if (acks === KILL_AFTER_ACKS) killing = server.kill();
      } catch (error) {
        // Before the kill every request must succeed; after it, failing is the expected outcome.
        if (killing === undefined) throw error;
        failures += 1;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  assert.ok(killing !== undefined, `the kill never came: only ${acks} acknowledged`);
  await killing;
  return { acks, failures };
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${url}: ${text}`);
  return JSON.parse(text) as T;
}

/** The whole log, paged with after/next_after; checks that order_ids strictly increase across pages. */
async function readLog(server: Server): Promise<LoggedOrder[]> {
  const log: LoggedOrder[] = [];
  let after = 0;
  for (;;) {
    const page = await getJson<{ orders: LoggedOrder[]; next_after: number | null }>(
      `${server.url}/orders?after=${after}&limit=${PAGE_LIMIT}`,
    );
    assert.ok(page.orders.length <= PAGE_LIMIT);
    for (const entry of page.orders) {
      assert.ok(entry.order_id > after, `order_id ${entry.order_id} follows ${after}: not increasing`);
      after = entry.order_id;
      log.push(entry);
    }
    if (page.next_after === null) return log;
    assert.equal(page.next_after, after);
  }
}

const key = (user: string, strategy: string, instrument: string) => `${user}|${strategy}|${instrument}`;
const byUser = <T extends { user: string }>(items: readonly T[]) =>
  [...items].sort((a, b) => a.user.localeCompare(b.user));

/**
 * The rules, written again from the README independently of src/domain/rules.ts: a BUY fills every
 * subscriber of the strategy whose profile gives it the instrument and who holds nothing there; a SELL
 * fills every holder. Returns the expected verdicts and applies the fills to `open`.
 */
function replay(order: LoggedOrder, open: Map<string, number>) {
  const accepted: Fill[] = [];
  const rejected: { user: string; reason: string }[] = [];
  const subscribers = Object.entries(PROFILE).filter(([, strategies]) => order.strategy in strategies);
  for (const [user, strategies] of subscribers) {
    const held = open.get(key(user, order.strategy, order.instrument));
    const traded = strategies[order.strategy]!.includes(order.instrument);
    if (order.position === 'BUY') {
      if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else if (held !== undefined) rejected.push({ user, reason: 'POSITION_ALREADY_OPEN' });
      else accepted.push({ user });
    } else if (held !== undefined) accepted.push({ user, buy_order_id: held });
    else if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
    else rejected.push({ user, reason: 'NO_OPEN_POSITION' });
  }
  for (const fill of accepted) {
    const position = key(fill.user, order.strategy, order.instrument);
    if (order.position === 'BUY') open.set(position, order.order_id);
    else open.delete(position);
  }
  const status = accepted.length > 0 ? 'ACCEPTED' : 'REJECTED';
  const reason =
    accepted.length > 0 ? null : subscribers.length === 0 ? 'STRATEGY_NOT_TRADED' : 'NO_USER_ELIGIBLE';
  return { status, reason, accepted, rejected };
}

async function checkAfterRestart(
  t: TestContext,
  server: Server,
  acknowledged: ReadonlyMap<string, LoggedOrder>,
): Promise<void> {
  const log = await readLog(server);
  t.diagnostic(
    `after the restart the log holds ${log.length} orders; ${acknowledged.size} were acknowledged`,
  );

  // (c) strictly increasing order_ids (checked while paging), so no duplicates; one order per client_order_id.
  assert.equal(new Set(log.map((entry) => entry.order_id)).size, log.length);
  const byClientId = new Map<string, LoggedOrder>();
  for (const entry of log) {
    assert.ok(entry.client_order_id !== null, `order ${entry.order_id} has no client_order_id`);
    assert.ok(
      !byClientId.has(entry.client_order_id),
      `client_order_id ${entry.client_order_id} logged twice`,
    );
    byClientId.set(entry.client_order_id, entry);
  }

  // (a) every acknowledged order is in the log exactly as it was answered.
  for (const [clientOrderId, answer] of acknowledged) {
    const entry = byClientId.get(clientOrderId);
    assert.ok(
      entry !== undefined,
      `acknowledged ${clientOrderId} (order ${answer.order_id}) is not in the log`,
    );
    const { order_id, status, reason, strategy, instrument, position, accepted, rejected } = entry;
    assert.deepEqual(
      { order_id, status, reason, strategy, instrument, position, accepted, rejected },
      {
        order_id: answer.order_id,
        status: answer.status,
        reason: answer.reason,
        strategy: answer.strategy,
        instrument: answer.instrument,
        position: answer.position,
        accepted: answer.accepted,
        rejected: answer.rejected,
      },
      `order ${clientOrderId} differs between its answer and the log`,
    );
  }

  // (b) replaying the log from an empty book reproduces every verdict and the open positions.
  const open = new Map<string, number>();
  for (const entry of log) {
    const expected = replay(entry, open);
    const where = `order ${entry.order_id} (${entry.position} ${entry.strategy} ${entry.instrument})`;
    assert.equal(entry.status, expected.status, where);
    assert.equal(entry.reason, expected.reason, where);
    assert.deepEqual(
      byUser(entry.accepted).map(({ user, buy_order_id }) => ({ user, buy_order_id })),
      byUser(expected.accepted).map(({ user, buy_order_id }) => ({ user, buy_order_id })),
      `${where}: accepted users`,
    );
    assert.deepEqual(byUser(entry.rejected), byUser(expected.rejected), `${where}: rejected users`);
  }
  const accepted = log.filter((entry) => entry.status === 'ACCEPTED').length;
  t.diagnostic(`replayed ${log.length} orders (${accepted} accepted) to ${open.size} open positions`);
  const { positions } = await getJson<{ positions: Position[] }>(`${server.url}/positions?limit=1000`);
  assert.ok(positions.length < 1000, 'the positions fit in one page');
  const served = new Map(positions.map((p) => [key(p.user, p.strategy, p.instrument), p.order_id]));
  assert.equal(served.size, positions.length, 'one position per user, strategy and instrument');
  assert.deepEqual(served, open, 'GET /positions against the replayed book');
}

/** A retry of an acknowledged order after the restart is answered from the log and places nothing. */
async function checkRetries(server: Server, acknowledged: ReadonlyMap<string, LoggedOrder>): Promise<void> {
  const sample = [...acknowledged.values()].slice(0, 10);
  for (const answer of sample) {
    const response = await fetch(`${server.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        strategy: answer.strategy,
        instrument: answer.instrument,
        position: answer.position,
        client_order_id: answer.client_order_id,
      }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const retried = (await response.json()) as LoggedOrder;
    assert.equal(response.status, 200);
    assert.equal(retried.order_id, answer.order_id, `retry of ${answer.client_order_id}`);
    assert.deepEqual(retried.accepted, answer.accepted);
  }
}

test('kill -9 while 8 clients send orders, twice: after each restart every acknowledged order is logged as answered and the log replays to the open positions', {
  timeout: 180_000,
}, async (t) => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32));
  t.diagnostic(`seed ${seed} (rerun with CRASH_SEED=${seed})`);
  const random = prng(seed);
  const server = await startServer(t, { profile: PROFILE });
  const acknowledged = new Map<string, LoggedOrder>();

  for (let cycle = 1; cycle <= CYCLES; cycle += 1) {
    await t.test(
      `cycle ${cycle}: kill -9 after ${KILL_AFTER_ACKS} acknowledgements, restart, check`,
      async (t) => {
        const orders = randomOrders(random, cycle);
        const { acks, failures } = await sendUntilKilled(server, orders, acknowledged);
        t.diagnostic(`${acks} of ${orders.length} acknowledged; ${failures} clients cut off by the kill`);
        assert.ok(acks < orders.length, 'the kill came while orders were still being sent');
        await server.restart();
        await checkAfterRestart(t, server, acknowledged);
        await checkRetries(server, acknowledged);
      },
    );
  }
});
