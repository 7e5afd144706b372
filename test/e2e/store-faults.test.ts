// Real store faults against a real server process, no mock of the store: a full disk (a small tmpfs
// filled with dd), fsync failing with EIO (strace fault injection on the running process), the database
// locked by another connection, and the database files removed under the running server.
// For each fault: what could not commit gets 503 STORE_UNAVAILABLE naming the cause (never a 500, and
// never a 200 for what is not on disk); the book and the order log stay exactly what the acknowledged
// answers imply; the process stays up and answers /health; and it recovers by itself once the fault
// is gone, across a kill -9 and a restart too.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { linkSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import Database from 'better-sqlite3';
import { replay } from '../helpers/model.js';
import { cannotRun, needs } from '../helpers/prerequisites.js';
import { type Server, startServer } from '../helpers/server.js';
import { attachStrace, haveStrace, stopStrace } from '../helpers/strace.js';
import { waitFor } from '../helpers/wait.js';
import {
  type ClientOrder,
  type LoggedOrder,
  type Profile,
  postOrder,
  readLog,
  readPositions,
  readTrades,
} from '../helpers/wire.js';

const TEST_TIMEOUT_MS = 180_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** How long the server may take to recover once a fault is gone. */
const RECOVERY_TIMEOUT_MS = 15_000;
const READ = { timeoutMs: REQUEST_TIMEOUT_MS } as const;

/** Thirty users on one strategy and twenty instruments: every order writes thirty decisions (many pages). */
const WIDE_USERS = Array.from({ length: 30 }, (_, i) => `Trader ${String(i + 1).padStart(2, '0')}`);
const WIDE_INSTRUMENTS = Array.from({ length: 20 }, (_, i) => `INS${String(i + 1).padStart(2, '0')}`);
const WIDE_PROFILE: Profile = Object.fromEntries(
  WIDE_USERS.map((user) => [user, { STRATEGY_A: [...WIDE_INSTRUMENTS] }]),
);

/** A small profile with overlapping subscriptions, for the faults that need few orders. */
const SMALL_PROFILE: Profile = {
  'Asha Rao': { STRATEGY_A: ['GRASIM', 'EICHER', 'ACC'], STRATEGY_B: ['MINDA'] },
  'Bilal Khan': { STRATEGY_A: ['GRASIM', 'MINDA'] },
  'Chen Wei': { STRATEGY_A: ['EICHER', 'ACC'], STRATEGY_B: ['MINDA', 'ACC'] },
};

interface Answer {
  readonly status: number;
  readonly body: Record<string, any>;
}

// ---------------------------------------------------------------------------------------------------
// Processes, HTTP and polling

function run(
  file: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<{ code: number | string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({
        code: error === null ? 0 : ((error.code as number | string | undefined) ?? null),
        stdout,
        stderr,
      });
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function place(server: Server, order: ClientOrder): Promise<Answer> {
  const { status, text } = await postOrder(server, order, { timeoutMs: REQUEST_TIMEOUT_MS });
  let body: Record<string, any>;
  try {
    body = JSON.parse(text) as Record<string, any>;
  } catch {
    body = { text };
  }
  return { status, body };
}

/** The process is up and answers /health: 200 ready, or 503 NOT_READY while it recovers. */
async function assertAnswersHealth(server: Server): Promise<void> {
  assert.ok(isAlive(server.pid), `the server process ${server.pid} died:\n${server.output()}`);
  const response = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status === 200) return assert.equal(body.status, 'ready');
  assert.equal(response.status, 503, `GET /health: ${response.status} ${JSON.stringify(body)}`);
  assert.equal(body.error, 'NOT_READY');
}

/** Polls GET /health until its answer (status and body) satisfies `ok`. */
async function waitHealth(
  server: Server,
  what: string,
  ok: (status: number, body: Record<string, any>) => boolean,
): Promise<void> {
  await waitFor(
    what,
    async () => {
      const response = await fetch(`${server.url}/health`, {
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = (await response.json()) as Record<string, any>;
      if (ok(response.status, body)) return true;
      throw new Error(`GET /health ${response.status} ${JSON.stringify(body)}`);
    },
    RECOVERY_TIMEOUT_MS,
  );
}

/** Polls GET /health until it is 200 again. */
function waitHealthy(server: Server): Promise<void> {
  return waitHealth(server, 'GET /health 200', (status) => status === 200);
}

/** A 503 STORE_UNAVAILABLE whose message names the cause. */
function assertUnavailable(order: ClientOrder, answer: Answer, cause: RegExp): void {
  const what = `${JSON.stringify(order)} answered ${answer.status} ${JSON.stringify(answer.body)}`;
  assert.equal(answer.status, 503, what);
  assert.equal(answer.body.error, 'STORE_UNAVAILABLE', what);
  assert.equal(typeof answer.body.message, 'string', what);
  assert.match(answer.body.message, cause, what);
}

// ---------------------------------------------------------------------------------------------------
// The independent model: replays the acknowledged answers and checks each one against the rules

/** Every order sent with its answer; the model believes only the 200s. */
class Ledger {
  readonly acknowledged = new Map<string, LoggedOrder>();
  readonly refused = new Set<string>();
  #next = 0;

  constructor(readonly prefix: string) {}

  order(strategy: string, instrument: string, position: 'BUY' | 'SELL'): ClientOrder {
    return { strategy, instrument, position, client_order_id: `${this.prefix}-${++this.#next}` };
  }

  /** Sends an order that must succeed. */
  async placeOk(server: Server, order: ClientOrder): Promise<LoggedOrder> {
    const answer = await place(server, order);
    assert.equal(
      answer.status,
      200,
      `${JSON.stringify(order)} answered ${answer.status} ${JSON.stringify(answer.body)}`,
    );
    return this.record(order, answer)!;
  }

  /** Records an answer: a 200 is acknowledged, anything else must have applied nothing. */
  record(order: ClientOrder, answer: Answer): LoggedOrder | undefined {
    if (answer.status !== 200) {
      this.refused.add(order.client_order_id);
      return undefined;
    }
    const logged = answer.body as LoggedOrder;
    assert.equal(logged.client_order_id, order.client_order_id);
    this.acknowledged.set(order.client_order_id, logged);
    return logged;
  }

  /** Polls with fresh orders until one is acknowledged: the server recovered by itself. */
  async waitAcknowledged(server: Server, make: () => ClientOrder): Promise<LoggedOrder> {
    return waitFor(
      'an order acknowledged again',
      async () => {
        const order = make();
        const answer = await place(server, order);
        if (answer.status !== 200) {
          assert.equal(
            answer.status,
            503,
            `${JSON.stringify(order)}: ${answer.status} ${JSON.stringify(answer.body)}`,
          );
          assert.equal(answer.body.error, 'STORE_UNAVAILABLE');
        }
        return this.record(order, answer);
      },
      RECOVERY_TIMEOUT_MS,
    );
  }
}

/**
 * Replays the acknowledged answers in order_id order from an empty book on the independent model
 * (test/helpers/model.ts), checks that each decision is what the rules give on that book (so no refused
 * order left a trace in memory), and returns the open positions and the closed round trips they imply.
 */
function replayAcknowledged(
  profile: Profile,
  answers: Iterable<LoggedOrder>,
): { positions: string[]; trades: string[] } {
  const sorted = [...answers].sort((a, b) => a.order_id - b.order_id);
  for (let i = 1; i < sorted.length; i++)
    assert.notEqual(
      sorted[i]!.order_id,
      sorted[i - 1]!.order_id,
      'two acknowledged orders share an order_id',
    );
  const users = (items: readonly { user: string }[]) => items.map((item) => item.user).sort();
  const model = replay(profile, sorted, (order, expected) => {
    const { strategy, instrument, position } = order;
    const what = `order ${order.order_id} (${order.client_order_id}: ${position} ${strategy} ${instrument})`;
    assert.deepEqual(users(order.accepted), users(expected.accepted), `${what}: accepted`);
    assert.equal(order.status, expected.status, `${what}: status`);
    assert.deepEqual(users(order.rejected), users(expected.rejected), `${what}: rejected`);
    if (position === 'SELL') {
      for (const fill of order.accepted) {
        const closes = expected.accepted.find((e) => e.user === fill.user)?.buy_order_id;
        assert.equal(fill.buy_order_id, closes, `${what}: ${fill.user} closes the BUY that opened it`);
      }
    }
  });
  return {
    positions: model
      .positions()
      .map((p) => `${p.strategy}|${p.instrument}|${p.user}|${p.order_id}`)
      .sort(),
    trades: model.trades
      .map((t) => `${t.strategy}|${t.instrument}|${t.user}|${t.buy_order_id}|${t.sell_order_id}`)
      .sort(),
  };
}

/** The server's book and log equal exactly what the acknowledged answers imply; no refused order is logged. */
async function assertBookMatches(
  server: Server,
  profile: Profile,
  ledger: Ledger,
  when: string,
): Promise<void> {
  const log = await readLog(server, READ);
  const logged = new Map<string, LoggedOrder>();
  for (const entry of log) {
    assert.ok(entry.client_order_id !== null, `${when}: order ${entry.order_id} was not sent by this test`);
    assert.ok(
      !ledger.refused.has(entry.client_order_id),
      `${when}: order ${entry.order_id} (${entry.client_order_id}) was answered with an error but is in the log`,
    );
    logged.set(entry.client_order_id, entry);
  }
  for (const [id, answer] of ledger.acknowledged)
    assert.deepEqual(logged.get(id), answer, `${when}: acknowledged order ${id} is in the log as answered`);
  assert.equal(
    log.length,
    ledger.acknowledged.size,
    `${when}: the log holds exactly the acknowledged orders`,
  );

  const model = replayAcknowledged(profile, ledger.acknowledged.values());
  const positions = (await readPositions(server, READ))
    .map((p) => `${p.strategy}|${p.instrument}|${p.user}|${p.order_id}`)
    .sort();
  assert.deepEqual(positions, model.positions, `${when}: GET /positions equals the replayed answers`);
  const trades = (await readTrades(server, READ))
    .map((t) => `${t.strategy}|${t.instrument}|${t.user}|${t.buy_order_id}|${t.sell_order_id}`)
    .sort();
  assert.deepEqual(trades, model.trades, `${when}: GET /trades equals the replayed answers`);
}

/** kill -9, start again on the same database, and check that everything acknowledged is there. */
async function crashAndCheck(server: Server, profile: Profile, ledger: Ledger): Promise<void> {
  await server.kill();
  await server.restart();
  await waitHealthy(server);
  await assertBookMatches(server, profile, ledger, 'after kill -9 and restart');
}

// ---------------------------------------------------------------------------------------------------
// The faults

test('disk full: orders that do not fit get 503, the book stays on disk, and it recovers', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  if (!needs(t, { commands: ['mount', 'umount', 'dd'], root: true, purpose: 'the disk-full test' })) return;
  const mountPoint = mkdtempSync(join(tmpdir(), 'ordergate-full-'));
  const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint]);
  if (mounted.code !== 0) {
    rmSync(mountPoint, { recursive: true, force: true });
    cannotRun(
      t,
      `cannot mount a tmpfs here (${mounted.stderr.trim() || mounted.code})`,
      'the disk-full test needs root allowed to mount (CAP_SYS_ADMIN; not an unprivileged container)',
    );
    return;
  }
  let server: Server | undefined;
  t.after(async () => {
    await server?.kill();
    if ((await run('umount', [mountPoint])).code !== 0) await run('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  // The database on the tmpfs; the profile and the logs stay in the helper's folder on the real disk.
  server = await startServer(t, {
    profile: WIDE_PROFILE,
    env: { DATABASE_URL: `sqlite:${join(mountPoint, 'ordergate.db')}` },
  });
  const s = server;
  const ledger = new Ledger('full');
  const held = WIDE_INSTRUMENTS.slice(0, 8);
  const free = WIDE_INSTRUMENTS.slice(8);
  for (const instrument of held) await ledger.placeOk(s, ledger.order('STRATEGY_A', instrument, 'BUY'));
  await assertBookMatches(s, WIDE_PROFILE, ledger, 'before the fault');

  const filler = join(mountPoint, 'filler');
  const filled = await run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k']);
  assert.match(filled.stderr, /No space left on device/, `dd should fill the tmpfs: ${filled.stderr}`);

  // Waves of concurrent orders that would each write thirty decisions: SELLs closing held positions
  // and BUYs opening new ones. Each is acknowledged only if it still fit, else refused with 503.
  const statuses: Record<number, number> = {};
  let firstRefusal: Answer | undefined;
  for (let wave = 0; wave < 3; wave++) {
    const orders = [
      ...held.map((instrument) => ledger.order('STRATEGY_A', instrument, 'SELL')),
      ...free.map((instrument) => ledger.order('STRATEGY_A', instrument, 'BUY')),
    ];
    const answers = await Promise.all(orders.map((order) => place(s, order)));
    answers.forEach((answer, i) => {
      const order = orders[i]!;
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (answer.status !== 200) {
        assertUnavailable(order, answer, /SQLITE_FULL|disk is full/);
        firstRefusal ??= answer;
      }
      ledger.record(order, answer);
    });
    await assertAnswersHealth(s);
    await assertBookMatches(s, WIDE_PROFILE, ledger, `disk full, after wave ${wave + 1}`);
  }
  t.diagnostic(`disk full: answers by status ${JSON.stringify(statuses)}`);
  t.diagnostic(`disk full: first 503 ${JSON.stringify(firstRefusal?.body)}`);
  assert.ok((statuses[503] ?? 0) > 0, 'with the disk full at least one order must be refused');
  // Recovery erases the failed commit from the WAL with a checkpoint, which needs space: until the
  // disk has room the store stays not-ready (reads still work), and says why.
  const health = await fetch(`${s.url}/health`);
  assert.equal(health.status, 503, 'not ready while the disk is full');
  assert.match(((await health.json()) as { message: string }).message, /retrying every second/);
  await assertBookMatches(s, WIDE_PROFILE, ledger, 'disk full, reads still answer');

  // The fault is gone: the server recovers by itself.
  rmSync(filler);
  let n = 0;
  await ledger.waitAcknowledged(s, () => ledger.order('STRATEGY_A', WIDE_INSTRUMENTS[n++ % 20]!, 'BUY'));
  const after = [
    ...held.map((instrument) => ledger.order('STRATEGY_A', instrument, 'SELL')),
    ...free.map((instrument) => ledger.order('STRATEGY_A', instrument, 'BUY')),
  ];
  await Promise.all(after.map((order) => ledger.placeOk(s, order)));
  await waitHealthy(s);
  await assertBookMatches(s, WIDE_PROFILE, ledger, 'after the filler was removed');
  await crashAndCheck(s, WIDE_PROFILE, ledger);
});

test('fsync fails (EIO injected by strace): every order in the window gets 503, then it recovers', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  if (!haveStrace(t, 'the fsync fault test')) return;
  const server = await startServer(t, { profile: SMALL_PROFILE });
  const ledger = new Ledger('fsync');
  await ledger.placeOk(server, ledger.order('STRATEGY_A', 'GRASIM', 'BUY'));
  await ledger.placeOk(server, ledger.order('STRATEGY_B', 'MINDA', 'BUY'));
  const before = await readPositions(server, READ);

  const strace = await attachStrace(t, server.pid, ['-e', 'inject=fsync,fdatasync:error=EIO']);
  const window = [
    ledger.order('STRATEGY_A', 'EICHER', 'BUY'),
    ledger.order('STRATEGY_A', 'GRASIM', 'SELL'),
    ledger.order('STRATEGY_B', 'MINDA', 'SELL'),
    ledger.order('STRATEGY_B', 'ACC', 'BUY'),
    ledger.order('STRATEGY_A', 'ACC', 'BUY'),
  ];
  // One order alone, then the rest concurrently, then once more after the store has reset.
  const answers: Answer[] = [await place(server, window[0]!)];
  answers.push(...(await Promise.all(window.slice(1).map((order) => place(server, order)))));
  // The store has reset since: ready again, or its reset failed too and is retried each second (the
  // reset's checkpoint may need an fsync of its own), no longer the failed commit's 503.
  await waitHealth(
    server,
    'GET /health: the store reset after the failed commits',
    (status, body) => status === 200 || /waiting for the database .*retrying every second/.test(body.message),
  );
  const last = ledger.order('STRATEGY_A', 'MINDA', 'BUY');
  window.push(last);
  answers.push(await place(server, last));
  answers.forEach((answer, i) => {
    assertUnavailable(window[i]!, answer, /SQLITE_IOERR|I\/O error/);
    ledger.record(window[i]!, answer);
  });
  t.diagnostic(`fsync: first 503 ${JSON.stringify(answers[0]?.body)}`);
  await assertAnswersHealth(server);
  assert.deepEqual(
    await readPositions(server, READ),
    before,
    'GET /positions unchanged by the refused orders',
  );
  await assertBookMatches(server, SMALL_PROFILE, ledger, 'fsync failing');

  await stopStrace(strace);
  assert.ok(isAlive(server.pid), 'the server survives strace detaching');
  const again = ['EICHER', 'ACC', 'MINDA'];
  let n = 0;
  await ledger.waitAcknowledged(server, () => ledger.order('STRATEGY_A', again[n++ % 3]!, 'BUY'));
  await waitHealthy(server);
  await assertBookMatches(server, SMALL_PROFILE, ledger, 'after strace detached');
  await crashAndCheck(server, SMALL_PROFILE, ledger);
});

// A commit whose fsync fails has already written its frames, commit marker included, to the WAL; only
// the shared WAL index is left unchanged, so the running server does not see them. A crash before they
// are erased lets WAL recovery at the next start replay them. The store erases them (a TRUNCATE
// checkpoint) before it recovers; while the fault lasts it cannot, and the 503 must say so.
test('fsync fails, then recovery, then kill -9: the refused order never resurfaces', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  if (!haveStrace(t, 'the fsync fault test')) return;
  const server = await startServer(t, { profile: SMALL_PROFILE });
  const ledger = new Ledger('fsync-recovered');
  await ledger.placeOk(server, ledger.order('STRATEGY_A', 'GRASIM', 'BUY'));

  const strace = await attachStrace(t, server.pid, ['-e', 'inject=fsync,fdatasync:error=EIO']);
  const order = ledger.order('STRATEGY_A', 'EICHER', 'BUY');
  const answer = await place(server, order);
  assertUnavailable(order, answer, /SQLITE_IOERR|I\/O error/);
  ledger.record(order, answer);
  await stopStrace(strace);
  await waitHealthy(server);
  // Recovered: the failed commit's frames are gone, so a crash now cannot bring them back.
  await server.kill();
  await server.restart();
  await waitHealthy(server);
  await assertBookMatches(server, SMALL_PROFILE, ledger, 'after recovery, kill -9 and restart');
});

test('fsync fails and the crash comes while the fault lasts: the 503 said the outcome is unknown', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  if (!haveStrace(t, 'the fsync fault test')) return;
  const server = await startServer(t, { profile: SMALL_PROFILE });
  const ledger = new Ledger('fsync-crash');
  await ledger.placeOk(server, ledger.order('STRATEGY_A', 'GRASIM', 'BUY'));

  const strace = await attachStrace(t, server.pid, ['-e', 'inject=fsync,fdatasync:error=EIO']);
  const order = ledger.order('STRATEGY_A', 'EICHER', 'BUY');
  const answer = await place(server, order);
  assertUnavailable(order, answer, /SQLITE_IOERR|I\/O error/);
  assert.match(answer.body.message, /may reappear: retry with the same client_order_id/, 'the 503 is honest');
  await server.kill();
  await stopStrace(strace);
  await server.restart();
  await waitHealthy(server);
  // Either outcome is allowed; a retry with the same id tells which, and never applies it twice.
  const retry = await place(server, order);
  assert.equal(retry.status, 200, JSON.stringify(retry.body));
  ledger.record(order, retry);
  const again = await place(server, order);
  assert.equal(again.body.order_id, retry.body.order_id, 'a second retry is answered from the log');
  await assertBookMatches(server, SMALL_PROFILE, ledger, 'after kill -9, restart and retry');
});

test('database locked by another connection: 503 after the busy timeout, then it recovers', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const server = await startServer(t, { profile: SMALL_PROFILE });
  const ledger = new Ledger('locked');
  await ledger.placeOk(server, ledger.order('STRATEGY_A', 'GRASIM', 'BUY'));
  const before = await readPositions(server, READ);

  const locker = new Database(server.dbPath);
  t.after(() => {
    if (!locker.open) return;
    if (locker.inTransaction) locker.exec('ROLLBACK');
    locker.close();
  });
  locker.pragma('busy_timeout = 30000');
  locker.exec('BEGIN IMMEDIATE');
  const orders = [ledger.order('STRATEGY_A', 'EICHER', 'BUY'), ledger.order('STRATEGY_A', 'GRASIM', 'SELL')];
  const answers = await Promise.all(orders.map((order) => place(server, order)));
  answers.forEach((answer, i) => {
    assertUnavailable(orders[i]!, answer, /SQLITE_BUSY|locked/);
    ledger.record(orders[i]!, answer);
  });
  t.diagnostic(`locked: 503 ${JSON.stringify(answers[0]?.body)}`);
  await assertAnswersHealth(server);
  assert.deepEqual(
    await readPositions(server, READ),
    before,
    'GET /positions unchanged by the refused orders',
  );

  locker.exec('ROLLBACK');
  locker.close();
  const again = ['EICHER', 'ACC'];
  let n = 0;
  await ledger.waitAcknowledged(server, () => ledger.order('STRATEGY_A', again[n++ % 2]!, 'BUY'));
  await ledger.placeOk(server, ledger.order('STRATEGY_A', 'GRASIM', 'SELL'));
  await waitHealthy(server);
  await assertBookMatches(server, SMALL_PROFILE, ledger, 'after the lock was released');
  await crashAndCheck(server, SMALL_PROFILE, ledger);
});

test('database files removed under the server: 503, and nothing acknowledged is lost once restored', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const server = await startServer(t, { profile: SMALL_PROFILE });
  const ledger = new Ledger('removed');
  await ledger.placeOk(server, ledger.order('STRATEGY_A', 'GRASIM', 'BUY'));
  await ledger.placeOk(server, ledger.order('STRATEGY_B', 'MINDA', 'BUY'));

  // Remove the names (like an operator's mistaken rm or mv), keeping the files aside with a hard link
  // so that they can be put back: the server's open handles now point at files with no name here.
  const files = ['', '-wal', '-shm'].map((suffix) => `${server.dbPath}${suffix}`);
  const present = files.filter((file) => readdirSync(server.dir).includes(file.slice(server.dir.length + 1)));
  for (const file of present) {
    linkSync(file, `${file}.aside`);
    rmSync(file);
  }
  const order = ledger.order('STRATEGY_A', 'EICHER', 'BUY');
  const answer = await place(server, order);
  ledger.record(order, answer);
  t.diagnostic(`removed: ${answer.status} ${JSON.stringify(answer.body)}`);
  await assertAnswersHealth(server);
  assertUnavailable(order, answer, /removed|missing|no longer|deleted|not found|ENOENT|inode/i);

  for (const file of present) renameSync(`${file}.aside`, file);
  let n = 0;
  const again = ['EICHER', 'ACC'];
  await ledger.waitAcknowledged(server, () => ledger.order('STRATEGY_A', again[n++ % 2]!, 'BUY'));
  await waitHealthy(server);
  await assertBookMatches(server, SMALL_PROFILE, ledger, 'after the files were restored');
  await crashAndCheck(server, SMALL_PROFILE, ledger);
});
