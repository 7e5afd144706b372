// An independent model of the gate's rules, written again from the README without src/ (it is the
// checker, not the code under test: import nothing from src/domain or src/store here). It replays a
// logged answer list from an empty book, deriving each verdict from the profile alone:
//   the users an order concerns are the strategy's subscribers and, for a SELL, anyone holding the
//   (strategy, instrument);
//   BUY: the instrument not in the user's strategy → INSTRUMENT_NOT_IN_STRATEGY, a position open →
//   POSITION_ALREADY_OPEN, else filled;
//   SELL: a position open → filled (also for a user no longer subscribed), else the instrument not in
//   the strategy → INSTRUMENT_NOT_IN_STRATEGY, else NO_OPEN_POSITION;
//   the order is ACCEPTED if it filled anyone, else REJECTED with STRATEGY_NOT_TRADED if it concerned
//   no one, NO_USER_ELIGIBLE if it did.

import type { Denial, Fill, LoggedOrder, Position, Profile, Trade } from './wire.js';

export interface Verdict {
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: string | null;
  readonly accepted: readonly Fill[];
  readonly rejected: readonly Denial[];
}

interface Held {
  readonly orderId: number;
  readonly openedAt: string;
}

/** The key of an open position; `|` is not allowed in names, so it cannot be ambiguous. */
export const positionKey = (user: string, strategy: string, instrument: string) =>
  `${user}|${strategy}|${instrument}`;

/** Sorted by user, for comparing lists of users whatever order they came in. */
export const byUser = <T extends { user: string }>(items: readonly T[]) =>
  [...items].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));

export class Model {
  /** user|strategy|instrument → the BUY that opened the position. */
  readonly #open = new Map<string, Held>();
  /** The closed round trips, in the order the SELLs closed them. */
  readonly trades: Trade[] = [];

  constructor(private readonly profile: Profile) {}

  /**
   * Decides a logged order on the model's book (its order_id and received_at stand for the BUY that a
   * fill opens and the time a SELL closes), applies the fills and returns the verdict.
   */
  apply(order: LoggedOrder): Verdict {
    const accepted: Fill[] = [];
    const rejected: Denial[] = [];
    for (const [user, strategies] of Object.entries(this.profile)) {
      const instruments = strategies[order.strategy];
      const held = this.#open.get(positionKey(user, order.strategy, order.instrument));
      if (instruments === undefined) {
        if (order.position === 'SELL' && held !== undefined) {
          accepted.push({ user, buy_order_id: held.orderId, opened_at: held.openedAt });
        }
        continue;
      }
      const traded = instruments.includes(order.instrument);
      if (order.position === 'BUY') {
        if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
        else if (held !== undefined) rejected.push({ user, reason: 'POSITION_ALREADY_OPEN' });
        else accepted.push({ user });
      } else if (held !== undefined) {
        accepted.push({ user, buy_order_id: held.orderId, opened_at: held.openedAt });
      } else if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else rejected.push({ user, reason: 'NO_OPEN_POSITION' });
    }
    for (const fill of accepted) {
      const key = positionKey(fill.user, order.strategy, order.instrument);
      if (order.position === 'BUY') {
        this.#open.set(key, { orderId: order.order_id, openedAt: order.received_at });
      } else {
        this.#open.delete(key);
        this.trades.push({
          user: fill.user,
          strategy: order.strategy,
          instrument: order.instrument,
          buy_order_id: fill.buy_order_id!,
          sell_order_id: order.order_id,
          opened_at: fill.opened_at!,
          closed_at: order.received_at,
        });
      }
    }
    if (accepted.length > 0) return { status: 'ACCEPTED', reason: null, accepted, rejected };
    // Filling no one, the order concerned exactly the users it rejected.
    const reason = rejected.length === 0 ? 'STRATEGY_NOT_TRADED' : 'NO_USER_ELIGIBLE';
    return { status: 'REJECTED', reason, accepted, rejected };
  }

  /** The positions open on the model's book. */
  positions(): Position[] {
    return [...this.#open].map(([key, held]) => {
      const [user, strategy, instrument] = key.split('|') as [string, string, string];
      return { user, strategy, instrument, order_id: held.orderId, opened_at: held.openedAt };
    });
  }
}

/**
 * Replays logged orders, in the order given (order_id order for a log), on a model with an empty book:
 * hands each order with the model's verdict to `check`, and returns the model with the book they leave.
 */
export function replay(
  profile: Profile,
  orders: Iterable<LoggedOrder>,
  check: (order: LoggedOrder, verdict: Verdict) => void,
): Model {
  const model = new Model(profile);
  for (const order of orders) check(order, model.apply(order));
  return model;
}
