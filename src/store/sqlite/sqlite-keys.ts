// API keys in the SQLite file. The server reads them on its main thread's connection (a lookup by
// primary key per request: microseconds); it writes them (last use, and the keys its API creates and
// revokes) through its writer thread, so that the event loop never waits on the write lock. `ordergate keys create` and `revoke` own the file while they write (no
// server may run on it meanwhile); `keys list` only reads, beside anything.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { ActiveKey, KeyCursor, KeyRecord, KeyStore, NewKey, OpenedKeyStore } from '../key-store.js';
import { openConnection } from './connection.js';
import { migrate, SCHEMA_VERSION, SchemaError } from './migrations.js';
import { type OwnerLock, takeOwnership } from './owner.js';
import type { KeyChange } from './writer-protocol.js';

/** Who writes the keys: the server's writer thread, or (by default) the connection itself. */
export interface KeyWriter {
  recordLastUse(id: string, atMs: number): Promise<void>;
  /** True when a key was created, or an active key revoked. */
  change(change: KeyChange): Promise<boolean>;
}

const RECORD_COLUMNS = `key_id AS id, role, strategy, name, webhook, created_at_ms AS createdAtMs,
  last_used_at_ms AS lastUsedAtMs, revoked_at_ms AS revokedAtMs`;

/** Written by this connection and by the server's writer thread alike, with keyParameters(). */
export const INSERT_KEY = `INSERT INTO api_keys (key_id, secret_sha256, role, strategy, name, webhook, created_at_ms)
  VALUES (@id, @secretSha256, @role, @strategy, @name, @webhook, @createdAtMs)`;

/** SQLite has no boolean: webhook is stored as 0 or 1. */
export function keyParameters(key: NewKey): Record<string, string | number | null> {
  return { ...key, webhook: key.webhook ? 1 : 0 };
}

/** A row as SQLite gives it, webhook as 0 or 1. */
type Stored<T extends { webhook: boolean }> = Omit<T, 'webhook'> & { webhook: number };

function fromRow<T extends { webhook: boolean }>(row: Stored<T> | undefined): T | undefined {
  return row === undefined ? undefined : ({ ...row, webhook: row.webhook === 1 } as unknown as T);
}

function fromRows(rows: unknown[]): KeyRecord[] {
  return (rows as Stored<KeyRecord>[]).map((row) => fromRow<KeyRecord>(row)!);
}

function prepare(db: Database.Database) {
  return {
    create: db.prepare(INSERT_KEY),
    list: db.prepare(`SELECT ${RECORD_COLUMNS} FROM api_keys ORDER BY created_at_ms, key_id`),
    // The table is small (keys are made by hand): no index, a page sorts it.
    page: db.prepare(
      `SELECT ${RECORD_COLUMNS} FROM api_keys WHERE (created_at_ms, key_id) > (?, ?)
       ORDER BY created_at_ms, key_id LIMIT ?`,
    ),
    find: db.prepare(`SELECT ${RECORD_COLUMNS} FROM api_keys WHERE key_id = ?`),
    revoke: db.prepare('UPDATE api_keys SET revoked_at_ms = ? WHERE key_id = ? AND revoked_at_ms IS NULL'),
    findActive: db.prepare(
      `SELECT key_id AS id, role, strategy, webhook, secret_sha256 AS secretSha256 FROM api_keys
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
  readonly #writer: KeyWriter;

  /** Without a writer, keys are written on `db` itself (the keys command does so). */
  constructor(db: Database.Database, writer?: KeyWriter) {
    this.#statements = prepare(db);
    this.#writer = writer ?? {
      recordLastUse: async (id, atMs) => void this.#statements.recordLastUse.run(atMs, id),
      change: async (change) => {
        const done =
          change.kind === 'create'
            ? this.#statements.create.run(keyParameters(change.key))
            : this.#statements.revoke.run(change.atMs, change.id);
        return done.changes === 1;
      },
    };
  }

  /** The store reopens its connection after a fault: read from the new one. */
  useConnection(db: Database.Database): void {
    this.#statements = prepare(db);
  }

  async create(key: NewKey): Promise<void> {
    await this.#writer.change({ kind: 'create', key });
  }

  async list(): Promise<readonly KeyRecord[]> {
    return fromRows(this.#statements.list.all());
  }

  async page(after: KeyCursor | null, limit: number): Promise<readonly KeyRecord[]> {
    return fromRows(this.#statements.page.all(after?.createdAtMs ?? -1, after?.id ?? '', limit));
  }

  async find(id: string): Promise<KeyRecord | undefined> {
    return fromRow(this.#statements.find.get(id) as Stored<KeyRecord> | undefined);
  }

  revoke(id: string, atMs: number): Promise<boolean> {
    return this.#writer.change({ kind: 'revoke', id, atMs });
  }

  async findActive(id: string): Promise<ActiveKey | undefined> {
    return fromRow(this.#statements.findActive.get(id) as Stored<ActiveKey> | undefined);
  }

  async hasKeys(): Promise<boolean> {
    return this.#statements.hasKeys.get() === 1;
  }

  recordLastUse(id: string, atMs: number): Promise<void> {
    return this.#writer.recordLastUse(id, atMs);
  }
}

/**
 * The keys of a database file, to change them (`ordergate keys create`, `revoke`): owns the file for
 * as long as it is open, so that no server starts on it meanwhile, then creates and migrates it if
 * need be. Throws DatabaseInUseError when a server owns it.
 */
export function openSqliteKeyStore(path: string, command: string): OpenedKeyStore {
  mkdirSync(dirname(path), { recursive: true });
  const owner = takeOwnership(path, command);
  let db: Database.Database | undefined;
  try {
    db = openConnection(path);
    migrate(db, path);
  } catch (error) {
    db?.close();
    owner.release();
    throw error;
  }
  return new OwnedSqliteKeys(db, owner);
}

/**
 * Every key of a database file, read on a read-only connection beside whatever runs on it: no owner,
 * no migration, nothing created. A file that does not exist, or is from before keys, has none.
 */
export function readSqliteKeys(path: string): readonly KeyRecord[] {
  if (!existsSync(path)) return [];
  const db = openConnection(path, { readonly: true });
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new SchemaError(
        `${path} has schema version ${version}, newer than this ordergate knows (${SCHEMA_VERSION}): upgrade ordergate`,
      );
    }
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'").get();
    if (table === undefined) return [];
    // A file no server of this version has opened yet may be from before webhook keys: it has none.
    const columns = db.prepare("SELECT name FROM pragma_table_info('api_keys')").pluck().all();
    const select = columns.includes('webhook')
      ? RECORD_COLUMNS
      : RECORD_COLUMNS.replace('webhook', '0 AS webhook');
    return fromRows(db.prepare(`SELECT ${select} FROM api_keys ORDER BY created_at_ms, key_id`).all());
  } finally {
    db.close();
  }
}

/** Keys on a connection of their own, closed with them, and the file given up after. */
class OwnedSqliteKeys extends SqliteKeys implements OpenedKeyStore {
  readonly #db: Database.Database;
  readonly #owner: OwnerLock;

  constructor(db: Database.Database, owner: OwnerLock) {
    super(db);
    this.#db = db;
    this.#owner = owner;
  }

  async close(): Promise<void> {
    this.#db.close();
    this.#owner.release();
  }
}
