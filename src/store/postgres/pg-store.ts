// The shared store: any number of instances on one PostgreSQL database. Each order is one
// transaction: lock its book's row (SELECT … FOR UPDATE), read the book, draw the order's id under
// that lock, decide with the same pure decide() as the embedded store, write everything it changed
// in one statement, commit, and only then answer. Orders for one (strategy, instrument) serialise
// across instances; orders for different books run in parallel on the pool's connections.
//
// Each instance keeps the books it has read, tagged with the last order id that changed them: a
// book whose row still carries that id is reused without reading its positions again, so one
// instance alone never reads them twice, and another instance's order is always seen.
//
// The users and states in force are kept in memory too, built from the log's records (changes.ts).
// A change takes the live lock (LIVE_LOCK_KEY) exclusively, every order takes it shared: so a change
// commits between orders, and each order, in its first round trip, reads the records this instance
// has not applied yet (none, almost always) and applies them before it decides.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type PositionScope, positionKey } from '../../domain/book.js';
import { CaseHints } from '../../domain/case-hints.js';
import type { Order } from '../../domain/order.js';
import { type Profile, parseProfile } from '../../domain/profile.js';
import {
  type Decision,
  decide,
  decideClose,
  type OpenPosition,
  systemSell,
  type UserId,
} from '../../domain/rules.js';
import { GateStates, type OrderStates } from '../../domain/states.js';
import { renderAnswer } from '../answer.js';
import {
  type Actor,
  applyChange,
  type ChangeBody,
  type ChangeEffects,
  ChangeError,
  type ChangeRequest,
  type ClosedBook,
  effectsOf,
  type Live,
  leftCloseOnly,
  planChange,
  type ReleasedPosition,
  renderChange,
  type SystemClose,
  statesJson,
} from '../changes.js';
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
import { reconcileProfile } from '../reconcile.js';
import {
  holdingsJson,
  type NamesQuery,
  type OrdersQuery,
  type PositionsQuery,
  type TradesQuery,
} from '../rows.js';
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
import {
  addAllBooks,
  addSubscriptions,
  changesAfter,
  idsOfNames,
  insertUsers,
  LIVE_LOCK_KEY,
  type LiveBase,
  loadLiveBase,
  type PgUsers,
  type Queryable,
  type StoredChange,
  seedProfilePostgres,
  sha256Of,
  storeProfileVersion,
} from './profile-sync.js';

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
  /** The profile file's text: seeds a new database; on another, applied only when importProfile is set. */
  readonly profileText: string;
  /** Apply the profile file at start as an import (a record of the log) when it differs from the users in force. */
  readonly importProfile?: boolean;
  readonly logger: Logger;
  /** The scope a new database is made with; an existing one must have been made with it. */
  readonly positionScope: PositionScope;
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
 * The head of every order's first round trip: the live lock, shared, then, in a statement of its own
 * (its snapshot is taken once the lock is granted), the records this instance has not applied yet.
 * No change commits while the order holds the lock, so these are all the records before it.
 */
const shareLiveAndRead = (version: number) =>
  `SELECT pg_advisory_xact_lock_shared(${LIVE_LOCK_KEY});
   SELECT seq, kind, body, key_id, at_ms FROM changes WHERE seq > ${version} ORDER BY seq;`;
/** The head of a change's first round trip: the live lock, exclusive (orders in flight end first), then the records since. */
const takeLiveAndRead = (version: number) =>
  `SELECT pg_advisory_xact_lock(${LIVE_LOCK_KEY});
   SELECT seq, kind, body, key_id, at_ms FROM changes WHERE seq > ${version} ORDER BY seq;`;
/**
 * For an order whose book has no row: no subscription ever gave that (strategy, instrument), so nobody
 * holds a position in it, and the order is logged without leaving a row or a cached book behind (a
 * stranger's names must not create state). Changes add books under the live lock, which the order
 * holds shared; the seed adds them under the schema row's lock: holding it shared while the book's
 * absence is read again orders this order before any book the seed adds meanwhile.
 */
const shareSchemaAndDraw = (strategy: string, instrument: string) =>
  `SELECT 1 FROM ordergate_schema WHERE id = 1 FOR SHARE;
   WITH locked AS MATERIALIZED (SELECT last_order_id, last_write FROM books WHERE strategy = ${strategy} AND instrument = ${instrument} FOR UPDATE)
   SELECT last_order_id, last_write, nextval('order_ids') FROM locked
   UNION ALL SELECT NULL, NULL, nextval('order_ids') WHERE NOT EXISTS (SELECT 1 FROM locked)`;
const WRITE_BOOKLESS_ORDER = `
INSERT INTO orders (order_id, client_order_id, strategy, instrument, side, status, reason,
                    received_at_ms, profile_version, answer, fills, denials, quantity)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`;
const EARLIER_ANSWER =
  'SELECT order_id, strategy, instrument, side, quantity, status, reason, answer FROM orders WHERE client_order_id = ';
const READ_BOOK =
  'SELECT user_id, order_id, opened_at_ms, quantity, strategy FROM positions WHERE strategy = $1 AND instrument = $2';
/** In `account` scope a book is the instrument's: every strategy's positions in it. */
const READ_ACCOUNT_BOOK =
  'SELECT user_id, order_id, opened_at_ms, quantity, strategy FROM positions WHERE instrument = $1';
/**
 * Everything one order changes, in one statement (one round trip), whatever its fan-out. A SELL the gate
 * sends itself also says why ($18) and whose positions alone it closes ($19); a client's order has neither.
 */
const WRITE_ORDER = `
WITH new_order AS (
  INSERT INTO orders (order_id, client_order_id, strategy, instrument, side, status, reason,
                      received_at_ms, profile_version, answer, fills, denials, origin, for_user_id, quantity)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $16, $17, $18, $19, $20)
), opened AS (
  INSERT INTO positions (strategy, instrument, user_id, order_id, opened_at_ms, quantity)
  SELECT $3, $4, o.u, $1, $8, o.q FROM unnest($11::integer[], $21::bigint[]) AS o(u, q)
), closed AS (
  DELETE FROM positions p USING unnest($12::integer[], $23::text[]) AS c(u, s)
  WHERE p.strategy = c.s AND p.instrument = $4 AND p.user_id = c.u
  RETURNING p.user_id
), traded AS (
  INSERT INTO trades (user_id, strategy, instrument, buy_order_id, sell_order_id, opened_at_ms, closed_at_ms, quantity)
  SELECT c.u, c.s, $4, c.b, $1, c.t, $8, c.q
  FROM unnest($12::integer[], $13::bigint[], $14::bigint[], $22::bigint[], $23::text[])
       WITH ORDINALITY AS c(u, b, t, q, s, n) ORDER BY c.n
)
UPDATE books SET last_order_id = $1, last_write = $15 WHERE strategy = $24 AND instrument = $4
RETURNING (SELECT count(*)::integer FROM closed) AS closed`;
/** The record of a change, numbered from the orders' sequence. */
const WRITE_CHANGE = `INSERT INTO changes (seq, kind, body, key_id, at_ms)
VALUES (nextval('order_ids'), $1, $2, $3, $4) RETURNING seq`;
/**
 * positions=preserve: the user's positions (of one strategy, or all) leave the book for the released
 * ones, and their books get a new write token, so that every instance reads them again.
 */
const RELEASE_POSITIONS = `
WITH moved AS (
  DELETE FROM positions WHERE user_id = $1 AND ($2::text IS NULL OR strategy = $2)
  RETURNING strategy, instrument, user_id, order_id, opened_at_ms, quantity
), kept AS (
  INSERT INTO released_positions (released_seq, strategy, instrument, user_id, order_id, opened_at_ms, quantity)
  SELECT $3, strategy, instrument, user_id, order_id, opened_at_ms, quantity FROM moved
), touched AS (
  UPDATE books b SET last_write = $4 FROM (SELECT DISTINCT strategy, instrument FROM moved) m
  WHERE (b.strategy = m.strategy OR b.strategy = '') AND b.instrument = m.instrument
)
SELECT count(*)::integer AS moved FROM moved`;
const SET_STATE = `
INSERT INTO states (scope, target, state, reason, seq, at_ms, key_id, until_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (scope, target) DO UPDATE SET state = excluded.state, reason = excluded.reason, seq = excluded.seq,
  at_ms = excluded.at_ms, key_id = excluded.key_id, until_ms = excluded.until_ms
-- The close-only period after square-offs only ever grows, in memory (changes.ts) and here alike.
WHERE excluded.scope <> 'square-off' OR excluded.until_ms > states.until_ms`;
/** The (strategy, instrument) books a change subscribes to get their lock row, so that orders find it. */
const ADD_BOOKS = `
INSERT INTO books (strategy, instrument)
SELECT DISTINCT s, i FROM unnest($1::text[], $2::text[]) AS b(s, i)
UNION SELECT DISTINCT '', i FROM unnest($2::text[]) AS b(i)
ON CONFLICT DO NOTHING`;

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
  let client: pg.Client;
  try {
    // Start-up has a connection of its own, without the pool's timeouts: an instance that starts beside
    // another one seeding a large profile waits for it rather than failing after 5 s.
    client = await connectForStart(options.url);
  } catch (error) {
    await endPools(pools);
    throw error;
  }
  try {
    const store = await openOn(client, pools, options);
    try {
      await store.reconcileProfile(options);
      // After an import at start too: about the users in force, as they now are.
      await store.warnOfLeftPositions(client);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Migrates, seeds a new database, and builds the store from the users and states in force. */
async function openOn(
  client: pg.Client,
  pools: Pools,
  options: PostgresStoreOptions,
): Promise<PostgresStore> {
  try {
    const schema = await migratePostgres(client, options.positionScope);
    if (schema.from !== schema.to)
      options.logger.info({ schema: { from: schema.from, to: schema.to } }, 'database schema migrated');
    const seeded = await seedProfilePostgres(client, options.profile, options.profileText, Date.now());
    if (seeded !== null) {
      options.logger.info(
        { users: options.profile.length, version: seeded },
        'new database seeded with the profile',
      );
    }
    const states = new GateStates();
    const base = await loadLiveBase(client, sha256Of(options.profileText), states);
    const identity = await client.query<{ database_id: string }>(
      'SELECT database_id FROM database_identity WHERE id = 1',
    );
    const store = new PostgresStore(pools, options, base, states);
    store.databaseId = identity.rows[0]!.database_id;
    return store;
  } catch (error) {
    await endPools(pools);
    throw error;
  }
}

/**
 * Positions the users in force no longer give, grouped by user (one row per user, not per position):
 * kept, and closable, but worth knowing about. The subscriptions table holds the users in force, as
 * the records left them; a change committed meanwhile by another instance only changes this warning.
 */
async function warnOfLeftPositions(
  client: pg.ClientBase,
  logger: Logger,
  users: PgUsers,
  inForce: (user: string) => boolean,
): Promise<void> {
  const rows = await client.query<{ user_id: number; positions: number; example: string }>(
    `SELECT p.user_id, count(*)::integer AS positions, min(p.strategy || ' ' || p.instrument) AS example
     FROM positions p
     WHERE NOT EXISTS (SELECT 1 FROM subscriptions s
                       WHERE s.user_id = p.user_id AND s.strategy = p.strategy AND s.instrument = p.instrument)
     GROUP BY p.user_id ORDER BY p.user_id`,
  );
  await users.learn(
    client,
    rows.rows.map((row) => row.user_id),
  );
  const left = new LeftPositions(inForce);
  for (const row of rows.rows) left.add(users.names[row.user_id]!, row.positions, row.example);
  left.warn(logger);
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
  /** The profile version the users in force start from (the last imported, else the seed's): what orders name. */
  #profileVersion: number;
  readonly #users: PgUsers;
  readonly #directory: Directory;
  readonly #states: GateStates;
  readonly #live: Live;
  /** The number of the last record applied here: the version of the users and states in force. */
  #version: number;
  /** The version the users in force were built from at start, its text's SHA-256, and the record that imported it. */
  readonly #base: { readonly sha256: string; readonly afterSeq: number };
  /** The profile file, parsed: an import of the same text (same SHA-256) is not read and parsed again. */
  readonly #file: { readonly sha256: string; readonly profile: Profile };
  #caseHints: { version: number; hints: CaseHints } | null = null;
  readonly #reads: PgReads;
  readonly #books = new Map<string, CachedBook>();
  /** Fixed when the database was made (ordergate_schema.position_scope). */
  readonly #scope: PositionScope;
  readonly #probe: NodeJS.Timeout;
  /** Open positions found at start: the book is shared, so this instance cannot keep it current. */
  readonly openPositions: number;
  #healthy = true;
  #healthDetail: string | undefined;
  #closing = false;
  /** Orders and changes waiting for a connection or in their transaction, each with how to fail it at shutdown. */
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

  constructor(pools: Pools, options: PostgresStoreOptions, base: LiveBase, states: GateStates) {
    this.#scope = options.positionScope;
    this.#pools = pools;
    this.#logger = options.logger;
    this.#users = base.users;
    this.#file = { sha256: sha256Of(options.profileText), profile: options.profile };
    this.#base = { sha256: base.sha256, afterSeq: base.afterSeq };
    this.#profileVersion = base.version;
    this.#states = states;
    // The base version's text is read only when it is not the file's own.
    const profile =
      base.text === null ? options.profile : parseProfile(base.text, `profile version ${base.version}`);
    this.#directory = new Directory(profile, (user) => base.users.idOf.get(user));
    this.#live = { directory: this.#directory, states };
    // The states come from their table; only the users are rebuilt from the records.
    const scratch: Live = { directory: this.#directory, states: new GateStates() };
    for (const change of base.changes)
      applyChange(scratch, JSON.parse(change.body) as ChangeBody, change.seq, change, null);
    this.#version = base.lastSeq;
    this.#reads = new PgReads(pools.reads, base.users);
    this.#ordersInFlightMax = options.ordersInFlightMax;
    // A connection lost while idle may mean a failover: the books kept here are read again.
    pools.orders.on('error', () => this.#books.clear());
    this.keys = new PgKeys(pools.keys, {
      unhealthy: () => (this.#healthy ? undefined : (this.#healthDetail ?? 'PostgreSQL is unreachable')),
      fault: (error) => this.#markUnhealthy(error),
    });
    this.openPositions = base.openPositions;
    this.#freeConnections = options.poolMax;
    this.#probe = setInterval(() => void this.#probeHealth(), HEALTH_PROBE_INTERVAL_MS);
    this.#probe.unref();
  }

  /** Warns of the positions the users in force no longer give (see warnOfLeftPositions). */
  warnOfLeftPositions(client: pg.ClientBase): Promise<void> {
    return warnOfLeftPositions(
      client,
      this.#logger,
      this.#users,
      (user) => this.#directory.entry(user) !== undefined,
    );
  }

  /**
   * The database is the source of truth: a profile file that differs from the users in force is
   * reported, and applied (as an import, a record of the log) only when asked.
   */
  async reconcileProfile(options: PostgresStoreOptions): Promise<void> {
    if (this.#file.sha256 === this.#base.sha256 && this.#version <= this.#base.afterSeq) return;
    await reconcileProfile(
      this,
      this.#directory,
      { profile: options.profile, text: options.profileText, importProfile: options.importProfile },
      this.#logger,
    );
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
    return this.#admit(() => this.#place(order, receivedAtMs));
  }

  /**
   * An order or a change, taken in: refused at once when the store is not taking orders or holds the
   * most it may, else counted in flight until it is answered, and run on a connection of the orders' pool.
   */
  #admit<T>(run: () => Promise<T>): Promise<T> {
    if (this.#closing) return Promise.reject(unavailable('the server is shutting down'));
    if (!this.#healthy) return Promise.reject(unavailable(this.#healthDetail ?? 'PostgreSQL is unreachable'));
    if (this.#inFlight.size >= this.#ordersInFlightMax)
      return Promise.reject(overloaded(this.#inFlight.size));
    return new Promise<T>((resolve, reject) => {
      const entry: InFlight = { reject, begun: false };
      this.#inFlight.add(entry);
      this.#queued(entry, run).then(resolve, reject);
    });
  }

  /** Waits for a free connection of the orders' pool, runs the order or change on it, and hands it on. */
  async #queued<T>(entry: InFlight, run: () => Promise<T>): Promise<T> {
    try {
      if (this.#freeConnections > 0) this.#freeConnections--;
      else await new Promise<void>((resolve) => this.#waiting.push(resolve));
      try {
        entry.begun = true;
        return await run();
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

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await this.#pools.orders.connect();
    } catch (error) {
      if (isConnectionFault(error)) this.#markUnhealthy(error);
      throw unavailable(`cannot reach PostgreSQL (${describePgError(error)}); ${OUTCOME_TEXT.NOT_APPLIED}`);
    }
  }

  async #place(order: Order, receivedAtMs: number): Promise<PlacedOrder> {
    const client = await this.#connect();
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
    const key = positionKey(this.#scope, order.strategy, order.instrument);
    let committing = false;
    try {
      const opened = await this.#begin(client, order);
      if (opened.earlier !== undefined) {
        await client.query('ROLLBACK');
        return answerRetry(order, opened.earlier);
      }
      const { lastOrderId, lastWrite, orderId } = opened;
      if (opened.changes.length > 0) await this.#catchUp(client, opened.changes);
      const states = this.#states.forOrder(order.strategy, order.side, receivedAtMs);
      if (opened.bookless) {
        const placed = await this.#writeBookless(client, order, orderId, receivedAtMs, states);
        committing = true;
        await client.query('COMMIT');
        return placed;
      }
      const write = randomUUID();
      const book = await this.#bookAt(client, key, order, lastOrderId, lastWrite);
      assert.ok(orderId > lastOrderId, 'order ids increase within a book');
      const decision = decide(order, this.#directory.subscriptions.get(order.strategy), book.holders, states);
      const json = renderAnswer({ orderId, order, receivedAtMs }, decision, this.#users.nameJson);
      const written = await client.query<{ closed: number }>(WRITE_ORDER, [
        ...writeParameters(order, orderId, receivedAtMs, this.#profileVersion, decision, json),
        write,
        decision.fills.length,
        decision.denials.length,
        null,
        null,
        ...sizedParameters(order, decision, this.#scope),
      ]);
      const closes = decision.fills.length - countOpens(decision);
      // The book read (or kept) must be the book on disk; if not, nothing is committed.
      assert.equal(written.rows[0]?.closed, closes, 'every position a SELL closes was open');
      committing = true;
      await client.query('COMMIT');
      this.#remember(key, book, order.strategy, decision, orderId, write, receivedAtMs);
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
   * The first round trip of an order: BEGIN, the live lock (shared) and the records not applied here
   * yet, the earlier answer to its client_order_id if any, the lock on its book and its id, drawn under
   * that lock (so replaying the log in order_id order replays each book in the order its orders were
   * decided). One simple-protocol query, literals escaped by pg.
   */
  async #begin(client: pg.PoolClient, order: Order): Promise<Begun> {
    const strategy = client.escapeLiteral(bookStrategy(this.#scope, order.strategy));
    const instrument = client.escapeLiteral(order.instrument);
    const earlier =
      order.clientOrderId === null ? '' : `${EARLIER_ANSWER}${client.escapeLiteral(order.clientOrderId)};`;
    const results = (await client.query(
      `BEGIN;${shareLiveAndRead(this.#version)}${earlier}${lockAndDraw(strategy, instrument)}`,
    )) as unknown as pg.QueryResult[];
    const found = earlier === '' ? undefined : (results[3]!.rows[0] as ClientOrderRow | undefined);
    if (found !== undefined)
      return { earlier: found, changes: [], bookless: false, lastOrderId: 0, lastWrite: '', orderId: 0 };
    type Locked = { last_order_id: number | null; last_write: string | null; nextval: number };
    let locked = results.at(-1)!.rows[0] as Locked | undefined;
    if (locked === undefined) {
      const shared = (await client.query(
        shareSchemaAndDraw(strategy, instrument),
      )) as unknown as pg.QueryResult[];
      locked = shared[1]!.rows[0] as Locked;
    }
    return {
      changes: storedChanges(results[2]!),
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
    states: OrderStates | null,
  ): Promise<PlacedOrder> {
    const subscribers = this.#directory.subscriptions.get(order.strategy);
    const decision = decide(order, subscribers, undefined, states);
    // Every subscriber of a (strategy, instrument) this profile gives has its book's row.
    assert.equal(decision.fills.length, 0, 'an order for a book without a row fills no one');
    const json = renderAnswer({ orderId, order, receivedAtMs }, decision, this.#users.nameJson);
    await client.query(WRITE_BOOKLESS_ORDER, [
      ...writeParameters(order, orderId, receivedAtMs, this.#profileVersion, decision, json).slice(0, 10),
      decision.fills.length,
      decision.denials.length,
      order.quantity,
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
    const holders = await readHolders(client, this.#scope, order.strategy, order.instrument);
    await this.#users.learn(client, holders.keys());
    return { lastOrderId, write: lastWrite, holders };
  }

  /** After the commit: the book now stands at orderId, unless a later order on it was seen meanwhile. */
  #remember(
    key: string,
    book: CachedBook,
    strategy: string,
    decision: Decision,
    orderId: number,
    write: string,
    nowMs: number,
  ): void {
    const current = this.#books.get(key);
    if (current !== undefined && current !== book && current.lastOrderId > orderId) return;
    for (const fill of decision.fills) {
      if (fill.closes === null) {
        book.holders.set(fill.userId, { orderId, openedAtMs: nowMs, quantity: fill.quantity, strategy });
      } else book.holders.delete(fill.userId);
    }
    book.lastOrderId = orderId;
    book.write = write;
    this.#books.set(key, book);
  }

  /**
   * Applies the records committed since this instance's version, in log order, to the users and states
   * in force. Whatever they need (an import's profile, its users' ids) is read first, then they are
   * applied at once: two catch-ups running together on two connections never interleave their records,
   * and a record another already applied is skipped.
   */
  async #catchUp(db: Queryable, records?: readonly StoredChange[]): Promise<void> {
    const pending = (records ?? (await changesAfter(db, this.#version))).filter((r) => r.seq > this.#version);
    if (pending.length === 0) return;
    const bodies = pending.map((record) => JSON.parse(record.body) as ChangeBody);
    const imported = new Map<number, Profile>();
    for (const body of bodies) {
      if (body.kind === 'import' && !imported.has(body.profile_version))
        imported.set(body.profile_version, await this.#importedProfile(db, body.profile_version));
    }
    let released = false;
    for (const [i, record] of pending.entries()) {
      if (record.seq <= this.#version) continue;
      const body = bodies[i]!;
      this.#learnFrom(body);
      const profile = body.kind === 'import' ? imported.get(body.profile_version)! : null;
      applyChange(this.#live, body, record.seq, record, null, profile);
      if (body.kind === 'import') this.#profileVersion = body.profile_version;
      if ('positions' in body && body.positions === 'preserve') released = true;
      this.#version = record.seq;
    }
    // Positions left the book without an order: the books kept here are read again.
    if (released) this.#books.clear();
  }

  /** A record names its user with the id: another instance's new user is known from it. */
  #learnFrom(body: ChangeBody): void {
    if (body.kind === 'import') return;
    const name = body.kind === 'state' ? (body.scope === 'user' ? body.name : null) : body.user;
    if (name !== null && body.user_id !== null) this.#users.add(body.user_id, name);
  }

  /** An imported version, parsed (the file's own parse when it is the same text), its users' ids known. */
  async #importedProfile(db: Queryable, version: number): Promise<Profile> {
    const stored = await db.query<{ text: string | null }>(
      'SELECT CASE WHEN sha256 = $2 THEN NULL ELSE profile END AS text FROM profile_versions WHERE version = $1',
      [version, this.#file.sha256],
    );
    const text = stored.rows[0]?.text;
    if (text === undefined) throw new Error(`profile version ${version} is not stored`);
    const profile = text === null ? this.#file.profile : parseProfile(text, `profile version ${version}`);
    await this.#users.learnNames(
      db,
      profile.map((entry) => entry.user),
    );
    return profile;
  }

  /**
   * A change is a transaction of its own, like an order, on the orders' connections: it takes the live
   * lock exclusively (the orders in flight on every instance end first; the next ones wait for its
   * commit), writes its record and what it changes, and sends its system SELLs; only once it has
   * committed do the users and states in force change here. Every other instance applies the record
   * in the first round trip of its next order.
   */
  change(request: ChangeRequest, actor: Actor): Promise<ChangeResult> {
    return this.#admit(() => this.#change(request, actor));
  }

  async #change(request: ChangeRequest, actor: Actor): Promise<ChangeResult> {
    const client = await this.#connect();
    let broken = false;
    try {
      return await this.#changeTransaction(client, request, actor);
    } catch (error) {
      if (error instanceof ChangeError) throw error;
      if (error instanceof StoreError) {
        broken = error.code === 'STORE_UNAVAILABLE';
        throw error;
      }
      broken = isConnectionFault(error);
      if (broken) this.#markUnhealthy(error);
      if (error instanceof assert.AssertionError) {
        this.#books.clear();
        this.#logger.error({ err: error }, 'change not applied: the book disagreed with the database');
      } else {
        this.#logger.warn(
          { err: { message: describePgError(error) } },
          'change not applied: PostgreSQL failed',
        );
      }
      throw unavailable(`PostgreSQL failed (${describePgError(error)}); ${OUTCOME_TEXT.NOT_APPLIED}`);
    } finally {
      client.release(broken);
    }
  }

  async #changeTransaction(
    client: pg.PoolClient,
    request: ChangeRequest,
    actor: Actor,
  ): Promise<ChangeResult> {
    let committing = false;
    try {
      const results = (await client.query(
        `BEGIN;${takeLiveAndRead(this.#version)}`,
      )) as unknown as pg.QueryResult[];
      await this.#catchUp(client, storedChanges(results[2]!));
      const done = await this.#writeChange(client, request, actor);
      committing = true;
      await client.query('COMMIT');
      return this.#changed(request, actor, done);
    } catch (error) {
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

  /** Everything a change writes, under the live lock; nothing in memory changes until it commits. */
  async #writeChange(client: pg.PoolClient, request: ChangeRequest, actor: Actor): Promise<WrittenChange> {
    if (request.kind === 'square-off' && request.day !== null) {
      const done = await client.query('SELECT 1 FROM square_offs WHERE day = $1', [request.day]);
      if (done.rows.length > 0) throw squaredOff(request.day);
    }
    // Users named for the first time get their ids now, so that the plan finds them (and draws none).
    const newIds = await this.#userIds(client, request);
    const userIdOf = (name: string) => this.#users.idOf.get(name) ?? newIds.get(name);
    const imported = request.kind === 'import' ? request.profile : null;
    const version =
      request.kind === 'import'
        ? await storeProfileVersion(client, request.text, actor.atMs)
        : this.#profileVersion;
    const user = 'user' in request ? request.user : null;
    const userId = user === null ? undefined : userIdOf(user);
    const strategyOf = 'strategy' in request && request.kind !== 'square-off' ? request.strategy : null;
    const heldBefore =
      userId === undefined || request.kind === 'state' || request.kind === 'square-off'
        ? []
        : await heldPositions(client, userId, strategyOf);
    const openBooks =
      request.kind === 'square-off' && (request.user === null || userId !== undefined)
        ? await booksWithPositions(client, request.strategy, userId ?? null)
        : [];
    const plan = planChange(
      request,
      {
        directory: this.#directory,
        userIdOf,
        newUserId: (name) => {
          throw new Error(`user ${JSON.stringify(name)} was to have an id before the change was planned`);
        },
        heldBy: (_userId, strategy) =>
          heldBefore.filter(([s]) => strategy === null || s === strategy).map(([s, i]) => [s, i] as const),
        openBooks: () => openBooks,
      },
      version,
    );
    const stored = await client.query<{ seq: number }>(WRITE_CHANGE, [
      plan.body.kind,
      JSON.stringify(plan.body),
      actor.keyId,
      actor.atMs,
    ]);
    const seq = stored.rows[0]!.seq;
    const effects = effectsOf(plan.body, imported, (name) => userIdOf(name)!);
    await writeEffects(client, seq, actor, effects);
    if (request.kind === 'import') {
      // The first record to bring a version in is the one it names; the schema row says what glance reads.
      await client.query(
        'UPDATE profile_versions SET change_seq = $1 WHERE version = $2 AND change_seq IS NULL',
        [seq, version],
      );
      await client.query('UPDATE ordergate_schema SET current_profile_version = $1 WHERE id = 1', [version]);
    }
    const released = await this.#release(client, plan.body, seq, heldBefore);
    const origin = request.kind === 'square-off' ? 'square-off' : 'close-now';
    const closed: ClosedBook[] = [];
    const closedFor = new Set<string>();
    for (const close of plan.closes) {
      const sold = await this.#systemSell(client, close, actor.atMs, origin, version);
      if (sold === null) continue;
      closed.push(sold.closed);
      if (userId !== undefined && sold.closedUsers.includes(userId))
        closedFor.add(pairKey(close.strategy, close.instrument));
    }
    const gone = new Set([...closedFor, ...released.map((r) => pairKey(r.strategy, r.instrument))]);
    return {
      seq,
      body: plan.body,
      newIds,
      imported,
      version,
      user,
      stillHeld: heldBefore.filter(([s, i]) => !gone.has(pairKey(s, i))),
      closed,
      released,
    };
  }

  /**
   * The ids of the users a change names that this instance does not know: read from the users table, and
   * for a user put (or an import's users) added to it first. Kept aside until the commit: an id that a
   * rollback takes back must not be remembered.
   */
  async #userIds(client: pg.PoolClient, request: ChangeRequest): Promise<Map<string, number>> {
    const named =
      request.kind === 'import'
        ? request.profile.map((entry) => entry.user)
        : request.kind === 'state'
          ? request.scope === 'user' && request.name !== null
            ? [request.name]
            : []
          : request.user === null
            ? []
            : [request.user];
    const unknown = named.filter((name) => !this.#users.idOf.has(name));
    if (unknown.length === 0) return new Map();
    const creates =
      request.kind === 'user-put' || request.kind === 'subscription-put' || request.kind === 'import';
    if (creates) await insertUsers(client, unknown);
    return new Map((await idsOfNames(client, unknown)).map(([userId, name]) => [name, userId]));
  }

  /** positions=preserve: the user's positions (as read under the lock) leave the gate's management. */
  async #release(
    client: pg.PoolClient,
    body: ChangeBody,
    seq: number,
    held: readonly HeldPosition[],
  ): Promise<ReleasedPosition[]> {
    if (body.kind !== 'user-delete' && body.kind !== 'subscription-delete') return [];
    if (body.positions !== 'preserve') return [];
    const strategy = body.kind === 'subscription-delete' ? body.strategy : null;
    const moved = await client.query<{ moved: number }>(RELEASE_POSITIONS, [
      body.user_id,
      strategy,
      seq,
      randomUUID(),
    ]);
    assert.equal(moved.rows[0]!.moved, held.length, 'the positions released are those read under the lock');
    for (const [s, i] of held) this.#books.delete(positionKey(this.#scope, s, i));
    return held.map(([s, instrument, position]) => ({
      strategy: s,
      instrument,
      userId: body.user_id,
      position,
    }));
  }

  /**
   * A SELL the gate sends itself: it locks the book's row, reads who holds it, closes the positions of
   * one user (or everyone's) whatever the states and subscriptions, and is logged like an order, its
   * origin said. Null when nobody holds a position there any more.
   */
  async #systemSell(
    client: pg.PoolClient,
    close: SystemClose,
    atMs: number,
    origin: string,
    version: number,
  ): Promise<{ closed: ClosedBook; closedUsers: UserId[] } | null> {
    const { strategy, instrument } = close;
    await client.query('SELECT 1 FROM books WHERE strategy = $1 AND instrument = $2 FOR UPDATE', [
      bookStrategy(this.#scope, strategy),
      instrument,
    ]);
    const holders = await readHolders(client, this.#scope, strategy, instrument);
    const decision = decideClose(strategy, holders, close.userId);
    if (decision.fills.length === 0) return null;
    await this.#users.learn(client, holders.keys());
    const drawn = await client.query<{ id: number }>("SELECT nextval('order_ids') AS id");
    const orderId = drawn.rows[0]!.id;
    const order = systemSell(strategy, instrument, decision);
    const json = renderAnswer({ orderId, order, receivedAtMs: atMs, origin }, decision, this.#users.nameJson);
    const written = await client.query<{ closed: number }>(WRITE_ORDER, [
      ...writeParameters(order, orderId, atMs, version, decision, json),
      randomUUID(),
      decision.fills.length,
      decision.denials.length,
      origin,
      close.userId,
      ...sizedParameters(order, decision, this.#scope),
    ]);
    assert.equal(
      written.rows[0]?.closed,
      decision.fills.length,
      'every position a system SELL closes was open',
    );
    this.#books.delete(positionKey(this.#scope, strategy, instrument));
    return {
      closed: { orderId, strategy, instrument, positions: decision.fills.length },
      closedUsers: decision.fills.map((fill) => fill.userId),
    };
  }

  /** After the commit: the users and states in force change here (unless a catch-up got there first), and the answer. */
  #changed(request: ChangeRequest, actor: Actor, done: WrittenChange): ChangeResult {
    for (const [name, userId] of done.newIds) this.#users.add(userId, name);
    if (done.seq > this.#version) {
      applyChange(this.#live, done.body, done.seq, actor, null, done.imported);
      this.#version = done.seq;
      if (request.kind === 'import') this.#profileVersion = done.version;
    }
    const left = done.user === null ? [] : leftCloseOnly(this.#directory, done.user, done.stillHeld);
    return {
      seq: done.seq,
      json: renderChange(done.seq, done.body, actor, done.closed, left, done.released),
    };
  }

  async states(): Promise<string> {
    return this.#read(async () => {
      await this.#catchUp(this.#pools.reads);
      return statesJson(this.#states, (userId) => this.#users.names[userId], this.#version, Date.now());
    });
  }

  async squaredOff(day: string): Promise<boolean> {
    return this.#read(async () => {
      const done = await this.#pools.reads.query('SELECT 1 FROM square_offs WHERE day = $1', [day]);
      return done.rows.length > 0;
    });
  }

  async exportProfile(): Promise<string> {
    return this.#read(async () => {
      await this.#catchUp(this.#pools.reads);
      return profileJson(this.#directory);
    });
  }

  async differenceFrom(profile: Profile): Promise<ProfileDifference> {
    return this.#read(async () => {
      await this.#catchUp(this.#pools.reads);
      return profileDifference(profile, this.#directory);
    });
  }

  caseHints(): CaseHints {
    if (this.#caseHints?.version !== this.#directory.version)
      this.#caseHints = {
        version: this.#directory.version,
        hints: new CaseHints([...this.#directory.entries()]),
      };
    return this.#caseHints.hints;
  }

  /** A read that names a user this instance does not know: another instance may have just added them. */
  async #knowing(user: string | undefined): Promise<void> {
    if (user !== undefined && !this.#users.idOf.has(user)) await this.#catchUp(this.#pools.reads);
  }

  async orders(query: OrdersQuery): Promise<JsonPage> {
    return this.#read(async () => {
      await this.#knowing(query.user);
      return this.#reads.orders(query);
    });
  }

  async order(orderId: number): Promise<string | undefined> {
    return this.#read(() => this.#reads.order(orderId));
  }

  async receivedAtOf(clientOrderId: string): Promise<number | undefined> {
    return this.#read(() => this.#reads.receivedAtOf(clientOrderId));
  }

  async positions(query: PositionsQuery): Promise<JsonPage> {
    return this.#read(async () => {
      await this.#knowing(query.user);
      return this.#reads.positions(query);
    });
  }

  async trades(query: TradesQuery): Promise<JsonPage> {
    return this.#read(async () => {
      await this.#knowing(query.user);
      return this.#reads.trades(query);
    });
  }

  async users(query: NamesQuery): Promise<JsonPage> {
    return this.#read(async () => {
      await this.#catchUp(this.#pools.reads);
      return this.#directory.usersPage(query, this.#reads);
    });
  }

  async holdings(name: string): Promise<string | undefined> {
    return this.#read(async () => {
      await this.#catchUp(this.#pools.reads);
      const userId = this.#users.idOf.get(name);
      if (userId === undefined) return undefined;
      const rows = await this.#pools.reads.query({
        text: 'SELECT strategy, instrument, quantity FROM positions WHERE user_id = $1',
        values: [userId],
        rowMode: 'array',
      });
      return holdingsJson(name, rows.rows as [string, string, number][]);
    });
  }

  async user(name: string): Promise<string | undefined> {
    return this.#read(async () => {
      await this.#catchUp(this.#pools.reads);
      const userId = this.#users.idOf.get(name);
      if (userId === undefined) return undefined;
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
    return this.#read(async () => {
      await this.#catchUp(this.#pools.reads);
      return this.#directory.strategiesPage(query);
    });
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

/** Who holds the book, as the database says. */
async function readHolders(
  client: pg.ClientBase,
  scope: PositionScope,
  strategy: string,
  instrument: string,
): Promise<Map<UserId, OpenPosition>> {
  const rows = await client.query(
    scope === 'account'
      ? { text: READ_ACCOUNT_BOOK, values: [instrument], rowMode: 'array' }
      : { text: READ_BOOK, values: [strategy, instrument], rowMode: 'array' },
  );
  const holders = new Map<UserId, OpenPosition>();
  for (const [userId, orderId, openedAtMs, quantity, opener] of rows.rows as [
    number,
    string,
    string,
    string,
    string,
  ][]) {
    holders.set(userId, {
      orderId: Number(orderId),
      openedAtMs: Number(openedAtMs),
      quantity: Number(quantity),
      // One string for the book's own strategy, shared by its positions, not one copy per row.
      strategy: opener === strategy ? strategy : opener,
    });
  }
  return holders;
}

/** The row a book's orders lock: the (strategy, instrument)'s, or in `account` scope the instrument's. */
function bookStrategy(scope: PositionScope, strategy: string): string {
  return scope === 'account' ? '' : strategy;
}

/** A (strategy, instrument) pair as one key, whatever the scope. */
function pairKey(strategy: string, instrument: string): string {
  return `${strategy}\u0000${instrument}`;
}

/** WRITE_ORDER's $20–$24: the quantities, the strategies of the positions closed, the book's row. */
function sizedParameters(order: Order, decision: Decision, scope: PositionScope): unknown[] {
  const openedQuantities: number[] = [];
  const closedQuantities: number[] = [];
  const closedStrategies: string[] = [];
  for (const fill of decision.fills) {
    if (fill.closes === null) openedQuantities.push(fill.quantity);
    else {
      closedQuantities.push(fill.quantity);
      closedStrategies.push(fill.closes.strategy);
    }
  }
  return [
    order.quantity,
    openedQuantities,
    closedQuantities,
    closedStrategies,
    bookStrategy(scope, order.strategy),
  ];
}

/** A position one user holds: strategy, instrument, and the BUY that opened it. */
type HeldPosition = readonly [string, string, OpenPosition];

/** A user's open positions, of one strategy or all, in the order of the book's books (strategy, then instrument). */
async function heldPositions(
  client: pg.ClientBase,
  userId: UserId,
  strategy: string | null,
): Promise<HeldPosition[]> {
  const rows = await client.query({
    text: `SELECT strategy, instrument, order_id, opened_at_ms, quantity FROM positions
           WHERE user_id = $1 AND ($2::text IS NULL OR strategy = $2)`,
    values: [userId, strategy],
    rowMode: 'array',
  });
  return (rows.rows as [string, string, number, number, number][])
    .map(
      ([s, i, orderId, openedAtMs, quantity]): HeldPosition => [
        s,
        i,
        { orderId: Number(orderId), openedAtMs: Number(openedAtMs), quantity: Number(quantity), strategy: s },
      ],
    )
    .sort(byBook);
}

/** The books with open positions, of one strategy or all, held by one user or anyone: what a square-off closes. */
async function booksWithPositions(
  client: pg.ClientBase,
  strategy: string | null,
  userId: UserId | null,
): Promise<(readonly [string, string])[]> {
  const rows = await client.query({
    text: `SELECT DISTINCT strategy, instrument FROM positions
           WHERE ($1::text IS NULL OR strategy = $1) AND ($2::integer IS NULL OR user_id = $2)`,
    values: [strategy, userId],
    rowMode: 'array',
  });
  return (rows.rows as [string, string][]).sort(byBook);
}

/** The order OpenBook.books() lists books in: by strategy, then instrument, as JavaScript compares strings. */
function byBook(
  a: readonly [string, string, ...unknown[]],
  b: readonly [string, string, ...unknown[]],
): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/** What a record changes in the tables of the users and states in force, as the SQLite writer writes it. */
async function writeEffects(
  client: pg.ClientBase,
  seq: number,
  actor: Actor,
  effects: ChangeEffects,
): Promise<void> {
  if (effects.clearAll) await client.query('DELETE FROM subscriptions');
  for (const [userId, strategy] of effects.clear) {
    if (strategy === null) await client.query('DELETE FROM subscriptions WHERE user_id = $1', [userId]);
    else
      await client.query('DELETE FROM subscriptions WHERE user_id = $1 AND strategy = $2', [
        userId,
        strategy,
      ]);
  }
  await addSubscriptions(client, effects.add);
  if (effects.clearAll) await addAllBooks(client);
  else if (effects.add.length > 0) {
    await client.query(ADD_BOOKS, [effects.add.map((row) => row[1]), effects.add.map((row) => row[2])]);
  }
  const { state } = effects;
  // Setting the gate's state ends a square-off's close-only period.
  if (state?.scope === 'gate')
    await client.query("DELETE FROM states WHERE scope = 'square-off' AND target = ''");
  if (state !== null && state.entry === null) {
    await client.query('DELETE FROM states WHERE scope = $1 AND target = $2', [state.scope, state.target]);
  } else if (state !== null && state.entry !== null) {
    const { entry } = state;
    await client.query(SET_STATE, [
      state.scope,
      state.target,
      entry.state,
      entry.reason,
      seq,
      actor.atMs,
      actor.keyId,
      entry.untilMs,
    ]);
  }
  if (effects.squareOffDay !== null) {
    await client.query('INSERT INTO square_offs (day, seq) VALUES ($1, $2)', [effects.squareOffDay, seq]);
  }
}

/** The records of a statement's rows, as changesAfter() returns them. */
function storedChanges(result: pg.QueryResult): StoredChange[] {
  return (
    result.rows as { seq: number; kind: string; body: string; key_id: string | null; at_ms: number }[]
  ).map((row) => ({ seq: row.seq, kind: row.kind, body: row.body, keyId: row.key_id, atMs: row.at_ms }));
}

function squaredOff(day: string): ChangeError {
  return new ChangeError('SQUARED_OFF', `the square-off of ${day} is already in the log`);
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
  /** The records committed since this instance's version, in log order: none, almost always. */
  readonly changes: readonly StoredChange[];
  /** No row for this book: no profile gave it, nobody holds a position in it. */
  readonly bookless: boolean;
  readonly lastOrderId: number;
  readonly lastWrite: string;
  readonly orderId: number;
}

/** A change written and not yet committed: what its answer and the memory need once it is. */
interface WrittenChange {
  readonly seq: number;
  readonly body: ChangeBody;
  /** Users named for the first time, by name: remembered only once committed. */
  readonly newIds: ReadonlyMap<string, number>;
  readonly imported: Profile | null;
  readonly version: number;
  /** The user it concerns, and the positions they still hold after it: what may be left close-only. */
  readonly user: string | null;
  readonly stillHeld: readonly HeldPosition[];
  readonly closed: readonly ClosedBook[];
  readonly released: readonly ReleasedPosition[];
}

/** An order or a change in flight, and how a shutdown that ran out of time answers it. */
interface InFlight {
  readonly reject: (error: Error) => void;
  /** True once it holds a connection: from then on a commit may happen. */
  begun: boolean;
}
