// A real PostgreSQL for the tests, and a fresh database per test that is dropped when the test ends.
// Which server: ORDERGATE_TEST_PG if set, else the machine's at 127.0.0.1:5432 (started with Debian's
// pg_ctlcluster if it is installed but down, as CI's .ci/run does). Where none is reachable, outside
// CI, the test process starts one of its own (embedded-postgres.ts), so that npm test passes on a
// machine without PostgreSQL; in CI (CI=true) that is a failure: CI tests the machine's server.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import test, { type TestContext, type TestOptions } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { hasCommand, inCi } from './prerequisites.js';
import { waitFor } from './wait.js';

const CONFIGURED_URL = process.env.ORDERGATE_TEST_PG;
const MACHINE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
/** How long the machine's cluster may take to accept connections once started. */
const POSTGRES_START_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5000;
/** Errors that mean nothing accepts connections there (yet): any other is a real problem, reported. */
const NOT_REACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', '57P03']);

/** Which store the e2e tests run on; the files under test/e2e/postgres set it to 'postgres'. */
export function testStore(): 'sqlite' | 'postgres' {
  return process.env.ORDERGATE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
}

async function query(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function reachable(adminUrl: string): Promise<boolean> {
  try {
    await query(adminUrl, 'SELECT 1');
    return true;
  } catch (error) {
    // Several addresses for a host name: an AggregateError of one error per address.
    const failure = error as { code?: string; errors?: Array<{ code?: string }> };
    const code = failure.code ?? failure.errors?.[0]?.code;
    if (code !== undefined && NOT_REACHABLE.has(code)) return false;
    // pg reports its own connection timeout without a code.
    if (/timeout/i.test((error as Error).message)) return false;
    throw error;
  }
}

/** The machine's clusters (Debian's postgresql-common), started if they are down. */
async function startMachineClusters(): Promise<boolean> {
  if (!existsSync('/etc/postgresql') || !hasCommand('pg_ctlcluster')) return false;
  let started = 0;
  for (const version of readdirSync('/etc/postgresql')) {
    try {
      execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], {
        stdio: 'ignore',
      });
      started++;
    } catch {
      // Not startable here (not root, or broken): no reason to wait for it.
    }
  }
  if (started === 0) return false;
  try {
    await waitFor(
      `PostgreSQL up at ${MACHINE_URL} after pg_ctlcluster start`,
      () => reachable(MACHINE_URL),
      POSTGRES_START_TIMEOUT_MS,
    );
    return true;
  } catch {
    return false;
  }
}

async function findOrStartPostgres(): Promise<string> {
  const url = CONFIGURED_URL ?? MACHINE_URL;
  if (await reachable(url)) return url;
  if (CONFIGURED_URL === undefined && (await startMachineClusters())) return url;
  if (inCi()) {
    throw new Error(
      `no PostgreSQL at ${url}: in CI (CI=${process.env.CI}) the tests use the machine's, which .ci/run starts; ` +
        'outside CI they would start one of their own',
    );
  }
  const embedded = await startEmbeddedPostgres();
  // Once per test process, so that a run says which server its PostgreSQL suites ran on.
  process.stderr.write(`no PostgreSQL at ${url}: this test process started its own at ${embedded}\n`);
  return embedded;
}

let adminUrl: Promise<string> | null = null;

/** The admin URL (database postgres) of the server the tests use: found, or started, once per process. */
export function ensurePostgres(): Promise<string> {
  adminUrl ??= findOrStartPostgres();
  return adminUrl;
}

async function adminQuery(sql: string): Promise<void> {
  await query(await ensurePostgres(), sql);
}

/** The URL of a database of this name, creating it if it does not exist. */
export async function createDatabase(name: string): Promise<string> {
  const admin = await ensurePostgres();
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`bad test database name ${name}`);
  try {
    await adminQuery(`CREATE DATABASE ${name}`);
  } catch (error) {
    if ((error as { code?: string }).code !== '42P04') throw error; // already exists
  }
  const url = new URL(admin);
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
