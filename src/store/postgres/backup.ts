// `ordergate backup` for PostgreSQL defers to pg_dump, which takes a consistent snapshot while
// instances keep writing; the archive is then listed with pg_restore to check it can be read.

import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

/** pg_dump of a large book takes a while, but a hung dump must end. */
const DUMP_TIMEOUT_MS = 30 * 60 * 1000;

export interface PgBackupReport {
  readonly bytes: number;
  readonly tables: number;
}

export function backupPostgres(url: string, destination: string): PgBackupReport {
  if (existsSync(destination))
    throw new Error(`${destination} already exists: a backup never overwrites a file`);
  const dump = spawnSync(
    'pg_dump',
    ['--format=custom', '--no-owner', '--file', destination, '--dbname', url],
    {
      encoding: 'utf8',
      timeout: DUMP_TIMEOUT_MS,
    },
  );
  if (dump.error !== undefined) {
    const missing = (dump.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(
      missing
        ? 'pg_dump is not installed: install the PostgreSQL client (apt-get install postgresql-client)'
        : `pg_dump failed: ${dump.error.message}`,
    );
  }
  if (dump.status !== 0) throw new Error(`pg_dump failed (exit ${dump.status}): ${dump.stderr.trim()}`);
  const list = spawnSync('pg_restore', ['--list', destination], {
    encoding: 'utf8',
    timeout: DUMP_TIMEOUT_MS,
  });
  if (list.status !== 0) throw new Error(`the dump cannot be read back by pg_restore: ${list.stderr.trim()}`);
  const tables = list.stdout.split('\n').filter((line) => / TABLE DATA /.test(line)).length;
  return { bytes: statSync(destination).size, tables };
}
