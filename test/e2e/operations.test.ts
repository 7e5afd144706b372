// Operating the service: ordergate check and backup, careful start-up (corrupt files, newer schemas,
// a profile that contradicts open positions) and a graceful shutdown with orders in flight.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import Database from 'better-sqlite3';
import { get, post, runCli, startServer } from '../helpers/server.js';

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

async function placeAll(url: string) {
  for (const [strategy, instrument, position] of ORDERS) {
    const answer = await post(`${url}/orders`, { strategy, instrument, position });
    assert.equal(answer.status, 200);
  }
}

test('ordergate check replays a healthy log with no mismatch, beside a running server', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  const result = await runCli(['check', '--database-url', `sqlite:${server.dbPath}`]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /integrity ok; schema \d+; 6 orders replayed over 1 profile versions/);
  assert.match(result.stdout, /10 fills and 2 denials reproduced; 6 open positions; 2 trades; mismatches: 0/);
});

test('ordergate check finds a book that the log does not explain, and exits 1', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  await server.stop();
  const db = new Database(server.dbPath);
  db.prepare("UPDATE positions SET order_id = 999 WHERE strategy = 'S1' AND instrument = 'INFY'").run();
  db.prepare("DELETE FROM trades WHERE user_id = (SELECT user_id FROM users WHERE name = 'Bob')").run();
  db.close();
  const result = await runCli(['check', '--database-url', `sqlite:${server.dbPath}`]);
  assert.equal(result.code, 1);
  assert.match(result.stdout, /MISMATCH open position S1 INFY .*stored order 999, the log says 4/);
  assert.match(result.stdout, /MISMATCH .*no trade records it/);
});

test('ordergate check follows the profile versions: a changed profile is replayed as it was', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  await server.stop();
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify({ ...PROFILE, Bob: { S1: ['INFY'] } }));
  await server.restart();
  assert.match(
    server.output(),
    /1 open positions are not in the profile in force/,
    'Bob S1 ACC is close-only now',
  );
  await placeAll(server.url);
  const result = await runCli(['check', '--database-url', `sqlite:${server.dbPath}`, '--json']);
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
  await server.restart();
  await post(`${server.url}/orders`, { strategy: 'S', instrument: 'X', position: 'BUY' }); // opens A
  await server.stop();
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify({ C: { T: ['Z'] } }));
  await server.restart();
  const sell = await post(`${server.url}/orders`, { strategy: 'S', instrument: 'X', position: 'SELL' });
  assert.deepEqual(
    sell.body.accepted.map((a: any) => a.user),
    ['A', 'B'],
    'holders who left the strategy, in user order (A was stored first), however the book was rebuilt',
  );
  const check = await runCli(['check', '--database-url', `sqlite:${server.dbPath}`]);
  assert.equal(check.code, 0, check.stdout);
});

test('ordergate backup writes a consistent, checked copy while orders go on, and never overwrites', async (t) => {
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
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);
});

test('start-up refuses a corrupt database file and leaves it untouched', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await server.stop();
  const garbage = Buffer.from('this is not a database, but it is somebody’s file\n'.repeat(200));
  writeFileSync(server.dbPath, garbage);
  const start = await runCli(['serve'], { env: serverEnv(server.dir) });
  assert.equal(start.code, 1);
  assert.match(start.stdout + start.stderr, /is not a usable SQLite database .* left untouched/);
  assert.deepEqual(readFileSync(server.dbPath), garbage);
});

test('start-up refuses a database from a newer ordergate and leaves it untouched', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  await server.stop();
  const db = new Database(server.dbPath);
  db.pragma('user_version = 99');
  db.close();
  const start = await runCli(['serve'], { env: serverEnv(server.dir) });
  assert.equal(start.code, 1);
  assert.match(start.stdout + start.stderr, /schema version 99, newer than this ordergate knows/);
  const after = new Database(server.dbPath, { readonly: true });
  assert.equal(after.pragma('user_version', { simple: true }), 99);
  assert.equal(after.prepare('SELECT count(*) FROM orders').pluck().get(), ORDERS.length);
  after.close();
});

test('SIGTERM answers the order in flight, refuses new ones, and exits 0', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await placeAll(server.url);
  // Hold the write lock so that the next order is in flight, waiting for its commit.
  const blocker = new Database(server.dbPath);
  blocker.exec('BEGIN IMMEDIATE');
  const inFlight = post(`${server.url}/orders`, { strategy: 'S2', instrument: 'NTPC', position: 'SELL' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const exited = server.stop('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const refused = await fetch(`${server.url}/health`).then(
    (response) => response.status,
    () => 'connection refused',
  );
  assert.ok(refused === 503 || refused === 'connection refused', `health while draining: ${refused}`);
  blocker.exec('ROLLBACK');
  blocker.close();
  const answer = await inFlight;
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
  const server = await startServer(t, { dir, profile: PROFILE });
  for (const position of ['BUY', 'SELL', 'BUY']) {
    const answer = await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position });
    assert.equal(answer.status, 200);
  }
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the log is flushed once a second
  assert.equal((await get(`${server.url}/health`)).status, 200);
  assert.equal(await server.stop('SIGTERM'), 0);
  assert.match(server.output(), /cannot write the log file \(ENOSPC\); log lines are dropped/);
});

function serverEnv(dir: string): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${join(dir, 'ordergate.db')}`,
    PROFILE_PATH: join(dir, 'profile.json'),
    LOG_DIR: join(dir, 'logs'),
  };
}
