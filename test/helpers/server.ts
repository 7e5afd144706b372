// Starts a real ordergate server process (the compiled CLI) on a free port, with its own temporary
// folder for the database, the profile and the logs, and cleans everything up when the test ends.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDatabase, dropDatabase, testStore } from './postgres.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(ROOT, 'dist/src/cli/main.js');

/** The seed README's two users. */
export const SEED_PROFILE = {
  'Holland Proctor': { STRATEGY_A: ['BIRLASOFT', 'GRASIM', 'EICHER'], STRATEGY_B: ['MINDA'] },
  'Oaklee Wagner': { STRATEGY_D: ['ACC'] },
};

const START_TIMEOUT_MS = 30_000;

export interface ServerOptions {
  readonly profile?: object;
  readonly env?: Record<string, string>;
  /** Reuse a folder (and so its database) from an earlier server. */
  readonly dir?: string;
  /** The server's working folder, where its relative defaults (Jsons/, Logs, data/) resolve; ROOT by default. */
  readonly cwd?: string;
  /** Settings taken out of its environment, to start it on their defaults (HOST, PROFILE_PATH). */
  readonly unset?: readonly string[];
}

export interface Server {
  readonly dir: string;
  /** The SQLite file (when the test runs on SQLite). */
  readonly dbPath: string;
  /** The DATABASE_URL the server runs on: the SQLite file, or a PostgreSQL database of its own. */
  readonly databaseUrl: string;
  readonly logDir: string;
  readonly url: string;
  readonly pid: number;
  output(): string;
  /** kill -9, and wait until the process is gone. */
  kill(): Promise<void>;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts a new process on the same folder and database, with `extra` settings for this start only. */
  restart(extra?: Record<string, string>): Promise<void>;
}

export async function startServer(t: TestContext, options: ServerOptions = {}): Promise<Server> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ordergate-test-'));
  const profilePath = join(dir, 'profile.json');
  if (options.profile !== undefined || options.dir === undefined) {
    writeFileSync(profilePath, JSON.stringify(options.profile ?? SEED_PROFILE));
  }
  // On PostgreSQL, a folder's database is named after the folder, so a restart on it finds it again.
  const pgName = `ordergate_test_${basename(dir)
    .replace(/[^a-zA-Z0-9]/g, '_')
    .toLowerCase()}`;
  const databaseUrl =
    testStore() === 'postgres' && options.env?.DATABASE_URL === undefined
      ? await createDatabase(pgName)
      : `sqlite:${join(dir, 'ordergate.db')}`;
  const env = without(
    {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      PROFILE_PATH: profilePath,
      LOG_DIR: join(dir, 'logs'),
      ...options.env,
    },
    options.unset,
  );
  let child: ChildProcess;
  let url = '';
  let output = '';
  const launch = async (extra: Record<string, string> = {}) => {
    output = '';
    child = spawn(process.execPath, [CLI, 'serve'], {
      cwd: options.cwd ?? ROOT,
      env: { ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    url = await waitForListening(child, (text) => {
      output += text;
    });
  };
  const exited = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
    });
  // Registered before the first launch: a server that fails to start leaves no folder or database behind.
  t.after(async () => {
    const started = child as ChildProcess | undefined;
    if (started !== undefined && started.exitCode === null && started.signalCode === null) {
      const done = exited();
      started.kill('SIGKILL');
      await done;
    }
    // A database named after a folder the test brought is this server's too: dropped (if still there).
    if (databaseUrl.startsWith('postgres')) await dropDatabase(pgName);
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
  });
  await launch();
  const server: Server = {
    dir,
    dbPath: join(dir, 'ordergate.db'),
    databaseUrl: env.DATABASE_URL!,
    logDir: join(dir, 'logs'),
    get url() {
      return url;
    },
    get pid() {
      return child.pid!;
    },
    output: () => output,
    async kill() {
      const done = exited();
      child.kill('SIGKILL');
      await done;
    },
    async stop(signal = 'SIGTERM') {
      const done = exited();
      child.kill(signal);
      return done;
    },
    restart: launch,
  };
  return server;
}

function waitForListening(child: ChildProcess, collect: (text: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${START_TIMEOUT_MS} ms:\n${seen}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      seen += text;
      collect(text);
      const match = /listening on http:\/\/[^:\s]+:(\d+)/.exec(seen);
      if (match !== null) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${match[1]}`);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${seen}`));
    });
  });
}

/** An environment without the given variables. */
function without(env: NodeJS.ProcessEnv, names: readonly string[] = []): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of names) delete copy[name];
  return copy;
}

/** Runs a command of the compiled CLI to completion. */
export function runCli(
  args: readonly string[],
  options: {
    env?: Record<string, string>;
    timeoutMs?: number;
    cwd?: string;
    unset?: readonly string[];
    /** A command that runs the CLI, with its arguments: `['setpriv', '--reuid=65534', …]`. */
    wrapper?: readonly string[];
  } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const [command, ...wrapped] = [...(options.wrapper ?? []), process.execPath, CLI, ...args];
    const child = spawn(command!, wrapped, {
      cwd: options.cwd ?? ROOT,
      env: without({ ...process.env, ...options.env }, options.unset),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, any>,
  };
}

export async function get(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, any>,
  };
}

/** The first admin key the helpers created on a running SQLite server: what their later key calls use. */
const adminTokens = new WeakMap<object, string>();

/**
 * Whether keys must go through the server: a SQLite file has one owner, so beside a running server the
 * keys CLI is refused and an operator uses the server's key API instead. PostgreSQL is shared: the CLI.
 */
function throughServer(server: { databaseUrl: string; url?: string }): server is Server {
  return server.databaseUrl.startsWith('sqlite:') && server.url !== undefined;
}

/**
 * Creates an API key as an operator would: with the CLI (PostgreSQL, or no server), or through the
 * running server's key API (SQLite): open while no key exists, then with the first admin key made here,
 * so that after a first non-admin key no other can be made this way (make the admin key first).
 */
export async function createKey(server: { databaseUrl: string; url?: string }, ...flags: string[]) {
  if (throughServer(server)) return createKeyThroughServer(server, flags);
  const result = await runCli(['keys', 'create', ...flags, '--database-url', server.databaseUrl]);
  if (result.code !== 0) throw new Error(`keys create ${flags.join(' ')}: ${result.stderr}`);
  const token = result.stdout.trimEnd().split('\n').at(-1)!;
  return { id: token.split('_')[1]!, token };
}

async function createKeyThroughServer(server: Server, flags: readonly string[]) {
  const body: Record<string, string> = {};
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i]!;
    if (flag === '--admin' || flag === '--read') body.role = flag.slice(2);
    else if (flag === '--strategy' || flag === '--webhook') body.role = 'strategy';
    if (flag === '--strategy' || flag === '--name') body[flag.slice(2)] = flags[++i]!;
    if (flag === '--webhook') body.strategy = flags[++i]!;
  }
  const request = flags.includes('--webhook') ? { ...body, webhook: true } : body;
  const answer = await post(`${server.url}/keys`, request, operatorHeaders(server));
  if (answer.status !== 201)
    throw new Error(`POST /keys ${JSON.stringify(request)}: ${JSON.stringify(answer.body)}`);
  const { id, token } = answer.body as { id: string; token: string };
  if (body.role === 'admin' && !adminTokens.has(server)) adminTokens.set(server, token);
  return { id, token };
}

/** Revokes an API key as an operator would: with the CLI, or through the running SQLite server. */
export async function revokeKey(server: { databaseUrl: string; url?: string }, id: string): Promise<void> {
  if (throughServer(server)) {
    const answer = await fetch(`${server.url}/keys/${id}`, {
      method: 'DELETE',
      headers: operatorHeaders(server),
    });
    if (answer.status !== 200) throw new Error(`DELETE /keys/${id}: ${answer.status} ${await answer.text()}`);
    return;
  }
  const result = await runCli(['keys', 'revoke', id, '--database-url', server.databaseUrl]);
  if (result.code !== 0) throw new Error(`keys revoke ${id}: ${result.stderr}`);
}

function operatorHeaders(server: Server): Record<string, string> {
  const token = adminTokens.get(server);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

export function seedOrder(strategy: string, instrument: string, position: string) {
  return { STRATEGY: strategy, INSTRUMENT: instrument, POSITION: position };
}
