// The rules of the gate, as one pure function: no I/O, no clock, no state of its own.
// Every store calls it; the property tests run it against an independent model.

import type { Side } from './order.js';
import type { OrderReason, UserReason } from './reasons.js';
import { type OrderStates, userBlock } from './states.js';

export type UserId = number;

export interface OpenPosition {
  readonly orderId: number;
  readonly openedAtMs: number;
}

/** The users of one strategy, in profile order, each with the instruments their profile gives it. */
export type StrategySubscribers = ReadonlyMap<UserId, ReadonlySet<string>>;

/** The open positions of one (strategy, instrument), by user. */
export type Holders = ReadonlyMap<UserId, OpenPosition>;

export interface Fill {
  readonly userId: UserId;
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
 * who holds the (strategy, instrument), since a held position can always be closed even after the
 * profile changed. Cost is linear in those users, never in the users of other strategies. The states
 * in force (halts, close-only) come first: a user they block gets their code, whatever else applies.
 */
export function decide(
  side: Side,
  instrument: string,
  subscribers: StrategySubscribers = noSubscribers,
  holders: Holders = noHolders,
  states: OrderStates | null = null,
): Decision {
  if (states !== null) return decideUnderStates(side, instrument, subscribers, holders, states);
  const fills: Fill[] = [];
  const denials: Denial[] = [];
  if (side === 'BUY') {
    for (const [userId, instruments] of subscribers) {
      if (!instruments.has(instrument)) denials.push({ userId, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else if (holders.has(userId)) denials.push({ userId, reason: 'POSITION_ALREADY_OPEN' });
      else fills.push({ userId, closes: null });
    }
  } else {
    for (const [userId, instruments] of subscribers) {
      const held = holders.get(userId);
      if (held !== undefined) fills.push({ userId, closes: held });
      else if (!instruments.has(instrument)) denials.push({ userId, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else denials.push({ userId, reason: 'NO_OPEN_POSITION' });
    }
    for (const leaver of leavers(subscribers, holders)) fills.push(leaver);
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
  side: Side,
  instrument: string,
  subscribers: StrategySubscribers,
  holders: Holders,
  states: OrderStates,
): Decision {
  const fills: Fill[] = [];
  const denials: Denial[] = [];
  for (const [userId, instruments] of subscribers) {
    const block = userBlock(states, userId, side);
    if (block !== null) denials.push({ userId, reason: block });
    else if (side === 'BUY') {
      if (!instruments.has(instrument)) denials.push({ userId, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else if (holders.has(userId)) denials.push({ userId, reason: 'POSITION_ALREADY_OPEN' });
      else fills.push({ userId, closes: null });
    } else {
      const held = holders.get(userId);
      if (held !== undefined) fills.push({ userId, closes: held });
      else if (!instruments.has(instrument)) denials.push({ userId, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else denials.push({ userId, reason: 'NO_OPEN_POSITION' });
    }
  }
  if (side === 'SELL') {
    for (const leaver of leavers(subscribers, holders)) {
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

/**
 * A SELL the gate itself sends (a square-off, a leaver's positions closed at once): it closes the
 * positions of this book held by `userId` (or by everyone, when null), whatever the states and the
 * subscriptions, in user-id order. Nobody is denied.
 */
export function decideClose(holders: Holders = noHolders, userId: UserId | null = null): Decision {
  const fills: Fill[] = [];
  if (userId !== null) {
    const held = holders.get(userId);
    if (held !== undefined) fills.push({ userId, closes: held });
  } else {
    for (const [holder, held] of holders) fills.push({ userId: holder, closes: held });
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
 * Holders who left the strategy, by user id: a book rebuilt from the database after a restart
 * iterates in another order than the one built live, and the answer must not depend on that.
 */
function leavers(subscribers: StrategySubscribers, holders: Holders): Fill[] {
  const found: Fill[] = [];
  for (const [userId, held] of holders) {
    if (!subscribers.has(userId)) found.push({ userId, closes: held });
  }
  found.sort((a, b) => a.userId - b.userId);
  return found;
}

function orderReason(fills: readonly Fill[], denials: readonly Denial[]): OrderReason | null {
  if (fills.length > 0) return null;
  if (denials.length === 0) return 'STRATEGY_NOT_TRADED';
  return 'NO_USER_ELIGIBLE';
}
