// npm run bench: starts the servers it needs (real processes on 127.0.0.1, in a temporary folder), runs
// each scenario of issue #4 with a real HTTP load generator, prints one table and writes the same
// figures to bench/results/latest.json. Targets are goals printed beside the figures, never asserted.

import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { parseFlags, readUniverse, UsageError } from '../src/cli/args.js';
import { createRandom } from '../src/domain/random.js';
import { WAL_BYTES_MAX, WAL_OVERSHOOT_BYTES_MAX } from '../src/store/sqlite/writer-protocol.js';
import {
  FANOUT_USERS,
  type FanoutRun,
  type FanoutStep,
  fanoutSteps,
  linearFit,
  type OrderTiming,
  type RestartResult,
  runFanout,
  runRestart,
  totals,
} from './fanout.js';
import { findLoadGenerator, type GeneratorChoice, type LoadResult, runLoad } from './load.js';
import type { OpenLoopResult } from './open-loop.js';
import { runPostgresBench } from './postgres.js';
import {
  assertAlive,
  generateProfile,
  killAll,
  type Proc,
  ROOT,
  runToEnd,
  startBare,
  startOrdergate,
  stopGracefully,
  UNIVERSE,
} from './processes.js';
import { format, HOW_TO_READ, machine, type Row, renderTable } from './report.js';

const SCENARIOS = ['throughput', 'latency', 'fanout', 'restart', 'memory', 'postgres'] as const;
type Scenario = (typeof SCENARIOS)[number];

/** Restart kills the fan-out server; memory is the peak of both. */
const NEEDS: Record<Scenario, readonly Scenario[]> = {
  throughput: [],
  latency: [],
  fanout: [],
  restart: ['fanout'],
  memory: ['fanout', 'restart'],
  postgres: [],
};

interface Durations {
  warmupSeconds: number;
  throughputSeconds: number;
  latencyWarmupMs: number;
  latencySeconds: number;
}

const FULL: Durations = {
  warmupSeconds: 2,
  throughputSeconds: 10,
  latencyWarmupMs: 1000,
  latencySeconds: 10,
};
const QUICK: Durations = { warmupSeconds: 1, throughputSeconds: 3, latencyWarmupMs: 500, latencySeconds: 3 };

const CONNECTIONS = 64;
const THREADS = 2;
const LATENCY_RATE = 1000;
/**
 * One PostgreSQL instance here sustains about 1,000 orders/s, so an open loop at 1,000/s measures its
 * queue, not its latency: the PostgreSQL column is measured at a rate it sustains.
 */
const PG_LATENCY_RATE = 200;
const SMALL_PROFILE_USERS = 20;
const BODY_COUNT = 1000;
/** The WAL file's documented bound (README): the limit, the overshoot allowed, and one commit. */
const WAL_PEAK_BYTES_MAX = WAL_BYTES_MAX + WAL_OVERSHOOT_BYTES_MAX + 8 * 1024 * 1024;
const WAL_SAMPLE_INTERVAL_MS = 20;
const RESULTS = join(ROOT, 'bench/results/latest.json');

const USAGE = `Usage: npm run bench -- [--only LIST] [--quick] [--load-generator auto|wrk|autocannon]

Runs the performance scenarios of issue #4 against real server processes on 127.0.0.1, prints one table
and writes the same figures to bench/results/latest.json. About two minutes; --quick about half.

  throughput  bare Fastify vs ordergate (20 users), wrk, ${CONNECTIONS} connections, ${THREADS} threads:
              req/s of each and their ratio
  latency     open loop at ${LATENCY_RATE} orders/s against ordergate (20 users): p50, p99, p99.9, max
  fanout      orders filling tens of thousands of users (100,000-user profile): fills/s, cost per fill
              at fan-outs of ~450, ~4,500 and ~45,000; leaves ~400,000 positions open
  restart     kill -9 the fan-out server, restart it: time from spawn to the first 200 of /health
  memory      peak RSS of the server during fan-out and restart
  postgres    the same on the PostgreSQL store (BENCH_PG, default the machine's at 127.0.0.1:5432):
              throughput with one instance and with two on one database, latency at ${PG_LATENCY_RATE}/s,
              fan-out on a 10,000-user profile, restart after kill -9

  --only LIST             comma-separated scenarios (default all); restart and memory also run fan-out
  --quick                 shorter runs (3 s instead of 10 s per load), for a quick look
  --load-generator NAME   auto (default: wrk, else apt-get install wrk as root, else autocannon), wrk
                          or autocannon (from node_modules)
  -h, --help              print this help`;

interface Options {
  scenarios: Scenario[];
  quick: boolean;
  generator: GeneratorChoice;
}

interface Context {
  dir: string;
  durations: Durations;
  generator: GeneratorChoice;
  bodies: string[];
  smallProfile: string;
  progress: (line: string) => void;
  /** Set by the fan-out scenario for restart and memory. */
  fanout?: FanoutRun;
  restart?: RestartResult;
}

interface Outcome {
  rows: Row[];
  figures: unknown;
}

/** A row maker for one scenario; rows without a target say so by leaving it out. */
function rowsOf(scenario: string) {
  return (figure: string, value: string, target = '', met: boolean | null = null): Row => ({
    scenario,
    figure,
    value,
    target,
    met,
  });
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseFlags(argv, {
    only: { type: 'string' },
    quick: { type: 'boolean' },
    'load-generator': { type: 'string' },
  });
  if (values.help === true) return 'help';
  const generator = values['load-generator'] ?? 'auto';
  if (generator !== 'auto' && generator !== 'wrk' && generator !== 'autocannon') {
    throw new UsageError(
      `--load-generator must be auto, wrk or autocannon, got ${JSON.stringify(generator)}`,
    );
  }
  return { scenarios: selectScenarios(values.only), quick: values.quick === true, generator };
}

function selectScenarios(only: string | boolean | undefined): Scenario[] {
  if (only === undefined) return [...SCENARIOS];
  const asked = String(only)
    .split(',')
    .map((name) => name.trim().toLowerCase().replace('fan-out', 'fanout'))
    .filter((name) => name !== '');
  const unknown = asked.filter((name) => !(SCENARIOS as readonly string[]).includes(name));
  if (asked.length === 0 || unknown.length > 0) {
    throw new UsageError(`--only takes a list of ${SCENARIOS.join(', ')}; got ${JSON.stringify(only)}`);
  }
  const wanted = new Set(asked as Scenario[]);
  for (const name of asked as Scenario[]) for (const need of NEEDS[name]) wanted.add(need);
  return SCENARIOS.filter((name) => wanted.has(name));
}

/** Random seed-style orders, the same every run (seed 1), drawn from the seed's universe file. */
async function drawBodies(): Promise<string[]> {
  const universe = await readUniverse(UNIVERSE);
  const random = createRandom(1);
  return Array.from({ length: BODY_COUNT }, () =>
    JSON.stringify({
      STRATEGY: random.pick(universe.strategies),
      INSTRUMENT: random.pick(universe.instruments),
      POSITION: random.pick(['BUY', 'SELL']),
    }),
  );
}

async function throughput(context: Context): Promise<Outcome> {
  const generator = findLoadGenerator(context.generator, context.progress);
  if (typeof generator === 'string') {
    context.progress(`skipped: ${generator}`);
    return { rows: [rowsOf('throughput')('skipped', generator)], figures: { skipped: generator } };
  }
  const { warmupSeconds, throughputSeconds } = context.durations;
  let walPeakBytes = 0;
  let dbBytesPerOrder = 0;
  const load = async (
    name: string,
    start: () => Promise<{ proc: Proc; url: string }>,
    dbPath?: string,
  ): Promise<LoadResult> => {
    const server = await start();
    const sampler =
      dbPath === undefined
        ? undefined
        : setInterval(() => {
            walPeakBytes = Math.max(
              walPeakBytes,
              statSync(`${dbPath}-wal`, { throwIfNoEntry: false })?.size ?? 0,
            );
          }, WAL_SAMPLE_INTERVAL_MS);
    try {
      const options = {
        url: server.url,
        connections: CONNECTIONS,
        threads: THREADS,
        bodies: context.bodies,
        dir: context.dir,
      };
      // The warm-up lets V8 optimise the server's hot path and opens every connection before the clock runs.
      await runLoad(generator, { ...options, seconds: warmupSeconds });
      const result = await runLoad(generator, { ...options, seconds: throughputSeconds });
      assertAlive(server.proc, name);
      context.progress(
        `${name}: ${format.int(result.requestsPerSecond)} req/s, non-2xx ${format.int(result.non2xx)}, ` +
          `socket errors ${format.int(result.socketErrors)}, p99 ${format.ms(result.latencyMs.p99)}`,
      );
      return result;
    } finally {
      clearInterval(sampler);
      await stopGracefully(server.proc);
      if (dbPath !== undefined) dbBytesPerOrder = bytesPerOrder(dbPath);
    }
  };
  const bare = await load('bare Fastify', startBare);
  const dir = join(context.dir, 'throughput');
  const ordergate = await load(
    'ordergate',
    () => startOrdergate(dir, context.smallProfile),
    join(dir, 'ordergate.db'),
  );
  context.progress(`peak WAL ${mib(walPeakBytes)}, database ${format.int(dbBytesPerOrder)} bytes per order`);
  const ratio = bare.requestsPerSecond === 0 ? 0 : ordergate.requestsPerSecond / bare.requestsPerSecond;
  const errors = ordergate.non2xx + ordergate.socketErrors;
  const how = `${generator.kind}, ${CONNECTIONS} conn, ${throughputSeconds} s`;
  const row = rowsOf('throughput');
  const rows: Row[] = [
    row(`bare Fastify (${how})`, `${format.int(bare.requestsPerSecond)} req/s`),
    row(`ordergate, ${SMALL_PROFILE_USERS} users`, `${format.int(ordergate.requestsPerSecond)} req/s`),
    // A rate earned with errors means nothing, so errors fail the ratio too.
    row('ordergate / bare Fastify', ratio.toFixed(2), '≥ 0.80', ratio >= 0.8 && errors === 0),
    row('ordergate non-2xx + socket errors', format.int(errors), '0', errors === 0),
    row(
      'peak WAL file during the ordergate run',
      mib(walPeakBytes),
      `≤ ${mib(WAL_PEAK_BYTES_MAX)}`,
      walPeakBytes <= WAL_PEAK_BYTES_MAX,
    ),
    row('database growth per order', `${format.int(dbBytesPerOrder)} bytes`),
  ];
  const bareErrors = bare.non2xx + bare.socketErrors;
  if (bareErrors > 0) rows.push(row('bare non-2xx + socket errors', format.int(bareErrors), '0', false));
  return {
    rows,
    figures: {
      generator: generator.version,
      connections: CONNECTIONS,
      threads: THREADS,
      seconds: throughputSeconds,
      bare,
      ordergate,
      ratio,
      walPeakBytes,
      dbBytesPerOrder,
    },
  };
}

/** The database file's size over the orders it holds, once the server has stopped and checkpointed. */
function bytesPerOrder(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    const orders = db.prepare('SELECT count(*) FROM orders').pluck().get() as number;
    return orders === 0 ? 0 : statSync(dbPath).size / orders;
  } finally {
    db.close();
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function latency(context: Context): Promise<Outcome> {
  const server = await startOrdergate(join(context.dir, 'latency'), context.smallProfile);
  let result: OpenLoopResult;
  try {
    const bodies = join(context.dir, 'bodies.json');
    writeFileSync(bodies, JSON.stringify(context.bodies));
    const client = fileURLToPath(new URL('./open-loop.js', import.meta.url));
    const { latencySeconds, latencyWarmupMs } = context.durations;
    const args = [client, '--url', server.url, '--bodies', bodies, '--rate', String(LATENCY_RATE)];
    args.push('--seconds', String(latencySeconds), '--warmup-ms', String(latencyWarmupMs));
    const output = await runToEnd(process.execPath, args, (latencySeconds + 60) * 1000);
    result = JSON.parse(output.trim().split('\n').at(-1) ?? '') as OpenLoopResult;
    assertAlive(server.proc, 'ordergate');
  } finally {
    await stopGracefully(server.proc);
  }
  const { latencyMs: ms } = result;
  context.progress(
    `p50 ${format.ms(ms.p50)}, p99 ${format.ms(ms.p99)}, p99.9 ${format.ms(ms.p999)}, ` +
      `max ${format.ms(ms.max)}, errors ${result.errors}` +
      (result.firstError === null ? '' : ` (${result.firstError})`),
  );
  const at = `${format.int(LATENCY_RATE)}/s`;
  const row = rowsOf('latency');
  const rows: Row[] = [
    row(`p50 at ${at}, open loop, ${result.seconds} s`, format.ms(ms.p50)),
    row(`p99 at ${at}`, format.ms(ms.p99), '≤ 2 ms', ms.p99 <= 2),
    row(`p99.9 at ${at}`, format.ms(ms.p999), '≤ 5 ms', ms.p999 <= 5),
    row(`max at ${at}`, format.ms(ms.max)),
    row('errors', `${format.int(result.errors)} of ${format.int(result.measured)}`, '0', result.errors === 0),
    // If the client itself sent late, part of the latency is the client's: this says how much.
    row('client send lag p99 (client, not server)', format.ms(result.sendLagMs.p99)),
  ];
  return { rows, figures: result };
}

async function fanout(context: Context): Promise<Outcome> {
  const run = await runFanout(context.dir, context.progress);
  context.fanout = run;
  const { fills, ms } = totals(run.orders);
  const fillsPerSecond = ms === 0 ? 0 : (fills * 1000) / ms;
  const all = [...run.ladder, ...run.orders];
  const unexpected = all.filter((order) => order.fills !== order.expected || order.rejected !== 0);
  const steps = fanoutSteps(all);
  const fits = {
    BUY: linearFit(all.filter((order) => order.side === 'BUY')),
    SELL: linearFit(all.filter((order) => order.side === 'SELL')),
  };
  const growth = bookGrowth(run);
  const row = rowsOf('fan-out');
  const rows: Row[] = [
    row(
      `fills/s, ${format.int(FANOUT_USERS)} users, one order at a time`,
      `${format.int(fillsPerSecond)} fills/s`,
      '≥ 250,000',
      fillsPerSecond >= 250_000,
    ),
    row(
      `orders at ${format.int(FANOUT_USERS)} users`,
      `${run.orders.length}: ${format.int(fills)} fills in ${format.seconds(ms)}`,
    ),
    ...fanoutRows(steps).map(([figure, value]) => row(figure, value)),
    row(
      `${format.int(FANOUT_USERS)}-user BUY µs/fill as the book grows`,
      `${growth.firstUs.toFixed(2)} (empty) → ${growth.lastUs.toFixed(2)} ` +
        `(${format.int(growth.openBefore)} open)`,
    ),
    row(
      'answers with the expected fills',
      `${all.length - unexpected.length} of ${all.length}`,
      'all',
      unexpected.length === 0,
    ),
    row('positions left open', format.int(run.openPositions), '~400,000'),
  ];
  const figures = { fills, ms, fillsPerSecond, serverStartSeconds: run.startSeconds, steps, fits, growth };
  return { rows, figures: { ...figures, openPositions: run.openPositions, orders: all } };
}

/** One row per fan-out: what a fill costs in a BUY and in a SELL; flat across fan-outs means linear. */
function fanoutRows(steps: readonly FanoutStep[]): Array<[string, string]> {
  const sizes = [...new Set(steps.map((step) => step.profileUsers))];
  return sizes.map((profileUsers) => {
    const buy = steps.find((step) => step.profileUsers === profileUsers && step.side === 'BUY');
    const sell = steps.find((step) => step.profileUsers === profileUsers && step.side === 'SELL');
    const fanOut = format.int(buy?.meanFills ?? sell?.meanFills ?? 0);
    const cost = (step: FanoutStep | undefined) => (step === undefined ? '–' : step.usPerFill.toFixed(2));
    return [
      `µs/fill at fan-out ${fanOut} (${format.int(profileUsers)} users)`,
      `BUY ${cost(buy)}, SELL ${cost(sell)}`,
    ];
  });
}

/**
 * The first and the last BUY that stayed open on the 100,000-user profile: the same fan-out, on an empty
 * book and on one of ~360,000 positions. The cost of a fill should follow the fan-out, not the book.
 */
function bookGrowth(run: FanoutRun): { firstUs: number; lastUs: number; openBefore: number } {
  const first = run.held[0];
  const last = run.held.at(-1);
  const perFill = (order: OrderTiming | undefined) =>
    order === undefined || order.fills === 0 ? 0 : (order.ms * 1000) / order.fills;
  // The held BUYs come first (see runFanout): the ones before the last were all open when it came.
  const openBefore = run.held.slice(0, -1).reduce((total, order) => total + order.fills, 0);
  return { firstUs: perFill(first), lastUs: perFill(last), openBefore };
}

async function restart(context: Context): Promise<Outcome> {
  const run = context.fanout;
  if (run === undefined) throw new Error('the fan-out scenario did not leave a server to restart');
  context.progress(
    `kill -9 with ${format.int(run.openPositions)} positions open, then polling /health every 20 ms`,
  );
  const result = await runRestart(run);
  context.restart = result;
  context.progress(
    `first 200 from /health after ${format.seconds(result.readyMs)} (${result.healthPolls} polls)`,
  );
  const row = rowsOf('restart');
  const ready = format.seconds(result.readyMs);
  const rows: Row[] = [
    row(
      `spawn → first 200 /health, ${format.int(run.openPositions)} positions`,
      ready,
      '≤ 2 s',
      result.readyMs <= 2000,
    ),
  ];
  if (result.check !== null) {
    const { closed, expected } = result.check;
    const found = `${format.int(closed)} of ${format.int(expected)}`;
    rows.push(row('positions found again (SELL after restart)', found, 'all', closed === expected));
  }
  return { rows, figures: { openPositions: run.openPositions, ...result } };
}

async function memory(context: Context): Promise<Outcome> {
  const measured = context.restart?.memory;
  if (measured === undefined)
    throw new Error('memory is measured during fan-out and restart, which did not finish');
  const peak = (m: { sampledKiB: number; hwmKiB: number }) => Math.max(m.sampledKiB, m.hwmKiB);
  const fanoutKiB = peak(measured.fanout);
  const restartKiB = peak(measured.restarted);
  const worstKiB = Math.max(fanoutKiB, restartKiB);
  context.progress(`fan-out server ${format.mib(fanoutKiB)}, restarted server ${format.mib(restartKiB)}`);
  const row = rowsOf('memory');
  const rows: Row[] = [
    row('peak RSS during fan-out (VmHWM)', format.mib(fanoutKiB)),
    row('peak RSS after the restart (VmHWM)', format.mib(restartKiB)),
    row(
      `peak RSS, ${format.int(FANOUT_USERS)} users, ~400k positions`,
      format.mib(worstKiB),
      '< 1 GiB',
      worstKiB < 1024 * 1024,
    ),
  ];
  return { rows, figures: { fanoutKiB, restartKiB, peakKiB: worstKiB, samples: measured } };
}

async function postgres(context: Context): Promise<Outcome> {
  const generator = findLoadGenerator(context.generator, context.progress);
  if (typeof generator === 'string') {
    return { rows: [rowsOf('postgres')('skipped', generator)], figures: { skipped: generator } };
  }
  const d = context.durations;
  const result = await runPostgresBench({
    dir: context.dir,
    generator,
    bodies: context.bodies,
    smallProfile: context.smallProfile,
    connections: CONNECTIONS,
    warmupSeconds: d.warmupSeconds,
    seconds: d.throughputSeconds,
    latencyRate: PG_LATENCY_RATE,
    latencySeconds: d.latencySeconds,
    latencyWarmupMs: d.latencyWarmupMs,
    progress: context.progress,
  });
  const row = rowsOf('postgres');
  const { oneInstance: one, twoInstances: two, latency: lat, fanout: fan, restart: re } = result;
  const errors = one.non2xx + one.socketErrors + two.non2xx + two.socketErrors;
  const rows: Row[] = [
    row(
      `one instance, ${SMALL_PROFILE_USERS} users, ${CONNECTIONS} conn`,
      `${format.int(one.requestsPerSecond)} req/s`,
    ),
    row('two instances, one database', `${format.int(two.requestsPerSecond)} req/s`),
    row('non-2xx + socket errors', format.int(errors), '0', errors === 0),
    row(
      `p50 / p99 / p99.9 at ${format.int(PG_LATENCY_RATE)}/s, one instance`,
      `${format.ms(lat.latencyMs.p50)} / ${format.ms(lat.latencyMs.p99)} / ${format.ms(lat.latencyMs.p999)}`,
    ),
    row('latency errors', `${format.int(lat.errors)} of ${format.int(lat.measured)}`, '0', lat.errors === 0),
    row(`fan-out fills/s, ${format.int(fan.users)} users`, `${format.int(fan.fillsPerSecond)} fills/s`),
    row(`restart after kill -9, ${format.int(re.openPositions)} positions`, format.seconds(re.readyMs)),
  ];
  return { rows, figures: result };
}

const RUNNERS: Record<
  Scenario,
  { run: (context: Context) => Promise<Outcome>; title: (context: Context) => string }
> = {
  throughput: {
    run: throughput,
    title: ({ durations: d }) =>
      `throughput: bare Fastify, then ordergate (${SMALL_PROFILE_USERS} users), ` +
      `${CONNECTIONS} connections, ${d.warmupSeconds} s warm-up + ${d.throughputSeconds} s each`,
  },
  latency: {
    run: latency,
    title: ({ durations: d }) =>
      `latency at ${format.int(LATENCY_RATE)} orders/s, open loop, ${d.latencySeconds} s`,
  },
  fanout: {
    run: fanout,
    title: () =>
      `fan-out: profiles of 1,000, 10,000 and ${format.int(FANOUT_USERS)} users, ~400,000 positions`,
  },
  restart: { run: restart, title: () => 'restart after kill -9' },
  memory: { run: memory, title: () => 'memory: peak RSS of the fan-out and restarted servers' },
  postgres: {
    run: postgres,
    title: () => 'PostgreSQL store: throughput (one and two instances), latency, fan-out, restart',
  },
};

async function runScenarios(
  options: Options,
  dir: string,
): Promise<{ rows: Row[]; figures: Record<string, unknown>; failed: number }> {
  const smallProfile = join(dir, `profile-${SMALL_PROFILE_USERS}.json`);
  await generateProfile(SMALL_PROFILE_USERS, smallProfile);
  const context: Context = {
    dir,
    durations: options.quick ? QUICK : FULL,
    generator: options.generator,
    bodies: await drawBodies(),
    smallProfile,
    progress: (line) => console.log(`      ${line}`),
  };
  const rows: Row[] = [];
  const figures: Record<string, unknown> = {};
  let failed = 0;
  try {
    for (const [index, name] of options.scenarios.entries()) {
      const runner = RUNNERS[name];
      console.log(`[${index + 1}/${options.scenarios.length}] ${runner.title(context)} …`);
      const started = performance.now();
      try {
        const outcome = await runner.run(context);
        rows.push(...outcome.rows);
        figures[name] = outcome.figures;
      } catch (error) {
        failed++;
        const message = (error as Error).message;
        console.error(`      ${name} failed: ${message}`);
        rows.push(rowsOf(name)('failed', message.split('\n')[0]!.slice(0, 60), '', false));
        figures[name] = { error: message };
      }
      console.log(`      (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    }
  } finally {
    // Only fan-out without restart leaves its server running; stop it cleanly.
    if (context.fanout !== undefined && context.restart === undefined)
      await stopGracefully(context.fanout.server.proc);
  }
  return { rows, figures, failed };
}

async function main(argv: string[]): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message} (see npm run bench -- --help)`);
    return 2;
  }
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-bench-'));
  const cleanUp = () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  };
  const interrupted = (signal: NodeJS.Signals) => {
    console.error(`\nbench: ${signal}: killing the servers and removing ${dir}`);
    cleanUp();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const host = machine();
    console.log(
      `ordergate bench: ${host.cpu}, ${host.nproc} cores, node ${host.node}, ` +
        `commit ${host.commit ?? 'unknown'}`,
    );
    const { rows, figures, failed } = await runScenarios(options, dir);
    const seconds = (performance.now() - started) / 1000;
    console.log(`\n${renderTable(rows)}\n\n${HOW_TO_READ}\nRun time ${seconds.toFixed(0)} s.`);
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    const durations = options.quick ? QUICK : FULL;
    const document = {
      ...host,
      quick: options.quick,
      durations,
      runSeconds: seconds,
      rows,
      scenarios: figures,
    };
    writeFileSync(RESULTS, `${JSON.stringify(document, null, 2)}\n`);
    console.log(`Figures written to ${RESULTS}.`);
    return failed === 0 ? 0 : 1;
  } finally {
    cleanUp();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

process.exitCode = await main(process.argv.slice(2));
