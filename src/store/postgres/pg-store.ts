// The shared store: any number of instances on one PostgreSQL database. Each order is one
// transaction: lock its book's row (SELECT … FOR UPDATE), read the book, draw the order's id under
// that lock, decide with the same pure decide() as the embedded store, write everything it changed
// in one statement, commit, and only then answer. Orders for one (strategy, instrument) serialise
// across instances; orders for different books run in parallel on the pool's connections.
//
// Each instance keeps the books it has read, tagged with the last order id that changed them: a
// book whose row still carries that id is reused without reading its positions again, so one
// instance alone never reads them twice, and another instance's order is always seen.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { positionKey } from '../../domain/book.js';
import { CaseHints } from '../../domain/case-hints.js';
import type { Order } from '../../domain/order.js';
import type { Profile } from '../../domain/profile.js';
import { type Decision, decide, type OpenPosition, type UserId } from '../../domain/rules.js';
import { GateStates } from '../../domain/states.js';
import { renderAnswer } from '../answer.js';
import { type Actor, ChangeError, type ChangeRequest, statesJson } from '../changes.js';
import {
  Directory,
  type ProfileDifference,
  profileDifference,
  profileJson,
  USER_POSITIONS_SHOWN_MAX,
  userDetailJson,
} from '../directory.js';
import type { KeyStore } from '../key-store.js';
import { LeftPositions } from '../left-positions.js';
import type { JsonPage } from '../page.js';
import type { NamesQuery, OrdersQuery, PositionsQuery, TradesQuery } from '../rows.js';
import {
  type ChangeResult,
  type ClientOrderRow,
  OUTCOME_TEXT,
  type Outcome,
  overloaded,
  type PlacedOrder,
  type Readiness,
  type Store,
  StoreError,
  sameOrder,
} from '../store.js';
import { connectForStart, createPool, describePgError, isConnectionFault } from './connection.js';
import { migratePostgres } from './migrations.js';
import { PgKeys } from './pg-keys.js';
import { PgReads } from './pg-reads.js';
import { type PgUsers, syncProfilePostgres } from './profile-sync.js';

/**
 * Reads (the order log, the book, users) have a pool of their own, so that slow reads never hold the
 * connections orders need; at most READS_IN_FLIGHT_MAX reads wait for one, and past that a read gets
 * 503 OVERLOADED at once. A read that waits longer than the pool's connect timeout gets 503 too.
 */
export const READ_POOL_MAX = 4;
export const READS_IN_FLIGHT_MAX = 64;
/**
 * The per-request key lookups have two connections, and the health probe one of its own: a flood of
 * unknown tokens can fill the first, never the second.
 */
export const KEY_POOL_MAX = 2;

/** How often readiness is probed; a connection fault marks the store not ready at once. */
const HEALTH_PROBE_INTERVAL_MS = 1000;

export interface PostgresStoreOptions {
  readonly url: string;
  readonly poolMax: number;
  /** Orders in flight at most (waiting for a connection or in their transaction): past it, 503. */
  readonly ordersInFlightMax: number;
  readonly profile: Profile;
  readonly profileText: string;
  readonly logger: Logger;
}

interface CachedBook {
  /** The order that last changed this book, as its row in `books` says. */
  lastOrderId: number;
  /**
   * The random token that order wrote beside it. Ids alone could match a book they do not describe
   * once the database goes back in time (a restore, an asynchronous standby promoted) and hands them out again.
   */
  write: string;
  readonly holders: Map<UserId, OpenPosition>;
}

/**
 * Locks the book's row, then draws the order's id: the CTE is materialised, so nextval() runs on its
 * output, after the lock is granted (an id drawn before the wait could commit out of order).
 */
const lockAndDraw = (strategy: string, instrument: string) =>
  `WITH locked AS MATERIALIZED (SELECT last_order_id, last_write FROM books WHERE strategy = ${strategy} AND instrument = ${instrument} FOR UPDATE)
   SELECT last_order_id, last_write, nextval('order_ids') FROM locked`;
/**
 * For an order whose book has no row: no profile ever gave that (strategy, instrument), so nobody holds
 * a position in it, and the order is logged without leaving a row or a cached book behind (a stranger's
 * names must not create state). Profiles add books under the schema row's lock: holding it shared
 * while the book's absence is read again orders this order before any book a profile adds meanwhile.
 */
const shareSchemaAndDraw = (strategy: string, instrument: string) =>
  `SELECT 1 FROM ordergate_schema WHERE id = 1 FOR SHARE;
   WITH locked AS MATERIALIZED (SELECT last_order_id, last_write FROM books WHERE strategy = ${strategy} AND instrument = ${instrument} FOR UPDATE)
   SELECT last_order_id, last_write, nextval('order_ids') FROM locked
   UNION ALL SELECT NULL, NULL, nextval('order_ids') WHERE NOT EXISTS (SELECT 1 FROM locked)`;
const WRITE_BOOKLESS_ORDER = `
INSERT INTO orders (order_id, client_order_id, strategy, instrument, side, status, reason,
                    received_at_ms, profile_version, answer, fills, denials)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`;
const EARLIER_ANSWER =
  'SELECT order_id, strategy, instrument, side, status, reason, answer FROM orders WHERE client_order_id = ';
const READ_BOOK =
  'SELECT user_id, order_id, opened_at_ms FROM positions WHERE strategy = $1 AND instrument = $2';
/** Everything one order changes, in one statement (one round trip), whatever its fan-out. */
const WRITE_ORDER = `
WITH new_order AS (
  INSERT INTO orders (order_id, client_order_id, strategy, instrument, side, status, reason,
                      received_at_ms, profile_version, answer, fills, denials)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $16, $17)
), opened AS (
  INSERT INTO positions (strategy, instrument, user_id, order_id, opened_at_ms)
  SELECT $3, $4, u, $1, $8 FROM unnest($11::integer[]) AS u
), closed AS (
  DELETE FROM positions WHERE strategy = $3 AND instrument = $4 AND user_id = ANY($12::integer[])
  RETURNING user_id
), traded AS (
  INSERT INTO trades (user_id, strategy, instrument, buy_order_id, sell_order_id, opened_at_ms, closed_at_ms)
  SELECT c.u, $3, $4, c.b, $1, c.t, $8
  FROM unnest($12::integer[], $13::bigint[], $14::bigint[]) WITH ORDINALITY AS c(u, b, t, n) ORDER BY c.n
)
UPDATE books SET last_order_id = $1, last_write = $15 WHERE strategy = $3 AND instrument = $4
RETURNING (SELECT count(*)::integer FROM closed) AS closed`;

/** The instance's connections: each path has its own bounded share, so no path can starve another. */
interface Pools {
  readonly orders: pg.Pool;
  readonly reads: pg.Pool;
  readonly keys: pg.Pool;
  readonly probe: pg.Pool;
}

export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const pool = (poolMax: number, applicationName?: string) =>
    createPool({ url: options.url, poolMax, logger: options.logger, applicationName });
  const pools: Pools = {
    orders: pool(options.poolMax),
    reads: pool(READ_POOL_MAX, 'ordergate reads'),
    keys: pool(KEY_POOL_MAX, 'ordergate keys'),
    probe: pool(1, 'ordergate health'),
  };
  try {
    // Start-up has a connection of its own, without the pool's timeouts: an instance that starts beside
    // another one syncing a large profile waits for it rather than failing after 5 s.
    const client = await connectForStart(options.url);
    try {
      const schema = await migratePostgres(client);
      if (schema.from !== schema.to) options.logger.info({ schema }, 'database schema migrated');
      const synced = await syncProfilePostgres(client, options.profile, options.profileText, Date.now());
      if (synced.created) {
        options.logger.info(
          { users: options.profile.length, version: synced.version },
          'profile stored in the database as a new version',
        );
      }
      await warnOfLeftPositions(client, options, synced.users);
      const open = await client.query<{ count: number }>('SELECT count(*)::integer AS count FROM positions');
      const identity = await client.query<{ database_id: string }>(
        'SELECT database_id FROM database_identity WHERE id = 1',
      );
      const store = new PostgresStore(pools, options, synced.version, synced.users, open.rows[0]!.count);
      store.databaseId = identity.rows[0]!.database_id;
      return store;
    } finally {
      await client.end().catch(() => {});
    }
  } catch (error) {
    await endPools(pools);
    throw error;
  }
}

/**
 * Positions the profile just synced no longer gives, grouped by user (one row per user, not per
 * position). The subscriptions table is this instance's profile right after its sync; another
 * instance starting at the same moment with another profile may have replaced it meanwhile, which
 * only changes this warning.
 */
async function warnOfLeftPositions(
  client: pg.ClientBase,
  options: PostgresStoreOptions,
  users: PgUsers,
): Promise<void> {
  const rows = await client.query<{ user_id: number; positions: number; example: string }>(
    `SELECT p.user_id, count(*)::integer AS positions, min(p.strategy || ' ' || p.instrument) AS example
     FROM positions p
     WHERE NOT EXISTS (SELECT 1 FROM subscriptions s
                       WHERE s.user_id = p.user_id AND s.strategy = p.strategy AND s.instrument = p.instrument)
     GROUP BY p.user_id ORDER BY p.user_id`,
  );
  const inProfile = new Set(options.profile.map((entry) => entry.user));
  const left = new LeftPositions((user) => inProfile.has(user));
  for (const row of rows.rows) left.add(users.names[row.user_id]!, row.positions, row.example);
  left.warn(options.logger);
}

function endPools(pools: Pools): Promise<unknown> {
  return Promise.all(Object.values(pools).map((each: pg.Pool) => each.end().catch(() => {})));
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  /** Set once, by openPostgresStore, before the store is handed out. */
  databaseId = '';
  readonly keys: KeyStore;
  readonly #pools: Pools;
  readonly #logger: Logger;
  readonly #profileVersion: number;
  readonly #users: PgUsers;
  readonly #directory: Directory;
  readonly #reads: PgReads;
  readonly #books = new Map<string, CachedBook>();
  readonly #probe: NodeJS.Timeout;
  /** Open positions found at start: the book is shared, so this instance cannot keep it current. */
  readonly openPositions: number;
  #healthy = true;
  #healthDetail: string | undefined;
  #closing = false;
  /** Orders waiting for a connection or in their transaction, each with how to fail it at shutdown. */
  readonly #inFlight = new Set<InFlight>();
  readonly #ordersInFlightMax: number;
  #readsInFlight = 0;
  #drained: (() => void) | null = null;
  /**
   * Orders take a connection only when one is free: pg's own wait for a pooled client shares its
   * timeout with connecting, so a burst would look like an unreachable server.
   */
  #freeConnections: number;
  readonly #waiting: (() => void)[] = [];

  constructor(
    pools: Pools,
    options: PostgresStoreOptions,
    version: number,
    users: PgUsers,
    openPositions: number,
  ) {
    this.#pools = pools;
    this.#logger = options.logger;
    this.#profileVersion = version;
    this.#users = users;
    this.#directory = new Directory(options.profile, (user) => users.idOf.get(user));
    this.#reads = new PgReads(pools.reads, users);
    this.#ordersInFlightMax = options.ordersInFlightMax;
    // A connection lost while idle may mean a failover: the books kept here are read again.
    pools.orders.on('error', () => this.#books.clear());
    this.keys = new PgKeys(pools.keys, {
      unhealthy: () => (this.#healthy ? undefined : (this.#healthDetail ?? 'PostgreSQL is unreachable')),
      fault: (error) => this.#markUnhealthy(error),
    });
    this.openPositions = openPositions;
    this.#freeConnections = options.poolMax;
    this.#probe = setInterval(() => void this.#probeHealth(), HEALTH_PROBE_INTERVAL_MS);
    this.#probe.unref();
  }

  readiness(): Readiness {
    const load = { ordersInFlight: this.#inFlight.size, ordersInFlightMax: this.#ordersInFlightMax };
    if (this.#closing) return { ready: false, state: 'closing', ...load };
    if (!this.#healthy)
      return { ready: false, state: 'recovering', detail: this.#healthDetail ?? 'PostgreSQL', ...load };
    return { ready: true, state: 'ready', ...load };
  }

  async #probeHealth(): Promise<void> {
    if (this.#closing) return;
    try {
      await this.#pools.probe.query('SELECT 1');
      if (!this.#healthy) this.#logger.warn('PostgreSQL reachable again: taking orders');
      this.#healthy = true;
      this.#healthDetail = undefined;
    } catch (error) {
      this.#markUnhealthy(error);
    }
  }

  #markUnhealthy(error: unknown): void {
    this.#books.clear();
    const detail = `waiting for PostgreSQL (${describePgError(error)}); retrying every second`;
    if (this.#healthy)
      this.#logger.error({ detail }, 'PostgreSQL unreachable: orders get 503 until it is back');
    this.#healthy = false;
    this.#healthDetail = detail;
  }

  place(order: Order, receivedAtMs: number): Promise<PlacedOrder> {
    if (this.#closing) return Promise.reject(unavailable('the server is shutting down'));
    if (!this.#healthy) return Promise.reject(unavailable(this.#healthDetail ?? 'PostgreSQL is unreachable'));
    if (this.#inFlight.size >= this.#ordersInFlightMax)
      return Promise.reject(overloaded(this.#inFlight.size));
    return new Promise<PlacedOrder>((resolve, reject) => {
      const entry: InFlight = { reject, begun: false };
      this.#inFlight.add(entry);
      this.#queued(order, receivedAtMs, entry).then(resolve, reject);
    });
  }

  /** Waits for a free connection of the orders' pool, places the order on it, and hands it on. */
  async #queued(order: Order, receivedAtMs: number, entry: InFlight): Promise<PlacedOrder> {
    try {
      if (this.#freeConnections > 0) this.#freeConnections--;
      else await new Promise<void>((resolve) => this.#waiting.push(resolve));
      try {
        entry.begun = true;
        return await this.#place(order, receivedAtMs);
      } finally {
        const next = this.#waiting.shift();
        if (next !== undefined) next();
        else this.#freeConnections++;
      }
    } finally {
      this.#inFlight.delete(entry);
      if (this.#inFlight.size === 0) this.#drained?.();
    }
  }

  async #place(order: Order, receivedAtMs: number): Promise<PlacedOrder> {
    let client: pg.PoolClient;
    try {
      client = await this.#pools.orders.connect();
    } catch (error) {
      if (isConnectionFault(error)) this.#markUnhealthy(error);
      throw unavailable(`cannot reach PostgreSQL (${describePgError(error)}); ${OUTCOME_TEXT.NOT_APPLIED}`);
    }
    let broken = false;
    try {
      return await this.#transaction(client, order, receivedAtMs);
    } catch (error) {
      if (error instanceof StoreError) {
        // A commit that failed on the connection: it may still be stuck there, so it is not reused.
        broken = error.code === 'STORE_UNAVAILABLE';
        throw error;
      }
      broken = isConnectionFault(error);
      if (broken) this.#markUnhealthy(error);
      if (order.clientOrderId !== null && isDuplicateClientId(error)) {
        // Another request with this client_order_id committed first, here or on another instance.
        const earlier = await this.#reads.orderByClientId(client, order.clientOrderId).catch(() => undefined);
        if (earlier !== undefined) return answerRetry(order, earlier);
      }
      if (error instanceof assert.AssertionError) {
        // The book this instance kept is not the one in the database: nothing was committed; every
        // kept book is read again.
        this.#books.clear();
        this.#logger.error(
          { err: error },
          'order not applied: the book kept here disagreed with the database',
        );
      } else {
        this.#logger.warn(
          { err: { message: describePgError(error) } },
          'order not applied: PostgreSQL failed',
        );
      }
      throw unavailable(`PostgreSQL failed (${describePgError(error)}); ${OUTCOME_TEXT.NOT_APPLIED}`);
    } finally {
      client.release(broken);
    }
  }

  async #transaction(client: pg.PoolClient, order: Order, receivedAtMs: number): Promise<PlacedOrder> {
    const key = positionKey(order.strategy, order.instrument);
    let committing = false;
    try {
      const opened = await this.#begin(client, order);
      if (opened.earlier !== undefined) {
        await client.query('ROLLBACK');
        return answerRetry(order, opened.earlier);
      }
      const { lastOrderId, lastWrite, orderId } = opened;
      if (opened.bookless) {
        const placed = await this.#writeBookless(client, order, orderId, receivedAtMs);
        committing = true;
        await client.query('COMMIT');
        return placed;
      }
      const write = randomUUID();
      const book = await this.#bookAt(client, key, order, lastOrderId, lastWrite);
      assert.ok(orderId > lastOrderId, 'order ids increase within a book');
      const decision = decide(
        order.side,
        order.instrument,
        this.#directory.subscriptions.get(order.strategy),
        book.holders,
      );
      const json = renderAnswer({ orderId, order, receivedAtMs }, decision, this.#users.nameJson);
      const written = await client.query<{ closed: number }>(WRITE_ORDER, [
        ...writeParameters(order, orderId, receivedAtMs, this.#profileVersion, decision, json),
        write,
        decision.fills.length,
        decision.denials.length,
      ]);
      const closes = decision.fills.length - countOpens(decision);
      // The book read (or kept) must be the book on disk; if not, nothing is committed.
      assert.equal(written.rows[0]?.closed, closes, 'every position a SELL closes was open');
      committing = true;
      await client.query('COMMIT');
      this.#remember(key, book, decision, orderId, write, receivedAtMs);
      return {
        orderId,
        status: decision.status,
        reason: decision.reason,
        json,
        fills: decision.fills.length,
        denials: decision.denials.length,
        replayed: false,
      };
    } catch (error) {
      this.#books.delete(key);
      // On a failed connection a ROLLBACK would only queue behind the stuck statement and wait out its
      // own query timeout; the connection is discarded instead, which ends the transaction.
      if (!committing && !isConnectionFault(error)) await client.query('ROLLBACK').catch(() => {});
      if (committing && isConnectionFault(error)) {
        this.#markUnhealthy(error);
        throw unavailable(
          `PostgreSQL failed during the commit (${describePgError(error)}); ${OUTCOME_TEXT.UNKNOWN}`,
          'UNKNOWN',
        );
      }
      throw error;
    }
  }

  /**
   * The first round trip of an order: BEGIN, the earlier answer to its client_order_id if any, the lock
   * on its book and its id, drawn under that lock (so replaying the log in order_id order replays each
   * book in the order its orders were decided). One simple-protocol query, literals escaped by pg.
   */
  async #begin(client: pg.PoolClient, order: Order): Promise<Begun> {
    const strategy = client.escapeLiteral(order.strategy);
    const instrument = client.escapeLiteral(order.instrument);
    const earlier =
      order.clientOrderId === null ? '' : `${EARLIER_ANSWER}${client.escapeLiteral(order.clientOrderId)};`;
    const results = (await client.query(
      `BEGIN;${earlier}${lockAndDraw(strategy, instrument)}`,
    )) as unknown as pg.QueryResult[];
    const found = earlier === '' ? undefined : (results[1]!.rows[0] as ClientOrderRow | undefined);
    if (found !== undefined)
      return { earlier: found, bookless: false, lastOrderId: 0, lastWrite: '', orderId: 0 };
    type Locked = { last_order_id: number | null; last_write: string | null; nextval: number };
    let locked = results.at(-1)!.rows[0] as Locked | undefined;
    if (locked === undefined) {
      const shared = (await client.query(
        shareSchemaAndDraw(strategy, instrument),
      )) as unknown as pg.QueryResult[];
      locked = shared[1]!.rows[0] as Locked;
    }
    return {
      bookless: locked.last_order_id === null,
      lastOrderId: Number(locked.last_order_id ?? 0),
      lastWrite: locked.last_write ?? '',
      orderId: Number(locked.nextval),
    };
  }

  /** An order for a book no profile gave: decided on an empty book, logged, and nothing else written. */
  async #writeBookless(
    client: pg.PoolClient,
    order: Order,
    orderId: number,
    receivedAtMs: number,
  ): Promise<PlacedOrder> {
    const decision = decide(order.side, order.instrument, this.#directory.subscriptions.get(order.strategy));
    // Every subscriber of a (strategy, instrument) this profile gives has its book's row.
    assert.equal(decision.fills.length, 0, 'an order for a book without a row fills no one');
    const json = renderAnswer({ orderId, order, receivedAtMs }, decision, this.#users.nameJson);
    await client.query(WRITE_BOOKLESS_ORDER, [
      ...writeParameters(order, orderId, receivedAtMs, this.#profileVersion, decision, json).slice(0, 10),
      decision.fills.length,
      decision.denials.length,
    ]);
    return {
      orderId,
      status: decision.status,
      reason: decision.reason,
      json,
      fills: 0,
      denials: decision.denials.length,
      replayed: false,
    };
  }

  /** The book as its row says it stands: kept from this instance's last order on it, or read under the lock. */
  async #bookAt(
    client: pg.PoolClient,
    key: string,
    order: Order,
    lastOrderId: number,
    lastWrite: string,
  ): Promise<CachedBook> {
    const cached = this.#books.get(key);
    if (cached !== undefined && cached.lastOrderId === lastOrderId && cached.write === lastWrite)
      return cached;
    const rows = await client.query({
      text: READ_BOOK,
      values: [order.strategy, order.instrument],
      rowMode: 'array',
    });
    const holders = new Map<UserId, OpenPosition>();
    for (const [userId, orderId, openedAtMs] of rows.rows as [number, string, string][]) {
      holders.set(userId, { orderId: Number(orderId), openedAtMs: Number(openedAtMs) });
    }
    await this.#users.learn(client, holders.keys());
    return { lastOrderId, write: lastWrite, holders };
  }

  /** After the commit: the book now stands at orderId, unless a later order on it was seen meanwhile. */
  #remember(
    key: string,
    book: CachedBook,
    decision: Decision,
    orderId: number,
    write: string,
    nowMs: number,
  ): void {
    const current = this.#books.get(key);
    if (current !== undefined && current !== book && current.lastOrderId > orderId) return;
    for (const fill of decision.fills) {
      if (fill.closes === null) book.holders.set(fill.userId, { orderId, openedAtMs: nowMs });
      else book.holders.delete(fill.userId);
    }
    book.lastOrderId = orderId;
    book.write = write;
    this.#books.set(key, book);
  }

  // Live operations on PostgreSQL: to be built (issue 13); refused until then.
  change(_request: ChangeRequest, _actor: Actor): Promise<ChangeResult> {
    return Promise.reject(new ChangeError('INVALID_REQUEST', 'not yet available on PostgreSQL'));
  }

  async states(): Promise<string> {
    return statesJson(new GateStates(), () => undefined, 0, Date.now());
  }

  async squaredOff(_day: string): Promise<boolean> {
    return false;
  }

  async exportProfile(): Promise<string> {
    return profileJson(this.#directory);
  }

  async differenceFrom(profile: Profile): Promise<ProfileDifference> {
    return profileDifference(profile, this.#directory);
  }

  caseHints(): CaseHints {
    return new CaseHints([...this.#directory.entries()]);
  }

  async orders(query: OrdersQuery): Promise<JsonPage> {
    return this.#read(() => this.#reads.orders(query));
  }

  async order(orderId: number): Promise<string | undefined> {
    return this.#read(() => this.#reads.order(orderId));
  }

  async positions(query: PositionsQuery): Promise<JsonPage> {
    return this.#read(() => this.#reads.positions(query));
  }

  async trades(query: TradesQuery): Promise<JsonPage> {
    return this.#read(() => this.#reads.trades(query));
  }

  async users(query: NamesQuery): Promise<JsonPage> {
    return this.#read(() => this.#directory.usersPage(query, this.#reads));
  }

  async user(name: string): Promise<string | undefined> {
    const userId = this.#users.idOf.get(name);
    if (userId === undefined) return undefined;
    return this.#read(async () => {
      const open = (await this.#reads.openPositionsOf([userId])).get(userId) ?? 0;
      const positions = await this.#reads.positions({
        user: name,
        after: null,
        limit: USER_POSITIONS_SHOWN_MAX,
      });
      return userDetailJson(name, this.#directory.entry(name), open, positions);
    });
  }

  async strategies(query: NamesQuery): Promise<JsonPage> {
    return this.#directory.strategiesPage(query);
  }

  /**
   * A read on the reads' own pool: at most READS_IN_FLIGHT_MAX at once (503 OVERLOADED past it), and one
   * that PostgreSQL could not answer, or that waited too long for a connection, is a 503 like an order.
   * Only a lost connection marks the instance not ready: a busy pool is backpressure, not a fault.
   */
  async #read<T>(run: () => Promise<T>): Promise<T> {
    if (this.#readsInFlight >= READS_IN_FLIGHT_MAX) {
      throw new StoreError(
        'OVERLOADED',
        `${this.#readsInFlight} reads are in flight, the most this server holds; retry later`,
      );
    }
    this.#readsInFlight++;
    try {
      return await run();
    } catch (error) {
      if (isConnectionFault(error)) this.#markUnhealthy(error);
      throw unavailable(`PostgreSQL could not answer the read (${describePgError(error)})`);
    } finally {
      this.#readsInFlight--;
    }
  }

  abandon(reason: string): void {
    this.#closing = true;
    // A transaction that has begun may still commit after this answer: its outcome is unknown.
    for (const entry of this.#inFlight) {
      if (entry.begun) entry.reject(unavailable(`${reason}; ${OUTCOME_TEXT.UNKNOWN}`, 'UNKNOWN'));
      else entry.reject(unavailable(`${reason}; ${OUTCOME_TEXT.NOT_APPLIED}`));
    }
  }

  /** Stops taking orders, lets the ones in flight commit and answer, then closes the pools. */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#probe);
    if (this.#inFlight.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    await endPools(this.#pools);
  }
}

function writeParameters(
  order: Order,
  orderId: number,
  receivedAtMs: number,
  profileVersion: number,
  decision: Decision,
  answer: string,
): unknown[] {
  const opened: number[] = [];
  const closedUsers: number[] = [];
  const buyOrderIds: number[] = [];
  const openedAtMs: number[] = [];
  for (const fill of decision.fills) {
    if (fill.closes === null) opened.push(fill.userId);
    else {
      closedUsers.push(fill.userId);
      buyOrderIds.push(fill.closes.orderId);
      openedAtMs.push(fill.closes.openedAtMs);
    }
  }
  return [
    orderId,
    order.clientOrderId,
    order.strategy,
    order.instrument,
    order.side,
    decision.status,
    decision.reason,
    receivedAtMs,
    profileVersion,
    answer,
    opened,
    closedUsers,
    buyOrderIds,
    openedAtMs,
  ];
}

function countOpens(decision: Decision): number {
  let opens = 0;
  for (const fill of decision.fills) if (fill.closes === null) opens++;
  return opens;
}

function answerRetry(order: Order, earlier: ClientOrderRow): PlacedOrder {
  if (!sameOrder(earlier, order)) {
    throw new StoreError(
      'IDEMPOTENCY_CONFLICT',
      `client_order_id ${JSON.stringify(order.clientOrderId)} was already used for a different order (strategy, instrument or position differ)`,
    );
  }
  return {
    orderId: earlier.order_id,
    status: earlier.status,
    reason: earlier.reason,
    json: earlier.answer,
    fills: 0,
    denials: 0,
    replayed: true,
  };
}

function isDuplicateClientId(error: unknown): boolean {
  const { code, constraint } = error as { code?: string; constraint?: string };
  return code === '23505' && constraint === 'orders_client_order_id_key';
}

function unavailable(why: string, outcome: Outcome = 'NOT_APPLIED'): StoreError {
  return new StoreError('STORE_UNAVAILABLE', `the store is not accepting orders: ${why}`, outcome);
}

/** The first round trip's answer: a retry's earlier order, or the book's row (if any) and the new id. */
interface Begun {
  readonly earlier?: ClientOrderRow;
  /** No row for this book: no profile gave it, nobody holds a position in it. */
  readonly bookless: boolean;
  readonly lastOrderId: number;
  readonly lastWrite: string;
  readonly orderId: number;
}

/** An order in flight, and how a shutdown that ran out of time answers it. */
interface InFlight {
  readonly reject: (error: Error) => void;
  /** True once it holds a connection: from then on a commit may happen. */
  begun: boolean;
}
