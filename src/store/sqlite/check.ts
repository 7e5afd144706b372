// `ordergate check` for the SQLite store: the file's integrity, then the replay invariant: replaying
// the whole log from an empty book reproduces every logged answer, exactly the open positions, the
// closed trades. Runs in one read transaction, so it can run
// beside a live server and sees one consistent snapshot.

import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
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
import { openConnection } from './connection.js';
import { positionScopeOf, SCHEMA_VERSION } from './migrations.js';
import { changesAfter, loadProfileVersions, loadUsers } from './profile-sync.js';

const PAGE_ROWS = 5000;
const MISMATCHES_SHOWN_MAX = 20;

export interface CheckReport {
  readonly integrity: string;
  readonly schemaVersion: number;
  readonly orders: number;
  /** The log's records other than orders: user, subscription and state changes, square-offs, imports. */
  readonly changes: number;
  readonly profileVersions: number;
  readonly fills: number;
  readonly denials: number;
  readonly openPositions: number;
  readonly trades: number;
  readonly mismatches: number;
  readonly problems: readonly string[];
}

export function checkSqlite(path: string, onProgress: (orders: number) => void = () => {}): CheckReport {
  if (!existsSync(path)) throw new Error(`${path}: no such database file`);
  const db = openConnection(path, { readonly: true });
  try {
    const integrity = (db.pragma('integrity_check') as { integrity_check: string }[])
      .map((row) => row.integrity_check)
      .join('; ');
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    const base = {
      integrity,
      schemaVersion,
      orders: 0,
      changes: 0,
      profileVersions: 0,
      fills: 0,
      denials: 0,
      openPositions: 0,
      trades: 0,
    };
    if (integrity !== 'ok') return { ...base, mismatches: 1, problems: [`integrity check: ${integrity}`] };
    if (schemaVersion !== SCHEMA_VERSION) {
      const problem = `schema version ${schemaVersion}, this ordergate knows ${SCHEMA_VERSION}: start the matching ordergate once to migrate it`;
      return { ...base, mismatches: 1, problems: [problem] };
    }
    db.exec('BEGIN');
    try {
      return { integrity, schemaVersion, ...replayAll(db, onProgress) };
    } finally {
      db.exec('COMMIT');
    }
  } finally {
    db.close();
  }
}

function replayAll(db: Database.Database, onProgress: (orders: number) => void) {
  const collector = mismatchCollector(MISMATCHES_SHOWN_MAX);
  const { problem } = collector;
  const replay = new LogReplay(loadUsers(db), positionScopeOf(db));
  const allVersions = loadProfileVersions(db);
  const textOf = new Map(allVersions.map((v) => [v.version, v.profile]));
  // Versions stored at start apply from their first order; imported ones, at their record.
  const versions = allVersions.filter((v) => v.changeSeq === null);
  let nextVersion = 0;
  const changes = changesAfter(db, 0);
  let nextChange = 0;
  /** Everything before the record numbered seq: versions stored at start and the other records, in log order. */
  const advanceTo = (seq: number) => {
    for (;;) {
      const version = versions[nextVersion];
      const change = changes[nextChange];
      const versionAt = version?.firstOrderId ?? Number.POSITIVE_INFINITY;
      const changeAt = change?.seq ?? Number.POSITIVE_INFINITY;
      if (version !== undefined && versionAt <= seq && versionAt <= changeAt) {
        nextVersion++;
        const wrong = replay.useProfile(version.profile, `profile version ${version.version}`);
        if (wrong !== null) problem(wrong);
      } else if (change !== undefined && changeAt < seq) {
        nextChange++;
        const wrong = replay.replayChange(change, (v) => textOf.get(v));
        if (wrong !== null) problem(wrong);
      } else return;
    }
  };

  const trades = new TradeCursor(db);
  const ordersPage = db.prepare(
    `SELECT order_id, client_order_id, strategy, instrument, side, status, received_at_ms, answer, fills, denials,
            origin, for_user_id, quantity
     FROM orders WHERE order_id > ? ORDER BY order_id LIMIT ${PAGE_ROWS}`,
  );
  let after = 0;
  for (;;) {
    const rows = ordersPage.raw().all(after) as [
      number,
      string | null,
      string,
      string,
      'BUY' | 'SELL',
      string,
      number,
      string,
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
      fills,
      denials,
      origin,
      forUserId,
      quantity,
    ] of rows) {
      advanceTo(orderId);
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
      const wrong = replay.replay(row, (close) => {
        const tradeProblem = trades.expect(close);
        if (tradeProblem !== null) problem(tradeProblem);
      });
      if (wrong !== null) problem(wrong);
    }
    after = rows[rows.length - 1]![0];
    onProgress(replay.orders);
  }
  advanceTo(Number.POSITIVE_INFINITY);
  compareReleased(
    db
      .prepare('SELECT strategy, instrument, user_id, order_id, opened_at_ms FROM released_positions')
      .raw()
      .all() as StoredRelease[],
    replay,
    problem,
  );
  const extraTrades = trades.remaining();
  if (extraTrades > 0) problem(`${extraTrades} trades in the database that no SELL in the log closed`);
  const openPositions = comparePositions(storedPositions(db), replay, problem);
  return {
    orders: replay.orders,
    changes: replay.changes,
    profileVersions: allVersions.length,
    fills: replay.fills,
    denials: replay.denials,
    openPositions,
    trades: trades.seen,
    mismatches: collector.mismatches,
    problems: collector.problems,
  };
}

function storedPositions(db: Database.Database): StoredPosition[] {
  return db
    .prepare('SELECT strategy, instrument, user_id, order_id, opened_at_ms, quantity FROM positions')
    .raw()
    .all() as StoredPosition[];
}

type TradeRaw = [number, number, string, string, number, number, number, number, number];

/** Walks the trades table in trade_id order alongside the replay's closes, one page at a time. */
class TradeCursor {
  readonly #page: Database.Statement;
  readonly #count: number;
  #rows: TradeRaw[] = [];
  #index = 0;
  #after = 0;
  seen = 0;

  constructor(db: Database.Database) {
    this.#page = db.prepare(
      `SELECT trade_id, user_id, strategy, instrument, buy_order_id, sell_order_id, opened_at_ms, closed_at_ms,
              quantity
       FROM trades WHERE trade_id > ? ORDER BY trade_id LIMIT ${PAGE_ROWS}`,
    );
    this.#count = db.prepare('SELECT count(*) FROM trades').pluck().get() as number;
  }

  expect(close: ReplayedClose): string | null {
    if (this.#index >= this.#rows.length) {
      this.#rows = this.#page.raw().all(this.#after) as TradeRaw[];
      this.#index = 0;
    }
    const row = this.#rows[this.#index++];
    if (row === undefined)
      return `order ${close.sellOrderId} closed a position of user ${close.userId} but no trade records it`;
    this.seen++;
    this.#after = row[0];
    const [tradeId, userId, strategy, instrument, buyOrderId, sellOrderId, openedAtMs, closedAtMs, quantity] =
      row;
    const same =
      userId === close.userId &&
      strategy === close.strategy &&
      instrument === close.instrument &&
      buyOrderId === close.buyOrderId &&
      sellOrderId === close.sellOrderId &&
      openedAtMs === close.openedAtMs &&
      closedAtMs === close.closedAtMs &&
      quantity === close.quantity;
    return same
      ? null
      : `trade ${tradeId} does not match the close of user ${close.userId} by order ${close.sellOrderId}`;
  }

  remaining(): number {
    return this.#count - this.seen;
  }
}
