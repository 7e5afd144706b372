// Closed-loop HTTP load for the throughput scenario: wrk where it can be had, else autocannon from
// node_modules. Both send the same pre-drawn random orders in turn, on 64 keep-alive connections.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT, runToEnd } from './processes.js';

export type GeneratorChoice = 'auto' | 'wrk' | 'autocannon';

export type LoadGenerator = { kind: 'wrk'; version: string } | { kind: 'autocannon'; version: string };

export interface LoadOptions {
  url: string;
  connections: number;
  threads: number;
  seconds: number;
  bodies: readonly string[];
  /** A folder for the wrk script. */
  dir: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Answers with a status of 400 or more (wrk counts those; ordergate sends no 3xx). */
  non2xx: number;
  /** Connect, read and write errors and timeouts. */
  socketErrors: number;
  latencyMs: { p50: number; p99: number };
}

const APT_TIMEOUT_MS = 120_000;

/**
 * Finds a load generator: wrk on PATH; else, as root, `apt-get install -y wrk`; else autocannon if it
 * is in node_modules. Returns a sentence for the table when there is none.
 */
export function findLoadGenerator(
  choice: GeneratorChoice,
  progress: (line: string) => void,
): LoadGenerator | string {
  if (choice !== 'autocannon') {
    let version = wrkVersion();
    if (version === undefined && process.getuid?.() === 0) {
      progress('wrk is not on PATH: apt-get install -y wrk …');
      version = aptInstallWrk();
    }
    if (version !== undefined) return { kind: 'wrk', version };
    if (choice === 'wrk') return 'wrk is not installed and could not be (apt-get install wrk as root)';
  }
  const autocannon = autocannonVersion();
  if (autocannon !== undefined) return { kind: 'autocannon', version: autocannon };
  return choice === 'autocannon'
    ? 'autocannon is not in node_modules (npm install --no-save autocannon)'
    : 'no load generator: install wrk (apt-get install wrk) or autocannon (npm install --no-save autocannon)';
}

function wrkVersion(): string | undefined {
  const probe = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (probe.error !== undefined) return undefined;
  // `wrk -v` prints its version and exits 1.
  return /wrk [^\s]+/.exec(probe.stdout + probe.stderr)?.[0] ?? 'wrk';
}

function aptInstallWrk(): string | undefined {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', 'wrk'], { env, timeout: APT_TIMEOUT_MS }).status;
  // The package lists may be missing or stale on a fresh machine.
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { env, timeout: APT_TIMEOUT_MS });
    install();
  }
  return wrkVersion();
}

const requireFromProject = createRequire(join(ROOT, 'package.json'));

function autocannonVersion(): string | undefined {
  try {
    const manifest = requireFromProject('autocannon/package.json') as { version?: string };
    return `autocannon ${manifest.version ?? ''}`.trim();
  } catch {
    return undefined;
  }
}

export async function runLoad(generator: LoadGenerator, options: LoadOptions): Promise<LoadResult> {
  return generator.kind === 'wrk' ? runWrk(options) : runAutocannon(options);
}

async function runWrk(options: LoadOptions): Promise<LoadResult> {
  const script = join(options.dir, 'orders.lua');
  writeFileSync(script, wrkScript(options.bodies));
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '5s',
    '-s',
    script,
    `${options.url}/create_order`,
  ];
  const output = await runToEnd('wrk', args, (options.seconds + 30) * 1000);
  const line = /^WRK_RESULT (.*)$/m.exec(output)?.[1];
  if (line === undefined) throw new Error(`wrk printed no result:\n${output}`);
  const raw = JSON.parse(line) as Record<string, number>;
  const seconds = (raw.duration_us ?? 0) / 1e6;
  const requests = raw.requests ?? 0;
  return {
    requests,
    seconds,
    requestsPerSecond: seconds > 0 ? requests / seconds : 0,
    non2xx: raw.status ?? 0,
    socketErrors: (raw.connect ?? 0) + (raw.read ?? 0) + (raw.write ?? 0) + (raw.timeout ?? 0),
    latencyMs: { p50: (raw.p50_us ?? 0) / 1000, p99: (raw.p99_us ?? 0) / 1000 },
  };
}

/**
 * A wrk script that cycles through the pre-drawn bodies, each thread from its own offset, and prints the
 * summary as one JSON line. Formatting the requests once in init() keeps Lua off the hot path.
 */
function wrkScript(bodies: readonly string[]): string {
  const table = bodies.map((body) => `  [==[${body}]==],`).join('\n');
  return `-- Written by bench/run.ts: random seed-style orders, sent in turn.
local bodies = {
${table}
}
local threads = 0
function setup(thread)
  thread:set('offset', threads * 7919)
  threads = threads + 1
end
local requests = {}
local index = 0
function init(args)
  local headers = { ['Content-Type'] = 'application/json' }
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format('POST', nil, headers, body)
  end
  index = offset or 0
end
function request()
  index = index + 1
  return requests[(index % #requests) + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;
}

/** The parts of autocannon's API and result used here (it is not a dependency, so it has no types). */
type Autocannon = (options: Record<string, unknown>) => Promise<{
  requests: { total: number };
  duration: number;
  non2xx: number;
  /** Connection errors, timeouts included. */
  errors: number;
  latency: { p50: number; p99: number };
}>;

async function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const autocannon = requireFromProject('autocannon') as Autocannon;
  let index = 0;
  const result = await autocannon({
    url: `${options.url}/create_order`,
    connections: options.connections,
    duration: options.seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request: object) => ({
          ...request,
          body: options.bodies[index++ % options.bodies.length],
        }),
      },
    ],
  });
  return {
    requests: result.requests.total,
    seconds: result.duration,
    requestsPerSecond: result.duration > 0 ? result.requests.total / result.duration : 0,
    non2xx: result.non2xx,
    socketErrors: result.errors,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
  };
}
