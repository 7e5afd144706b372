// Real faults in a running server's fsyncs, injected with strace (Debian's package): an error (EIO) or
// a delay of any length (a stalled disk). strace attaches to every thread; detaching ends the fault,
// and a delayed fsync then completes. Needs strace and the right to attach to the server (root, or
// Yama's ptrace_scope 0): without them a test skips saying why, and in CI fails (prerequisites.ts).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { cannotRun, mayAttachToSibling, needs } from './prerequisites.js';
import { waitFor } from './wait.js';

const ATTACH_TIMEOUT_MS = 15_000;

/** strace, allowed to attach to the server (a sibling process: root, or Yama's ptrace_scope 0). */
export function haveStrace(t: TestContext, purpose: string): boolean {
  if (!needs(t, { commands: ['strace'], purpose })) return false;
  if (mayAttachToSibling()) return true;
  return cannotRun(
    t,
    `${purpose} attaches strace to the server, which kernel.yama.ptrace_scope forbids to a non-root user`,
    'run the tests as root, or sysctl kernel.yama.ptrace_scope=0',
  );
}

/**
 * Attaches strace to every thread of the process, tracing fsync and fdatasync with `inject` (e.g.
 * `['-e', 'inject=fsync,fdatasync:delay_enter=60s']`), and resolves once every thread is traced.
 */
export async function attachStrace(
  t: TestContext,
  pid: number,
  inject: readonly string[],
): Promise<ChildProcess> {
  const strace = spawn(
    'strace',
    ['-f', '-qq', '-o', '/dev/null', '-p', String(pid), '-e', 'trace=fsync,fdatasync', ...inject],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  strace.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  t.after(() => stopStrace(strace));
  await waitFor(
    `strace attached to every thread of ${pid}`,
    async () => {
      assert.ok(strace.exitCode === null && strace.signalCode === null, `strace exited: ${stderr}`);
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
