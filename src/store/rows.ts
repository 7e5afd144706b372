// The rows of the lists as both stores select them (flat tuples, in one column order) and as the API
// renders them (JSON text, one row at a time, so that a page knows its size as it grows). Each store
// keeps its own SQL; what a page holds and how it looks is written once, here.

import {
  type Cursor,
  type JsonPage,
  PAGE_ROWS_BYTES_MAX,
  PageBuilder,
  type PositionCursor,
  positionCursor,
} from './page.js';

/** A position: user name, strategy, instrument, the BUY's order id, opened at (ms), user id. */
export type PositionTuple = readonly [string, string, string, number, number, number, number];
/** A trade: id, user name, strategy (the one that opened it), instrument, buy, sell, opened and closed at (ms), quantity. */
export type TradeTuple = readonly [number, string, string, string, number, number, number, number, number];
/**
 * An order without its per-user answer: id, client_order_id, strategy, instrument, side, status,
 * reason, received at (ms), users filled, users denied, the size of its answer in bytes, and its
 * quantity (null for an order logged before quantities).
 */
export type OrderHead = readonly [
  number,
  string | null,
  string,
  string,
  string,
  string,
  string | null,
  number,
  number,
  number,
  number,
  number | null,
];

export type OrdersView = 'compact' | 'full';

/** Filters every list of the book shares; a user is named here, and each store finds its id. */
export interface BookFilters {
  readonly user?: string;
  readonly strategy?: string;
  readonly instrument?: string;
}

export interface OrdersQuery extends BookFilters {
  readonly after: number;
  readonly limit: number;
  readonly view: OrdersView;
  readonly status?: 'ACCEPTED' | 'REJECTED';
}

export interface PositionsQuery extends BookFilters {
  readonly after: PositionCursor | null;
  readonly limit: number;
}

export interface TradesQuery extends BookFilters {
  readonly after: number;
  readonly limit: number;
}

/** Users and strategies page by name. */
export interface NamesQuery {
  readonly after: string | null;
  readonly limit: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const text = (value: string) => JSON.stringify(value);

export function positionJson(position: PositionTuple): string {
  const [user, strategy, instrument, orderId, openedAtMs, , quantity] = position;
  return `{"user":${text(user)},"strategy":${text(strategy)},"instrument":${text(instrument)},"quantity":${quantity},"order_id":${orderId},"opened_at":"${iso(openedAtMs)}"}`;
}

export function tradeJson(trade: TradeTuple): string {
  const [tradeId, user, strategy, instrument, buyOrderId, sellOrderId, openedAtMs, closedAtMs, quantity] =
    trade;
  return (
    `{"trade_id":${tradeId},"user":${text(user)},"strategy":${text(strategy)},"instrument":${text(instrument)}` +
    `,"quantity":${quantity}` +
    `,"buy_order_id":${buyOrderId},"sell_order_id":${sellOrderId},"opened_at":"${iso(openedAtMs)}","closed_at":"${iso(closedAtMs)}"}`
  );
}

/** The compact form of an order: everything but the per-user lists, which it counts instead. */
export function orderSummaryJson(head: OrderHead, withAnswerBytes = false): string {
  const [orderId, clientOrderId, strategy, instrument, side, status, reason, receivedAtMs, fills, denials] =
    head;
  const tail = withAnswerBytes ? `,"answer_bytes":${head[10]}}` : '}';
  return (
    `{"order_id":${orderId},"status":"${status}","reason":${reason === null ? 'null' : `"${reason}"`}` +
    `,"strategy":${text(strategy)},"instrument":${text(instrument)},"position":"${side}"` +
    (head[11] === null ? '' : `,"quantity":${head[11]}`) +
    `,"client_order_id":${clientOrderId === null ? 'null' : text(clientOrderId)},"received_at":"${iso(receivedAtMs)}"` +
    `,"accepted_count":${fills},"rejected_count":${denials}${tail}`
  );
}

/** A page from up to limit + 1 rows a store selected, rendered one by one until the page is full. */
export function pageOf<Row>(
  rows: Iterable<Row>,
  limit: number,
  render: (row: Row) => string,
  cursorOf: (row: Row) => Cursor,
): JsonPage {
  const page = new PageBuilder(limit);
  for (const row of rows) if (!page.add(render(row), cursorOf(row))) break;
  return page.page();
}

export function positionsPage(rows: Iterable<PositionTuple>, limit: number): JsonPage {
  return pageOf(rows, limit, positionJson, (row) => positionCursor(row[1], row[2], row[5]));
}

export function tradesPage(rows: Iterable<TradeTuple>, limit: number): JsonPage {
  return pageOf(rows, limit, tradeJson, (row) => row[0]);
}

/**
 * A page of the order log from up to limit + 1 heads. The compact view renders the heads; the full
 * view plans the page by each answer's size first and then reads only the answers that fit, so a page
 * of large fan-outs never reads more than its budget. An answer larger than a whole page is given in
 * compact form with its answer_bytes: GET /orders/:order_id has it.
 */
export async function ordersPage(
  heads: readonly OrderHead[],
  query: { readonly limit: number; readonly view: OrdersView },
  answersOf: (orderIds: readonly number[]) => Promise<ReadonlyMap<number, string>>,
): Promise<JsonPage> {
  if (query.view === 'compact') return pageOf(heads, query.limit, (head) => orderSummaryJson(head), idOf);
  const planned: { head: OrderHead; whole: boolean }[] = [];
  const plan = new PageBuilder(query.limit);
  for (const head of heads) {
    const whole = head[10] <= PAGE_ROWS_BYTES_MAX;
    const bytes = whole ? head[10] : Buffer.byteLength(orderSummaryJson(head, true));
    if (!plan.add('', head[0], bytes)) break;
    planned.push({ head, whole });
  }
  const answers = await answersOf(planned.filter((entry) => entry.whole).map((entry) => entry.head[0]));
  const page = new PageBuilder(query.limit);
  for (const { head, whole } of planned) {
    const json = whole ? answers.get(head[0]) : orderSummaryJson(head, true);
    if (json === undefined) throw new Error(`order ${head[0]} has no answer in the log`);
    page.add(json, head[0]);
  }
  if (planned.length < heads.length) page.close();
  return page.page();
}

function idOf(head: OrderHead): number {
  return head[0];
}

/**
 * A user's net quantity per instrument across strategies, from their open positions [strategy,
 * instrument, quantity]: what a broker shows the account holding, and what a reconciliation compares.
 */
export function holdingsJson(
  user: string,
  positions: readonly (readonly [string, string, number])[],
): string {
  const byInstrument = new Map<string, { quantity: number; strategies: Record<string, number> }>();
  for (const [strategy, instrument, quantity] of positions) {
    let holding = byInstrument.get(instrument);
    if (holding === undefined) {
      holding = { quantity: 0, strategies: {} };
      byInstrument.set(instrument, holding);
    }
    holding.quantity += Number(quantity);
    holding.strategies[strategy] = Number(quantity);
  }
  const holdings = [...byInstrument]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([instrument, { quantity, strategies }]) => ({ instrument, quantity, strategies }));
  return JSON.stringify({ user, holdings });
}
