// Seeds a new PostgreSQL database with the profile file: its users (ids shared by every instance), the
// file's text as its first version, its subscriptions and books. From then on the database is the
// source of truth: users change through the log's records (changes.ts), and a file is applied only
// when imported. Also reads, at start, what the users and states in force are built from: the profile
// version the records start from and the records since, and the states.

import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Profile } from '../../domain/profile.js';
import type { GateStates } from '../../domain/states.js';
import { loadStateRows, type StateRow } from '../reconcile.js';

/** Rows per INSERT … SELECT unnest(…): a profile of 100,000 users has millions of subscriptions. */
export const ROWS_PER_STATEMENT_MAX = 50_000;

/**
 * The advisory lock that orders the log's records against the orders on every instance: each order
 * holds it shared for its whole transaction, each change exclusively. So a change waits for the
 * orders in flight, the orders that come after it wait for its commit, and every order is decided
 * by exactly the records numbered before it. The bytes of "ordergat" as a bigint: an application
 * sharing the database must not take advisory locks on this key (pg_locks shows it as
 * classid 1869767781, objid 1919377780).
 */
export const LIVE_LOCK_KEY = '8030591472428867956';

/** Every user this instance knows by id. Other instances may add users; their names are read on first sight. */
export class PgUsers {
  readonly idOf = new Map<string, number>();
  readonly names: string[] = [];
  readonly #encoded: string[] = [];

  add(userId: number, name: string): void {
    this.idOf.set(name, userId);
    this.names[userId] = name;
  }

  readonly nameJson = (userId: number): string =>
    (this.#encoded[userId] ??= JSON.stringify(this.names[userId]));

  /** Reads the names of user ids this instance has not seen (added by another instance's change). */
  async learn(client: Queryable, userIds: Iterable<number>): Promise<void> {
    const unknown = [...userIds].filter((id) => this.names[id] === undefined);
    if (unknown.length === 0) return;
    const rows = await client.query<{ user_id: number; name: string }>(
      'SELECT user_id, name FROM users WHERE user_id = ANY($1::integer[])',
      [unknown],
    );
    for (const row of rows.rows) this.add(row.user_id, row.name);
  }

  /** Reads the ids of names this instance has not seen: an import's users, added by another instance. */
  async learnNames(client: Queryable, names: Iterable<string>): Promise<void> {
    const unknown = [...names].filter((name) => !this.idOf.has(name));
    for (const [userId, name] of await idsOfNames(client, unknown)) this.add(userId, name);
  }
}

/** A connection or a pool: what one statement runs on. */
export type Queryable = pg.ClientBase | pg.Pool;

export function sha256Of(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Seeds a new database (no profile version in force yet) under the schema row's lock, so that
 * instances starting together seed it once; returns the version stored, or null on any other database.
 */
export async function seedProfilePostgres(
  client: pg.ClientBase,
  profile: Profile,
  text: string,
  nowMs: number,
): Promise<number | null> {
  await client.query('BEGIN');
  try {
    const schema = await client.query<{ current_profile_version: number | null }>(
      'SELECT current_profile_version FROM ordergate_schema WHERE id = 1 FOR UPDATE',
    );
    if (schema.rows[0]!.current_profile_version !== null) {
      await client.query('COMMIT');
      return null;
    }
    await insertUsers(
      client,
      profile.map((entry) => entry.user),
    );
    const users = new PgUsers();
    for (const [userId, name] of await idsOfNames(
      client,
      profile.map((entry) => entry.user),
    ))
      users.add(userId, name);
    // The version the log's records start from: marked 0, as migration 6 marks it on a database in use.
    const version = await storeProfileVersion(client, text, nowMs);
    await client.query('UPDATE profile_versions SET change_seq = 0 WHERE version = $1', [version]);
    await client.query('DELETE FROM subscriptions');
    await addSubscriptions(
      client,
      subscriptionRows(profile, (user) => users.idOf.get(user)!),
    );
    await addAllBooks(client);
    await client.query('UPDATE ordergate_schema SET current_profile_version = $1 WHERE id = 1', [version]);
    await client.query('COMMIT');
    return version;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Stores a profile's text as a version, or finds the version that already holds the same text. */
export async function storeProfileVersion(client: Queryable, text: string, nowMs: number): Promise<number> {
  const digest = sha256Of(text);
  const inserted = await client.query<{ version: number }>(
    `INSERT INTO profile_versions (sha256, loaded_at_ms, profile) VALUES ($1, $2, $3)
     ON CONFLICT (sha256) DO NOTHING RETURNING version`,
    [digest, nowMs, text],
  );
  if (inserted.rows[0] !== undefined) return inserted.rows[0].version;
  const found = await client.query<{ version: number }>(
    'SELECT version FROM profile_versions WHERE sha256 = $1',
    [digest],
  );
  return found.rows[0]!.version;
}

/** Adds the names not in the users table yet; a name already there keeps its id. */
export async function insertUsers(client: Queryable, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += ROWS_PER_STATEMENT_MAX) {
    // Only new names: a conflicting insert would still draw an id.
    await client.query(
      `INSERT INTO users (name) SELECT n FROM unnest($1::text[]) AS n
       WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.name = n) ON CONFLICT (name) DO NOTHING`,
      [names.slice(i, i + ROWS_PER_STATEMENT_MAX)],
    );
  }
}

/** The ids of these names, those that have one. */
export async function idsOfNames(client: Queryable, names: readonly string[]): Promise<[number, string][]> {
  const found: [number, string][] = [];
  for (let i = 0; i < names.length; i += ROWS_PER_STATEMENT_MAX) {
    const rows = await client.query({
      text: 'SELECT user_id, name FROM users WHERE name = ANY($1::text[])',
      values: [names.slice(i, i + ROWS_PER_STATEMENT_MAX)],
      rowMode: 'array',
    });
    for (const row of rows.rows as [number, string][]) found.push(row);
  }
  return found;
}

/** Every (user id, strategy, instrument) a profile subscribes. */
export function subscriptionRows(
  profile: Profile,
  userIdOf: (user: string) => number,
): (readonly [number, string, string])[] {
  const rows: (readonly [number, string, string])[] = [];
  for (const { user, subscriptions } of profile) {
    const userId = userIdOf(user);
    for (const { strategy, instruments } of subscriptions)
      for (const instrument of instruments) rows.push([userId, strategy, instrument]);
  }
  return rows;
}

export async function addSubscriptions(
  client: Queryable,
  rows: readonly (readonly [number, string, string])[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT_MAX) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT_MAX);
    await client.query(
      `INSERT INTO subscriptions (user_id, strategy, instrument)
       SELECT * FROM unnest($1::integer[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
      [chunk.map((row) => row[0]), chunk.map((row) => row[1]), chunk.map((row) => row[2])],
    );
  }
}

/**
 * Every book the subscriptions can trade gets its lock row, so that orders find it there: the
 * (strategy, instrument)'s, and the instrument's ('', instrument) that orders lock in `account` scope.
 */
export async function addAllBooks(client: Queryable): Promise<void> {
  await client.query(
    `INSERT INTO books (strategy, instrument)
     SELECT DISTINCT strategy, instrument FROM subscriptions
     UNION SELECT DISTINCT '', instrument FROM subscriptions
     ON CONFLICT DO NOTHING`,
  );
}

/** A stored record of the log that is not an order. */
export interface StoredChange {
  readonly seq: number;
  readonly kind: string;
  readonly body: string;
  readonly keyId: string | null;
  readonly atMs: number;
}

/** The records after seq (of these kinds only, if given), in log order. */
export async function changesAfter(
  client: Queryable,
  seq: number,
  kinds?: readonly string[],
): Promise<StoredChange[]> {
  const rows = await client.query({
    text: `SELECT seq, kind, body, key_id, at_ms FROM changes WHERE seq > $1${kinds === undefined ? '' : ' AND kind = ANY($2::text[])'} ORDER BY seq`,
    values: kinds === undefined ? [seq] : [seq, kinds],
    rowMode: 'array',
  });
  return (rows.rows as [number, string, string, string | null, number][]).map(
    ([s, kind, body, keyId, atMs]) => ({
      seq: s,
      kind,
      body,
      keyId,
      atMs,
    }),
  );
}

/** What the users and states in force are built from, read at start in one consistent view. */
export interface LiveBase {
  readonly users: PgUsers;
  /** The profile version the records start from: the last one imported, else the one in force. */
  readonly version: number;
  readonly sha256: string;
  /** Its text, unless it is the file's own (same SHA-256): the caller parses the file instead. */
  readonly text: string | null;
  /** The record that imported it; 0 when no record did. */
  readonly afterSeq: number;
  /** The user and subscription records since, in log order. */
  readonly changes: readonly StoredChange[];
  /** The number of the last record: the version of the users and states in force. */
  readonly lastSeq: number;
  readonly openPositions: number;
}

export const USER_CHANGE_KINDS = ['user-put', 'user-delete', 'subscription-put', 'subscription-delete'];

/**
 * Reads the users in force's makings under the shared live lock, so that no change commits midway;
 * the lock is taken by a statement of its own first, and every read after it sees what committed
 * before it was granted. Loads the states into `states`.
 */
export async function loadLiveBase(
  client: pg.ClientBase,
  fileSha256: string,
  states: GateStates,
): Promise<LiveBase> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock_shared(${LIVE_LOCK_KEY})`);
    const lastImport = await client.query<{ seq: number; body: string }>(
      "SELECT seq, body FROM changes WHERE kind = 'import' ORDER BY seq DESC LIMIT 1",
    );
    const imported = lastImport.rows[0];
    const version =
      imported === undefined
        ? (
            await client.query<{ version: number }>(
              'SELECT current_profile_version AS version FROM ordergate_schema WHERE id = 1',
            )
          ).rows[0]!.version
        : (JSON.parse(imported.body) as { profile_version: number }).profile_version;
    const stored = await client.query<{ sha256: string; text: string | null }>(
      'SELECT sha256, CASE WHEN sha256 = $2 THEN NULL ELSE profile END AS text FROM profile_versions WHERE version = $1',
      [version, fileSha256],
    );
    const afterSeq = imported?.seq ?? 0;
    const changes = await changesAfter(client, afterSeq, USER_CHANGE_KINDS);
    const users = new PgUsers();
    const all = await client.query({ text: 'SELECT user_id, name FROM users', rowMode: 'array' });
    for (const [userId, name] of all.rows as [number, string][]) users.add(userId, name);
    await loadStates(client, states);
    const last = await client.query<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM changes');
    const open = await client.query<{ count: number }>('SELECT count(*)::integer AS count FROM positions');
    await client.query('COMMIT');
    return {
      users,
      version,
      sha256: stored.rows[0]!.sha256,
      text: stored.rows[0]!.text,
      afterSeq,
      changes,
      lastSeq: last.rows[0]!.seq,
      openPositions: open.rows[0]!.count,
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** The states in force, as the table keeps them. */
async function loadStates(client: pg.ClientBase, states: GateStates): Promise<void> {
  const rows = await client.query({
    text: 'SELECT scope, target, state, reason, seq, at_ms, key_id, until_ms FROM states',
    rowMode: 'array',
  });
  loadStateRows(states, rows.rows as unknown as StateRow[]);
}
