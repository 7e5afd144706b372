// Structured JSON logs (pino) in LOG_DIR, in files named as the seed's were: log_YYYY-MM-DD.log (UTC
// dates), then log_YYYY-MM-DD.1.log, .2.log … once a day's file is full (LOG_FILE_BYTES_MAX); the newest
// LOG_FILES_MAX files of that pattern are kept. Lifecycle lines also go to the terminal, prettified.
//
// What a kill -9 loses: no line of an order that was answered, and no lifecycle line. An order's line
// reaches the kernel (write(2); the page cache outlives the process) before its answer is sent: the gate
// logs an order before it hands it back, and the lines queued meanwhile are written together by one
// microtask, which runs before the continuation that sends the answer. So one write serves every order
// of a commit. Warnings, errors and lifecycle lines are written at once, after the order lines queued
// before them, so a file is in the order things happened. No fsync: a power cut can lose what the
// kernel had not yet written out; the database, fsynced, is the record of the orders.

import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, writeSync } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** How often the size of the file is read again, for when other servers append to it too. */
const LOG_SIZE_READ_MS = 1000;

/** After a write error (a full disk), how long before a file is tried again; lines are dropped meanwhile. */
const LOG_RETRY_MS = 60_000;

/** ordergate's own file names: log_YYYY-MM-DD.log, log_YYYY-MM-DD.N.log. Nothing else is ever deleted. */
const LOG_FILE_NAME = /^log_(\d{4}-\d{2}-\d{2})(?:\.([1-9]\d*))?\.log$/;

export interface LogLimits {
  /** A line that would take a file past this many bytes starts the next part (a longer line has one alone). */
  readonly fileBytesMax: number;
  /** Files named as ordergate names them kept in the folder; the oldest are deleted first. */
  readonly filesMax: number;
}

export interface Logs {
  /** Lifecycle and faults: the file and the terminal. */
  readonly logger: Logger;
  /** One line per order: the file only. */
  readonly logOrder: (line: OrderLine) => void;
  /**
   * Names the database from now on, on every order line and every later lifecycle line: servers that
   * share a log folder write to the same files, and the lines must say which database each is about.
   */
  identify(database: DatabaseIdentity): void;
  /** Writes the order lines still queued (none are, once the current microtasks have run). */
  flush(): void;
  /** Writes what is queued and closes the file; later lines are dropped. */
  close(): void;
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

export interface DatabaseIdentity {
  readonly store: 'sqlite' | 'postgres';
  /** The id the database drew when it was made (store.databaseId). */
  readonly databaseId: string;
}

export interface OrderLine {
  readonly orderId: number;
  readonly strategy: string;
  readonly instrument: string;
  readonly side: string;
  readonly quantity: number;
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
function orderLineWriter(file: LogFile): {
  write: (line: OrderLine) => void;
  identify: (database: DatabaseIdentity) => void;
} {
  const head = `{"level":30,"time":"`;
  let pid = `","pid":${process.pid},"msg":"order","order_id":`;
  const identify = ({ store, databaseId }: DatabaseIdentity) => {
    pid = `","pid":${process.pid},"store":"${store}","database_id":${JSON.stringify(databaseId)},"msg":"order","order_id":`;
  };
  const write = (line: OrderLine) => {
    const nowMs = Date.now();
    let text = `${head}${new Date(nowMs).toISOString()}${pid}${line.orderId},"strategy":${JSON.stringify(line.strategy)}`;
    text += `,"instrument":${JSON.stringify(line.instrument)},"position":"${line.side}","quantity":${line.quantity}`;
    if (line.clientOrderId !== null) text += `,"client_order_id":${JSON.stringify(line.clientOrderId)}`;
    text += `,"status":"${line.status}"`;
    if (line.reason !== null) text += `,"reason":"${line.reason}"`;
    text += `,"fills":${line.fills},"denials":${line.denials}`;
    if (line.replayed) text += ',"replayed":true';
    file.queue(`${text},"latency_ms":${line.latencyMs}}\n`, nowMs);
  };
  return { write, identify };
}

/** The name of a day's file (part 0, the seed's name) or of a later part of it. */
export function logFileName(day: string, part: number): string {
  return part === 0 ? `log_${day}.log` : `log_${day}.${part}.log`;
}

/** Today's first file, log_YYYY-MM-DD.log. */
export function dailyLogPath(logDir: string, now: Date): string {
  return join(logDir, logFileName(utcDay(now.getTime()), 0));
}

export function createLogs(logDir: string, options: { terminal: boolean } & LogLimits): Logs {
  mkdirSync(logDir, { recursive: true });
  const file = new LogFile(logDir, options);
  const streams: pino.StreamEntry[] = [
    { stream: { write: (line: string) => file.write(line) }, level: 'info' },
  ];
  if (options.terminal) {
    streams.push({
      stream: pretty({
        colorize: process.stdout.isTTY,
        sync: true,
        ignore: 'pid,hostname,store,database_id',
      }),
      level: 'info',
    });
  }
  // An exception that ends the process between a queued order line and its microtask must not lose it.
  const flushAtExit = () => file.flush();
  process.once('exit', flushAtExit);
  const base = { base: { pid: process.pid }, redact, timestamp: pino.stdTimeFunctions.isoTime };
  const logger = pino(base, pino.multistream(streams));
  const orders = orderLineWriter(file);
  return {
    logger,
    logOrder: orders.write,
    identify: (database) => {
      orders.identify(database);
      logger.setBindings({ store: database.store, database_id: database.databaseId });
    },
    flush: () => file.flush(),
    close: () => {
      process.off('exit', flushAtExit);
      file.close();
    },
  };
}

interface OpenFile {
  readonly fd: number;
  readonly name: string;
  /** The file's size as last known: read at open and once a second, plus what this process wrote since. */
  bytes: number;
}

/**
 * The one owner of the log's file descriptor, for pino's lines and the order lines alike. A file that
 * cannot be written never affects an order: it is closed, said once on stderr, its lines are dropped
 * and counted, and a file is tried again at the next day, or a minute later, whichever comes first.
 */
class LogFile {
  readonly #dir: string;
  readonly #limits: LogLimits;
  #file: OpenFile | null = null;
  /** The day and part written to, kept while the file is broken to try them again. */
  #day: string;
  #part = 0;
  #dayEndsMs: number;
  #sizeReadMs = 0;
  #broken = false;
  #closed = false;
  #retryMs = 0;
  #dropped = 0;
  #pending: string[] = [];
  #scheduled = false;
  #pruning = false;
  #pruneAgain = false;
  #pruneFailed = false;

  constructor(dir: string, limits: LogLimits) {
    this.#dir = dir;
    this.#limits = limits;
    const nowMs = Date.now();
    this.#day = utcDay(nowMs);
    this.#dayEndsMs = nextUtcMidnightMs(nowMs);
    this.#switchTo(this.#day, highestPart(dir, this.#day), nowMs);
  }

  /** An order's line: written with the others queued in this turn, before any answer can be sent. */
  queue(line: string, nowMs: number): void {
    this.#add(line, nowMs);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#flushQueued);
  }

  /** A lifecycle line, warning or error: written at once. */
  write(line: string): void {
    this.#add(line, Date.now());
    this.flush();
  }

  flush(): void {
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    this.#pending = [];
    const nowMs = Date.now();
    if (this.#file === null && !this.#closed && nowMs >= this.#retryMs) {
      this.#switchTo(this.#day, this.#part, nowMs);
    }
    if (this.#file !== null && nowMs - this.#sizeReadMs >= LOG_SIZE_READ_MS) this.#readSize(nowMs);
    this.#writeLines(lines);
  }

  close(): void {
    this.flush();
    this.#closed = true;
    if (this.#file !== null) closeQuietly(this.#file.fd);
    this.#file = null;
  }

  readonly #flushQueued = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /** Each line goes to the file of its own UTC day: the lines before midnight are written first. */
  #add(line: string, nowMs: number): void {
    if (nowMs >= this.#dayEndsMs) {
      this.flush();
      this.#dayEndsMs = nextUtcMidnightMs(nowMs);
      const day = utcDay(nowMs);
      this.#switchTo(day, highestPart(this.#dir, day), nowMs);
    }
    this.#pending.push(line);
  }

  #writeLines(lines: readonly string[]): void {
    const text = lines.length === 1 ? lines[0]! : lines.join('');
    const bytes = Buffer.byteLength(text);
    if (this.#fits(bytes)) return this.#append(text, bytes, lines.length);
    // Rare (once a file fills): split at line boundaries, each part taking the lines that fit.
    let from = 0;
    let size = 0;
    for (let i = 0; i < lines.length; i++) {
      const lineBytes = Buffer.byteLength(lines[i]!);
      if (!this.#fits(size + lineBytes)) {
        if (i > from) this.#append(lines.slice(from, i).join(''), size, i - from);
        from = i;
        size = 0;
        // A line longer than a whole file has an empty part to itself.
        while (!this.#fits(lineBytes) && this.#file!.bytes > 0)
          this.#switchTo(this.#day, this.#part + 1, Date.now());
      }
      size += lineBytes;
    }
    this.#append(lines.slice(from).join(''), size, lines.length - from);
  }

  /** Whether the current file takes this many more bytes (without a file, lines are dropped anyway). */
  #fits(bytes: number): boolean {
    const file = this.#file;
    return file === null || file.bytes + bytes <= this.#limits.fileBytesMax;
  }

  #append(text: string, bytes: number, lines: number): void {
    const file = this.#file;
    if (file === null) {
      this.#dropped += lines;
      return;
    }
    try {
      let written = writeSync(file.fd, text);
      if (written < bytes) {
        const rest = Buffer.from(text);
        while (written < bytes) {
          const more = writeSync(file.fd, rest, written);
          if (more === 0) throw Object.assign(new Error('the disk took no more bytes'), { code: 'EIO' });
          written += more;
        }
      }
      file.bytes += bytes;
    } catch (error) {
      this.#dropped += lines;
      this.#fail(error as NodeJS.ErrnoException, Date.now());
    }
  }

  /**
   * Closes the current file and appends to the first part from `fromPart` on that is not full: the
   * same part for every server sharing the folder, and the latest part again after a restart.
   */
  #switchTo(day: string, fromPart: number, nowMs: number): void {
    if (this.#file !== null) closeQuietly(this.#file.fd);
    this.#file = null;
    this.#day = day;
    if (this.#closed) return;
    let part = fromPart;
    try {
      for (;;) {
        const file = openPart(this.#dir, day, part);
        if (file.bytes < this.#limits.fileBytesMax) {
          this.#file = file;
          break;
        }
        closeQuietly(file.fd);
        part++;
      }
    } catch (error) {
      this.#part = part;
      this.#fail(error as NodeJS.ErrnoException, nowMs);
      return;
    }
    this.#part = part;
    this.#sizeReadMs = nowMs;
    if (this.#broken) this.#recovered();
    this.#prune();
  }

  #fail(error: NodeJS.ErrnoException, nowMs: number): void {
    if (this.#file !== null) closeQuietly(this.#file.fd);
    this.#file = null;
    this.#retryMs = nowMs + LOG_RETRY_MS;
    if (this.#broken) return;
    this.#broken = true;
    process.stderr.write(
      `ordergate: cannot write the log file (${error.code ?? error.message}); log lines are dropped until a file ` +
        `can be written again (tried each minute and at midnight UTC), orders are not affected: ${join(this.#dir, logFileName(this.#day, this.#part))}\n`,
    );
  }

  /** Said in the file too, so that a reader of the log knows where lines are missing. */
  #recovered(): void {
    this.#broken = false;
    const dropped = this.#dropped;
    this.#dropped = 0;
    const message = 'the log file can be written again; log lines were dropped while it could not';
    process.stderr.write(`ordergate: ${message} (${dropped})\n`);
    const line = `${JSON.stringify({ level: 40, time: new Date().toISOString(), pid: process.pid, msg: message, dropped })}\n`;
    this.#append(line, Buffer.byteLength(line), 1);
  }

  #readSize(nowMs: number): void {
    this.#sizeReadMs = nowMs;
    try {
      this.#file!.bytes = fstatSync(this.#file!.fd).size;
    } catch {
      // The next write will say what is wrong with the file.
    }
  }

  /** Deletes the oldest files past LOG_FILES_MAX, off the order path (an unlink of a large file takes a while). */
  #prune(): void {
    if (this.#pruning) {
      this.#pruneAgain = true;
      return;
    }
    this.#pruning = true;
    pruneLogFiles(this.#dir, this.#limits.filesMax, this.#file?.name ?? '')
      .catch((error: NodeJS.ErrnoException) => {
        if (this.#pruneFailed || this.#closed) return;
        this.#pruneFailed = true;
        const message = `cannot delete old log files (${error.code ?? error.message}); LOG_FILES_MAX is not kept`;
        process.stderr.write(`ordergate: ${message}\n`);
        this.write(
          `${JSON.stringify({ level: 40, time: new Date().toISOString(), pid: process.pid, msg: message })}\n`,
        );
      })
      .finally(() => {
        this.#pruning = false;
        if (!this.#pruneAgain) return;
        this.#pruneAgain = false;
        this.#prune();
      });
  }
}

/** Opens a part for appending (and reading, to look at its last byte). */
function openPart(dir: string, day: string, part: number): OpenFile {
  const name = logFileName(day, part);
  const fd = openSync(join(dir, name), 'a+');
  try {
    const file = { fd, name, bytes: fstatSync(fd).size };
    // A line torn by a crash mid-write (a power cut, a full disk) ends here, so the next line starts whole.
    if (file.bytes > 0 && lastByte(fd, file.bytes) !== 0x0a) file.bytes += writeSync(fd, '\n');
    return file;
  } catch (error) {
    closeQuietly(fd);
    throw error;
  }
}

function lastByte(fd: number, size: number): number {
  const byte = Buffer.alloc(1);
  return readSync(fd, byte, 0, 1, size - 1) === 1 ? byte[0]! : 0x0a;
}

/** The highest part of a day already in the folder (0 if none), where a restarted server goes on. */
function highestPart(dir: string, day: string): number {
  let highest = 0;
  try {
    for (const name of readdirSync(dir)) {
      const match = LOG_FILE_NAME.exec(name);
      if (match !== null && match[1] === day) highest = Math.max(highest, Number(match[2] ?? 0));
    }
  } catch {
    // An unreadable folder: the open that follows says what is wrong.
  }
  return highest;
}

/** Keeps the newest `keep` files of ordergate's naming, oldest first by (day, part); never `current`. */
async function pruneLogFiles(dir: string, keep: number, current: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    // A folder removed under a running server holds nothing to delete; the next write says it is gone.
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const ours = entries
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && LOG_FILE_NAME.test(entry.name))
    .map((entry) => {
      const match = LOG_FILE_NAME.exec(entry.name)!;
      return { name: entry.name, day: match[1]!, part: Number(match[2] ?? 0) };
    })
    .sort((a, b) => (a.day === b.day ? a.part - b.part : a.day < b.day ? -1 : 1));
  for (const file of ours.slice(0, Math.max(0, ours.length - keep))) {
    if (file.name === current) continue;
    try {
      await unlink(join(dir, file.name));
    } catch (error) {
      // Another server sharing the folder deleted it first.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing more to release.
  }
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function nextUtcMidnightMs(ms: number): number {
  const day = new Date(ms);
  return Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate() + 1);
}
