// Crash safety under load (issue 3, point 2). Dozens of concurrent clients send orders to a real server,
// which is killed with SIGKILL at a seeded random moment (after a random number of acknowledged orders,
// or a random delay), restarted on the same database, and checked, for several cycles:
//  (a) every acknowledged order is in the log exactly as it was answered;
//  (b) replaying the whole log in order_id order from an empty book, on the independent model written
//      from the README's rules (test/helpers/model.ts), reproduces every logged decision, exactly the
//      open positions and the closed trades; and `ordergate check` agrees, run beside the restarted server;
//  (c) a retry of acknowledged orders (by client_order_id) returns the same answer and applies
//      nothing; a retry of an order left unanswered by the kill resolves it (the logged answer if it
//      was committed, else a fresh placement).
// Environment: CRASH_CLIENTS (default 32), CRASH_CYCLES (default 4), CRASH_SEED (default random; printed,
// it replays the profile, the orders and the kill points, though not the interleaving of the clients).

import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';
import { byUser, replay } from '../helpers/model.js';
import { pick, prng } from '../helpers/random.js';
import { runCli, type Server, startServer } from '../helpers/server.js';
import {
  type ClientOrder,
  type Fill,
  type LoggedOrder,
  type Position,
  type Profile,
  postOrder,
  type Reply,
  readLog,
  readPositions,
  readTrades,
  type Trade,
} from '../helpers/wire.js';

function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${name}=${text}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

const CLIENTS = intFromEnv('CRASH_CLIENTS', 32, 1, 512);
const CYCLES = intFromEnv('CRASH_CYCLES', 4, 1, 1000);
const SEED = intFromEnv('CRASH_SEED', Math.floor(Math.random() * 2 ** 32), 0, 2 ** 32 - 1);

/** Odd cycles are killed once this many orders of the cycle are acknowledged (uniform in the range). */
const KILL_AFTER_ACKS = [1, 1500] as const;
/** Even cycles are killed this many ms after the cycle's first acknowledgement (uniform in the range). */
const KILL_AFTER_MS = [0, 1500] as const;
/** However the kill is planned, it comes at the latest after this many acknowledgements in a cycle. */
const MAX_ACKS_PER_CYCLE = 5000;
const ACKED_RETRIES_PER_CYCLE = 20;
/** Of the orders left unanswered by a kill, up to this many that were logged and as many that were not. */
const UNANSWERED_RETRIES_PER_KIND = 3;
const CHECK_TIMEOUT_MS = 30_000;
const PROBLEMS_SHOWN_MAX = 30;
const TEST_TIMEOUT_MS = 30_000 + CYCLES * 20_000;

// ---------------------------------------------------------------------------------------------------
// The fixture: a profile and orders drawn from the seed.

/** Names exercise the allowed charset (spaces, `&`, `'`, `-`, `_`). */
const STRATEGIES = ['ALPHA', 'BETA_2', 'GAMMA-X', 'DELTA', 'MEAN REV', 'MOMENTUM'];
const INSTRUMENTS = ['GRASIM', 'EICHER', 'ACC', 'MINDA', 'L&T', 'BAJAJ-AUTO', 'M&M', 'TATA STEEL'];
/** Traded by no one: orders for them are rejected, and logged all the same. */
const UNTRADED_STRATEGY = 'STRATEGY_Z';
const UNTRADED_INSTRUMENT = 'BIRLASOFT';
const USERS = ["Dara O'Neil", 'Ram & Sons', ...Array.from({ length: 22 }, (_, i) => `Trader ${i + 3}`)];

/** An independent stream per purpose, so that how many numbers one part draws never shifts another. */
function stream(label: string): () => number {
  let hash = 0x811c9dc5;
  for (const char of label) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193);
  return prng((SEED ^ hash) >>> 0);
}

const between = (random: () => number, [low, high]: readonly [number, number]) =>
  low + Math.floor(random() * (high - low + 1));

/** count distinct items, in random order. */
function sample<T>(random: () => number, items: readonly T[], count: number): T[] {
  const copy = [...items];
  const taken = Math.min(count, copy.length);
  for (let i = 0; i < taken; i += 1) {
    const j = i + Math.floor(random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, taken);
}

/** 24 users, each trading 1–3 strategies with 1–4 instruments each (its own, per user). */
function makeProfile(random: () => number): Profile {
  return Object.fromEntries(
    USERS.map((user) => [
      user,
      Object.fromEntries(
        sample(random, STRATEGIES, between(random, [1, 3])).map((strategy) => [
          strategy,
          sample(random, INSTRUMENTS, between(random, [1, 4])),
        ]),
      ),
    ]),
  );
}

function makeOrder(random: () => number, cycle: number, index: number): ClientOrder {
  return {
    strategy: random() < 0.04 ? UNTRADED_STRATEGY : pick(random, STRATEGIES),
    instrument: random() < 0.04 ? UNTRADED_INSTRUMENT : pick(random, INSTRUMENTS),
    position: random() < 0.5 ? 'BUY' : 'SELL',
    client_order_id: `crash-${cycle}-${index}`,
  };
}

// ---------------------------------------------------------------------------------------------------
// The wire.

/** Every open position, paged through the whole book. */
function readAllPositions(server: Server): Promise<Position[]> {
  return readPositions(server);
}

// ---------------------------------------------------------------------------------------------------
// Keys for comparing the served book with the model's (the model is test/helpers/model.ts).

const positionKey = (p: { user: string; strategy: string; instrument: string }) =>
  JSON.stringify([p.user, p.strategy, p.instrument]);
const tradeKey = (t: { user: string; sell_order_id: number }) => JSON.stringify([t.sell_order_id, t.user]);

// ---------------------------------------------------------------------------------------------------
// The run's bookkeeping.

class Ledger {
  /** Every order sent, by client_order_id. */
  readonly sent = new Map<string, ClientOrder>();
  /** Every order answered 200, as answered. */
  readonly acknowledged = new Map<string, LoggedOrder>();
  /** Sent in the current cycle but not answered before the kill. */
  unanswered = new Set<string>();
  /** Unanswered and not in the log after the restart (and not retried since): must never appear. */
  readonly vanished = new Set<string>();
  ordersSent = 0;
  ordersAcknowledged = 0;
  readonly lost = new Set<string>();
  mismatches = 0;
  readonly appliedTwice = new Set<string>();
  /** Every failure, counted above or not; the test fails if there is any. */
  readonly problems: string[] = [];

  constructor(private readonly t: TestContext) {}

  problem(text: string): void {
    if (this.problems.length < PROBLEMS_SHOWN_MAX) this.t.diagnostic(`PROBLEM ${text}`);
    this.problems.push(text);
  }

  mismatch(text: string, count = 1): void {
    this.mismatches += count;
    this.problem(`mismatch: ${text}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// One cycle: load, kill, restart, check.

interface KillPlan {
  readonly kind: 'acks' | 'delay';
  readonly at: number;
}

function killPlan(cycle: number): KillPlan {
  const random = stream(`kill ${cycle}`);
  return cycle % 2 === 1
    ? { kind: 'acks', at: between(random, KILL_AFTER_ACKS) }
    : { kind: 'delay', at: between(random, KILL_AFTER_MS) };
}

/**
 * CLIENTS concurrent clients, each one request at a time, send orders until the kill: only a 200 is
 * an acknowledgement; an order whose request fails after the kill was sent is unanswered. Any other
 * failure, or an answer that is not a 200, fails the test.
 */
async function loadUntilKilled(server: Server, cycle: number, plan: KillPlan, ledger: Ledger) {
  const random = stream(`orders ${cycle}`);
  let index = 0;
  let acks = 0;
  let killing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const kill = () => {
    killing ??= server.kill();
  };
  const client = async () => {
    while (killing === undefined) {
      const order = makeOrder(random, cycle, index++);
      ledger.sent.set(order.client_order_id, order);
      ledger.ordersSent += 1;
      let reply: Reply;
      try {
        reply = await postOrder(server, order);
      } catch (error) {
        if (killing !== undefined) {
          ledger.unanswered.add(order.client_order_id);
          return;
        }
        kill();
        throw error;
      }
      if (reply.status !== 200 || reply.replayed) {
        kill();
        assert.fail(
          `${JSON.stringify(order)} answered ${reply.status} (replayed ${reply.replayed}): ${reply.text}`,
        );
      }
      ledger.acknowledged.set(order.client_order_id, JSON.parse(reply.text) as LoggedOrder);
      ledger.ordersAcknowledged += 1;
      acks += 1;
      if (acks === 1 && plan.kind === 'delay') timer = setTimeout(kill, plan.at);
      if ((plan.kind === 'acks' && acks >= plan.at) || acks >= MAX_ACKS_PER_CYCLE) kill();
    }
  };
  try {
    await Promise.all(Array.from({ length: CLIENTS }, client));
  } finally {
    clearTimeout(timer);
    await killing;
  }
  return { sent: index, acks };
}

/** Compares two listings keyed alike; returns how many keys differ (missing, extra or different). */
function diffListings<T>(
  ledger: Ledger,
  what: string,
  served: readonly T[],
  expected: readonly T[],
  keyOf: (item: T) => string,
): number {
  const servedByKey = new Map(served.map((item) => [keyOf(item), item]));
  const expectedByKey = new Map(expected.map((item) => [keyOf(item), item]));
  let differing = 0;
  if (servedByKey.size !== served.length) {
    differing += served.length - servedByKey.size;
    ledger.mismatch(`${what}: ${served.length - servedByKey.size} duplicated`);
  }
  for (const [key, item] of expectedByKey) {
    const actual = servedByKey.get(key);
    if (actual === undefined) {
      differing += 1;
      ledger.mismatch(`${what}: ${JSON.stringify(item)} is missing`);
    } else if (JSON.stringify(actual) !== JSON.stringify(item)) {
      differing += 1;
      ledger.mismatch(`${what}: served ${JSON.stringify(actual)}, the replay gives ${JSON.stringify(item)}`);
    }
  }
  for (const [key, item] of servedByKey) {
    if (!expectedByKey.has(key)) {
      differing += 1;
      ledger.mismatch(`${what}: ${JSON.stringify(item)} is served but not in the replay`);
    }
  }
  return differing;
}

/** The same fields, in the same order, as a Position or Trade served over HTTP. */
const asPosition = (p: Position): Position => ({
  user: p.user,
  strategy: p.strategy,
  instrument: p.instrument,
  order_id: p.order_id,
  opened_at: p.opened_at,
});
const asTrade = (t: Trade): Trade => ({
  user: t.user,
  strategy: t.strategy,
  instrument: t.instrument,
  buy_order_id: t.buy_order_id,
  sell_order_id: t.sell_order_id,
  opened_at: t.opened_at,
  closed_at: t.closed_at,
});
const sortedFills = (fills: readonly Fill[]) =>
  byUser(fills).map(({ user, buy_order_id, opened_at }) =>
    buy_order_id === undefined ? { user } : { user, buy_order_id, opened_at },
  );

/**
 * The log's own consistency: one entry per client_order_id, each an order that was sent, as it was sent,
 * and none that was found missing after an earlier crash. Adds the entries to `byClientId`.
 */
function checkLogEntries(
  entries: readonly LoggedOrder[],
  ledger: Ledger,
  byClientId = new Map<string, LoggedOrder>(),
): Map<string, LoggedOrder> {
  for (const entry of entries) {
    const clientOrderId = entry.client_order_id;
    const sent = clientOrderId === null ? undefined : ledger.sent.get(clientOrderId);
    if (clientOrderId === null || sent === undefined) {
      ledger.mismatch(`order ${entry.order_id} (client_order_id ${clientOrderId}) was never sent`);
      continue;
    }
    if (byClientId.has(clientOrderId)) ledger.mismatch(`client_order_id ${clientOrderId} is logged twice`);
    byClientId.set(clientOrderId, entry);
    if (
      entry.strategy !== sent.strategy ||
      entry.instrument !== sent.instrument ||
      entry.position !== sent.position
    ) {
      ledger.mismatch(
        `order ${entry.order_id} is logged as ${JSON.stringify(entry)}, sent as ${JSON.stringify(sent)}`,
      );
    }
    if (ledger.vanished.has(clientOrderId)) {
      ledger.mismatch(
        `${clientOrderId} was not in the log after its crash, and appeared later (order ${entry.order_id})`,
      );
    }
  }
  return byClientId;
}

/** (a): every acknowledged order is in the log exactly as it was answered. */
function checkAcknowledged(byClientId: ReadonlyMap<string, LoggedOrder>, ledger: Ledger): void {
  for (const [clientOrderId, answer] of ledger.acknowledged) {
    const entry = byClientId.get(clientOrderId);
    if (ledger.lost.has(clientOrderId)) continue; // reported after an earlier restart
    if (entry === undefined) {
      ledger.lost.add(clientOrderId);
      ledger.problem(`lost: acknowledged ${clientOrderId} (order ${answer.order_id}) is not in the log`);
    } else if (JSON.stringify(entry) !== JSON.stringify(answer)) {
      ledger.lost.add(clientOrderId);
      ledger.problem(
        `lost: ${clientOrderId} was answered ${JSON.stringify(answer)}, is logged ${JSON.stringify(entry)}`,
      );
    }
  }
}

/** (b): the model replays the whole log to every logged decision, the open positions and the trades. */
async function checkReplay(server: Server, log: readonly LoggedOrder[], profile: Profile, ledger: Ledger) {
  const model = replay(profile, log, (entry, expected) => {
    const logged = {
      status: entry.status,
      reason: entry.reason,
      accepted: sortedFills(entry.accepted),
      rejected: byUser(entry.rejected),
    };
    const replayed = {
      status: expected.status,
      reason: expected.reason,
      accepted: sortedFills(expected.accepted),
      rejected: byUser(expected.rejected),
    };
    if (JSON.stringify(logged) !== JSON.stringify(replayed)) {
      ledger.mismatch(
        `order ${entry.order_id} is logged ${JSON.stringify(logged)}, the replay gives ${JSON.stringify(replayed)}`,
      );
    }
  });
  const expectedPositions = model.positions();
  diffListings(
    ledger,
    'open position',
    (await readAllPositions(server)).map(asPosition),
    expectedPositions,
    positionKey,
  );
  diffListings(
    ledger,
    'closed trade',
    (await readTrades(server)).map(asTrade),
    model.trades.map(asTrade),
    tradeKey,
  );
  return { positions: expectedPositions.length, trades: model.trades.length };
}

/** `ordergate check` beside the running server: exit 0, no mismatch, and the same counts as the model. */
async function checkWithChecker(
  server: Server,
  expected: { orders: number; positions: number; trades: number },
  ledger: Ledger,
): Promise<void> {
  const result = await runCli(['check', '--database-url', server.databaseUrl, '--json'], {
    timeoutMs: CHECK_TIMEOUT_MS,
  });
  let report: {
    mismatches: number;
    orders: number;
    openPositions: number;
    trades: number;
    problems: string[];
  };
  try {
    report = JSON.parse(result.stdout) as typeof report;
  } catch {
    ledger.mismatch(
      `ordergate check exited ${result.code} without a JSON report: ${result.stdout}${result.stderr}`,
    );
    return;
  }
  if (result.code !== 0 || report.mismatches !== 0) {
    ledger.mismatch(
      `ordergate check exited ${result.code}: ${JSON.stringify(report)}`,
      Math.max(1, report.mismatches),
    );
  }
  const counts = { orders: report.orders, positions: report.openPositions, trades: report.trades };
  if (JSON.stringify(counts) !== JSON.stringify(expected)) {
    ledger.mismatch(
      `ordergate check counts ${JSON.stringify(counts)}, the log and the model ${JSON.stringify(expected)}`,
    );
  }
}

const samePositions = (a: readonly Position[], b: readonly Position[]) =>
  JSON.stringify(
    a
      .map(asPosition)
      .map((p) => JSON.stringify(p))
      .sort(),
  ) ===
  JSON.stringify(
    b
      .map(asPosition)
      .map((p) => JSON.stringify(p))
      .sort(),
  );

/**
 * (c): ~20 acknowledged orders of any cycle, retried at once by client_order_id, are answered from the
 * log (Idempotent-Replayed, the same answer) and change nothing: no new order, the same positions.
 */
async function retryAcknowledged(server: Server, cycle: number, lastOrderId: number, ledger: Ledger) {
  const before = await readAllPositions(server);
  const chosen = sample(stream(`retries ${cycle}`), [...ledger.acknowledged.keys()], ACKED_RETRIES_PER_CYCLE);
  const replies = await Promise.all(chosen.map((id) => postOrder(server, ledger.sent.get(id)!)));
  chosen.forEach((clientOrderId, i) => {
    const reply = replies[i]!;
    const original = ledger.acknowledged.get(clientOrderId)!;
    if (reply.status !== 200) {
      ledger.problem(`retry of ${clientOrderId} answered ${reply.status}: ${reply.text}`);
      return;
    }
    const answer = JSON.parse(reply.text) as LoggedOrder;
    if (answer.order_id !== original.order_id) {
      ledger.appliedTwice.add(clientOrderId);
      ledger.problem(
        `retry of ${clientOrderId} placed order ${answer.order_id} again (was ${original.order_id})`,
      );
    } else if (!reply.replayed || JSON.stringify(answer) !== JSON.stringify(original)) {
      ledger.problem(
        `retry of ${clientOrderId} answered ${reply.text} (replayed ${reply.replayed}), was ${JSON.stringify(original)}`,
      );
    }
  });
  for (const entry of await readLog(server, { after: lastOrderId })) {
    ledger.appliedTwice.add(entry.client_order_id ?? `order ${entry.order_id}`);
    ledger.problem(`retries of acknowledged orders added order ${entry.order_id} (${entry.client_order_id})`);
  }
  if (!samePositions(before, await readAllPositions(server))) {
    ledger.problem('retries of acknowledged orders changed the open positions');
  }
  return chosen.length;
}

/**
 * A retry of an order the kill left unanswered resolves it: the logged answer (replayed) if it was
 * committed, else a fresh placement, which then is acknowledged like any other. Returns how many of
 * each were retried.
 */
async function retryUnanswered(
  server: Server,
  cycle: number,
  byClientId: ReadonlyMap<string, LoggedOrder>,
  lastOrderId: number,
  ledger: Ledger,
) {
  const random = stream(`unanswered ${cycle}`);
  const unanswered = [...ledger.unanswered].sort();
  const logged = sample(
    random,
    unanswered.filter((id) => byClientId.has(id)),
    UNANSWERED_RETRIES_PER_KIND,
  );
  const absent = sample(
    random,
    unanswered.filter((id) => !byClientId.has(id)),
    UNANSWERED_RETRIES_PER_KIND,
  );
  const chosen = [...logged, ...absent];
  const replies = await Promise.all(chosen.map((id) => postOrder(server, ledger.sent.get(id)!)));
  const placed = new Map<string, LoggedOrder>();
  chosen.forEach((clientOrderId, i) => {
    const reply = replies[i]!;
    if (reply.status !== 200) {
      ledger.problem(`retry of unanswered ${clientOrderId} answered ${reply.status}: ${reply.text}`);
      return;
    }
    const answer = JSON.parse(reply.text) as LoggedOrder;
    const entry = byClientId.get(clientOrderId);
    if (entry !== undefined) {
      if (answer.order_id !== entry.order_id) ledger.appliedTwice.add(clientOrderId);
      if (!reply.replayed || JSON.stringify(answer) !== JSON.stringify(entry)) {
        ledger.problem(
          `retry of logged unanswered ${clientOrderId} answered ${reply.text}, logged ${JSON.stringify(entry)}`,
        );
      }
      ledger.acknowledged.set(clientOrderId, entry);
    } else {
      if (reply.replayed || answer.order_id <= lastOrderId || answer.client_order_id !== clientOrderId) {
        ledger.problem(
          `retry of unlogged unanswered ${clientOrderId} answered ${reply.text} (replayed ${reply.replayed})`,
        );
      }
      placed.set(clientOrderId, answer);
      ledger.vanished.delete(clientOrderId);
      ledger.acknowledged.set(clientOrderId, answer);
    }
  });
  const added = await readLog(server, { after: lastOrderId });
  for (const entry of added) {
    const answer = entry.client_order_id === null ? undefined : placed.get(entry.client_order_id);
    if (answer === undefined) {
      ledger.appliedTwice.add(entry.client_order_id ?? `order ${entry.order_id}`);
      ledger.problem(`retries of unanswered orders added order ${entry.order_id} (${entry.client_order_id})`);
    } else if (JSON.stringify(entry) !== JSON.stringify(answer)) {
      ledger.lost.add(entry.client_order_id!);
      ledger.problem(
        `lost: ${entry.client_order_id} was answered ${JSON.stringify(answer)}, is logged ${JSON.stringify(entry)}`,
      );
    }
  }
  if (added.length !== placed.size) {
    ledger.problem(`retries placed ${placed.size} fresh orders, the log grew by ${added.length}`);
  }
  return { logged: logged.length, placed: absent.length };
}

async function checkAfterRestart(
  t: TestContext,
  server: Server,
  cycle: number,
  profile: Profile,
  ledger: Ledger,
): Promise<void> {
  const log = await readLog(server);
  const byClientId = checkLogEntries(log, ledger);
  checkAcknowledged(byClientId, ledger);
  const landed = [...ledger.unanswered].filter((id) => byClientId.has(id)).length;
  for (const id of ledger.unanswered) if (!byClientId.has(id)) ledger.vanished.add(id);

  const lastOrderId = log.at(-1)?.order_id ?? 0;
  const retried = await retryAcknowledged(server, cycle, lastOrderId, ledger);
  const resolved = await retryUnanswered(server, cycle, byClientId, lastOrderId, ledger);
  ledger.unanswered = new Set();

  const after = await readLog(server);
  if (JSON.stringify(after.slice(0, log.length)) !== JSON.stringify(log)) {
    ledger.mismatch('the log changed under the retries (beyond the orders they placed)');
  }
  checkLogEntries(after.slice(log.length), ledger, byClientId);
  const book = await checkReplay(server, after, profile, ledger);
  await checkWithChecker(server, { orders: after.length, ...book }, ledger);
  const accepted = after.filter((entry) => entry.status === 'ACCEPTED').length;
  t.diagnostic(
    `cycle ${cycle}: ${landed} of the unanswered orders were in the log; retried ${retried} acknowledged, ` +
      `${resolved.logged} logged and ${resolved.placed} unlogged unanswered; the log holds ${after.length} ` +
      `orders (${accepted} accepted), ${book.positions} open positions, ${book.trades} trades`,
  );
}

test(`kill -9 at random moments while ${CLIENTS} clients send orders, ${CYCLES} cycles on one database: nothing acknowledged is lost, the log replays to the book, retries apply nothing`, {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const seedLine = `crash test seed ${SEED} (rerun with CRASH_SEED=${SEED})`;
  console.log(seedLine);
  t.diagnostic(seedLine);
  const profile = makeProfile(stream('profile'));
  const server = await startServer(t, { profile });
  const ledger = new Ledger(t);

  for (let cycle = 1; cycle <= CYCLES; cycle += 1) {
    const plan = killPlan(cycle);
    const { sent, acks } = await loadUntilKilled(server, cycle, plan, ledger);
    const when =
      plan.kind === 'acks' ? `after ${plan.at} acknowledgements` : `${plan.at} ms after the first answer`;
    t.diagnostic(
      `cycle ${cycle}: kill -9 planned ${when}; ${sent} orders sent, ${acks} acknowledged, ` +
        `${ledger.unanswered.size} unanswered`,
    );
    await server.restart();
    await checkAfterRestart(t, server, cycle, profile, ledger);
  }

  const summary =
    `crash test: cycles ${CYCLES}, clients ${CLIENTS}, orders sent ${ledger.ordersSent}, ` +
    `acknowledged ${ledger.ordersAcknowledged}, lost ${ledger.lost.size}, replay mismatches ${ledger.mismatches}, ` +
    `retries applied twice ${ledger.appliedTwice.size}, seed ${SEED}`;
  console.log(summary);
  t.diagnostic(summary);
  assert.equal(ledger.lost.size, 0, `acknowledged orders lost or changed (seed ${SEED})`);
  assert.equal(ledger.mismatches, 0, `replay mismatches (seed ${SEED})`);
  assert.equal(ledger.appliedTwice.size, 0, `retries applied twice (seed ${SEED})`);
  assert.deepEqual(ledger.problems.slice(0, PROBLEMS_SHOWN_MAX), [], `problems (seed ${SEED})`);
});
