// Real faults in a running server's fsyncs, injected with strace (Debian's package): an error (EIO) or
// a delay of any length (a stalled disk). strace attaches to every thread; detaching ends the fault,
// and a delayed fsync then completes. Needs strace and the right to trace the process: in CI a test
// that cannot have them fails; elsewhere it skips, saying what to install.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { until } from './stall.js';

const ATTACH_TIMEOUT_MS = 15_000;

function hasStrace(): Promise<boolean> {
  return new Promise((resolve) => execFile('strace', ['-V'], (error) => resolve(error === null)));
}

/** True when strace can run here; otherwise the test is skipped (or, in CI, fails) saying why. */
export async function needStrace(t: TestContext): Promise<boolean> {
  if (await hasStrace()) return true;
  const why = 'strace is not installed (apt-get install -y strace; .ci/run installs it)';
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false')
    throw new Error(`${why}: in CI this test must run`);
  t.skip(why);
  return false;
}

/**
 * Attaches strace to every thread of the process, tracing fsync and fdatasync with `inject` (e.g.
 * `inject=fsync,fdatasync:delay_enter=30s`), and resolves once every thread is traced.
 */
export async function attachStrace(t: TestContext, pid: number, inject: string): Promise<ChildProcess> {
  const strace = spawn(
    'strace',
    ['-f', '-qq', '-o', '/dev/null', '-p', String(pid), '-e', 'trace=fsync,fdatasync', '-e', inject],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  strace.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.after(() => stopStrace(strace));
  await until(
    `strace attached to every thread of ${pid}`,
    async () => {
      if (strace.exitCode !== null || strace.signalCode !== null) throw new Error(`strace exited: ${stderr}`);
      return tracedBy(pid, strace.pid!) ? true : undefined;
    },
    ATTACH_TIMEOUT_MS,
  );
  return strace;
}

function tracedBy(pid: number, tracer: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      return /^TracerPid:\s*(\d+)$/m.exec(status)?.[1] === String(tracer);
    });
  } catch {
    return false;
  }
}

/** Ends the fault: strace detaches on SIGTERM (SIGKILL if it lingers). */
export async function stopStrace(strace: ChildProcess): Promise<void> {
  if (strace.exitCode !== null || strace.signalCode !== null) return;
  const exited = once(strace, 'exit');
  strace.kill('SIGTERM');
  const timer = setTimeout(() => strace.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
