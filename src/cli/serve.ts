// `ordergate serve`: reads the configuration, loads the profile (generating one if missing),
// opens the store, listens, and on SIGTERM or SIGINT drains and closes cleanly.

import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type Config, ConfigError, loadConfig, parseServeArgs, redactUrl, SETTINGS } from '../config.js';
import { CaseHints } from '../domain/case-hints.js';
import { type Profile, ProfileError, parseProfile } from '../domain/profile.js';
import { parseUniverse } from '../domain/universe.js';
import { createGate } from '../gate.js';
import { buildApp } from '../http/app.js';
import { OPEN_MODE_WARNING } from '../http/auth.js';
import { createLogs, type Logs } from '../logger.js';
import { openStore } from '../store/open.js';
import { PgSchemaError } from '../store/postgres/migrations.js';
import { SchemaError } from '../store/sqlite/migrations.js';
import { DatabaseInUseError } from '../store/sqlite/owner.js';
import type { Store } from '../store/store.js';
import { writeProfile } from './generate.js';

/**
 * After SIGTERM or SIGINT, orders in flight get this long to commit and be answered; any still
 * unanswered then gets 503 (saying whether it may yet commit), and the server stops.
 */
export const SHUTDOWN_DRAIN_MS = 10_000;
/** How long those 503 answers, and any other request in progress, get to be written before sockets close. */
const SHUTDOWN_ANSWER_MS = 1000;
/** How long the store gets to close (its writer may be waiting on a locked or stalled disk). */
const STORE_CLOSE_MS = 2000;

/** How long a stopped server may take to end by itself before it is made to (a thread stuck on the disk). */
const EXIT_WATCHDOG_MS = 500;

/** The seed's generator made profiles of 3 users. */
const GENERATED_USERS = 3;

/** The flags' column in the help, as wide as the longest flag. */
const FLAG_WIDTH = Math.max(...Object.values(SETTINGS).map((s) => s.flag.length));

export const SERVE_HELP = `Usage: ordergate serve [options]

Starts the order gate's HTTP API. Every option can also be set in the environment under the
name in brackets; a flag wins over the environment.

Options:
${Object.values(SETTINGS)
  .map((s) => `  --${s.flag.padEnd(FLAG_WIDTH)} ${s.help} [${s.env}, default ${s.fallback}]`)
  .join('\n')}
  ${'-h, --help'.padEnd(FLAG_WIDTH + 2)} show this help

A SQLite database has one owner: a second server (or ordergate keys create or revoke) on a file a
server runs on is refused at start, naming the process that holds it; check, backup and keys list
work beside it. PostgreSQL is shared by any number of servers.

Exit codes: 0 after a clean shutdown, 1 if the database cannot be opened, 2 for a bad option,
configuration value or profile, or a SQLite database another process owns.`;

/** What to do when the SQLite file already has an owner. */
const IN_USE_ADVICE =
  'stop that process first, or start this server with a DATABASE_URL of its own (PostgreSQL is the store that several servers share)';

export async function runServe(argv: string[]): Promise<number> {
  let config: Config;
  try {
    const { values } = parseServeArgs(argv);
    if (values.help === true) {
      console.log(SERVE_HELP);
      return 0;
    }
    config = loadConfig(values, process.env);
  } catch (error) {
    if (error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`ordergate serve: ${(error as Error).message} (see ordergate serve --help)`);
      return 2;
    }
    throw error;
  }
  const logs = createLogs(config.logDir, {
    terminal: true,
    fileBytesMax: config.logFileBytesMax,
    filesMax: config.logFilesMax,
  });
  try {
    return await serve(config, logs);
  } finally {
    logs.flush();
    // Everything is closed by now and the process normally ends by itself; a handle left behind (a log
    // file on a full disk) must not keep a stopped server alive.
    setTimeout(() => process.exit(), EXIT_WATCHDOG_MS).unref();
  }
}

async function serve(config: Config, logs: Logs): Promise<number> {
  const { logger } = logs;
  const signal = nextSignal();
  let profile: { profile: Profile; text: string };
  try {
    profile = await loadProfile(config, logs);
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    logger.error(`the profile was refused, nothing was started: ${error.message}`);
    return 2;
  }
  let store: Store;
  try {
    store = await openStore(config.database, {
      profile: profile.profile,
      profileText: profile.text,
      logger,
      ordersInFlightMax: config.ordersInFlightMax,
    });
  } catch (error) {
    if (error instanceof DatabaseInUseError) {
      logger.error(`not started, nothing was written: ${error.message}; ${IN_USE_ADVICE}`);
      return 2;
    }
    logger.error(`cannot open the database: ${describeOpenFailure(config, error)}`);
    return 1;
  }
  logs.identify({ store: store.kind, databaseId: store.databaseId });
  const version = readVersion();
  let draining = false;
  const app = await buildApp({
    gate: createGate(store, logs.logOrder, new CaseHints(profile.profile)),
    store,
    logger,
    version,
    draining: () => draining,
    keyRequestsPerSecondMax: config.keyRequestsPerSecondMax,
  });
  if (!(await store.keys.hasKeys())) logger.warn(OPEN_MODE_WARNING);
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    logger.error(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
    await store.close();
    return 1;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info(
    {
      port,
      host: config.host,
      store: redactUrl(config.databaseUrl),
      databaseId: store.databaseId,
      users: profile.profile.length,
      openPositions: store.openPositions,
      version,
    },
    `ordergate listening on http://${config.host}:${port} (database ${store.databaseId}, API docs at /docs)`,
  );
  const received = await signal;
  draining = true;
  logger.info(
    { signal: received, ordersInFlight: store.readiness().ordersInFlight },
    `shutting down: the orders in flight get ${SHUTDOWN_DRAIN_MS / 1000} s to commit`,
  );
  const stopped = await drain(app, store, logger);
  logger.info(stopped ? 'stopped cleanly' : 'stopped without waiting for the store any longer');
  return 0;
}

/**
 * Stops listening and taking orders, and answers every request in flight within a bound: orders get
 * SHUTDOWN_DRAIN_MS to commit, then the store fails what is left (503), the answers get
 * SHUTDOWN_ANSWER_MS to go out, the connections are closed, and the store gets STORE_CLOSE_MS more to
 * close. False if it did not.
 */
async function drain(app: FastifyInstance, store: Store, logger: Logger): Promise<boolean> {
  const started = performance.now();
  const since = () => Math.round(performance.now() - started);
  const closed = app.close();
  // The store stops taking orders too, finishes those it has, and closes: a fault meanwhile is not
  // recovered from (that would only hold the exit).
  const storeClosed = store.close();
  if (await within(Promise.all([closed, storeClosed]), SHUTDOWN_DRAIN_MS)) {
    logger.info({ ms: since() }, 'every request answered and the store closed');
    return true;
  }
  const left = store.readiness().ordersInFlight;
  store.abandon(
    `the server stopped after ${SHUTDOWN_DRAIN_MS / 1000} s of draining, before the order was committed`,
  );
  logger.warn({ ms: since(), orders: left }, 'drain time over: the orders still in flight are answered 503');
  await within(closed, SHUTDOWN_ANSWER_MS);
  app.server.closeAllConnections();
  await closed;
  if (await within(storeClosed, STORE_CLOSE_MS)) return true;
  logger.warn({ ms: since() }, `the store did not close within ${STORE_CLOSE_MS / 1000} s more`);
  return false;
}

/** Whether the promise settles within ms (it goes on either way). */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([done, late]).finally(() => clearTimeout(timer));
}

async function loadProfile(config: Config, logs: Logs): Promise<{ profile: Profile; text: string }> {
  if (!existsSync(config.profilePath)) {
    const universe = parseUniverse(await readFile(config.universePath, 'utf8'), config.universePath);
    const seed = Math.floor(Math.random() * 2 ** 31);
    await writeProfile(config.profilePath, universe, { users: GENERATED_USERS, seed });
    logs.logger.warn(
      `no profile at ${config.profilePath}: generated one with the seed's defaults (${GENERATED_USERS} users, seed ${seed}); ` +
        'npm run generate -- --help makes others',
    );
  }
  let text: string;
  try {
    text = await readFile(config.profilePath, 'utf8');
  } catch (error) {
    throw new ProfileError(`${config.profilePath}: cannot read it (${(error as Error).message})`);
  }
  return { profile: parseProfile(text, config.profilePath), text };
}

/**
 * Installed before anything starts: a signal that arrives while the server is still starting must not
 * meet Node's default action (an abrupt exit) but wait for the start to finish and then drain.
 */
function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
}

function readVersion(): string {
  const path = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

function describeOpenFailure(config: Config, error: unknown): string {
  if (error instanceof SchemaError || error instanceof PgSchemaError) return error.message;
  if (config.database.kind === 'postgres') {
    const url = redactUrl(config.database.url);
    return `${url}: ${(error as Error).message}. Is PostgreSQL running and does the database exist (createdb)?`;
  }
  const path = config.database.path;
  const code = (error as { code?: string }).code;
  const message = (error as Error).message;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return `${path} is not a usable SQLite database (${message}). It was left untouched: restore it from a backup (ordergate backup) or move it away to start an empty one`;
  }
  return `${path}: ${message}`;
}
