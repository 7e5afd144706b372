// Start-up guesses nothing and stops on a slip with one line that says what to do, before anything
// is written to the database: a mistyped PROFILE_PATH, a profile with a user twice, a port in use,
// a path that cannot be used. Without PROFILE_PATH a missing profile is generated on a new database
// only; on one that holds a profile, that profile stays in force. Open mode listens on loopback only.
// The same suite runs on PostgreSQL (test/e2e/postgres/startup-guards.test.ts); what concerns only
// files and folders runs on SQLite only.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { ownDatabaseUrl, queryNumber, storedAnything } from '../helpers/database.js';
import { testOn } from '../helpers/postgres.js';
import { isRoot, needs } from '../helpers/prerequisites.js';
import { CLI, get, post, ROOT, runCli, type Server, seedOrder, startServer } from '../helpers/server.js';
import { waitFor, waitForOutput } from '../helpers/wait.js';

/** How long a refused start may take; a start that is not refused runs on and is killed after it. */
const REFUSAL_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 30_000;

const PROFILE = { Ann: { S1: ['ACC', 'INFY'] }, Bob: { S1: ['ACC'] }, Cy: { S1: ['ACC'], S2: ['TCS'] } };

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-guards-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A folder laid out as a fresh clone is for the server: the universe file, and no profile yet. */
function freshClone(t: TestContext): string {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'Jsons'));
  copyFileSync(join(ROOT, 'Jsons/raw_details.json'), join(dir, 'Jsons/raw_details.json'));
  return dir;
}

/** A server's environment in `dir`, on a database of the test's own. */
async function envFor(
  t: TestContext,
  dir: string,
  overrides: Record<string, string> = {},
): Promise<Record<string, string>> {
  const profilePath = join(dir, 'profile.json');
  if (!existsSync(profilePath)) writeFileSync(profilePath, JSON.stringify(PROFILE));
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: await ownDatabaseUrl(t, dir),
    PROFILE_PATH: profilePath,
    LOG_DIR: join(dir, 'logs'),
    ...overrides,
  };
}

/** The environment a server ran with, to run the CLI on the same database and files. */
function envOf(server: Server): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: server.databaseUrl,
    PROFILE_PATH: join(server.dir, 'profile.json'),
    LOG_DIR: server.logDir,
  };
}

/**
 * What a start must leave as it was when it is refused: the rows that a profile and the schema write,
 * and on SQLite the database file's bytes (its -wal file too, if one is left).
 */
async function databaseState(databaseUrl: string): Promise<Record<string, number | string>> {
  const state: Record<string, number | string> = {};
  for (const table of ['profile_versions', 'users', 'subscriptions', 'orders', 'positions'])
    state[table] = await queryNumber(databaseUrl, `SELECT count(*) FROM ${table}`);
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    state.bytes = sha256(readFileSync(path));
    state.wal = existsSync(`${path}-wal`) ? sha256(readFileSync(`${path}-wal`)) : sha256(Buffer.alloc(0));
  } else {
    state.inForce = await queryNumber(
      databaseUrl,
      'SELECT coalesce(current_profile_version, 0) FROM ordergate_schema WHERE id = 1',
    );
  }
  return state;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function assertOneLine(result: { stdout: string; stderr: string }): void {
  const lines = (result.stdout + result.stderr).trim().split('\n');
  assert.equal(lines.length, 1, `one line, no stack trace:\n${result.stdout}${result.stderr}`);
}

async function usersOf(url: string): Promise<string[]> {
  return (await get(`${url}/users`)).body.users.map((u: { user: string }) => u.user).sort();
}

// ---------------------------------------------------------------------------------------------------
// Point 2: nothing guessed.

test('a mistyped PROFILE_PATH (flag or environment) is refused, naming it, with the database left as it was', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: 'BUY' });
  await server.stop();
  const before = await databaseState(server.databaseUrl);
  const typo = join(server.dir, 'seed_exmaple.json');
  const env = envOf(server);
  for (const [args, extra] of [
    [['serve', '--profile-path', typo], {}],
    [['serve'], { PROFILE_PATH: typo }],
  ] as const) {
    const result = await runCli(args, { env: { ...env, ...extra }, timeoutMs: REFUSAL_TIMEOUT_MS });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /PROFILE_PATH .*seed_exmaple\.json does not exist: check the path/);
    assertOneLine(result);
  }
  assert.equal(existsSync(typo), false, 'no profile was generated in its place');
  assert.deepEqual(await databaseState(server.databaseUrl), before, 'nothing was written to the database');
  await server.restart();
  assert.deepEqual(await usersOf(server.url), Object.keys(PROFILE).sort(), 'the users in force are kept');
});

test('without PROFILE_PATH, a missing profile on a database that has one: the profile in force, said so, no file written', async (t) => {
  const dir = freshClone(t);
  const kept = { Zed: { S9: ['INFY'] } };
  writeFileSync(join(dir, 'kept.json'), JSON.stringify(kept));
  const databaseUrl = await ownDatabaseUrl(t, dir);
  const first = await startServer(t, {
    dir,
    cwd: dir,
    env: { DATABASE_URL: databaseUrl, PROFILE_PATH: join(dir, 'kept.json') },
  });
  await first.stop();
  const before = await databaseState(databaseUrl);
  const server = await startServer(t, {
    dir,
    cwd: dir,
    unset: ['PROFILE_PATH'],
    env: { DATABASE_URL: databaseUrl },
  });
  assert.match(
    server.output(),
    /no profile at .*Jsons\/user_profile\.json and PROFILE_PATH not set: starting with the profile in force in the database \(version 1, loaded .*, 1 users\), writing no file/,
  );
  assert.deepEqual(await usersOf(server.url), ['Zed']);
  assert.equal(existsSync(join(dir, 'Jsons/user_profile.json')), false, 'no profile file was written');
  await server.stop();
  const after = await databaseState(databaseUrl);
  assert.equal(after.profile_versions, before.profile_versions, 'no new profile version');
  assert.equal(after.users, before.users);
});

test('a profile imported at start that removes users holding open positions says so, naming them; the positions stay closable', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const buy = await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: 'BUY' });
  assert.equal(buy.body.accepted.length, 3);
  await server.stop();
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify({ Ann: PROFILE.Ann }));
  await server.restart({ IMPORT_PROFILE: '1' });
  const warning = await waitForOutput(
    server,
    /2 users who hold 2 open positions are not in the profile in force: ("Bob", "Cy"|"Cy", "Bob"); the positions stay open and can still be closed with a SELL/,
  );
  assert.ok(warning);
  const sell = await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: 'SELL' });
  assert.deepEqual(sell.body.accepted.map((a: { user: string }) => a.user).sort(), ['Ann', 'Bob', 'Cy']);
});

test('a profile with a user written twice is refused, naming them; a UTF-8 byte-order mark is accepted', async (t) => {
  const dir = tempDir(t);
  const text =
    '{"Ann": {"S1": ["ACC"]}, "Bob": {"S1": ["ACC"]}, "Ann": {"S2": ["TCS"]}, "B\\u006fb": {"S1": ["X"]}}';
  writeFileSync(join(dir, 'profile.json'), text);
  const env = await envFor(t, dir);
  const refused = await runCli(['serve'], { env, timeoutMs: REFUSAL_TIMEOUT_MS });
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(
    refused.stdout + refused.stderr,
    /profile\.json: 2 users are listed more than once: "Ann", "Bob"/,
  );
  assertOneLine(refused);
  assert.equal(await storedAnything(env.DATABASE_URL!), false, 'nothing was stored');

  writeFileSync(join(dir, 'profile.json'), '{"Ann": {"S1": ["ACC"], "S1": ["TCS"]}}');
  const strategy = await runCli(['serve'], { env, timeoutMs: REFUSAL_TIMEOUT_MS });
  assert.equal(strategy.code, 2, strategy.stdout + strategy.stderr);
  assert.match(strategy.stdout + strategy.stderr, /user "Ann": strategy "S1" is listed more than once/);

  writeFileSync(join(dir, 'profile.json'), `\uFEFF${JSON.stringify(PROFILE)}`);
  const server = await startServer(t, { dir, env });
  assert.deepEqual(await usersOf(server.url), Object.keys(PROFILE).sort());
});

// ---------------------------------------------------------------------------------------------------
// Point 3: open mode listens on loopback only unless HOST is set.

/** Whether a TCP connection to host:port is accepted: 'connected', or the error's code. */
function connects(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port }, () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

function portOf(server: Server): number {
  return Number(new URL(server.url).port);
}

// 127.0.0.2 is loopback too (all of 127/8 on Linux): a server on 0.0.0.0 answers there, one on
// 127.0.0.1 does not, which tells the two apart without leaving the machine.
const OTHER_LOOPBACK = '127.0.0.2';

test('in open mode without HOST the server listens on 127.0.0.1 only and says so; the seed client still posts there', async (t) => {
  const server = await startServer(t, { profile: PROFILE, unset: ['HOST'] });
  assert.match(
    server.output(),
    /open mode \(no API key exists\): listening on 127\.0\.0\.1 only, .*create an admin key \(POST \/keys \{"role":"admin"\} to this server\) and restart.*or set HOST/,
  );
  assert.match(server.output(), /listening on http:\/\/127\.0\.0\.1:\d+/);
  const seed = await post(`http://127.0.0.1:${portOf(server)}/create_order`, seedOrder('S1', 'ACC', 'BUY'));
  assert.equal(seed.status, 200);
  assert.equal(seed.body.RESPONSE, 'ACCEPTED');
  assert.notEqual(
    await connects(OTHER_LOOPBACK, portOf(server)),
    'connected',
    'not reachable beyond 127.0.0.1',
  );

  // HOST set explicitly is used, in open mode too, with the open-mode warning.
  const open = await startServer(t, { profile: PROFILE, env: { HOST: '0.0.0.0' } });
  assert.match(open.output(), /no API key exists: the server runs open and anyone who can reach it/);
  assert.doesNotMatch(open.output(), /listening on 127\.0\.0\.1 only/);
  assert.equal(await connects(OTHER_LOOPBACK, portOf(open)), 'connected');
});

test('once an API key exists, a server without HOST listens on the default 0.0.0.0', async (t) => {
  const dir = tempDir(t);
  const env = await envFor(t, dir);
  const key = await runCli(['keys', 'create', '--admin', '--database-url', env.DATABASE_URL!]);
  assert.equal(key.code, 0, key.stderr);
  const server = await startServer(t, { dir, unset: ['HOST'], env: { DATABASE_URL: env.DATABASE_URL! } });
  assert.match(server.output(), /listening on http:\/\/0\.0\.0\.0:\d+/);
  assert.doesNotMatch(server.output(), /open mode|runs open/);
  assert.equal(await connects(OTHER_LOOPBACK, portOf(server)), 'connected');
});

// ---------------------------------------------------------------------------------------------------
// Point 5: a port in use, said before anything is written; the same if the port is lost in between.

function holdPort(t: TestContext, port = 0): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    const held = createServer();
    held.once('error', reject);
    held.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(held));
    t.after(() => new Promise<void>((done) => held.close(() => done())));
  });
}

function heldPort(held: NetServer): number {
  return (held.address() as { port: number }).port;
}

const PORT_IN_USE =
  /cannot listen on 127\.0\.0\.1:(\d+): the port is in use .*choose another port with --port or PORT \(0 picks a free one\)/;

test('a port in use stops the start with exit 2, naming host:port and how to choose another, with nothing written', async (t) => {
  const held = await holdPort(t);
  const port = String(heldPort(held));
  const dir = tempDir(t);
  const env = await envFor(t, dir, { PORT: port });
  const fresh = await runCli(['serve'], { env, timeoutMs: REFUSAL_TIMEOUT_MS });
  assert.equal(fresh.code, 2, fresh.stdout + fresh.stderr);
  assert.match(fresh.stdout + fresh.stderr, PORT_IN_USE);
  assert.ok((fresh.stdout + fresh.stderr).includes(`127.0.0.1:${port}`));
  assert.match(fresh.stdout + fresh.stderr, /nothing was written to the database/);
  assertOneLine(fresh);
  assert.equal(await storedAnything(env.DATABASE_URL!), false, 'a new database is not even created');

  // On a database in use, with a changed profile that opening would store as a new version.
  const server = await startServer(t, { profile: PROFILE });
  await server.stop();
  writeFileSync(join(server.dir, 'profile.json'), JSON.stringify({ ...PROFILE, Dee: { S1: ['ACC'] } }));
  const before = await databaseState(server.databaseUrl);
  const busy = await runCli(['serve'], {
    env: { ...envOf(server), PORT: port },
    timeoutMs: REFUSAL_TIMEOUT_MS,
  });
  assert.equal(busy.code, 2, busy.stdout + busy.stderr);
  assert.match(busy.stdout + busy.stderr, PORT_IN_USE);
  assert.deepEqual(await databaseState(server.databaseUrl), before, 'nothing was written to the database');
});

/** A free port on 127.0.0.1, closed again: the server is told to use it. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

test('a port taken after it was tried, while the store opens, is reported the same way, exit 2', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const env = await envFor(t, dir, { PORT: String(port) });
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // The schema is migrated after the port was tried and before the server listens: the port is
  // taken while the server is held still there, so the race is lost every time.
  await waitFor('the schema migrated', () => /database schema migrated/.test(output), EXIT_TIMEOUT_MS);
  child.kill('SIGSTOP');
  try {
    await holdPort(t, port);
  } finally {
    child.kill('SIGCONT');
  }
  const { code } = await waitFor(
    'the server to exit',
    () => (child.exitCode === null ? undefined : { code: child.exitCode }),
    EXIT_TIMEOUT_MS,
  );
  assert.equal(code, 2, output);
  const match = PORT_IN_USE.exec(output);
  assert.ok(match, output);
  assert.equal(Number(match[1]), port);
});

// ---------------------------------------------------------------------------------------------------
// Point 5: a path that cannot be used is one line and exit 2, with nothing created.

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/**
 * Runs serve as a user who may not write (or read) what chmod took away: root may do anything, so as
 * root the CLI runs as nobody, in a folder opened to everyone.
 */
async function runServeUnprivileged(
  t: TestContext,
  dir: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string } | undefined> {
  if (!isRoot()) return runCli(['serve'], { env, timeoutMs: REFUSAL_TIMEOUT_MS });
  if (
    !needs(t, {
      commands: ['setpriv'],
      otherUsers: true,
      purpose: 'a test of a folder this user may not write',
    })
  )
    return undefined;
  chmodSync(dir, 0o777);
  return runCli(['serve'], { env, timeoutMs: REFUSAL_TIMEOUT_MS, wrapper: ['setpriv', ...NOBODY] });
}

testOn(
  'sqlite',
  'LOG_DIR that is a file (the original exercise ships Logs as one) is one line, exit 2',
  {},
  async (t) => {
    const dir = freshClone(t);
    writeFileSync(join(dir, 'Logs'), 'the seed shipped this as a file\n');
    const env = await envFor(t, dir);
    const result = await runCli(['serve'], {
      env,
      cwd: dir,
      unset: ['LOG_DIR'],
      timeoutMs: REFUSAL_TIMEOUT_MS,
    });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /LOG_DIR .*\/Logs is a file, not a folder .*set LOG_DIR \(--log-dir\)/);
    assertOneLine(result);
    assert.equal(await storedAnything(env.DATABASE_URL!), false, 'nothing was created');
  },
);

testOn('sqlite', 'LOG_DIR that cannot be created or written is one line, exit 2', {}, async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'afile'), '');
  const env = await envFor(t, dir, { LOG_DIR: join(dir, 'afile/logs') });
  const created = await runCli(['serve'], { env, timeoutMs: REFUSAL_TIMEOUT_MS });
  assert.equal(created.code, 2, created.stdout + created.stderr);
  assert.match(created.stderr, /LOG_DIR .*afile\/logs cannot be created: .*afile is a file, not a folder/);
  assertOneLine(created);

  mkdirSync(join(dir, 'locked'), { mode: 0o555 });
  chmodSync(join(dir, 'locked'), 0o555);
  const written = await runServeUnprivileged(t, dir, { ...env, LOG_DIR: join(dir, 'locked') });
  if (written === undefined) return;
  assert.equal(written.code, 2, written.stdout + written.stderr);
  assert.match(written.stderr, /LOG_DIR .*locked cannot be written \(EACCES\)/);
  assertOneLine(written);
  assert.equal(await storedAnything(env.DATABASE_URL!), false, 'nothing was created');
});

testOn(
  'sqlite',
  "the database's folder a file, not writable, or the database a folder: one line, exit 2",
  {},
  async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'data'), '');
    const env = await envFor(t, dir, { DATABASE_URL: `sqlite:${join(dir, 'data/ordergate.db')}` });
    const file = await runCli(['serve'], { env, timeoutMs: REFUSAL_TIMEOUT_MS });
    assert.equal(file.code, 2, file.stdout + file.stderr);
    assert.match(
      file.stderr,
      /the database .*data\/ordergate\.db cannot be created: .*data is a file, not a folder/,
    );
    assertOneLine(file);

    mkdirSync(join(dir, 'folder.db'));
    const folder = await runCli(['serve'], {
      env: { ...env, DATABASE_URL: `sqlite:${join(dir, 'folder.db')}` },
      timeoutMs: REFUSAL_TIMEOUT_MS,
    });
    assert.equal(folder.code, 2, folder.stdout + folder.stderr);
    assert.match(folder.stderr, /DATABASE_URL names .*folder\.db, a folder: name a file in it/);
    assertOneLine(folder);

    mkdirSync(join(dir, 'locked'));
    chmodSync(join(dir, 'locked'), 0o555);
    const locked = await runServeUnprivileged(t, dir, {
      ...env,
      DATABASE_URL: `sqlite:${join(dir, 'locked/ordergate.db')}`,
    });
    if (locked === undefined) return;
    assert.equal(locked.code, 2, locked.stdout + locked.stderr);
    assert.match(
      locked.stderr,
      /the database .*locked\/ordergate\.db cannot be created: the folder .*locked cannot be written \(EACCES\)/,
    );
    assertOneLine(locked);
    assert.equal(existsSync(join(dir, 'logs')), false, 'nothing was created, not even the log folder');
  },
);

testOn(
  'sqlite',
  'PROFILE_PATH that is a folder or cannot be read: one line naming it, exit 2',
  {},
  async (t) => {
    const dir = tempDir(t);
    const env = await envFor(t, dir);
    mkdirSync(join(dir, 'profiles'));
    const folder = await runCli(['serve'], {
      env: { ...env, PROFILE_PATH: join(dir, 'profiles') },
      timeoutMs: REFUSAL_TIMEOUT_MS,
    });
    assert.equal(folder.code, 2, folder.stdout + folder.stderr);
    assert.match(folder.stderr, /PROFILE_PATH .*profiles is a folder, not a file/);
    assertOneLine(folder);

    chmodSync(join(dir, 'profile.json'), 0o000);
    const unreadable = await runServeUnprivileged(t, dir, env);
    if (unreadable === undefined) return;
    assert.equal(unreadable.code, 2, unreadable.stdout + unreadable.stderr);
    assert.match(unreadable.stderr, /PROFILE_PATH .*profile\.json cannot be read \(EACCES\)/);
    assertOneLine(unreadable);
    assert.equal(await storedAnything(env.DATABASE_URL!), false, 'nothing was created');
  },
);

// ---------------------------------------------------------------------------------------------------
// Point 5: backup into a folder that does not exist says so; it creates no folder.

test('ordergate backup into a folder that does not exist says so, exit 2, and creates nothing', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const missing = join(server.dir, 'backups', 'today');
  const result = await runCli(['backup', join(missing, 'copy.db'), '--database-url', server.databaseUrl]);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /the folder .*backups\/today does not exist: create it first \(mkdir -p .*backups\/today\), or choose a PATH in a folder that exists; nothing was written/,
  );
  assertOneLine(result);
  assert.equal(existsSync(join(server.dir, 'backups')), false, 'no folder was created');

  writeFileSync(join(server.dir, 'afile'), '');
  const file = await runCli([
    'backup',
    join(server.dir, 'afile', 'copy.db'),
    '--database-url',
    server.databaseUrl,
  ]);
  assert.equal(file.code, 2, file.stdout + file.stderr);
  assert.match(file.stderr, /afile is a file, not a folder: choose a PATH in a folder/);
  assertOneLine(file);
});
