// The rules of the gate, as one pure function: no I/O, no clock, no state of its own.
// Every store calls it; the property tests run it against an independent model.

import type { Order, Side } from './order.js';
import type { OrderReason, UserReason } from './reasons.js';
import { type Sizing, sizedQuantity } from './sizing.js';
import { type OrderStates, userBlock } from './states.js';

export type UserId = number;

export interface OpenPosition {
  readonly orderId: number;
  readonly openedAtMs: number;
  /** Whole units held. */
  readonly quantity: number;
  /** The strategy whose BUY opened it: in `account` scope one book holds every strategy's positions. */
  readonly strategy: string;
}

/** What one subscription gives a user: the instruments, and how their orders are sized. */
export interface Terms {
  readonly instruments: ReadonlySet<string>;
  readonly sizing: Sizing;
}

/** The users of one strategy, in profile order, each with the terms of their subscription. */
export type StrategySubscribers = ReadonlyMap<UserId, Terms>;

/**
 * The open positions an order meets, by user: those of its (strategy, instrument) in `strategy`
 * scope, every strategy's positions in the instrument in `account` scope.
 */
export type Holders = ReadonlyMap<UserId, OpenPosition>;

/** What decide() needs of the order itself. */
export interface OrderTerms {
  readonly strategy: string;
  readonly instrument: string;
  readonly side: Side;
  readonly quantity: number;
}

export interface Fill {
  readonly userId: UserId;
  /** Units bought (the order's quantity sized by the subscription) or sold (the whole position). */
  readonly quantity: number;
  /** For a SELL, the position it closes; null for a BUY. */
  readonly closes: OpenPosition | null;
}

export interface Denial {
  readonly userId: UserId;
  readonly reason: UserReason;
}

export interface Decision {
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: OrderReason | null;
  readonly fills: readonly Fill[];
  readonly denials: readonly Denial[];
}

const noSubscribers: StrategySubscribers = new Map();
const noHolders: Holders = new Map();

/**
 * Decides an order for every user it concerns: the strategy's subscribers and, for a SELL, anyone
 * who holds a position the strategy opened in the instrument, since a held position can always be
 * closed even after the profile changed. Cost is linear in those users, never in the users of other
 * strategies. The states in force (halts, close-only) come first: a user they block gets their code,
 * whatever else applies. A BUY buys each user the order's quantity sized by their subscription (a
 * user it comes to 0 for is denied); a SELL sells the whole position, as the seed's rules have it.
 */
export function decide(
  order: OrderTerms,
  subscribers: StrategySubscribers = noSubscribers,
  holders: Holders = noHolders,
  states: OrderStates | null = null,
): Decision {
  if (states !== null) return decideUnderStates(order, subscribers, holders, states);
  const { instrument, quantity } = order;
  const fills: Fill[] = [];
  const denials: Denial[] = [];
  if (order.side === 'BUY') {
    for (const [userId, terms] of subscribers) {
      if (!terms.instruments.has(instrument)) denials.push({ userId, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else if (holders.has(userId)) denials.push({ userId, reason: 'POSITION_ALREADY_OPEN' });
      else buy(fills, denials, userId, sizedQuantity(terms.sizing, quantity));
    }
  } else {
    for (const [userId, terms] of subscribers) {
      const held = holders.get(userId);
      if (held !== undefined) fills.push({ userId, quantity: held.quantity, closes: held });
      else if (!terms.instruments.has(instrument))
        denials.push({ userId, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else denials.push({ userId, reason: 'NO_OPEN_POSITION' });
    }
    for (const leaver of leavers(order.strategy, subscribers, holders)) fills.push(leaver);
  }
  return {
    status: fills.length > 0 ? 'ACCEPTED' : 'REJECTED',
    reason: orderReason(fills, denials),
    fills,
    denials,
  };
}

/** The same rules, each user first checked against the states in force. */
function decideUnderStates(
  order: OrderTerms,
  subscribers: StrategySubscribers,
  holders: Holders,
  states: OrderStates,
): Decision {
  const { side, instrument, quantity } = order;
  const fills: Fill[] = [];
  const denials: Denial[] = [];
  for (const [userId, terms] of subscribers) {
    const block = userBlock(states, userId, side);
    if (block !== null) denials.push({ userId, reason: block });
    else if (side === 'BUY') {
      if (!terms.instruments.has(instrument)) denials.push({ userId, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else if (holders.has(userId)) denials.push({ userId, reason: 'POSITION_ALREADY_OPEN' });
      else buy(fills, denials, userId, sizedQuantity(terms.sizing, quantity));
    } else {
      const held = holders.get(userId);
      if (held !== undefined) fills.push({ userId, quantity: held.quantity, closes: held });
      else if (!terms.instruments.has(instrument))
        denials.push({ userId, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else denials.push({ userId, reason: 'NO_OPEN_POSITION' });
    }
  }
  if (side === 'SELL') {
    for (const leaver of leavers(order.strategy, subscribers, holders)) {
      const block = userBlock(states, leaver.userId, side);
      if (block === null) fills.push(leaver);
      else denials.push({ userId: leaver.userId, reason: block });
    }
  }
  const blocked = fills.length === 0 && states.order !== null;
  return {
    status: fills.length > 0 ? 'ACCEPTED' : 'REJECTED',
    reason: blocked ? states.order : orderReason(fills, denials),
    fills,
    denials,
  };
}

function buy(fills: Fill[], denials: Denial[], userId: UserId, quantity: number): void {
  if (quantity === 0) denials.push({ userId, reason: 'QUANTITY_ZERO' });
  else fills.push({ userId, quantity, closes: null });
}

/**
 * A SELL the gate itself sends (a square-off, a leaver's positions closed at once): it closes the
 * positions `strategy` opened in this book, held by `userId` (or by everyone, when null), whatever the
 * states and the subscriptions, in user-id order. Nobody is denied.
 */
export function decideClose(
  strategy: string,
  holders: Holders = noHolders,
  userId: UserId | null = null,
): Decision {
  const fills: Fill[] = [];
  if (userId !== null) {
    const held = holders.get(userId);
    if (held !== undefined && held.strategy === strategy)
      fills.push({ userId, quantity: held.quantity, closes: held });
  } else {
    for (const [holder, held] of holders)
      if (held.strategy === strategy) fills.push({ userId: holder, quantity: held.quantity, closes: held });
    fills.sort((a, b) => a.userId - b.userId);
  }
  return {
    status: fills.length > 0 ? 'ACCEPTED' : 'REJECTED',
    reason: fills.length > 0 ? null : 'NO_USER_ELIGIBLE',
    fills,
    denials: [],
  };
}

/**
 * Holders of positions the strategy opened who left it, by user id: a book rebuilt from the database
 * after a restart iterates in another order than the one built live, and the answer must not depend
 * on that. (In `account` scope the book also holds other strategies' positions: those stay.)
 */
function leavers(strategy: string, subscribers: StrategySubscribers, holders: Holders): Fill[] {
  const found: Fill[] = [];
  for (const [userId, held] of holders) {
    if (!subscribers.has(userId) && held.strategy === strategy)
      found.push({ userId, quantity: held.quantity, closes: held });
  }
  found.sort((a, b) => a.userId - b.userId);
  return found;
}

function orderReason(fills: readonly Fill[], denials: readonly Denial[]): OrderReason | null {
  if (fills.length > 0) return null;
  if (denials.length === 0) return 'STRATEGY_NOT_TRADED';
  return 'NO_USER_ELIGIBLE';
}

/** The order of a SELL the gate sends itself: its quantity is what it sells in all. */
export function systemSell(strategy: string, instrument: string, decision: Decision): Order {
  let quantity = 0;
  for (const fill of decision.fills) quantity += fill.quantity;
  return { strategy, instrument, side: 'SELL', quantity, clientOrderId: null };
}
