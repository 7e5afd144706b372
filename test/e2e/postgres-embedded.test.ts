// npm test on a machine without PostgreSQL: a test process that finds none reachable starts one of its
// own (test/helpers/postgres.ts → embedded-postgres.ts), and when that process ends, here with a
// failure as a failed test leaves it, the server stops and its folder is deleted. The "machine without
// PostgreSQL" is a test process pointed at a port nobody listens on, outside CI.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { isRoot, needs } from '../helpers/prerequisites.js';
import { ROOT } from '../helpers/server.js';
import { waitFor, waitForOutput } from '../helpers/wait.js';

const POSTGRES_HELPER = join(ROOT, 'dist/test/helpers/postgres.js');
/** initdb and the start, on a loaded machine. */
const EMBEDDED_START_TIMEOUT_MS = 60_000;
/** A fast shutdown and the folder's removal. */
const CLEAN_UP_TIMEOUT_MS = 20_000;

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Creates a database as a PostgreSQL suite does, prints its URL, and ends with exit 1 when told to. */
const TEST_PROCESS = `
const { createDatabase } = await import(${JSON.stringify(POSTGRES_HELPER)});
console.log('database ' + (await createDatabase('ordergate_embedded_probe')));
process.stdin.once('data', () => { process.exitCode = 1; process.stdin.destroy(); });
`;

async function connects(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

test('with no PostgreSQL reachable, a test process starts its own, and it is stopped and deleted when that process fails', async (t) => {
  // As root, PostgreSQL runs as the user postgres, who must reach its binaries in node_modules.
  if (isRoot() && !needs(t, { otherUsers: true, purpose: 'a PostgreSQL of its own, run as postgres' }))
    return;
  const unused = `postgres://postgres@127.0.0.1:${await closedPort()}/postgres`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', TEST_PROCESS], {
    cwd: ROOT,
    env: { ...process.env, ORDERGATE_TEST_PG: unused, CI: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

  const printed = await waitForOutput(
    { output: () => output },
    /^database (\S+)$/m,
    EMBEDDED_START_TIMEOUT_MS,
  );
  const databaseUrl = printed[1]!;
  assert.match(output, new RegExp(`no PostgreSQL at ${unused}: this test process started its own at `));
  const server = new URL(databaseUrl);
  assert.equal(server.hostname, '127.0.0.1');
  assert.notEqual(server.port, new URL(unused).port);

  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ dir: string; encoding: string }>(
    "SELECT current_setting('data_directory') AS dir, pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = current_database()",
  );
  await client.end();
  const dataDir = rows[0]!.dir;
  assert.ok(dataDir.startsWith(join(tmpdir(), 'ordergate-pg-')), dataDir);
  assert.equal(rows[0]!.encoding, 'UTF8');
  assert.ok(existsSync(dataDir));

  child.stdin.write('fail\n');
  assert.equal(await exited, 1, output);
  await waitFor(
    'the embedded PostgreSQL stopped',
    async () => !(await connects(databaseUrl)),
    CLEAN_UP_TIMEOUT_MS,
  );
  await waitFor(`${dataDir} deleted`, () => !existsSync(dataDir), CLEAN_UP_TIMEOUT_MS);
});
