// API keys in the SQLite file. The server reads them on its main thread's connection (a lookup by
// primary key per request: microseconds, and WAL shows it what another process committed a moment
// ago); it records last use through its writer thread, so that it never competes with the order
// writer for the write lock. `ordergate keys` opens the file on its own and writes directly.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { ActiveKey, KeyRecord, KeyStore, NewKey, OpenedKeyStore } from '../key-store.js';
import { openConnection } from './connection.js';
import { migrate } from './migrations.js';

type RecordLastUse = (id: string, atMs: number) => Promise<void>;

function prepare(db: Database.Database) {
  return {
    create: db.prepare(
      `INSERT INTO api_keys (key_id, secret_sha256, role, strategy, name, created_at_ms)
       VALUES (@id, @secretSha256, @role, @strategy, @name, @createdAtMs)`,
    ),
    list: db.prepare(
      `SELECT key_id AS id, role, strategy, name, created_at_ms AS createdAtMs,
       last_used_at_ms AS lastUsedAtMs, revoked_at_ms AS revokedAtMs FROM api_keys ORDER BY created_at_ms, rowid`,
    ),
    revoke: db.prepare('UPDATE api_keys SET revoked_at_ms = ? WHERE key_id = ? AND revoked_at_ms IS NULL'),
    findActive: db.prepare(
      `SELECT key_id AS id, role, strategy, secret_sha256 AS secretSha256 FROM api_keys
       WHERE key_id = ? AND revoked_at_ms IS NULL`,
    ),
    hasKeys: db.prepare('SELECT EXISTS (SELECT 1 FROM api_keys)').pluck(),
    recordLastUse: db.prepare(
      'UPDATE api_keys SET last_used_at_ms = max(coalesce(last_used_at_ms, 0), ?) WHERE key_id = ?',
    ),
  };
}

export class SqliteKeys implements KeyStore {
  #statements: ReturnType<typeof prepare>;
  readonly #recordLastUse: RecordLastUse;

  /** Without recordLastUse, last use is written on `db` itself (the keys command does so). */
  constructor(db: Database.Database, recordLastUse?: RecordLastUse) {
    this.#statements = prepare(db);
    this.#recordLastUse =
      recordLastUse ?? (async (id, atMs) => void this.#statements.recordLastUse.run(atMs, id));
  }

  /** The store reopens its connection after a fault: read from the new one. */
  useConnection(db: Database.Database): void {
    this.#statements = prepare(db);
  }

  async create(key: NewKey): Promise<void> {
    this.#statements.create.run(key);
  }

  async list(): Promise<readonly KeyRecord[]> {
    return this.#statements.list.all() as KeyRecord[];
  }

  async revoke(id: string, atMs: number): Promise<boolean> {
    return this.#statements.revoke.run(atMs, id).changes === 1;
  }

  async findActive(id: string): Promise<ActiveKey | undefined> {
    return this.#statements.findActive.get(id) as ActiveKey | undefined;
  }

  async hasKeys(): Promise<boolean> {
    return this.#statements.hasKeys.get() === 1;
  }

  recordLastUse(id: string, atMs: number): Promise<void> {
    return this.#recordLastUse(id, atMs);
  }
}

/** The keys of a database file, for `ordergate keys`: creates and migrates the file if need be. */
export function openSqliteKeyStore(path: string): OpenedKeyStore {
  mkdirSync(dirname(path), { recursive: true });
  const db = openConnection(path);
  try {
    migrate(db, path);
  } catch (error) {
    db.close();
    throw error;
  }
  return new OwnedSqliteKeys(db);
}

/** Keys on a connection of their own, closed with them. */
class OwnedSqliteKeys extends SqliteKeys implements OpenedKeyStore {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    super(db);
    this.#db = db;
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
