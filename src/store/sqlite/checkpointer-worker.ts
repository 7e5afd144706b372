// The checkpointer thread. A checkpoint copies committed WAL frames into the database file and fsyncs
// it: milliseconds of work that, run by the writer, stalled every order behind it (p99 at 1,000
// orders/s went from ~1 ms to ~6 ms). On its own connection it runs beside the writer, which goes on
// appending to the WAL meanwhile. It keeps the part of the WAL not yet copied small, so that the
// writer's own reset of the log (past WAL_BYTES_MAX, between two transactions) has little left to copy.

import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { openConnection } from './connection.js';
import type { FromCheckpointer, WriterData } from './writer-protocol.js';

/** Often enough that the WAL stays small (restart replays none of it), rare enough to batch pages. */
const CHECKPOINT_INTERVAL_MS = 250;
/**
 * After a run that copied frames and left more behind (the writer went on), the next one follows this
 * soon: under load the part not yet copied stays a few milliseconds' worth, and so does the copy the
 * writer's reset of the log must make while the orders wait.
 */
const CHECKPOINT_BUSY_INTERVAL_MS = 10;

const port = parentPort!;
const { path } = workerData as WriterData;
let db: Database.Database | null = null;
let inode: number | undefined;
let copiedFrames = 0;

/** Checkpoints, and says whether to come back soon: frames were copied and more are waiting. */
function checkpoint(): boolean {
  try {
    // A database file restored after a removal is a new file: follow it, as the writer does.
    const current = statSync(path, { throwIfNoEntry: false })?.ino;
    if (db !== null && current !== inode) {
      db.close();
      db = null;
    }
    if (db === null) {
      if (current === undefined) return false;
      db = openConnection(path, { mustExist: true });
      db.pragma('wal_autocheckpoint = 0');
      inode = current;
    }
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
    if (result === undefined) return false;
    const progressed = result.checkpointed !== copiedFrames;
    copiedFrames = result.checkpointed;
    return progressed && result.log > result.checkpointed;
  } catch {
    // A failed checkpoint loses nothing: the WAL still holds every commit, and the next one retries.
    return false;
  }
}

function loop(): void {
  timer = setTimeout(loop, checkpoint() ? CHECKPOINT_BUSY_INTERVAL_MS : CHECKPOINT_INTERVAL_MS);
}

checkpoint();
port.postMessage({ type: 'ready' } satisfies FromCheckpointer);
let timer = setTimeout(loop, CHECKPOINT_INTERVAL_MS);

port.on('message', () => {
  clearTimeout(timer);
  db?.close();
  port.close();
});
