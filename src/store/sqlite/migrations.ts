// The SQLite schema, versioned from day one. Each migration runs once, in order, in its own
// transaction; PRAGMA user_version records how far a database has come. Append, never edit.

import type Database from 'better-sqlite3';
import { POSITION_SCOPES, type PositionScope, scopeRefusal } from '../../domain/book.js';

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
  CREATE TABLE subscriptions (
    user_id INTEGER NOT NULL, strategy TEXT NOT NULL, instrument TEXT NOT NULL,
    PRIMARY KEY (user_id, strategy, instrument)
  ) WITHOUT ROWID;
  CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    client_order_id TEXT UNIQUE,
    strategy TEXT NOT NULL,
    instrument TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    status TEXT NOT NULL CHECK (status IN ('ACCEPTED', 'REJECTED')),
    reason TEXT,
    received_at_ms INTEGER NOT NULL,
    answer TEXT NOT NULL
  );
  CREATE INDEX orders_by_book ON orders (strategy, instrument, order_id);
  CREATE TABLE decisions (
    user_id INTEGER NOT NULL, order_id INTEGER NOT NULL, verdict INTEGER NOT NULL,
    PRIMARY KEY (user_id, order_id)
  ) WITHOUT ROWID;
  CREATE TABLE positions (
    strategy TEXT NOT NULL, instrument TEXT NOT NULL, user_id INTEGER NOT NULL,
    order_id INTEGER NOT NULL, opened_at_ms INTEGER NOT NULL,
    PRIMARY KEY (strategy, instrument, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX positions_by_user ON positions (user_id);
  CREATE TABLE trades (
    trade_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL, strategy TEXT NOT NULL, instrument TEXT NOT NULL,
    buy_order_id INTEGER NOT NULL, sell_order_id INTEGER NOT NULL,
    opened_at_ms INTEGER NOT NULL, closed_at_ms INTEGER NOT NULL
  );
  CREATE INDEX trades_by_user ON trades (user_id, trade_id);
  CREATE INDEX trades_by_book ON trades (strategy, instrument, trade_id);
  `,
  // Every profile ever in force, with the first order it applied to, so that the whole log can be
  // replayed and each decision reproduced exactly (ordergate check).
  `
  CREATE TABLE profile_versions (
    version INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    first_order_id INTEGER NOT NULL,
    loaded_at_ms INTEGER NOT NULL,
    profile TEXT NOT NULL
  );
  `,
  // Per-user decision rows doubled the writes of every order and, keyed by user, touched one page per
  // user of a fan-out: at 100,000 users the cost grew with history. Each order's answer holds every
  // user's verdict; the per-user view of the log uses the fills, which positions and trades record.
  `
  DROP TABLE decisions;
  `,
  // API keys, shared by every process on the file: only the SHA-256 of a secret is stored. A revoked
  // key keeps its row: it still counts as a key (no return to open mode) and shows in the list.
  `
  CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'read', 'strategy')),
    strategy TEXT CHECK ((role = 'strategy') = (strategy IS NOT NULL)),
    name TEXT,
    created_at_ms INTEGER NOT NULL,
    last_used_at_ms INTEGER,
    revoked_at_ms INTEGER
  );
  `,
  // How many users each order filled and denied, so that a page of the log can show an order without
  // reading its answer (1.3 MB at 44,700 users). Null for the orders logged before: a page counts
  // those from their answer.
  `
  ALTER TABLE orders ADD COLUMN fills INTEGER;
  ALTER TABLE orders ADD COLUMN denials INTEGER;
  `,
  // The database's identity: drawn once, when the database is made (or first opened by this version),
  // and kept by its backups. Every order line in the logs names it, so that servers sharing a log folder
  // can be told apart.
  `
  INSERT INTO meta (key, value) VALUES ('database_id', lower(hex(randomblob(8))));
  `,
  // Live operations: every change (users, subscriptions, states, square-offs, imports) is a record in
  // the same ordered log as the orders, numbered from the same sequence (changes.seq and
  // orders.order_id never share a number). The states in force and the square-offs done are kept for
  // a fast start; the log alone explains them. A SELL the gate sends itself says why (origin) and,
  // when it closes one user's positions only, whose (for_user_id). An imported profile names its record.
  `
  CREATE TABLE changes (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    key_id TEXT,
    at_ms INTEGER NOT NULL
  );
  CREATE TABLE states (
    scope TEXT NOT NULL CHECK (scope IN ('gate', 'strategy', 'user', 'square-off')),
    target TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('CLOSE_ONLY', 'HALTED')),
    reason TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    key_id TEXT,
    until_ms INTEGER,
    PRIMARY KEY (scope, target)
  ) WITHOUT ROWID;
  CREATE TABLE released_positions (
    released_seq INTEGER NOT NULL,
    strategy TEXT NOT NULL, instrument TEXT NOT NULL, user_id INTEGER NOT NULL,
    order_id INTEGER NOT NULL, opened_at_ms INTEGER NOT NULL,
    PRIMARY KEY (released_seq, strategy, instrument, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX released_by_user ON released_positions (user_id);
  CREATE TABLE square_offs (day TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
  ALTER TABLE orders ADD COLUMN origin TEXT;
  ALTER TABLE orders ADD COLUMN for_user_id INTEGER;
  ALTER TABLE profile_versions ADD COLUMN change_seq INTEGER;
  `,
  // Quantities and webhooks. An order's quantity is null for the orders logged before quantities
  // existed: their answers carry no quantity fields, and their fills were one unit each. Positions,
  // trades and released positions carry their whole units (integers: sizing is exact, see sizing.ts).
  // A webhook key is a strategy key whose token travels in a URL, accepted there only. The scope of
  // positions is written to meta once, when the store first opens the database at this version.
  `
  ALTER TABLE orders ADD COLUMN quantity INTEGER;
  ALTER TABLE positions ADD COLUMN quantity INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE trades ADD COLUMN quantity INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE released_positions ADD COLUMN quantity INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE api_keys ADD COLUMN webhook INTEGER NOT NULL DEFAULT 0 CHECK (webhook = 0 OR role = 'strategy');
  `,
];

/** The identity drawn by the migration above. */
export function databaseIdOf(db: Database.Database): string {
  return db.prepare("SELECT value FROM meta WHERE key = 'database_id'").pluck().get() as string;
}

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The scope of positions a database was made with: a database made before scopes existed is `strategy`. */
export function positionScopeOf(db: Database.Database): PositionScope {
  const stored = db.prepare("SELECT value FROM meta WHERE key = 'position_scope'").pluck().get();
  return stored === 'account' ? 'account' : 'strategy';
}

/**
 * Writes the scope asked for into a database that has none yet: one with nothing in its log takes the
 * scope asked for, one with orders made before scopes existed can only be `strategy`. Refuses any other
 * change: the scope decides what every logged decision meant, so it is fixed for the database's life.
 */
export function fixPositionScope(db: Database.Database, path: string, wanted: PositionScope): PositionScope {
  const stored = db.prepare("SELECT value FROM meta WHERE key = 'position_scope'").pluck().get() as
    | string
    | undefined;
  const logged = db
    .prepare('SELECT EXISTS (SELECT 1 FROM orders) OR EXISTS (SELECT 1 FROM changes)')
    .pluck()
    .get();
  const scope = (stored ?? (logged === 1 ? 'strategy' : wanted)) as PositionScope;
  if (!POSITION_SCOPES.includes(scope)) throw new SchemaError(`${path}: unknown position scope ${scope}`);
  if (stored === undefined)
    db.prepare("INSERT INTO meta (key, value) VALUES ('position_scope', ?)").run(scope);
  if (scope !== wanted) throw new SchemaError(scopeRefusal(path, scope, wanted));
  return scope;
}

export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}

/** Brings the database to SCHEMA_VERSION; refuses one written by a newer ordergate. */
export function migrate(db: Database.Database, path: string): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > SCHEMA_VERSION) {
    throw new SchemaError(
      `${path} has schema version ${from}, newer than this ordergate knows (${SCHEMA_VERSION}): upgrade ordergate; the database was left untouched`,
    );
  }
  for (let version = from; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
  return { from, to: SCHEMA_VERSION };
}
