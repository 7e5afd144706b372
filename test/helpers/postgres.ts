// A real PostgreSQL for the tests: the machine's server at 127.0.0.1:5432 (or ORDERGATE_TEST_PG),
// started if it is down, and a fresh database per test that is dropped when the test ends.

import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import test, { type TestContext, type TestOptions } from 'node:test';
import pg from 'pg';
import { waitFor } from './wait.js';

const ADMIN_URL = process.env.ORDERGATE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** How long the machine's cluster may take to accept connections once started. */
const POSTGRES_START_TIMEOUT_MS = 30_000;

/** Which store the e2e tests run on; the files under test/e2e/postgres set it to 'postgres'. */
export function testStore(): 'sqlite' | 'postgres' {
  return process.env.ORDERGATE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

let started: Promise<void> | null = null;

/** Connects once; if PostgreSQL is down, starts the machine's cluster (as CI does) and tries again. */
export function ensurePostgres(): Promise<void> {
  started ??= (async () => {
    try {
      await adminQuery('SELECT 1');
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'ECONNREFUSED' && code !== '57P03') throw error;
    }
    const versions = readdirSync('/etc/postgresql');
    for (const version of versions) {
      execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], {
        stdio: 'ignore',
      });
    }
    await waitFor(
      `PostgreSQL up at ${ADMIN_URL} after pg_ctlcluster start`,
      async () => {
        await adminQuery('SELECT 1');
        return true;
      },
      POSTGRES_START_TIMEOUT_MS,
    );
  })();
  return started;
}

/** The URL of a database of this name, creating it if it does not exist. */
export async function createDatabase(name: string): Promise<string> {
  await ensurePostgres();
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad test database name ${name}`);
  try {
    await adminQuery(`CREATE DATABASE ${name}`);
  } catch (error) {
    if ((error as { code?: string }).code !== '42P04') throw error; // already exists
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(name: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/** A database name unique to this test process and call. */
export function uniqueDatabaseName(prefix = 'ordergate_test'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
}

/**
 * Registers a test that only makes sense on one store (a SQLite file's corruption, pg_dump): on the
 * other store it does not exist, rather than being skipped, and its name says which store it is for.
 */
export function testOn(
  store: 'sqlite' | 'postgres',
  name: string,
  options: TestOptions,
  fn: (t: TestContext) => Promise<void>,
): void {
  if (testStore() !== store) return;
  test(`${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'} only: ${name}`, options, fn);
}
