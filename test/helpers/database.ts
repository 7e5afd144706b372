// A test's own hands on a database, SQLite file or PostgreSQL, for what only an operator (or an
// intruder) does behind ordergate's back: tamper with the book, set the schema version, count rows.
// The same SQL runs on both stores where their tables agree; the schema version lives in different
// places, so it has a function of its own.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createDatabase, dropDatabase, testStore, uniqueDatabaseName } from './postgres.js';

const CONNECT_TIMEOUT_MS = 5_000;

function sqlitePath(databaseUrl: string): string | undefined {
  return databaseUrl.startsWith('sqlite:') ? databaseUrl.slice('sqlite:'.length) : undefined;
}

async function withPostgres<T>(databaseUrl: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Runs statements (no parameters) in one transaction. */
export async function execSql(databaseUrl: string, ...statements: readonly string[]): Promise<void> {
  const path = sqlitePath(databaseUrl);
  if (path !== undefined) {
    const db = new Database(path);
    try {
      db.transaction(() => {
        for (const statement of statements) db.prepare(statement).run();
      })();
    } finally {
      db.close();
    }
    return;
  }
  await withPostgres(databaseUrl, async (client) => {
    await client.query('BEGIN');
    for (const statement of statements) await client.query(statement);
    await client.query('COMMIT');
  });
}

/** The first column of the first row of a query, as a number (a count). */
export async function queryNumber(databaseUrl: string, sql: string): Promise<number> {
  const path = sqlitePath(databaseUrl);
  if (path !== undefined) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return Number(db.prepare(sql).pluck().get());
    } finally {
      db.close();
    }
  }
  return withPostgres(databaseUrl, async (client) => {
    const result = await client.query({ text: sql, rowMode: 'array' });
    return Number(result.rows[0]?.[0]);
  });
}

/** The schema version ordergate recorded: PRAGMA user_version on SQLite, the ordergate_schema row on PostgreSQL. */
export function schemaVersion(databaseUrl: string): Promise<number> {
  if (sqlitePath(databaseUrl) !== undefined) return queryNumber(databaseUrl, 'PRAGMA user_version');
  return queryNumber(databaseUrl, 'SELECT version FROM ordergate_schema WHERE id = 1');
}

/** Records another schema version, as a newer ordergate would have. */
export async function setSchemaVersion(databaseUrl: string, version: number): Promise<void> {
  const path = sqlitePath(databaseUrl);
  if (path === undefined)
    return execSql(databaseUrl, `UPDATE ordergate_schema SET version = ${version} WHERE id = 1`);
  const db = new Database(path);
  try {
    db.pragma(`user_version = ${version}`);
  } finally {
    db.close();
  }
}

/**
 * Whether anything was stored at all: a SQLite file exists, or the PostgreSQL database has a table.
 * What a start-up refused before it opened the store must leave behind: nothing.
 */
export async function storedAnything(databaseUrl: string): Promise<boolean> {
  const path = sqlitePath(databaseUrl);
  if (path !== undefined) return existsSync(path);
  const tables = await queryNumber(
    databaseUrl,
    "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
  );
  return tables > 0;
}

/**
 * A DATABASE_URL of the test's own on the store the suite runs on: a file in `dir` on SQLite, a fresh
 * PostgreSQL database on PostgreSQL, dropped when the test ends.
 */
export async function ownDatabaseUrl(t: TestContext, dir: string): Promise<string> {
  if (testStore() === 'sqlite') return `sqlite:${join(dir, 'ordergate.db')}`;
  const name = uniqueDatabaseName();
  const url = await createDatabase(name);
  t.after(() => dropDatabase(name));
  return url;
}
