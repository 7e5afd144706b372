// `ordergate check` for the PostgreSQL store: the replay invariant over the shared log. Replaying
// every order and every other record (changes.ts) in sequence order from an empty book, each order
// with the users and states in force before it, must reproduce every logged answer, exactly the open
// positions, every trade and every position released. Runs in one REPEATABLE READ snapshot, so it can
// run beside live instances.
//
// The users in force: the version each order names, for a log written before the records (instances
// that synced their own profile file at start); from the first record on, the version in force when
// the records began (marked change_seq 0), then what the records do to it, imports included.

import type pg from 'pg';
import type { PositionScope } from '../../domain/book.js';
import {
  comparePositions,
  compareReleased,
  type LoggedOrderRow,
  LogReplay,
  mismatchCollector,
  type ReplayedClose,
  type StoredPosition,
  type StoredRelease,
} from '../replay.js';
import type { CheckReport } from '../sqlite/check.js';
import { createPool, type PoolLogger } from './connection.js';
import { PG_SCHEMA_VERSION } from './migrations.js';
import { changesAfter, PgUsers, type StoredChange } from './profile-sync.js';

const PAGE_ROWS = 5000;
const MISMATCHES_SHOWN_MAX = 20;

export async function checkPostgres(
  url: string,
  logger: PoolLogger,
  onProgress: (orders: number) => void = () => {},
): Promise<CheckReport> {
  const pool = createPool({ url, poolMax: 1, logger, applicationName: 'ordergate check' });
  const client = await pool.connect();
  try {
    const schemaVersion = await readSchemaVersion(client);
    const base = { integrity: 'not checked (PostgreSQL checks its own pages)', schemaVersion };
    const empty = {
      orders: 0,
      changes: 0,
      profileVersions: 0,
      fills: 0,
      denials: 0,
      openPositions: 0,
      trades: 0,
    };
    if (schemaVersion !== PG_SCHEMA_VERSION) {
      const problem = `schema version ${schemaVersion}, this ordergate knows ${PG_SCHEMA_VERSION}: start the matching ordergate once to migrate it`;
      return { ...base, ...empty, mismatches: 1, problems: [problem] };
    }
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return { ...base, ...(await replayAll(client, onProgress)) };
    } finally {
      await client.query('COMMIT');
    }
  } finally {
    client.release();
    await pool.end();
  }
}

async function readSchemaVersion(client: pg.ClientBase): Promise<number> {
  const exists = await client.query("SELECT to_regclass('ordergate_schema') IS NOT NULL AS exists");
  if (exists.rows[0].exists !== true) return 0;
  const row = await client.query<{ version: number }>('SELECT version FROM ordergate_schema WHERE id = 1');
  return row.rows[0]?.version ?? 0;
}

async function replayAll(client: pg.ClientBase, onProgress: (orders: number) => void) {
  const collector = mismatchCollector(MISMATCHES_SHOWN_MAX);
  const { problem } = collector;
  const users = new PgUsers();
  const all = await client.query({ text: 'SELECT user_id, name FROM users', rowMode: 'array' });
  for (const [userId, name] of all.rows as [number, string][]) users.add(userId, name);
  const versions = new Map<number, string>();
  const stored = await client.query({
    text: 'SELECT version, profile, change_seq FROM profile_versions',
    rowMode: 'array',
  });
  let recordsBase: number | undefined;
  for (const [version, text, changeSeq] of stored.rows as [number, string, number | null][]) {
    versions.set(version, text);
    if (changeSeq === 0) recordsBase = version;
  }
  const scope = await client.query<{ scope: PositionScope }>('SELECT scope FROM position_scope WHERE id = 1');
  const replay = new LogReplay(users, scope.rows[0]?.scope ?? 'strategy');
  const profiles = new ProfilesInForce(replay, versions, recordsBase, problem);
  const changes = await changesAfter(client, 0);
  let nextChange = 0;
  /** Every record before the one numbered seq, in log order. */
  const advanceTo = (seq: number) => {
    for (; nextChange < changes.length && changes[nextChange]!.seq < seq; nextChange++)
      profiles.replayChange(changes[nextChange]!);
  };
  // Trades are matched by (sell order, user): instances insert them concurrently, so trade ids need not
  // follow order ids across books.
  const closes = new Map<string, ReplayedClose>();
  let after = 0;
  for (;;) {
    const page = await client.query({
      text: `SELECT order_id, client_order_id, strategy, instrument, side, status, received_at_ms, answer, profile_version,
             fills, denials, origin, for_user_id, quantity FROM orders WHERE order_id > $1 ORDER BY order_id LIMIT ${PAGE_ROWS}`,
      values: [after],
      rowMode: 'array',
    });
    const rows = page.rows as [
      number,
      string | null,
      string,
      string,
      'BUY' | 'SELL',
      string,
      number,
      string,
      number,
      number | null,
      number | null,
      string | null,
      number | null,
      number | null,
    ][];
    if (rows.length === 0) break;
    for (const [
      orderId,
      clientOrderId,
      strategy,
      instrument,
      side,
      status,
      receivedAtMs,
      answer,
      version,
      fills,
      denials,
      origin,
      forUserId,
      quantity,
    ] of rows) {
      advanceTo(orderId);
      profiles.beforeOrder(version);
      const row: LoggedOrderRow = {
        orderId,
        clientOrderId,
        strategy,
        instrument,
        side,
        quantity,
        status,
        receivedAtMs,
        answer,
        fills,
        denials,
        origin,
        forUserId,
      };
      const wrong = replay.replay(row, (close) => closes.set(`${close.sellOrderId}:${close.userId}`, close));
      if (wrong !== null) problem(wrong);
    }
    after = rows[rows.length - 1]![0];
    onProgress(replay.orders);
  }
  advanceTo(Number.POSITIVE_INFINITY);
  const released = await client.query({
    text: 'SELECT strategy, instrument, user_id, order_id, opened_at_ms FROM released_positions',
    rowMode: 'array',
  });
  compareReleased(released.rows as unknown as StoredRelease[], replay, problem);
  const trades = await compareTrades(client, closes, problem);
  const openPositions = comparePositions(await storedPositions(client), replay, problem);
  return {
    orders: replay.orders,
    changes: replay.changes,
    profileVersions: versions.size,
    fills: replay.fills,
    denials: replay.denials,
    openPositions,
    trades,
    mismatches: collector.mismatches,
    problems: collector.problems,
  };
}

/**
 * Which profile version the replay decides by. Before the first record, each order's own (instances
 * synced their profile file at start, and an order names the version it was decided by); from the
 * first record on, the version in force when the records began, then the records' changes: an order
 * then switches only to a version no import brought in (an old log's instance, started with its file),
 * never wiping the changes of the records for the version they apply to.
 */
class ProfilesInForce {
  readonly #replay: LogReplay;
  readonly #versions: ReadonlyMap<number, string>;
  readonly #recordsBase: number | undefined;
  readonly #problem: (text: string) => void;
  #inForce = -1;
  #recordsBegun = false;
  readonly #imported = new Set<number>();

  constructor(
    replay: LogReplay,
    versions: ReadonlyMap<number, string>,
    recordsBase: number | undefined,
    problem: (text: string) => void,
  ) {
    this.#replay = replay;
    this.#versions = versions;
    this.#recordsBase = recordsBase;
    this.#problem = problem;
  }

  beforeOrder(version: number): void {
    if (version !== this.#inForce && !this.#imported.has(version)) this.#use(version);
  }

  replayChange(change: StoredChange): void {
    if (!this.#recordsBegun) {
      this.#recordsBegun = true;
      const base = this.#recordsBase;
      if (change.kind !== 'import' && base !== undefined && base !== this.#inForce) this.#use(base);
    }
    const wrong = this.#replay.replayChange(change, (version) => this.#versions.get(version));
    if (wrong !== null) return this.#problem(wrong);
    if (change.kind !== 'import') return;
    const { profile_version: version } = JSON.parse(change.body) as { profile_version: number };
    this.#inForce = version;
    this.#imported.add(version);
  }

  #use(version: number): void {
    this.#inForce = version;
    const wrong = this.#replay.useProfile(this.#versions.get(version) ?? '', `profile version ${version}`);
    if (wrong !== null) this.#problem(wrong);
  }
}

async function compareTrades(
  client: pg.ClientBase,
  closes: Map<string, ReplayedClose>,
  problem: (text: string) => void,
): Promise<number> {
  const result = await client.query({
    text: `SELECT trade_id, user_id, strategy, instrument, buy_order_id, sell_order_id, opened_at_ms, closed_at_ms,
                  quantity
           FROM trades ORDER BY trade_id`,
    rowMode: 'array',
  });
  const rows = result.rows as [number, number, string, string, number, number, number, number, number][];
  for (const [
    tradeId,
    userId,
    strategy,
    instrument,
    buyOrderId,
    sellOrderId,
    openedAtMs,
    closedAtMs,
    quantity,
  ] of rows) {
    const key = `${sellOrderId}:${userId}`;
    const close = closes.get(key);
    if (close === undefined) {
      problem(`trade ${tradeId} (user ${userId}, order ${sellOrderId}) is not explained by the log`);
      continue;
    }
    closes.delete(key);
    const same =
      strategy === close.strategy &&
      instrument === close.instrument &&
      buyOrderId === close.buyOrderId &&
      openedAtMs === close.openedAtMs &&
      closedAtMs === close.closedAtMs &&
      quantity === close.quantity;
    if (!same) problem(`trade ${tradeId} does not match the close of user ${userId} by order ${sellOrderId}`);
  }
  for (const close of closes.values()) {
    problem(`order ${close.sellOrderId} closed a position of user ${close.userId} but no trade records it`);
  }
  return rows.length;
}

async function storedPositions(client: pg.ClientBase): Promise<StoredPosition[]> {
  const result = await client.query({
    text: 'SELECT strategy, instrument, user_id, order_id, opened_at_ms, quantity FROM positions',
    rowMode: 'array',
  });
  return result.rows as unknown as StoredPosition[];
}
