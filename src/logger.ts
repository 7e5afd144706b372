// Structured JSON logs (pino) in LOG_DIR, one file per day named as the seed's were
// (log_YYYY-MM-DD.log, UTC dates). Writes are asynchronous (buffered, flushed in the background) so
// logging never sets the pace of orders; lifecycle lines also go to the terminal, prettified.
// Loss window: a kill -9 can lose the last few kilobytes of log lines; never an order (the database
// holds those).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Log lines buffered before a write; past LOG_BUFFER_BYTES_MAX lines are dropped, never held without bound. */
const LOG_BUFFER_BYTES_MIN = 4096;
const LOG_BUFFER_BYTES_MAX = 64 * 1024 * 1024;
const LOG_FLUSH_INTERVAL_MS = 1000;

export interface Logs {
  /** Lifecycle and faults: the file and the terminal. */
  readonly logger: Logger;
  /** One line per order: the file only. */
  readonly logOrder: (line: OrderLine) => void;
  flush(): void;
}

/**
 * API keys never reach a log line: wherever headers or a token are logged (a request, its headers, a
 * token field), the value is replaced. The per-order line below is joined from the order's fields only.
 */
const redact = {
  paths: [
    'req.headers.authorization',
    'req.headers["x-api-key"]',
    'request.headers.authorization',
    'request.headers["x-api-key"]',
    'headers.authorization',
    'headers["x-api-key"]',
    'authorization',
    '["x-api-key"]',
    'token',
    '*.token',
  ],
  censor: '[redacted]',
};

export interface OrderLine {
  readonly orderId: number;
  readonly strategy: string;
  readonly instrument: string;
  readonly side: string;
  readonly clientOrderId: string | null;
  readonly status: string;
  readonly reason: string | null;
  readonly fills: number;
  readonly denials: number;
  readonly replayed: boolean;
  readonly latencyMs: number;
}

/**
 * The per-order line, in pino's format, joined from pieces instead of serialised by pino: it is written
 * for every order, and pino's generic serialiser cost a fifth of the throughput.
 */
function orderLineWriter(file: { write(line: string): boolean }): (line: OrderLine) => void {
  const head = `{"level":30,"time":"`;
  const pid = `","pid":${process.pid},"msg":"order","order_id":`;
  return (line) => {
    let text = `${head}${new Date().toISOString()}${pid}${line.orderId},"strategy":${JSON.stringify(line.strategy)}`;
    text += `,"instrument":${JSON.stringify(line.instrument)},"position":"${line.side}"`;
    if (line.clientOrderId !== null) text += `,"client_order_id":${JSON.stringify(line.clientOrderId)}`;
    text += `,"status":"${line.status}"`;
    if (line.reason !== null) text += `,"reason":"${line.reason}"`;
    text += `,"fills":${line.fills},"denials":${line.denials}`;
    if (line.replayed) text += ',"replayed":true';
    file.write(`${text},"latency_ms":${line.latencyMs}}\n`);
  };
}

export function dailyLogPath(logDir: string, now: Date): string {
  return join(logDir, `log_${now.toISOString().slice(0, 10)}.log`);
}

export function createLogs(logDir: string, options: { terminal: boolean }): Logs {
  mkdirSync(logDir, { recursive: true });
  const file = pino.destination({
    dest: dailyLogPath(logDir, new Date()),
    sync: false,
    minLength: LOG_BUFFER_BYTES_MIN,
    maxLength: LOG_BUFFER_BYTES_MAX,
    mkdir: true,
  });
  let open = false;
  file.once('ready', () => {
    open = true;
  });
  // A log file that cannot be written (disk full, I/O error) must never stop the orders: without a
  // listener the error is uncaught, and pino's flush at exit then retries the write forever. The file
  // is closed instead and lines are dropped until the next start, said once on stderr.
  let broken = false;
  file.on('error', (error: NodeJS.ErrnoException) => {
    if (broken) return;
    broken = true;
    process.stderr.write(
      `ordergate: cannot write the log file (${error.code ?? error.message}); log lines are dropped until the next start, orders are not affected\n`,
    );
    try {
      file.destroy();
    } catch {
      // Already closing: nothing more to release.
    }
  });
  const safeFile = {
    write(line: string): boolean {
      return broken ? true : file.write(line);
    },
  };
  scheduleDailyReopen(file, logDir);
  // A quiet minute must not leave lines sitting in the buffer: flush at least once a second.
  setInterval(() => {
    if (!broken) file.flush();
  }, LOG_FLUSH_INTERVAL_MS).unref();
  const streams: pino.StreamEntry[] = [{ stream: safeFile, level: 'info' }];
  if (options.terminal) {
    streams.push({
      stream: pretty({ colorize: process.stdout.isTTY, sync: true, ignore: 'pid,hostname' }),
      level: 'info',
    });
  }
  const base = { base: { pid: process.pid }, redact, timestamp: pino.stdTimeFunctions.isoTime };
  return {
    logger: pino(base, pino.multistream(streams)),
    logOrder: orderLineWriter(safeFile),
    // Before the file is open there is nothing to flush: the pending open writes the buffer itself
    // and keeps the process alive until it has.
    flush: () => {
      if (!open || broken) return;
      try {
        file.flushSync();
      } catch {
        // Nothing more can be done for the log at exit; the order log in the database is the record.
      }
    },
  };
}

function scheduleDailyReopen(file: ReturnType<typeof pino.destination>, logDir: string): void {
  const now = new Date();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  setTimeout(
    () => {
      try {
        file.reopen(dailyLogPath(logDir, new Date(midnight + 1)));
      } catch {
        // A log closed after a write error stays closed; the orders go on regardless.
        return;
      }
      scheduleDailyReopen(file, logDir);
    },
    midnight - now.getTime() + 5,
  ).unref();
}
