// `ordergate backup PATH`: a consistent online copy of the database.

import { accessSync, constants, existsSync, type Stats, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type DatabaseConfig, redactUrl } from '../config.js';
import { backupPostgres } from '../store/postgres/backup.js';
import { backupSqlite } from '../store/sqlite/backup.js';
import { databaseOf, helpRequested, parseFlags, UsageError, withUsage } from './args.js';

export const BACKUP_HELP = `Usage: ordergate backup PATH [--database-url URL]

Writes a consistent copy of the database to PATH while the server keeps running, then checks the
copy. PATH must be a new file in a folder that exists: a backup never overwrites and creates no
folder. To restore: stop the server, copy the backup over the database file, remove its -wal and
-shm files, start the server, and run ordergate check.

With DATABASE_URL=postgres://… the copy is made by pg_dump (custom format, a consistent snapshot
while instances keep running) and read back with pg_restore --list. Restore it into an empty
database with: pg_restore --no-owner --dbname postgres://…/NEWDB PATH, then ordergate check.

Options:
  --database-url URL  the database to copy [DATABASE_URL, default sqlite:./data/ordergate.db]
  -h, --help          show this help

Exit codes: 0 when the copy is written and checked, 1 if it could not be, 2 for a bad option or a
PATH that cannot be written (it exists, or its folder does not or is not writable).`;

export async function runBackup(argv: string[]): Promise<number> {
  return withUsage('backup', BACKUP_HELP, async () => {
    const { values, positionals } = parseFlags(argv, { 'database-url': { type: 'string' } }, true);
    helpRequested(values);
    if (positionals.length !== 1) throw new UsageError('name exactly one PATH to write the copy to');
    const database = databaseOf(values);
    const destination = resolve(positionals[0]!);
    const problem = destinationProblem(destination);
    if (problem !== undefined) {
      console.error(`ordergate backup: ${problem}; nothing was written`);
      return 2;
    }
    return backup(database, destination);
  });
}

/**
 * Why the copy cannot be written at `destination`. A missing folder is not created: a mistyped folder
 * would put the backup where nobody looks for it, and the fix (mkdir -p) is one command.
 */
function destinationProblem(destination: string): string | undefined {
  if (existsSync(destination))
    return `${destination} already exists: choose a new path; a backup never overwrites`;
  const folder = dirname(destination);
  let stats: Stats;
  try {
    stats = statSync(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return `the folder ${folder} does not exist: create it first (mkdir -p ${folder}), or choose a PATH in a folder that exists`;
    if (code === 'ENOTDIR')
      return `${folder} is not a folder (a file is on its path): choose a PATH in a folder`;
    return `the folder ${folder} cannot be read (${code ?? (error as Error).message})`;
  }
  if (!stats.isDirectory()) return `${folder} is a file, not a folder: choose a PATH in a folder`;
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return `the folder ${folder} cannot be written (${code}): choose a PATH in a folder this user may write`;
  }
  return undefined;
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
