// The write-ahead log stays bounded under sustained load (issue 11, point 5). A real server takes orders
// from concurrent clients while the test samples its -wal file: the file's size, and the checkpoint
// sequence number in the WAL header, which SQLite increments each time the log starts again from the
// beginning of the file (a reset). Under load the file fills up to WAL_BYTES_MAX, is reset soon past it
// and trimmed back to it, and never grows more than WAL_OVERSHOOT_BYTES_MAX and a commit beyond it;
// once the load stops it is truncated to nothing. A reader holding one snapshot (what `ordergate check`
// does) keeps the log from being reset: the file grows while the orders go on, the server says why,
// and the log is reset as soon as the reader ends.

import assert from 'node:assert/strict';
import test from 'node:test';
import Database from 'better-sqlite3';
import { WAL_BYTES_MAX } from '../../src/store/sqlite/writer-protocol.js';
import { startLoad } from '../helpers/order-load.js';
import { runCli, type Server, startServer } from '../helpers/server.js';
import { mib, sampleWal, WAL_PEAK_BYTES_MAX, watchWal } from '../helpers/wal-file.js';
import type { Profile } from '../helpers/wire.js';

const TEST_TIMEOUT_MS = 180_000;
const RESETS_WANTED = 3;
const LOAD_TIMEOUT_MS = 90_000;
const IDLE_TIMEOUT_MS = 15_000;
const CLIENTS = 16;

/** 60 users on three strategies of eight instruments each: every order fills or denies all 60. */
const USERS = Array.from({ length: 60 }, (_, i) => `Trader ${String(i + 1).padStart(2, '0')}`);
const INSTRUMENTS = ['GRASIM', 'EICHER', 'ACC', 'MINDA', 'L&T', 'BAJAJ-AUTO', 'M&M', 'TATA STEEL'];
const PROFILE: Profile = Object.fromEntries(
  USERS.map((user) => [user, { ALPHA: INSTRUMENTS, BETA: INSTRUMENTS, GAMMA: INSTRUMENTS }]),
);

async function waitForEmptyWal(server: Server): Promise<void> {
  const deadline = Date.now() + IDLE_TIMEOUT_MS;
  while (sampleWal(server).bytes > 0) {
    if (Date.now() > deadline) assert.fail(`the WAL is still ${sampleWal(server).bytes} bytes with no load`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('under steady load the WAL fills up to WAL_BYTES_MAX, is reset each time past it, never more than WAL_OVERSHOOT_BYTES_MAX and a commit beyond it, and is truncated once the load stops', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const started = performance.now();
  const load = startLoad(server, PROFILE, CLIENTS, 11);
  let seen: Awaited<ReturnType<typeof watchWal>>;
  try {
    seen = await watchWal(
      server,
      `${RESETS_WANTED} resets of the WAL`,
      LOAD_TIMEOUT_MS,
      (watch) => watch.fullResets >= RESETS_WANTED,
    );
  } finally {
    await load.stop();
  }
  t.diagnostic(
    `${load.acknowledged.size} orders in ${((performance.now() - started) / 1000).toFixed(1)} s, ${seen.fullResets} resets, peak WAL ${mib(seen.peak)}, ` +
      `${seen.sizes.filter((bytes) => bytes === WAL_BYTES_MAX).length} of ${seen.sizes.length} samples at the limit exactly`,
  );
  assert.deepEqual(load.refused.slice(0, 3), [], 'every order is answered 200');
  assert.ok(seen.peak <= WAL_PEAK_BYTES_MAX, `peak WAL ${mib(seen.peak)}`);
  // At the limit: after a reset the next commit trims a file that outgrew it back to WAL_BYTES_MAX.
  assert.ok(seen.sizes.includes(WAL_BYTES_MAX), 'the file is trimmed back to WAL_BYTES_MAX exactly');
  await waitForEmptyWal(server);
  const check = await runCli(['check', '--database-url', `sqlite:${server.dbPath}`]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.equal(await server.stop('SIGTERM'), 0);
});

test('a reader holding one snapshot keeps the WAL from being reset: it grows past the limit while orders go on, the server says why, and it is reset once the reader ends', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  // What ordergate check does: one read transaction over the whole run.
  const reader = new Database(server.dbPath, { readonly: true });
  t.after(() => reader.close());
  reader.exec('BEGIN');
  reader.prepare('SELECT count(*) FROM orders').pluck().get();
  const load = startLoad(server, PROFILE, CLIENTS, 12);
  try {
    const held = await watchWal(
      server,
      'the WAL growing past the limit under the reader',
      LOAD_TIMEOUT_MS,
      (_watch, last) => last.bytes > WAL_PEAK_BYTES_MAX + 16 * 1024 * 1024,
    );
    assert.equal(held.fullResets, 0, 'no reset while the reader holds its snapshot');
    assert.match(server.output(), /write-ahead log is \d+ MiB, over WAL_BYTES_MAX .*reader/);
    reader.exec('COMMIT');
    const after = await watchWal(
      server,
      'a reset once the reader ended',
      LOAD_TIMEOUT_MS,
      (watch, last) => watch.fullResets >= 1 && last.bytes <= WAL_BYTES_MAX,
    );
    t.diagnostic(`held WAL peak ${mib(held.peak)}, back to ${mib(after.sizes.at(-1)!)} after the reader`);
  } finally {
    await load.stop();
  }
  assert.deepEqual(load.refused.slice(0, 3), [], 'every order is answered 200, also under the reader');
  await waitForEmptyWal(server);
});
