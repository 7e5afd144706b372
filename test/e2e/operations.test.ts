// Operating the service: ordergate check and backup, careful start-up (corrupt files, newer schemas,
// a profile that contradicts open positions) and a graceful shutdown with orders in flight. On
// PostgreSQL (test/e2e/postgres/operations.test.ts) check replays the shared log and backup is a
// pg_dump archive; what only a SQLite file has (corruption, VACUUM INTO, a write lock held by another
// connection) is tested on SQLite only, and says so in its name.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import Database from 'better-sqlite3';
import {
  execSql,
  ownDatabaseUrl,
  queryNumber,
  schemaVersion,
  setSchemaVersion,
} from '../helpers/database.js';
import { postInFlight } from '../helpers/in-flight.js';
import { testOn, testStore } from '../helpers/postgres.js';
import { needs } from '../helpers/prerequisites.js';
import { get, post, runCli, type Server, startServer } from '../helpers/server.js';
import { waitFor, waitForOutput } from '../helpers/wait.js';

const PROFILE = {
  Ann: { S1: ['ACC', 'INFY'], S2: ['NTPC'] },
  Bob: { S1: ['ACC'] },
  Cy: { S2: ['NTPC', 'ACC'] },
};
const ORDERS: [string, string, string][] = [
  ['S1', 'ACC', 'BUY'],
  ['S2', 'NTPC', 'BUY'],
  ['S1', 'ACC', 'SELL'],
  ['S1', 'INFY', 'BUY'],
  ['S2', 'ACC', 'BUY'],
  ['S1', 'ACC', 'BUY'],
];

/** What check says of integrity: SQLite checks the file; PostgreSQL checks its own pages. */
const INTEGRITY = testStore() === 'sqlite' ? 'ok' : 'not checked \\(PostgreSQL checks its own pages\\)';
/** How long a server may take to stop accepting once it has been sent SIGTERM. */
const DRAIN_START_TIMEOUT_MS = 10_000;

async function placeAll(url: string) {
  for (const [strategy, instrument, position] of ORDERS) {
    const answer = await post(`${url}/orders`, { strategy, instrument, position });
    assert.equal(answer.status, 200);
  }
}

test('ordergate check replays a healthy log with no mismatch, beside a running server', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  const result = await runCli(['check', '--database-url', server.databaseUrl]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(
    result.stdout,
    new RegExp(`integrity ${INTEGRITY}; schema \\d+; 6 orders replayed over 1 profile versions`),
  );
  assert.match(result.stdout, /10 fills and 2 denials reproduced; 6 open positions; 2 trades; mismatches: 0/);
});

test('ordergate check finds a book that the log does not explain, and exits 1', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  await server.stop();
  await execSql(
    server.databaseUrl,
    "UPDATE positions SET order_id = 999 WHERE strategy = 'S1' AND instrument = 'INFY'",
    "DELETE FROM trades WHERE user_id = (SELECT user_id FROM users WHERE name = 'Bob')",
  );
  const result = await runCli(['check', '--database-url', server.databaseUrl]);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /MISMATCH open position S1 INFY .*stored order 999, the log says 4/);
  assert.match(result.stdout, /MISMATCH .*no trade records it/);
});

test('ordergate check follows the profile versions: an imported profile is replayed as it was', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  await server.stop();
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify({ ...PROFILE, Bob: { S1: ['INFY'] } }));
  await server.restart({ IMPORT_PROFILE: '1' });
  // Both stores say so at start: Bob keeps a position his new profile no longer gives.
  await waitForOutput(server, /1 open positions are not in the profile in force/);
  await placeAll(server.url);
  const result = await runCli(['check', '--database-url', server.databaseUrl, '--json']);
  assert.equal(result.code, 0, result.stdout);
  const report = JSON.parse(result.stdout);
  assert.equal(report.profileVersions, 2);
  assert.equal(report.orders, 12);
  assert.equal(report.mismatches, 0);
});

test('a SELL for holders who left the strategy answers the same after restarts, and check agrees', async (t) => {
  const server = await startServer(t, { profile: { A: { S: ['Y'] }, B: { S: ['X'] } } });
  await post(`${server.url}/orders`, { strategy: 'S', instrument: 'X', position: 'BUY' }); // opens B
  await server.stop();
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify({ A: { S: ['X'] }, B: { S: ['X'] } }));
  await server.restart({ IMPORT_PROFILE: '1' });
  await post(`${server.url}/orders`, { strategy: 'S', instrument: 'X', position: 'BUY' }); // opens A
  await server.stop();
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify({ C: { T: ['Z'] } }));
  await server.restart({ IMPORT_PROFILE: '1' });
  const sell = await post(`${server.url}/orders`, { strategy: 'S', instrument: 'X', position: 'SELL' });
  assert.deepEqual(
    sell.body.accepted.map((a: any) => a.user),
    ['A', 'B'],
    'holders who left the strategy, in user order (A was stored first), however the book was rebuilt',
  );
  const check = await runCli(['check', '--database-url', server.databaseUrl]);
  assert.equal(check.code, 0, check.stdout);
});

testOn(
  'sqlite',
  'ordergate backup writes a consistent, checked copy (VACUUM INTO) while orders go on, and never overwrites',
  {},
  async (t) => {
    const server = await startServer(t, { profile: PROFILE });
    await placeAll(server.url);
    const copy = join(server.dir, 'copy.db');
    const load = Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: i % 2 ? 'SELL' : 'BUY' }),
      ),
    );
    const backup = await runCli(['backup', copy, '--database-url', `sqlite:${server.dbPath}`]);
    await load;
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stdout, /written to .*copy\.db: \d+ bytes, \d+ orders, \d+ open positions, checked/);
    const check = await runCli(['check', '--database-url', `sqlite:${copy}`]);
    assert.equal(check.code, 0, check.stdout);
    const again = await runCli(['backup', copy, '--database-url', `sqlite:${server.dbPath}`]);
    assert.equal(again.code, 2, 'a PATH that exists is the user’s to change');
    assert.match(again.stderr, /already exists/);
  },
);

testOn(
  'postgres',
  'ordergate backup writes a pg_dump archive while orders go on; it restores into a database that check replays, and never overwrites',
  {},
  async (t) => {
    if (!needs(t, { commands: ['pg_dump', 'pg_restore'], purpose: 'the PostgreSQL backup test' })) return;
    const server = await startServer(t, { profile: PROFILE });
    await placeAll(server.url);
    const copy = join(server.dir, 'copy.dump');
    const load = Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: i % 2 ? 'SELL' : 'BUY' }),
      ),
    );
    const backup = await runCli(['backup', copy, '--database-url', server.databaseUrl]);
    const answers = await load;
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(
      backup.stdout,
      /written by pg_dump to .*copy\.dump: \d+ bytes, \d+ tables, read back with pg_restore --list/,
    );
    // Restored as the README says, into an empty database: a consistent snapshot that check replays.
    const restored = await ownDatabaseUrl(t, server.dir);
    const restore = await runProgram('pg_restore', ['--no-owner', '--dbname', restored, copy]);
    assert.equal(restore.code, 0, restore.stderr);
    const check = await runCli(['check', '--database-url', restored]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const orders = await queryNumber(restored, 'SELECT count(*) FROM orders');
    assert.ok(
      orders >= ORDERS.length && orders <= ORDERS.length + answers.length,
      `the copy holds the orders placed before it and some of those placed during it: ${orders}`,
    );
    const again = await runCli(['backup', copy, '--database-url', server.databaseUrl]);
    assert.equal(again.code, 2, 'a PATH that exists is the user’s to change');
    assert.match(again.stderr, /already exists/);
  },
);

testOn('sqlite', 'start-up refuses a corrupt database file and leaves it untouched', {}, async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await server.stop();
  const garbage = Buffer.from('this is not a database, but it is somebody’s file\n'.repeat(200));
  writeFileSync(server.dbPath, garbage);
  const start = await runCli(['serve'], { env: serverEnv(server) });
  assert.equal(start.code, 1);
  assert.match(start.stdout + start.stderr, /is not a usable SQLite database .* left untouched/);
  assert.deepEqual(readFileSync(server.dbPath), garbage);
});

test('start-up refuses a database from a newer ordergate and leaves it untouched', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  await server.stop();
  await setSchemaVersion(server.databaseUrl, 99);
  const start = await runCli(['serve'], { env: serverEnv(server) });
  assert.equal(start.code, 1);
  assert.match(start.stdout + start.stderr, /schema version 99, newer than this ordergate knows/);
  assert.equal(await schemaVersion(server.databaseUrl), 99);
  assert.equal(await queryNumber(server.databaseUrl, 'SELECT count(*) FROM orders'), ORDERS.length);
});

testOn('sqlite', 'SIGTERM answers the order in flight, refuses new ones, and exits 0', {}, async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  // Hold the write lock so that the next order is in flight, waiting for its commit.
  const blocker = new Database(server.dbPath);
  blocker.exec('BEGIN IMMEDIATE');
  const inFlight = postInFlight(`${server.url}/orders`, {
    strategy: 'S2',
    instrument: 'NTPC',
    position: 'SELL',
  });
  await inFlight.taken;
  const exited = server.stop('SIGTERM');
  await waitFor(
    'GET /health 503 or refused while draining',
    async () => {
      const refused = await fetch(`${server.url}/health`).then(
        (response) => response.status,
        () => 'connection refused',
      );
      return refused === 503 || refused === 'connection refused';
    },
    DRAIN_START_TIMEOUT_MS,
  );
  blocker.exec('ROLLBACK');
  blocker.close();
  const answer = await inFlight.answer;
  assert.equal(answer.status, 200, 'the order in flight was committed and answered');
  assert.equal(await exited, 0);
  assert.match(server.output(), /stopped cleanly/);
  await server.restart();
  const logged = await get(`${server.url}/orders/${answer.body.order_id}`);
  assert.deepEqual(logged.body, answer.body);
});

test('a log file that cannot be written drops log lines, never orders, and SIGTERM still exits 0', {
  timeout: 30_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-logfull-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'logs'));
  // Every write to /dev/full fails with ENOSPC: a full disk for the log alone.
  symlinkSync('/dev/full', join(dir, 'logs', `log_${new Date().toISOString().slice(0, 10)}.log`));
  // A database of the test's own: startServer keeps (and so never drops) the database of a folder it is given.
  const env = { DATABASE_URL: await ownDatabaseUrl(t, dir) };
  const server = await startServer(t, { dir, profile: PROFILE, env });
  for (const position of ['BUY', 'SELL', 'BUY']) {
    const answer = await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position });
    assert.equal(answer.status, 200);
  }
  await waitForOutput(server, /cannot write the log file \(ENOSPC\); log lines are dropped/);
  assert.equal((await get(`${server.url}/health`)).status, 200);
  assert.equal(await server.stop('SIGTERM'), 0);
});

/** The environment `server` ran with, to start it again by hand and see how start-up ends. */
function serverEnv(server: Server): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: server.databaseUrl,
    PROFILE_PATH: join(server.dir, 'profile.json'),
    LOG_DIR: join(server.dir, 'logs'),
  };
}

/** Runs a program of the machine (pg_restore) to completion. */
function runProgram(
  file: string,
  args: readonly string[],
): Promise<{ code: number | string | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 60_000 }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error.code as number | string | undefined) ?? null), stderr });
    });
  });
}
