// The PostgreSQL column of the benchmark: the same scenarios on the shared store, with one instance
// and with two instances on one database (each instance loaded by its own load generator, as a load
// balancer would spread it). Uses the machine's PostgreSQL (BENCH_PG, default
// postgres://postgres@127.0.0.1:5432/postgres) and a throwaway database it drops at the end.

import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type OrderTiming, placeOrder, strategyPairs } from './fanout.js';
import { httpRequest } from './http.js';
import type { LoadGenerator, LoadResult } from './load.js';
import { runLoad } from './load.js';
import type { OpenLoopResult } from './open-loop.js';
import {
  assertAlive,
  freePort,
  generateProfile,
  killHard,
  type Ordergate,
  ordergateEnv,
  type Proc,
  runToEnd,
  spawnOrdergate,
  stopGracefully,
  waitForOutput,
} from './processes.js';

const ADMIN_URL = process.env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const FANOUT_USERS = 10_000;
const FANOUT_PAIRS = 4;

export interface PgBenchOptions {
  dir: string;
  generator: LoadGenerator;
  bodies: string[];
  smallProfile: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  latencyRate: number;
  latencySeconds: number;
  latencyWarmupMs: number;
  progress: (line: string) => void;
}

export interface PgBenchResult {
  oneInstance: LoadResult;
  twoInstances: { requestsPerSecond: number; non2xx: number; socketErrors: number; each: LoadResult[] };
  latency: OpenLoopResult;
  fanout: { users: number; fills: number; ms: number; fillsPerSecond: number; orders: OrderTiming[] };
  restart: { openPositions: number; readyMs: number };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh database; throws a sentence for the table when PostgreSQL cannot be reached. */
async function createDatabase(name: string): Promise<string> {
  try {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin(`CREATE DATABASE ${name}`);
  } catch (error) {
    throw new Error(`PostgreSQL not reachable at ${ADMIN_URL} (${(error as Error).message}); set BENCH_PG`);
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function startOn(databaseUrl: string, dir: string, profile: string): Promise<Ordergate> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const env = { ...ordergateEnv(dir, profile, port), DATABASE_URL: databaseUrl };
  const proc = spawnOrdergate(env);
  await waitForOutput(proc, /listening on http:\/\/[^\s]+/, 'ordergate on PostgreSQL');
  return { proc, url: `http://127.0.0.1:${port}`, env };
}

export async function runPostgresBench(options: PgBenchOptions): Promise<PgBenchResult> {
  const name = `ordergate_bench_${process.pid}`;
  const url = await createDatabase(name);
  try {
    const load = (target: string, connections: number, threads: number, seconds: number) =>
      runLoad(options.generator, {
        url: target,
        connections,
        threads,
        seconds,
        bodies: options.bodies,
        dir: options.dir,
      });
    // One instance.
    const one = await startOn(url, join(options.dir, 'pg-1'), options.smallProfile);
    let oneInstance: LoadResult;
    try {
      await load(one.url, options.connections, 2, options.warmupSeconds);
      oneInstance = await load(one.url, options.connections, 2, options.seconds);
      assertAlive(one.proc, 'ordergate on PostgreSQL');
    } finally {
      await stopGracefully(one.proc);
    }
    options.progress(`one instance: ${Math.round(oneInstance.requestsPerSecond)} req/s`);
    // Two instances on the same database, half the connections each.
    const pair = [
      await startOn(url, join(options.dir, 'pg-2a'), options.smallProfile),
      await startOn(url, join(options.dir, 'pg-2b'), options.smallProfile),
    ];
    let each: LoadResult[];
    try {
      const half = Math.max(1, Math.floor(options.connections / 2));
      await Promise.all(pair.map((server) => load(server.url, half, 1, options.warmupSeconds)));
      each = await Promise.all(pair.map((server) => load(server.url, half, 1, options.seconds)));
      for (const server of pair) assertAlive(server.proc, 'ordergate on PostgreSQL');
    } finally {
      await Promise.all(pair.map((server) => stopGracefully(server.proc)));
    }
    const twoInstances = {
      requestsPerSecond: each.reduce((sum, result) => sum + result.requestsPerSecond, 0),
      non2xx: each.reduce((sum, result) => sum + result.non2xx, 0),
      socketErrors: each.reduce((sum, result) => sum + result.socketErrors, 0),
      each,
    };
    options.progress(`two instances: ${Math.round(twoInstances.requestsPerSecond)} req/s together`);
    const latency = await openLoop(url, options);
    options.progress(
      `latency at ${options.latencyRate}/s: p50 ${latency.latencyMs.p50.toFixed(2)} ms, p99 ${latency.latencyMs.p99.toFixed(2)} ms`,
    );
    const { fanout, restart } = await fanoutAndRestart(options);
    return { oneInstance, twoInstances, latency, fanout, restart };
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
  }
}

async function openLoop(url: string, options: PgBenchOptions): Promise<OpenLoopResult> {
  const server = await startOn(url, join(options.dir, 'pg-latency'), options.smallProfile);
  try {
    const bodies = join(options.dir, 'pg-bodies.json');
    writeFileSync(bodies, JSON.stringify(options.bodies));
    const client = fileURLToPath(new URL('./open-loop.js', import.meta.url));
    const args = [client, '--url', server.url, '--bodies', bodies, '--rate', String(options.latencyRate)];
    args.push('--seconds', String(options.latencySeconds), '--warmup-ms', String(options.latencyWarmupMs));
    const output = await runToEnd(process.execPath, args, (options.latencySeconds + 60) * 1000);
    assertAlive(server.proc, 'ordergate on PostgreSQL');
    return JSON.parse(output.trim().split('\n').at(-1) ?? '') as OpenLoopResult;
  } finally {
    await stopGracefully(server.proc);
  }
}

/**
 * Fan-out on a 10,000-user profile in a database of its own: BUY then SELL on the pairs with the most
 * users, then BUYs left open, a kill -9 and the time to the first 200 of /health.
 */
async function fanoutAndRestart(options: PgBenchOptions): Promise<Pick<PgBenchResult, 'fanout' | 'restart'>> {
  const name = `ordergate_bench_fanout_${process.pid}`;
  const url = await createDatabase(name);
  const dir = join(options.dir, 'pg-fanout');
  mkdirSync(dir, { recursive: true });
  const profile = join(dir, 'profile.json');
  await generateProfile(FANOUT_USERS, profile);
  let server: Ordergate | null = await startOn(url, dir, profile);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const pairs = (await strategyPairs(server.url)).slice(0, FANOUT_PAIRS);
    const context = { profileUsers: FANOUT_USERS, expected: 0 };
    // One round to warm up, one measured.
    for (const pair of pairs) {
      await placeOrder(server.url, agent, pair, 'BUY', { ...context, expected: pair.users });
      await placeOrder(server.url, agent, pair, 'SELL', context);
    }
    const orders: OrderTiming[] = [];
    for (const pair of pairs) {
      const bought = await placeOrder(server.url, agent, pair, 'BUY', { ...context, expected: pair.users });
      orders.push(
        bought,
        await placeOrder(server.url, agent, pair, 'SELL', { ...context, expected: bought.fills }),
      );
    }
    const fills = orders.reduce((sum, order) => sum + order.fills, 0);
    const ms = orders.reduce((sum, order) => sum + order.ms, 0);
    const fanout = {
      users: FANOUT_USERS,
      fills,
      ms,
      fillsPerSecond: ms === 0 ? 0 : (fills * 1000) / ms,
      orders,
    };
    options.progress(`fan-out at ${FANOUT_USERS} users: ${Math.round(fanout.fillsPerSecond)} fills/s`);
    // Leave every pair bought, then kill -9 and restart.
    let openPositions = 0;
    for (const pair of await strategyPairs(server.url)) {
      openPositions += (
        await placeOrder(server.url, agent, pair, 'BUY', { ...context, expected: pair.users })
      ).fills;
    }
    agent.destroy();
    await killHard(server.proc);
    const restarted = spawnOrdergate(server.env);
    const readyMs = await pollHealth(server.url, restarted);
    server = { ...server, proc: restarted };
    options.progress(
      `restart with ${openPositions} positions: /health 200 after ${(readyMs / 1000).toFixed(2)} s`,
    );
    return { fanout, restart: { openPositions, readyMs } };
  } finally {
    agent.destroy();
    if (server !== null) await stopGracefully(server.proc);
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
  }
}

async function pollHealth(url: string, proc: Proc): Promise<number> {
  for (;;) {
    if (performance.now() - proc.spawnedAt > 60_000) throw new Error('no 200 from /health within 60 s');
    try {
      const answer = await httpRequest(`${url}/health`, { agent: false, timeoutMs: 1000 });
      if (answer.status === 200) return performance.now() - proc.spawnedAt;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
