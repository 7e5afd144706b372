// `ordergate backup` for the SQLite store: VACUUM INTO writes a consistent copy from one read
// snapshot while the server keeps committing (WAL readers do not block the writer), then the copy is
// checked before it is reported good.

import { existsSync, statSync } from 'node:fs';
import { openConnection } from './connection.js';

export interface BackupReport {
  readonly bytes: number;
  readonly orders: number;
  readonly openPositions: number;
}

export function backupSqlite(path: string, destination: string): BackupReport {
  if (!existsSync(path)) throw new Error(`${path}: no such database file`);
  if (existsSync(destination))
    throw new Error(`${destination} already exists: choose a new path; a backup never overwrites`);
  const source = openConnection(path, { readonly: true });
  try {
    source.prepare('VACUUM INTO ?').run(destination);
  } finally {
    source.close();
  }
  const copy = openConnection(destination, { readonly: true });
  try {
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok')
      throw new Error(`the copy at ${destination} failed its check (${String(check)}); keep the original`);
    return {
      bytes: statSync(destination).size,
      orders: copy.prepare('SELECT count(*) FROM orders').pluck().get() as number,
      openPositions: copy.prepare('SELECT count(*) FROM positions').pluck().get() as number,
    };
  } finally {
    copy.close();
  }
}
