// Live operations against the independent model (test/helpers/model.ts, LiveModel), through a real
// server on a real SQLite file: random mixes of orders and changes (users put and removed with each
// disposition, subscriptions put and removed, states of the gate, a strategy and a user, square-offs,
// profile imports) and, in some runs, a kill -9 and a restart. Every answer is checked against the
// model as it comes, the book, the trades, the users, the states and the whole log at the end of each
// run, and `ordergate check` must replay the log with no mismatch.
//
// The runs share one server: each run has names of its own (R<n>-Ann, R<n>-S1), and starts by
// squaring off what an earlier run left, setting the gate ACTIVE and importing its own profile.
// LIVE_PROPERTY_RUNS sets the number of runs (20); FC_SEED=<seed> replays a failure.

import assert from 'node:assert/strict';
import test from 'node:test';
import fc from 'fast-check';
import { type Answer, call } from '../helpers/calls.js';
import {
  byUser,
  type Disposition,
  type ExpectedChange,
  LiveModel,
  type Refusal,
  type StateName,
} from '../helpers/model.js';
import { runCli, type Server, startServer } from '../helpers/server.js';
import { getJson, type Profile, readLog, readPositions, readTrades, type Side } from '../helpers/wire.js';

const RUNS = Number(process.env.LIVE_PROPERTY_RUNS ?? 20);
/** Steps per run: at least so many, so that changes meet the positions and states earlier steps made. */
const STEPS_MIN = 40;
const STEPS_MAX = 60;
/** Shrinking reruns a scenario on the server: a few dozen attempts at most, each a few seconds. */
const SHRINKS_MAX = 40;
/** The whole property, runs and shrinking, stops after this (a failure found by then is reported). */
const PROPERTY_TIME_MS = 360_000;
const DAY_MS = 86_400_000;

const USERS = ['Ann', 'Bob', 'Cy', 'Di', 'Ed'] as const;
const STRATEGIES = ['S1', 'S2', 'S3'] as const;
const INSTRUMENTS = ['ACC', 'INFY', 'L&T', 'NTPC'] as const;

type Subscriptions = Record<string, string[]>;
type Step =
  | { kind: 'order'; strategy: string; instrument: string; side: Side }
  | { kind: 'user-put'; user: string; subscriptions: Subscriptions }
  | { kind: 'user-delete'; user: string; positions: Disposition | null }
  | { kind: 'subscription-put'; user: string; strategy: string; instruments: string[] }
  | { kind: 'subscription-delete'; user: string; strategy: string; positions: Disposition | null }
  | { kind: 'state'; scope: 'gate' | 'strategy' | 'user'; name: string; state: StateName; reason: string }
  | { kind: 'square-off'; strategy: string | null; user: string | null }
  | { kind: 'import'; profile: Profile };

const user = fc.constantFrom(...USERS);
const strategy = fc.constantFrom(...STRATEGIES);
const instruments = fc.uniqueArray(fc.constantFrom(...INSTRUMENTS), { minLength: 1 });
const subscriptions = fc.dictionary(strategy, instruments, { minKeys: 1 });
const profile = fc.dictionary(user, subscriptions, { minKeys: 1 });
/** null: no ?positions= (the default, close-only). */
const disposition = fc.constantFrom<Disposition | null>('close-only', 'close-now', 'preserve', null);

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('order' as const),
      strategy: fc.constantFrom(...STRATEGIES, 'S9'),
      instrument: fc.constantFrom(...INSTRUMENTS),
      side: fc.constantFrom<Side>('BUY', 'SELL'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('user-put' as const), user, subscriptions }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('user-delete' as const), user, positions: disposition }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('subscription-put' as const), user, strategy, instruments }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('subscription-delete' as const),
      user,
      strategy,
      positions: disposition,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('state' as const),
      scope: fc.constantFrom('gate' as const, 'strategy' as const, 'user' as const),
      name: fc.constantFrom(...USERS, ...STRATEGIES),
      state: fc.constantFrom<StateName>('ACTIVE', 'ACTIVE', 'CLOSE_ONLY', 'HALTED'),
      reason: fc.constantFrom('maintenance', 'risk review', 'expiry'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('square-off' as const),
      strategy: fc.option(strategy, { freq: 2 }),
      user: fc.option(user, { freq: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('import' as const), profile }) },
);

const scenario = fc.record({
  profile,
  steps: fc.array(step, { minLength: STEPS_MIN, maxLength: STEPS_MAX }),
  /** Before which step the server is killed with SIGKILL and restarted, in about half the runs. */
  restartAt: fc.option(fc.nat({ max: STEPS_MAX - 1 }), { freq: 2 }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** SQUARE_OFF_TZ=UTC and every day a trading day: the close-only period ends at the next UTC midnight. */
const nextUtcMidnight = (atMs: number) => (Math.floor(atMs / DAY_MS) + 1) * DAY_MS;

function expectOk(answer: Answer, what: string): any {
  assert.equal(answer.status, 200, `${what}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** An order's answer with its per-user lists in user order, as the model gives them. */
function normalOrder(answer: any): any {
  return { ...answer, accepted: byUser(answer.accepted), rejected: byUser(answer.rejected) };
}

const byBook = (a: any, b: any) =>
  a.strategy < b.strategy ? -1 : a.strategy > b.strategy ? 1 : a.instrument < b.instrument ? -1 : 1;

/** The part of a change's answer the model predicts. */
function changeView(body: any) {
  return {
    version: body.version,
    closed: body.closed.map(({ order_id, strategy, instrument, positions }: any) => ({
      order_id,
      strategy,
      instrument,
      positions,
    })),
    left_close_only: [...body.left_close_only].sort(byBook),
    released: [...body.released].sort(byBook),
  };
}

function expectedView(expected: ExpectedChange) {
  return {
    version: expected.version,
    closed: expected.closed.map(({ answer: _answer, ...book }) => book),
    left_close_only: expected.left_close_only,
    released: expected.released,
  };
}

const isRefusal = (expected: object): expected is Refusal => 'refused' in expected;

interface Tally {
  runs: number;
  steps: number;
  restarts: number;
  readonly kinds: Map<string, number>;
}

/** One scenario, on the shared server, with names of its own. */
async function run(server: Server, scenario: Scenario, index: number, tally: Tally): Promise<void> {
  const prefix = `R${index}-`;
  const u = (name: string) => prefix + name;
  const s = (name: string) => prefix + name;
  const named = (profile: Profile): Profile =>
    Object.fromEntries(
      Object.entries(profile).map(([name, strategies]) => [
        u(name),
        Object.fromEntries(Object.entries(strategies).map(([strategy, list]) => [s(strategy), list])),
      ]),
    );
  const path = (name: string) => encodeURIComponent(name);

  // What an earlier run left: squared off, the gate ACTIVE again; then this run's users.
  expectOk(await call(server, 'POST', '/square-off', {}), 'reset: square-off');
  expectOk(await call(server, 'PUT', '/state', { state: 'ACTIVE' }), 'reset: gate ACTIVE');
  const initial = named(scenario.profile);
  const imported = expectOk(await call(server, 'PUT', '/profile', JSON.stringify(initial)), 'import');
  const model = new LiveModel(initial, { closeOnlyUntil: nextUtcMidnight, nextSeq: imported.version + 1 });
  const logged = new Map<number, object>();

  const change = async (what: string, answer: Answer, expected: ExpectedChange | Refusal) => {
    if (isRefusal(expected)) {
      assert.equal(answer.status, expected.refused.status, `${what}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error, expected.refused.error, what);
      return;
    }
    const body = expectOk(answer, what);
    assert.deepEqual(changeView(body), expectedView(expected), what);
    for (const sell of expected.closed) {
      const entry = await getJson<any>(server, `/orders/${sell.order_id}`);
      assert.deepEqual(normalOrder(entry), sell.answer, `${what}: system SELL ${sell.order_id}`);
      logged.set(sell.order_id, sell.answer);
    }
    const states = await getJson<any>(server, '/state');
    assert.deepEqual(statesView(states, prefix), model.states(Date.now()), `${what}: GET /state`);
  };

  for (const [i, next] of scenario.steps.entries()) {
    if (i === scenario.restartAt) {
      await server.kill();
      await server.restart();
      tally.restarts++;
      await compareViews(server, model, prefix, 'after the restart');
    }
    tally.steps++;
    tally.kinds.set(next.kind, (tally.kinds.get(next.kind) ?? 0) + 1);
    const what = `step ${i} ${JSON.stringify(next)}`;
    switch (next.kind) {
      case 'order': {
        const answer = expectOk(
          await call(server, 'POST', '/orders', {
            strategy: s(next.strategy),
            instrument: next.instrument,
            position: next.side,
          }),
          what,
        );
        const expected = model.order(s(next.strategy), next.instrument, next.side, answer.received_at);
        assert.deepEqual(normalOrder(answer), expected, what);
        logged.set(expected.order_id, expected);
        break;
      }
      case 'user-put': {
        const body = { subscriptions: named({ [next.user]: next.subscriptions })[u(next.user)]! };
        const answer = await call(server, 'PUT', `/users/${path(u(next.user))}`, body);
        await change(what, answer, model.putUser(u(next.user), body.subscriptions));
        break;
      }
      case 'user-delete': {
        const query = next.positions === null ? '' : `?positions=${next.positions}`;
        const answer = await call(server, 'DELETE', `/users/${path(u(next.user))}${query}`);
        const positions = next.positions ?? 'close-only';
        await change(what, answer, model.deleteUser(u(next.user), positions, answer.body.at));
        break;
      }
      case 'subscription-put': {
        const answer = await call(
          server,
          'PUT',
          `/users/${path(u(next.user))}/subscriptions/${path(s(next.strategy))}`,
          { instruments: next.instruments },
        );
        await change(what, answer, model.putSubscription(u(next.user), s(next.strategy), next.instruments));
        break;
      }
      case 'subscription-delete': {
        const query = next.positions === null ? '' : `?positions=${next.positions}`;
        const answer = await call(
          server,
          'DELETE',
          `/users/${path(u(next.user))}/subscriptions/${path(s(next.strategy))}${query}`,
        );
        const positions = next.positions ?? 'close-only';
        const expected = model.deleteSubscription(u(next.user), s(next.strategy), positions, answer.body.at);
        await change(what, answer, expected);
        break;
      }
      case 'state': {
        const name = next.scope === 'user' ? u(next.name) : s(next.name);
        const url =
          next.scope === 'gate'
            ? '/state'
            : `/${next.scope === 'user' ? 'users' : 'strategies'}/${path(name)}/state`;
        const answer = await call(server, 'PUT', url, { state: next.state, reason: next.reason });
        const expected = model.setState(
          next.scope,
          next.scope === 'gate' ? null : name,
          next.state,
          next.reason,
          answer.body.at,
        );
        await change(what, answer, expected);
        break;
      }
      case 'square-off': {
        const body = {
          ...(next.strategy !== null && { strategy: s(next.strategy) }),
          ...(next.user !== null && { user: u(next.user) }),
        };
        const answer = await call(server, 'POST', '/square-off', body);
        const expected = model.squareOff(body.strategy ?? null, body.user ?? null, answer.body.at);
        await change(what, answer, expected);
        if (!isRefusal(expected)) assert.equal(answer.body.close_only_until, expected.close_only_until, what);
        break;
      }
      case 'import': {
        const text = JSON.stringify(named(next.profile));
        const answer = await call(server, 'PUT', '/profile', text);
        const expected = model.importProfile(named(next.profile));
        await change(what, answer, expected);
        assert.deepEqual(
          [answer.body.users_added, answer.body.users_removed, answer.body.users_changed],
          [expected.added, expected.removed, expected.changed],
          `${what}: the counts`,
        );
        break;
      }
    }
  }
  await compareViews(server, model, prefix, 'at the end');

  // The log from the run's first order on is every answer given, as given.
  const log = await readLog(server, { after: imported.version });
  assert.deepEqual(
    log.map((entry) => entry.order_id),
    [...logged.keys()].sort((a, b) => a - b),
    'the log holds the orders answered, system SELLs included',
  );
  for (const entry of log) assert.deepEqual(normalOrder(entry), logged.get(entry.order_id));
  const check = await runCli(['check', '--database-url', server.databaseUrl, '--json']);
  assert.equal(check.code, 0, `ordergate check: ${check.stdout}${check.stderr}`);
  const report = JSON.parse(check.stdout);
  assert.equal(report.mismatches, 0, JSON.stringify(report.problems));
  tally.runs++;
}

/** The book, the trades, the users and the states against the model. */
async function compareViews(server: Server, model: LiveModel, prefix: string, when: string): Promise<void> {
  const positions = await readPositions(server);
  const key = (p: { user: string; strategy: string; instrument: string }) =>
    `${p.strategy}|${p.instrument}|${p.user}`;
  const sorted = <T extends { user: string; strategy: string; instrument: string }>(list: T[]) =>
    [...list].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  assert.deepEqual(sorted(positions), sorted(model.positions()), `GET /positions ${when}`);
  const trades = (await readTrades(server)).filter((trade) => trade.strategy.startsWith(prefix));
  const order = <T extends { sell_order_id: number; user: string }>(list: readonly T[]) =>
    [...list].sort((a, b) => a.sell_order_id - b.sell_order_id || (a.user < b.user ? -1 : 1));
  assert.deepEqual(order(trades), order(model.trades), `GET /trades ${when}`);
  const users = await getJson<{ users: any[]; next_after: string | null }>(server, '/users?limit=1000');
  assert.equal(users.next_after, null);
  const normal = users.users.map((entry) => ({
    ...entry,
    strategies: Object.fromEntries(
      Object.entries(entry.strategies as Record<string, string[]>).map(([name, list]) => [
        name,
        [...list].sort(),
      ]),
    ),
  }));
  assert.deepEqual(normal, model.users(), `GET /users ${when}`);
  const states = await getJson<any>(server, '/state');
  assert.deepEqual(statesView(states, prefix), model.states(Date.now()), `GET /state ${when}`);
}

/** GET /state as the model predicts it: this run's strategies and users only. */
function statesView(states: any, prefix: string) {
  return {
    version: states.version,
    gate: {
      state: states.gate.state,
      reason: states.gate.reason,
      close_only_until: states.gate.close_only_until,
    },
    strategies: states.strategies
      .filter((entry: any) => entry.strategy.startsWith(prefix))
      .map(({ strategy, state, reason, version }: any) => ({ strategy, state, reason, version })),
    users: states.users
      .filter((entry: any) => entry.user.startsWith(prefix))
      .map(({ user, state, reason, version }: any) => ({ user, state, reason, version })),
  };
}

test('live changes and orders, mixed at random through a real server, agree with the model, and ordergate check replays them', {
  timeout: PROPERTY_TIME_MS + 120_000,
}, async (t) => {
  const server = await startServer(t, {
    profile: { Seed: { S0: ['ACC'] } },
    env: { SQUARE_OFF_TZ: 'UTC', SQUARE_OFF_DAYS: 'sun,mon,tue,wed,thu,fri,sat' },
  });
  const tally: Tally = { runs: 0, steps: 0, restarts: 0, kinds: new Map() };
  let index = 0;
  await fc.assert(
    fc.asyncProperty(fc.limitShrink(scenario, SHRINKS_MAX), async (drawn) => {
      index++;
      await run(server, drawn, index, tally);
    }),
    {
      numRuns: RUNS,
      plugins: [fc.interruptAfterTimeLimit(PROPERTY_TIME_MS)],
      ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
    } as fc.Parameters<[Scenario]>,
  );
  t.diagnostic(
    `${tally.runs} runs, ${tally.steps} steps (${[...tally.kinds].map(([k, n]) => `${k} ${n}`).join(', ')}), ${tally.restarts} restarts`,
  );
  assert.equal(await server.stop(), 0);
  const check = await runCli(['check', '--database-url', server.databaseUrl, '--json']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.equal(JSON.parse(check.stdout).mismatches, 0);
});
