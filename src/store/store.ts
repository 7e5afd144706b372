// The one interface every store implements: the embedded SQLite store and, later, the shared
// PostgreSQL store. The gate and the HTTP layer know only this.

import type { CaseHints } from '../domain/case-hints.js';
import type { Order, Side } from '../domain/order.js';
import type { Profile } from '../domain/profile.js';
import type { Actor, ChangeRequest } from './changes.js';
import type { ProfileDifference } from './directory.js';
import type { KeyStore } from './key-store.js';
import type { JsonPage } from './page.js';
import type { NamesQuery, OrdersQuery, PositionsQuery, TradesQuery } from './rows.js';

export interface PlacedOrder {
  readonly orderId: number;
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: string | null;
  /** The answer as JSON text, built once and used for both the order log and the reply. */
  readonly json: string;
  readonly fills: number;
  readonly denials: number;
  /** True when this answers a retry of an order already placed with the same client_order_id. */
  readonly replayed: boolean;
}

/** A change committed: its record's number in the log (the new version) and its answer. */
export interface ChangeResult {
  readonly seq: number;
  readonly json: string;
}

/** The order a client_order_id was first placed with: what a retry is answered from. */
export interface ClientOrderRow {
  readonly order_id: number;
  readonly strategy: string;
  readonly instrument: string;
  readonly side: 'BUY' | 'SELL';
  /** Null for an order logged before quantities: it was one unit. */
  readonly quantity: number | null;
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: string | null;
  readonly answer: string;
}

export interface Readiness {
  readonly ready: boolean;
  readonly state: string;
  readonly detail?: string;
  /** Orders decided or queued but not yet answered, and the most that may be (ORDERS_IN_FLIGHT_MAX). */
  readonly ordersInFlight: number;
  readonly ordersInFlightMax: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** The database's identity (16 hex digits), drawn when it was made: what the logs tell databases apart by. */
  readonly databaseId: string;
  /** Open positions: the whole book for the embedded store; as found at start for the shared one. */
  readonly openPositions: number;
  /** The API keys, in the same database: every instance sharing it shares the keys. */
  readonly keys: KeyStore;
  /** Decides the order for every user, commits it durably, and only then resolves. */
  place(order: Order, receivedAtMs: number): Promise<PlacedOrder>;
  readiness(): Readiness;
  // Every list is one page, bounded by rows and by bytes (store/page.ts), its rows as JSON text.
  /** The order log, oldest first: compact (counts) or full (every user's verdict). */
  orders(query: OrdersQuery): Promise<JsonPage>;
  /** One order's whole answer as JSON text, as it was sent. */
  order(orderId: number): Promise<string | undefined>;
  /**
   * When the order placed with this client_order_id was received (ms), if one was: a webhook alert
   * sent again just after its window turned is a retry of the order keyed by the window before.
   */
  receivedAtOf(clientOrderId: string): Promise<number | undefined>;
  /** Open positions in the book's order: strategy, instrument, user. */
  positions(query: PositionsQuery): Promise<JsonPage>;
  trades(query: TradesQuery): Promise<JsonPage>;
  /** The users of the profile in force, by name. */
  users(query: NamesQuery): Promise<JsonPage>;
  /** One user with the first page of its positions, as JSON text; also a user who left the profile. */
  user(name: string): Promise<string | undefined>;
  /** A user's net quantity per instrument across strategies (rows.ts holdingsJson); undefined for a stranger. */
  holdings(name: string): Promise<string | undefined>;
  strategies(query: NamesQuery): Promise<JsonPage>;
  /**
   * Applies a change to the users, subscriptions or states in force (and the system SELLs it sends)
   * as records of the log, committed before it resolves; from the next order on, every instance
   * decides by it. Rejects with a ChangeError for a change that cannot be made (an unknown user).
   */
  change(request: ChangeRequest, actor: Actor): Promise<ChangeResult>;
  /** The states in force and the version of the users and states (the last record's number), as JSON. */
  states(): Promise<string>;
  /** Whether the scheduled square-off of this trading day is in the log. */
  squaredOff(day: string): Promise<boolean>;
  /** The users in force, in the seed's profile format. */
  exportProfile(): Promise<string>;
  /** How a profile differs from the users in force (what an import would change). */
  differenceFrom(profile: Profile): Promise<ProfileDifference>;
  /** The case hints of the users in force, rebuilt after a change. */
  caseHints(): CaseHints;
  /**
   * Fails every order not yet answered with a 503, for a shutdown that ran out of time: those that may
   * still commit say that their outcome is unknown, the others that they were not applied.
   */
  abandon(reason: string): void;
  close(): Promise<void>;
}

/**
 * What a failed order's answer can truthfully say: it was certainly not applied, or it may have been
 * (the commit may have reached the disk before the fault), which only a retry with its id can tell.
 */
export type Outcome = 'NOT_APPLIED' | 'UNKNOWN';

export const OUTCOME_TEXT: Record<Outcome, string> = {
  NOT_APPLIED: 'the order was not applied: retry later',
  UNKNOWN:
    'the order may or may not be applied: retry with the same client_order_id (or Idempotency-Key) to learn the outcome safely',
};

/** Operating errors of a store: the HTTP edge maps each code to a status. */
export class StoreError extends Error {
  constructor(
    readonly code: 'STORE_UNAVAILABLE' | 'IDEMPOTENCY_CONFLICT' | 'OVERLOADED',
    message: string,
    readonly outcome: Outcome = 'NOT_APPLIED',
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** An order refused at once because ORDERS_IN_FLIGHT_MAX orders already wait for their answer. */
export function overloaded(inFlight: number, what = 'orders are in flight'): StoreError {
  return new StoreError(
    'OVERLOADED',
    `${inFlight} ${what}, the most this server holds (ORDERS_IN_FLIGHT_MAX); ${OUTCOME_TEXT.NOT_APPLIED}`,
  );
}

export function sameOrder(
  a: { strategy: string; instrument: string; side: Side; quantity: number | null },
  b: Order,
): boolean {
  return (
    a.strategy === b.strategy &&
    a.instrument === b.instrument &&
    a.side === b.side &&
    Number(a.quantity ?? 1) === b.quantity
  );
}
