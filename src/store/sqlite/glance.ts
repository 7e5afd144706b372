// The SQLite side of the glance (store/glance.ts): a read-only connection, which neither creates the
// file nor checkpoints it on close, so a start refused after it leaves the file's bytes as they were.

import { existsSync } from 'node:fs';
import { type DatabaseGlance, NEW_DATABASE } from '../glance.js';
import { openConnection } from './connection.js';

function storedText(path: string, version: number): string {
  const db = openConnection(path, { readonly: true });
  try {
    return db
      .prepare('SELECT profile FROM profile_versions WHERE version = ?')
      .pluck()
      .get(version) as string;
  } finally {
    db.close();
  }
}

export function glanceSqlite(path: string): DatabaseGlance {
  if (!existsSync(path)) return NEW_DATABASE;
  const db = openConnection(path, { readonly: true });
  try {
    const tables = new Set(
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[],
    );
    const latest = tables.has('profile_versions')
      ? (db
          .prepare('SELECT version, loaded_at_ms FROM profile_versions ORDER BY version DESC LIMIT 1')
          .raw()
          .get() as [number, number] | undefined)
      : undefined;
    const hasKeys =
      tables.has('api_keys') && db.prepare('SELECT EXISTS (SELECT 1 FROM api_keys)').pluck().get() === 1;
    const profileInForce =
      latest === undefined
        ? null
        : { version: latest[0], loadedAtMs: latest[1], read: async () => storedText(path, latest[0]) };
    return { profileInForce, hasKeys };
  } finally {
    db.close();
  }
}
