// The PostgreSQL side of the glance (store/glance.ts): reads only, on a connection of its own. The
// profile in force is the version the schema row names: the one the last instance to start synced.

import { type DatabaseGlance, NEW_DATABASE } from '../glance.js';
import { connectForStart } from './connection.js';

async function storedText(url: string, version: number): Promise<string> {
  const client = await connectForStart(url);
  try {
    const stored = await client.query<{ profile: string }>(
      'SELECT profile FROM profile_versions WHERE version = $1',
      [version],
    );
    return stored.rows[0]!.profile;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function glancePostgres(url: string): Promise<DatabaseGlance> {
  const client = await connectForStart(url);
  try {
    const tables = await client.query<{ schema: boolean; versions: boolean; keys: boolean }>(
      `SELECT to_regclass('ordergate_schema') IS NOT NULL AS schema,
              to_regclass('profile_versions') IS NOT NULL AS versions,
              to_regclass('api_keys') IS NOT NULL AS keys`,
    );
    const { schema, versions, keys } = tables.rows[0]!;
    if (!schema) return NEW_DATABASE;
    const inForce = versions
      ? await client.query<{ version: number; loaded_at_ms: number }>(
          `SELECT p.version, p.loaded_at_ms
           FROM ordergate_schema s JOIN profile_versions p ON p.version = s.current_profile_version
           WHERE s.id = 1`,
        )
      : undefined;
    const anyKey = keys
      ? (await client.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM api_keys) AS any')).rows[0]!.any
      : false;
    const row = inForce?.rows[0];
    const profileInForce =
      row === undefined
        ? null
        : { version: row.version, loadedAtMs: row.loaded_at_ms, read: () => storedText(url, row.version) };
    return { profileInForce, hasKeys: anyKey };
  } finally {
    await client.end().catch(() => {});
  }
}
