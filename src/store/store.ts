// The one interface every store implements: the embedded SQLite store and, later, the shared
// PostgreSQL store. The gate and the HTTP layer know only this.

import type { Order, Side } from '../domain/order.js';
import type { KeyStore } from './key-store.js';

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

/** The order a client_order_id was first placed with: what a retry is answered from. */
export interface ClientOrderRow {
  readonly order_id: number;
  readonly strategy: string;
  readonly instrument: string;
  readonly side: 'BUY' | 'SELL';
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: string | null;
  readonly answer: string;
}

export interface LoggedOrder {
  readonly orderId: number;
  readonly json: string;
}

export interface OrdersQuery {
  readonly after: number;
  readonly limit: number;
  readonly user?: string;
  readonly strategy?: string;
  readonly instrument?: string;
  readonly status?: 'ACCEPTED' | 'REJECTED';
}

export interface BookQuery {
  readonly user?: string;
  readonly strategy?: string;
  readonly instrument?: string;
  readonly limit: number;
}

export interface TradesQuery extends BookQuery {
  readonly after: number;
}

export interface PositionRow {
  readonly user: string;
  readonly strategy: string;
  readonly instrument: string;
  readonly order_id: number;
  readonly opened_at: string;
}

export interface TradeRow {
  readonly trade_id: number;
  readonly user: string;
  readonly strategy: string;
  readonly instrument: string;
  readonly buy_order_id: number;
  readonly sell_order_id: number;
  readonly opened_at: string;
  readonly closed_at: string;
}

export interface UserSummary {
  readonly user: string;
  readonly strategies: Record<string, readonly string[]>;
  readonly open_positions: number;
}

export interface StrategySummary {
  readonly strategy: string;
  readonly subscribers: number;
  readonly instruments: Record<string, number>;
}

export interface UserDetail extends UserSummary {
  readonly positions: readonly PositionRow[];
}

export interface Readiness {
  readonly ready: boolean;
  readonly state: string;
  readonly detail?: string;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Open positions: the whole book for the embedded store; as found at start for the shared one. */
  readonly openPositions: number;
  /** The API keys, in the same database: every instance sharing it shares the keys. */
  readonly keys: KeyStore;
  /** Decides the order for every user, commits it durably, and only then resolves. */
  place(order: Order, receivedAtMs: number): Promise<PlacedOrder>;
  readiness(): Readiness;
  /** The logged orders with their answers as JSON text, oldest first. */
  orders(query: OrdersQuery): Promise<readonly LoggedOrder[]>;
  order(orderId: number): Promise<string | undefined>;
  positions(query: BookQuery): Promise<readonly PositionRow[]>;
  trades(query: TradesQuery): Promise<readonly TradeRow[]>;
  users(): Promise<readonly UserSummary[]>;
  user(name: string): Promise<UserDetail | undefined>;
  strategies(): Promise<readonly StrategySummary[]>;
  close(): Promise<void>;
}

/** Operating errors of a store: the HTTP edge maps each code to a status. */
export class StoreError extends Error {
  constructor(
    readonly code: 'STORE_UNAVAILABLE' | 'IDEMPOTENCY_CONFLICT',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export function sameOrder(a: { strategy: string; instrument: string; side: Side }, b: Order): boolean {
  return a.strategy === b.strategy && a.instrument === b.instrument && a.side === b.side;
}

/** A position as both stores select it: user name, strategy, instrument, order id, opened at (ms). */
export type PositionTuple = readonly [string, string, string, number, number];
/** A trade as both stores select it: id, user name, strategy, instrument, buy, sell, opened and closed at (ms). */
export type TradeTuple = readonly [number, string, string, string, number, number, number, number];

export function toPositionRow([
  user,
  strategy,
  instrument,
  order_id,
  openedAtMs,
]: PositionTuple): PositionRow {
  return { user, strategy, instrument, order_id, opened_at: new Date(openedAtMs).toISOString() };
}

export function toTradeRow([
  trade_id,
  user,
  strategy,
  instrument,
  buy_order_id,
  sell_order_id,
  opened,
  closed,
]: TradeTuple): TradeRow {
  return {
    trade_id,
    user,
    strategy,
    instrument,
    buy_order_id,
    sell_order_id,
    opened_at: new Date(opened).toISOString(),
    closed_at: new Date(closed).toISOString(),
  };
}
