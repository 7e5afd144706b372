// Live operations on the shared store (issue 13): two instances on one PostgreSQL database, each
// change made through one of them and in force on the other from its next order on. A user added on
// A fills the next BUY placed on B; a subscription removed on B with positions=close-now closes the
// position there and then, and A sees it; a strategy halted on A rejects B's BUYs; a user removed with
// positions=preserve releases their position; the states survive a restart of both; a restart with
// another profile file changes nothing unless it is started with the import flag; a square-off closes
// every book; and `ordergate check` replays the whole log, records and orders, to no mismatch.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import pg from 'pg';
import { createDatabase, dropDatabase, uniqueDatabaseName } from '../helpers/postgres.js';
import { runCli, type Server, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import {
  getJson,
  type LoggedOrder,
  type Profile,
  postOrder,
  readPositions,
  readTrades,
} from '../helpers/wire.js';

const PROFILE: Profile = {
  'Holland Proctor': { STRATEGY_A: ['BIRLASOFT', 'GRASIM', 'EICHER'], STRATEGY_X: ['ACC'] },
  'Oaklee Wagner': { STRATEGY_X: ['ACC', 'MINDA'] },
};
const NEWCOMER = 'Nova Quill';

interface ChangeAnswer {
  readonly version: number;
  readonly kind: string;
  readonly closed: readonly { order_id: number; strategy: string; instrument: string; positions: number }[];
  readonly left_close_only: readonly { strategy: string; instrument: string }[];
  readonly released: readonly { strategy: string; instrument: string; buy_order_id: number }[];
}

interface UsersPage {
  readonly users: readonly { user: string; strategies: Record<string, string[]> }[];
}

interface StatesView {
  readonly version: number;
  readonly gate: { state: string; reason: string | null };
  readonly strategies: readonly { strategy: string; state: string; reason: string; version: number }[];
}

/** A change through the API: it must answer 200 with the change's JSON. */
async function change(
  server: Server,
  method: 'PUT' | 'DELETE' | 'POST',
  path: string,
  body?: unknown,
): Promise<ChangeAnswer> {
  const response = await fetch(server.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as ChangeAnswer;
}

async function order(server: Server, strategy: string, instrument: string, position: 'BUY' | 'SELL') {
  const reply = await postOrder(server, { strategy, instrument, position });
  assert.equal(reply.status, 200, reply.text);
  return JSON.parse(reply.text) as LoggedOrder;
}

const userNames = async (server: Server) =>
  (await getJson<UsersPage>(server, '/users?limit=1000')).users.map((entry) => entry.user);
const accepted = (answer: LoggedOrder) => answer.accepted.map((fill) => fill.user);
const encoded = encodeURIComponent;

test('two instances on one PostgreSQL: a change on one is in force on the other, survives restarts, and the log replays', {
  timeout: 180_000,
}, async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  const [a, b] = (await Promise.all(
    [0, 1].map(() => startServer(t, { profile: PROFILE, env: { DATABASE_URL: url } })),
  )) as [Server, Server];

  // A user put on A: the next BUY placed on B fills them too.
  const added = await change(a, 'PUT', `/users/${encoded(NEWCOMER)}`, {
    subscriptions: { STRATEGY_A: ['GRASIM'] },
  });
  assert.equal(added.kind, 'user-put');
  const buy = await order(b, 'STRATEGY_A', 'GRASIM', 'BUY');
  assert.equal(buy.status, 'ACCEPTED');
  assert.ok(buy.order_id > added.version, 'the order follows the record in the log');
  assert.deepEqual(accepted(buy).sort(), ['Holland Proctor', NEWCOMER].sort());
  assert.ok((await userNames(a)).includes(NEWCOMER));

  // The subscription removed on B, positions closed now: a SELL the gate sends closes the newcomer's
  // position only, and A sees the user gone, the position closed and the trade.
  const removed = await change(
    b,
    'DELETE',
    `/users/${encoded(NEWCOMER)}/subscriptions/STRATEGY_A?positions=close-now`,
  );
  assert.equal(removed.closed.length, 1, JSON.stringify(removed));
  assert.deepEqual(
    {
      strategy: removed.closed[0]!.strategy,
      instrument: removed.closed[0]!.instrument,
      positions: removed.closed[0]!.positions,
    },
    { strategy: 'STRATEGY_A', instrument: 'GRASIM', positions: 1 },
  );
  assert.deepEqual(await readPositions(a, { query: `&user=${encoded(NEWCOMER)}` }), []);
  const trades = await readTrades(a, { query: `&user=${encoded(NEWCOMER)}` });
  assert.equal(trades.length, 1);
  assert.equal(trades[0]!.buy_order_id, buy.order_id);
  assert.equal(trades[0]!.sell_order_id, removed.closed[0]!.order_id);
  assert.ok(
    !(await userNames(a)).includes(NEWCOMER),
    'a user with no subscription left is no longer in force',
  );
  const kept = await readPositions(a, { query: '&strategy=STRATEGY_A' });
  assert.deepEqual(
    kept.map((p) => p.user),
    ['Holland Proctor'],
    "the others' positions stay",
  );

  // A strategy halted on A: B rejects its BUYs, for every user and as a whole.
  await change(a, 'PUT', '/strategies/STRATEGY_X/state', { state: 'HALTED', reason: 'test' });
  const halted = await order(b, 'STRATEGY_X', 'ACC', 'BUY');
  assert.equal(halted.status, 'REJECTED');
  assert.equal(halted.reason, 'STRATEGY_HALTED');
  assert.deepEqual(
    halted.rejected.map((denial) => denial.reason),
    ['STRATEGY_HALTED', 'STRATEGY_HALTED'],
  );
  // Another strategy trades on.
  assert.equal((await order(b, 'STRATEGY_A', 'EICHER', 'BUY')).status, 'ACCEPTED');

  // A user removed on B with positions=preserve: their position leaves the book.
  const preserved = await change(b, 'DELETE', `/users/${encoded('Holland Proctor')}?positions=preserve`);
  assert.deepEqual(preserved.released.map((r) => `${r.strategy} ${r.instrument}`).sort(), [
    'STRATEGY_A EICHER',
    'STRATEGY_A GRASIM',
  ]);
  assert.deepEqual(await readPositions(a, { query: '&strategy=STRATEGY_A' }), []);
  const sell = await order(a, 'STRATEGY_A', 'GRASIM', 'SELL');
  assert.equal(sell.status, 'REJECTED', 'a released position is no longer the gate’s to close');
  await change(a, 'PUT', `/users/${encoded('Holland Proctor')}`, {
    subscriptions: { STRATEGY_A: ['GRASIM'] },
  });

  // The states survive a restart of both instances.
  assert.equal(await a.stop('SIGTERM'), 0);
  assert.equal(await b.stop('SIGTERM'), 0);
  await Promise.all([a.restart(), b.restart()]);
  for (const server of [a, b]) {
    const states = await getJson<StatesView>(server, '/state');
    assert.deepEqual(
      states.strategies.map(({ strategy, state, reason }) => ({ strategy, state, reason })),
      [{ strategy: 'STRATEGY_X', state: 'HALTED', reason: 'test' }],
    );
    assert.equal((await order(server, 'STRATEGY_X', 'MINDA', 'BUY')).reason, 'STRATEGY_HALTED');
  }
  await change(b, 'PUT', '/strategies/STRATEGY_X/state', { state: 'ACTIVE' });
  assert.equal((await order(a, 'STRATEGY_X', 'ACC', 'BUY')).status, 'ACCEPTED', 'ACTIVE again, on A too');

  // A restart with another profile file changes nothing: the database is the source of truth.
  const inForce = await getJson<UsersPage>(b, '/users?limit=1000');
  const other: Profile = { 'Pia Brook': { STRATEGY_Z: ['TCS'] } };
  writeFileSync(join(a.dir, 'profile.json'), JSON.stringify(other));
  assert.equal(await a.stop('SIGTERM'), 0);
  await a.restart();
  assert.deepEqual(await getJson<UsersPage>(a, '/users?limit=1000'), inForce);
  assert.match(a.output(), /the profile file differs from the users in force/);
  assert.equal((await order(a, 'STRATEGY_Z', 'TCS', 'BUY')).reason, 'STRATEGY_NOT_TRADED');

  // Unless started with the import flag: the file becomes the users in force, on B too.
  assert.equal(await a.stop('SIGTERM'), 0);
  const importer = await startServer(t, {
    dir: a.dir,
    profile: other,
    env: { DATABASE_URL: url, IMPORT_PROFILE: '1' },
  });
  assert.match(importer.output(), /profile file imported at start/);
  for (const server of [importer, b]) assert.deepEqual(await userNames(server), ['Pia Brook']);
  // A restart of the importer with the same file and flag finds nothing to import.
  const records = await recordCount(url);
  assert.equal(await importer.stop('SIGTERM'), 0);
  await importer.restart();
  assert.equal(await recordCount(url), records);
  // A change on top of the import, before any order: the orders after it name the imported version,
  // and the check must not take that for a profile synced at start (which would undo the change).
  await change(importer, 'PUT', `/users/${encoded('Rue Vale')}`, { subscriptions: { STRATEGY_Z: ['TCS'] } });
  assert.deepEqual(accepted(await order(b, 'STRATEGY_Z', 'TCS', 'BUY')).sort(), ['Pia Brook', 'Rue Vale']);

  // A square-off on B closes every book that has positions, each with one SELL from the gate.
  const squared = await change(b, 'POST', '/square-off', {});
  assert.ok(squared.closed.length >= 2, JSON.stringify(squared));
  assert.deepEqual(await readPositions(importer), []);

  const check = await runCli(['check', '--database-url', url]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /mismatches: 0/);
  const report = await runCli(['check', '--json', '--database-url', url]);
  const json = JSON.parse(report.stdout) as { changes: number; orders: number; mismatches: number };
  assert.equal(json.changes, await recordCount(url));
  t.diagnostic(
    `check: ${json.orders} orders and ${json.changes} records replayed, ${json.mismatches} mismatches`,
  );
});

test('two changes racing on two instances, with orders in flight on both: every order is decided by the records before it', {
  timeout: 120_000,
}, async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  const [a, b] = (await Promise.all(
    [0, 1].map(() => startServer(t, { profile: PROFILE, env: { DATABASE_URL: url } })),
  )) as [Server, Server];
  const orders: Promise<unknown>[] = [];
  const changes: Promise<unknown>[] = [];
  for (let i = 0; i < 40; i++) {
    const server = i % 2 === 0 ? a : b;
    const side = i % 4 < 2 ? 'BUY' : 'SELL';
    orders.push(order(server, 'STRATEGY_X', i % 3 === 0 ? 'MINDA' : 'ACC', side));
    if (i % 8 === 0) {
      const user = `Racer ${i}`;
      changes.push(
        change(i % 16 === 0 ? b : a, 'PUT', `/users/${encoded(user)}`, {
          subscriptions: { STRATEGY_X: ['ACC'] },
        }),
      );
    }
    if (i === 20) {
      changes.push(
        change(a, 'PUT', `/users/${encoded('Oaklee Wagner')}/state`, { state: 'CLOSE_ONLY', reason: 'race' }),
      );
    }
  }
  await Promise.all([...orders, ...changes]);
  const check = await runCli(['check', '--database-url', url]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /mismatches: 0/);
});

test('a log begun before the records (instances that each synced their profile file at start) still replays, records on top', {
  timeout: 120_000,
}, async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  const server = await startServer(t, { profile: PROFILE, env: { DATABASE_URL: url } });
  assert.deepEqual(accepted(await order(server, 'STRATEGY_X', 'MINDA', 'BUY')), ['Oaklee Wagner']);
  assert.equal(await server.stop('SIGTERM'), 0);
  // What an instance of an earlier ordergate did at start with another file, before this schema marked
  // the version in force when the records began: a second version, in force, its subscriptions and books.
  const second: Profile = { ...PROFILE, 'Oaklee Wagner': { STRATEGY_X: ['ACC'] } };
  const text = JSON.stringify(second);
  await sql(url, async (client) => {
    await client.query('UPDATE profile_versions SET change_seq = NULL');
    const stored = await client.query<{ version: number }>(
      `INSERT INTO profile_versions (sha256, loaded_at_ms, profile, change_seq)
       VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex'), 0, $1, 0) RETURNING version`,
      [text],
    );
    await client.query('UPDATE ordergate_schema SET current_profile_version = $1', [stored.rows[0]!.version]);
    await client.query(
      "DELETE FROM subscriptions WHERE user_id = (SELECT user_id FROM users WHERE name = 'Oaklee Wagner') AND instrument = 'MINDA'",
    );
  });
  await server.restart();
  // The second version is in force: Oaklee's MINDA position is left, close-only, and still sells.
  assert.equal((await order(server, 'STRATEGY_X', 'MINDA', 'BUY')).reason, 'NO_USER_ELIGIBLE');
  await change(server, 'PUT', `/users/${encoded(NEWCOMER)}`, { subscriptions: { STRATEGY_X: ['MINDA'] } });
  assert.deepEqual(accepted(await order(server, 'STRATEGY_X', 'MINDA', 'BUY')), [NEWCOMER]);
  assert.deepEqual(accepted(await order(server, 'STRATEGY_X', 'MINDA', 'SELL')).sort(), [
    NEWCOMER,
    'Oaklee Wagner',
  ]);
  const check = await runCli(['check', '--json', '--database-url', url]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  const report = JSON.parse(check.stdout) as { profileVersions: number; orders: number; changes: number };
  assert.deepEqual(
    { profileVersions: report.profileVersions, orders: report.orders, changes: report.changes },
    { profileVersions: 2, orders: 4, changes: 1 },
  );
});

async function sql(url: string, run: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await run(client);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

async function recordCount(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ n: number }>('SELECT count(*)::integer AS n FROM changes')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

test('the scheduled square-off on two instances of one database happens once: one record, one SELL per book, the other instance finds it done', {
  timeout: 180_000,
}, async (t) => {
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  // Both instances start with positions to close; the square-off is due a few seconds after the last start.
  const seeded = await startServer(t, { profile: PROFILE, env: { DATABASE_URL: url } });
  await order(seeded, 'STRATEGY_A', 'GRASIM', 'BUY');
  await order(seeded, 'STRATEGY_X', 'ACC', 'BUY');
  await seeded.stop();
  const due = new Date(Date.now() + 8000);
  const at = due.toISOString().slice(11, 19);
  const schedule = {
    DATABASE_URL: url,
    SQUARE_OFF_AT: at,
    SQUARE_OFF_TZ: 'UTC',
    SQUARE_OFF_DAYS: 'sun,mon,tue,wed,thu,fri,sat',
  };
  const [a, b] = (await Promise.all(
    [0, 1].map(() => startServer(t, { profile: PROFILE, env: schedule })),
  )) as [Server, Server];
  const day = due.toISOString().slice(0, 10);
  await waitFor(
    'both instances to see the square-off in force',
    async () => {
      const views = await Promise.all([a, b].map((server) => getJson<StatesView>(server, '/state')));
      return views.every((view) => view.gate.state === 'CLOSE_ONLY');
    },
    60_000,
    200,
  );
  assert.deepEqual(await readPositions(a), []);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const offs = await client.query('SELECT day FROM square_offs');
    assert.deepEqual(
      offs.rows.map((row) => row.day),
      [day],
      'one square-off for the day',
    );
    const records = await client.query(
      "SELECT count(*)::integer AS n FROM changes WHERE kind = 'square-off'",
    );
    assert.equal(records.rows[0].n, 1, 'one square-off record');
    const sells = await client.query("SELECT count(*)::integer AS n FROM orders WHERE origin = 'square-off'");
    assert.equal(sells.rows[0].n, 2, 'one SELL per book that had positions');
    const trades = await client.query('SELECT count(*)::integer AS n FROM trades');
    assert.equal(trades.rows[0].n, 3, 'each of the three positions closed once');
  } finally {
    await client.end();
  }
  const refused = await order(b, 'STRATEGY_A', 'GRASIM', 'BUY');
  assert.equal(refused.reason, 'CLOSE_ONLY');
  const check = await runCli(['check', '--database-url', url]);
  assert.equal(check.code, 0, check.stdout);
  assert.match(check.stdout, /mismatches: 0/);
});
