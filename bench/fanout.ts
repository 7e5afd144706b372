// Fan-out and restart: orders that apply to tens of thousands of users at once, on a 100,000-user
// profile, leaving ~400,000 positions open; then a kill -9 and the time until the server answers again.
// Smaller profiles (1,000 and 10,000 users) give the same orders at a tenth and a hundredth of the
// fan-out, to show how the cost grows with it.

import { mkdirSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getJson, httpRequest } from './http.js';
import {
  assertAlive,
  freePort,
  generateProfile,
  killHard,
  type MemoryPeak,
  type Ordergate,
  ordergateEnv,
  type Proc,
  sampleMemory,
  spawnOrdergate,
  stopGracefully,
  waitForOutput,
} from './processes.js';
import { format } from './report.js';

export const FANOUT_USERS = 100_000;
const LADDER_USERS = [1_000, 10_000] as const;
const LADDER_PAIRS = 4;
const OPEN_POSITIONS_TARGET = 400_000;
/** Pairs bought and sold again before the end, on top of those left open. */
const ROUND_TRIPS = 3;
const WARMUP_FILLS = 20_000;
const WARMUP_ROUNDS_MAX = 50;
const HEALTH_POLL_MS = 20;
const HEALTH_TIMEOUT_MS = 60_000;

export interface Pair {
  strategy: string;
  instrument: string;
  /** How many users trade this instrument under this strategy: a BUY's fan-out on an empty book. */
  users: number;
}

export interface OrderTiming {
  strategy: string;
  instrument: string;
  side: 'BUY' | 'SELL';
  /** The profile's size, for grouping by fan-out. */
  profileUsers: number;
  /** Users the order applied to: the length of the answer's `accepted`. */
  fills: number;
  /** What the fills should be (all subscribers for a BUY on an empty book, all holders for a SELL). */
  expected: number;
  rejected: number;
  /** From sending the order to the last byte of its answer (after the server's fsync, by design). */
  ms: number;
  bytes: number;
}

export interface FanoutRun {
  server: Ordergate;
  memory: { stop(): MemoryPeak };
  orders: OrderTiming[];
  ladder: OrderTiming[];
  /** The BUYs left open, for the restart's check. */
  held: OrderTiming[];
  openPositions: number;
  startSeconds: number;
}

interface StrategiesAnswer {
  strategies: Array<{ strategy: string; subscribers: number; instruments: Record<string, number> }>;
}

/** Every (strategy, instrument) the server knows, most users first (ties by name, so runs compare). */
export async function strategyPairs(url: string): Promise<Pair[]> {
  const { strategies } = await getJson<StrategiesAnswer>(`${url}/strategies`);
  const pairs = strategies.flatMap(({ strategy, instruments }) =>
    Object.entries(instruments).map(([instrument, users]) => ({ strategy, instrument, users })),
  );
  return pairs.sort(
    (a, b) =>
      b.users - a.users || a.strategy.localeCompare(b.strategy) || a.instrument.localeCompare(b.instrument),
  );
}

interface SeedAnswer {
  RESPONSE?: string;
  accepted?: unknown[];
  rejected?: unknown[];
}

export async function placeOrder(
  url: string,
  agent: Agent,
  pair: Pair,
  side: 'BUY' | 'SELL',
  context: { profileUsers: number; expected: number },
): Promise<OrderTiming> {
  const body = JSON.stringify({ STRATEGY: pair.strategy, INSTRUMENT: pair.instrument, POSITION: side });
  const answer = await httpRequest(`${url}/create_order`, { method: 'POST', body, agent, timeoutMs: 60_000 });
  if (answer.status !== 200) {
    throw new Error(
      `${side} ${pair.strategy} ${pair.instrument}: HTTP ${answer.status} ${answer.body.toString()}`,
    );
  }
  // Parsed after the clock stopped: the client's JSON.parse of a few MB is not the server's time.
  const parsed = JSON.parse(answer.body.toString()) as SeedAnswer;
  return {
    strategy: pair.strategy,
    instrument: pair.instrument,
    side,
    profileUsers: context.profileUsers,
    fills: parsed.accepted?.length ?? 0,
    expected: context.expected,
    rejected: parsed.rejected?.length ?? 0,
    ms: answer.ms,
    bytes: answer.body.length,
  };
}

/** BUY then SELL on the pairs with the most users: fan-outs of the profile's size, for the ladder. */
async function ladderStep(users: number, dir: string): Promise<OrderTiming[]> {
  const folder = join(dir, `ladder-${users}`);
  mkdirSync(folder, { recursive: true });
  const profilePath = join(folder, 'profile.json');
  await generateProfile(users, profilePath);
  const port = await freePort();
  const proc = spawnOrdergate(ordergateEnv(folder, profilePath, port));
  const url = `http://127.0.0.1:${port}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await waitForOutput(proc, /listening on http:\/\//, `ordergate (${users} users)`);
    const pairs = await strategyPairs(url);
    await warmUp(url, agent, pairs);
    const orders: OrderTiming[] = [];
    for (const pair of pairs.slice(0, LADDER_PAIRS)) {
      const bought = await placeOrder(url, agent, pair, 'BUY', { profileUsers: users, expected: pair.users });
      orders.push(bought);
      orders.push(
        await placeOrder(url, agent, pair, 'SELL', { profileUsers: users, expected: bought.fills }),
      );
    }
    return orders;
  } finally {
    agent.destroy();
    await stopGracefully(proc);
  }
}

/**
 * The fan-out scenario. Leaves its server running with ~400,000 open positions for the restart; the
 * caller stops it (or kills it, which is what the restart does).
 */
export async function runFanout(dir: string, progress: (line: string) => void): Promise<FanoutRun> {
  const ladder: OrderTiming[] = [];
  for (const users of LADDER_USERS) {
    const orders = await ladderStep(users, dir);
    ladder.push(...orders);
    progress(`${format.int(users)} users: ${describe(orders)}`);
  }

  const folder = join(dir, 'fanout');
  mkdirSync(folder, { recursive: true });
  const profilePath = join(folder, 'profile.json');
  await generateProfile(FANOUT_USERS, profilePath);
  const port = await freePort();
  const env = ordergateEnv(folder, profilePath, port);
  const proc = spawnOrdergate(env);
  // Memory is watched from the spawn on: loading the profile is part of the peak.
  const memory = sampleMemory(proc.pid);
  await waitForOutput(proc, /listening on http:\/\//, `ordergate (${FANOUT_USERS} users)`);
  const startSeconds = (performance.now() - proc.spawnedAt) / 1000;
  const server: Ordergate = { proc, url: `http://127.0.0.1:${port}`, env };
  const users = format.int(FANOUT_USERS);
  progress(`${users} users: server up in ${startSeconds.toFixed(1)} s (a first start stores the profile)`);

  const pairs = await strategyPairs(server.url);
  const { held, roundTrips } = planPairs(pairs);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const orders: OrderTiming[] = [];
  const context = (expected: number) => ({ profileUsers: FANOUT_USERS, expected });
  try {
    await warmUp(server.url, agent, pairs);
    // One order at a time: each order's time is its own, and fills/s is what a lone strategy gets. The
    // positions that stay open are bought first, so that the first of them meets an empty book and the
    // last one a book of some 360,000 positions; the round trips then grow it further and shrink it back.
    const kept: OrderTiming[] = [];
    for (const pair of held) kept.push(await placeOrder(server.url, agent, pair, 'BUY', context(pair.users)));
    const bought: OrderTiming[] = [];
    for (const pair of roundTrips) {
      bought.push(await placeOrder(server.url, agent, pair, 'BUY', context(pair.users)));
    }
    const sold: OrderTiming[] = [];
    for (const [index, pair] of roundTrips.entries()) {
      sold.push(await placeOrder(server.url, agent, pair, 'SELL', context(bought[index]?.fills ?? 0)));
    }
    orders.push(...kept, ...bought, ...sold);
    assertAlive(proc, 'ordergate');
    const openPositions = kept.reduce((total, order) => total + order.fills, 0);
    progress(`${users} users: ${describe(orders)}; ${format.int(openPositions)} positions open`);
    return { server, memory, orders, ladder, held: kept, openPositions, startSeconds };
  } finally {
    agent.destroy();
  }
}

/**
 * Uncounted BUY and SELL round trips on the pair with the fewest users (which no plan uses) until some
 * 20,000 users were filled: V8 optimises the per-user code only after thousands of calls, a cost of the
 * start and not of the fan-out (a 1,000-user profile would otherwise pay it in its measured orders).
 */
async function warmUp(url: string, agent: Agent, pairs: readonly Pair[]): Promise<void> {
  const pair = pairs.at(-1);
  if (pair === undefined) return;
  const context = { profileUsers: 0, expected: pair.users };
  let filled = 0;
  for (let round = 0; round < WARMUP_ROUNDS_MAX && filled < WARMUP_FILLS; round++) {
    filled += (await placeOrder(url, agent, pair, 'BUY', context)).fills;
    filled += (await placeOrder(url, agent, pair, 'SELL', context)).fills;
  }
}

/** The pairs to leave open (the fewest that reach the target) and the next few to buy and sell again. */
function planPairs(pairs: readonly Pair[]): { held: Pair[]; roundTrips: Pair[] } {
  const held: Pair[] = [];
  let open = 0;
  for (const pair of pairs) {
    if (open >= OPEN_POSITIONS_TARGET) break;
    held.push(pair);
    open += pair.users;
  }
  return { held, roundTrips: pairs.slice(held.length, held.length + ROUND_TRIPS) };
}

function describe(orders: readonly OrderTiming[]): string {
  const { fills, ms } = totals(orders);
  return `${orders.length} orders, ${format.int(fills)} fills in ${format.seconds(ms)}`;
}

export interface RestartResult {
  /** From spawn to the first 200 of GET /health. */
  readyMs: number;
  /** From spawn to the `listening on` line, for comparison. */
  listeningMs: number | null;
  healthPolls: number;
  /** A SELL after the restart on a pair bought before the kill: it must close every position bought. */
  check: { strategy: string; instrument: string; expected: number; closed: number; ms: number } | null;
  memory: { fanout: MemoryPeak; restarted: MemoryPeak };
}

/** kill -9 the fan-out server, start it again on the same database and profile, and time /health. */
export async function runRestart(run: FanoutRun): Promise<RestartResult> {
  const fanoutMemory = run.memory.stop();
  await killHard(run.server.proc);
  const proc = spawnOrdergate(run.server.env);
  const memory = sampleMemory(proc.pid);
  let listeningMs: number | null = null;
  waitForOutput(proc, /listening on http:\/\//, 'ordergate').then(
    () => {
      listeningMs = performance.now() - proc.spawnedAt;
    },
    () => undefined, // the health poll reports a failed start
  );
  try {
    const { readyMs, polls } = await pollHealth(run.server.url, proc);
    const check = await checkRecovered(run);
    await sleep(200);
    return {
      readyMs,
      listeningMs,
      healthPolls: polls,
      check,
      memory: { fanout: fanoutMemory, restarted: memory.stop() },
    };
  } finally {
    memory.stop();
    await stopGracefully(proc);
  }
}

/** Polls GET /health every 20 ms from the spawn until a 200. */
async function pollHealth(url: string, proc: Proc): Promise<{ readyMs: number; polls: number }> {
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  for (let poll = 1; ; poll++) {
    const due = proc.spawnedAt + poll * HEALTH_POLL_MS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (exited) throw new Error(`ordergate exited during the restart:\n${proc.output().trim()}`);
    if (performance.now() - proc.spawnedAt > HEALTH_TIMEOUT_MS) {
      throw new Error(
        `ordergate did not answer /health within ${HEALTH_TIMEOUT_MS / 1000} s:\n${proc.output()}`,
      );
    }
    try {
      const answer = await httpRequest(`${url}/health`, { agent: false, timeoutMs: 1000 });
      if (answer.status === 200) return { readyMs: performance.now() - proc.spawnedAt, polls: poll };
    } catch {
      // Not listening yet: the next poll.
    }
  }
}

async function checkRecovered(run: FanoutRun): Promise<RestartResult['check']> {
  const first = run.held[0];
  if (first === undefined) return null;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const sold = await placeOrder(run.server.url, agent, { ...first, users: first.fills }, 'SELL', {
      profileUsers: FANOUT_USERS,
      expected: first.fills,
    });
    return {
      strategy: first.strategy,
      instrument: first.instrument,
      expected: first.fills,
      closed: sold.fills,
      ms: sold.ms,
    };
  } finally {
    agent.destroy();
  }
}

export interface FanoutStep {
  profileUsers: number;
  side: 'BUY' | 'SELL';
  orders: number;
  meanFills: number;
  meanMs: number;
  usPerFill: number;
}

/**
 * Per profile size and side: the mean fan-out and what a fill cost. Sides apart: a SELL's answer names
 * the buy it closes, so its fills cost more than a BUY's and would blur the comparison across fan-outs.
 */
export function fanoutSteps(orders: readonly OrderTiming[]): FanoutStep[] {
  const sizes = [...new Set(orders.map((order) => order.profileUsers))].sort((a, b) => a - b);
  return sizes.flatMap((profileUsers) =>
    (['BUY', 'SELL'] as const).flatMap((side) => {
      const group = orders.filter((order) => order.profileUsers === profileUsers && order.side === side);
      if (group.length === 0) return [];
      const { fills, ms } = totals(group);
      const usPerFill = fills === 0 ? 0 : (ms * 1000) / fills;
      return [
        {
          profileUsers,
          side,
          orders: group.length,
          meanFills: fills / group.length,
          meanMs: ms / group.length,
          usPerFill,
        },
      ];
    }),
  );
}

export function totals(orders: readonly OrderTiming[]): { fills: number; ms: number } {
  return {
    fills: orders.reduce((total, order) => total + order.fills, 0),
    ms: orders.reduce((total, order) => total + order.ms, 0),
  };
}

/** Least squares of ms = fixedMs + usPerFill × fills / 1000: linear cost shows as a good fit (r² near 1). */
export function linearFit(orders: readonly OrderTiming[]): {
  fixedMs: number;
  usPerFill: number;
  r2: number;
} {
  const n = orders.length;
  const meanX = orders.reduce((total, order) => total + order.fills, 0) / n;
  const meanY = orders.reduce((total, order) => total + order.ms, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const { fills, ms } of orders) {
    sxx += (fills - meanX) ** 2;
    sxy += (fills - meanX) * (ms - meanY);
    syy += (ms - meanY) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return {
    fixedMs: meanY - slope * meanX,
    usPerFill: slope * 1000,
    r2: sxx === 0 || syy === 0 ? 0 : (sxy * sxy) / (sxx * syy),
  };
}
