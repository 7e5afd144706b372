// Stores the profile in PostgreSQL: its users (ids shared by every instance), the file's text as a
// version named by its SHA-256, and the subscriptions of the version last started. Runs under the
// schema row's lock, so instances starting together do it one at a time.

import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Profile } from '../../domain/profile.js';

/** Rows per INSERT … SELECT unnest(…): a profile of 100,000 users has millions of subscriptions. */
const ROWS_PER_STATEMENT_MAX = 50_000;

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

  /** Reads the names of user ids this instance has not seen (added by another instance's profile). */
  async learn(client: pg.ClientBase, userIds: Iterable<number>): Promise<void> {
    const unknown = [...userIds].filter((id) => this.names[id] === undefined);
    if (unknown.length === 0) return;
    const rows = await client.query<{ user_id: number; name: string }>(
      'SELECT user_id, name FROM users WHERE user_id = ANY($1::integer[])',
      [unknown],
    );
    for (const row of rows.rows) this.add(row.user_id, row.name);
  }
}

export interface SyncedProfile {
  readonly version: number;
  readonly created: boolean;
  readonly users: PgUsers;
}

export async function syncProfilePostgres(
  client: pg.ClientBase,
  profile: Profile,
  text: string,
  nowMs: number,
): Promise<SyncedProfile> {
  const digest = createHash('sha256').update(text).digest('hex');
  await client.query('BEGIN');
  try {
    const schema = await client.query<{ current_profile_version: number | null }>(
      'SELECT current_profile_version FROM ordergate_schema WHERE id = 1 FOR UPDATE',
    );
    const names = profile.map((entry) => entry.user);
    for (let i = 0; i < names.length; i += ROWS_PER_STATEMENT_MAX) {
      // Only new names: a conflicting insert would still draw an id, one per user at every start.
      await client.query(
        `INSERT INTO users (name) SELECT n FROM unnest($1::text[]) AS n
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.name = n) ON CONFLICT (name) DO NOTHING`,
        [names.slice(i, i + ROWS_PER_STATEMENT_MAX)],
      );
    }
    const users = new PgUsers();
    const all = await client.query({ text: 'SELECT user_id, name FROM users', rowMode: 'array' });
    for (const [userId, name] of all.rows as [number, string][]) users.add(userId, name);
    let created = false;
    let version = (
      await client.query<{ version: number }>('SELECT version FROM profile_versions WHERE sha256 = $1', [
        digest,
      ])
    ).rows[0]?.version;
    if (version === undefined) {
      created = true;
      version = (
        await client.query<{ version: number }>(
          'INSERT INTO profile_versions (sha256, loaded_at_ms, profile) VALUES ($1, $2, $3) RETURNING version',
          [digest, nowMs, text],
        )
      ).rows[0]!.version;
    }
    if (schema.rows[0]!.current_profile_version !== version) {
      await replaceSubscriptions(client, profile, users);
      await client.query('UPDATE ordergate_schema SET current_profile_version = $1 WHERE id = 1', [version]);
    }
    await client.query('COMMIT');
    return { version, created, users };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function replaceSubscriptions(client: pg.ClientBase, profile: Profile, users: PgUsers): Promise<void> {
  await client.query('DELETE FROM subscriptions');
  let userIds: number[] = [];
  let strategies: string[] = [];
  let instruments: string[] = [];
  const flush = async () => {
    if (userIds.length === 0) return;
    await client.query(
      `INSERT INTO subscriptions (user_id, strategy, instrument)
       SELECT * FROM unnest($1::integer[], $2::text[], $3::text[])`,
      [userIds, strategies, instruments],
    );
    userIds = [];
    strategies = [];
    instruments = [];
  };
  for (const { user, subscriptions } of profile) {
    const userId = users.idOf.get(user)!;
    for (const { strategy, instruments: list } of subscriptions) {
      for (const instrument of list) {
        userIds.push(userId);
        strategies.push(strategy);
        instruments.push(instrument);
      }
    }
    if (userIds.length >= ROWS_PER_STATEMENT_MAX) await flush();
  }
  await flush();
  // Every book the profile can trade gets its lock row now, so that orders find it there.
  await client.query(
    'INSERT INTO books (strategy, instrument) SELECT DISTINCT strategy, instrument FROM subscriptions ON CONFLICT DO NOTHING',
  );
}
