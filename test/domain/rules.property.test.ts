// decide() and the open book against a small independent model, on thousands of random profiles
// and order sequences, in both position scopes and with sized subscriptions. fast-check prints the
// seed and the shrunk counterexample of any failure; FC_SEED=<seed> replays it exactly.

import assert from 'node:assert/strict';
import test from 'node:test';
import fc from 'fast-check';
import { OpenBook, type PositionScope } from '../../src/domain/book.js';
import type { Side } from '../../src/domain/order.js';
import { indexSubscriptions, type Profile } from '../../src/domain/profile.js';
import { decide } from '../../src/domain/rules.js';
import { SizingPool, UNIT_SIZING } from '../../src/domain/sizing.js';

const STRATEGIES = ['S1', 'S2', 'S3'];
const INSTRUMENTS = ['ACC', 'INFY', 'L&T', 'NTPC'];
const pool = new SizingPool();

/** A sizing as the model reads it: a multiplier as [numerator, denominator], or a fixed quantity. */
type ModelSizing = { readonly times: readonly [number, number] } | { readonly fixed: number };

const sizingArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant<ModelSizing>({ times: [1, 1] }) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 1, max: 30_000 }).map<ModelSizing>((n) => ({ times: [n, 10_000] })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 500 }).map<ModelSizing>((fixed) => ({ fixed })) },
);

const profileArb = fc
  .uniqueArray(
    fc.record({
      user: fc.constantFrom('Ann', 'Bob', 'Cy', 'Di', 'Ed'),
      subscriptions: fc.uniqueArray(
        fc.record({
          strategy: fc.constantFrom(...STRATEGIES),
          instruments: fc.uniqueArray(fc.constantFrom(...INSTRUMENTS), { minLength: 1 }),
          model: sizingArb,
        }),
        { minLength: 1, selector: (s) => s.strategy },
      ),
    }),
    { minLength: 1, selector: (u) => u.user },
  )
  .map((users) => users);

type ModelProfile = {
  user: string;
  subscriptions: { strategy: string; instruments: string[]; model: ModelSizing }[];
}[];

function toProfile(model: ModelProfile): Profile {
  return model.map(({ user, subscriptions }) => ({
    user,
    subscriptions: subscriptions.map(({ strategy, instruments, model: sizing }) => ({
      strategy,
      instruments,
      sizing:
        'fixed' in sizing
          ? pool.of(0, sizing.fixed)
          : sizing.times[0] === sizing.times[1]
            ? UNIT_SIZING
            : pool.of(sizing.times[0], null),
    })),
  }));
}

const orderArb = fc.record({
  strategy: fc.constantFrom(...STRATEGIES, 'NOBODY'),
  instrument: fc.constantFrom(...INSTRUMENTS),
  side: fc.constantFrom<Side>('BUY', 'SELL'),
  quantity: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 1000 })),
});

interface ModelPosition {
  readonly strategy: string;
  readonly quantity: number;
}

/** Where the model keeps a position: the scope, written out again rather than taken from book.ts. */
function modelKey(scope: PositionScope, user: string, strategy: string, instrument: string): string {
  return scope === 'account' ? `${user}|${instrument}` : `${user}|${strategy}|${instrument}`;
}

/** The model: the rules as the seed README and issue 14 state them, written as plainly as possible. */
function modelVerdict(
  scope: PositionScope,
  profile: ModelProfile,
  open: Map<string, ModelPosition>,
  order: { strategy: string; instrument: string; side: Side; quantity: number },
  user: string,
): [string, number] {
  const subscription = profile
    .find((p) => p.user === user)
    ?.subscriptions.find((s) => s.strategy === order.strategy);
  const held = open.get(modelKey(scope, user, order.strategy, order.instrument));
  const trades = subscription?.instruments.includes(order.instrument) === true;
  if (order.side === 'SELL' && held !== undefined) {
    // Someone who left the strategy may only close what that strategy opened.
    if (subscription !== undefined || held.strategy === order.strategy) return ['FILL', held.quantity];
    return ['NONE', 0];
  }
  if (subscription === undefined) return ['NONE', 0];
  if (!trades) return ['INSTRUMENT_NOT_IN_STRATEGY', 0];
  if (order.side === 'SELL') return ['NO_OPEN_POSITION', 0];
  if (held !== undefined) return ['POSITION_ALREADY_OPEN', 0];
  const sizing = subscription.model;
  const quantity =
    'fixed' in sizing ? sizing.fixed : Math.floor((order.quantity * sizing.times[0]) / sizing.times[1]);
  return quantity === 0 ? ['QUANTITY_ZERO', 0] : ['FILL', quantity];
}

for (const scope of ['strategy', 'account'] as const) {
  test(`decide() and the open book agree with the model on random profiles and orders (${scope} scope)`, () => {
    fc.assert(
      fc.property(profileArb, fc.array(orderArb, { maxLength: 60 }), (model, orders) => {
        const profile = toProfile(model);
        const ids = new Map(profile.map((p, i) => [p.user, i + 1]));
        const names = new Map([...ids].map(([name, id]) => [id, name]));
        const index = indexSubscriptions(profile, (user) => ids.get(user)!);
        const book = new OpenBook(scope);
        const open = new Map<string, ModelPosition>();
        orders.forEach((order, i) => {
          const decision = decide(
            order,
            index.get(order.strategy),
            book.holdersOf(order.strategy, order.instrument),
          );
          const verdicts = new Map<string, [string, number]>();
          for (const fill of decision.fills) verdicts.set(names.get(fill.userId)!, ['FILL', fill.quantity]);
          for (const denial of decision.denials) verdicts.set(names.get(denial.userId)!, [denial.reason, 0]);
          assert.equal(
            verdicts.size,
            decision.fills.length + decision.denials.length,
            'each user decided once',
          );
          for (const { user } of model) {
            const expected = modelVerdict(scope, model, open, order, user);
            assert.deepEqual(verdicts.get(user) ?? ['NONE', 0], expected, user);
          }
          const anyFill = decision.fills.length > 0;
          assert.equal(decision.status, anyFill ? 'ACCEPTED' : 'REJECTED');
          assert.equal(
            decision.reason,
            anyFill ? null : verdicts.size === 0 ? 'STRATEGY_NOT_TRADED' : 'NO_USER_ELIGIBLE',
          );
          book.apply(order.strategy, order.instrument, decision, i + 1, 0);
          for (const [user, [verdict, quantity]] of verdicts) {
            if (verdict !== 'FILL') continue;
            const key = modelKey(scope, user, order.strategy, order.instrument);
            if (order.side === 'BUY') open.set(key, { strategy: order.strategy, quantity });
            else open.delete(key);
          }
          assert.equal(book.size, open.size, 'the book holds exactly the open positions');
          for (const { strategy, instrument, userId, position } of book.positions()) {
            const kept = open.get(modelKey(scope, names.get(userId)!, strategy, instrument));
            assert.deepEqual(kept, { strategy: position.strategy, quantity: position.quantity });
          }
        });
      }),
      { numRuns: 3000, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
    );
  });
}

test('a held position can be sold after the profile stopped giving that instrument', () => {
  const book = new OpenBook();
  const position = { orderId: 1, openedAtMs: 0, quantity: 5, strategy: 'S1' };
  book.open('ACC', 1, position);
  const withoutAcc = indexSubscriptions(
    [{ user: 'Ann', subscriptions: [{ strategy: 'S1', instruments: ['INFY'], sizing: UNIT_SIZING }] }],
    () => 1,
  );
  const sellAcc = { strategy: 'S1', instrument: 'ACC', side: 'SELL', quantity: 1 } as const;
  const sell = decide(sellAcc, withoutAcc.get('S1'), book.holdersOf('S1', 'ACC'));
  assert.equal(sell.status, 'ACCEPTED');
  assert.deepEqual(sell.fills, [{ userId: 1, quantity: 5, closes: position }]);
  const nobody = decide(sellAcc, undefined, book.holdersOf('S1', 'ACC'));
  assert.equal(nobody.status, 'ACCEPTED', 'also once the user left the strategy altogether');
});

test("in account scope a strategy's SELL closes a position another strategy opened, and a BUY finds it", () => {
  const book = new OpenBook('account');
  const position = { orderId: 1, openedAtMs: 0, quantity: 3, strategy: 'S2' };
  book.open('MINDA', 7, position);
  const index = indexSubscriptions(
    [{ user: 'Holland', subscriptions: [{ strategy: 'S1', instruments: ['INFY'], sizing: UNIT_SIZING }] }],
    () => 7,
  );
  const buy = decide(
    { strategy: 'S1', instrument: 'MINDA', side: 'BUY', quantity: 1 },
    index.get('S1'),
    book.holdersOf('S1', 'MINDA'),
  );
  assert.deepEqual(buy.denials, [{ userId: 7, reason: 'INSTRUMENT_NOT_IN_STRATEGY' }]);
  const sell = decide(
    { strategy: 'S1', instrument: 'MINDA', side: 'SELL', quantity: 1 },
    index.get('S1'),
    book.holdersOf('S1', 'MINDA'),
  );
  assert.deepEqual(sell.fills, [{ userId: 7, quantity: 3, closes: position }]);
  const stranger = decide(
    { strategy: 'S3', instrument: 'MINDA', side: 'SELL', quantity: 1 },
    undefined,
    book.holdersOf('S3', 'MINDA'),
  );
  assert.equal(
    stranger.status,
    'REJECTED',
    "a strategy the user never traded cannot close another's position",
  );
});
