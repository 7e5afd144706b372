// The checkpointer thread. A checkpoint copies committed WAL frames into the database file and fsyncs
// it: milliseconds of work that, run by the writer, stalled every order behind it (p99 at 1,000
// orders/s went from ~1 ms to ~6 ms). On its own connection it runs beside the writer, which goes on
// appending to the WAL meanwhile.

import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { openConnection } from './connection.js';
import type { WriterData } from './writer-protocol.js';

/** Often enough that the WAL stays small (restart replays none of it), rare enough to batch pages. */
const CHECKPOINT_INTERVAL_MS = 250;

const port = parentPort!;
const { path } = workerData as WriterData;
let db: Database.Database | null = null;
let inode: number | undefined;

function checkpoint(): void {
  try {
    // A database file restored after a removal is a new file: follow it, as the writer does.
    const current = statSync(path, { throwIfNoEntry: false })?.ino;
    if (db !== null && current !== inode) {
      db.close();
      db = null;
    }
    if (db === null) {
      if (current === undefined) return;
      db = openConnection(path, { mustExist: true });
      db.pragma('wal_autocheckpoint = 0');
      inode = current;
    }
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // A failed checkpoint loses nothing: the WAL still holds every commit, and the next one retries.
  }
}

checkpoint();
const timer = setInterval(checkpoint, CHECKPOINT_INTERVAL_MS);

port.on('message', () => {
  clearInterval(timer);
  db?.close();
  port.close();
});
