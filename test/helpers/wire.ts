// The HTTP API as the end-to-end tests see it over real HTTP: the wire types, written again from the
// README rather than imported from src/, one POST of an order, and readers that page through all of
// GET /orders, GET /positions and GET /trades, checking the paging as they go.

import assert from 'node:assert/strict';
import type { Server } from './server.js';

/** The profile file: user → strategy → the instruments it trades for that user. */
export type Profile = Record<string, Record<string, string[]>>;
export type Side = 'BUY' | 'SELL';

export interface OrderRequest {
  readonly strategy: string;
  readonly instrument: string;
  readonly position: Side;
}

/** An order that names itself, so that a retry with the same id is answered from the log. */
export interface ClientOrder extends OrderRequest {
  readonly client_order_id: string;
}

export interface Fill {
  readonly user: string;
  /** Whole units: a BUY's sized quantity, a SELL's whole position (absent on orders logged before quantities). */
  readonly quantity?: number;
  /** SELL: the BUY whose position this closes, and when it was opened. */
  readonly buy_order_id?: number;
  readonly opened_at?: string;
}

export interface Denial {
  readonly user: string;
  readonly reason: string;
}

/** An answer to POST /orders, and an entry of GET /orders. */
export interface LoggedOrder extends OrderRequest {
  readonly order_id: number;
  /** The order's quantity (absent on orders logged before quantities). */
  readonly quantity?: number;
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: string | null;
  readonly client_order_id: string | null;
  readonly received_at: string;
  readonly accepted: readonly Fill[];
  readonly rejected: readonly Denial[];
}

export interface Position {
  readonly user: string;
  readonly strategy: string;
  readonly instrument: string;
  readonly quantity?: number;
  readonly order_id: number;
  readonly opened_at: string;
}

export interface Trade {
  readonly user: string;
  readonly strategy: string;
  readonly instrument: string;
  readonly quantity?: number;
  readonly buy_order_id: number;
  readonly sell_order_id: number;
  readonly opened_at: string;
  readonly closed_at: string;
}

/** An answer as it came: the status, whether it was marked Idempotent-Replayed, and the body unparsed. */
export interface Reply {
  readonly status: number;
  readonly replayed: boolean;
  readonly text: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const PAGE_LIMIT = 1000;

export interface PostOptions {
  /** /orders unless given (the seed's format goes to /create_order). */
  readonly path?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** POSTs one order (any body, sent as JSON) and returns the reply, whatever its status. */
export async function postOrder(server: Server, body: unknown, options: PostOptions = {}): Promise<Reply> {
  const response = await fetch(`${server.url}${options.path ?? '/orders'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  });
  const text = await response.text();
  return { status: response.status, replayed: response.headers.get('idempotent-replayed') === 'true', text };
}

export interface ReadOptions {
  /** More query parameters, each as `&name=value`. */
  readonly query?: string;
  readonly timeoutMs?: number;
}

/** GETs a path that must answer 200 with JSON. */
export async function getJson<T>(server: Server, path: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
  const response = await fetch(server.url + path, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/**
 * The order log from order_id `after` on (or the part `query` selects), paged; order_ids strictly
 * increase across pages and next_after names the last one of a full page.
 */
export async function readLog(
  server: Server,
  options: ReadOptions & { readonly after?: number } = {},
): Promise<LoggedOrder[]> {
  const log: LoggedOrder[] = [];
  let after = options.after ?? 0;
  for (;;) {
    const page = await getJson<{ orders: LoggedOrder[]; next_after: number | null }>(
      server,
      `/orders?after=${after}&limit=${PAGE_LIMIT}&view=full${options.query ?? ''}`,
      options.timeoutMs,
    );
    assert.ok(page.orders.length <= PAGE_LIMIT);
    for (const entry of page.orders) {
      assert.ok(entry.order_id > after, `order_id ${entry.order_id} follows ${after}: not increasing`);
      after = entry.order_id;
      log.push(entry);
    }
    if (page.next_after === null) return log;
    assert.equal(page.next_after, after);
  }
}

/**
 * Every open position (of the part `query` selects), paged by the opaque next_after cursor; pages come
 * in the book's order (strategy, instrument, then user) and no position appears twice.
 */
export async function readPositions(server: Server, options: ReadOptions = {}): Promise<Position[]> {
  const positions: Position[] = [];
  const seen = new Set<string>();
  let after = '';
  for (;;) {
    const page = await getJson<{ positions: Position[]; next_after: string | null }>(
      server,
      `/positions?limit=${PAGE_LIMIT}&after=${encodeURIComponent(after)}${options.query ?? ''}`,
      options.timeoutMs,
    );
    assert.ok(page.positions.length <= PAGE_LIMIT);
    for (const position of page.positions) {
      const key = `${position.strategy}\u0000${position.instrument}\u0000${position.user}`;
      assert.ok(!seen.has(key), `position ${key} on two pages`);
      seen.add(key);
      positions.push(position);
    }
    if (page.next_after === null) return positions;
    assert.equal(typeof page.next_after, 'string');
    after = page.next_after;
  }
}

/** Every closed trade (of the part `query` selects), paged by trade_id, which strictly increases. */
export async function readTrades(server: Server, options: ReadOptions = {}): Promise<Trade[]> {
  const trades: Trade[] = [];
  let after = 0;
  for (;;) {
    const page = await getJson<{ trades: (Trade & { trade_id: number })[]; next_after: number | null }>(
      server,
      `/trades?after=${after}&limit=${PAGE_LIMIT}${options.query ?? ''}`,
      options.timeoutMs,
    );
    for (const { trade_id, ...trade } of page.trades) {
      assert.ok(trade_id > after, `trade_id ${trade_id} follows ${after}: not increasing`);
      after = trade_id;
      trades.push(trade);
    }
    if (page.next_after === null) return trades;
    assert.equal(page.next_after, after);
  }
}
