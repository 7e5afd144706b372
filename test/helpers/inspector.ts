// A real fault inside one worker thread of a running server, with no test hook in the server: the
// server runs with --inspect=127.0.0.1:0 (through NODE_OPTIONS), and a small client of the inspector
// protocol finds the thread by its name (the NodeWorker domain lists each worker with its title) and
// evaluates an expression in it, such as an uncaught exception at its next turn. Node 20 has a
// WebSocket client only behind --experimental-websocket, so the client runs as a process of its own:
// this file, run as a script.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Server } from './server.js';

/** Start the server with this in env.NODE_OPTIONS: an inspector on a free loopback port. */
export const INSPECT_OPTION = '--inspect=127.0.0.1:0';

/**
 * Throws at the thread's next turn, outside any try: a real uncaught exception that ends the thread.
 * With `stallMs`, the thread first blocks that long, so that work is surely waiting on it when it dies.
 */
export const uncaughtFault = (stallMs: number) =>
  `setImmediate(() => { ${stallMs > 0 ? stallBlock(stallMs) : ''} throw new Error('injected fault') }), 'scheduled'`;

/** Blocks the thread's event loop for `ms` at its next turn: alive, but answering nothing. */
export const hang = (ms: number) => `setImmediate(() => { ${stallBlock(ms)} }), 'scheduled'`;

const stallBlock = (ms: number) => `Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${ms});`;

const CLIENT_TIMEOUT_MS = 15_000;
const SCRIPT = fileURLToPath(import.meta.url);

export interface Evaluated {
  /** The worker's title, `[worker N] name`: a restarted thread has a new N. */
  readonly title: string;
  readonly result: unknown;
}

/** The inspector's WebSocket address, which the server printed on stderr as it started. */
export function inspectorUrl(server: Server): string {
  const match = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(server.output());
  if (match === null) throw new Error(`the server printed no inspector address:\n${server.output()}`);
  return match[1]!;
}

/** The titles of the server's worker threads that are alive now. */
export async function threadTitles(server: Server): Promise<string[]> {
  return JSON.parse(await runClient([inspectorUrl(server)])) as string[];
}

/** Evaluates `expression` in the server's live worker thread named `name`. */
export async function evaluateInThread(server: Server, name: string, expression: string): Promise<Evaluated> {
  return JSON.parse(await runClient([inspectorUrl(server), name, expression])) as Evaluated;
}

function runClient(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', SCRIPT, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: CLIENT_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`inspector client ${args.slice(1).join(' ')}: ${code ?? signal}: ${stderr}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// The client itself: node --experimental-websocket inspector.js URL [NAME EXPRESSION]

interface Message {
  readonly id?: number;
  readonly method?: string;
  readonly params?: Record<string, any>;
  readonly result?: Record<string, any>;
  readonly error?: { message: string };
}

async function client(url: string, name: string | undefined, expression: string | undefined): Promise<void> {
  const socket = new WebSocket(url);
  const workers: { sessionId: string; title: string }[] = [];
  let nextId = 1;
  const send = (method: string, params: object) => {
    socket.send(JSON.stringify({ id: nextId, method, params }));
    return nextId++;
  };
  const done = new Promise<string>((resolve, reject) => {
    let enableId = 0;
    let target: { sessionId: string; title: string } | undefined;
    socket.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)));
    socket.addEventListener('open', () => {
      enableId = send('NodeWorker.enable', { waitForDebuggerOnStart: false });
    });
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as Message;
      if (message.method === 'NodeWorker.attachedToWorker') {
        const { sessionId, workerInfo } = message.params!;
        workers.push({ sessionId, title: workerInfo.title });
        return;
      }
      if (message.method === 'NodeWorker.detachedFromWorker') {
        const at = workers.findIndex((worker) => worker.sessionId === message.params!.sessionId);
        if (at >= 0) workers.splice(at, 1);
        return;
      }
      if (message.id === enableId) {
        // Every worker alive was announced before enable's answer.
        if (name === undefined) return resolve(JSON.stringify(workers.map((worker) => worker.title)));
        target = workers.filter((worker) => worker.title.endsWith(` ${name}`)).at(-1);
        if (target === undefined)
          return reject(new Error(`no live thread named ${name}: ${JSON.stringify(workers)}`));
        const inner = { id: 1, method: 'Runtime.evaluate', params: { expression, returnByValue: true } };
        send('NodeWorker.sendMessageToWorker', {
          sessionId: target.sessionId,
          message: JSON.stringify(inner),
        });
        return;
      }
      if (message.error !== undefined) return reject(new Error(message.error.message));
      if (message.method === 'NodeWorker.receivedMessageFromWorker' && target !== undefined) {
        const inner = JSON.parse(message.params!.message as string) as Message;
        if (inner.id !== 1) return;
        if (inner.error !== undefined) return reject(new Error(inner.error.message));
        const value = inner.result?.exceptionDetails ?? inner.result?.result?.value;
        resolve(JSON.stringify({ title: target.title, result: value ?? null }));
      }
    });
  });
  try {
    process.stdout.write(await done);
  } finally {
    socket.close();
  }
}

if (process.argv[1] === SCRIPT) {
  const [url, name, expression] = process.argv.slice(2);
  if (url === undefined || (name !== undefined && expression === undefined)) {
    console.error('usage: node --experimental-websocket inspector.js WS_URL [THREAD_NAME EXPRESSION]');
    process.exit(2);
  }
  await client(url, name, expression);
}
