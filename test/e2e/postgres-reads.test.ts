// Reads never starve orders, on PostgreSQL: reads have their own bounded pool. Twenty reads held back
// for seconds by a real lock (another session holds the users table in ACCESS EXCLUSIVE mode, which
// every read of positions and trades needs and no order touches) leave orders answered and /health
// ready; the reads end with their page or a 503, never a 500; and past READS_IN_FLIGHT_MAX (64) a read
// is refused at once with 503 OVERLOADED.

import assert from 'node:assert/strict';
import test from 'node:test';
import pg from 'pg';
import { testStore } from '../helpers/postgres.js';
import { type Server, startServer } from '../helpers/server.js';
import { postOrder } from '../helpers/wire.js';

process.env.ORDERGATE_TEST_STORE = 'postgres';
const READS_IN_FLIGHT_MAX = 64;
const PROFILE = { Ann: { S1: ['ACC', 'INFY'] }, Bob: { S1: ['ACC'] } };

/** Holds the users table, which /positions and /trades join and orders never touch, until released. */
async function lockUsers(server: Server) {
  const client = new pg.Client({ connectionString: server.databaseUrl });
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await client.query('ROLLBACK').catch(() => {});
    await client.end().catch(() => {});
  };
}

async function read(server: Server, path: string): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(30_000) });
  const body = (await response.json()) as { error?: string };
  return { status: response.status, error: body.error };
}

test('twenty slow reads in parallel: orders keep being answered and /health stays ready', async (t) => {
  assert.equal(testStore(), 'postgres');
  const server = await startServer(t, { profile: PROFILE });
  const release = await lockUsers(server);
  t.after(release);
  const reads = Array.from({ length: 20 }, (_, i) => read(server, i % 2 === 0 ? '/positions' : '/trades'));
  const orders: number[] = [];
  const health: number[] = [];
  const until = Date.now() + 6000;
  let i = 0;
  while (Date.now() < until) {
    const position = i++ % 2 === 0 ? 'BUY' : 'SELL';
    const reply = await postOrder(server, { strategy: 'S1', instrument: 'ACC', position });
    orders.push(reply.status);
    const probe = await fetch(`${server.url}/health`);
    health.push(probe.status);
    await probe.arrayBuffer();
  }
  await release();
  const answered = await Promise.all(reads);
  t.diagnostic(
    `while reads waited: ${orders.length} orders (${orders.filter((s) => s === 200).length} answered 200), ` +
      `/health ${health.filter((s) => s === 200).length} of ${health.length} ready; ` +
      `reads: ${answered.map((r) => r.status).join(' ')}`,
  );
  assert.ok(orders.length > 20, 'orders flowed while the reads waited');
  assert.ok(
    orders.every((s) => s === 200),
    `every order answered 200: ${orders.join(' ')}`,
  );
  assert.ok(
    health.every((s) => s === 200),
    `/health stayed ready: ${health.join(' ')}`,
  );
  for (const r of answered) {
    assert.ok(
      r.status === 200 || r.status === 503,
      `a read ends with its page or a 503: ${JSON.stringify(r)}`,
    );
  }
  assert.ok(
    answered.some((r) => r.status === 503),
    'some reads waited past their bound (the lock was held for 6 s)',
  );
});

test('past READS_IN_FLIGHT_MAX reads, the next is refused at once with 503 OVERLOADED', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const release = await lockUsers(server);
  t.after(release);
  const sent = READS_IN_FLIGHT_MAX + 6;
  const answered = await Promise.all(Array.from({ length: sent }, () => read(server, '/positions')));
  await release();
  const overloaded = answered.filter((r) => r.error === 'OVERLOADED').length;
  assert.equal(
    overloaded,
    sent - READS_IN_FLIGHT_MAX,
    `${READS_IN_FLIGHT_MAX} reads in flight, the rest refused`,
  );
  for (const r of answered) assert.ok(r.status === 503 || r.status === 200, JSON.stringify(r));
  const after = await read(server, '/positions');
  assert.equal(after.status, 200, 'reads are served again once the lock is gone');
});
