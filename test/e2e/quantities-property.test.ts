// Quantities and sized subscriptions against a small independent model, in both position scopes, over
// HTTP against a real server on a real SQLite file: random orders with random quantities (or none),
// subscriptions put with random multipliers and fixed quantities, whole users put, subscriptions
// removed (their positions left close-only) and bad sizings refused. Every answer's verdict, reason and
// per-user quantities are checked against the model as they come; at the end of each run the open
// positions, each user's holdings and subscriptions; at the end of all runs `ordergate check` must
// replay the whole log to no mismatch.
//
// The model is written again from issue 14 and the README, importing nothing from src/ (its arithmetic
// is BigInt, the server's is not):
//   a position is keyed (user, strategy, instrument) in `strategy` scope, (user, instrument) in
//   `account` scope, and remembers the strategy that opened it;
//   BUY, for each subscriber of the strategy: the instrument not in their subscription →
//   INSTRUMENT_NOT_IN_STRATEGY; a position under the key → POSITION_ALREADY_OPEN; else their quantity,
//   the fixed one or floor(order quantity × multiplier), 0 → QUANTITY_ZERO, else filled with it;
//   SELL, for each subscriber: a position under the key → filled with its whole quantity; else the
//   instrument not in the subscription → INSTRUMENT_NOT_IN_STRATEGY; else NO_OPEN_POSITION; and any
//   non-subscriber holding a position this strategy opened in the instrument → filled;
//   ACCEPTED if anyone filled, else REJECTED with STRATEGY_NOT_TRADED (nobody concerned) or
//   NO_USER_ELIGIBLE.
//
// Runs share one server per scope, each with names of its own (R<n>-Ann, R<n>-S1); QPROP_RUNS sets the
// runs per scope (10), QPROP_STEPS the steps per run (40), QPROP_SEED=<seed> replays one run exactly.

import assert from 'node:assert/strict';
import test from 'node:test';
import { type Answer, call, encoded, ok } from '../helpers/calls.js';
import { pick, prng } from '../helpers/random.js';
import { runCli, type Server, startServer } from '../helpers/server.js';
import { getJson, readPositions } from '../helpers/wire.js';

type Scope = 'strategy' | 'account';
type Side = 'BUY' | 'SELL';

const RUNS = Number(process.env.QPROP_RUNS ?? 10);
const STEPS = Number(process.env.QPROP_STEPS ?? 40);
const REPLAY_SEED = process.env.QPROP_SEED === undefined ? null : Number(process.env.QPROP_SEED);
const BASE_SEED = REPLAY_SEED ?? Math.floor(Math.random() * 2 ** 31);

const USERS = ['Ann', 'Bob', 'Cy', 'Di'] as const;
const STRATEGIES = ['S1', 'S2', 'S3'] as const;
const INSTRUMENTS = ['ACC', 'INFY', 'NTPC'] as const;

/** A multiplier as sent (a string or a number), its value in ten-thousandths, and how GET shows it (null: a plain list). */
const MULTIPLIERS: readonly [string | number, bigint, string | null][] = [
  ['0.5', 5000n, '0.5'],
  [0.5, 5000n, '0.5'],
  ['1', 10000n, null],
  ['1.5', 15000n, '1.5'],
  [2, 20000n, '2'],
  ['0.3333', 3333n, '0.3333'],
  ['0.0001', 1n, '0.0001'],
  [1000, 10000000n, '1000'],
  ['2.25', 22500n, '2.25'],
  [0.1, 1000n, '0.1'],
  ['7', 70000n, '7'],
  ['0.75', 7500n, '0.75'],
];
const FIXED = [1, 3, 40, 100_000_000] as const;
const BIG_QUANTITIES = [100_000_000, 99_999_999, 12_345] as const;
const BAD_SIZINGS: readonly Record<string, unknown>[] = [
  { multiplier: '0' },
  { multiplier: '-1' },
  { multiplier: '1.00001' },
  { multiplier: 'abc' },
  { multiplier: 1001 },
  { multiplier: '0.5', quantity: 3 },
  { quantity: 0 },
];

interface Sizing {
  /** What the request body carries besides the instruments. */
  readonly wire: Record<string, unknown>;
  readonly multiplierE4: bigint;
  readonly fixed: number | null;
  /** How GET /users shows it: null for a plain list, else the field beside instruments. */
  readonly shown: { multiplier: string } | { quantity: number } | null;
}

interface Held {
  readonly user: string;
  readonly strategy: string;
  readonly instrument: string;
  readonly quantity: number;
  readonly orderId: number;
}

interface Terms {
  readonly instruments: readonly string[];
  readonly sizing: Sizing;
}

const UNIT: Sizing = { wire: {}, multiplierE4: 10000n, fixed: null, shown: null };

class QuantityModel {
  readonly users = new Map<string, Map<string, Terms>>();
  readonly open = new Map<string, Held>();

  constructor(readonly scope: Scope) {}

  #key(user: string, strategy: string, instrument: string): string {
    return this.scope === 'account' ? `${user}|${instrument}` : `${user}|${strategy}|${instrument}`;
  }

  /** The verdict of an order of `quantity` units (undefined: the default, 1) before its order_id is known. */
  decide(strategy: string, instrument: string, side: Side, quantity: number | undefined) {
    const units = BigInt(quantity ?? 1);
    const accepted: { user: string; quantity: number; buy_order_id?: number }[] = [];
    const rejected: { user: string; reason: string }[] = [];
    const subscribers = new Set<string>();
    for (const [user, strategies] of this.users) {
      const terms = strategies.get(strategy);
      if (terms === undefined) continue;
      subscribers.add(user);
      const traded = terms.instruments.includes(instrument);
      const held = this.open.get(this.#key(user, strategy, instrument));
      if (side === 'BUY') {
        if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
        else if (held !== undefined) rejected.push({ user, reason: 'POSITION_ALREADY_OPEN' });
        else {
          const { fixed, multiplierE4 } = terms.sizing;
          const sized = fixed ?? Number((units * multiplierE4) / 10000n);
          if (sized === 0) rejected.push({ user, reason: 'QUANTITY_ZERO' });
          else accepted.push({ user, quantity: sized });
        }
      } else if (held !== undefined)
        accepted.push({ user, quantity: held.quantity, buy_order_id: held.orderId });
      else if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else rejected.push({ user, reason: 'NO_OPEN_POSITION' });
    }
    if (side === 'SELL') {
      for (const held of this.open.values()) {
        if (held.strategy !== strategy || held.instrument !== instrument || subscribers.has(held.user))
          continue;
        accepted.push({ user: held.user, quantity: held.quantity, buy_order_id: held.orderId });
      }
    }
    const status = accepted.length > 0 ? 'ACCEPTED' : 'REJECTED';
    const reason =
      accepted.length > 0 ? null : rejected.length === 0 ? 'STRATEGY_NOT_TRADED' : 'NO_USER_ELIGIBLE';
    return {
      status,
      reason,
      quantity: quantity ?? 1,
      accepted: byUser(accepted),
      rejected: byUser(rejected),
    };
  }

  /** Applies a verdict the server agreed with, as order `orderId`. */
  apply(
    strategy: string,
    instrument: string,
    side: Side,
    accepted: readonly { user: string; quantity: number }[],
    orderId: number,
  ) {
    for (const fill of accepted) {
      if (side === 'BUY') {
        const held = { user: fill.user, strategy, instrument, quantity: fill.quantity, orderId };
        this.open.set(this.#key(fill.user, strategy, instrument), held);
        continue;
      }
      // The position a SELL closes: the user's under the key, or (a leaver) the one this strategy opened.
      const key = [...this.open].find(
        ([, held]) =>
          held.user === fill.user &&
          held.instrument === instrument &&
          (this.scope === 'account' || held.strategy === strategy),
      )![0];
      this.open.delete(key);
    }
  }

  putSubscription(user: string, strategy: string, terms: Terms) {
    const strategies = this.users.get(user) ?? new Map<string, Terms>();
    strategies.set(strategy, terms);
    this.users.set(user, strategies);
  }

  putUser(user: string, subscriptions: Map<string, Terms>) {
    this.users.set(user, subscriptions);
  }

  /** True when the subscription was there to remove. */
  deleteSubscription(user: string, strategy: string): boolean {
    const strategies = this.users.get(user);
    if (strategies?.delete(strategy) !== true) return false;
    if (strategies.size === 0) this.users.delete(user);
    return true;
  }

  holdings(user: string) {
    const byInstrument = new Map<string, { quantity: number; strategies: Record<string, number> }>();
    for (const held of this.open.values()) {
      if (held.user !== user) continue;
      const entry = byInstrument.get(held.instrument) ?? { quantity: 0, strategies: {} };
      entry.quantity += held.quantity;
      entry.strategies[held.strategy] = (entry.strategies[held.strategy] ?? 0) + held.quantity;
      byInstrument.set(held.instrument, entry);
    }
    return [...byInstrument]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([instrument, entry]) => ({ instrument, ...entry }));
  }
}

const byUser = <T extends { user: string }>(items: readonly T[]) =>
  [...items].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));

/** One run's random choices, from its seed. */
class Chooser {
  readonly #random: () => number;

  constructor(
    seed: number,
    readonly prefix: string,
  ) {
    this.#random = prng(seed);
  }

  chance(p: number): boolean {
    return this.#random() < p;
  }

  user(): string {
    return `${this.prefix}-${pick(this.#random, USERS)}`;
  }

  strategy(unknown = false): string {
    return `${this.prefix}-${pick(this.#random, unknown ? [...STRATEGIES, 'S9'] : STRATEGIES)}`;
  }

  instrument(): string {
    return pick(this.#random, INSTRUMENTS);
  }

  instruments(): string[] {
    const chosen = INSTRUMENTS.filter(() => this.chance(0.5));
    return chosen.length > 0 ? chosen : [this.instrument()];
  }

  quantity(): number | undefined {
    const roll = this.#random();
    if (roll < 0.2) return undefined;
    if (roll < 0.85) return 1 + Math.floor(this.#random() * 20);
    return pick(this.#random, BIG_QUANTITIES);
  }

  sizing(): Sizing {
    const roll = this.#random();
    if (roll < 0.25) return UNIT;
    if (roll < 0.75) {
      const [wire, multiplierE4, text] = pick(this.#random, MULTIPLIERS);
      return {
        wire: { multiplier: wire },
        multiplierE4,
        fixed: null,
        shown: text === null ? null : { multiplier: text },
      };
    }
    const fixed = pick(this.#random, FIXED);
    return { wire: { quantity: fixed }, multiplierE4: 10000n, fixed, shown: { quantity: fixed } };
  }

  terms(): Terms {
    return { instruments: this.instruments(), sizing: this.sizing() };
  }

  badSizing(): Record<string, unknown> {
    return pick(this.#random, BAD_SIZINGS);
  }

  roll(): number {
    return this.#random();
  }
}

/** How a subscription is sent: the seed's list when unsized (sometimes as an object without sizing). */
function subscriptionBody(terms: Terms, asObject: boolean): unknown {
  if (terms.sizing === UNIT && !asObject) return [...terms.instruments];
  return { instruments: [...terms.instruments], ...terms.sizing.wire };
}

interface Run {
  readonly server: Server;
  readonly model: QuantityModel;
  readonly choose: Chooser;
  readonly trail: string[];
  /** How often each verdict came up, so that a run shows what it exercised. */
  readonly seen: Map<string, number>;
  lastOrderId: number;
  lastOrder: { instrument: string; side: Side } | null;
}

function expect(run: Run, condition: boolean, what: string, answer: Answer | unknown, expected?: unknown) {
  if (condition) return;
  assert.fail(
    `${what}\nexpected: ${JSON.stringify(expected)}\nactual:   ${JSON.stringify(answer)}\n` +
      `steps so far:\n  ${run.trail.join('\n  ')}`,
  );
}

async function orderStep(run: Run): Promise<void> {
  const { choose, model, server } = run;
  // Often the instrument of the order before, from any strategy, so that positions meet their SELLs.
  const again = run.lastOrder !== null && choose.chance(0.4);
  const strategy = choose.strategy(true);
  const instrument = again ? run.lastOrder!.instrument : choose.instrument();
  const side: Side = again
    ? run.lastOrder!.side === 'BUY'
      ? 'SELL'
      : 'BUY'
    : choose.chance(0.5)
      ? 'BUY'
      : 'SELL';
  run.lastOrder = { instrument, side };
  const quantity = choose.quantity();
  run.trail.push(`order ${strategy} ${instrument} ${side} ${quantity ?? '(none)'}`);
  const expected = model.decide(strategy, instrument, side, quantity);
  const answer = await ok(server, 'POST', '/orders', { strategy, instrument, position: side, quantity });
  expect(
    run,
    answer.order_id > run.lastOrderId,
    'order_id increases',
    answer.order_id,
    `> ${run.lastOrderId}`,
  );
  run.lastOrderId = answer.order_id;
  const actual = {
    status: answer.status,
    reason: answer.reason,
    quantity: answer.quantity,
    accepted: byUser(answer.accepted).map(({ user, quantity, buy_order_id }: any) =>
      buy_order_id === undefined ? { user, quantity } : { user, quantity, buy_order_id },
    ),
    rejected: byUser(answer.rejected),
  };
  try {
    assert.deepEqual(actual, expected);
  } catch {
    expect(run, false, 'the answer agrees with the model', actual, expected);
  }
  model.apply(strategy, instrument, side, expected.accepted, answer.order_id);
  const verdicts = [
    ...expected.rejected.map((denial) => denial.reason),
    ...expected.accepted.map(() => `${side} fill`),
  ];
  for (const verdict of verdicts) run.seen.set(verdict, (run.seen.get(verdict) ?? 0) + 1);
}

async function subscriptionStep(run: Run): Promise<void> {
  const { choose, model, server } = run;
  const user = choose.user();
  const strategy = choose.strategy();
  const terms = choose.terms();
  const body = subscriptionBody(terms, true);
  run.trail.push(`PUT subscription ${user} ${strategy} ${JSON.stringify(body)}`);
  await ok(server, 'PUT', `/users/${encoded(user)}/subscriptions/${encoded(strategy)}`, body);
  model.putSubscription(user, strategy, terms);
}

async function userStep(run: Run): Promise<void> {
  const { choose, model, server } = run;
  const user = choose.user();
  const subscriptions = new Map<string, Terms>();
  for (let i = choose.chance(0.5) ? 1 : 2; i > 0; i--) subscriptions.set(choose.strategy(), choose.terms());
  const body = Object.fromEntries(
    [...subscriptions].map(([strategy, terms]) => [strategy, subscriptionBody(terms, choose.chance(0.2))]),
  );
  run.trail.push(`PUT user ${user} ${JSON.stringify(body)}`);
  await ok(server, 'PUT', `/users/${encoded(user)}`, { subscriptions: body });
  model.putUser(user, subscriptions);
}

async function removalStep(run: Run): Promise<void> {
  const { choose, model, server } = run;
  const user = choose.user();
  const strategy = choose.strategy();
  run.trail.push(`DELETE subscription ${user} ${strategy}`);
  const there = model.users.get(user)?.has(strategy) === true;
  const answer = await call(server, 'DELETE', `/users/${encoded(user)}/subscriptions/${encoded(strategy)}`);
  expect(run, answer.status === (there ? 200 : 404), 'DELETE subscription status', answer, there ? 200 : 404);
  model.deleteSubscription(user, strategy);
}

async function badSizingStep(run: Run): Promise<void> {
  const { choose, server } = run;
  const user = choose.user();
  const strategy = choose.strategy();
  const sizing = choose.badSizing();
  run.trail.push(`PUT subscription ${user} ${strategy} bad ${JSON.stringify(sizing)} (refused)`);
  const answer = await call(server, 'PUT', `/users/${encoded(user)}/subscriptions/${encoded(strategy)}`, {
    instruments: ['ACC'],
    ...sizing,
  });
  expect(
    run,
    answer.status === 400 && answer.body.error === 'INVALID_REQUEST',
    'a bad sizing is refused',
    answer,
  );
}

async function step(run: Run): Promise<void> {
  const roll = run.choose.roll();
  if (roll < 0.66) return orderStep(run);
  if (roll < 0.82) return subscriptionStep(run);
  if (roll < 0.9) return userStep(run);
  if (roll < 0.96) return removalStep(run);
  return badSizingStep(run);
}

/** The end of a run: the open positions, each user's holdings and subscriptions, as the model has them. */
async function compareState(run: Run): Promise<void> {
  const { model, server, choose } = run;
  const positions = (await readPositions(server))
    .filter((p) => p.user.startsWith(`${choose.prefix}-`))
    .map((p: any) => [p.user, p.strategy, p.instrument, p.quantity, p.order_id])
    .sort();
  const expected = [...model.open.values()]
    .map((held) => [held.user, held.strategy, held.instrument, held.quantity, held.orderId])
    .sort();
  try {
    assert.deepEqual(positions, expected);
  } catch {
    expect(run, false, 'GET /positions agrees with the model', positions, expected);
  }
  for (const [user, strategies] of model.users) {
    const holdings = await getJson<any>(server, `/users/${encoded(user)}/holdings`);
    try {
      assert.deepEqual(holdings, { user, holdings: model.holdings(user) });
    } catch {
      expect(run, false, `GET /users/${user}/holdings agrees with the model`, holdings, model.holdings(user));
    }
    const shown = (await getJson<any>(server, `/users/${encoded(user)}`)).strategies;
    const wanted = Object.fromEntries(
      [...strategies].map(([strategy, { instruments, sizing }]) => [
        strategy,
        sizing.shown === null
          ? [...instruments].sort()
          : { instruments: [...instruments].sort(), ...sizing.shown },
      ]),
    );
    const sortedShown = Object.fromEntries(
      Object.entries(shown).map(([strategy, entry]: [string, any]) => [
        strategy,
        Array.isArray(entry) ? [...entry].sort() : { ...entry, instruments: [...entry.instruments].sort() },
      ]),
    );
    try {
      assert.deepEqual(sortedShown, wanted);
    } catch {
      expect(run, false, `GET /users/${user} shows the subscriptions`, sortedShown, wanted);
    }
  }
}

async function runOnce(
  server: Server,
  scope: Scope,
  seed: number,
  prefix: string,
  seen: Map<string, number>,
): Promise<number> {
  const run: Run = {
    server,
    model: new QuantityModel(scope),
    choose: new Chooser(seed, prefix),
    trail: [],
    seen,
    lastOrderId: 0,
    lastOrder: null,
  };
  run.trail.push(`scope ${scope}, seed ${seed} (QPROP_SEED=${seed} replays this run)`);
  for (const user of USERS.slice(0, 3)) {
    const name = `${prefix}-${user}`;
    const strategy = run.choose.strategy();
    const terms = run.choose.terms();
    run.trail.push(`PUT subscription ${name} ${strategy} ${JSON.stringify(subscriptionBody(terms, true))}`);
    await ok(
      server,
      'PUT',
      `/users/${encoded(name)}/subscriptions/${encoded(strategy)}`,
      subscriptionBody(terms, true),
    );
    run.model.putSubscription(name, strategy, terms);
  }
  for (let i = 0; i < STEPS; i++) await step(run);
  await compareState(run);
  return run.model.open.size;
}

for (const scope of ['strategy', 'account'] as const) {
  test(`${scope} scope: random orders with quantities and sized subscriptions agree with the model, answer by answer, and check replays them`, {
    timeout: 300_000,
  }, async (t) => {
    const server = await startServer(t, {
      profile: { Keeper: { Z: ['ZZZ'] } },
      env: { POSITION_SCOPE: scope },
    });
    const seeds =
      REPLAY_SEED !== null
        ? [REPLAY_SEED]
        : Array.from({ length: RUNS }, (_, i) => (BASE_SEED + i * 7919) >>> 0);
    t.diagnostic(`${scope} scope: seeds ${seeds.join(', ')}; QPROP_SEED=<seed> replays one`);
    let open = 0;
    const seen = new Map<string, number>();
    for (const [index, seed] of seeds.entries())
      open += await runOnce(server, scope, seed, `R${index}`, seen);
    t.diagnostic(`${scope} scope: ${open} positions open at the ends of the runs`);
    t.diagnostic(`${scope} scope: verdicts seen ${JSON.stringify(Object.fromEntries([...seen].sort()))}`);
    const check = await runCli(['check', '--database-url', server.databaseUrl, '--json']);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.equal(JSON.parse(check.stdout).mismatches, 0, check.stdout);
  });
}
