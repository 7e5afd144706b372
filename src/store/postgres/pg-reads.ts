// The read side of the PostgreSQL store: the order log, positions and trades, from any instance's
// pool. The same queries and the same row shapes as the SQLite store's reads.

import type pg from 'pg';
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
import type { PgUsers } from './profile-sync.js';

const ORDER_HEAD = `o.order_id, o.client_order_id, o.strategy, o.instrument, o.side, o.status, o.reason,
  o.received_at_ms, coalesce(o.fills, json_array_length(o.answer::json -> 'accepted')),
  coalesce(o.denials, json_array_length(o.answer::json -> 'rejected')), octet_length(o.answer), o.quantity`;

const EMPTY: JsonPage = { rows: [], nextAfter: null };

export class PgReads {
  readonly #pool: pg.Pool;
  readonly #users: PgUsers;

  constructor(pool: pg.Pool, users: PgUsers) {
    this.#pool = pool;
    this.#users = users;
  }

  async orders(query: OrdersQuery): Promise<JsonPage> {
    const where = new Where([query.after]);
    where.push('o.order_id > $1');
    if (query.user !== undefined) {
      const userId = this.#users.idOf.get(query.user);
      if (userId === undefined) return EMPTY;
      // The orders applied for this user: the BUYs of its open positions and both sides of its trades.
      const p = where.arg(userId);
      where.push(`o.order_id IN (SELECT order_id FROM positions WHERE user_id = ${p}
        UNION ALL SELECT buy_order_id FROM trades WHERE user_id = ${p}
        UNION ALL SELECT sell_order_id FROM trades WHERE user_id = ${p})`);
    }
    where.equal('o.strategy', query.strategy);
    where.equal('o.instrument', query.instrument);
    where.equal('o.status', query.status);
    const limit = where.arg(query.limit + 1);
    const result = await this.#pool.query({
      text: `SELECT ${ORDER_HEAD} FROM orders o ${where.clause()} ORDER BY o.order_id LIMIT ${limit}`,
      values: where.args,
      rowMode: 'array',
    });
    return ordersPage(result.rows as unknown as OrderHead[], query, (orderIds) => this.#answers(orderIds));
  }

  async #answers(orderIds: readonly number[]): Promise<Map<number, string>> {
    if (orderIds.length === 0) return new Map();
    const result = await this.#pool.query({
      text: 'SELECT order_id, answer FROM orders WHERE order_id = ANY($1::bigint[])',
      values: [orderIds],
      rowMode: 'array',
    });
    return new Map(result.rows as [number, string][]);
  }

  /** The order placed with this client_order_id, if any: what a retry is answered from. */
  async orderByClientId(client: pg.ClientBase, clientOrderId: string): Promise<ClientOrderRow | undefined> {
    const result = await client.query<ClientOrderRow>(
      'SELECT order_id, strategy, instrument, side, quantity, status, reason, answer FROM orders WHERE client_order_id = $1',
      [clientOrderId],
    );
    return result.rows[0];
  }

  async receivedAtOf(clientOrderId: string): Promise<number | undefined> {
    const result = await this.#pool.query<{ received_at_ms: number }>(
      'SELECT received_at_ms FROM orders WHERE client_order_id = $1',
      [clientOrderId],
    );
    return result.rows[0]?.received_at_ms;
  }

  async order(orderId: number): Promise<string | undefined> {
    const result = await this.#pool.query<{ answer: string }>(
      'SELECT answer FROM orders WHERE order_id = $1',
      [orderId],
    );
    return result.rows[0]?.answer;
  }

  async positions(query: PositionsQuery): Promise<JsonPage> {
    const where = new Where([]);
    if (query.after !== null) {
      const { strategy, instrument, userId } = query.after;
      where.push(
        `(p.strategy, p.instrument, p.user_id) > (${where.arg(strategy)}, ${where.arg(instrument)}, ${where.arg(userId)})`,
      );
    }
    if (query.user !== undefined) {
      const userId = this.#users.idOf.get(query.user);
      if (userId === undefined) return EMPTY;
      where.equal('p.user_id', userId);
    }
    where.equal('p.strategy', query.strategy);
    where.equal('p.instrument', query.instrument);
    const limit = where.arg(query.limit + 1);
    const result = await this.#pool.query({
      text: `SELECT u.name, p.strategy, p.instrument, p.order_id, p.opened_at_ms, p.user_id, p.quantity FROM positions p
        JOIN users u ON u.user_id = p.user_id ${where.clause()}
        ORDER BY p.strategy, p.instrument, p.user_id LIMIT ${limit}`,
      values: where.args,
      rowMode: 'array',
    });
    return positionsPage(result.rows as unknown as PositionTuple[], query.limit);
  }

  async trades(query: TradesQuery): Promise<JsonPage> {
    const where = new Where([query.after]);
    where.push('t.trade_id > $1');
    if (query.user !== undefined) {
      const userId = this.#users.idOf.get(query.user);
      if (userId === undefined) return EMPTY;
      where.equal('t.user_id', userId);
    }
    where.equal('t.strategy', query.strategy);
    where.equal('t.instrument', query.instrument);
    const limit = where.arg(query.limit + 1);
    const result = await this.#pool.query({
      text: `SELECT t.trade_id, u.name, t.strategy, t.instrument, t.buy_order_id, t.sell_order_id,
        t.opened_at_ms, t.closed_at_ms, t.quantity FROM trades t JOIN users u ON u.user_id = t.user_id
        ${where.clause()} ORDER BY t.trade_id LIMIT ${limit}`,
      values: where.args,
      rowMode: 'array',
    });
    return tradesPage(result.rows as unknown as TradeTuple[], query.limit);
  }

  /** Open positions of these users only, by the index on user_id: a page of users costs its own size. */
  async openPositionsOf(userIds: readonly number[]): Promise<Map<number, number>> {
    const result = await this.#pool.query({
      text: 'SELECT user_id, count(*)::integer FROM positions WHERE user_id = ANY($1::integer[]) GROUP BY user_id',
      values: [userIds],
      rowMode: 'array',
    });
    return new Map(result.rows as [number, number][]);
  }
}

/** A WHERE clause built with numbered parameters. */
class Where {
  readonly args: unknown[];
  readonly #conditions: string[] = [];

  constructor(args: unknown[]) {
    this.args = args;
  }

  arg(value: unknown): string {
    this.args.push(value);
    return `$${this.args.length}`;
  }

  push(condition: string): void {
    this.#conditions.push(condition);
  }

  equal(column: string, value: unknown): void {
    if (value !== undefined) this.push(`${column} = ${this.arg(value)}`);
  }

  clause(): string {
    return this.#conditions.length === 0 ? '' : `WHERE ${this.#conditions.join(' AND ')}`;
  }
}
