// Replays the order log from an empty book, in order_id order, with the profile that was in force
// for each order, and says where the log does not explain itself: a decision that the rules would
// not make again, an answer that differs from the one acknowledged, ids that do not increase.
// The same replay serves every store; `ordergate check` feeds it from the database.

import { OpenBook } from '../domain/book.js';
import type { Side } from '../domain/order.js';
import { indexSubscriptions, parseProfile, type SubscriptionIndex } from '../domain/profile.js';
import { decide } from '../domain/rules.js';
import { renderAnswer } from './answer.js';

export interface LoggedOrderRow {
  readonly orderId: number;
  readonly clientOrderId: string | null;
  readonly strategy: string;
  readonly instrument: string;
  readonly side: Side;
  readonly status: string;
  readonly receivedAtMs: number;
  readonly answer: string;
  /** The users filled and denied, as the log's compact view counts them; null for orders logged before. */
  readonly fills: number | null;
  readonly denials: number | null;
}

export interface ReplayedClose {
  readonly userId: number;
  readonly strategy: string;
  readonly instrument: string;
  readonly buyOrderId: number;
  readonly sellOrderId: number;
  readonly openedAtMs: number;
  readonly closedAtMs: number;
}

export class LogReplay {
  readonly book = new OpenBook();
  readonly #idOf: ReadonlyMap<string, number>;
  readonly #nameJson: (userId: number) => string;
  #subscriptions: SubscriptionIndex = new Map();
  /** Each version parsed once: orders of instances running different versions may interleave. */
  readonly #parsed = new Map<string, SubscriptionIndex>();
  #lastOrderId = 0;
  orders = 0;
  fills = 0;
  denials = 0;

  constructor(users: { idOf: ReadonlyMap<string, number>; nameJson: (userId: number) => string }) {
    this.#idOf = users.idOf;
    this.#nameJson = users.nameJson;
  }

  /** Makes a stored profile version the one in force from the next order on. */
  useProfile(text: string, source: string): string | null {
    const parsed = this.#parsed.get(source);
    if (parsed !== undefined) {
      this.#subscriptions = parsed;
      return null;
    }
    const profile = parseProfile(text, source);
    const unknown = profile.find((entry) => !this.#idOf.has(entry.user));
    if (unknown !== undefined)
      return `${source}: user ${JSON.stringify(unknown.user)} is not in the users table`;
    this.#subscriptions = indexSubscriptions(profile, (user) => this.#idOf.get(user)!);
    this.#parsed.set(source, this.#subscriptions);
    return null;
  }

  /** Replays one order; returns what is wrong with it, or null. Reports each close to onClose. */
  replay(row: LoggedOrderRow, onClose: (close: ReplayedClose) => void): string | null {
    if (row.orderId <= this.#lastOrderId)
      return `order ${row.orderId} does not follow order ${this.#lastOrderId}`;
    this.#lastOrderId = row.orderId;
    this.orders++;
    const order = {
      strategy: row.strategy,
      instrument: row.instrument,
      side: row.side,
      clientOrderId: row.clientOrderId,
    };
    const decision = decide(
      row.side,
      row.instrument,
      this.#subscriptions.get(row.strategy),
      this.book.holdersOf(row.strategy, row.instrument),
    );
    const expected = renderAnswer(
      { orderId: row.orderId, order, receivedAtMs: row.receivedAtMs },
      decision,
      this.#nameJson,
    );
    for (const fill of decision.fills) {
      if (fill.closes === null) continue;
      onClose({
        userId: fill.userId,
        strategy: row.strategy,
        instrument: row.instrument,
        buyOrderId: fill.closes.orderId,
        sellOrderId: row.orderId,
        openedAtMs: fill.closes.openedAtMs,
        closedAtMs: row.receivedAtMs,
      });
    }
    this.book.apply(row.strategy, row.instrument, decision, row.orderId, row.receivedAtMs);
    this.fills += decision.fills.length;
    this.denials += decision.denials.length;
    if (decision.status !== row.status)
      return `order ${row.orderId}: logged ${row.status}, the replay says ${decision.status}`;
    if (expected !== row.answer)
      return `order ${row.orderId}: the logged answer differs from the replay:\n  logged ${row.answer}\n  replay ${expected}`;
    const counted =
      row.fills === null || (row.fills === decision.fills.length && row.denials === decision.denials.length);
    if (!counted) {
      return `order ${row.orderId}: logged counts ${row.fills} filled, ${row.denials} denied; the replay says ${decision.fills.length}, ${decision.denials.length}`;
    }
    return null;
  }
}

/** A stored open position: strategy, instrument, user id, the order that opened it, when. */
export type StoredPosition = readonly [string, string, number, number, number];

/** Compares the positions a database holds with the replay's book; returns how many were stored. */
export function comparePositions(
  stored: readonly StoredPosition[],
  replay: LogReplay,
  problem: (text: string) => void,
): number {
  for (const [strategy, instrument, userId, orderId, openedAtMs] of stored) {
    const held = replay.book.holdersOf(strategy, instrument)?.get(userId);
    if (held === undefined)
      problem(`open position ${strategy} ${instrument} of user ${userId} is not explained by the log`);
    else if (held.orderId !== orderId || held.openedAtMs !== openedAtMs) {
      problem(
        `open position ${strategy} ${instrument} of user ${userId}: stored order ${orderId}, the log says ${held.orderId}`,
      );
    }
  }
  if (stored.length !== replay.book.size) {
    problem(`${stored.length} open positions stored, the replay of the log leaves ${replay.book.size}`);
  }
  return stored.length;
}

/** Counts every mismatch and keeps the first few to show. */
export function mismatchCollector(shownMax: number) {
  const collector = {
    mismatches: 0,
    problems: [] as string[],
    problem: (text: string) => {
      collector.mismatches++;
      if (collector.problems.length < shownMax) collector.problems.push(text);
    },
  };
  return collector;
}
