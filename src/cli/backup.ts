// `ordergate backup PATH`: a consistent online copy of the database.

import { resolve } from 'node:path';
import { type DatabaseConfig, redactUrl } from '../config.js';
import { backupPostgres } from '../store/postgres/backup.js';
import { backupSqlite } from '../store/sqlite/backup.js';
import { databaseOf, helpRequested, parseFlags, UsageError, withUsage } from './args.js';

export const BACKUP_HELP = `Usage: ordergate backup PATH [--database-url URL]

Writes a consistent copy of the database to PATH (a new file) while the server keeps running,
then checks the copy. To restore: stop the server, copy the backup over the database file, remove
its -wal and -shm files, start the server, and run ordergate check.

With DATABASE_URL=postgres://… the copy is made by pg_dump (custom format, a consistent snapshot
while instances keep running) and read back with pg_restore --list. Restore it into an empty
database with: pg_restore --no-owner --dbname postgres://…/NEWDB PATH, then ordergate check.

Options:
  --database-url URL  the database to copy [DATABASE_URL, default sqlite:./data/ordergate.db]
  -h, --help          show this help

Exit codes: 0 when the copy is written and checked, 1 if it could not be, 2 for a bad option.`;

export async function runBackup(argv: string[]): Promise<number> {
  return withUsage('backup', BACKUP_HELP, async () => {
    const { values, positionals } = parseFlags(argv, { 'database-url': { type: 'string' } }, true);
    helpRequested(values);
    if (positionals.length !== 1) throw new UsageError('name exactly one PATH to write the copy to');
    return backup(databaseOf(values), resolve(positionals[0]!));
  });
}

async function backup(database: DatabaseConfig, destination: string): Promise<number> {
  const started = Date.now();
  if (database.kind === 'postgres') return backupWithPgDump(database.url, destination, started);
  const source = database.path;
  try {
    const report = backupSqlite(source, destination);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `backup of ${source} written to ${destination}: ${report.bytes} bytes, ${report.orders} orders, ` +
        `${report.openPositions} open positions, checked (${seconds} s)`,
    );
    return 0;
  } catch (error) {
    console.error(`ordergate backup: ${(error as Error).message}`);
    return 1;
  }
}

function backupWithPgDump(url: string, destination: string, started: number): number {
  try {
    const report = backupPostgres(url, destination);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `backup of ${redactUrl(url)} written by pg_dump to ${destination}: ${report.bytes} bytes, ` +
        `${report.tables} tables, read back with pg_restore --list (${seconds} s)`,
    );
    return 0;
  } catch (error) {
    console.error(`ordergate backup: ${(error as Error).message}`);
    return 1;
  }
}
