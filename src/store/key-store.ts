// Where API keys live: in the database every instance shares, so that a key created or revoked by
// `ordergate keys` or the key API (http/keys.ts) counts at once on every running server. A store keeps
// only the SHA-256 of a key's secret, never the secret. The SQLite store implements this in
// sqlite/sqlite-keys.ts; the server reaches it as Store.keys, the keys command through openKeyStore()
// (to change keys) and readKeys() (to list them).

import type { Config } from '../config.js';
import { KEY_ID_PATTERN } from '../tokens.js';
import { decodeCursor, encodeCursor } from './page.js';

const keyIdRegExp = new RegExp(KEY_ID_PATTERN);

/** admin: everything; read: every GET endpoint; strategy: orders for its own strategy only. */
export type KeyRole = 'admin' | 'read' | 'strategy';

export const KEY_ROLES: readonly KeyRole[] = ['admin', 'read', 'strategy'];

/** A key as it is listed: never its secret, nor the hash of it. */
export interface KeyRecord {
  /** Public and unique: the part of the token before the secret, used to find the key. */
  readonly id: string;
  readonly role: KeyRole;
  /** The strategy a strategy key places orders for; null for admin and read keys. */
  readonly strategy: string | null;
  /** A label for people (`--name`), or null. */
  readonly name: string | null;
  /**
   * A webhook key: a strategy key whose token travels in a URL (POST /webhooks/tradingview/:token),
   * accepted there only, and never as a header, so that a URL pasted into TradingView opens nothing else.
   */
  readonly webhook: boolean;
  readonly createdAtMs: number;
  /** Recorded at most about once a minute per key, so up to a minute behind. */
  readonly lastUsedAtMs: number | null;
  /** Null while the key is active. */
  readonly revokedAtMs: number | null;
}

/** What create() stores. */
export interface NewKey {
  readonly id: string;
  /** SHA-256 of the secret, 64 lowercase hex digits. */
  readonly secretSha256: string;
  readonly role: KeyRole;
  /** Set for a strategy key, and only then. */
  readonly strategy: string | null;
  readonly name: string | null;
  /** Only for a strategy key. */
  readonly webhook: boolean;
  readonly createdAtMs: number;
}

/** What a request is checked against. */
export interface ActiveKey {
  readonly id: string;
  readonly role: KeyRole;
  readonly strategy: string | null;
  /** Accepted in the webhook URL only; any other key, only in a header. */
  readonly webhook: boolean;
  /** SHA-256 of the secret, 64 lowercase hex digits: compared in constant time by the caller. */
  readonly secretSha256: string;
}

/** Where a page of keys starts: after this key, in the order keys are listed (creation time, then id). */
export interface KeyCursor {
  readonly createdAtMs: number;
  readonly id: string;
}

export interface KeyStore {
  /** Stores a new, active key. Rejects if a key with this id exists. */
  create(key: NewKey): Promise<void>;
  /** Every key, revoked ones too, in the order they were created (ties by id). */
  list(): Promise<readonly KeyRecord[]>;
  /** At most `limit` keys after `after` (from the first when null), in the order of list(). */
  page(after: KeyCursor | null, limit: number): Promise<readonly KeyRecord[]>;
  /** The key with this id, revoked or not. */
  find(id: string): Promise<KeyRecord | undefined>;
  /** Revokes the key from atMs on. False when no active key has this id (unknown or already revoked). */
  revoke(id: string, atMs: number): Promise<boolean>;
  /**
   * The active key with this id, or undefined when it is unknown or revoked. Called on every
   * authenticated request and never cached by the caller, so that a revoke counts at once: a lookup
   * by primary key.
   */
  findActive(id: string): Promise<ActiveKey | undefined>;
  /**
   * Whether any key was ever created, revoked ones included. While none was, the server runs open
   * (anyone may do anything); revoking every key later does not open it again. Called on every request
   * that carries no key until it answers true, so that the first key closes the server at once; from
   * then on the caller keeps the answer, since a store never deletes a key.
   */
  hasKeys(): Promise<boolean>;
  /**
   * Records that the key was used at atMs (never moving it back). The caller calls it at most about
   * once a minute per key and off the answer path; a failure is logged, never fails a request.
   */
  recordLastUse(id: string, atMs: number): Promise<void>;
}

/** A key store opened on its own, by a command rather than by the server's Store. */
export interface OpenedKeyStore extends KeyStore {
  close(): Promise<void>;
}

/**
 * Opens the keys of the database a DATABASE_URL names, to change them, creating and migrating the
 * database if need be; no profile needed. Used by `ordergate keys create` and `revoke` (the command
 * names itself for whoever it keeps waiting). A SQLite file is owned for as long as the store is open:
 * beside a server that owns it, this throws DatabaseInUseError. PostgreSQL is shared: no owner.
 */
export async function openKeyStore(database: Config['database'], command: string): Promise<OpenedKeyStore> {
  switch (database.kind) {
    case 'sqlite':
      return (await import('./sqlite/sqlite-keys.js')).openSqliteKeyStore(database.path, command);
    case 'postgres':
      return openPgKeys(database.url);
  }
}

/**
 * Every key of the database, as list() gives them, for `ordergate keys list`. It only reads: on SQLite it
 * takes no ownership and creates nothing, so it works beside a running server.
 */
export async function readKeys(database: Config['database']): Promise<readonly KeyRecord[]> {
  if (database.kind === 'sqlite')
    return (await import('./sqlite/sqlite-keys.js')).readSqliteKeys(database.path);
  const keys = await openPgKeys(database.url);
  try {
    return await keys.list();
  } finally {
    await keys.close();
  }
}

async function openPgKeys(url: string): Promise<OpenedKeyStore> {
  return (await import('./postgres/pg-keys.js')).openPgKeyStore(
    url,
    (await import('./postgres/connection.js')).stderrPoolLogger,
  );
}

/** A page's next_after: opaque, like every text cursor of the API. */
export function keyCursor(key: KeyRecord): string {
  return encodeCursor([key.createdAtMs, key.id]);
}

export function parseKeyCursor(text: string): KeyCursor | null {
  const parts = decodeCursor(text);
  if (parts === null || parts.length !== 2) return null;
  const [createdAtMs, id] = parts;
  if (!Number.isSafeInteger(createdAtMs) || typeof id !== 'string' || !keyIdRegExp.test(id)) return null;
  return { createdAtMs: createdAtMs as number, id };
}
