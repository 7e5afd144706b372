// The PostgreSQL connection pool, with the settings that keep a fault from hanging or killing the
// process: a partition or a stalled server hangs a query silently for minutes unless the client
// times it out; an idle connection the server drops emits 'error' on the pool, which without a
// handler ends the process.

import pg from 'pg';
import { redactUrl } from '../../config.js';

/** Only the client's own timeout ends a query stuck on a dead connection. */
export const QUERY_TIMEOUT_MS = 10_000;
/**
 * The server ends a statement first, with an error of its own (57014): orders queued on one busy book
 * wait for each other's lock in turn, each wait with its own lock timeout, and a long wait must be told
 * apart from a lost connection, which only the client's timeout above can end.
 */
const STATEMENT_TIMEOUT_MS = 8_000;
/** How long an order may wait for its book's row lock before it gets a 503 instead. */
const LOCK_TIMEOUT_MS = 5_000;
/** A stalled instance (kill -STOP) releases its book locks after this long. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 3_000;
const KEEPALIVE_DELAY_MS = 2_000;

export interface PoolOptions {
  readonly url: string;
  readonly poolMax: number;
  readonly logger: PoolLogger;
  readonly applicationName?: string;
}

// Ids and epoch milliseconds are bigint columns; every value they hold is far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

const START_CONNECT_TIMEOUT_MS = 5000;

/**
 * A connection for migrations and the profile, without the pool's timeouts: a second instance (or
 * `ordergate keys`) starting beside one that syncs a large profile waits for it rather than failing.
 */
export async function connectForStart(url: string, applicationName = 'ordergate start'): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: START_CONNECT_TIMEOUT_MS,
    application_name: applicationName,
  });
  client.on('error', () => {}); // a failure surfaces in the query that meets it
  await client.connect();
  return client;
}

/** For a command rather than the server: an idle connection lost is said on stderr. */
export const stderrPoolLogger: PoolLogger = { warn: (_fields, message) => console.error(message) };

/** Where the pool reports an idle connection it lost: the server's logger, or stderr for a command. */
export interface PoolLogger {
  warn(fields: object, message: string): void;
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    lock_timeout: LOCK_TIMEOUT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    application_name: options.applicationName ?? 'ordergate',
  });
  // An idle connection dropped by the server (a restart, pg_terminate_backend) is only logged: the
  // pool replaces it, and the next query that fails says so where it matters.
  pool.on('error', (error) => {
    options.logger.warn(
      { err: { message: error.message, code: (error as { code?: string }).code } },
      `an idle PostgreSQL connection to ${redactUrl(options.url)} failed; the pool replaces it`,
    );
  });
  // The pool listens for 'error' only on idle clients: a connection that drops while an order holds
  // its client (pool.connect()) emits 'error' with no listener, which ends the process. Every client
  // gets one for life. The statement in flight fails with the same error, and that is where it is
  // answered (a 503); a client that failed is no longer queryable, so the pool discards it on release.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

/** Errors that mean the connection or the server failed, not the statement: the order was not applied. */
export function isConnectionFault(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? '';
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('57P') || // admin shutdown, crash shutdown, cannot connect now
    code === '53300' || // too many connections
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === 'EPIPE' ||
    // The client's own errors carry no SQLSTATE; a server's lock or statement timeout (55P03, 57014)
    // is an answer from a healthy server, not a lost connection.
    (!/^[0-9A-Z]{5}$/.test(code) &&
      // Not pg-pool's "timeout exceeded when trying to connect": that is a pool busy with orders.
      /Connection terminated|Query read timeout|connection timeout|timeout expired|not queryable/i.test(
        message,
      ))
  );
}

export function describePgError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = (error as Error).message ?? String(error);
  return code === undefined ? message : `${code}: ${message}`;
}
