// decide() and the open book against a small independent model, on thousands of random profiles
// and order sequences. fast-check prints the seed and the shrunk counterexample of any failure;
// FC_SEED=<seed> replays it exactly.

import assert from 'node:assert/strict';
import test from 'node:test';
import fc from 'fast-check';
import { OpenBook } from '../../src/domain/book.js';
import type { Side } from '../../src/domain/order.js';
import { indexSubscriptions, type Profile } from '../../src/domain/profile.js';
import { decide } from '../../src/domain/rules.js';

const STRATEGIES = ['S1', 'S2', 'S3'];
const INSTRUMENTS = ['ACC', 'INFY', 'L&T', 'NTPC'];

const profileArb = fc
  .uniqueArray(
    fc.record({
      user: fc.constantFrom('Ann', 'Bob', 'Cy', 'Di', 'Ed'),
      subscriptions: fc.uniqueArray(
        fc.record({
          strategy: fc.constantFrom(...STRATEGIES),
          instruments: fc.uniqueArray(fc.constantFrom(...INSTRUMENTS), { minLength: 1 }),
        }),
        { minLength: 1, selector: (s) => s.strategy },
      ),
    }),
    { minLength: 1, selector: (u) => u.user },
  )
  .map((users): Profile => users);

const orderArb = fc.record({
  strategy: fc.constantFrom(...STRATEGIES, 'NOBODY'),
  instrument: fc.constantFrom(...INSTRUMENTS),
  side: fc.constantFrom<Side>('BUY', 'SELL'),
});

/** The model: the rules as the seed README states them, written as plainly as possible. */
function modelVerdict(
  profile: Profile,
  open: Set<string>,
  order: { strategy: string; instrument: string; side: Side },
  user: string,
): string {
  const subscription = profile
    .find((p) => p.user === user)
    ?.subscriptions.find((s) => s.strategy === order.strategy);
  const holds = open.has(`${user}|${order.strategy}|${order.instrument}`);
  const trades = subscription?.instruments.includes(order.instrument) === true;
  if (order.side === 'SELL' && holds) return 'FILL';
  if (!trades) return 'INSTRUMENT_NOT_IN_STRATEGY';
  if (order.side === 'BUY') return holds ? 'POSITION_ALREADY_OPEN' : 'FILL';
  return 'NO_OPEN_POSITION';
}

test('decide() and the open book agree with the model on random profiles and order sequences', () => {
  fc.assert(
    fc.property(profileArb, fc.array(orderArb, { maxLength: 60 }), (profile, orders) => {
      const ids = new Map(profile.map((p, i) => [p.user, i + 1]));
      const names = new Map([...ids].map(([name, id]) => [id, name]));
      const index = indexSubscriptions(profile, (user) => ids.get(user)!);
      const book = new OpenBook();
      const open = new Set<string>();
      orders.forEach((order, i) => {
        const decision = decide(
          order.side,
          order.instrument,
          index.get(order.strategy),
          book.holdersOf(order.strategy, order.instrument),
        );
        const verdicts = new Map<string, string>();
        for (const fill of decision.fills) verdicts.set(names.get(fill.userId)!, 'FILL');
        for (const denial of decision.denials) verdicts.set(names.get(denial.userId)!, denial.reason);
        assert.equal(
          verdicts.size,
          decision.fills.length + decision.denials.length,
          'each user decided once',
        );
        const concerned = profile.filter((p) => p.subscriptions.some((s) => s.strategy === order.strategy));
        for (const { user } of concerned)
          assert.equal(verdicts.get(user), modelVerdict(profile, open, order, user), user);
        for (const [user] of verdicts) {
          if (!concerned.some((p) => p.user === user))
            assert.equal(verdicts.get(user), 'FILL', 'only holders outside');
        }
        const anyFill = [...verdicts.values()].includes('FILL');
        assert.equal(decision.status, anyFill ? 'ACCEPTED' : 'REJECTED');
        assert.equal(
          decision.reason,
          anyFill ? null : verdicts.size === 0 ? 'STRATEGY_NOT_TRADED' : 'NO_USER_ELIGIBLE',
        );
        book.apply(order.strategy, order.instrument, decision, i + 1, 0);
        for (const [user, verdict] of verdicts) {
          if (verdict !== 'FILL') continue;
          const key = `${user}|${order.strategy}|${order.instrument}`;
          if (order.side === 'BUY') open.add(key);
          else open.delete(key);
        }
        assert.equal(book.size, open.size, 'the book holds exactly the open positions');
      });
    }),
    { numRuns: 3000, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
  );
});

test('a held position can be sold after the profile stopped giving that instrument', () => {
  const book = new OpenBook();
  book.open('S1', 'ACC', 1, { orderId: 1, openedAtMs: 0 });
  const withoutAcc = indexSubscriptions(
    [{ user: 'Ann', subscriptions: [{ strategy: 'S1', instruments: ['INFY'] }] }],
    () => 1,
  );
  const sell = decide('SELL', 'ACC', withoutAcc.get('S1'), book.holdersOf('S1', 'ACC'));
  assert.equal(sell.status, 'ACCEPTED');
  assert.deepEqual(sell.fills, [{ userId: 1, closes: { orderId: 1, openedAtMs: 0 } }]);
  const nobody = decide('SELL', 'ACC', undefined, book.holdersOf('S1', 'ACC'));
  assert.equal(nobody.status, 'ACCEPTED', 'also once the user left the strategy altogether');
});
