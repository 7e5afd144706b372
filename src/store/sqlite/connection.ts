// Opens the SQLite file the way every connection of ours must see it: WAL, and commits that return
// only after fsync (synchronous=FULL), so an acknowledged order survives kill -9 and power loss.

import Database from 'better-sqlite3';

export const BUSY_TIMEOUT_MS = 5000;

export function openConnection(path: string, options: { readonly?: boolean } = {}): Database.Database {
  const db = new Database(path, {
    readonly: options.readonly ?? false,
    fileMustExist: options.readonly ?? false,
  });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  if (options.readonly) return db;
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`${path}: could not switch to WAL mode (got ${String(mode)})`);
  db.pragma('synchronous = FULL');
  return db;
}
