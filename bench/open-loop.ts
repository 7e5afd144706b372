// An open-loop load client. Request i is planned at start + i/rate, whatever happened to the requests
// before it, and its latency runs from that planned time to the last byte of the answer: a server that
// stalls for 50 ms is charged those 50 ms on every request planned during the stall (a closed-loop client
// would simply send fewer requests and hide it: coordinated omission). Requests go out on a pool of
// keep-alive connections. Run by bench/run.ts as its own process, so that it shares no event loop with
// the server or the benchmark; it prints one JSON line (OpenLoopResult).

import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { integerFlag, parseFlags, stringFlag } from '../src/cli/args.js';
import { plannedNs, type TickerStart } from './ticker.js';

export interface OpenLoopResult {
  rate: number;
  seconds: number;
  /** Requests measured (the warm-up's are sent but not counted). */
  measured: number;
  /** Measured requests that failed: a status other than 200, a socket error or no answer in 5 s. */
  errors: number;
  warmupErrors: number;
  statuses: Record<string, number>;
  firstError: string | null;
  latencyMs: Percentiles;
  /** How late the client itself sent each request: what of the latency is the client's, not the server's. */
  sendLagMs: Percentiles;
  /** The most requests in flight at once (each holds one connection of the pool). */
  maxInFlight: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface OpenLoopOptions {
  url: string;
  rate: number;
  seconds: number;
  warmupSeconds: number;
  bodies: readonly string[];
  maxConnections: number;
}

const REQUEST_TIMEOUT_MS = 5000;
// The ticker's first tick comes after it has surely started.
const START_LEAD_NS = 20_000_000n;

export function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const warmup = Math.round(options.warmupSeconds * options.rate);
  const count = warmup + Math.round(options.seconds * options.rate);
  const target = new URL('/create_order', options.url);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.maxConnections,
    maxFreeSockets: options.maxConnections,
  });
  const latencyNs = new Float64Array(count);
  const sendLagNs = new Float64Array(count);
  const failed = new Uint8Array(count);
  // A request can end more than one way (an answer, then a late socket error): only the first counts.
  const done = new Uint8Array(count);
  const statuses: Record<string, number> = {};
  let firstError: string | null = null;
  let settled = 0;
  let next = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let startNs = 0n;
  const ticker = new Worker(new URL('./ticker.js', import.meta.url));

  return new Promise((resolve, reject) => {
    const settle = (index: number, status: string, ok: boolean, detail?: string) => {
      if (done[index] === 1) return;
      done[index] = 1;
      latencyNs[index] = Number(process.hrtime.bigint() - plannedNs(startNs, index, options.rate));
      statuses[status] = (statuses[status] ?? 0) + 1;
      inFlight--;
      if (!ok) {
        failed[index] = 1;
        firstError ??= detail ?? status;
      }
      if (++settled < count) return;
      void ticker.terminate();
      agent.destroy();
      resolve(summarize(options, warmup, latencyNs, sendLagNs, failed, statuses, firstError, maxInFlight));
    };
    const send = (index: number) => {
      const body = options.bodies[index % options.bodies.length]!;
      const outgoing = request(
        target,
        {
          agent,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          response.resume();
          response.on('error', (error) => settle(index, 'error', false, error.message));
          response.on('aborted', () => settle(index, 'error', false, 'connection closed mid-answer'));
          response.on('end', () => {
            const status = String(response.statusCode);
            settle(index, status, status === '200', `HTTP ${status}`);
          });
        },
      );
      outgoing.setTimeout(REQUEST_TIMEOUT_MS, () => outgoing.destroy(new Error('no answer within 5 s')));
      outgoing.on('error', (error) => settle(index, 'error', false, error.message));
      outgoing.end(body);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      sendLagNs[index] = Number(process.hrtime.bigint() - plannedNs(startNs, index, options.rate));
    };
    ticker.on('message', (due: number) => {
      while (next <= due) send(next++);
    });
    ticker.once('error', reject);
    ticker.once('online', () => {
      startNs = process.hrtime.bigint() + START_LEAD_NS;
      const start: TickerStart = { startNs, rate: options.rate, count };
      ticker.postMessage(start);
    });
  });
}

function summarize(
  options: OpenLoopOptions,
  warmup: number,
  latencyNs: Float64Array,
  sendLagNs: Float64Array,
  failed: Uint8Array,
  statuses: Record<string, number>,
  firstError: string | null,
  maxInFlight: number,
): OpenLoopResult {
  const measured = latencyNs.length - warmup;
  let errors = 0;
  for (let index = warmup; index < failed.length; index++) errors += failed[index]!;
  let warmupErrors = 0;
  for (let index = 0; index < warmup; index++) warmupErrors += failed[index]!;
  return {
    rate: options.rate,
    seconds: options.seconds,
    measured,
    errors,
    warmupErrors,
    statuses,
    firstError,
    // A failed request keeps its time too: it was as late as it was, and dropping it would flatter.
    latencyMs: percentiles(latencyNs.subarray(warmup)),
    sendLagMs: percentiles(sendLagNs.subarray(warmup)),
    maxInFlight,
  };
}

/** Nearest-rank percentiles, in milliseconds, of nanosecond samples. */
export function percentiles(samplesNs: Float64Array): Percentiles {
  const sorted = Float64Array.from(samplesNs).sort();
  const at = (fraction: number) =>
    sorted.length === 0 ? 0 : sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)]! / 1e6;
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
    max: at(1),
    mean: sorted.length === 0 ? 0 : sum / sorted.length / 1e6,
  };
}

const USAGE = `Usage: node dist/bench/open-loop.js --url URL --bodies FILE [options]

Sends POST {url}/create_order at a steady rate, open loop, and prints one JSON line of results.
Run by npm run bench; on its own only to investigate.

  --url URL          the server
  --bodies FILE      a JSON array of request bodies (strings), used in turn
  --rate N           requests per second (default 1000)
  --seconds N        measured seconds (default 10)
  --warmup-ms N      milliseconds sent first and not counted (default 1000)
  --connections N    most keep-alive connections (default 256)`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    url: { type: 'string' },
    bodies: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    'warmup-ms': { type: 'string' },
    connections: { type: 'string' },
  });
  if (values.help === true || values.url === undefined || values.bodies === undefined) {
    console.log(USAGE);
    return values.help === true ? 0 : 2;
  }
  const result = await runOpenLoop({
    url: stringFlag(values, 'url', ''),
    bodies: JSON.parse(readFileSync(stringFlag(values, 'bodies', ''), 'utf8')) as string[],
    rate: integerFlag(values, 'rate', 1000, 1, 1_000_000),
    seconds: integerFlag(values, 'seconds', 10, 1, 3600),
    warmupSeconds: integerFlag(values, 'warmup-ms', 1000, 0, 600_000) / 1000,
    maxConnections: integerFlag(values, 'connections', 256, 1, 10_000),
  });
  console.log(JSON.stringify(result));
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
