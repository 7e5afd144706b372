// Several ordergate instances on one PostgreSQL database (issue 6): three instances started at the
// same moment migrate the schema once; two instances then take conflicting orders from 16 clients
// for the same few books; one is killed with kill -9 in the middle. The survivor keeps serving;
// every acknowledged answer is in the shared log as it was sent; every unanswered order, retried
// with its client_order_id on the survivor, is applied exactly once; and the independent model
// (test/helpers/model.ts) replays the shared log in order_id order to every logged verdict, the open
// positions and the trades, as `ordergate check` does too. MULTI_SEED=<seed> replays the orders.
// A second test: a key created and revoked by the CLI counts at once on both instances.

import assert from 'node:assert/strict';
import test from 'node:test';
import pg from 'pg';
import { byUser, positionKey, replay } from '../helpers/model.js';
import { createDatabase, dropDatabase, uniqueDatabaseName } from '../helpers/postgres.js';
import { pick, prng } from '../helpers/random.js';
import { createKey, revokeKey, runCli, type Server, startServer } from '../helpers/server.js';
import {
  type ClientOrder,
  type LoggedOrder,
  type Profile,
  postOrder,
  readLog,
  readPositions,
  readTrades,
} from '../helpers/wire.js';

const USERS = Array.from({ length: 24 }, (_, i) => `Desk User ${String(i + 1).padStart(2, '0')}`);
/** Two strategies over the same two instruments, most users in both: every order conflicts with others. */
const SUBSCRIPTIONS: Record<string, string[]>[] = [
  { S1: ['ACC', 'INFY'] },
  { S2: ['ACC'] },
  { S1: ['ACC'], S2: ['ACC', 'INFY'] },
];
const PROFILE: Profile = Object.fromEntries(USERS.map((user, i) => [user, SUBSCRIPTIONS[i % 3]!]));
const STRATEGIES = ['S1', 'S2'];
const INSTRUMENTS = ['ACC', 'INFY'];
const CLIENTS = 16;
const ORDERS_PER_CLIENT = 60;
/** The second instance is killed once this many orders have been acknowledged. */
const KILL_AFTER_ACKNOWLEDGED = 300;

interface Outcome {
  readonly order: ClientOrder;
  /** The answer's text, when the answer was a 200. */
  answer: string | null;
}

test('two instances on one PostgreSQL: conflicting orders serialise, kill -9 of one loses nothing, the log replays', {
  timeout: 180_000,
}, async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  const seed = Number(process.env.MULTI_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (MULTI_SEED=${seed} replays the orders)`);

  // Three instances starting together: one migrates, the others wait on the schema row and find it done.
  const servers = await Promise.all(
    [0, 1, 2].map(() => startServer(t, { profile: PROFILE, env: { DATABASE_URL: url } })),
  );
  await assertMigratedOnce(url);
  const [a, b, c] = servers as [Server, Server, Server];
  assert.equal(await c.stop('SIGTERM'), 0);

  const outcomes: Outcome[] = [];
  let acknowledged = 0;
  let bAlive = true;
  let killing: Promise<void> | null = null;
  const client = async (index: number) => {
    const random = prng(seed + index);
    for (let n = 0; n < ORDERS_PER_CLIENT; n++) {
      const order: ClientOrder = {
        strategy: pick(random, STRATEGIES),
        instrument: pick(random, INSTRUMENTS),
        position: random() < 0.5 ? 'BUY' : 'SELL',
        client_order_id: `multi-${index}-${n}`,
      };
      const outcome: Outcome = { order, answer: null };
      outcomes.push(outcome);
      const server = bAlive && (index + n) % 2 === 1 ? b : a;
      try {
        const reply = await postOrder(server, order, { timeoutMs: 15_000 });
        assert.ok(reply.status === 200 || reply.status === 503, `${reply.status} ${reply.text}`);
        if (reply.status === 200) {
          outcome.answer = reply.text;
          acknowledged++;
        }
      } catch (error) {
        // Only the killed instance may fail to answer at all.
        assert.equal(server, b, `instance A failed to answer: ${(error as Error).message}`);
      }
      if (acknowledged >= KILL_AFTER_ACKNOWLEDGED && killing === null) {
        killing = b.kill().then(() => {
          bAlive = false;
        });
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  await killing;
  assert.equal(bAlive, false, 'instance B was killed during the load');

  // The survivor serves on, and answers every unanswered order's retry exactly once.
  const unanswered = outcomes.filter((outcome) => outcome.answer === null);
  for (const outcome of unanswered) {
    const reply = await postOrder(a, outcome.order);
    assert.equal(
      reply.status,
      200,
      `retry of ${outcome.order.client_order_id}: ${reply.status} ${reply.text}`,
    );
  }
  const log = await readLog(a);
  const byClientId = new Map<string, LoggedOrder>();
  for (const entry of log) {
    assert.ok(entry.client_order_id !== null);
    assert.ok(!byClientId.has(entry.client_order_id), `${entry.client_order_id} applied twice`);
    byClientId.set(entry.client_order_id, entry);
  }
  assert.equal(byClientId.size, outcomes.length, 'every order is in the log exactly once after the retries');
  for (const { order, answer } of outcomes) {
    if (answer === null) continue;
    const { RESPONSE: _seedField, ...sent } = JSON.parse(answer) as Record<string, unknown>;
    assert.deepEqual(
      byClientId.get(order.client_order_id),
      sent,
      `acknowledged ${order.client_order_id} is logged as sent`,
    );
  }

  // The shared log replays, in order_id order, on the independent model.
  const mismatches: string[] = [];
  const model = replay(PROFILE, log, (entry, expected) => {
    const logged = {
      status: entry.status,
      reason: entry.reason,
      accepted: byUser(entry.accepted),
      rejected: byUser(entry.rejected),
    };
    const replayed = {
      status: expected.status,
      reason: expected.reason,
      accepted: byUser(expected.accepted),
      rejected: byUser(expected.rejected),
    };
    if (JSON.stringify(logged) !== JSON.stringify(replayed)) mismatches.push(`order ${entry.order_id}`);
  });
  assert.deepEqual(mismatches, [], 'every logged verdict is the one the model gives');
  const positions = (await readPositions(a)).map(
    (p) => `${positionKey(p.user, p.strategy, p.instrument)}@${p.order_id}`,
  );
  const expectedPositions = model
    .positions()
    .map((p) => `${positionKey(p.user, p.strategy, p.instrument)}@${p.order_id}`);
  assert.deepEqual(positions.sort(), expectedPositions.sort(), "the open positions are the replay's");
  const tradeKey = (trade: { user: string; buy_order_id: number; sell_order_id: number }) =>
    `${trade.user}:${trade.buy_order_id}->${trade.sell_order_id}`;
  assert.deepEqual(
    (await readTrades(a)).map(tradeKey).sort(),
    model.trades.map(tradeKey).sort(),
    "the trades are the replay's",
  );
  const accepted = log.filter((entry) => entry.status === 'ACCEPTED').length;
  assert.ok(accepted > 50, `enough orders were applied to mean something (${accepted})`);

  const check = await runCli(['check', '--database-url', url]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /mismatches: 0/);
  t.diagnostic(
    `multi-instance: orders ${outcomes.length}, acknowledged before the retries ${outcomes.length - unanswered.length}, ` +
      `unanswered (retried on A) ${unanswered.length}, accepted ${accepted}, open positions ${positions.length}, seed ${seed}`,
  );
});

async function assertMigratedOnce(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const versions = await client.query('SELECT count(*)::integer AS n FROM profile_versions');
    assert.equal(versions.rows[0].n, 1, 'one profile version for three instances of one profile');
    const schema = await client.query('SELECT version FROM ordergate_schema');
    assert.equal(schema.rows.length, 1);
  } finally {
    await client.end();
  }
}

test('keys are shared: a key created by the CLI works on both instances, and its revocation counts at once on both', async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  const servers = await Promise.all(
    [0, 1].map(() => startServer(t, { profile: PROFILE, env: { DATABASE_URL: url } })),
  );
  const order = { strategy: 'S1', instrument: 'ACC', position: 'BUY' };
  const status = async (server: Server, token: string | null) =>
    (await postOrder(server, order, { headers: token === null ? {} : { authorization: `Bearer ${token}` } }))
      .status;
  // Open until the first key, on both.
  for (const server of servers) assert.equal(await status(server, null), 200);
  const { id, token } = await createKey({ databaseUrl: url }, '--strategy', 'S1');
  for (const server of servers) {
    assert.equal(await status(server, null), 401, 'closed on every instance once a key exists');
    assert.equal(await status(server, token), 200, 'the strategy key works on every instance');
  }
  await revokeKey({ databaseUrl: url }, id);
  for (const server of servers)
    assert.equal(await status(server, token), 401, 'revoked on every instance at once');
});

test('a database gone back in time (a restore) is not mistaken for the book an instance kept', async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  const [a, b] = (await Promise.all(
    [0, 1].map(() => startServer(t, { profile: PROFILE, env: { DATABASE_URL: url } })),
  )) as [Server, Server];
  const buy = { strategy: 'S1', instrument: 'INFY', position: 'BUY' };
  const first = JSON.parse((await postOrder(a, buy)).text) as LoggedOrder;
  assert.equal(first.status, 'ACCEPTED');
  // What a restore of a backup taken before that order does: the order, its positions and the book's
  // row as they were, and the sequence hands the same id out again. A keeps the book it last wrote.
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  try {
    await sql.query('BEGIN');
    await sql.query('DELETE FROM positions');
    await sql.query('DELETE FROM orders');
    await sql.query("UPDATE books SET last_order_id = 0, last_write = ''");
    await sql.query("SELECT setval('order_ids', 1, false)");
    await sql.query('COMMIT');
  } finally {
    await sql.end();
  }
  // B's order on that book takes the same id A's did.
  const sell = JSON.parse((await postOrder(b, { ...buy, position: 'SELL' })).text) as LoggedOrder;
  assert.equal(sell.order_id, first.order_id);
  assert.equal(sell.status, 'REJECTED');
  // A must read the book again, not trust the copy whose id matches.
  const again = JSON.parse((await postOrder(a, buy)).text) as LoggedOrder;
  assert.equal(again.status, 'ACCEPTED', `nothing is open after the restore: ${JSON.stringify(again)}`);
  const check = await runCli(['check', '--database-url', url]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
});
