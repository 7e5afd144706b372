// The log files of a real server (issue 11, point 7): no answered order's line is lost to a kill -9,
// nor a start-up line; files rotate by size and by UTC day under the seed's names with a part suffix;
// the folder keeps LOG_FILES_MAX of ordergate's files and never touches another file. LOG_SEED replays
// the kill points of the flood.

import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { cannotRun } from '../helpers/prerequisites.js';
import { prng } from '../helpers/random.js';
import { runCli, type Server, startServer } from '../helpers/server.js';
import { postOrder } from '../helpers/wire.js';

const SEED = Number(process.env.LOG_SEED ?? Math.floor(Math.random() * 2 ** 32));
const CLIENTS = 32;
const PROFILE = {
  Ann: { S1: ['ACC', 'GRASIM', 'EICHER'], S2: ['MINDA'] },
  Bob: { S1: ['ACC', 'MINDA'], S2: ['MINDA', 'GRASIM'] },
  Cid: { S2: ['EICHER'] },
};
const ORDERS = [
  ...['ACC', 'GRASIM', 'EICHER', 'MINDA'].flatMap((instrument) =>
    ['S1', 'S2'].flatMap((strategy) =>
      ['BUY', 'SELL'].map((position) => ({ strategy, instrument, position })),
    ),
  ),
];
/** The names ordergate gives its files, written out here independently of the code. */
const OURS = /^log_(\d{4}-\d{2}-\d{2})(?:\.([1-9]\d*))?\.log$/;
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** The server's clock, by libfaketime: 12 s before a UTC midnight (a start-up takes 1–4 s here), running on. */
const BEFORE_MIDNIGHT = {
  LD_PRELOAD: LIBFAKETIME,
  FAKETIME: '@2031-12-31 23:59:48',
  FAKETIME_DONT_FAKE_MONOTONIC: '1',
  TZ: 'UTC',
};
const WAIT_MS = 15_000;

interface LogFile {
  readonly name: string;
  readonly day: string;
  readonly part: number;
  readonly text: string;
}

/** ordergate's files in the folder, oldest first by (day, part). */
function logFiles(dir: string): LogFile[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const name = entry.name;
      const match = OURS.exec(name);
      if (match === null || !entry.isFile()) return [];
      return [
        { name, day: match[1]!, part: Number(match[2] ?? 0), text: readFileSync(join(dir, name), 'utf8') },
      ];
    })
    .sort((a, b) => (a.day === b.day ? a.part - b.part : a.day < b.day ? -1 : 1));
}

/** Every line of the files, parsed: each one must be whole JSON but for the `torn` ones. */
function parsedLines(
  files: readonly LogFile[],
  torn: ReadonlySet<string> = new Set(),
): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  for (const file of files) {
    assert.ok(file.text === '' || file.text.endsWith('\n'), `${file.name} ends with a whole line`);
    for (const line of file.text.split('\n').slice(0, -1)) {
      if (torn.has(line)) continue;
      try {
        lines.push(JSON.parse(line));
      } catch {
        assert.fail(`${file.name}: a line that is not JSON: ${line.slice(0, 200)}`);
      }
    }
  }
  return lines;
}

function loggedOrderIds(lines: readonly Record<string, any>[]): number[] {
  return lines.filter((line) => line.msg === 'order').map((line) => line.order_id as number);
}

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`not within ${WAIT_MS} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `clients` loops sending orders until `stop()` says so or the server is gone; each answer must be a
 * 200, its order_id is recorded the moment it has arrived, and `onAnswer` runs right after, synchronously.
 */
async function flood(
  server: Server,
  options: {
    clients: number;
    stop: () => boolean;
    onAnswer?: (answered: number, answer: { order_id: number; received_at: string }) => void;
  },
): Promise<Set<number>> {
  const answered = new Set<number>();
  let next = 0;
  const client = async () => {
    while (!options.stop()) {
      const order = ORDERS[next++ % ORDERS.length];
      let reply: Awaited<ReturnType<typeof postOrder>>;
      try {
        reply = await postOrder(server, order);
      } catch {
        return; // the server was killed
      }
      // Nothing here may refuse an order: not the log's size, its rotation, nor a full disk.
      assert.equal(reply.status, 200, reply.text);
      const answer = JSON.parse(reply.text) as { order_id: number; received_at: string };
      answered.add(answer.order_id);
      options.onAnswer?.(answered.size, answer);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  return answered;
}

function assertAllLogged(answered: ReadonlySet<number>, lines: readonly Record<string, any>[], when: string) {
  const logged = new Set(loggedOrderIds(lines));
  const missing = [...answered].filter((id) => !logged.has(id));
  assert.deepEqual(
    missing.slice(0, 20),
    [],
    `${when}: ${missing.length} of ${answered.size} answered orders have no log line`,
  );
}

function assertStartupLogged(lines: readonly Record<string, any>[], starts: number) {
  const listening = lines.filter((line) => /^ordergate listening on /.test(line.msg));
  assert.equal(listening.length, starts, 'every start-up line is in the files');
  const open = lines.filter((line) => line.level === 40 && /open mode|no API key/i.test(line.msg));
  assert.equal(open.length, starts, 'and every start-up warning');
}

/** The unterminated end of the last file, where a write cut short by the kill stopped (rare). */
function tornTail(dir: string): string | null {
  const last = logFiles(dir).at(-1);
  if (last === undefined || last.text === '' || last.text.endsWith('\n')) return null;
  return last.text.slice(last.text.lastIndexOf('\n') + 1);
}

// ---------------------------------------------------------------------------------------------------

test('kill -9 right after the last answer arrives: every answered order has its line, and start-up is logged', {
  timeout: 60_000,
}, async (t) => {
  // The highest LOG_FILE_BYTES_MAX and LOG_FILES_MAX are accepted.
  const server = await startServer(t, {
    profile: PROFILE,
    env: { LOG_FILE_BYTES_MAX: String(2 ** 40), LOG_FILES_MAX: '10000' },
  });
  const total = 2000;
  let sent = 0;
  const answered = await flood(server, {
    clients: CLIENTS,
    stop: () => sent++ >= total,
    onAnswer: (count) => {
      if (count === total) process.kill(server.pid, 'SIGKILL');
    },
  });
  await server.kill();
  assert.equal(answered.size, total);
  const lines = parsedLines(logFiles(server.logDir));
  assertAllLogged(answered, lines, 'after the last answer');
  assertStartupLogged(lines, 1);
});

test('kill -9 at random moments of a flood, on the same files: no answered order loses its line', {
  timeout: 120_000,
}, async (t) => {
  t.diagnostic(`LOG_SEED=${SEED} replays the kill points`);
  const random = prng(SEED);
  const server = await startServer(t, { profile: PROFILE });
  const answered = new Set<number>();
  const torn = new Set<string>();
  const cycles = 4;
  for (let cycle = 0; cycle < cycles; cycle++) {
    if (cycle > 0) await server.restart();
    const killAfterMs = 100 + Math.floor(random() * 1400);
    let killed = false;
    let first = 0;
    const cycleAnswered = await flood(server, {
      clients: CLIENTS,
      stop: () => killed,
      onAnswer: () => {
        if (first === 0) first = Date.now();
        if (!killed && Date.now() - first >= killAfterMs) {
          killed = true;
          process.kill(server.pid, 'SIGKILL');
        }
      },
    });
    await server.kill();
    assert.ok(cycleAnswered.size > 0, `cycle ${cycle}: orders were answered before the kill`);
    for (const id of cycleAnswered) answered.add(id);
    // A write the kill cut short can end a file mid-line: only lines of orders not yet answered, which
    // the next start ends with a line feed.
    const tail = tornTail(server.logDir);
    if (tail !== null) torn.add(tail);
    const lines = parsedLines(
      logFiles(server.logDir).map((file) => ({
        ...file,
        text: tail !== null ? `${file.text}\n` : file.text,
      })),
      torn,
    );
    assertAllLogged(answered, lines, `cycle ${cycle}, killed ${killAfterMs} ms after its first answer`);
    assertStartupLogged(lines, cycle + 1);
  }
  t.diagnostic(`${answered.size} answered orders over ${cycles} kills, ${torn.size} line(s) torn by a kill`);
});

test('a file rotates at LOG_FILE_BYTES_MAX into log_DAY.1.log, .2.log …, every line whole, none lost', {
  timeout: 60_000,
}, async (t) => {
  const fileBytesMax = 4096; // the lowest accepted
  const server = await startServer(t, {
    profile: PROFILE,
    env: { LOG_FILE_BYTES_MAX: String(fileBytesMax) },
  });
  let sent = 0;
  const answered = await flood(server, { clients: 16, stop: () => sent++ >= 600 });
  assert.equal(await server.stop(), 0);
  const files = logFiles(server.logDir);
  assert.deepEqual(
    files.map((file) => file.name),
    files.map((file, part) => (part === 0 ? `log_${file.day}.log` : `log_${file.day}.${part}.log`)),
    'parts numbered from the seed name on, none missing',
  );
  assert.ok(files.length >= 30, `600 order lines of ≈ 250 bytes fill many parts: ${files.length}`);
  for (const [index, file] of files.entries()) {
    const bytes = Buffer.byteLength(file.text);
    assert.ok(bytes <= fileBytesMax, `${file.name}: ${bytes} bytes, at most ${fileBytesMax}`);
    const next = files[index + 1];
    if (next === undefined) continue;
    const nextLine = `${next.text.split('\n')[0]}\n`;
    assert.ok(bytes + Buffer.byteLength(nextLine) > fileBytesMax, `${file.name} took every line that fit`);
  }
  const lines = parsedLines(files);
  const ids = loggedOrderIds(lines);
  assert.equal(new Set(ids).size, ids.length, 'no line twice');
  assert.deepEqual(new Set(ids), answered, 'every answered order, and only those');
  const listening = lines.findIndex((line) => /^ordergate listening on /.test(line.msg));
  assert.ok(
    listening >= 0 && listening < lines.findIndex((line) => line.msg === 'order'),
    'start-up, then orders',
  );
  assert.equal(lines.at(-1)!.msg, 'stopped cleanly', 'and the last line closes the last one');
});

test('the folder keeps LOG_FILES_MAX of ordergate’s files, the oldest deleted first, and nothing else is touched', {
  timeout: 60_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logDir = join(dir, 'logs');
  mkdirSync(logDir);
  const old = ['log_2020-01-01.log', 'log_2020-01-02.2.log', 'log_2020-01-02.10.log'];
  const foreign = [
    'notes.txt',
    'log_2020-01-01.log.gz',
    'log_2020-01-01.0.log',
    'log_2020-01-01.01.log',
    'log_2020-1-1.log',
    'app_log_2020-01-01.log',
    'log_x.log',
  ];
  for (const name of [...old, ...foreign]) writeFileSync(join(logDir, name), `${name}\n`);
  mkdirSync(join(logDir, 'log_2019-12-31.log'));
  const names = () => readdirSync(logDir).sort();
  const ours = () => names().filter((name) => OURS.test(name) && name !== 'log_2019-12-31.log');
  const untouched = () => {
    for (const name of foreign) assert.equal(readFileSync(join(logDir, name), 'utf8'), `${name}\n`, name);
    assert.ok(existsSync(join(logDir, 'log_2019-12-31.log')), 'a folder is never deleted');
  };

  // At the limit: three old files and today's make four; nothing is deleted.
  const env = { LOG_FILES_MAX: '4', LOG_FILE_BYTES_MAX: '4096' };
  const server = await startServer(t, { dir, profile: PROFILE, env });
  assert.equal(await server.stop(), 0, 'a clean stop waits for any deletion under way');
  const today = ours().find((name) => !old.includes(name))!;
  assert.match(today, /^log_\d{4}-\d{2}-\d{2}\.log$/);
  assert.deepEqual(ours(), [...old, today].sort());

  // One past it: the first new part deletes the oldest file, then the next one, by part number, not by name.
  await server.restart();
  const part = (n: number) => today.replace(/\.log$/, `.${n}.log`);
  while (!existsSync(join(logDir, part(1)))) {
    assert.equal((await postOrder(server, ORDERS[0])).status, 200);
  }
  await waitFor('the oldest file is deleted', () => !ours().includes('log_2020-01-01.log'));
  assert.deepEqual(ours(), ['log_2020-01-02.10.log', 'log_2020-01-02.2.log', today, part(1)].sort());
  while (!existsSync(join(logDir, part(2)))) {
    assert.equal((await postOrder(server, ORDERS[0])).status, 200);
  }
  await waitFor('the next oldest is deleted', () => !ours().includes('log_2020-01-02.2.log'));
  assert.deepEqual(ours(), ['log_2020-01-02.10.log', today, part(1), part(2)].sort());
  untouched();

  // A flood through many parts leaves the four newest.
  let sent = 0;
  await flood(server, { clients: 8, stop: () => sent++ >= 400 });
  assert.equal(await server.stop(), 0);
  const kept = logFiles(logDir);
  assert.equal(kept.length, 4, `kept: ${kept.map((file) => file.name).join(', ')}`);
  const newest = kept.at(-1)!.part;
  assert.ok(newest > 6, `the flood made many parts (${newest})`);
  assert.deepEqual(
    kept.map((file) => file.part),
    [newest - 3, newest - 2, newest - 1, newest],
  );
  parsedLines(kept);
  untouched();

  // The lowest LOG_FILES_MAX, 1: only the file being written stays.
  const one = await startServer(t, { dir, profile: PROFILE, env: { ...env, LOG_FILES_MAX: '1' } });
  await waitFor('one file is left', () => ours().length === 1);
  // The newest part, or the next one if the start's own lines filled it.
  const [left] = logFiles(logDir);
  assert.ok(left!.part >= newest, `the file written to is the one kept (${left!.name})`);
  assert.equal(await one.stop(), 0);
  untouched();
});

test('at UTC midnight the log goes on in the new day’s file (the process clock set by libfaketime)', {
  timeout: 60_000,
}, async (t) => {
  if (!existsSync(LIBFAKETIME))
    return void cannotRun(
      t,
      `the midnight test needs libfaketime, not at ${LIBFAKETIME}`,
      'apt-get install -y faketime',
    );
  // The server's own clock, not the test's: libfaketime starts it 12 s before midnight (a start-up
  // takes 1–4 s here), and it runs on.
  const server = await startServer(t, {
    profile: PROFILE,
    env: BEFORE_MIDNIGHT,
  });
  // Each answer says which day the server's clock was on: orders go on until 200 came after midnight.
  let afterMidnight = 0;
  const answered = await flood(server, {
    clients: 4,
    stop: () => afterMidnight >= 200,
    onAnswer: (_, answer) => {
      if (answer.received_at.startsWith('2032-01-01')) afterMidnight++;
    },
  });
  assert.equal(await server.stop(), 0);
  const files = logFiles(server.logDir);
  assert.deepEqual(
    files.map((file) => file.name),
    ['log_2031-12-31.log', 'log_2032-01-01.log'],
  );
  for (const file of files) {
    for (const line of parsedLines([file])) {
      assert.equal(line.time.slice(0, 10), file.day, `${file.name}: a line of its own day (${line.time})`);
    }
  }
  const before = loggedOrderIds(parsedLines(files.slice(0, 1)));
  const after = loggedOrderIds(parsedLines(files.slice(1)));
  assert.ok(
    before.length > 0 && after.length >= 200,
    `orders on both days: ${before.length}, ${after.length}`,
  );
  assert.deepEqual(
    new Set([...before, ...after]),
    answered,
    'every answered order, in one file or the other',
  );
  assert.ok(parsedLines(files.slice(0, 1)).some((line) => /^ordergate listening on /.test(line.msg)));
  assert.equal(parsedLines(files.slice(1)).at(-1)!.msg, 'stopped cleanly');
});

test('a log file that cannot be written drops lines, never orders, and the next day’s file is tried again', {
  timeout: 60_000,
}, async (t) => {
  if (!existsSync(LIBFAKETIME))
    return void cannotRun(
      t,
      `the midnight test needs libfaketime, not at ${LIBFAKETIME}`,
      'apt-get install -y faketime',
    );
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'logs'));
  // Every write to /dev/full fails with ENOSPC: a full disk for the first day's file alone.
  symlinkSync('/dev/full', join(dir, 'logs', 'log_2031-12-31.log'));
  const server = await startServer(t, {
    dir,
    profile: PROFILE,
    env: BEFORE_MIDNIGHT,
  });
  let afterMidnight = 0;
  const answered = new Map<number, string>();
  await flood(server, {
    clients: 4,
    stop: () => afterMidnight >= 50,
    onAnswer: (_, answer) => {
      answered.set(answer.order_id, answer.received_at);
      if (answer.received_at.startsWith('2032-01-01')) afterMidnight++;
    },
  });
  assert.equal(await server.stop(), 0);
  assert.match(server.output(), /cannot write the log file \(ENOSPC\); log lines are dropped/);
  assert.match(
    server.output(),
    /the log file can be written again; log lines were dropped while it could not \(\d+\)/,
  );
  const files = logFiles(join(dir, 'logs'));
  assert.deepEqual(
    files.map((file) => file.name),
    ['log_2032-01-01.log'],
  );
  const lines = parsedLines(files);
  assert.equal(lines[0]!.level, 40);
  assert.ok(lines[0]!.dropped > 0, 'the first line of the new file counts the lines dropped');
  const logged = new Set(loggedOrderIds(lines));
  for (const [id, receivedAt] of answered) {
    if (receivedAt.startsWith('2032-01-01'))
      assert.ok(logged.has(id), `order ${id} of the new day is logged`);
  }
});

test('LOG_FILE_BYTES_MAX and LOG_FILES_MAX one past their limits stop start-up with exit code 2', {
  timeout: 60_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: [Record<string, string>, RegExp][] = [
    [
      { LOG_FILE_BYTES_MAX: '4095' },
      /LOG_FILE_BYTES_MAX must be an integer from 4096 to 1099511627776, got "4095"/,
    ],
    [
      { LOG_FILE_BYTES_MAX: String(2 ** 40 + 1) },
      /LOG_FILE_BYTES_MAX must be an integer from 4096 to 1099511627776/,
    ],
    [{ LOG_FILE_BYTES_MAX: '256MiB' }, /LOG_FILE_BYTES_MAX must be an integer/],
    [{ LOG_FILES_MAX: '0' }, /LOG_FILES_MAX must be an integer from 1 to 10000, got "0"/],
    [{ LOG_FILES_MAX: '10001' }, /LOG_FILES_MAX must be an integer from 1 to 10000, got "10001"/],
  ];
  for (const [env, message] of cases) {
    const result = await runCli(['serve'], {
      env: { ...env, LOG_DIR: join(dir, 'logs'), PROFILE_PATH: join(dir, 'none.json'), PORT: '0' },
    });
    assert.equal(result.code, 2, JSON.stringify(env));
    assert.match(result.stderr, message);
  }
  const flag = await runCli(['serve', '--log-files-max', '0'], { env: { LOG_DIR: join(dir, 'logs') } });
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /LOG_FILES_MAX must be an integer from 1 to 10000, got "0"/);
  assert.equal(existsSync(join(dir, 'logs')), false, 'nothing was started');
});
