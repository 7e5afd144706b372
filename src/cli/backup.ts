// `ordergate backup PATH`: a consistent online copy of the database.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, databaseUrlFrom, parseDatabaseUrl } from '../config.js';
import { backupSqlite } from '../store/sqlite/backup.js';

export const BACKUP_HELP = `Usage: ordergate backup PATH [--database-url URL]

Writes a consistent copy of the database to PATH (a new file) while the server keeps running,
then checks the copy. To restore: stop the server, copy the backup over the database file, remove
its -wal and -shm files, start the server, and run ordergate check.

Options:
  --database-url URL  the database to copy [DATABASE_URL, default sqlite:./data/ordergate.db]
  -h, --help          show this help

Exit codes: 0 when the copy is written and checked, 1 if it could not be, 2 for a bad option.`;

export async function runBackup(argv: string[]): Promise<number> {
  let source: string;
  let destination: string;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { 'database-url': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      console.log(BACKUP_HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new ConfigError('name exactly one PATH to write the copy to');
    destination = resolve(positionals[0]!);
    source = parseDatabaseUrl(databaseUrlFrom(values['database-url'], process.env)).path;
  } catch (error) {
    if (error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`ordergate backup: ${(error as Error).message} (see ordergate backup --help)`);
      return 2;
    }
    throw error;
  }
  const started = Date.now();
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
