// Configuration is read once, here, from flags and the environment (same names), validated
// strictly with every problem reported at once, and handed on as one typed object.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { POSITION_SCOPES, type PositionScope } from './domain/book.js';

export interface Config {
  readonly port: number;
  /** The HOST given (flag or environment), or the default; see hostExplicit. */
  readonly host: string;
  /**
   * Whether HOST was given: if not, a server with no API key yet (open mode) listens on loopback only,
   * and the default applies once a key exists.
   */
  readonly hostExplicit: boolean;
  readonly databaseUrl: string;
  readonly database: DatabaseConfig;
  readonly profilePath: string;
  /**
   * Whether PROFILE_PATH was given: a profile given must exist; only without one, on a new database,
   * is a profile generated.
   */
  readonly profilePathExplicit: boolean;
  readonly logDir: string;
  /** A log file takes no line past this many bytes; the next line starts the day's next part. */
  readonly logFileBytesMax: number;
  /** Log files (ordergate's names only) kept in logDir; the oldest are deleted first. */
  readonly logFilesMax: number;
  readonly universePath: string;
  /** Requests a second each API key (each client address in open mode) may make; null: no limit. */
  readonly keyRequestsPerSecondMax: number | null;
  /** Orders decided or queued but not yet answered, at most; past it an order gets 503 at once. */
  readonly ordersInFlightMax: number;
  /** Apply the profile file at start when it differs from the users in force (an import in the log). */
  readonly importProfile: boolean;
  /** How positions are kept: per (user, strategy, instrument), or per (user, instrument). */
  readonly positionScope: PositionScope;
  readonly squareOff: SquareOffConfig;
  readonly webhooks: WebhooksConfig;
}

/** The TradingView webhook: the operator's ticker alias table and how long a repeated body is a retry. */
export interface WebhooksConfig {
  /** A JSON file {"TICKER": "INSTRUMENT"}, or null for none. */
  readonly tickerAliasesPath: string | null;
  /** Whether TICKER_ALIASES_PATH was given: a file given must exist; the shipped default may be absent. */
  readonly tickerAliasesPathExplicit: boolean;
  /** An alert without TradingView's id and time, sent again within this, is a retry: answered, not applied. */
  readonly dedupeWindowMs: number;
}

/** The end-of-day square-off: when, in which time zone, on which days, and what the gate is after it. */
export interface SquareOffConfig {
  /** Seconds after local midnight; null: no scheduled square-off (SQUARE_OFF_AT off). */
  readonly atSecond: number | null;
  readonly at: string;
  readonly timeZone: string;
  /** Trading weekdays, 0 = Sunday … 6 = Saturday. */
  readonly weekdays: ReadonlySet<number>;
  /** A file of holidays (one YYYY-MM-DD a line, # comments), or null. */
  readonly holidaysPath: string | null;
  /** The gate's state until the next trading day: CLOSE_ONLY (the default) or ACTIVE. */
  readonly after: 'CLOSE_ONLY' | 'ACTIVE';
}

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export type DatabaseConfig =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly poolMax: number };

/** Connections each instance keeps to PostgreSQL; every order in flight holds one until its commit. */
const POOL_MAX_DEFAULT = 10;
const POOL_MAX_LIMIT = 200;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

interface Setting {
  readonly env: string;
  readonly flag: string;
  readonly fallback: string;
  readonly help: string;
  /** A flag without a value (--import-profile); in the environment 1, true, on or yes. */
  readonly boolean?: true;
}

/**
 * Requests a second per key by default: above what one instance serves on the benchmark's machine
 * (≈ 12,000–16,000 orders/s from one address), so that neither the benchmark nor the seed's producer is
 * ever throttled, while a runaway client is still capped. Set it lower to share an instance fairly.
 */
const RATE_LIMIT_DEFAULT = 20_000;

/**
 * Orders in flight (decided or queued, not yet answered) by default: a second of the fastest rate
 * measured here, each holding a few KiB; far more than the connections a desk's engines open.
 */
const ORDERS_IN_FLIGHT_MAX_DEFAULT = 10_000;
const ORDERS_IN_FLIGHT_MAX_LIMIT = 1_000_000;

/**
 * Bytes per log file by default: at 2,000 orders/s (≈ 280 bytes a line) a new part every ≈ 8 minutes,
 * each small enough to open in an editor or copy off the machine.
 */
const LOG_FILE_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;
/** The smallest LOG_FILE_BYTES_MAX: a few order lines; a line longer than a file gets a file of its own. */
const LOG_FILE_BYTES_MAX_LOWEST = 4096;
/** The largest LOG_FILE_BYTES_MAX: 1 TiB, well past what a day's file holds at any rate measured. */
const LOG_FILE_BYTES_MAX_LIMIT = 2 ** 40;
/** Log files kept by default: with the default size, at most 16 GiB; at one file a day, two months. */
const LOG_FILES_MAX_DEFAULT = 64;
/** The most log files that can be kept: each rotation lists the folder to find the oldest. */
const LOG_FILES_MAX_LIMIT = 10_000;

/** A retry of an alert comes within seconds; a day is the longest window that still lets a trader repeat. */
const WEBHOOK_DEDUPE_SECONDS_MAX = 86_400;

/** Where a server with no API key listens unless HOST is set: nobody but this machine may reach it. */
export const OPEN_MODE_HOST = '127.0.0.1';

export const SETTINGS = {
  port: { env: 'PORT', flag: 'port', fallback: '8080', help: 'TCP port to listen on (0 picks a free one)' },
  host: {
    env: 'HOST',
    flag: 'host',
    fallback: '0.0.0.0',
    help: `address to listen on; while no API key exists (open mode), ${OPEN_MODE_HOST} unless set`,
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    flag: 'database-url',
    fallback: 'sqlite:./data/ordergate.db',
    help: 'where the book and the order log live: sqlite:PATH or postgres://USER@HOST:PORT/DB',
  },
  databasePoolMax: {
    env: 'DATABASE_POOL_MAX',
    flag: 'database-pool-max',
    fallback: String(POOL_MAX_DEFAULT),
    help: 'PostgreSQL only: connections per instance, 1 to 200',
  },
  profilePath: {
    env: 'PROFILE_PATH',
    flag: 'profile-path',
    fallback: 'Jsons/user_profile.json',
    help: "the users' profile in the seed's format; must exist if set; if not set and missing, the one in force in the database (generated on a new database)",
  },
  logDir: {
    env: 'LOG_DIR',
    flag: 'log-dir',
    fallback: 'Logs',
    help: 'folder of the daily log files log_YYYY-MM-DD.log',
  },
  logFileBytesMax: {
    env: 'LOG_FILE_BYTES_MAX',
    flag: 'log-file-bytes-max',
    fallback: String(LOG_FILE_BYTES_MAX_DEFAULT),
    help: `bytes a log file may hold before the next part starts (log_YYYY-MM-DD.1.log …), ${LOG_FILE_BYTES_MAX_LOWEST} to ${LOG_FILE_BYTES_MAX_LIMIT}`,
  },
  logFilesMax: {
    env: 'LOG_FILES_MAX',
    flag: 'log-files-max',
    fallback: String(LOG_FILES_MAX_DEFAULT),
    help: `log files kept in the log folder, the oldest deleted first, 1 to ${LOG_FILES_MAX_LIMIT}`,
  },
  ordersInFlightMax: {
    env: 'ORDERS_IN_FLIGHT_MAX',
    flag: 'orders-in-flight-max',
    fallback: String(ORDERS_IN_FLIGHT_MAX_DEFAULT),
    help: `orders decided or queued but not yet answered, at most (past it: 503 OVERLOADED), 1 to ${ORDERS_IN_FLIGHT_MAX_LIMIT}`,
  },
  rateLimit: {
    env: 'RATE_LIMIT',
    flag: 'rate-limit',
    fallback: String(RATE_LIMIT_DEFAULT),
    help: 'requests a second each API key (each address in open mode) may make; off: no limit',
  },
  importProfile: {
    env: 'IMPORT_PROFILE',
    flag: 'import-profile',
    fallback: 'off',
    help: 'apply PROFILE_PATH at start when it differs from the users in force in the database (logged as an import); without it a difference is only reported',
    boolean: true,
  },
  positionScope: {
    env: 'POSITION_SCOPE',
    flag: 'position-scope',
    fallback: 'strategy',
    help:
      'strategy: a position per user, strategy and instrument; account: per user and instrument, whichever ' +
      'strategy opened it (fixed when the database is made)',
  },
  squareOffAt: {
    env: 'SQUARE_OFF_AT',
    flag: 'square-off-at',
    fallback: 'off',
    help: 'HH:MM (or HH:MM:SS) at which every open position is closed on each trading day, once; off: never',
  },
  squareOffTz: {
    env: 'SQUARE_OFF_TZ',
    flag: 'square-off-tz',
    fallback: 'Asia/Kolkata',
    help: 'the IANA time zone of SQUARE_OFF_AT and of the trading days',
  },
  squareOffDays: {
    env: 'SQUARE_OFF_DAYS',
    flag: 'square-off-days',
    fallback: 'mon,tue,wed,thu,fri',
    help: 'the weekdays that are trading days, comma-separated (add sat for a special session)',
  },
  holidaysPath: {
    env: 'HOLIDAYS_PATH',
    flag: 'holidays-path',
    fallback: 'none',
    help: 'a file of exchange holidays, one YYYY-MM-DD a line (# comments): no square-off on those days',
  },
  afterSquareOff: {
    env: 'AFTER_SQUARE_OFF',
    flag: 'after-square-off',
    fallback: 'close-only',
    help: "the gate's state from a scheduled square-off to the next trading day: close-only or active",
  },
  // The TradingView webhook (POST /webhooks/tradingview/:token).
  tickerAliasesPath: {
    env: 'TICKER_ALIASES_PATH',
    flag: 'ticker-aliases-path',
    fallback: 'Jsons/ticker_aliases.json',
    help: 'webhook: a JSON file mapping TradingView tickers to instruments, e.g. {"LT": "L&T"}; none: no aliases',
  },
  webhookDedupeSeconds: {
    env: 'WEBHOOK_DEDUPE_SECONDS',
    flag: 'webhook-dedupe-seconds',
    fallback: '60',
    help: `webhook: an alert without id and time repeated within this many seconds is a retry, 1 to ${WEBHOOK_DEDUPE_SECONDS_MAX}`,
  },
} as const satisfies Record<string, Setting>;

/** The highest RATE_LIMIT that can be set: a million requests a second is beyond any one instance. */
const RATE_LIMIT_MAX = 1_000_000;

/** The universe of names the generator and producer draw from, shipped with the project. */
const UNIVERSE_PATH = 'Jsons/raw_details.json';

export function parseServeArgs(argv: readonly string[]): {
  values: Record<string, string | boolean | undefined>;
} {
  const options = Object.fromEntries(
    Object.values(SETTINGS).map((setting: Setting) => [
      setting.flag,
      { type: setting.boolean === true ? ('boolean' as const) : ('string' as const) },
    ]),
  );
  return parseArgs({
    args: [...argv],
    options: { ...options, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
}

export function loadConfig(
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): Config {
  const problems: string[] = [];
  const given = (setting: Setting): boolean =>
    typeof flags[setting.flag] === 'string' || env[setting.env] !== undefined;
  const read = (setting: Setting): string => {
    const flag = flags[setting.flag];
    if (typeof flag === 'string') return flag;
    return env[setting.env] ?? setting.fallback;
  };
  const port = Number(read(SETTINGS.port));
  if (!Number.isInteger(port) || port < 0 || port > 65535 || read(SETTINGS.port).trim() === '') {
    problems.push(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(read(SETTINGS.port))}`);
  }
  const host = read(SETTINGS.host);
  if (host.trim() === '') problems.push('HOST must not be empty');
  const databaseUrl = read(SETTINGS.databaseUrl);
  const database = databaseOf(databaseUrl, read(SETTINGS.databasePoolMax), problems);
  const profilePath = read(SETTINGS.profilePath);
  if (profilePath.trim() === '') problems.push('PROFILE_PATH must not be empty');
  const logDir = read(SETTINGS.logDir);
  if (logDir.trim() === '') problems.push('LOG_DIR must not be empty');
  const logFileBytesMax = integerOf(
    SETTINGS.logFileBytesMax,
    read(SETTINGS.logFileBytesMax),
    [LOG_FILE_BYTES_MAX_LOWEST, LOG_FILE_BYTES_MAX_LIMIT],
    problems,
  );
  const logFilesMax = integerOf(
    SETTINGS.logFilesMax,
    read(SETTINGS.logFilesMax),
    [1, LOG_FILES_MAX_LIMIT],
    problems,
  );
  const keyRequestsPerSecondMax = rateLimitOf(read(SETTINGS.rateLimit), problems);
  const ordersInFlightMax = integerOf(
    SETTINGS.ordersInFlightMax,
    read(SETTINGS.ordersInFlightMax),
    [1, ORDERS_IN_FLIGHT_MAX_LIMIT],
    problems,
  );
  const importProfile = booleanOf(SETTINGS.importProfile, flags, env, problems);
  const positionScope = read(SETTINGS.positionScope) as PositionScope;
  if (!POSITION_SCOPES.includes(positionScope))
    problems.push(`POSITION_SCOPE must be strategy or account, got ${JSON.stringify(positionScope)}`);
  const squareOff = squareOffOf(read, problems);
  const webhooks = webhooksOf(read, given, problems);
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return {
    port,
    host,
    hostExplicit: given(SETTINGS.host),
    databaseUrl,
    database: database!,
    profilePath: resolve(profilePath),
    profilePathExplicit: given(SETTINGS.profilePath),
    logDir: resolve(logDir),
    logFileBytesMax,
    logFilesMax,
    universePath: resolve(UNIVERSE_PATH),
    keyRequestsPerSecondMax,
    ordersInFlightMax,
    importProfile,
    positionScope,
    squareOff,
    webhooks,
  };
}

function webhooksOf(
  read: (setting: Setting) => string,
  given: (setting: Setting) => boolean,
  problems: string[],
): WebhooksConfig {
  const path = read(SETTINGS.tickerAliasesPath);
  const dedupeSeconds = integerOf(
    SETTINGS.webhookDedupeSeconds,
    read(SETTINGS.webhookDedupeSeconds),
    [1, WEBHOOK_DEDUPE_SECONDS_MAX],
    problems,
  );
  return {
    tickerAliasesPath: path === 'none' || path === '' ? null : resolve(path),
    tickerAliasesPathExplicit: given(SETTINGS.tickerAliasesPath),
    dedupeWindowMs: dedupeSeconds * 1000,
  };
}

function booleanOf(
  setting: Setting,
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
  problems: string[],
): boolean {
  if (flags[setting.flag] === true) return true;
  const text = (env[setting.env] ?? setting.fallback).toLowerCase();
  if (['1', 'true', 'on', 'yes'].includes(text)) return true;
  if (['0', 'false', 'off', 'no', ''].includes(text)) return false;
  problems.push(`${setting.env} must be on or off (1/0, true/false, yes/no), got ${JSON.stringify(text)}`);
  return false;
}

function squareOffOf(read: (setting: Setting) => string, problems: string[]): SquareOffConfig {
  const at = read(SETTINGS.squareOffAt);
  const timeZone = read(SETTINGS.squareOffTz);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    problems.push(
      `SQUARE_OFF_TZ must be an IANA time zone such as Asia/Kolkata or UTC, got ${JSON.stringify(timeZone)}`,
    );
  }
  const days = read(SETTINGS.squareOffDays)
    .split(',')
    .map((day) => day.trim().toLowerCase())
    .filter((day) => day !== '');
  const weekdays = new Set<number>();
  for (const day of days) {
    const index = WEEKDAYS.indexOf(day as (typeof WEEKDAYS)[number]);
    if (index < 0)
      problems.push(`SQUARE_OFF_DAYS: ${JSON.stringify(day)} is not one of ${WEEKDAYS.join(', ')}`);
    else weekdays.add(index);
  }
  if (days.length === 0) problems.push('SQUARE_OFF_DAYS must name at least one weekday');
  const after = read(SETTINGS.afterSquareOff);
  if (after !== 'close-only' && after !== 'active')
    problems.push(`AFTER_SQUARE_OFF must be close-only or active, got ${JSON.stringify(after)}`);
  const holidays = read(SETTINGS.holidaysPath);
  const match = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/.exec(at);
  if (match === null && at !== 'off')
    problems.push(`SQUARE_OFF_AT must be HH:MM or HH:MM:SS (24-hour) or off, got ${JSON.stringify(at)}`);
  return {
    atSecond: match === null ? null : Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3] ?? 0),
    at,
    timeZone,
    weekdays,
    holidaysPath: holidays === 'none' || holidays === '' ? null : resolve(holidays),
    after: after === 'active' ? 'ACTIVE' : 'CLOSE_ONLY',
  };
}

/** A whole number of the setting within [lowest, highest], digits only. */
function integerOf(
  setting: Setting,
  text: string,
  [lowest, highest]: readonly [number, number],
  problems: string[],
): number {
  const number = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isSafeInteger(number) && number >= lowest && number <= highest) return number;
  problems.push(
    `${setting.env} must be an integer from ${lowest} to ${highest}, got ${JSON.stringify(text)}`,
  );
  return lowest;
}

function rateLimitOf(text: string, problems: string[]): number | null {
  if (text === 'off') return null;
  const number = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isSafeInteger(number) && number >= 1 && number <= RATE_LIMIT_MAX) return number;
  problems.push(
    `RATE_LIMIT must be an integer from 1 to ${RATE_LIMIT_MAX} or off, got ${JSON.stringify(text)}`,
  );
  return null;
}

/** The database a DATABASE_URL names, for the commands that need only that (check, backup). */
export function parseDatabaseUrl(url: string, env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  const problems: string[] = [];
  const poolMax = env[SETTINGS.databasePoolMax.env] ?? SETTINGS.databasePoolMax.fallback;
  const database = databaseOf(url, poolMax, problems);
  if (database === undefined || problems.length > 0) throw new ConfigError(problems.join('; '));
  return database;
}

/** DATABASE_URL from a --database-url flag, else the environment, else the default. */
export function databaseUrlFrom(flag: string | boolean | undefined, env: NodeJS.ProcessEnv): string {
  if (typeof flag === 'string') return flag;
  return env[SETTINGS.databaseUrl.env] ?? SETTINGS.databaseUrl.fallback;
}

function databaseOf(url: string, poolMaxText: string, problems: string[]): DatabaseConfig | undefined {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') problems.push('DATABASE_URL sqlite: needs a file path, e.g. sqlite:./data/ordergate.db');
    return { kind: 'sqlite', path: resolve(path) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const poolMax = Number(poolMaxText);
    if (!/^\d+$/.test(poolMaxText) || poolMax < 1 || poolMax > POOL_MAX_LIMIT) {
      problems.push(
        `DATABASE_POOL_MAX must be an integer from 1 to ${POOL_MAX_LIMIT}, got ${JSON.stringify(poolMaxText)}`,
      );
    }
    try {
      new URL(url);
    } catch {
      problems.push(`DATABASE_URL is not a valid URL: ${JSON.stringify(redactUrl(url))}`);
    }
    return { kind: 'postgres', url, poolMax };
  }
  problems.push(
    `DATABASE_URL must start with sqlite: (e.g. sqlite:./data/ordergate.db) or postgres://, got ${JSON.stringify(redactUrl(url))}`,
  );
  return undefined;
}

/** A database URL fit for logs and messages: any password in it replaced by ***. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
