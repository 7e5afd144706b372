// The embedded store. It is the only process on its file (owner.ts holds the file for it), so it
// keeps the open book in memory and decides there, in order; a writer thread commits what was
// decided, many orders to one fsync, and each answer waits for the commit that holds it. A failed
// commit fails every order decided on top of it (503) and the book is rebuilt from the database,
// never left ahead of the disk.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { OpenBook, type PositionScope } from '../../domain/book.js';
import { CaseHints } from '../../domain/case-hints.js';
import type { Order } from '../../domain/order.js';
import { type Profile, parseProfile } from '../../domain/profile.js';
import { type Decision, decide, decideClose, type OpenPosition, systemSell } from '../../domain/rules.js';
import { GateStates } from '../../domain/states.js';
import { renderAnswer } from '../answer.js';
import {
  type Actor,
  applyChange,
  type ChangeBody,
  ChangeError,
  type ChangeRequest,
  type ClosedBook,
  effectsOf,
  type Live,
  leftCloseOnly,
  planChange,
  renderChange,
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
  OUTCOME_TEXT,
  type Outcome,
  overloaded,
  type PlacedOrder,
  type Readiness,
  type Store,
  StoreError,
  sameOrder,
} from '../store.js';
import { openConnection } from './connection.js';
import { databaseIdOf, fixPositionScope, migrate } from './migrations.js';
import { type OwnerLock, takeOwnership } from './owner.js';
import {
  changesAfter,
  latestProfileVersion,
  loadStates,
  loadUsers,
  seedProfile,
  sha256Of,
  type Users,
} from './profile-sync.js';
import { SqliteKeys } from './sqlite-keys.js';
import { SqliteReads } from './sqlite-reads.js';
import {
  CHECKPOINTER_THREAD_NAME,
  type ChangeWrite,
  type FromWriter,
  type LogWrite,
  type OrderWrite,
  type ToWriter,
  WAL_BYTES_MAX,
  WRITER_THREAD_NAME,
} from './writer-protocol.js';

/**
 * Decided orders are posted to the writer in groups of at most this many, or at the next turn. With
 * wrk at 64 connections, 32 gave ~10% more orders/s than 8 (fewer, larger commits); a lone order still
 * goes at the next turn of the event loop.
 */
const POST_ORDERS_MAX = 32;
const WRITER_RETRY_DELAY_MS = 1000;
/**
 * The answer text that orders decided but not yet committed may hold in all: a fan-out answer is about
 * 110 bytes a user (5 MB at 44,700 users), so a count of orders alone would not bound the memory of a
 * stalled writer. Past it an order gets 503 OVERLOADED, as past ORDERS_IN_FLIGHT_MAX.
 */
export const ANSWER_BYTES_IN_FLIGHT_MAX = 256 * 1024 * 1024;
/**
 * The writer is taken for stuck when the oldest batch in flight has waited this long for its commit
 * (a commit takes milliseconds; a fan-out to 100,000 users a fraction of a second): its orders are
 * answered 503 with an unknown outcome and the thread is restarted once it has stopped.
 */
export const WRITER_ANSWER_MS_MAX = 10_000;
const WRITER_WATCH_INTERVAL_MS = 1000;
/** A checkpointer that stopped is started again after this long: its own interval, so none is missed. */
const CHECKPOINTER_RESTART_DELAY_MS = 250;
/** While a checkpointer cannot be started, it is tried again this often. */
const CHECKPOINTER_RETRY_DELAY_MS = 1000;

/** After a failed fsync the commit's frames may sit in the WAL until recovery erases them. */
const FSYNC_FAILED =
  'the order is not applied now, but if the server crashes before it recovers the commit may reappear: ' +
  'retry with the same client_order_id (or Idempotency-Key) to learn the outcome safely';

export interface SqliteStoreOptions {
  readonly path: string;
  readonly profile: Profile;
  /** The profile file's text: seeds a new database; on another, applied only when importProfile is set. */
  readonly profileText: string;
  /** Apply the profile file at start as an import (a record of the log) when it differs from the users in force. */
  readonly importProfile?: boolean;
  readonly logger: Logger;
  /** Orders decided but not yet answered, at most: past it an order gets 503 OVERLOADED at once. */
  readonly ordersInFlightMax: number;
  /** The scope a new database is made with; an existing one must have been made with it. */
  readonly positionScope: PositionScope;
}

/** An order, or a change with the system SELLs it sends, waiting for the commit that holds it. */
interface Pending {
  readonly writes: readonly LogWrite[];
  readonly clientOrderId: string | null;
  readonly answerBytes: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

type State = 'starting' | 'ready' | 'recovering' | 'closing' | 'closed';

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  mkdirSync(dirname(options.path), { recursive: true });
  // Before the first write of any kind (WAL mode, migrations): a second server is refused untouched.
  const owner = takeOwnership(options.path, 'serve');
  let db: Database.Database;
  try {
    db = openConnection(options.path);
  } catch (error) {
    owner.release();
    throw error;
  }
  try {
    const schema = migrate(db, options.path);
    if (schema.from !== schema.to) options.logger.info({ schema }, 'database schema migrated');
    const scope = fixPositionScope(db, options.path, options.positionScope);
    const version = seedProfile(db, options.profile, options.profileText, Date.now());
    if (version !== null) {
      options.logger.info({ users: options.profile.length, version }, 'new database seeded with the profile');
    }
    const store = new SqliteStore(db, owner, options, scope);
    await store.start();
    await store.reconcileProfile(options);
    return store;
  } catch (error) {
    db.close();
    owner.release();
    throw error;
  }
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly databaseId: string;
  /** Read on the main thread's connection; last uses are written by the writer thread. */
  readonly keys: SqliteKeys;
  #db: Database.Database;
  /** Held from before the first write until the database is closed: no second process on the file. */
  readonly #owner: OwnerLock;
  readonly #path: string;
  readonly #logger: Logger;
  #reads: SqliteReads;
  readonly #book: OpenBook;
  #users: Users;
  #nextUserId = 1;
  #nextProfileVersion = 1;
  readonly #directory: Directory;
  readonly #states = new GateStates();
  readonly #live: Live;
  /** The trading days whose scheduled square-off is in the log (or queued for it). */
  readonly #squaredOffDays = new Set<string>();
  /** The number of the last change record applied: the version of the users and states in force. */
  #version = 0;
  #caseHints: { version: number; hints: CaseHints } | null = null;
  #worker: Worker | null = null;
  /** Checkpoints the WAL on its own connection, off the commit path. */
  #checkpointer: Worker | null = null;
  #checkpointerRunning = false;
  /** Why the checkpointer thread could not be (re)started; the store is not ready while it is set. */
  #checkpointerProblem: string | undefined;
  #writerWatch: NodeJS.Timeout | undefined;
  /** The oldest batch in flight when the writer was last watched, and since when it has been so. */
  #watchedBatch: number | undefined;
  #watchedSinceMs = 0;
  #watchedAtMs = 0;
  /** A writer the watch terminated, and why: what its exit reports. */
  #stuckWriter: { readonly worker: Worker; readonly why: string } | undefined;
  #state: State = 'starting';
  #stateDetail: string | undefined;
  #nextOrderId = 1;
  #nextBatch = 1;
  #unposted: Pending[] = [];
  readonly #inFlight = new Map<number, Pending[]>();
  readonly #ordersInFlightMax: number;
  /** The orders in #unposted and #inFlight, and the bytes of their answers. */
  #ordersInFlight = 0;
  #answerBytesInFlight = 0;
  #flushScheduled = false;
  /** Orders with a client_order_id that are decided but not yet committed, for retries that race them. */
  readonly #uncommittedByClientId = new Map<string, { order: Order; promise: Promise<PlacedOrder> }>();
  #drained: (() => void) | null = null;
  #closed: Promise<void> | null = null;
  #writerClosed: (() => void) | null = null;
  /** Key writes (last uses, changes through the API) the writer has not answered yet, by number. */
  #nextKeyWrite = 1;
  readonly #keyWrites = new Map<
    number,
    { resolve: (changed: boolean) => void; reject: (error: Error) => void }
  >();

  constructor(
    db: Database.Database,
    owner: OwnerLock,
    options: SqliteStoreOptions,
    readonly positionScope: PositionScope,
  ) {
    this.#book = new OpenBook(positionScope);
    this.#db = db;
    this.#owner = owner;
    this.#path = options.path;
    this.#logger = options.logger;
    this.#ordersInFlightMax = options.ordersInFlightMax;
    this.#reads = new SqliteReads(db);
    this.databaseId = databaseIdOf(db);
    this.keys = new SqliteKeys(db, {
      recordLastUse: async (keyId, atMs) =>
        void (await this.#keyWrite((seq) => ({ type: 'last-use', seq, keyId, atMs }))),
      change: (change) => this.#keyWrite((seq) => ({ type: 'key-change', seq, change })),
    });
    this.#users = loadUsers(db);
    this.#directory = new Directory([], (user) => this.#users.idOf.get(user));
    this.#live = { directory: this.#directory, states: this.#states };
    this.#loadLive(options.profile, options.profileText);
  }

  /**
   * The users and states in force: the latest profile version (the file's own parse when it is the
   * same text), then every record since, as the replay applies them; the states from their table.
   */
  #loadLive(fileProfile: Profile | null, fileText: string | null): void {
    const latest = latestProfileVersion(this.#db)!;
    const sameText = fileText !== null && sha256Of(fileText) === latest.sha256;
    const base =
      sameText && fileProfile !== null
        ? fileProfile
        : parseProfile(latest.read(), `profile version ${latest.version}`);
    this.#directory.replaceAll(base);
    const scratch: Live = { directory: this.#directory, states: new GateStates() };
    const users = ['user-put', 'user-delete', 'subscription-put', 'subscription-delete'];
    for (const change of changesAfter(this.#db, latest.appliesAfter, users)) {
      applyChange(scratch, JSON.parse(change.body) as ChangeBody, change.seq, change, null);
    }
    loadStates(this.#db, this.#states);
    this.#squaredOffDays.clear();
    for (const day of this.#db.prepare('SELECT day FROM square_offs').pluck().all() as string[])
      this.#squaredOffDays.add(day);
    const lastChange = this.#db.prepare('SELECT max(seq) FROM changes').pluck().get() as number | null;
    this.#version = lastChange ?? 0;
    const lastUser = this.#db.prepare('SELECT max(user_id) FROM users').pluck().get() as number | null;
    this.#nextUserId = (lastUser ?? 0) + 1;
    const lastVersion = this.#db.prepare('SELECT max(version) FROM profile_versions').pluck().get() as number;
    this.#nextProfileVersion = lastVersion + 1;
  }

  /**
   * The database is the source of truth: a profile file that differs from the users in force is
   * reported, and applied (as an import, a record of the log) only when asked.
   */
  async reconcileProfile(options: SqliteStoreOptions): Promise<void> {
    const latest = latestProfileVersion(this.#db)!;
    if (sha256Of(options.profileText) === latest.sha256 && this.#version <= latest.appliesAfter) return;
    await reconcileProfile(
      this,
      this.#directory,
      { profile: options.profile, text: options.profileText, importProfile: options.importProfile },
      this.#logger,
    );
  }

  get openPositions(): number {
    return this.#book.size;
  }

  async start(): Promise<void> {
    // The writer thread boots (loads its modules, opens the file) while this thread reads the book.
    const writer = this.#spawnWriter();
    try {
      this.#reloadBook();
    } catch (error) {
      void writer.then(
        () => this.#worker?.terminate(),
        () => {},
      );
      throw error;
    }
    await writer;
    this.#startCheckpointer(false);
    this.#writerWatch = setInterval(() => this.#watchWriter(), WRITER_WATCH_INTERVAL_MS).unref();
    this.#state = 'ready';
    // A warning, not a condition of readiness: it reads the whole book, so it runs after the start.
    setImmediate(() => this.#warnOfCloseOnlyPositions());
  }

  /** Positions the profile in force no longer gives: kept, and closable, but worth knowing about. */
  #warnOfCloseOnlyPositions(): void {
    const left = new LeftPositions((user) => this.#directory.entry(user) !== undefined);
    for (const { strategy, instrument, userId } of this.#book.positions()) {
      if (this.#directory.subscriptions.get(strategy)?.get(userId)?.instruments.has(instrument) === true)
        continue;
      left.add(this.#users.names[userId]!, 1, `${strategy} ${instrument}`);
    }
    left.warn(this.#logger);
  }

  readiness(): Readiness {
    // Orders are still taken (the writer alone keeps the WAL bounded), but a balancer should look elsewhere.
    const degraded = this.#state === 'ready' && this.#checkpointerProblem !== undefined;
    const detail = degraded ? this.#checkpointerProblem : this.#stateDetail;
    return {
      ready: this.#state === 'ready' && !degraded,
      state: degraded ? 'degraded' : this.#state,
      ...(detail && { detail }),
      ordersInFlight: this.#ordersInFlight,
      ordersInFlightMax: this.#ordersInFlightMax,
    };
  }

  place(order: Order, receivedAtMs: number): Promise<PlacedOrder> {
    if (this.#state !== 'ready') return Promise.reject(this.#unavailable());
    if (order.clientOrderId !== null) {
      const earlier = this.#earlierAnswer(order, order.clientOrderId);
      if (earlier !== undefined) return earlier;
    }
    if (this.#ordersInFlight >= this.#ordersInFlightMax)
      return Promise.reject(overloaded(this.#ordersInFlight));
    if (this.#answerBytesInFlight >= ANSWER_BYTES_IN_FLIGHT_MAX) {
      const mib = Math.round(this.#answerBytesInFlight / 1024 / 1024);
      return Promise.reject(
        overloaded(this.#ordersInFlight, `orders holding ${mib} MiB of answers are in flight`),
      );
    }
    const subscribers = this.#directory.subscriptions.get(order.strategy);
    const holders = this.#book.holdersOf(order.strategy, order.instrument);
    const states = this.#states.forOrder(order.strategy, order.side, receivedAtMs);
    const decision = decide(order, subscribers, holders, states);
    const orderId = this.#nextOrderId++;
    const json = renderAnswer({ orderId, order, receivedAtMs }, decision, this.#users.nameJson);
    const write = toWrite(order, orderId, receivedAtMs, decision, json, null, null);
    this.#book.apply(order.strategy, order.instrument, decision, orderId, receivedAtMs);
    const placed: PlacedOrder = {
      orderId,
      status: decision.status,
      reason: decision.reason,
      json,
      fills: decision.fills.length,
      denials: decision.denials.length,
      replayed: false,
    };
    const promise = new Promise<PlacedOrder>((resolve, reject) => {
      this.#unposted.push({
        writes: [write],
        clientOrderId: order.clientOrderId,
        answerBytes: json.length,
        resolve: () => resolve(placed),
        reject,
      });
    });
    this.#ordersInFlight++;
    this.#answerBytesInFlight += json.length;
    if (order.clientOrderId !== null)
      this.#uncommittedByClientId.set(order.clientOrderId, { order, promise });
    this.#schedulePost();
    return promise;
  }

  /** A retry of an order placed before: its original answer, or a conflict if the order differs. */
  #earlierAnswer(order: Order, clientOrderId: string): Promise<PlacedOrder> | undefined {
    const uncommitted = this.#uncommittedByClientId.get(clientOrderId);
    if (uncommitted !== undefined) {
      if (!sameOrder(uncommitted.order, order)) return Promise.reject(conflict(clientOrderId));
      return uncommitted.promise.then((placed) => ({ ...placed, replayed: true }));
    }
    const row = this.#reads.orderByClientId(clientOrderId);
    if (row === undefined) return undefined;
    if (!sameOrder(row, order)) return Promise.reject(conflict(clientOrderId));
    return Promise.resolve({
      orderId: row.order_id,
      status: row.status,
      reason: row.reason,
      json: row.answer,
      fills: 0,
      denials: 0,
      replayed: true,
    });
  }

  #schedulePost(): void {
    if (this.#unposted.length >= POST_ORDERS_MAX) return this.#post();
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#post();
    });
  }

  #post(): void {
    if (this.#unposted.length === 0 || this.#worker === null) return;
    const batch = this.#nextBatch++;
    const entries = this.#unposted;
    this.#unposted = [];
    this.#inFlight.set(batch, entries);
    this.#send({
      type: 'batch',
      batch,
      orders: entries.length === 1 ? entries[0]!.writes : entries.flatMap((entry) => entry.writes),
    });
  }

  #send(message: ToWriter): void {
    this.#worker?.postMessage(message);
  }

  #onWriterMessage(message: FromWriter): void {
    switch (message.type) {
      case 'committed':
        for (const batch of message.batches) this.#settle(batch);
        if (this.#inFlight.size === 0 && this.#unposted.length === 0) this.#drained?.();
        return;
      case 'failed':
        if (message.batches.some((batch) => this.#inFlight.has(batch))) {
          const detail = `the database could not commit (${message.code}: ${message.message})`;
          if (message.certain) this.#fail(detail);
          else this.#fail(detail, 'UNKNOWN', FSYNC_FAILED);
        }
        return;
      case 'reset-done':
        this.#recovered();
        return;
      case 'reset-failed':
        this.#stateDetail = `waiting for the database (${message.message}); retrying every second`;
        setTimeout(() => this.#send({ type: 'reset' }), WRITER_RETRY_DELAY_MS).unref();
        return;
      case 'last-use-done':
        this.#keyWriteDone(message.seq, true, message.error);
        return;
      case 'key-change-done':
        this.#keyWriteDone(message.seq, message.changed, message.error);
        return;
      case 'wal-held':
        this.#logger.warn(
          { walBytes: message.bytes },
          `the write-ahead log is ${mib(message.bytes)}, over WAL_BYTES_MAX (${mib(WAL_BYTES_MAX)}), and cannot ` +
            'be reset while a reader holds an old snapshot (ordergate check or backup?); it is reset once that reader ends',
        );
        return;
      case 'closed':
        this.#writerClosed?.();
        return;
      case 'ready':
        return;
    }
  }

  /** Hands a key write to the writer thread; settles when it is committed, or could not be. */
  #keyWrite(message: (seq: number) => ToWriter): Promise<boolean> {
    if (this.#worker === null || this.#state === 'closed')
      return Promise.reject(new Error('the writer thread is not running'));
    const seq = this.#nextKeyWrite++;
    const done = new Promise<boolean>((resolve, reject) => this.#keyWrites.set(seq, { resolve, reject }));
    this.#send(message(seq));
    return done;
  }

  #keyWriteDone(seq: number, changed: boolean, error: string | undefined): void {
    const pending = this.#keyWrites.get(seq);
    this.#keyWrites.delete(seq);
    if (error === undefined) pending?.resolve(changed);
    else pending?.reject(new Error(error));
  }

  #settle(batch: number): void {
    const entries = this.#inFlight.get(batch);
    if (entries === undefined) return;
    this.#inFlight.delete(batch);
    for (const entry of entries) {
      const clientOrderId = entry.clientOrderId;
      if (clientOrderId !== null) this.#uncommittedByClientId.delete(clientOrderId);
      this.#ordersInFlight--;
      this.#answerBytesInFlight -= entry.answerBytes;
      entry.resolve();
    }
  }

  /** Fails every order not yet committed, then rebuilds the book from what the database holds. */
  #fail(detail: string, outcome: Outcome = 'NOT_APPLIED', why = OUTCOME_TEXT[outcome]): void {
    if (this.#state === 'closed') return;
    const closing = this.#state === 'closing';
    this.#logger.error(
      { detail },
      `store fault: failing every uncommitted order${closing ? ' (closing, so not recovering)' : ' and rebuilding the book'}`,
    );
    this.#state = closing ? 'closing' : 'recovering';
    this.#stateDetail = detail;
    const error = new StoreError('STORE_UNAVAILABLE', `${detail}; ${why}`, outcome);
    this.#rejectAll(error, error);
    // A store that is closing does not recover: the writer would only wait out the fault before closing.
    if (this.#worker !== null && !closing) this.#send({ type: 'reset' });
  }

  /** Every order not yet answered gets its 503: the posted ones with `posted`, the others with `unposted`. */
  #rejectAll(posted: StoreError, unposted: StoreError): void {
    for (const entries of this.#inFlight.values()) for (const entry of entries) entry.reject(posted);
    for (const entry of this.#unposted) entry.reject(unposted);
    this.#inFlight.clear();
    this.#unposted = [];
    this.#ordersInFlight = 0;
    this.#answerBytesInFlight = 0;
    this.#uncommittedByClientId.clear();
    this.#drained?.();
  }

  abandon(reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closing';
    this.#stateDetail = reason;
    // A batch the writer has may still commit after this answer: its outcome is unknown.
    this.#rejectAll(
      new StoreError('STORE_UNAVAILABLE', `${reason}; ${OUTCOME_TEXT.UNKNOWN}`, 'UNKNOWN'),
      new StoreError('STORE_UNAVAILABLE', `${reason}; ${OUTCOME_TEXT.NOT_APPLIED}`),
    );
  }

  #recovered(): void {
    // A late reset-done (a reset queued before a respawn recovered the store) must not rebuild the
    // book under orders in flight.
    if (this.#state !== 'recovering') return;
    try {
      this.#reopenReader();
      this.#reloadBook();
      // Users named by a change that did not commit are forgotten with it: their ids are drawn again.
      this.#users = loadUsers(this.#db);
      this.#loadLive(null, null);
    } catch (error) {
      this.#stateDetail = `reloading the book failed: ${(error as Error).message}; retrying`;
      setTimeout(() => this.#send({ type: 'reset' }), WRITER_RETRY_DELAY_MS).unref();
      return;
    }
    this.#state = 'ready';
    this.#stateDetail = undefined;
    this.#logger.warn({ openPositions: this.#book.size, nextOrderId: this.#nextOrderId }, 'store recovered');
  }

  /** The main thread's connection too may point at a file that was replaced: read the one on disk now. */
  #reopenReader(): void {
    const db = openConnection(this.#path, { mustExist: true });
    this.#db.close();
    this.#db = db;
    this.#reads = new SqliteReads(db);
    this.keys.useConnection(db);
  }

  #reloadBook(): void {
    this.#book.clear();
    const books = this.#db.prepare('SELECT DISTINCT strategy, instrument FROM positions').raw().all() as [
      string,
      string,
    ][];
    const holders = this.#db
      .prepare(
        'SELECT user_id, order_id, opened_at_ms, quantity FROM positions WHERE strategy = ? AND instrument = ?',
      )
      .raw();
    for (const [strategy, instrument] of books) {
      const rows = holders.all(strategy, instrument) as [number, number, number, number][];
      this.#book.load(strategy, instrument, rows);
    }
    // Orders and the other records of the log are numbered from one sequence.
    const last = this.#db
      .prepare(
        'SELECT max(coalesce((SELECT max(order_id) FROM orders), 0), coalesce((SELECT max(seq) FROM changes), 0))',
      )
      .pluck()
      .get() as number | null;
    this.#nextOrderId = (last ?? 0) + 1;
  }

  #spawnWriter(): Promise<void> {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./writer-worker.js', import.meta.url), {
        name: WRITER_THREAD_NAME,
        workerData: { path: this.#path },
      });
    } catch (error) {
      // No thread can be made now (ERR_WORKER_INIT_FAILED: the process or user is out of threads).
      return Promise.reject(error);
    }
    let lastError: Error | undefined;
    return new Promise((resolve, reject) => {
      worker.once('message', (message: FromWriter) => {
        if (message.type !== 'ready')
          return reject(new Error(`writer: unexpected first message ${message.type}`));
        if (this.#state === 'closing' || this.#state === 'closed') {
          void worker.terminate();
          return reject(new Error('the store closed while the writer was starting'));
        }
        this.#worker = worker;
        worker.on('message', (next: FromWriter) => this.#onWriterMessage(next));
        resolve();
      });
      worker.on('error', (error) => {
        lastError = error;
        if (this.#worker !== worker) return reject(error);
        this.#logger.error({ err: error }, 'writer thread failed');
      });
      worker.on('exit', (code) => {
        const stuck = this.#stuckWriter?.worker === worker ? this.#stuckWriter.why : undefined;
        const why = stuck ?? threadEnd(code, lastError);
        reject(new Error(`the writer thread stopped while starting (${why})`));
        this.#onWriterExit(worker, why);
      });
    });
  }

  #onWriterExit(worker: Worker, why: string): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    for (const pending of this.#keyWrites.values())
      pending.reject(new Error(`the writer thread stopped (${why})`));
    this.#keyWrites.clear();
    const closing = this.#state === 'closing' || this.#state === 'closed';
    if (!closing || this.#inFlight.size > 0 || this.#unposted.length > 0) {
      // It may have died after a commit and before saying so: the outcome of what was in flight is unknown.
      this.#fail(`the writer thread stopped (${why})`, 'UNKNOWN');
    }
    this.#writerClosed?.();
    if (closing) return;
    this.#logger.error(`writer thread stopped (${why}); restarting it in ${WRITER_RETRY_DELAY_MS} ms`);
    const respawn = (): void => {
      if (this.#state === 'closing' || this.#state === 'closed') return;
      this.#spawnWriter().then(
        () => this.#recovered(),
        (error: Error) => {
          this.#stateDetail = `the writer thread could not be restarted (${error.message}); retrying every second`;
          this.#logger.error(this.#stateDetail);
          setTimeout(respawn, WRITER_RETRY_DELAY_MS).unref();
        },
      );
    };
    setTimeout(respawn, WRITER_RETRY_DELAY_MS).unref();
  }

  /**
   * A writer alive but silent (stuck on the disk, or in a loop) holds its orders forever: once the oldest
   * batch in flight has waited WRITER_ANSWER_MS_MAX, they fail with an unknown outcome, the store turns
   * not-ready and the thread is terminated. It exits only once it is out of any call into SQLite, so no
   * second writer ever runs beside it; #onWriterExit then starts a new one and the book is rebuilt.
   */
  #watchWriter(): void {
    if (this.#state === 'closed') return clearInterval(this.#writerWatch);
    const now = performance.now();
    const oldest = this.#inFlight.keys().next().value as number | undefined;
    // A main thread that was itself blocked has not read the writer's answers yet: start again.
    const blocked = now - this.#watchedAtMs > 2 * WRITER_WATCH_INTERVAL_MS;
    this.#watchedAtMs = now;
    if (oldest !== this.#watchedBatch || blocked) {
      this.#watchedBatch = oldest;
      this.#watchedSinceMs = now;
      return;
    }
    const waitedMs = now - this.#watchedSinceMs;
    if (oldest === undefined || this.#state !== 'ready' || waitedMs < WRITER_ANSWER_MS_MAX) return;
    const silence = `not answered for ${Math.round(waitedMs / 1000)} s`;
    if (this.#worker !== null)
      this.#stuckWriter = { worker: this.#worker, why: `terminated: it had ${silence}` };
    void this.#worker?.terminate();
    this.#fail(`the writer thread has ${silence}`, 'UNKNOWN');
  }

  /** Starts the checkpointer thread; if it stops, starts it again, and says so. */
  #startCheckpointer(restart: boolean): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    let worker: Worker;
    try {
      worker = new Worker(new URL('./checkpointer-worker.js', import.meta.url), {
        name: CHECKPOINTER_THREAD_NAME,
        workerData: { path: this.#path },
      });
    } catch (error) {
      return this.#checkpointerFailed(`it could not be started (${(error as Error).message})`);
    }
    this.#checkpointer = worker;
    this.#checkpointerRunning = true;
    let ready = false;
    let lastError: Error | undefined;
    worker.once('message', () => {
      ready = true;
      if (restart) this.#logger.warn('checkpointer thread restarted');
      this.#checkpointerProblem = undefined;
    });
    worker.on('error', (error) => {
      lastError = error;
    });
    worker.once('exit', (code) => {
      if (this.#checkpointer === worker) this.#checkpointerRunning = false;
      if (this.#state === 'closing' || this.#state === 'closed') return;
      const why = threadEnd(code, lastError);
      if (!ready) return this.#checkpointerFailed(`it stopped while starting (${why})`);
      this.#logger.error({ err: lastError }, `checkpointer thread stopped (${why}); restarting it`);
      setTimeout(() => this.#startCheckpointer(true), CHECKPOINTER_RESTART_DELAY_MS).unref();
    });
  }

  /** Without a checkpointer the writer alone still bounds the WAL, copying more at each reset. */
  #checkpointerFailed(why: string): void {
    this.#checkpointerProblem = `the checkpointer thread is not running: ${why}; retrying every second`;
    this.#logger.error(this.#checkpointerProblem);
    setTimeout(() => this.#startCheckpointer(true), CHECKPOINTER_RETRY_DELAY_MS).unref();
  }

  #unavailable(): StoreError {
    const why =
      this.#state === 'closing' || this.#state === 'closed'
        ? 'the server is shutting down'
        : this.#stateDetail;
    return new StoreError('STORE_UNAVAILABLE', `the store is not accepting orders: ${why ?? this.#state}`);
  }

  /**
   * A change is decided on the main thread like an order, between two orders: the users and states
   * change in memory at once, so the next order decides by them, and its record (with any system
   * SELLs) goes to the writer in log order. Like an order, it is answered after its commit; a failed
   * commit fails it and every order decided after it, and the users and states are read again.
   */
  change(request: ChangeRequest, actor: Actor): Promise<ChangeResult> {
    if (this.#state !== 'ready') return Promise.reject(this.#unavailable());
    if (this.#ordersInFlight >= this.#ordersInFlightMax)
      return Promise.reject(overloaded(this.#ordersInFlight));
    if (request.kind === 'square-off' && request.day !== null && this.#squaredOffDays.has(request.day))
      return Promise.reject(squaredOff(request.day));
    let plan: ReturnType<typeof planChange>;
    try {
      plan = planChange(
        request,
        {
          directory: this.#directory,
          userIdOf: (name) => this.#users.idOf.get(name),
          newUserId: () => this.#nextUserId++,
          heldBy: (userId, strategy) => this.#book.books(strategy, userId),
          openBooks: (strategy, userId) => this.#book.books(strategy, userId),
        },
        this.#nextProfileVersion,
      );
    } catch (error) {
      return Promise.reject(error);
    }
    const seq = this.#nextOrderId++;
    for (const { userId, name } of plan.newUsers) this.#users.add(userId, name);
    const imported = request.kind === 'import' ? request.profile : null;
    const user = 'user' in request ? request.user : null;
    const strategyOf = 'strategy' in request && request.kind !== 'square-off' ? request.strategy : null;
    const userId = user === null ? undefined : this.#users.idOf.get(user);
    const heldBefore =
      userId === undefined || request.kind === 'state' || request.kind === 'square-off'
        ? []
        : this.#heldPositions(userId, strategyOf);
    const released = applyChange(this.#live, plan.body, seq, actor, this.#book, imported);
    const writes: LogWrite[] = [];
    const closed: ClosedBook[] = [];
    const origin = request.kind === 'square-off' ? 'square-off' : 'close-now';
    for (const close of plan.closes) {
      const holders = this.#book.holdersOf(close.strategy, close.instrument);
      const decision = decideClose(close.strategy, holders, close.userId);
      if (decision.fills.length === 0) continue;
      const orderId = this.#nextOrderId++;
      const order = systemSell(close.strategy, close.instrument, decision);
      const head = { orderId, order, receivedAtMs: actor.atMs, origin };
      const json = renderAnswer(head, decision, this.#users.nameJson);
      writes.push(toWrite(order, orderId, actor.atMs, decision, json, origin, close.userId));
      this.#book.apply(close.strategy, close.instrument, decision, orderId, actor.atMs);
      closed.push({
        orderId,
        strategy: close.strategy,
        instrument: close.instrument,
        positions: decision.fills.length,
      });
    }
    const change: ChangeWrite = {
      type: 'change',
      seq,
      kind: plan.body.kind,
      body: JSON.stringify(plan.body),
      keyId: actor.keyId,
      atMs: actor.atMs,
      users: plan.newUsers.map(({ userId: id, name }) => [id, name] as const),
      effects: effectsOf(plan.body, imported, (name) => this.#users.idOf.get(name)!),
      released: released.map((r) => [r.strategy, r.instrument, r.userId] as const),
      profile:
        request.kind === 'import'
          ? { version: this.#nextProfileVersion++, sha256: sha256Of(request.text), text: request.text }
          : null,
    };
    writes.unshift(change);
    if (request.kind === 'square-off' && request.day !== null) this.#squaredOffDays.add(request.day);
    this.#version = seq;
    const stillHeld =
      user === null
        ? []
        : heldBefore.filter(([s, i]) => this.#book.holdersOf(s, i)?.get(userId!)?.strategy === s);
    const left = user === null ? [] : leftCloseOnly(this.#directory, user, stillHeld);
    const json = renderChange(seq, plan.body, actor, closed, left, released);
    const promise = new Promise<ChangeResult>((resolve, reject) => {
      this.#unposted.push({
        writes,
        clientOrderId: null,
        answerBytes: json.length,
        resolve: () => resolve({ seq, json }),
        reject,
      });
    });
    this.#ordersInFlight++;
    this.#answerBytesInFlight += json.length;
    this.#post();
    return promise;
  }

  /** A user's open positions, of one strategy or all, from the book in memory. */
  #heldPositions(userId: number, strategy: string | null): [string, string, OpenPosition][] {
    return this.#book
      .books(strategy, userId)
      .map(([s, i]) => [s, i, this.#book.holdersOf(s, i)!.get(userId)!]);
  }

  async states(): Promise<string> {
    return statesJson(this.#states, (userId) => this.#users.names[userId], this.#version, Date.now());
  }

  async squaredOff(day: string): Promise<boolean> {
    return this.#squaredOffDays.has(day);
  }

  async exportProfile(): Promise<string> {
    return profileJson(this.#directory);
  }

  async differenceFrom(profile: Profile): Promise<ProfileDifference> {
    return profileDifference(profile, this.#directory);
  }

  caseHints(): CaseHints {
    if (this.#caseHints?.version !== this.#directory.version)
      this.#caseHints = {
        version: this.#directory.version,
        hints: new CaseHints([...this.#directory.entries()]),
      };
    return this.#caseHints.hints;
  }

  async orders(query: OrdersQuery): Promise<JsonPage> {
    return this.#reads.orders(query, this.#userId(query.user));
  }

  async order(orderId: number): Promise<string | undefined> {
    return this.#reads.order(orderId);
  }

  async receivedAtOf(clientOrderId: string): Promise<number | undefined> {
    return this.#reads.receivedAtOf(clientOrderId);
  }

  async positions(query: PositionsQuery): Promise<JsonPage> {
    return this.#reads.positions(query, this.#userId(query.user));
  }

  async trades(query: TradesQuery): Promise<JsonPage> {
    return this.#reads.trades(query, this.#userId(query.user));
  }

  async users(query: NamesQuery): Promise<JsonPage> {
    return this.#directory.usersPage(query, {
      openPositionsOf: async (userIds) => this.#reads.openPositionsOf(userIds),
    });
  }

  async holdings(name: string): Promise<string | undefined> {
    const userId = this.#users.idOf.get(name);
    if (userId === undefined) return undefined;
    return holdingsJson(name, this.#reads.heldBy(userId));
  }

  async user(name: string): Promise<string | undefined> {
    const userId = this.#users.idOf.get(name);
    if (userId === undefined) return undefined;
    const open = this.#reads.openPositionsOf([userId]).get(userId) ?? 0;
    const positions = this.#reads.positions(
      { user: name, after: null, limit: USER_POSITIONS_SHOWN_MAX },
      userId,
    );
    return userDetailJson(name, this.#directory.entry(name), open, positions);
  }

  async strategies(query: NamesQuery): Promise<JsonPage> {
    return this.#directory.strategiesPage(query);
  }

  #userId(user: string | undefined): number | undefined {
    return user === undefined ? undefined : this.#users.idOf.get(user);
  }

  /** Stops taking orders, commits and answers what was decided, then closes the database. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#state = 'closing';
    this.#post();
    if (this.#inFlight.size > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    if (this.#worker !== null) {
      const closed = new Promise<void>((resolve) => (this.#writerClosed = resolve));
      this.#send({ type: 'close' });
      await closed;
    }
    if (this.#checkpointer !== null && this.#checkpointerRunning) {
      const stopped = new Promise((resolve) => this.#checkpointer!.once('exit', resolve));
      this.#checkpointer.postMessage('close');
      await stopped;
    }
    this.#state = 'closed';
    // The last connection to close checkpoints the whole WAL and removes it; only then may another
    // process own the file.
    this.#db.close();
    this.#owner.release();
  }
}

function toWrite(
  order: Order,
  orderId: number,
  receivedAtMs: number,
  decision: Decision,
  answer: string,
  origin: string | null,
  forUserId: number | null,
): OrderWrite {
  const opened: number[] = [];
  const closed: number[] = [];
  const openedQuantities = new Quantities();
  const closedQuantities = new Quantities();
  let closedStrategies: string[] | null = null;
  for (const fill of decision.fills) {
    if (fill.closes === null) {
      opened.push(fill.userId);
      openedQuantities.add(fill.quantity, opened.length);
    } else {
      if (fill.closes.strategy !== order.strategy && closedStrategies === null)
        closedStrategies = Array.from({ length: closed.length / 3 }, () => order.strategy);
      closed.push(fill.userId, fill.closes.orderId, fill.closes.openedAtMs);
      closedQuantities.add(fill.quantity, closed.length / 3);
      closedStrategies?.push(fill.closes.strategy);
    }
  }
  assert.ok(orderId > 0);
  return {
    orderId,
    clientOrderId: order.clientOrderId,
    strategy: order.strategy,
    instrument: order.instrument,
    side: order.side,
    quantity: order.quantity,
    status: decision.status,
    reason: decision.reason,
    receivedAtMs,
    answer,
    fills: decision.fills.length,
    denials: decision.denials.length,
    opened,
    openedQuantities: openedQuantities.written(),
    closed,
    closedQuantities: closedQuantities.written(),
    closedStrategies,
    origin,
    forUserId,
  };
}

/**
 * The quantities of an order's positions as the writer takes them: one number while they are all the
 * same (a fan-out at one multiplier, the usual case), a list from the first that differs.
 */
class Quantities {
  #first = 0;
  #list: number[] | null = null;

  /** The quantity of the count-th position. */
  add(quantity: number, count: number): void {
    if (count === 1) this.#first = quantity;
    else if (this.#list !== null) this.#list.push(quantity);
    else if (quantity !== this.#first) {
      this.#list = Array.from({ length: count - 1 }, () => this.#first);
      this.#list.push(quantity);
    }
  }

  written(): number | readonly number[] {
    return this.#list ?? this.#first;
  }
}

/** How a worker thread ended, for the log and /health: its uncaught error if it had one. */
function threadEnd(code: number, error: Error | undefined): string {
  return error === undefined ? `exit code ${code}` : `${error.message}, exit code ${code}`;
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}

function squaredOff(day: string): Error {
  return new ChangeError('SQUARED_OFF', `the square-off of ${day} is already in the log`);
}

function conflict(clientOrderId: string): StoreError {
  return new StoreError(
    'IDEMPOTENCY_CONFLICT',
    `client_order_id ${JSON.stringify(clientOrderId)} was already used for a different order (strategy, instrument or position differ)`,
  );
}
