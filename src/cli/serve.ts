// `ordergate serve`: reads the configuration, checks its paths, looks at the database (read only),
// tries the port, chooses the profile (serve-profile.ts), opens the store, listens, and on SIGTERM or
// SIGINT drains and closes cleanly. Every refusal before the store is opened leaves it untouched.

import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import {
  type Config,
  ConfigError,
  loadConfig,
  OPEN_MODE_HOST,
  parseServeArgs,
  redactUrl,
  SETTINGS,
} from '../config.js';
import { ProfileError } from '../domain/profile.js';
import { createGate } from '../gate.js';
import { buildApp } from '../http/app.js';
import { createLogs, type Logs } from '../logger.js';
import { HolidaysError, readHolidays, scheduleSquareOff, TradingCalendar } from '../square-off.js';
import type { DatabaseGlance } from '../store/glance.js';
import { glanceAt, openStore } from '../store/open.js';
import { PgSchemaError } from '../store/postgres/migrations.js';
import { SchemaError } from '../store/sqlite/migrations.js';
import { DatabaseInUseError } from '../store/sqlite/owner.js';
import type { Store } from '../store/store.js';
import { readTickerAliases, TickerAliasesError } from './serve-aliases.js';
import { describeListenFailure, listenHost, openModeWarning, tryListening } from './serve-listen.js';
import { pathProblems } from './serve-paths.js';
import { chooseProfile, type LoadedProfile } from './serve-profile.js';
import { readVersion } from './version.js';

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

A PROFILE_PATH that is set must exist. Without one, if the default file is missing, the server
starts with the profile in force in the database, and only on a new database generates one.
While no API key exists (open mode) it listens on ${OPEN_MODE_HOST} only, unless HOST is set.

A SQLite database has one owner: a second server (or ordergate keys create or revoke) on a file a
server runs on is refused at start, naming the process that holds it; check, backup and keys list
work beside it. PostgreSQL is shared by any number of servers.

Exit codes: 0 after a clean shutdown; 1 if the database cannot be opened; 2 for what the user
fixes: a bad option or configuration value, a profile refused or missing, a path that cannot be
used (LOG_DIR, the database's folder, PROFILE_PATH), an address that cannot be listened on (a
port in use: nothing is written to the database then), or a SQLite database another process owns.`;

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
  const logs = openLogs(config);
  if (logs === undefined) return 2;
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
  const start = await prepareStart(config, logger);
  if (typeof start === 'number') return start;
  const { host, profile } = start;
  let calendar: TradingCalendar;
  let tickerAliases: ReturnType<typeof readTickerAliases>;
  try {
    calendar = new TradingCalendar(config.squareOff, readHolidays(config.squareOff.holidaysPath));
    tickerAliases = readTickerAliases(config.webhooks);
  } catch (error) {
    if (!(error instanceof HolidaysError || error instanceof TickerAliasesError)) throw error;
    logger.error(`not started, nothing was written: ${error.message}`);
    return 2;
  }
  let store: Store;
  try {
    store = await openStore(config.database, {
      profile: profile.profile,
      profileText: profile.text,
      logger,
      ordersInFlightMax: config.ordersInFlightMax,
      importProfile: config.importProfile,
      positionScope: config.positionScope,
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
    gate: createGate(store, logs.logOrder),
    store,
    logger,
    version,
    draining: () => draining,
    keyRequestsPerSecondMax: config.keyRequestsPerSecondMax,
    closeOnlyUntilAfterSquareOff: (nowMs) => calendar.closeOnlyUntil(calendar.local(nowMs).day),
    webhooks: { aliases: tickerAliases.aliases, dedupeWindowMs: config.webhooks.dedupeWindowMs },
  });
  logger.info(`TradingView webhook: ${tickerAliases.note}`);
  if (!(await store.keys.hasKeys())) logger.warn(openModeWarning(config));
  try {
    await app.listen({ port: config.port, host });
  } catch (error) {
    // Taken since it was tried (before the store was opened): said the same way.
    logger.error(describeListenFailure(host, config.port, error));
    await store.close();
    return 2;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info(
    {
      port,
      host,
      store: redactUrl(config.databaseUrl),
      databaseId: store.databaseId,
      users: profile.profile.length,
      openPositions: store.openPositions,
      version,
    },
    `ordergate listening on http://${host}:${port} (database ${store.databaseId}, API docs at /docs)`,
  );
  const { squareOff } = config;
  const schedule = squareOff.atSecond === null ? null : scheduleSquareOff(store, squareOff, calendar, logger);
  if (schedule !== null) {
    logger.info(
      { at: squareOff.at, timeZone: squareOff.timeZone, after: squareOff.after },
      `square-off scheduled at ${squareOff.at} (${squareOff.timeZone}) on each trading day`,
    );
  }
  const received = await signal;
  schedule?.stop();
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

/**
 * The checks that come before the store is opened, each of which stops the start with nothing written
 * to the database: the glance at it (read only), the port, and the profile. An exit code if one fails.
 */
async function prepareStart(
  config: Config,
  logger: Logger,
): Promise<{ host: string; profile: LoadedProfile } | number> {
  let glance: DatabaseGlance;
  try {
    glance = await glanceAt(config.database);
  } catch (error) {
    logger.error(`cannot open the database: ${describeOpenFailure(config, error)}`);
    return 1;
  }
  const host = listenHost(config, glance.hasKeys);
  const busy = await tryListening(host, config.port);
  if (busy !== undefined) {
    logger.error(`${busy}; nothing was written to the database`);
    return 2;
  }
  try {
    return { host, profile: await chooseProfile(config, glance.profileInForce, logger) };
  } catch (error) {
    if (!(error instanceof ProfileError)) throw error;
    logger.error(`the profile was refused, nothing was started: ${error.message}`);
    return 2;
  }
}

/** The log, once every path is known usable; undefined (said in one line) if one is not. */
function openLogs(config: Config): Logs | undefined {
  const problems = pathProblems(config);
  if (problems.length === 0) {
    try {
      return createLogs(config.logDir, {
        terminal: true,
        fileBytesMax: config.logFileBytesMax,
        filesMax: config.logFilesMax,
      });
    } catch (error) {
      // Changed since it was checked, or a check that does not see it (a full disk).
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      problems.push(
        `LOG_DIR ${config.logDir} cannot be used (${code}): set LOG_DIR (--log-dir) to another folder`,
      );
    }
  }
  console.error(`ordergate serve: ${problems.join('; ')}`);
  return undefined;
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
