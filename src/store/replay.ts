// Replays the order log from an empty book, in order_id order, with the profile that was in force
// for each order, and says where the log does not explain itself: a decision that the rules would
// not make again, an answer that differs from the one acknowledged, ids that do not increase.
// The same replay serves every store; `ordergate check` feeds it from the database.

import { OpenBook, type PositionScope } from '../domain/book.js';
import type { Side } from '../domain/order.js';
import { type Profile, parseProfile } from '../domain/profile.js';
import { decide, decideClose } from '../domain/rules.js';
import { GateStates } from '../domain/states.js';
import { renderAnswer } from './answer.js';
import { applyChange, type ChangeBody, type Live, type ReleasedPosition } from './changes.js';
import { Directory } from './directory.js';

export interface LoggedOrderRow {
  readonly orderId: number;
  readonly clientOrderId: string | null;
  readonly strategy: string;
  readonly instrument: string;
  readonly side: Side;
  /** Null for the orders logged before quantities existed: one unit each, no quantity in the answer. */
  readonly quantity: number | null;
  readonly status: string;
  readonly receivedAtMs: number;
  readonly answer: string;
  /** The users filled and denied, as the log's compact view counts them; null for orders logged before. */
  readonly fills: number | null;
  readonly denials: number | null;
  /** A SELL the gate sent itself: why, and whose positions it closes (null: every holder's). */
  readonly origin?: string | null;
  readonly forUserId?: number | null;
}

/** A record of the log that is not an order, as stored. */
export interface LoggedChangeRow {
  readonly seq: number;
  readonly kind: string;
  readonly body: string;
  readonly keyId: string | null;
  readonly atMs: number;
}

export interface ReplayedClose {
  readonly userId: number;
  readonly strategy: string;
  readonly instrument: string;
  readonly buyOrderId: number;
  readonly sellOrderId: number;
  readonly openedAtMs: number;
  readonly closedAtMs: number;
  readonly quantity: number;
}

export class LogReplay {
  readonly book: OpenBook;
  readonly #idOf: ReadonlyMap<string, number>;
  readonly #nameJson: (userId: number) => string;
  readonly #directory: Directory;
  readonly #states = new GateStates();
  readonly #live: Live;
  /** Each version parsed once: orders of instances running different versions may interleave. */
  readonly #parsed = new Map<string, Profile>();
  #lastSeq = 0;
  orders = 0;
  changes = 0;
  fills = 0;
  denials = 0;
  /** Every position the log's records released from the gate's management (positions=preserve). */
  readonly released: ReleasedPosition[] = [];

  constructor(
    users: { idOf: ReadonlyMap<string, number>; nameJson: (userId: number) => string },
    scope: PositionScope,
  ) {
    this.book = new OpenBook(scope);
    this.#idOf = users.idOf;
    this.#nameJson = users.nameJson;
    this.#directory = new Directory([], (user) => this.#idOf.get(user));
    this.#live = { directory: this.#directory, states: this.#states };
  }

  /** Makes a stored profile version the one in force from the next order on. */
  useProfile(text: string, source: string): string | null {
    const profile = this.#profile(text, source);
    if (typeof profile === 'string') return profile;
    this.#directory.replaceAll(profile);
    return null;
  }

  #profile(text: string, source: string): Profile | string {
    const parsed = this.#parsed.get(source);
    if (parsed !== undefined) return parsed;
    const profile = parseProfile(text, source);
    const unknown = profile.find((entry) => !this.#idOf.has(entry.user));
    if (unknown !== undefined)
      return `${source}: user ${JSON.stringify(unknown.user)} is not in the users table`;
    this.#parsed.set(source, profile);
    return profile;
  }

  /**
   * Replays a record that is not an order: the users, subscriptions and states change as they did.
   * An import names its profile version; profileText reads it. Returns what is wrong, or null.
   */
  replayChange(row: LoggedChangeRow, profileText: (version: number) => string | undefined): string | null {
    if (row.seq <= this.#lastSeq) return `record ${row.seq} does not follow record ${this.#lastSeq}`;
    this.#lastSeq = row.seq;
    this.changes++;
    let body: ChangeBody;
    try {
      body = JSON.parse(row.body) as ChangeBody;
    } catch {
      return `record ${row.seq}: its body is not JSON`;
    }
    if (body.kind !== row.kind) return `record ${row.seq}: kind ${row.kind}, its body says ${body.kind}`;
    let imported: Profile | null = null;
    if (body.kind === 'import') {
      const text = profileText(body.profile_version);
      if (text === undefined)
        return `record ${row.seq}: profile version ${body.profile_version} is not stored`;
      const profile = this.#profile(text, `profile version ${body.profile_version}`);
      if (typeof profile === 'string') return profile;
      imported = profile;
    }
    const released = applyChange(this.#live, body, row.seq, row, this.book, imported);
    for (const position of released) this.released.push(position);
    return null;
  }

  /** Replays one order; returns what is wrong with it, or null. Reports each close to onClose. */
  replay(row: LoggedOrderRow, onClose: (close: ReplayedClose) => void): string | null {
    if (row.orderId <= this.#lastSeq) return `order ${row.orderId} does not follow record ${this.#lastSeq}`;
    this.#lastSeq = row.orderId;
    this.orders++;
    const order = {
      strategy: row.strategy,
      instrument: row.instrument,
      side: row.side,
      quantity: row.quantity ?? 1,
      clientOrderId: row.clientOrderId,
    };
    const holders = this.book.holdersOf(row.strategy, row.instrument);
    const origin = row.origin ?? null;
    const decision =
      origin !== null
        ? decideClose(row.strategy, holders, row.forUserId ?? null)
        : decide(
            order,
            this.#directory.subscriptions.get(row.strategy),
            holders,
            this.#states.forOrder(row.strategy, row.side, row.receivedAtMs),
          );
    const unsized = row.quantity === null;
    const expected = renderAnswer(
      { orderId: row.orderId, order, receivedAtMs: row.receivedAtMs, origin, unsized },
      decision,
      this.#nameJson,
    );
    for (const fill of decision.fills) {
      if (fill.closes === null) continue;
      onClose({
        userId: fill.userId,
        strategy: fill.closes.strategy,
        instrument: row.instrument,
        buyOrderId: fill.closes.orderId,
        sellOrderId: row.orderId,
        openedAtMs: fill.closes.openedAtMs,
        closedAtMs: row.receivedAtMs,
        quantity: fill.quantity,
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

/** A stored open position: strategy, instrument, user id, the order that opened it, when, quantity. */
export type StoredPosition = readonly [string, string, number, number, number, number];

/** Compares the positions a database holds with the replay's book; returns how many were stored. */
export function comparePositions(
  stored: readonly StoredPosition[],
  replay: LogReplay,
  problem: (text: string) => void,
): number {
  for (const [strategy, instrument, userId, orderId, openedAtMs, quantity] of stored) {
    const held = replay.book.holdersOf(strategy, instrument)?.get(userId);
    if (held === undefined || held.strategy !== strategy)
      problem(`open position ${strategy} ${instrument} of user ${userId} is not explained by the log`);
    else if (held.orderId !== orderId || held.openedAtMs !== openedAtMs) {
      problem(
        `open position ${strategy} ${instrument} of user ${userId}: stored order ${orderId}, the log says ${held.orderId}`,
      );
    } else if (held.quantity !== quantity) {
      problem(
        `open position ${strategy} ${instrument} of user ${userId}: stored quantity ${quantity}, the log says ${held.quantity}`,
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

/** A released position as stored: strategy, instrument, user id, the BUY's order id, opened at. */
export type StoredRelease = readonly [string, string, number, number, number];

/** Compares the positions a database says it released with those the replay released. */
export function compareReleased(
  stored: readonly StoredRelease[],
  replay: LogReplay,
  problem: (text: string) => void,
): void {
  const expected = new Set(
    replay.released.map(
      (r) => `${r.strategy}\u0000${r.instrument}\u0000${r.userId}\u0000${r.position.orderId}`,
    ),
  );
  for (const [strategy, instrument, userId, orderId] of stored) {
    const key = `${strategy}\u0000${instrument}\u0000${userId}\u0000${orderId}`;
    if (!expected.delete(key))
      problem(`released position ${strategy} ${instrument} of user ${userId} is not explained by the log`);
  }
  if (expected.size > 0) problem(`${expected.size} positions the log released are not recorded as released`);
}
