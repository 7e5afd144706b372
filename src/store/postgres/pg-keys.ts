// API keys in PostgreSQL: one table every instance reads, so that a key created or revoked by
// `ordergate keys` counts at once on every instance. Each request's lookup is one primary-key read.

import type pg from 'pg';
import type { ActiveKey, KeyCursor, KeyRecord, KeyStore, NewKey, OpenedKeyStore } from '../key-store.js';
import { connectForStart, createPool, isConnectionFault, type PoolLogger } from './connection.js';
import { migratePostgres } from './migrations.js';

const RECORD_COLUMNS = `key_id AS id, role, strategy, name, webhook, created_at_ms AS "createdAtMs",
  last_used_at_ms AS "lastUsedAtMs", revoked_at_ms AS "revokedAtMs"`;

/**
 * A request's key lookup waits at most this long: it runs before every order, so a stalled server must
 * turn it into a 503 quickly rather than hold the request for the pool's 10 s query timeout.
 */
const LOOKUP_TIMEOUT_MS = 2000;

/** How the server's store lets the keys fail fast while PostgreSQL is known to be unreachable. */
export interface PgHealth {
  /** Undefined while healthy, else why not. */
  unhealthy(): string | undefined;
  fault(error: unknown): void;
}

const alwaysHealthy: PgHealth = { unhealthy: () => undefined, fault: () => {} };

export class PgKeys implements KeyStore {
  readonly #pool: pg.Pool;
  readonly #health: PgHealth;

  constructor(pool: pg.Pool, health: PgHealth = alwaysHealthy) {
    this.#pool = pool;
    this.#health = health;
  }

  /** One query of a request's lookup: refused at once while PostgreSQL is down, bounded in time. */
  async #lookup<T extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<T[]> {
    const why = this.#health.unhealthy();
    if (why !== undefined) throw new Error(why);
    try {
      const result = await this.#pool.query<T>({
        text,
        values,
        query_timeout: LOOKUP_TIMEOUT_MS,
      } as pg.QueryConfig);
      return result.rows;
    } catch (error) {
      if (isConnectionFault(error)) this.#health.fault(error);
      throw error;
    }
  }

  async create(key: NewKey): Promise<void> {
    await this.#pool.query(
      `INSERT INTO api_keys (key_id, secret_sha256, role, strategy, name, webhook, created_at_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [key.id, key.secretSha256, key.role, key.strategy, key.name, key.webhook, key.createdAtMs],
    );
  }

  async list(): Promise<readonly KeyRecord[]> {
    const result = await this.#pool.query<KeyRecord>(
      `SELECT ${RECORD_COLUMNS} FROM api_keys ORDER BY created_at_ms, key_id`,
    );
    return result.rows;
  }

  async page(after: KeyCursor | null, limit: number): Promise<readonly KeyRecord[]> {
    // The table is small (keys are made by hand): no index, a page sorts it.
    const result = await this.#pool.query<KeyRecord>(
      `SELECT ${RECORD_COLUMNS} FROM api_keys WHERE (created_at_ms, key_id) > ($1, $2)
       ORDER BY created_at_ms, key_id LIMIT $3`,
      [after?.createdAtMs ?? -1, after?.id ?? '', limit],
    );
    return result.rows;
  }

  async find(id: string): Promise<KeyRecord | undefined> {
    const result = await this.#pool.query<KeyRecord>(
      `SELECT ${RECORD_COLUMNS} FROM api_keys WHERE key_id = $1`,
      [id],
    );
    return result.rows[0];
  }

  async revoke(id: string, atMs: number): Promise<boolean> {
    const result = await this.#pool.query(
      'UPDATE api_keys SET revoked_at_ms = $1 WHERE key_id = $2 AND revoked_at_ms IS NULL',
      [atMs, id],
    );
    return result.rowCount === 1;
  }

  async findActive(id: string): Promise<ActiveKey | undefined> {
    const rows = await this.#lookup<ActiveKey>(
      `SELECT key_id AS id, role, strategy, webhook, secret_sha256 AS "secretSha256" FROM api_keys
       WHERE key_id = $1 AND revoked_at_ms IS NULL`,
      [id],
    );
    return rows[0];
  }

  async hasKeys(): Promise<boolean> {
    const rows = await this.#lookup<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM api_keys) AS any', []);
    return rows[0]?.any === true;
  }

  async recordLastUse(id: string, atMs: number): Promise<void> {
    await this.#pool.query(
      'UPDATE api_keys SET last_used_at_ms = greatest(coalesce(last_used_at_ms, 0), $1) WHERE key_id = $2',
      [atMs, id],
    );
  }
}

/** The keys of a PostgreSQL database, for `ordergate keys`: migrates the schema if need be. */
export async function openPgKeyStore(url: string, logger: PoolLogger): Promise<OpenedKeyStore> {
  const client = await connectForStart(url, 'ordergate keys');
  try {
    await migratePostgres(client);
  } finally {
    await client.end().catch(() => {});
  }
  return new OwnedPgKeys(createPool({ url, poolMax: 2, logger, applicationName: 'ordergate keys' }));
}

/** Keys on a pool of their own, closed with them. */
class OwnedPgKeys extends PgKeys implements OpenedKeyStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    super(pool);
    this.#pool = pool;
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}
