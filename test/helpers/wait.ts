// Waiting on a condition instead of sleeping: poll it until it holds or a deadline passes, then fail
// saying what was awaited and what was last seen. On a loaded two-core machine a fixed sleep is
// either too short (a flaky test) or too long (a slow one); a poll is neither.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_INTERVAL_MS = 100;
/** How long a log line may take to show up in a log file or on the terminal of a loaded machine. */
export const LOG_LINE_TIMEOUT_MS = 15_000;

/** Not yet: an attempt returns undefined or false (or throws, which is kept for the failure message). */
type Pending = undefined | false;

/**
 * Calls `attempt` every `intervalMs` until it returns a value other than undefined or false, and
 * returns that value. Past `timeoutMs` it fails with `what`, and with the error the last attempt threw
 * (an attempt that throws explains why it is not there yet).
 */
export async function waitFor<T>(
  what: string,
  attempt: () => T | Pending | Promise<T | Pending>,
  timeoutMs: number,
  intervalMs = POLL_INTERVAL_MS,
): Promise<Exclude<T, Pending>> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined && value !== false) return value as Exclude<T, Pending>;
      last = undefined;
    } catch (error) {
      last = error;
    }
    if (performance.now() > deadline)
      assert.fail(
        `${what}: not within ${timeoutMs} ms${last === undefined ? '' : ` (last: ${describe(last)})`}`,
      );
    await sleep(intervalMs);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Waits until a server's terminal output (stdout and stderr) matches `pattern`; returns the match. */
export function waitForOutput(
  server: { output(): string },
  pattern: RegExp,
  timeoutMs = LOG_LINE_TIMEOUT_MS,
): Promise<RegExpExecArray> {
  return waitFor(
    `${pattern} in the server's output`,
    () => pattern.exec(server.output()) ?? undefined,
    timeoutMs,
  );
}

/**
 * Waits until a line of the daily log files in `logDir` (log_YYYY-MM-DD.log) matches `pattern`, and
 * returns that line. It polls the files themselves, so it works whether lines are written at once or
 * buffered and flushed later.
 */
export function waitForLogLine(
  logDir: string,
  pattern: RegExp,
  timeoutMs = LOG_LINE_TIMEOUT_MS,
): Promise<string> {
  return waitFor(
    `a line matching ${pattern} in ${logDir}`,
    () => readLogLines(logDir).find((line) => pattern.test(line)),
    timeoutMs,
  );
}

/** Every line of the daily log files in `logDir`, oldest file first; none while the folder is missing. */
export function readLogLines(logDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(logDir).filter((name) => /^log_\d{4}-\d{2}-\d{2}\.log$/.test(name));
  } catch {
    return [];
  }
  return names
    .sort()
    .flatMap((name) => readFileSync(join(logDir, name), 'utf8').split('\n'))
    .filter((line) => line !== '');
}
