// Real network and server faults between ordergate and PostgreSQL, against real server processes and
// the machine's PostgreSQL, no mock: a TCP proxy of the test's own (test/helpers/tcp-proxy.ts) sits
// between them and drops every connection for 2 s or stalls them for longer than the query timeout;
// backends are killed with pg_terminate_backend, idle ones and then all of them under load (what a
// PostgreSQL restart does to its connections: the machine's server itself is never restarted); one of
// two instances on the same database is killed with SIGKILL under load; the server is started with
// PostgreSQL refusing, resetting or never answering connections.
// Under load: every order answers 200 or 503 within a bound (never a 500, never a hang); /health is
// 503 NOT_READY while PostgreSQL is out of reach and 200 again by itself within seconds once it is
// back; a retry of every order not acknowledged, with its client_order_id, applies it at most once;
// the log holds exactly the acknowledged answers, `ordergate check` replays it without a mismatch, and
// the independent model (test/helpers/model.ts) agrees with every logged decision and with the book.
// FAULTS_SEED (default random, printed) replays the orders drawn, not the interleaving of the clients.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import test, { type TestContext } from 'node:test';
import pg from 'pg';
import { QUERY_TIMEOUT_MS } from '../../src/store/postgres/connection.js';
import { byUser, replay } from '../helpers/model.js';
import { createDatabase, dropDatabase, uniqueDatabaseName } from '../helpers/postgres.js';
import { pick, prng } from '../helpers/random.js';
import { runCli, type Server, startServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor as waitForCondition, waitForOutput } from '../helpers/wait.js';
import {
  type ClientOrder,
  type LoggedOrder,
  type Profile,
  postOrder,
  readLog,
  readPositions,
  readTrades,
} from '../helpers/wire.js';

const TEST_TIMEOUT_MS = 120_000;
/**
 * The longest an order may take whatever the fault: a wait for a pooled connection (3 s), then one
 * statement stuck until the client's query timeout, and a margin for a loaded machine.
 */
const ANSWER_BOUND_MS = 3_000 + QUERY_TIMEOUT_MS + 2_000;
/** A request still unanswered after this long is a hang: the test records it and fails. */
const HANG_MS = ANSWER_BOUND_MS + 15_000;
/** /health turns 503 once PostgreSQL is out of reach: the next probe (every second) or failed order sees it. */
const NOT_READY_BOUND_MS = 3_000;
/**
 * A stall shows only when something times out: a new connection after 3 s (or a statement after the query
 * timeout); the probe that sees it runs every second.
 */
const STALL_NOT_READY_BOUND_MS = 3_000 + 1_000 + 1_000;
/** /health turns 200 by itself once PostgreSQL is reachable again. */
const READY_BOUND_MS = 5_000;
/**
 * A drop lasts until it has shown (/health 503, an order refused, the orders in flight answered, a
 * reconnection refused): this long at most.
 */
const DROP_SHOWN_WITHIN_MS = NOT_READY_BOUND_MS + 5_000;
/** An order in flight when PostgreSQL stalls ends (503) this long after, at the latest: its statement timed out. */
const STALLED_ORDER_BOUND_MS = QUERY_TIMEOUT_MS + 2_000;
/**
 * A stall lasts until every order in flight has ended: well past the bound, so that an order that waited
 * for anything more than its one stuck statement shows as answered late, before the stall ends under it.
 */
const STALL_SHOWN_WITHIN_MS = STALLED_ORDER_BOUND_MS + 4_000;
/** How long PostgreSQL may take to notice a killed client and end its sessions, or the pool to reconnect. */
const SESSIONS_TIMEOUT_MS = 10_000;
const CLIENTS = 6;
/** A client that got a 503 waits this long before its next order (it would otherwise spin). */
const BACKOFF_MS = 100;
const HEALTH_POLL_MS = 50;
const READ = { timeoutMs: 30_000 } as const;
const SEED = Number(process.env.FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 32));

const INSTRUMENTS = ['GRASIM', 'EICHER', 'ACC', 'MINDA', 'L&T'];
/** Eight users over three strategies (and one strategy no one trades): few books, so orders collide on them. */
const PROFILE: Profile = Object.fromEntries(
  Array.from({ length: 8 }, (_, i) => [
    `Trader ${i + 1}`,
    {
      STRATEGY_A: INSTRUMENTS.filter((_, j) => (i + j) % 2 === 0),
      STRATEGY_B: INSTRUMENTS.filter((_, j) => (i + j) % 3 !== 0),
      ...(i % 2 === 0 ? { STRATEGY_C: INSTRUMENTS.slice(0, 2) } : {}),
    },
  ]),
);
const STRATEGIES = ['STRATEGY_A', 'STRATEGY_B', 'STRATEGY_C', 'STRATEGY_Z'];

// ---------------------------------------------------------------------------------------------------
// Time, polling and the database

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls a condition every HEALTH_POLL_MS (the shared helper, at the pace of this file's health watch). */
function waitFor<T>(
  what: string,
  attempt: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
) {
  return waitForCondition(what, attempt, timeoutMs, HEALTH_POLL_MS);
}

/**
 * pg_terminate_backend on every other connection to the database (the function in the select list,
 * so that the WHERE clause has excluded this connection first); returns the states they were in and
 * the process ids.
 */
async function terminateBackends(
  admin: pg.Client,
  database: string,
): Promise<{ state: string; pid: number }[]> {
  const result = await admin.query<{ state: string | null; pid: number; terminated: boolean }>(
    `SELECT state, pid, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
      WHERE datname = $1 AND pid <> pg_backend_pid()`,
    [database],
  );
  return result.rows
    .filter((row) => row.terminated)
    .map((row) => ({ state: row.state ?? 'unknown', pid: row.pid }));
}

/** The other sessions on the database, as pg_stat_activity shows them now. */
async function sessionsOf(
  admin: pg.Client,
  database: string,
): Promise<{ pid: number; state: string | null; clientPort: number | null }[]> {
  const result = await admin.query<{ pid: number; state: string | null; client_port: number | null }>(
    'SELECT pid, state, client_port FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [database],
  );
  return result.rows.map((row) => ({ pid: row.pid, state: row.state, clientPort: row.client_port }));
}

/**
 * The local ports of a process's TCP connections to `port` on loopback: its socket descriptors in
 * /proc/PID/fd, matched by inode in /proc/PID/net/tcp. What pg_stat_activity calls their client_port.
 */
function clientPortsOf(pid: number, port: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // Closed meanwhile.
    }
  }
  const ports: number[] = [];
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    const [, local, remote, , , , , , , inode] = line.trim().split(/\s+/);
    if (local === undefined || remote === undefined || inode === undefined || !inodes.has(inode)) continue;
    if (Number.parseInt(remote.split(':')[1]!, 16) === port)
      ports.push(Number.parseInt(local.split(':')[1]!, 16));
  }
  return ports;
}

/** A connection of the test's own to the database, closed when the test ends. */
async function adminClient(t: TestContext, url: string): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // Dropping the database at the end terminates this connection too if it is still open.
  admin.on('error', () => {});
  await admin.connect();
  t.after(() => admin.end().catch(() => {}));
  return admin;
}

/** A fresh database on the machine's PostgreSQL, dropped when the test ends. */
async function freshDatabase(t: TestContext): Promise<{ name: string; url: string }> {
  const name = uniqueDatabaseName('ordergate_faults');
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  return { name, url };
}

/** A proxy to the database's server, closed when the test ends, and the database's URL through it. */
async function proxyTo(t: TestContext, directUrl: string): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(directUrl);
  assert.equal(target.hostname, '127.0.0.1', 'the tests keep every address on loopback');
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  t.after(() => proxy.close());
  const url = new URL(directUrl);
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}

/** Starts a server on a database (directly or through a proxy); it is killed when the test ends. */
function serve(t: TestContext, databaseUrl: string): Promise<Server> {
  return startServer(t, { profile: PROFILE, env: { DATABASE_URL: databaseUrl } });
}

// ---------------------------------------------------------------------------------------------------
// /health, watched all along

interface HealthSample {
  /** When the request was sent and when its answer came. */
  readonly at: number;
  readonly end: number;
  readonly status: number;
  readonly body: Record<string, any>;
}

/** Polls GET /health every HEALTH_POLL_MS until stopped, keeping every answer. */
function watchHealth(server: Server) {
  const samples: HealthSample[] = [];
  let stopped = false;
  const running = (async () => {
    while (!stopped) {
      const at = now();
      try {
        const response = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(5_000) });
        const body = (await response.json()) as Record<string, any>;
        samples.push({ at, end: now(), status: response.status, body });
      } catch (error) {
        samples.push({ at, end: now(), status: 0, body: { error: String(error) } });
      }
      await sleep(HEALTH_POLL_MS);
    }
  })();
  return {
    samples,
    /** The first answer at or after `from` that satisfies `ok`. */
    first(from: number, ok: (sample: HealthSample) => boolean): HealthSample | undefined {
      return samples.find((sample) => sample.at >= from && ok(sample));
    },
    async stop() {
      stopped = true;
      await running;
    },
  };
}

const notReady = (sample: HealthSample) => sample.status === 503;
const ready = (sample: HealthSample) => sample.status === 200;

/** A 503 from /health while PostgreSQL is out of reach: NOT_READY, and the store says it is recovering. */
function assertNotReadyBody(sample: HealthSample): void {
  const what = `GET /health: ${sample.status} ${JSON.stringify(sample.body)}`;
  assert.equal(sample.status, 503, what);
  assert.equal(sample.body.error, 'NOT_READY', what);
  assert.match(sample.body.message, /^the store is recovering: waiting for PostgreSQL \(.+\)/, what);
}

// ---------------------------------------------------------------------------------------------------
// Orders under load, and what became of them

interface Sent {
  readonly order: ClientOrder;
  readonly at: number;
  readonly ms: number;
  /** 0 when no answer came within HANG_MS (or the connection failed). */
  readonly status: number;
  readonly replayed: boolean;
  readonly body: Record<string, any>;
}

async function send(server: Server, order: ClientOrder): Promise<Sent> {
  const at = now();
  try {
    const reply = await postOrder(server, order, { timeoutMs: HANG_MS });
    let body: Record<string, any>;
    try {
      body = JSON.parse(reply.text) as Record<string, any>;
    } catch {
      body = { text: reply.text };
    }
    return { order, at, ms: now() - at, status: reply.status, replayed: reply.replayed, body };
  } catch (error) {
    return { order, at, ms: now() - at, status: 0, replayed: false, body: { error: String(error) } };
  }
}

/** CLIENTS concurrent clients, each one order at a time with its own client_order_id, until stopped. */
function startLoad(server: Server, prefix: string) {
  const random = prng(SEED);
  const sent: Sent[] = [];
  /** When each client's order now in flight was sent. */
  const pending = new Map<number, number>();
  let stopped = false;
  const client = async (c: number) => {
    for (let n = 1; !stopped; n++) {
      const order: ClientOrder = {
        strategy: pick(random, STRATEGIES),
        instrument: pick(random, INSTRUMENTS),
        position: random() < 0.5 ? 'BUY' : 'SELL',
        client_order_id: `${prefix}-${c}-${n}`,
      };
      pending.set(c, now());
      const answer = await send(server, order);
      pending.delete(c);
      sent.push(answer);
      if (answer.status !== 200) await sleep(BACKOFF_MS);
    }
  };
  const running = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c + 1)));
  return {
    sent,
    acknowledgedSince: (from: number) => sent.filter((s) => s.at >= from && s.status === 200).length,
    /** Orders sent before `at` and not answered yet. */
    unansweredFrom: (at: number) => [...pending.values()].filter((sentAt) => sentAt < at).length,
    /** Orders answered 503 at or after `at`. */
    refusedSince: (at: number) => sent.filter((s) => s.at + s.ms >= at && s.status === 503).length,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** Every refusal says the store is not accepting orders; only a failed commit adds that the outcome is unknown. */
const REFUSED = /^the store is not accepting orders: /;
const OUTCOME_UNKNOWN = /may or may not be applied: retry with the same client_order_id/;
const notApplied = (s: Sent) => !OUTCOME_UNKNOWN.test(s.body.message);

/**
 * Every answer is a 200 or a 503 STORE_UNAVAILABLE that says whether the order was applied, within
 * ANSWER_BOUND_MS. Returns the counts by status and the slowest answer.
 */
function assertAnswers(
  sent: readonly Sent[],
  options: { killed?: boolean } = {},
): { byStatus: Record<string, number>; slowestMs: number } {
  const byStatus: Record<string, number> = {};
  let slowestMs = 0;
  for (const s of sent) {
    const what = `${JSON.stringify(s.order)} answered ${s.status} after ${Math.round(s.ms)} ms: ${JSON.stringify(s.body)}`;
    byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
    slowestMs = Math.max(slowestMs, s.ms);
    // No answer at all only from a server that was killed.
    if (options.killed === true && s.status === 0) continue;
    assert.ok(s.status === 200 || s.status === 503, `only 200 or 503: ${what}`);
    assert.ok(s.ms <= ANSWER_BOUND_MS, `answered within ${ANSWER_BOUND_MS} ms: ${what}`);
    if (s.status === 200) {
      assert.equal(s.body.client_order_id, s.order.client_order_id, what);
      assert.equal(s.replayed, false, `a first send is never a replay: ${what}`);
    } else {
      assert.equal(s.body.error, 'STORE_UNAVAILABLE', what);
      assert.match(s.body.message, REFUSED, what);
    }
  }
  return { byStatus, slowestMs: Math.round(slowestMs) };
}

/**
 * After the fault: no order refused as "not applied" is in the log; every order not acknowledged (a
 * 503, or no answer), retried with its client_order_id, is applied at most once (a second retry is
 * answered from the log, the same); the log holds exactly the acknowledged answers; `ordergate check`
 * and the independent model agree.
 */
async function assertRecovered(
  t: TestContext,
  server: Server,
  directUrl: string,
  sent: readonly Sent[],
): Promise<{ retried: number; outcomeUnknown: number; appliedUnacknowledged: number }> {
  const acknowledged = new Map<string, LoggedOrder>();
  for (const s of sent)
    if (s.status === 200) acknowledged.set(s.order.client_order_id, s.body as LoggedOrder);
  const refused = sent.filter((s) => s.status !== 200);
  const before = new Map((await readLog(server, READ)).map((entry) => [entry.client_order_id, entry]));
  for (const s of refused) {
    if (s.status === 503 && notApplied(s))
      assert.ok(
        !before.has(s.order.client_order_id),
        `${s.order.client_order_id} was answered "not applied" but is in the log: ${JSON.stringify(before.get(s.order.client_order_id))}`,
      );
  }

  let appliedUnacknowledged = 0;
  const queue = [...refused];
  const retry = async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      const id = s.order.client_order_id;
      const first = await send(server, s.order);
      assert.equal(first.status, 200, `retry of ${id}: ${first.status} ${JSON.stringify(first.body)}`);
      assert.equal(first.replayed, before.has(id), `retry of ${id} is a replay exactly when it was logged`);
      if (first.replayed) {
        appliedUnacknowledged++;
        assert.deepEqual(first.body, before.get(id), `retry of ${id} answers what was logged`);
      }
      const second = await send(server, s.order);
      assert.equal(second.status, 200, `second retry of ${id}: ${JSON.stringify(second.body)}`);
      assert.equal(second.replayed, true, `second retry of ${id} is answered from the log`);
      assert.deepEqual(second.body, first.body, `second retry of ${id} answers as the first`);
      acknowledged.set(id, first.body as LoggedOrder);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, retry));

  const log = await readLog(server, READ);
  const logged = new Map<string, LoggedOrder>();
  for (const entry of log) {
    assert.ok(entry.client_order_id !== null, `order ${entry.order_id} was not sent by this test`);
    assert.ok(!logged.has(entry.client_order_id), `${entry.client_order_id} is applied twice`);
    logged.set(entry.client_order_id, entry);
  }
  for (const [id, answer] of acknowledged)
    assert.deepEqual(logged.get(id), answer, `acknowledged order ${id} is in the log as answered`);
  assert.equal(log.length, acknowledged.size, 'the log holds exactly the acknowledged orders');

  const check = await runCli(['check', '--database-url', directUrl], { timeoutMs: 60_000 });
  t.diagnostic(`ordergate check: ${check.stdout.trim()}`);
  assert.equal(check.code, 0, `ordergate check: ${check.stdout}${check.stderr}`);
  await assertModelAgrees(server, log);
  return {
    retried: refused.length,
    outcomeUnknown: refused.filter((s) => s.status === 503 && !notApplied(s)).length,
    appliedUnacknowledged,
  };
}

/** The independent model replays the log: every decision, the open positions and the trades. */
async function assertModelAgrees(server: Server, log: readonly LoggedOrder[]): Promise<void> {
  const users = (items: readonly { user: string }[]) => byUser(items).map((item) => item.user);
  const model = replay(PROFILE, log, (order, expected) => {
    const what = `order ${order.order_id} (${order.client_order_id})`;
    assert.equal(order.status, expected.status, `${what}: status`);
    assert.equal(order.reason, expected.reason, `${what}: reason`);
    assert.deepEqual(users(order.accepted), users(expected.accepted), `${what}: accepted`);
    assert.deepEqual(users(order.rejected), users(expected.rejected), `${what}: rejected`);
  });
  const key = (p: { user: string; strategy: string; instrument: string; order_id: number }) =>
    `${p.strategy}|${p.instrument}|${p.user}|${p.order_id}`;
  assert.deepEqual(
    (await readPositions(server, READ)).map(key).sort(),
    model.positions().map(key).sort(),
    'GET /positions equals the replayed log',
  );
  const tradeKey = (x: { user: string; buy_order_id: number; sell_order_id: number }) =>
    `${x.user}|${x.buy_order_id}|${x.sell_order_id}`;
  assert.deepEqual(
    (await readTrades(server, READ)).map(tradeKey).sort(),
    model.trades.map(tradeKey).sort(),
    'GET /trades equals the replayed log',
  );
}

/**
 * One fault under load: orders flow, the fault starts, lasts `faultMs`, ends; the load goes on until
 * orders are acknowledged again. Returns the answers and when /health turned 503 and back to 200.
 */
async function underLoad(...args: Parameters<typeof runUnderLoad>): ReturnType<typeof runUnderLoad> {
  const server = args[1];
  try {
    return await runUnderLoad(...args);
  } catch (error) {
    const state = isAlive(server.pid) ? 'still running' : 'DEAD';
    throw new Error(`${(error as Error).message}\nthe server is ${state}; its output:\n${server.output()}`, {
      cause: error,
    });
  }
}

interface FaultView {
  readonly faultAt: number;
  readonly health: ReturnType<typeof watchHealth>;
  readonly load: ReturnType<typeof startLoad>;
}

/**
 * PostgreSQL out of reach has shown: /health 503 and an order refused since the fault began, and no
 * order sent before it still waiting. Throws what is missing, for the failure message.
 */
function outOfReachShown({ faultAt, health, load }: FaultView): boolean {
  const missing = [
    ...(health.first(faultAt, notReady) === undefined ? ['/health 503'] : []),
    ...(load.refusedSince(faultAt) === 0 ? ['an order answered 503'] : []),
    ...(load.unansweredFrom(faultAt) > 0
      ? [`${load.unansweredFrom(faultAt)} orders sent before the fault still unanswered`]
      : []),
  ];
  if (missing.length > 0) throw new Error(`still missing: ${missing.join('; ')}`);
  return true;
}

async function runUnderLoad(
  t: TestContext,
  server: Server,
  prefix: string,
  fault: {
    start(): void | Promise<void>;
    /**
     * What the fault must have shown before it ends (it ends as soon as it has, rather than after a
     * fixed time): waited for, at most `shownWithinMs`; an Error thrown says what is still missing.
     * Without it the fault ends when start() returns.
     */
    shown?: (view: FaultView) => boolean;
    shownWithinMs?: number;
    end(): void;
    /**
     * When PostgreSQL is out of reach for the whole fault: /health must be 503 from this long after the
     * fault began until it ended.
     */
    notReadyWithinMs?: number;
  },
) {
  const health = watchHealth(server);
  const load = startLoad(server, prefix);
  t.after(() => Promise.all([health.stop(), load.stop()]));
  await waitFor(
    'orders acknowledged before the fault',
    async () => load.acknowledgedSince(0) >= 20 || undefined,
    10_000,
  );
  const faultAt = now();
  t.diagnostic(`${prefix}: the fault begins at ${new Date().toISOString()}`);
  await fault.start();
  const { shown } = fault;
  if (shown !== undefined)
    await waitFor(
      `${prefix}: what the fault must show`,
      () => shown({ faultAt, health, load }),
      fault.shownWithinMs ?? TEST_TIMEOUT_MS,
    );
  const endAt = now();
  t.diagnostic(`${prefix}: the fault ends at ${new Date().toISOString()}`);
  fault.end();
  await waitFor('/health 200 again', async () => health.first(endAt, ready), READY_BOUND_MS + 1_000);
  await waitFor(
    'orders acknowledged again',
    async () => load.acknowledgedSince(endAt) >= 20 || undefined,
    10_000,
  );
  await load.stop();
  await health.stop();

  const firstNotReady = health.first(faultAt, notReady);
  const readyAgain = health.first(endAt, ready)!;
  for (const sample of health.samples) {
    assert.ok(sample.status === 200 || sample.status === 503, `GET /health: ${JSON.stringify(sample)}`);
    if (sample.status === 503) assertNotReadyBody(sample);
    // Out of reach: not ready from shortly after the fault began until it ended.
    const bound = fault.notReadyWithinMs;
    if (bound !== undefined && sample.at >= faultAt + bound && sample.end < endAt)
      assert.equal(
        sample.status,
        503,
        `GET /health while PostgreSQL is out of reach (${Math.round(sample.at - faultAt)} ms into the fault, which lasted ${Math.round(endAt - faultAt)} ms): ${JSON.stringify(sample)}`,
      );
  }
  if (fault.notReadyWithinMs !== undefined)
    assert.ok(firstNotReady !== undefined, 'GET /health turned 503 during the fault');
  const answers = assertAnswers(load.sent);
  const inFlightAtFault = load.sent.filter((s) => s.at < faultAt && s.at + s.ms > faultAt);
  return {
    sent: load.sent,
    byStatus: answers.byStatus,
    slowestMs: answers.slowestMs,
    inFlightAtFault,
    faultAt,
    notReadyAfterMs: firstNotReady === undefined ? undefined : Math.round(firstNotReady.at - faultAt),
    readyAfterMs: Math.round(readyAgain.at - endAt),
    firstNotReady: firstNotReady?.body,
  };
}

// ---------------------------------------------------------------------------------------------------
// The faults

test('network drop under load: orders get 200 or 503, /health turns 503 then 200 by itself, nothing is half-applied', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  t.diagnostic(`FAULTS_SEED=${SEED}`);
  const db = await freshDatabase(t);
  const { proxy, url } = await proxyTo(t, db.url);
  const server = await serve(t, url);
  const run = await underLoad(t, server, 'drop', {
    // Out of reach as a real drop is: connections in use reset, and a new one refused.
    shown: (view) => {
      if (proxy.refused === 0) throw new Error('no new connection refused by the proxy yet');
      return outOfReachShown(view);
    },
    shownWithinMs: DROP_SHOWN_WITHIN_MS,
    notReadyWithinMs: NOT_READY_BOUND_MS,
    start: () => proxy.drop(),
    end: () => proxy.forward(),
  });
  assert.ok(isAlive(server.pid), `the server died:\n${server.output()}`);
  t.diagnostic(
    `drop: answers by status ${JSON.stringify(run.byStatus)}, slowest ${run.slowestMs} ms, ` +
      `${run.inFlightAtFault.length} in flight at the drop; /health 503 after ${run.notReadyAfterMs} ms, ` +
      `200 again ${run.readyAfterMs} ms after forwarding resumed; ${proxy.refused} connections refused while down`,
  );
  t.diagnostic(`drop: /health said ${JSON.stringify(run.firstNotReady)}`);
  assert.ok((run.byStatus[503] ?? 0) > 0, 'some orders were refused while PostgreSQL was out of reach');
  assert.ok(run.notReadyAfterMs! <= NOT_READY_BOUND_MS, `/health 503 within ${NOT_READY_BOUND_MS} ms`);
  assert.ok(run.readyAfterMs <= READY_BOUND_MS, `/health 200 within ${READY_BOUND_MS} ms`);
  const recovered = await assertRecovered(t, server, db.url, run.sent);
  t.diagnostic(
    `drop: ${recovered.retried} refused orders retried, ${recovered.outcomeUnknown} of them said the outcome was unknown and ${recovered.appliedUnacknowledged} had been committed`,
  );
});

test('stall longer than the query timeout: the orders in flight end with 503 within the bound, then it recovers', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  t.diagnostic(`FAULTS_SEED=${SEED}`);
  const db = await freshDatabase(t);
  const { proxy, url } = await proxyTo(t, db.url);
  const server = await serve(t, url);
  const run = await underLoad(t, server, 'stall', {
    shown: outOfReachShown,
    shownWithinMs: STALL_SHOWN_WITHIN_MS,
    notReadyWithinMs: STALL_NOT_READY_BOUND_MS,
    start: () => proxy.stall(),
    end: () => proxy.forward(),
  });
  assert.ok(isAlive(server.pid), `the server died:\n${server.output()}`);
  const inFlight = run.inFlightAtFault.map(
    (s) => `${s.status} ${Math.round(s.at + s.ms - run.faultAt)} ms after the stall began`,
  );
  t.diagnostic(
    `stall: answers by status ${JSON.stringify(run.byStatus)}, slowest ${run.slowestMs} ms ` +
      `(bound ${ANSWER_BOUND_MS}); in flight at the stall: ${inFlight.join(', ')}; /health 503 after ` +
      `${run.notReadyAfterMs} ms, 200 again ${run.readyAfterMs} ms after forwarding resumed`,
  );
  t.diagnostic(`stall: /health said ${JSON.stringify(run.firstNotReady)}`);
  assert.ok((run.byStatus[503] ?? 0) > 0, 'some orders were refused while PostgreSQL was stalled');
  for (const s of run.inFlightAtFault) {
    const ended = s.at + s.ms - run.faultAt;
    assert.ok(
      ended <= STALLED_ORDER_BOUND_MS,
      `${s.order.client_order_id}, in flight when PostgreSQL stalled, answered ${s.status} ${Math.round(ended)} ms ` +
        `after the stall began (bound ${STALLED_ORDER_BOUND_MS} ms): ${JSON.stringify(s.body)}`,
    );
  }
  assert.ok(run.readyAfterMs <= READY_BOUND_MS, `/health 200 within ${READY_BOUND_MS} ms`);
  const recovered = await assertRecovered(t, server, db.url, run.sent);
  t.diagnostic(
    `stall: ${recovered.retried} refused orders retried, ${recovered.outcomeUnknown} of them said the outcome was unknown and ${recovered.appliedUnacknowledged} had been committed`,
  );
});

test('pg_terminate_backend of the idle pooled connections does not kill the server; it keeps answering', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const db = await freshDatabase(t);
  const server = await serve(t, db.url);
  // Concurrent orders open several pooled connections; they are idle once answered.
  const warm = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      send(server, {
        strategy: 'STRATEGY_A',
        instrument: INSTRUMENTS[i % 5]!,
        position: 'BUY',
        client_order_id: `idle-warm-${i}`,
      }),
    ),
  );
  for (const s of warm) assert.equal(s.status, 200, JSON.stringify(s.body));
  const admin = await adminClient(t, db.url);
  await waitFor(
    'several pooled connections idle in pg_stat_activity',
    async () => (await sessionsOf(admin, db.name)).filter((s) => s.state === 'idle').length >= 2,
    SESSIONS_TIMEOUT_MS,
  );
  const terminated = (await terminateBackends(admin, db.name)).map((backend) => backend.state);
  t.diagnostic(`terminated ${terminated.length} backends, in states ${JSON.stringify(terminated)}`);
  assert.ok(terminated.length >= 2, 'several pooled connections were there to terminate');
  assert.ok(
    terminated.filter((state) => state === 'idle').length >= 2,
    'idle pooled connections were terminated',
  );

  await waitForOutput(server, /an idle PostgreSQL connection to .* failed; the pool replaces it/);
  assert.ok(isAlive(server.pid), `the server died:\n${server.output()}`);
  await waitFor(
    '/health 200',
    async () => ((await fetch(`${server.url}/health`)).status === 200 ? true : undefined),
    READY_BOUND_MS,
  );
  const after = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      send(server, {
        strategy: 'STRATEGY_A',
        instrument: INSTRUMENTS[i % 5]!,
        position: 'SELL',
        client_order_id: `idle-after-${i}`,
      }),
    ),
  );
  for (const s of after) assert.equal(s.status, 200, JSON.stringify(s.body));
  const log = await readLog(server, READ);
  assert.equal(log.length, 24);
  await assertModelAgrees(server, log);
});

test('pg_terminate_backend of every connection under load (as a PostgreSQL restart does): 200 or 503, then it recovers', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  t.diagnostic(`FAULTS_SEED=${SEED}`);
  const db = await freshDatabase(t);
  const server = await serve(t, db.url);
  const admin = await adminClient(t, db.url);
  const terminated: { state: string; pid: number }[] = [];
  const terminate = async () => {
    terminated.push(...(await terminateBackends(admin, db.name)));
  };
  // Three rounds: busy and idle connections both, then, each time, the ones the pool opened since.
  const run = await underLoad(t, server, 'terminate', {
    start: async () => {
      for (let round = 1; round <= 3; round++) {
        await terminate();
        if (round === 3) break;
        const gone = new Set(terminated.map((backend) => backend.pid));
        await waitFor(
          `the pool connected again after round ${round}`,
          async () => (await sessionsOf(admin, db.name)).some((s) => !gone.has(s.pid)),
          SESSIONS_TIMEOUT_MS,
        );
      }
    },
    end: () => {},
  });
  assert.ok(isAlive(server.pid), `the server died:\n${server.output()}`);
  const busy = terminated.filter((backend) => backend.state !== 'idle').length;
  t.diagnostic(
    `terminate: ${terminated.length} backends terminated (${busy} busy); answers by status ${JSON.stringify(run.byStatus)}, slowest ${run.slowestMs} ms`,
  );
  await assertRecovered(t, server, db.url, run.sent);
});

test('kill -9 of one of two instances under load: nothing it acknowledged is lost, the other keeps serving', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  t.diagnostic(`FAULTS_SEED=${SEED}`);
  const db = await freshDatabase(t);
  const victim = await serve(t, db.url);
  const survivor = await serve(t, db.url);
  const health = watchHealth(survivor);
  const toVictim = startLoad(victim, 'victim');
  const toSurvivor = startLoad(survivor, 'survivor');
  t.after(() => Promise.all([health.stop(), toVictim.stop(), toSurvivor.stop()]));
  await waitFor(
    'orders acknowledged by both',
    async () => (toVictim.acknowledgedSince(0) >= 30 && toSurvivor.acknowledgedSince(0) >= 30) || undefined,
    10_000,
  );
  // The victim's sessions, known by their client ports, so that PostgreSQL's clean-up can be seen.
  const admin = await adminClient(t, db.url);
  const pgPort = Number(new URL(db.url).port || 5432);
  const victimPorts = new Set(clientPortsOf(victim.pid, pgPort));
  const victimSessions = async () =>
    (await sessionsOf(admin, db.name)).filter((s) => s.clientPort !== null && victimPorts.has(s.clientPort));
  assert.ok((await victimSessions()).length > 0, 'the victim has sessions on PostgreSQL');
  const killedAt = now();
  await victim.kill();
  await toVictim.stop();
  // PostgreSQL ends the dead client's sessions and rolls back what they held; the survivor goes on.
  await waitFor(
    "PostgreSQL ended the victim's sessions",
    async () => (await victimSessions()).length === 0,
    SESSIONS_TIMEOUT_MS,
  );
  await waitFor(
    'orders acknowledged by the survivor since the kill',
    async () => toSurvivor.acknowledgedSince(killedAt) >= 30 || undefined,
    10_000,
  );
  await toSurvivor.stop();
  await health.stop();

  // The survivor never failed an order nor turned not-ready.
  const survivorAnswers = assertAnswers(toSurvivor.sent);
  assert.deepEqual(Object.keys(survivorAnswers.byStatus), ['200'], 'the survivor acknowledged every order');
  for (const sample of health.samples)
    assert.equal(sample.status, 200, `survivor GET /health: ${JSON.stringify(sample)}`);
  // The victim answered 200 until the kill; the orders in flight then got no answer.
  const unanswered = toVictim.sent.filter((s) => s.status !== 200);
  for (const s of unanswered)
    assert.ok(
      s.at + s.ms >= killedAt,
      `${s.order.client_order_id} failed before the kill: ${JSON.stringify(s.body)}`,
    );
  const victimAnswers = assertAnswers(toVictim.sent, { killed: true });
  assert.deepEqual(Object.keys(victimAnswers.byStatus), unanswered.length === 0 ? ['200'] : ['0', '200']);
  const recovered = await assertRecovered(t, survivor, db.url, [...toVictim.sent, ...toSurvivor.sent]);
  t.diagnostic(
    `kill -9: the victim acknowledged ${toVictim.acknowledgedSince(0)} orders, ${unanswered.length} were in flight at the kill ` +
      `(${recovered.appliedUnacknowledged} of them committed, found by their retry); the survivor acknowledged ` +
      `${toSurvivor.acknowledgedSince(0)} (${toSurvivor.acknowledgedSince(killedAt)} after the kill), slowest ${survivorAnswers.slowestMs} ms`,
  );
});

test('PostgreSQL unreachable at start: exit 1 with one line naming the URL without its password', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-pgdown-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'profile.json'), JSON.stringify(PROFILE));
  // A port nothing listens on (connections refused); the proxy, down (every connection reset); and a
  // server that accepts connections and never answers (a hung PostgreSQL, or a partition).
  const closedPort = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const down = await startTcpProxy({ host: '127.0.0.1', port: closedPort });
  t.after(() => down.close());
  down.drop();
  const held = new Set<net.Socket>();
  const silent = net.createServer((socket) => {
    held.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.after(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  const silentPort = (silent.address() as net.AddressInfo).port;
  const password = 'pw-s3cret-never-shown';
  for (const [what, port, cause] of [
    ['refused', closedPort, /ECONNREFUSED/],
    ['reset', down.port, /ECONNRESET/],
    ['never answers', silentPort, /timeout/i],
  ] as const) {
    const url = `postgres://ordergate:${password}@127.0.0.1:${port}/ordergate_down`;
    const started = now();
    const result = await runCli(['serve'], {
      env: {
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_URL: url,
        PROFILE_PATH: join(dir, 'profile.json'),
        LOG_DIR: join(dir, 'logs'),
      },
      timeoutMs: 30_000,
    });
    const output = `${result.stdout}${result.stderr}`;
    const lines = output.trim().split('\n');
    t.diagnostic(`${what}: exit ${result.code} after ${Math.round(now() - started)} ms: ${output.trim()}`);
    assert.equal(result.code, 1, `${what}: exit 1\n${output}`);
    assert.equal(lines.length, 1, `${what}: one line\n${output}`);
    assert.match(lines[0]!, /cannot open the database: /, what);
    assert.ok(
      lines[0]!.includes(`postgres://ordergate:***@127.0.0.1:${port}/ordergate_down`),
      `${what}: the URL\n${output}`,
    );
    assert.match(lines[0]!, cause, what);
    assert.ok(!output.includes(password), `${what}: the password is not shown`);
    assert.doesNotMatch(output, /^\s+at /m, `${what}: no stack trace`);
  }
});
