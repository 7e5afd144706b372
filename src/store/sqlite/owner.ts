// One owner per SQLite file. The SQLite store keeps the open book in memory and numbers orders from
// it, so a second process writing the same file would decide on a stale book and collide on order ids.
// The owner holds an exclusive SQLite lock on a side database beside the file, PATH-owner: an fcntl
// lock on Unix (LockFileEx on Windows), which the OS drops when the process ends however it ends, so
// kill -9 never leaves a stale lock, and a pid file could not promise that. The side database stays
// empty: nothing is ever written to it, so it has no journal and nothing to recover. Who holds it is
// written beside it, to PATH-owner.json, for the refused process to name; that file is only a note (it
// is not the lock, and a crash leaves it behind until the next owner replaces it).
//
// POSIX locks belong to a process and vanish when any descriptor of the file in it is closed: nothing
// but this SQLite connection may ever open PATH-owner in the owning process (SQLite itself takes care
// of its own descriptors), which is why the note is a file of its own.

import { existsSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';

/** Not SQLite's own -wal, -shm, -journal or -mj… names. */
const LOCK_SUFFIX = '-owner';
const NOTE_SUFFIX = '-owner.json';

/** What the owner writes about itself, and what a refused process reads back. */
export interface OwnerNote {
  readonly pid: number;
  /** The command that holds the file: `serve`, `keys create`, `keys revoke`. */
  readonly command: string;
  readonly host: string;
  /** ISO 8601, when it took the file. */
  readonly since: string;
}

/** The file is owned by another process: the caller refuses to start, with this message (exit code 2). */
export class DatabaseInUseError extends Error {
  override readonly name = 'DatabaseInUseError';
  constructor(
    readonly path: string,
    /** Undefined when the owner left no readable note (it may be writing it this very moment). */
    readonly owner: OwnerNote | undefined,
  ) {
    super(`${path} is in use by ${describeOwner(owner)}: one process at a time may write a SQLite database`);
  }
}

export interface OwnerLock {
  /** Gives the file up: the note is removed first, so that it never outlives the lock it describes. */
  release(): void;
}

/** The side files of a database: beside the file itself, its symbolic links followed as SQLite does. */
export function ownerPaths(path: string): { lock: string; note: string } {
  const real = existsSync(path) ? realpathSync(path) : join(realpathSync(dirname(path)), basename(path));
  return { lock: real + LOCK_SUFFIX, note: real + NOTE_SUFFIX };
}

/**
 * Takes the file for this process, or throws DatabaseInUseError at once (no waiting) when another
 * process holds it. Must come before anything opens the database to write, migrations included.
 */
export function takeOwnership(path: string, command: string): OwnerLock {
  const { lock, note } = ownerPaths(path);
  let db: Database.Database;
  try {
    db = new Database(lock);
  } catch (error) {
    throw new Error(`${lock}: cannot open the owner lock beside the database (${(error as Error).message})`);
  }
  try {
    db.pragma('busy_timeout = 0');
    // EXCLUSIVE keeps every lock the connection takes until it closes; the open transaction takes the
    // exclusive one now and writes nothing.
    db.pragma('locking_mode = EXCLUSIVE');
    // Nothing is ever written, so the journal may live in memory: no -owner-journal file beside the
    // database (better-sqlite3 runs SQLite defensive, which refuses journal_mode OFF).
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY')
      throw new DatabaseInUseError(path, readNote(note));
    throw error;
  }
  writeNote(note, { pid: process.pid, command, host: hostname(), since: new Date().toISOString() });
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      removeNote(note);
      db.close();
    },
  };
}

/** Who owns the file, as far as its note says; undefined when there is none or it is unreadable. */
export function readNote(note: string): OwnerNote | undefined {
  try {
    const parsed = JSON.parse(readFileSync(note, 'utf8')) as Partial<OwnerNote>;
    if (typeof parsed.pid !== 'number' || typeof parsed.command !== 'string') return undefined;
    return {
      pid: parsed.pid,
      command: parsed.command,
      host: String(parsed.host ?? 'an unknown host'),
      since: String(parsed.since ?? 'an unknown time'),
    };
  } catch {
    return undefined;
  }
}

/** Written whole or not at all (a rename), so a reader never sees half a note. A note that cannot be written is only a note. */
function writeNote(note: string, owner: OwnerNote): void {
  const temporary = `${note}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(owner)}\n`);
    renameSync(temporary, note);
  } catch {
    // A note from an earlier owner would name the wrong process.
    removeNote(note);
    removeNote(temporary);
  }
}

function removeNote(note: string): void {
  try {
    unlinkSync(note);
  } catch {
    // Already gone, or never written.
  }
}

function describeOwner(owner: OwnerNote | undefined): string {
  if (owner === undefined) return 'another process (it has not said which yet)';
  const who = `ordergate ${owner.command} (pid ${owner.pid} on ${owner.host}, since ${owner.since})`;
  // The lock is held, so by someone; a note whose process is gone is left over from an earlier owner.
  if (owner.host === hostname() && !isAlive(owner.pid))
    return `another process (the last owner recorded, ${who}, has ended)`;
  return who;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
