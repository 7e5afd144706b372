// The store's worker threads are supervised (issue 11, point 5). A real fault in a real thread, under
// load from concurrent clients, with no hook in the server: the server runs with its inspector on a
// loopback port, and test/helpers/inspector.ts evaluates an uncaught exception (or a hang) inside the
// writer or the checkpointer thread. The store must notice at once: the orders in flight get 503 saying
// the outcome is unknown, /health says not-ready and why, then ready again once the thread is back;
// no order answered 200 is lost, and the independent model replays the log to every verdict, the
// positions and the trades. A checkpointer that dies is restarted without failing any order, and the
// WAL is still reset afterwards (a lock left behind by the dead thread's connection would stop that).
// When no thread can be made (the server's user at its RLIMIT_NPROC, a real limit of the kernel), a
// thread that died cannot be restarted: the store says so on /health and tries again every second.

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import {
  CHECKPOINTER_THREAD_NAME,
  WAL_BYTES_MAX,
  WAL_OVERSHOOT_BYTES_MAX,
  WRITER_THREAD_NAME,
} from '../../src/store/sqlite/writer-protocol.js';
import { evaluateInThread, hang, INSPECT_OPTION, threadTitles, uncaughtFault } from '../helpers/inspector.js';
import { checkAgainstLog, type Load, startLoad } from '../helpers/order-load.js';
import { privateFolderOn } from '../helpers/prerequisites.js';
import { CLI, ROOT, runCli, type Server, startServer } from '../helpers/server.js';
import { mib, WAL_PEAK_BYTES_MAX, watchWal } from '../helpers/wal-file.js';
import type { Profile } from '../helpers/wire.js';

const TEST_TIMEOUT_MS = 180_000;
const CLIENTS = 24;
const ACKS_BEFORE_FAULT = 300;
const ACKS_AFTER_RECOVERY = 300;
const RECOVERY_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 25;
const WAL_TIMEOUT_MS = 90_000;
/** The writer's own limit (sqlite-store.ts): a hang longer than it is taken for a stuck writer. */
const WRITER_ANSWER_MS_MAX = 10_000;

const USERS = Array.from({ length: 24 }, (_, i) => `Trader ${String(i + 1).padStart(2, '0')}`);
const INSTRUMENTS = ['GRASIM', 'EICHER', 'ACC', 'MINDA', 'L&T', 'BAJAJ-AUTO', 'M&M', 'TATA STEEL'];
const PROFILE: Profile = Object.fromEntries(
  USERS.map((user, i) => [
    user,
    {
      ALPHA: INSTRUMENTS.slice(i % 4),
      'MEAN REV': INSTRUMENTS.slice(0, 2 + (i % 6)),
      ...(i % 3 === 0 && { MOMENTUM: INSTRUMENTS }),
    },
  ]),
);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function health(server: Server): Promise<{ status: number; text: string }> {
  try {
    const response = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, text: await response.text() };
  } catch (error) {
    return { status: 0, text: String(error) };
  }
}

async function until<T>(
  what: string,
  attempt: () => Promise<T | undefined> | T | undefined,
  timeoutMs = RECOVERY_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(POLL_INTERVAL_MS);
  }
}

/** Polls /health until stopped (at the latest when the test ends); keeps every answer that was not a 200. */
function watchHealth(t: TestContext, server: Server) {
  const notReady: string[] = [];
  let polls = 0;
  let stopping = false;
  const running = (async () => {
    while (!stopping) {
      const answer = await health(server);
      polls += 1;
      if (answer.status !== 200) notReady.push(`${answer.status} ${answer.text}`);
      await sleep(POLL_INTERVAL_MS);
    }
  })();
  const stop = async () => {
    stopping = true;
    await running;
  };
  t.after(stop);
  return { notReady, polls: () => polls, stop };
}

async function startLoaded(t: TestContext, seed: number): Promise<{ server: Server; load: Load }> {
  const server = await startServer(t, { profile: PROFILE, env: { NODE_OPTIONS: INSPECT_OPTION } });
  const load = startLoad(server, PROFILE, CLIENTS, seed);
  t.after(() => load.stop());
  await within('orders before the fault', load.acknowledgedMore(ACKS_BEFORE_FAULT));
  return { server, load };
}

/** Every refusal is a 503 naming the thread; those of the orders in flight say the outcome is unknown. */
function checkRefusals(load: Load, cause: RegExp): number {
  let unknown = 0;
  for (const refusal of load.refused) {
    assert.equal(refusal.status, 503, `${JSON.stringify(refusal.order)}: ${refusal.body}`);
    const body = JSON.parse(refusal.body) as { error: string; message: string };
    assert.equal(body.error, 'STORE_UNAVAILABLE', refusal.body);
    assert.match(body.message, cause);
    if (/client_order_id/.test(body.message)) unknown += 1;
  }
  return unknown;
}

async function checkBook(server: Server, load: Load): Promise<void> {
  assert.deepEqual((await checkAgainstLog(server, PROFILE, load)).slice(0, 10), []);
  const check = await runCli(['check', '--database-url', `sqlite:${server.dbPath}`]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
}

test('the writer thread dies of an uncaught exception under load: orders in flight get 503 with an unknown outcome, /health says why, the thread comes back, nothing answered 200 is lost', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { server, load } = await startLoaded(t, 21);
  const watch = watchHealth(t, server);
  // A short stall first, so that orders are surely in flight when the thread dies.
  const { title } = await evaluateInThread(server, WRITER_THREAD_NAME, uncaughtFault(300));
  await until('/health not ready', () => (watch.notReady.length > 0 ? true : undefined));
  await until('/health ready again', async () => ((await health(server)).status === 200 ? true : undefined));
  await within('orders after the recovery', load.acknowledgedMore(ACKS_AFTER_RECOVERY));
  await load.stop();
  await watch.stop();

  t.diagnostic(
    `${load.acknowledged.size} answered 200, ${load.refused.length} refused; /health ${watch.notReady[0]}`,
  );
  assert.match(watch.notReady[0]!, /NOT_READY.*the writer thread stopped \(injected fault, exit code 1\)/);
  const unknown = checkRefusals(load, /writer thread stopped \(injected fault/);
  assert.ok(unknown > 0, 'the orders in flight were told their outcome is unknown');
  const writers = (await threadTitles(server)).filter((name) => name.endsWith(` ${WRITER_THREAD_NAME}`));
  assert.equal(writers.length, 1);
  assert.notEqual(writers[0], title, 'a new writer thread');
  assert.match(server.output(), /writer thread stopped \(injected fault, exit code 1\); restarting it/);
  await checkBook(server, load);
});

test('a writer thread silent for less than WRITER_ANSWER_MS_MAX is waited for; one that hangs past it with orders in flight is taken for stuck: 503 with an unknown outcome, not ready, restarted', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { server, load } = await startLoaded(t, 22);
  const watch = watchHealth(t, server);
  // Within the limit: the clients wait out the silence; more answers than clients prove it ended.
  await evaluateInThread(server, WRITER_THREAD_NAME, hang(WRITER_ANSWER_MS_MAX / 2));
  await within('orders after a short hang', load.acknowledgedMore(ACKS_AFTER_RECOVERY));
  assert.deepEqual(load.refused.slice(0, 3), [], 'no order failed in a hang within the limit');
  assert.deepEqual(watch.notReady.slice(0, 3), [], '/health stayed ready in a hang within the limit');
  // Past it.
  const { title } = await evaluateInThread(server, WRITER_THREAD_NAME, hang(3 * WRITER_ANSWER_MS_MAX));
  await until('/health not ready', () => (watch.notReady.length > 0 ? true : undefined));
  await until('/health ready again', async () => ((await health(server)).status === 200 ? true : undefined));
  await within('orders after the recovery', load.acknowledgedMore(ACKS_AFTER_RECOVERY));
  await load.stop();
  await watch.stop();

  t.diagnostic(`${load.refused.length} refused; /health ${watch.notReady[0]}`);
  assert.match(
    watch.notReady[0]!,
    /NOT_READY.*the writer thread (has|stopped \(terminated: it had) not answered for 1\d s/,
  );
  const unknown = checkRefusals(
    load,
    /writer thread (has|stopped \(terminated: it had) not answered for 1\d s/,
  );
  assert.ok(unknown > 0, 'the orders in flight were told their outcome is unknown');
  const writers = (await threadTitles(server)).filter((name) => name.endsWith(` ${WRITER_THREAD_NAME}`));
  assert.notEqual(writers[0], title, 'the stuck thread was replaced (it hung for 30 s)');
  await checkBook(server, load);
});

test('the checkpointer thread dies of an uncaught exception under load: it is restarted, no order fails, /health stays ready, and the WAL is still reset afterwards', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { server, load } = await startLoaded(t, 23);
  const watch = watchHealth(t, server);
  const { title } = await evaluateInThread(server, CHECKPOINTER_THREAD_NAME, uncaughtFault(0));
  await until('a new checkpointer thread', async () => {
    const titles = await threadTitles(server);
    return titles.some((name) => name.endsWith(` ${CHECKPOINTER_THREAD_NAME}`) && name !== title)
      ? true
      : undefined;
  });
  assert.match(server.output(), /checkpointer thread stopped \(injected fault, exit code 1\); restarting it/);
  assert.match(server.output(), /checkpointer thread restarted/);
  // The log is still reset (by the writer past the limit, or by SQLite when the new checkpointer has
  // caught up): a lock that the dead thread's connection kept would stop both.
  const wal = await watchWal(server, 'two resets of the WAL', WAL_TIMEOUT_MS, (w) => w.resets >= 2);
  await load.stop();
  await watch.stop();

  t.diagnostic(
    `${load.acknowledged.size} answered 200; /health polled ${watch.polls()} times; peak WAL ${mib(wal.peak)}`,
  );
  assert.deepEqual(load.refused.slice(0, 3), [], 'no order failed');
  assert.deepEqual(watch.notReady.slice(0, 3), [], '/health stayed ready');
  assert.ok(wal.peak <= WAL_PEAK_BYTES_MAX, `peak WAL ${mib(wal.peak)}`);
  await checkBook(server, load);
});

// ---------------------------------------------------------------------------------------------------
// No thread can be made: RLIMIT_NPROC. Root is exempt from it, so this server runs as nobody, and the
// limit is lowered by a process of the same user (no CAP_SYS_RESOURCE is needed to lower a soft limit).

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const START_TIMEOUT_MS = 30_000;

function missingForThreadLimit(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root, to run the server as nobody';
  for (const command of ['setpriv', 'prlimit']) {
    if (spawnSync(command, ['--version']).status !== 0) return `needs ${command} (util-linux)`;
  }
  const blocking = privateFolderOn();
  if (blocking !== undefined)
    return `runs the checkout as nobody, who cannot enter ${blocking} (no o+x): run the tests from a checkout other users may reach`;
  return undefined;
}

/** A server like startServer's, but running as nobody in a folder nobody may write. */
async function startServerAsNobody(t: TestContext, profile: Profile): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-test-'));
  chmodSync(dir, 0o777);
  writeFileSync(join(dir, 'profile.json'), JSON.stringify(profile));
  const dbPath = join(dir, 'ordergate.db');
  const env = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${dbPath}`,
    PROFILE_PATH: join(dir, 'profile.json'),
    LOG_DIR: join(dir, 'logs'),
    NODE_OPTIONS: INSPECT_OPTION,
  };
  const child: ChildProcess = spawn('setpriv', [...NOBODY, process.execPath, CLI, 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const port = await until(
    'the server as nobody listening',
    () => {
      if (child.exitCode !== null) assert.fail(`the server exited (${child.exitCode}):\n${output}`);
      return /listening on http:\/\/[^:\s]+:(\d+)/.exec(output)?.[1];
    },
    START_TIMEOUT_MS,
  );
  return {
    dir,
    dbPath,
    databaseUrl: env.DATABASE_URL,
    logDir: env.LOG_DIR,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    output: () => output,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
    restart: () => Promise.reject(new Error('not needed here')),
  };
}

/** Lowers the server's soft RLIMIT_NPROC below the threads it has: no new thread, until lifted. */
function limitThreads(server: Server): { lift(): void } {
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
  const threads = Number(/^Threads:\s+(\d+)/m.exec(status)![1]);
  const hard = /^Max processes\s+\S+\s+(\S+)/m.exec(readFileSync(`/proc/${server.pid}/limits`, 'utf8'))![1]!;
  const prlimit = (soft: string) =>
    execFileSync('setpriv', [...NOBODY, 'prlimit', '--pid', String(server.pid), `--nproc=${soft}:`]);
  prlimit(String(threads - 1));
  return { lift: () => prlimit(hard) };
}

async function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not within ${RECOVERY_TIMEOUT_MS} ms`)),
      RECOVERY_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

const healthMatching = (server: Server, pattern: RegExp) => async () => {
  const answer = await health(server);
  return pattern.test(`${answer.status} ${answer.text}`) ? answer.text : undefined;
};

test('when no thread can be made (RLIMIT_NPROC): a dead checkpointer leaves the store degraded but taking orders, the writer alone bounding the WAL; a dead writer leaves it not ready; both come back once threads can be made', {
  timeout: TEST_TIMEOUT_MS,
  skip: missingForThreadLimit(),
}, async (t) => {
  const server = await startServerAsNobody(t, PROFILE);
  const load = startLoad(server, PROFILE, CLIENTS, 24);
  t.after(() => load.stop());
  await within('orders before the fault', load.acknowledgedMore(ACKS_BEFORE_FAULT));

  // The checkpointer dies and cannot be restarted.
  let limit = limitThreads(server);
  await evaluateInThread(server, CHECKPOINTER_THREAD_NAME, uncaughtFault(0));
  const degraded = await until(
    '/health degraded',
    healthMatching(
      server,
      /^503 .*degraded: the checkpointer thread is not running: it could not be started \(EAGAIN\)/,
    ),
  );
  // Still taking orders; with no checkpointer at all, only the writer's own resets keep the WAL bounded.
  const alone = await watchWal(
    server,
    'a reset by the writer alone',
    WAL_TIMEOUT_MS,
    (w) => w.fullResets >= 1,
  );
  // With no checkpointer run to wait for, the writer lets the file pass the limit up to the overshoot
  // allowed (a reset then copies everything), and not more than a commit past that.
  assert.ok(alone.peak >= WAL_BYTES_MAX + WAL_OVERSHOOT_BYTES_MAX / 2, `peak WAL ${mib(alone.peak)}`);
  assert.ok(alone.peak <= WAL_PEAK_BYTES_MAX, `peak WAL ${mib(alone.peak)}`);
  assert.deepEqual(load.refused.slice(0, 3), [], 'no order failed while degraded');
  limit.lift();
  await until('/health ready again', healthMatching(server, /^200 /));
  assert.match(server.output(), /checkpointer thread restarted/);

  // The writer dies and cannot be restarted.
  limit = limitThreads(server);
  await evaluateInThread(server, WRITER_THREAD_NAME, uncaughtFault(300));
  const recovering = await until(
    '/health: the writer cannot be restarted',
    healthMatching(server, /^503 .*recovering: the writer thread could not be restarted \(EAGAIN\)/),
  );
  limit.lift();
  await until('/health ready again', healthMatching(server, /^200 /));
  await within('orders after the recovery', load.acknowledgedMore(ACKS_AFTER_RECOVERY));
  await load.stop();

  t.diagnostic(
    `/health said: ${degraded} … ${recovering}; WAL peak without a checkpointer ${mib(alone.peak)}`,
  );
  const unknown = checkRefusals(load, /writer thread (stopped|could not be restarted)/);
  assert.ok(unknown > 0, 'the orders in flight were told their outcome is unknown');
  await checkBook(server, load);
});
