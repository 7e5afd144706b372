// What the commands that talk to a running server share: the --url and --key flags, one request with
// its timeout, and one clear line for each way a request fails: the server cannot be reached, refuses
// the key (401) or its role (403), has no such route (404), or refuses the change with its own message.
// The commands go through the server's API, so they are the same code as the API and work beside a
// SQLite server that owns its file.

import { type Flags, stringFlag, UsageError, withUsage } from './args.js';

/** The server when --url is not given. */
export const DEFAULT_URL = 'http://127.0.0.1:8080';
const REQUEST_TIMEOUT_MS = 30_000;
/** A profile of 100,000 users is some 30 MB, applied as one record: it may take a while. */
export const PROFILE_TIMEOUT_MS = 300_000;
export const EXIT_FAILED = 1;

/** The option lines of --url and --key, for every command's help. */
export const SERVER_OPTIONS = `  --url URL          the running server's base URL (default ${DEFAULT_URL})
  --key TOKEN        the API key to send, once the server has keys; ORDERGATE_API_KEY keeps it out
                     of the process list`;

/** The flags every such command accepts, for parseFlags. */
export const SERVER_FLAGS = {
  url: { type: 'string' },
  key: { type: 'string' },
} as const;

/** A request that failed: the command prints its message on one line and exits 1. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    /** The HTTP status, or undefined when no answer came. */
    readonly status?: number,
    /** The error code of the server's answer (USER_NOT_FOUND …). */
    readonly code?: string,
  ) {
    super(message);
  }
}

interface RequestOptions {
  /** The query, without the '?'; undefined values are left out. */
  readonly query?: Record<string, string | number | undefined>;
  /** Sent as JSON, or as it is when a string (a profile's text). */
  readonly body?: unknown;
  readonly timeoutMs?: number;
}

/** One server: its base URL and the key to send. */
export class ApiClient {
  constructor(
    readonly url: string,
    /** Sent as Authorization: Bearer; null while the server runs open. */
    readonly key: string | null,
  ) {}

  /** The answer's text, when its status is 2xx; throws ApiError otherwise. */
  async text(method: string, path: string, options: RequestOptions = {}): Promise<string> {
    const target = `${this.url}${path}${queryString(options.query)}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.key !== null) headers.authorization = `Bearer ${this.key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    // A timer of our own rather than AbortSignal.timeout, whose timer does not keep the process alive
    // (as in produce.ts): a fetch left pending must end in a timeout, not in Node's exit 13.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new DOMException('timed out', 'TimeoutError')), timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await fetch(target, { method, headers, body, signal: timeout.signal });
      text = await response.text();
    } catch (error) {
      throw this.#requestFailure(error, method, path, timeoutMs);
    } finally {
      clearTimeout(timer);
    }
    if (response.ok) return text;
    throw this.#refusal(response, text, method, path);
  }

  /** The answer, parsed as a JSON object. */
  async json<T = Record<string, unknown>>(
    method: string,
    path: string,
    options?: RequestOptions,
  ): Promise<T> {
    const text = await this.text(method, path, options);
    const value = parseJsonObject(text);
    if (value === undefined)
      throw new ApiError(`${method} ${path}: the answer is not a JSON object: ${text.slice(0, 200)}`);
    return value as T;
  }

  #refusal(response: Response, text: string, method: string, path: string): ApiError {
    const { status } = response;
    const body = parseJsonObject(text);
    const code = typeof body?.error === 'string' ? body.error : undefined;
    const message = typeof body?.message === 'string' ? body.message : text.slice(0, 200);
    const said = `${this.url} answered ${method} ${path} with HTTP ${status}${code ? ` ${code}` : ''}: ${message}`;
    if (status === 401) {
      const hint =
        this.key === null
          ? 'the server has API keys: pass --key TOKEN or set ORDERGATE_API_KEY'
          : 'check --key or ORDERGATE_API_KEY: the server has no active key of this token';
      return new ApiError(`${said} (${hint})`, status, code);
    }
    if (status === 403) {
      const needed = method === 'GET' ? 'a read or an admin key' : 'an admin key';
      return new ApiError(`${said} (this needs ${needed}: pass its token with --key)`, status, code);
    }
    if (status === 404 && (code === undefined || code === 'NOT_FOUND')) {
      const hint = `give the server's base URL, e.g. --url ${DEFAULT_URL}, of a server that has ${method} ${path.split('?')[0]}`;
      return new ApiError(`${said} (${hint})`, status, code);
    }
    if (status === 429 || status === 503) {
      const retry = response.headers.get('retry-after');
      const hint = retry === null ? 'try again later' : `try again in ${retry} s`;
      return new ApiError(`${said} (${hint})`, status, code);
    }
    return new ApiError(said, status, code);
  }

  #requestFailure(error: unknown, method: string, path: string, timeoutMs: number): ApiError {
    const name = (error as Error | undefined)?.name;
    if (name === 'TimeoutError') {
      return new ApiError(
        `${this.url} gave no answer to ${method} ${path} within ${timeoutMs / 1000} s` +
          (method === 'GET' ? '' : ' (the change may still have been applied: look before retrying)'),
      );
    }
    const cause = underlyingCause(error);
    const unreachable = cause === undefined ? undefined : UNREACHABLE_REASONS[cause];
    if (unreachable) {
      return new ApiError(`cannot reach ${this.url}: ${unreachable}`);
    }
    const described = cause === undefined ? undefined : FAILURE_REASONS[cause];
    return new ApiError(
      `${method} ${this.url}${path} failed: ${described ?? cause ?? (error as Error).message}` +
        (method === 'GET' ? '' : ' (the change may have been applied: look before retrying)'),
    );
  }
}

/** A path segment: a name with spaces or & goes through as itself. */
export const segment = (name: string) => encodeURIComponent(name);

function queryString(query: RequestOptions['query']): string {
  if (query === undefined) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

// Failures where nothing reached a server.
const UNREACHABLE_REASONS: Record<string, string> = {
  ECONNREFUSED:
    'connection refused: is the server running? Start it (ordergate serve, or npm start), or pass --url with its base URL',
  ENOTFOUND: 'host not found: check --url',
  EAI_AGAIN: 'host name lookup failed: check --url, or try again',
  EHOSTUNREACH: 'no route to host: check --url',
  ENETUNREACH: 'network unreachable: check --url',
  // fetch() itself refuses the ports on the WHATWG "bad ports" list (1, 6000, 6665, ...).
  'bad port': 'fetch() refuses to connect to this port; choose another',
};

const FAILURE_REASONS: Record<string, string> = {
  ECONNRESET: 'the connection was reset before the answer',
  UND_ERR_SOCKET: 'the server closed the connection before the answer',
};

/** fetch() rejects with "fetch failed" and hides the system error in `cause`. */
function underlyingCause(error: unknown): string | undefined {
  const cause = (
    error as { cause?: { code?: unknown; message?: unknown; errors?: Array<{ code?: unknown }> } }
  ).cause;
  // With several addresses for a host, the cause is an AggregateError of one error per address.
  const code = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

/** The client that --url and --key (or ORDERGATE_API_KEY) name. Throws UsageError. */
export function clientOf(values: Flags): ApiClient {
  const url = parseBaseUrl(values.url ?? DEFAULT_URL);
  if (url === undefined) {
    throw new UsageError(
      `--url must be an http:// or https:// URL without ?query or #fragment, got ${JSON.stringify(values.url)}`,
    );
  }
  const key =
    values.key === undefined ? process.env.ORDERGATE_API_KEY || null : stringFlag(values, 'key', '');
  return new ApiClient(url, key);
}

/** The base URL without a trailing slash, so that `${url}/users` has exactly one. */
function parseBaseUrl(value: string | boolean): string | undefined {
  if (typeof value !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.search !== '' || url.hash !== '') return undefined;
  url.search = ''; // a bare '?' leaves search empty but stays in href
  url.hash = '';
  return url.href.replace(/\/+$/, '');
}

/**
 * Runs a command's body: a UsageError is one line and exit 2 (withUsage), an ApiError or a file that
 * cannot be read or written one line and exit 1.
 */
export async function withApi(command: string, help: string, run: () => Promise<number>): Promise<number> {
  return withUsage(command, help, async () => {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof FileError)) throw error;
      console.error(`ordergate ${command}: ${error.message}`);
      return EXIT_FAILED;
    }
  });
}

/** A file the command cannot read or write: exit 1. */
export class FileError extends Error {
  override readonly name = 'FileError';
  constructor(doing: 'read' | 'write', path: string, error: unknown) {
    const code = (error as NodeJS.ErrnoException).code;
    const known = code === undefined ? undefined : FILE_ERRORS[code]?.[doing === 'read' ? 0 : 1];
    super(
      `cannot ${doing} ${path}: ${known === undefined ? (code ?? (error as Error).message) : `${known} (${code})`}`,
    );
  }
}

/** The common reasons a file cannot be read or written, for each. */
const FILE_ERRORS: Record<string, readonly [string, string]> = {
  ENOENT: ['no such file', 'no such folder'],
  EACCES: ['permission denied', 'permission denied'],
  EPERM: ['permission denied', 'permission denied'],
  EISDIR: ['it is a folder', 'it is a folder'],
  ENOTDIR: ['a part of the path is not a folder', 'a part of the path is not a folder'],
  ENOSPC: ['no space left', 'no space left on the device'],
  EROFS: ['read-only file system', 'read-only file system'],
};

/** "1 position", "2 positions". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** A position as a change's answer names it (left close-only, or released). */
export interface HeldPosition {
  strategy: string;
  instrument: string;
  buy_order_id: number;
  opened_at: string;
}

/** The answer to a change (http/live.ts): its version, and what became of the positions it concerns. */
export interface ChangeAnswer {
  version: number;
  kind: string;
  at: string;
  by: string | null;
  closed: { order_id: number; strategy: string; instrument: string; positions: number }[];
  left_close_only: HeldPosition[];
  released: HeldPosition[];
  [field: string]: unknown;
}

/** One line per SELL the gate sent, per position left close-only and per position released. */
export function positionLines(answer: ChangeAnswer): string[] {
  const held = (p: HeldPosition) =>
    `${p.strategy} ${p.instrument} (opened by BUY order ${p.buy_order_id} at ${p.opened_at})`;
  return [
    ...answer.closed.map(
      (c) =>
        `  closed: SELL order ${c.order_id} ${c.strategy} ${c.instrument}, ${plural(c.positions, 'position')}`,
    ),
    ...answer.left_close_only.map((p) => `  left close-only: ${held(p)}, only a SELL can close it`),
    ...answer.released.map((p) => `  released: ${held(p)}, no longer in the gate's book`),
  ];
}

/** The positions closed by the change's SELLs, in all. */
export function positionsClosed(answer: ChangeAnswer): number {
  return answer.closed.reduce((sum, c) => sum + c.positions, 0);
}
