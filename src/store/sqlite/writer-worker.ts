// The writer thread. better-sqlite3 is synchronous, so an fsync on the event loop would stall every
// connection; here it stalls only this thread while the main thread goes on parsing and deciding.
// Everything queued while a commit runs goes into the next transaction: one transaction, one fsync.
// It also keeps the write-ahead log small: only this thread knows when no transaction is open, the one
// moment a checkpoint can start the log again from the beginning of its file.

import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { BUSY_TIMEOUT_MS, openConnection } from './connection.js';
import { INSERT_KEY, keyParameters } from './sqlite-keys.js';
import {
  type ChangeWrite,
  type FromWriter,
  isChange,
  type KeyChange,
  type LogWrite,
  type OrderWrite,
  type ToWriter,
  WAL_BYTES_MAX,
  WAL_OVERSHOOT_BYTES_MAX,
  type WriterData,
} from './writer-protocol.js';

const port = parentPort!;
const { path } = workerData as WriterData;

let db = openConnection(path, { mustExist: true });
let statements = prepare(db);
/** SQLite writes on into a deleted or replaced file without an error: compare inodes before each commit. */
let inode = inodeOf(path);
let queue: { batch: number; orders: readonly LogWrite[] }[] = [];
/** API keys' last uses, written after the orders queued with them, in a transaction of their own. */
let lastUses: { seq: number; keyId: string; atMs: number }[] = [];
/** Keys created or revoked through the API, after the orders queued with them, each in its own transaction. */
let keyChanges: { seq: number; change: KeyChange }[] = [];
let flushScheduled = false;
/** After a failed commit, every batch is refused until the main thread has rebuilt its book. */
let failure: { code: string; message: string } | null = null;
/** From this many rows an order's positions are written by one statement over a JSON array. */
const BULK_ROWS_MIN = 16;

/**
 * A reset of the WAL waits this long at most for readers to leave it (a short read of the main
 * thread ends well within it); the orders queued meanwhile wait as long. A long reader makes it fail.
 */
const WAL_RESET_BUSY_MS = 10;
/**
 * After a reset that a reader prevented, the next try comes this much later, then twice as late each
 * time up to WAL_RESET_RETRY_MS_MAX: a long reader costs the orders one short wait every 2 s.
 */
const WAL_RESET_RETRY_MS = 100;
const WAL_RESET_RETRY_MS_MAX = 2000;
/** With no commit for this long the WAL file is truncated to nothing: a quiet server keeps no WAL. */
const WAL_IDLE_MS = 1000;
/** How often a WAL held past WAL_BYTES_MAX by a reader is reported to the main thread. */
const WAL_HELD_REPORT_MS = 10_000;

const walPath = `${path}-wal`;
let walResetNotBeforeMs = 0;
let walResetRetryMs = WAL_RESET_RETRY_MS;
/** Frames the checkpointer had copied when the writer last looked, while the WAL is past the limit. */
let walCopiedFrames: number | undefined;
let walHeldReportedAtMs = -WAL_HELD_REPORT_MS;
const walIdleTimer = setTimeout(truncateIdleWal, WAL_IDLE_MS);

function prepare(connection: Database.Database) {
  connection.pragma('wal_autocheckpoint = 0');
  // After a reset the next commit trims a file that outgrew the limit back to it.
  connection.pragma(`journal_size_limit = ${WAL_BYTES_MAX}`);
  const lastUse = connection.prepare(
    'UPDATE api_keys SET last_used_at_ms = max(coalesce(last_used_at_ms, 0), ?) WHERE key_id = ?',
  );
  return {
    createKey: connection.prepare(INSERT_KEY),
    revokeKey: connection.prepare(
      'UPDATE api_keys SET revoked_at_ms = ? WHERE key_id = ? AND revoked_at_ms IS NULL',
    ),
    order: connection.prepare(
      `INSERT INTO orders (order_id, client_order_id, strategy, instrument, side, status, reason, received_at_ms,
                           answer, fills, denials, origin, for_user_id, quantity)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    change: connection.prepare('INSERT INTO changes (seq, kind, body, key_id, at_ms) VALUES (?, ?, ?, ?, ?)'),
    addUser: connection.prepare('INSERT OR IGNORE INTO users (user_id, name) VALUES (?, ?)'),
    clearAllSubscriptions: connection.prepare('DELETE FROM subscriptions'),
    clearSubscriptions: connection.prepare('DELETE FROM subscriptions WHERE user_id = ?'),
    clearStrategy: connection.prepare('DELETE FROM subscriptions WHERE user_id = ? AND strategy = ?'),
    subscribe: connection.prepare(
      'INSERT OR IGNORE INTO subscriptions (user_id, strategy, instrument) VALUES (?, ?, ?)',
    ),
    subscribeMany: connection.prepare(
      `INSERT OR IGNORE INTO subscriptions (user_id, strategy, instrument)
       SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)`,
    ),
    endState: connection.prepare('DELETE FROM states WHERE scope = ? AND target = ?'),
    setState: connection.prepare(
      `INSERT OR REPLACE INTO states (scope, target, state, reason, seq, at_ms, key_id, until_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    squareOff: connection.prepare('INSERT INTO square_offs (day, seq) VALUES (?, ?)'),
    // The close-only period after square-offs only ever grows, in memory (changes.ts) and here alike.
    extendCloseOnly: connection.prepare(
      `INSERT INTO states (scope, target, state, reason, seq, at_ms, key_id, until_ms)
       VALUES ('square-off', '', 'CLOSE_ONLY', ?, ?, ?, ?, ?)
       ON CONFLICT (scope, target) DO UPDATE SET
         reason = excluded.reason, seq = excluded.seq, at_ms = excluded.at_ms, key_id = excluded.key_id,
         until_ms = excluded.until_ms
       WHERE excluded.until_ms > states.until_ms`,
    ),
    release: connection.prepare(
      `INSERT INTO released_positions (released_seq, strategy, instrument, user_id, order_id, opened_at_ms, quantity)
       SELECT ?, strategy, instrument, user_id, order_id, opened_at_ms, quantity FROM positions
       WHERE strategy = ? AND instrument = ? AND user_id = ?`,
    ),
    profileVersion: connection.prepare(
      `INSERT INTO profile_versions (version, sha256, first_order_id, loaded_at_ms, profile, change_seq)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    open: connection.prepare(
      'INSERT INTO positions (strategy, instrument, user_id, order_id, opened_at_ms, quantity) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    close: connection.prepare('DELETE FROM positions WHERE strategy = ? AND instrument = ? AND user_id = ?'),
    trade: connection.prepare(
      `INSERT INTO trades (user_id, strategy, instrument, buy_order_id, sell_order_id, opened_at_ms, closed_at_ms, quantity)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // A fan-out writes tens of thousands of rows for one order: one statement over a JSON array
    // instead of one call per row halves the writer's time per fill.
    openMany: connection.prepare(
      `INSERT INTO positions (strategy, instrument, user_id, order_id, opened_at_ms, quantity)
       SELECT ?, ?, value, ?, ?, ? FROM json_each(?)`,
    ),
    // Positions of different quantities: [[user_id, quantity], …].
    openManySized: connection.prepare(
      `INSERT INTO positions (strategy, instrument, user_id, order_id, opened_at_ms, quantity)
       SELECT ?, ?, value ->> 0, ?, ?, value ->> 1 FROM json_each(?)`,
    ),
    closeMany: connection.prepare(
      'DELETE FROM positions WHERE strategy = ? AND instrument = ? AND user_id IN (SELECT value FROM json_each(?))',
    ),
    tradeMany: connection.prepare(
      `INSERT INTO trades (user_id, strategy, instrument, buy_order_id, sell_order_id, opened_at_ms, closed_at_ms, quantity)
       SELECT value ->> 0, ?, ?, value ->> 1, ?, value ->> 2, ?, ? FROM json_each(?)`,
    ),
    // Round trips of different quantities: [[user_id, buy_order_id, opened_at_ms, quantity], …].
    tradeManySized: connection.prepare(
      `INSERT INTO trades (user_id, strategy, instrument, buy_order_id, sell_order_id, opened_at_ms, closed_at_ms, quantity)
       SELECT value ->> 0, ?, ?, value ->> 1, ?, value ->> 2, ?, value ->> 3 FROM json_each(?)`,
    ),
    commitAll: connection.transaction((writes: readonly LogWrite[]) => {
      for (const write of writes) {
        if (isChange(write)) writeChange(write);
        else writeOrder(write);
      }
    }),
    commitLastUses: connection.transaction((uses: readonly { keyId: string; atMs: number }[]) => {
      for (const use of uses) lastUse.run(use.atMs, use.keyId);
    }),
  };
}

function writeOrder(o: OrderWrite): void {
  const s = statements;
  s.order.run(
    o.orderId,
    o.clientOrderId,
    o.strategy,
    o.instrument,
    o.side,
    o.status,
    o.reason,
    o.receivedAtMs,
    o.answer,
    o.fills,
    o.denials,
    o.origin,
    o.forUserId,
    o.quantity,
  );
  const { opened, closed, openedQuantities, closedQuantities } = o;
  const openedQuantity = (i: number) =>
    typeof openedQuantities === 'number' ? openedQuantities : openedQuantities[i]!;
  const closedQuantity = (i: number) =>
    typeof closedQuantities === 'number' ? closedQuantities : closedQuantities[i]!;
  if (opened.length >= BULK_ROWS_MIN && typeof openedQuantities === 'number') {
    s.openMany.run(
      o.strategy,
      o.instrument,
      o.orderId,
      o.receivedAtMs,
      openedQuantities,
      JSON.stringify(opened),
    );
  } else if (opened.length >= BULK_ROWS_MIN) {
    const pairs = opened.map((userId, i) => [userId, openedQuantity(i)]);
    s.openManySized.run(o.strategy, o.instrument, o.orderId, o.receivedAtMs, JSON.stringify(pairs));
  } else {
    for (let i = 0; i < opened.length; i++)
      s.open.run(o.strategy, o.instrument, opened[i], o.orderId, o.receivedAtMs, openedQuantity(i));
  }
  if (closed.length / 3 >= BULK_ROWS_MIN && o.closedStrategies === null) return closeMany(o);
  for (let i = 0; i < closed.length; i += 3) {
    const userId = closed[i]!;
    // A round trip is the position's: it keeps the strategy that opened it.
    const strategy = o.closedStrategies?.[i / 3] ?? o.strategy;
    const removed = s.close.run(strategy, o.instrument, userId).changes;
    if (removed !== 1) throw disagreement(1, removed);
    s.trade.run(
      userId,
      strategy,
      o.instrument,
      closed[i + 1],
      o.orderId,
      closed[i + 2],
      o.receivedAtMs,
      closedQuantity(i / 3),
    );
  }
}

function writeChange(c: ChangeWrite): void {
  const s = statements;
  s.change.run(c.seq, c.kind, c.body, c.keyId, c.atMs);
  for (const [userId, name] of c.users) s.addUser.run(userId, name);
  const { effects } = c;
  if (effects.clearAll) s.clearAllSubscriptions.run();
  for (const [userId, strategy] of effects.clear) {
    if (strategy === null) s.clearSubscriptions.run(userId);
    else s.clearStrategy.run(userId, strategy);
  }
  if (effects.add.length >= BULK_ROWS_MIN) s.subscribeMany.run(JSON.stringify(effects.add));
  else
    for (const [userId, strategy, instrument] of effects.add) s.subscribe.run(userId, strategy, instrument);
  const { state } = effects;
  // Setting the gate's state ends a square-off's close-only period.
  if (state?.scope === 'gate') s.endState.run('square-off', '');
  if (state !== null && state.entry === null) s.endState.run(state.scope, state.target);
  else if (state?.scope === 'square-off' && state.entry !== null) {
    s.extendCloseOnly.run(state.entry.reason, c.seq, c.atMs, c.keyId, state.entry.untilMs);
  } else if (state !== null && state.entry !== null) {
    const { entry } = state;
    s.setState.run(
      state.scope,
      state.target,
      entry.state,
      entry.reason,
      c.seq,
      c.atMs,
      c.keyId,
      entry.untilMs,
    );
  }
  if (effects.squareOffDay !== null) s.squareOff.run(effects.squareOffDay, c.seq);
  for (const [strategy, instrument, userId] of c.released) {
    s.release.run(c.seq, strategy, instrument, userId);
    const removed = s.close.run(strategy, instrument, userId).changes;
    if (removed !== 1) throw disagreement(1, removed);
  }
  if (c.profile !== null) {
    const { version, sha256, text } = c.profile;
    s.profileVersion.run(version, sha256, c.seq + 1, c.atMs, text, c.seq);
  }
}

function closeMany(o: OrderWrite): void {
  const users: number[] = [];
  const trades: number[][] = [];
  const uniform = typeof o.closedQuantities === 'number';
  for (let i = 0; i < o.closed.length; i += 3) {
    users.push(o.closed[i]!);
    const trade = [o.closed[i]!, o.closed[i + 1]!, o.closed[i + 2]!];
    if (!uniform) trade.push((o.closedQuantities as readonly number[])[i / 3]!);
    trades.push(trade);
  }
  const removed = statements.closeMany.run(o.strategy, o.instrument, JSON.stringify(users)).changes;
  if (removed !== users.length) throw disagreement(users.length, removed);
  const { orderId, receivedAtMs } = o;
  if (uniform) {
    const quantity = o.closedQuantities as number;
    statements.tradeMany.run(
      o.strategy,
      o.instrument,
      orderId,
      receivedAtMs,
      quantity,
      JSON.stringify(trades),
    );
  } else
    statements.tradeManySized.run(o.strategy, o.instrument, orderId, receivedAtMs, JSON.stringify(trades));
}

/** The book in memory said these positions were open; the database must agree, or nothing commits. */
function disagreement(expected: number, removed: number): Error {
  return new Error(`book and database disagree: ${expected} open positions to close, ${removed} found`);
}

function flush(): void {
  flushScheduled = false;
  commitOrders();
  commitKeyChanges();
  commitLastUses();
  boundWal();
}

/**
 * Between two transactions, a WAL file past WAL_BYTES_MAX is checkpointed and started again from its
 * beginning. The orders queued meanwhile wait for it, and what it costs is the copy of what the
 * checkpointer has not copied yet, and an fsync: so it waits (up to WAL_OVERSHOOT_BYTES_MAX) for the
 * first commit after a checkpointer run, when that part is smallest. Measured at 1,000 orders/s on
 * 200 users: 44–61 ms a reset when it did not wait (a checkpoint every 250 ms), 14 ms when it does.
 */
function boundWal(): void {
  walIdleTimer.refresh();
  const now = performance.now();
  if (failure !== null || now < walResetNotBeforeMs) return;
  const bytes = walBytes();
  if (bytes <= WAL_BYTES_MAX) {
    walCopiedFrames = undefined;
    return;
  }
  if (bytes <= WAL_BYTES_MAX + WAL_OVERSHOOT_BYTES_MAX && !checkpointerJustRan()) return;
  const outcome = checkpointWal('RESTART');
  if (outcome === 'reset') walResetRetryMs = WAL_RESET_RETRY_MS;
  // The checkpointer's own run ends within milliseconds: the next commit tries again.
  if (outcome !== 'held') return;
  walResetNotBeforeMs = now + walResetRetryMs;
  walResetRetryMs = Math.min(2 * walResetRetryMs, WAL_RESET_RETRY_MS_MAX);
  if (now - walHeldReportedAtMs < WAL_HELD_REPORT_MS) return;
  walHeldReportedAtMs = now;
  post({ type: 'wal-held', bytes: walBytes() });
}

/** Whether the checkpointer has copied frames since the last look (the first look only takes note). */
function checkpointerJustRan(): boolean {
  let copied: number;
  try {
    copied = (db.pragma('wal_checkpoint(NOOP)') as { checkpointed: number }[])[0]?.checkpointed ?? 0;
  } catch {
    return true;
  }
  const ran = walCopiedFrames !== undefined && copied !== walCopiedFrames;
  walCopiedFrames = copied;
  return ran;
}

function truncateIdleWal(): void {
  if (queue.length > 0 || failure !== null || walBytes() === 0) return;
  if (checkpointWal('TRUNCATE') !== 'reset') walIdleTimer.refresh();
}

/**
 * A checkpoint that resets the log, waiting only briefly for readers: 'reset', 'checkpointing' when
 * another checkpoint holds the lock (SQLite then reports no frames, -1), or 'held' by a reader.
 */
function checkpointWal(mode: 'RESTART' | 'TRUNCATE'): 'reset' | 'checkpointing' | 'held' {
  try {
    db.pragma(`busy_timeout = ${WAL_RESET_BUSY_MS}`);
    try {
      const [result] = db.pragma(`wal_checkpoint(${mode})`) as { busy: number; log: number }[];
      if (result?.busy === 0) return 'reset';
      return result?.log === -1 ? 'checkpointing' : 'held';
    } finally {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  } catch {
    // Nothing is lost (the WAL still holds every commit); a fault of the file shows at the next commit.
    return 'held';
  }
}

function walBytes(): number {
  return statSync(walPath, { throwIfNoEntry: false })?.size ?? 0;
}

function commitOrders(): void {
  const taken = queue;
  queue = [];
  if (taken.length === 0) return;
  const batches = taken.map((entry) => entry.batch);
  if (failure !== null) return post({ type: 'failed', batches, ...failure, certain: true });
  if (inodeOf(path) !== inode) {
    failure = {
      code: 'DATABASE_FILE_REPLACED',
      message: `${path} was removed or replaced while open; nothing more is committed until the file is restored`,
    };
    return post({ type: 'failed', batches, ...failure, certain: true });
  }
  try {
    statements.commitAll(taken.flatMap((entry) => entry.orders));
  } catch (error) {
    failure = describe(error);
    // After an I/O error a commit's frames may have reached the WAL (a failed fsync): hidden from every
    // reader, but a crash before they are overwritten would replay them at the next start, so they are
    // erased at once if possible, and again before recovery. After a failed fsync even the erasure
    // cannot be made durable (a power cut could undo it): that answer says the outcome is unknown.
    // Other failures (busy, full, constraint) stop before a complete commit frame is written, and are
    // answered at once: an erasure would wait out the same lock again.
    const io = failure.code.startsWith('SQLITE_IOERR');
    const certain = !io || (reopenWithEmptyWal() && failure.code !== 'SQLITE_IOERR_FSYNC');
    return post({ type: 'failed', batches, ...failure, certain });
  }
  post({ type: 'committed', batches });
}

/** A last use that cannot be written is reported, never a fault of the store: the orders go on. */
function commitLastUses(): void {
  if (lastUses.length === 0) return;
  const taken = lastUses;
  lastUses = [];
  let error = unwritable();
  if (error === undefined) {
    try {
      statements.commitLastUses(taken);
    } catch (caught) {
      error = describe(caught).message;
    }
  }
  for (const use of taken)
    post({ type: 'last-use-done', seq: use.seq, ...(error !== undefined && { error }) });
}

/** A key change that cannot be written is answered so (the API says 503), never a fault of the store. */
function commitKeyChanges(): void {
  const taken = keyChanges;
  keyChanges = [];
  for (const { seq, change } of taken) {
    const why = unwritable();
    if (why !== undefined) {
      post({ type: 'key-change-done', seq, changed: false, error: why });
      continue;
    }
    try {
      const changes =
        change.kind === 'create'
          ? statements.createKey.run(keyParameters(change.key)).changes
          : statements.revokeKey.run(change.atMs, change.id).changes;
      post({ type: 'key-change-done', seq, changed: changes === 1 });
    } catch (error) {
      post({ type: 'key-change-done', seq, changed: false, error: describe(error).message });
    }
  }
}

/** Why nothing but orders' recovery may be written now, or undefined. */
function unwritable(): string | undefined {
  if (failure !== null) return `the store is recovering (${failure.code})`;
  if (inodeOf(path) !== inode) return `${path} was removed or replaced while open`;
  return undefined;
}

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flush);
}

function reset(): void {
  queue = [];
  try {
    reopen();
    truncateWal();
    failure = null;
    post({ type: 'reset-done' });
  } catch (error) {
    const gone = inodeOf(path) === undefined;
    const message = gone
      ? `${path} is gone: restore it; nothing is committed until then`
      : describe(error).message;
    post({ type: 'reset-failed', message });
  }
}

function reopenWithEmptyWal(): boolean {
  try {
    reopen();
    truncateWal();
    return true;
  } catch {
    return false;
  }
}

function reopen(): void {
  try {
    db.close();
  } catch {
    // The handle may be unusable after an I/O error; a fresh connection replaces it either way.
  }
  db = openConnection(path, { mustExist: true });
  statements = prepare(db);
  inode = inodeOf(path);
}

/** Checkpoints every committed frame and truncates the WAL, erasing any frames of a failed commit. */
function truncateWal(): void {
  const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
  if (result?.busy !== 0) throw new Error('the WAL could not be checkpointed: a reader holds it; retrying');
}

function inodeOf(file: string): number | undefined {
  return statSync(file, { throwIfNoEntry: false })?.ino;
}

function describe(error: unknown): { code: string; message: string } {
  const code = (error as { code?: unknown }).code;
  return {
    code: typeof code === 'string' ? code : 'ERROR',
    message: (error as Error).message ?? String(error),
  };
}

function post(message: FromWriter): void {
  port.postMessage(message);
}

port.on('message', (message: ToWriter) => {
  if (message.type === 'batch') {
    queue.push({ batch: message.batch, orders: message.orders });
    scheduleFlush();
  } else if (message.type === 'last-use') {
    lastUses.push({ seq: message.seq, keyId: message.keyId, atMs: message.atMs });
    scheduleFlush();
  } else if (message.type === 'key-change') {
    keyChanges.push({ seq: message.seq, change: message.change });
    scheduleFlush();
  } else if (message.type === 'reset') {
    reset();
  } else {
    flush();
    clearTimeout(walIdleTimer);
    db.close();
    post({ type: 'closed' });
    port.close();
  }
});

post({ type: 'ready' });
