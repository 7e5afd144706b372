import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRandom, type Random } from '../domain/random.js';
import type { Universe } from '../domain/universe.js';
import { parseJsonObject } from './api-client.js';
import {
  helpRequested,
  integerFlag,
  parseFlags,
  readUniverse,
  stringFlag,
  UsageError,
  withUsage,
} from './args.js';

const USAGE = `Usage: ordergate produce [--url URL] [--key TOKEN] [--count N] [--interval MS] [--seed S] [--universe PATH]

Sends random orders (a strategy, an instrument and BUY or SELL from the universe file) one at a time to
POST {url}/create_order, as the seed's Order_Producer.py did, and prints each answer and a summary.
Ctrl-C stops sending and prints the summary. The seed is printed so that a run can be replayed.
Through npm, flags follow a --: npm run produce -- --count 10 --interval 0

  --url URL          the server, as its base URL or the seed's full endpoint URL
                     (default http://127.0.0.1:8080; http://127.0.0.1:8080/create_order is the same)
  --key TOKEN        the API key to send, once the server has keys (an admin key, since the orders
                     are for every strategy); ORDERGATE_API_KEY keeps it out of the process list
  --count N          how many orders, 1 to 10000000 (default 300)
  --interval MS      milliseconds to wait between orders, 0 to 3600000 (default 1000)
  --seed S           an integer seed (default: a random one)
  --universe PATH    names to draw from (default Jsons/raw_details.json)
  -h, --help         print this help

Exit codes: 0 when every order was answered ACCEPTED or REJECTED; 1 when any order failed (no answer,
or an HTTP error such as 400, 429 or 503: the summary counts them as errors), when the server cannot
be reached, refuses the key (401) or has no /create_order (404), or the universe file cannot be read;
2 for a bad flag; 130 when stopped by Ctrl-C.`;

const COUNT_MAX = 10_000_000;
const INTERVAL_MS_MAX = 3_600_000;
const REQUEST_TIMEOUT_MS = 10_000;
// A BUY can apply to thousands of users; a line names the first few.
const USERS_SHOWN_MAX = 5;
const EXIT_FAILED = 1;
const EXIT_INTERRUPTED = 130;
/** The seed's clients post to the full endpoint URL; --url accepts it as well as the base URL. */
const ENDPOINT_PATH = '/create_order';

interface ProduceArgs {
  url: string;
  /** Sent as Authorization: Bearer; null while the server runs open. */
  key: string | null;
  count: number;
  intervalMs: number;
  seed: number;
  universe: string;
}

interface Order {
  STRATEGY: string;
  INSTRUMENT: string;
  POSITION: 'BUY' | 'SELL';
}

/** What the server answered with 200; only the fields the producer prints. */
interface OrderAnswer {
  RESPONSE?: unknown;
  status?: unknown;
  order_id?: unknown;
  reason?: unknown;
  accepted?: Array<{ user?: unknown }>;
  rejected?: Array<{ user?: unknown; reason?: unknown }>;
}

type Outcome =
  | { kind: 'answered'; response: 'ACCEPTED' | 'REJECTED'; answer: OrderAnswer; latencyMs: number }
  | { kind: 'failed'; message: string; latencyMs?: number }
  | { kind: 'unreachable'; message: string }
  /** 401 or 404: every other order would be refused too. */
  | { kind: 'refused'; message: string };

interface Tally {
  sent: number;
  accepted: number;
  rejected: number;
  errors: number;
  latenciesMs: number[];
}

export async function runProduce(argv: string[]): Promise<number> {
  return withUsage('produce', USAGE, async () => {
    const args = parseProduceArgs(argv);
    let universe: Universe;
    try {
      universe = await readUniverse(args.universe);
    } catch (error) {
      console.error(`ordergate produce: ${(error as Error).message}`);
      return EXIT_FAILED;
    }
    return produceUntilDoneOrInterrupted(args, universe);
  });
}

/** Ctrl-C aborts the request in flight and the wait, so the summary prints at once. */
async function produceUntilDoneOrInterrupted(args: ProduceArgs, universe: Universe): Promise<number> {
  const interruption = new AbortController();
  const onInterrupt = () => interruption.abort();
  process.on('SIGINT', onInterrupt);
  try {
    console.log(
      `sending ${args.count} orders to ${args.url}${ENDPOINT_PATH} every ${args.intervalMs} ms, seed ${args.seed}` +
        ` (replay with --seed ${args.seed})`,
    );
    const { tally, unreachable, refused } = await sendOrders(args, universe, interruption.signal);
    if (tally.sent > 0 || (!unreachable && !refused))
      console.log(renderSummary(tally, args.count, interruption.signal.aborted));
    if (unreachable) {
      console.error(`cannot reach ${args.url}: ${unreachable}`);
      return EXIT_FAILED;
    }
    if (refused) {
      console.error(`${args.url} refused the orders: ${refused}`);
      return EXIT_FAILED;
    }
    if (interruption.signal.aborted) return EXIT_INTERRUPTED;
    if (tally.errors > 0) {
      // A script that runs produce must not take a run with failed orders for a good one.
      console.error(
        `ordergate produce: ${tally.errors} of ${tally.sent} orders failed (the ERROR lines above)`,
      );
      return EXIT_FAILED;
    }
    return 0;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

async function sendOrders(
  args: ProduceArgs,
  universe: Universe,
  interrupted: AbortSignal,
): Promise<{ tally: Tally; unreachable?: string; refused?: string }> {
  const random = createRandom(args.seed);
  const tally: Tally = { sent: 0, accepted: 0, rejected: 0, errors: 0, latenciesMs: [] };
  const endpoint = `${args.url}${ENDPOINT_PATH}`;
  for (let index = 1; index <= args.count && !interrupted.aborted; index++) {
    const order = randomOrder(universe, random);
    const outcome = await sendOrder(endpoint, order, args.key, interrupted);
    if (outcome.kind === 'unreachable') return { tally, unreachable: outcome.message };
    if (outcome.kind === 'refused') return { tally, refused: outcome.message };
    count(tally, outcome);
    console.log(renderOrderLine(index, args.count, order, outcome));
    if (index < args.count && args.intervalMs > 0) await sleepUnlessInterrupted(args.intervalMs, interrupted);
  }
  return { tally };
}

function randomOrder(universe: Universe, random: Random): Order {
  return {
    STRATEGY: random.pick(universe.strategies),
    INSTRUMENT: random.pick(universe.instruments),
    POSITION: random.pick(['BUY', 'SELL'] as const),
  };
}

async function sleepUnlessInterrupted(ms: number, interrupted: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal: interrupted });
  } catch {
    // Interrupted: the loop sees the aborted signal and stops.
  }
}

async function sendOrder(
  endpoint: string,
  order: Order,
  key: string | null,
  interrupted: AbortSignal,
): Promise<Outcome> {
  const started = performance.now();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  // A timer of our own rather than AbortSignal.timeout, whose timer does not keep the process alive: a
  // fetch that undici leaves pending with no socket (seen after a connection reset) must end in a
  // timeout, not in Node's exit 13 for a top-level await that can never settle.
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new DOMException('timed out', 'TimeoutError')),
    REQUEST_TIMEOUT_MS,
  );
  try {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers,
      body: JSON.stringify(order),
      signal: AbortSignal.any([interrupted, timeout.signal]),
    });
    const text = await response.text();
    const latencyMs = performance.now() - started;
    if (response.status === 401) {
      const hint = key === null ? 'pass --key TOKEN or set ORDERGATE_API_KEY' : 'check the key';
      return { kind: 'refused', message: `${describeErrorAnswer(response.status, text)} (${hint})` };
    }
    if (response.status === 404) {
      const hint = `no ${endpoint}: give the server's base URL, e.g. --url http://127.0.0.1:8080`;
      return { kind: 'refused', message: `${describeErrorAnswer(response.status, text)} (${hint})` };
    }
    if (!response.ok)
      return { kind: 'failed', message: describeErrorAnswer(response.status, text), latencyMs };
    return readAnswer(text, latencyMs);
  } catch (error) {
    return describeRequestFailure(error);
  } finally {
    clearTimeout(timer);
  }
}

function readAnswer(text: string, latencyMs: number): Outcome {
  const answer = parseJsonObject(text) as OrderAnswer | undefined;
  const response = answer?.RESPONSE ?? answer?.status;
  if (answer && (response === 'ACCEPTED' || response === 'REJECTED')) {
    return { kind: 'answered', response, answer, latencyMs };
  }
  return { kind: 'failed', message: `unexpected answer: ${text.slice(0, 200)}`, latencyMs };
}

function describeErrorAnswer(status: number, text: string): string {
  const body = parseJsonObject(text);
  if (body && (typeof body.error === 'string' || typeof body.message === 'string')) {
    return `HTTP ${status} ${body.error ?? ''}: ${body.message ?? ''}`;
  }
  return `HTTP ${status}: ${text.slice(0, 200)}`;
}

// Failures where nothing reached a server: stop at once rather than fail every remaining order.
const UNREACHABLE_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused — is `npm start` running?',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  // fetch() itself refuses the ports on the WHATWG "bad ports" list (1, 6000, 6665, ...).
  'bad port': 'fetch() refuses to connect to this port; choose another',
};

const FAILURE_REASONS: Record<string, string> = {
  ECONNRESET: 'the connection was reset before the answer',
  UND_ERR_SOCKET: 'the server closed the connection before the answer',
};

/** fetch() rejects with "fetch failed" and hides the system error in `cause`. */
function describeRequestFailure(error: unknown): Outcome {
  const name = (error as Error | undefined)?.name;
  if (name === 'TimeoutError')
    return { kind: 'failed', message: `no answer within ${REQUEST_TIMEOUT_MS} ms` };
  if (name === 'AbortError') {
    return {
      kind: 'failed',
      message: 'interrupted before the answer (the server may still have applied it)',
    };
  }
  const cause = underlyingCause(error);
  const unreachable = cause === undefined ? undefined : UNREACHABLE_REASONS[cause];
  if (unreachable) return { kind: 'unreachable', message: unreachable };
  const described = cause === undefined ? undefined : FAILURE_REASONS[cause];
  return { kind: 'failed', message: `request failed: ${described ?? cause ?? (error as Error).message}` };
}

/** The system error code (ECONNRESET) or, lacking one, the message of fetch()'s `cause`. */
function underlyingCause(error: unknown): string | undefined {
  const cause = (
    error as { cause?: { code?: unknown; message?: unknown; errors?: Array<{ code?: unknown }> } }
  ).cause;
  // With several addresses for a host, the cause is an AggregateError of one error per address.
  const code = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

function count(tally: Tally, outcome: Exclude<Outcome, { kind: 'unreachable' | 'refused' }>): void {
  tally.sent++;
  if (outcome.latencyMs !== undefined) tally.latenciesMs.push(outcome.latencyMs);
  if (outcome.kind === 'failed') tally.errors++;
  else if (outcome.response === 'ACCEPTED') tally.accepted++;
  else tally.rejected++;
}

function renderOrderLine(index: number, total: number, order: Order, outcome: Outcome): string {
  const position = String(index).padStart(String(total).length);
  const head = `[${position}/${total}] ${order.STRATEGY} ${order.INSTRUMENT} ${order.POSITION} →`;
  if (outcome.kind !== 'answered') return `${head} ERROR ${outcome.message}`;
  const { answer } = outcome;
  const parts = [`${head} ${outcome.response} order_id=${String(answer.order_id)}`];
  const applied = (answer.accepted ?? []).map((entry) => String(entry.user));
  parts.push(
    applied.length === 0 ? 'applied to none' : `applied to ${applied.length}: ${listNames(applied)}`,
  );
  const denied = answer.rejected ?? [];
  if (denied.length > 0) parts.push(`denied ${denied.length}: ${countReasons(denied)}`);
  if (typeof answer.reason === 'string') parts.push(`reason ${answer.reason}`);
  return parts.join('; ');
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, USERS_SHOWN_MAX).join(', ');
  return names.length > USERS_SHOWN_MAX ? `${shown}, … ${names.length - USERS_SHOWN_MAX} more` : shown;
}

/** Denials usually share one reason per order; counting them keeps the line short. */
function countReasons(denied: ReadonlyArray<{ reason?: unknown }>): string {
  const counts = new Map<string, number>();
  for (const entry of denied) counts.set(String(entry.reason), (counts.get(String(entry.reason)) ?? 0) + 1);
  return [...counts].map(([reason, times]) => `${reason} ×${times}`).join(', ');
}

function renderSummary(tally: Tally, total: number, interrupted: boolean): string {
  const sorted = [...tally.latenciesMs].sort((left, right) => left - right);
  const stopped = interrupted ? ` (interrupted after ${tally.sent} of ${total})` : '';
  return (
    `summary${stopped}: sent ${tally.sent}, accepted ${tally.accepted}, rejected ${tally.rejected},` +
    ` errors ${tally.errors}, latency p50 ${percentile(sorted, 50)}, p99 ${percentile(sorted, 99)}`
  );
}

/** Nearest-rank percentile of ascending latencies, in ms. */
function percentile(ascendingMs: readonly number[], rank: number): string {
  if (ascendingMs.length === 0) return 'n/a';
  const index = Math.max(0, Math.ceil((rank / 100) * ascendingMs.length) - 1);
  return `${ascendingMs[index]!.toFixed(1)} ms`;
}

function parseProduceArgs(argv: string[]): ProduceArgs {
  const { values } = parseFlags(argv, {
    url: { type: 'string' },
    key: { type: 'string' },
    count: { type: 'string' },
    interval: { type: 'string' },
    seed: { type: 'string' },
    universe: { type: 'string' },
  });
  helpRequested(values);
  const url = parseServerUrl(values.url ?? 'http://127.0.0.1:8080');
  if (url === undefined) {
    throw new UsageError(
      `--url must be an http:// or https:// URL without ?query or #fragment, got ${JSON.stringify(values.url)}`,
    );
  }
  return {
    url,
    key: values.key === undefined ? process.env.ORDERGATE_API_KEY || null : stringFlag(values, 'key', ''),
    count: integerFlag(values, 'count', 300, 1, COUNT_MAX),
    intervalMs: integerFlag(values, 'interval', 1000, 0, INTERVAL_MS_MAX),
    seed: integerFlag(values, 'seed', randomInt(2 ** 32), Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    universe: stringFlag(values, 'universe', 'Jsons/raw_details.json'),
  };
}

/**
 * The base URL without a trailing slash, so that `${url}/create_order` has exactly one. The seed's
 * endpoint URL (…/create_order) names the same server: its path is taken off.
 */
function parseServerUrl(value: string | boolean): string | undefined {
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
  const base = url.href.replace(/\/+$/, '');
  return base.endsWith(ENDPOINT_PATH) ? base.slice(0, -ENDPOINT_PATH.length) : base;
}
