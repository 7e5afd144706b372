// A book whose row lock is held elsewhere (a stalled peer instance mid-order) delays the orders for
// that book only: orders for other books, reads and /health go on, and the orders on the locked
// book end with 503 after the lock timeout, not with the instance marked unreachable.

import assert from 'node:assert/strict';
import test from 'node:test';
import pg from 'pg';
import { createDatabase, dropDatabase, uniqueDatabaseName } from '../helpers/postgres.js';
import { SEED_PROFILE, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { postOrder } from '../helpers/wire.js';

/** How long the two orders may take to reach the lock: under the 5 s lock timeout that then ends the first. */
const LOCK_WAIT_SEEN_TIMEOUT_MS = 4_000;

test('a book locked by a stalled peer holds up only that book: other books, reads and /health go on', {
  timeout: 60_000,
}, async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  // Two connections: the orders on the locked book take both, which is what used to starve the rest.
  const server = await startServer(t, {
    profile: SEED_PROFILE,
    env: { DATABASE_URL: url, DATABASE_POOL_MAX: '2' },
  });
  const peer = new pg.Client({ connectionString: url });
  peer.on('error', () => {}); // dropped with the database at the end
  await peer.connect();
  t.after(() => peer.end().catch(() => {}));
  await peer.query('BEGIN');
  await peer.query("SELECT * FROM books WHERE strategy = 'STRATEGY_A' AND instrument = 'GRASIM' FOR UPDATE");
  const held = { strategy: 'STRATEGY_A', instrument: 'GRASIM', position: 'BUY' };
  const blocked = [
    postOrder(server, held, { timeoutMs: 20_000 }),
    postOrder(server, held, { timeoutMs: 20_000 }),
  ];
  // Both orders wait for the peer's lock, each on its own connection: every order connection is taken.
  // Seen from a connection outside any transaction: inside one, pg_stat_activity stays as first read.
  const observer = new pg.Client({ connectionString: url });
  observer.on('error', () => {});
  await observer.connect();
  t.after(() => observer.end().catch(() => {}));
  await waitFor(
    'two sessions waiting for the book lock',
    async () => {
      const sessions = await observer.query<{ application_name: string; state: string; wait: string | null }>(
        `SELECT application_name, state, wait_event_type || ':' || wait_event AS wait FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      if (sessions.rows.filter((s) => s.wait?.startsWith('Lock:')).length === 2) return true;
      throw new Error(`the sessions: ${JSON.stringify(sessions.rows)}`);
    },
    LOCK_WAIT_SEEN_TIMEOUT_MS,
  );
  // Meanwhile, while they wait and with every order connection taken:
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200, `the instance stays ready: ${await health.text()}`);
  const other = postOrder(
    server,
    { strategy: 'STRATEGY_B', instrument: 'MINDA', position: 'BUY' },
    { timeoutMs: 20_000 },
  );
  const answers = await Promise.all(blocked);
  for (const answer of answers) {
    assert.equal(answer.status, 503, answer.text);
    // Each waits for the lock in turn: the first ends at the lock timeout, the second at the statement timeout.
    assert.match(answer.text, /lock timeout|statement timeout/, 'the 503 names the wait');
  }
  const otherAnswer = await other;
  assert.equal(
    otherAnswer.status,
    200,
    `another book is served once a connection frees: ${otherAnswer.text}`,
  );
  await peer.query('ROLLBACK');
  const after = await postOrder(server, held);
  assert.equal(after.status, 200, `the book is served once the peer lets go: ${after.text}`);
  assert.doesNotMatch(server.output(), /PostgreSQL unreachable/, 'a lock wait is not a lost server');
});
