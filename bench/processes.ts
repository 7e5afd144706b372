// The real processes a benchmark run needs. Every child is tracked, so that an error, an exception or
// Ctrl-C kills them all; each one's output is drained (a full pipe would stall a server mid-run) and its
// tail kept, so that a failure can say what the process printed.

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project folder: this file runs as dist/bench/processes.js. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist/src/cli/main.js');
export const UNIVERSE = join(ROOT, 'Jsons/raw_details.json');

const OUTPUT_TAIL_CHARS = 8000;
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

const running = new Set<ChildProcess>();

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** performance.now() just before spawn: the start of a restart's clock. */
  readonly spawnedAt: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last few thousand characters the process printed, stdout and stderr interleaved. */
  output(): string;
  /** Everything printed on stdout, for the children whose answer is their output. */
  stdout(): string;
}

export function launch(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const spawnedAt = performance.now();
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let tail = '';
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
    // A command that cannot be spawned at all (ENOENT) emits 'error' and never 'exit'.
    child.once('error', (error) => {
      running.delete(child);
      tail += `\n${error.message}`;
      resolve({ code: null, signal: null });
    });
  });
  return { child, pid: child.pid ?? -1, spawnedAt, exited, output: () => tail, stdout: () => stdout };
}

/** SIGKILL to every child still running: for the finally block and Ctrl-C. */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Runs a command to its end; throws with its output when it fails or outlives the timeout. */
export async function runToEnd(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const proc = launch(command, args);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await proc.exited;
  clearTimeout(timer);
  if (code !== 0) {
    const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
    throw new Error(`${[command, ...args].join(' ')} failed (${how}):\n${proc.output().trim()}`);
  }
  return proc.stdout();
}

/** Resolves when the process prints a line matching `pattern`; rejects if it exits or times out first. */
export function waitForOutput(proc: Proc, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(proc.output());
      if (match === null) return;
      done();
      resolve(match);
    };
    const timer = setTimeout(() => {
      done();
      reject(
        new Error(`${what} did not start within ${START_TIMEOUT_MS / 1000} s:\n${proc.output().trim()}`),
      );
    }, START_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      proc.child.stdout!.off('data', check);
      proc.child.stderr!.off('data', check);
    };
    proc.child.stdout!.on('data', check);
    proc.child.stderr!.on('data', check);
    void proc.exited.then(({ code, signal }) => {
      done();
      reject(new Error(`${what} exited (${code ?? signal}) before it was ready:\n${proc.output().trim()}`));
    });
    check();
  });
}

/**
 * Throws if a server died while it was being measured: its figures would be those of a dead server.
 * (On a shared machine a stray `pkill -f main.js` or the OOM killer can do it; the output says which.)
 */
export function assertAlive(proc: Proc, what: string): void {
  const { exitCode, signalCode } = proc.child;
  if (exitCode === null && signalCode === null) return;
  throw new Error(
    `${what} exited during the run (${signalCode ?? `exit code ${exitCode}`}):\n${proc.output().trim()}`,
  );
}

/** kill -9, and wait until the process is gone. */
export async function killHard(proc: Proc): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

/** SIGTERM (a server drains and closes its database), then SIGKILL if it takes too long. */
export async function stopGracefully(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), STOP_GRACE_MS);
  proc.child.kill('SIGTERM');
  await proc.exited;
  clearTimeout(timer);
}

/**
 * A port that was free a moment ago. A restart must come back on the same port (the health poll knows
 * only that one), so the benchmark picks ports itself rather than passing PORT=0.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Ordergate {
  readonly proc: Proc;
  readonly url: string;
  readonly env: NodeJS.ProcessEnv;
}

/** The environment of an ordergate server on 127.0.0.1 whose database, profile and logs live in `dir`. */
export function ordergateEnv(dir: string, profilePath: string, port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: `sqlite:${join(dir, 'ordergate.db')}`,
    PROFILE_PATH: profilePath,
    LOG_DIR: join(dir, 'logs'),
  };
}

export function spawnOrdergate(env: NodeJS.ProcessEnv): Proc {
  return launch(process.execPath, [CLI, 'serve'], env);
}

/** Starts ordergate and waits for its `listening on` line. */
export async function startOrdergate(dir: string, profilePath: string): Promise<Ordergate> {
  const port = await freePort();
  const env = ordergateEnv(dir, profilePath, port);
  const proc = spawnOrdergate(env);
  await waitForOutput(proc, /listening on http:\/\/[^\s]+/, 'ordergate');
  return { proc, url: `http://127.0.0.1:${port}`, env };
}

/** Starts the bare Fastify server (dist/bench/bare-server.js) and waits for its `listening on` line. */
export async function startBare(): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./bare-server.js', import.meta.url));
  const proc = launch(process.execPath, [script], { ...process.env, PORT: String(port), HOST: '127.0.0.1' });
  await waitForOutput(proc, /listening on http:\/\/[^\s]+/, 'the bare Fastify server');
  return { proc, url: `http://127.0.0.1:${port}` };
}

/** Writes a generated profile with the project's own generator, as a user would. */
export async function generateProfile(users: number, out: string): Promise<void> {
  await runToEnd(
    process.execPath,
    [CLI, 'generate', '--users', String(users), '--seed', '1', '--out', out, '--universe', UNIVERSE],
    120_000,
  );
}

export interface MemoryPeak {
  /** The highest VmRSS sampled every 100 ms. */
  sampledKiB: number;
  /** The kernel's own high-water mark (VmHWM), which no sampling interval can miss. */
  hwmKiB: number;
}

/** Samples a process's resident memory every `everyMs` until stop(), which reads it one last time. */
export function sampleMemory(pid: number, everyMs = 100): { stop(): MemoryPeak } {
  const peak: MemoryPeak = { sampledKiB: 0, hwmKiB: 0 };
  const read = () => {
    const status = readStatus(pid);
    if (status === undefined) return;
    peak.sampledKiB = Math.max(peak.sampledKiB, status.rssKiB);
    peak.hwmKiB = Math.max(peak.hwmKiB, status.hwmKiB);
  };
  read();
  // Never what keeps the benchmark alive, should a scenario fail before stop().
  const timer = setInterval(read, everyMs).unref();
  return {
    stop() {
      read();
      clearInterval(timer);
      return { ...peak };
    },
  };
}

function readStatus(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined; // gone already
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}
