// Configuration is read once, here, from flags and the environment (same names), validated
// strictly with every problem reported at once, and handed on as one typed object.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly database: DatabaseConfig;
  readonly profilePath: string;
  readonly logDir: string;
  readonly universePath: string;
  /** Requests a second each API key (each client address in open mode) may make; null: no limit. */
  readonly keyRequestsPerSecondMax: number | null;
  /** Orders decided or queued but not yet answered, at most; past it an order gets 503 at once. */
  readonly ordersInFlightMax: number;
}

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
}

/**
 * Requests a second per key by default: above what one instance serves on the benchmark's machine
 * (≈ 12,000–16,000 orders/s from one address), so that neither the benchmark nor the seed's producer is
 * ever throttled, while a runaway client is still capped. Set it lower to share an instance fairly.
 */
const RATE_LIMIT_DEFAULT = 20_000;

export const SETTINGS = {
  port: { env: 'PORT', flag: 'port', fallback: '8080', help: 'TCP port to listen on (0 picks a free one)' },
  host: { env: 'HOST', flag: 'host', fallback: '0.0.0.0', help: 'address to listen on' },
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
    help: "the users' profile in the seed's format (generated if missing)",
  },
  logDir: {
    env: 'LOG_DIR',
    flag: 'log-dir',
    fallback: 'Logs',
    help: 'folder of the daily log files log_YYYY-MM-DD.log',
  },
  ordersInFlightMax: {
    env: 'ORDERS_IN_FLIGHT_MAX',
    flag: 'orders-in-flight-max',
    fallback: String(10_000),
    help: 'orders decided or queued but not yet answered, at most (past it: 503 OVERLOADED), 1 to 1000000',
  },
  rateLimit: {
    env: 'RATE_LIMIT',
    flag: 'rate-limit',
    fallback: String(RATE_LIMIT_DEFAULT),
    help: 'requests a second each API key (each address in open mode) may make; off: no limit',
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
    Object.values(SETTINGS).map((setting) => [setting.flag, { type: 'string' as const }]),
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
  const keyRequestsPerSecondMax = rateLimitOf(read(SETTINGS.rateLimit), problems);
  const ordersInFlightMax = integerOf(
    SETTINGS.ordersInFlightMax.env,
    read(SETTINGS.ordersInFlightMax),
    1,
    1_000_000,
    problems,
  );
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return {
    port,
    host,
    databaseUrl,
    database: database!,
    profilePath: resolve(profilePath),
    logDir: resolve(logDir),
    universePath: resolve(UNIVERSE_PATH),
    keyRequestsPerSecondMax,
    ordersInFlightMax,
  };
}

function integerOf(name: string, text: string, min: number, max: number, problems: string[]): number {
  const number = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isSafeInteger(number) && number >= min && number <= max) return number;
  problems.push(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return min;
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
