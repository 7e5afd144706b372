// Opens the SQLite file the way every connection of ours must see it: WAL, and commits that return
// only after fsync (synchronous=FULL), so an acknowledged order survives kill -9 and power loss.

import Database from 'better-sqlite3';

export const BUSY_TIMEOUT_MS = 5000;

export interface ConnectionOptions {
  readonly readonly?: boolean;
  /** Refuse to create the file: a database that vanished must be restored, never silently recreated. */
  readonly mustExist?: boolean;
}

export function openConnection(path: string, options: ConnectionOptions = {}): Database.Database {
  const readonly = options.readonly ?? false;
  const db = new Database(path, { readonly, fileMustExist: readonly || (options.mustExist ?? false) });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  if (options.readonly) return db;
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new Error(`${path}: could not switch to WAL mode (got ${String(mode)})`);
  db.pragma('synchronous = FULL');
  return db;
}
