// The read side of the SQLite store: the order log, positions and trades, straight from the
// database on the main thread's own connection (WAL lets it read while the writer commits). Each list
// is read one page at a time by its key (keyset paging), so a page costs the same on an empty log and
// on a long one, and nothing is skipped or repeated while orders arrive.

import type Database from 'better-sqlite3';
import type { JsonPage } from '../page.js';
import {
  type OrderHead,
  type OrdersQuery,
  ordersPage,
  type PositionsQuery,
  type PositionTuple,
  positionsPage,
  type TradesQuery,
  type TradeTuple,
  tradesPage,
} from '../rows.js';
import type { ClientOrderRow } from '../store.js';

type Statement = Database.Statement<unknown[], unknown>;

const ORDER_HEAD = `o.order_id, o.client_order_id, o.strategy, o.instrument, o.side, o.status, o.reason,
  o.received_at_ms, coalesce(o.fills, json_array_length(o.answer, '$.accepted')),
  coalesce(o.denials, json_array_length(o.answer, '$.rejected')), octet_length(o.answer), o.quantity`;

export class SqliteReads {
  readonly #db: Database.Database;
  readonly #cache = new Map<string, Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
  }

  async orders(query: OrdersQuery, userId: number | undefined): Promise<JsonPage> {
    if (query.user !== undefined && userId === undefined) return { rows: [], nextAfter: null };
    const where = ['o.order_id > ?'];
    const args: unknown[] = [query.after];
    if (userId !== undefined) {
      // The orders applied for this user: the BUYs of its open positions and both sides of its trades.
      where.push(`o.order_id IN (SELECT order_id FROM positions WHERE user_id = ?
        UNION ALL SELECT buy_order_id FROM trades WHERE user_id = ?
        UNION ALL SELECT sell_order_id FROM trades WHERE user_id = ?)`);
      args.push(userId, userId, userId);
    }
    filter(where, args, 'o.strategy', query.strategy);
    filter(where, args, 'o.instrument', query.instrument);
    filter(where, args, 'o.status', query.status);
    const sql = `SELECT ${ORDER_HEAD} FROM orders o WHERE ${where.join(' AND ')} ORDER BY o.order_id LIMIT ?`;
    const heads = this.#statement(sql)
      .raw()
      .all(...args, query.limit + 1) as OrderHead[];
    return ordersPage(heads, query, async (orderIds) => this.#answers(orderIds));
  }

  #answers(orderIds: readonly number[]): Map<number, string> {
    const sql = 'SELECT order_id, answer FROM orders WHERE order_id IN (SELECT value FROM json_each(?))';
    const rows = this.#statement(sql).raw().all(JSON.stringify(orderIds)) as [number, string][];
    return new Map(rows);
  }

  /** The order placed with this client_order_id, if any: what a retry is answered from. */
  orderByClientId(clientOrderId: string): ClientOrderRow | undefined {
    const sql =
      'SELECT order_id, strategy, instrument, side, quantity, status, reason, answer FROM orders WHERE client_order_id = ?';
    return this.#statement(sql).get(clientOrderId) as ClientOrderRow | undefined;
  }

  receivedAtOf(clientOrderId: string): number | undefined {
    const sql = 'SELECT received_at_ms FROM orders WHERE client_order_id = ?';
    return this.#statement(sql).pluck().get(clientOrderId) as number | undefined;
  }

  order(orderId: number): string | undefined {
    return this.#statement('SELECT answer FROM orders WHERE order_id = ?').pluck().get(orderId) as
      | string
      | undefined;
  }

  positions(query: PositionsQuery, userId: number | undefined): JsonPage {
    if (query.user !== undefined && userId === undefined) return { rows: [], nextAfter: null };
    const where: string[] = [];
    const args: unknown[] = [];
    if (query.after !== null) {
      where.push('(p.strategy, p.instrument, p.user_id) > (?, ?, ?)');
      args.push(query.after.strategy, query.after.instrument, query.after.userId);
    }
    filter(where, args, 'p.user_id', userId);
    filter(where, args, 'p.strategy', query.strategy);
    filter(where, args, 'p.instrument', query.instrument);
    const sql = `SELECT u.name, p.strategy, p.instrument, p.order_id, p.opened_at_ms, p.user_id, p.quantity FROM positions p
      JOIN users u ON u.user_id = p.user_id ${whereClause(where)}
      ORDER BY p.strategy, p.instrument, p.user_id LIMIT ?`;
    const rows = this.#statement(sql)
      .raw()
      .all(...args, query.limit + 1) as PositionTuple[];
    return positionsPage(rows, query.limit);
  }

  trades(query: TradesQuery, userId: number | undefined): JsonPage {
    if (query.user !== undefined && userId === undefined) return { rows: [], nextAfter: null };
    const where = ['t.trade_id > ?'];
    const args: unknown[] = [query.after];
    filter(where, args, 't.user_id', userId);
    filter(where, args, 't.strategy', query.strategy);
    filter(where, args, 't.instrument', query.instrument);
    const sql = `SELECT t.trade_id, u.name, t.strategy, t.instrument, t.buy_order_id, t.sell_order_id,
      t.opened_at_ms, t.closed_at_ms, t.quantity FROM trades t JOIN users u ON u.user_id = t.user_id
      ${whereClause(where)} ORDER BY t.trade_id LIMIT ?`;
    const rows = this.#statement(sql)
      .raw()
      .all(...args, query.limit + 1) as TradeTuple[];
    return tradesPage(rows, query.limit);
  }

  /** One user's open positions [strategy, instrument, quantity], by the index on user_id. */
  heldBy(userId: number): [string, string, number][] {
    const sql = 'SELECT strategy, instrument, quantity FROM positions WHERE user_id = ?';
    return this.#statement(sql).raw().all(userId) as [string, string, number][];
  }

  /** Open positions of these users only, by the index on user_id: a page of users costs its own size. */
  openPositionsOf(userIds: readonly number[]): Map<number, number> {
    const sql =
      'SELECT user_id, count(*) FROM positions WHERE user_id IN (SELECT value FROM json_each(?)) GROUP BY user_id';
    return new Map(this.#statement(sql).raw().all(JSON.stringify(userIds)) as [number, number][]);
  }

  #statement(sql: string): Statement {
    let statement = this.#cache.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#cache.set(sql, statement);
    }
    return statement;
  }
}

function filter(where: string[], args: unknown[], column: string, value: unknown): void {
  if (value === undefined) return;
  where.push(`${column} = ?`);
  args.push(value);
}

function whereClause(where: readonly string[]): string {
  return where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
}
