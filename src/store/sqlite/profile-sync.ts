// Seeds a new database with the profile file: its users and subscriptions, and the file's text as
// its first version. From then on the database is the source of truth: users change through the
// log's records (changes.ts), and a file is applied only when imported. Also loads, at start, the
// users and states in force: the latest profile version and the records since.

import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Profile } from '../../domain/profile.js';
import type { GateStates } from '../../domain/states.js';
import { loadStateRows, type StateRow } from '../reconcile.js';

export interface Users {
  readonly idOf: ReadonlyMap<string, number>;
  readonly names: readonly string[];
  /** A user's name as JSON, encoded on first use and kept: answers are joined from these. */
  nameJson(userId: number): string;
  /** A user named for the first time (a live change). */
  add(userId: number, name: string): void;
}

export interface ProfileVersion {
  readonly version: number;
  readonly firstOrderId: number;
  readonly profile: string;
  /** The import record that brought it in; null for a version stored at start (it applies from firstOrderId). */
  readonly changeSeq: number | null;
}

export function sha256Of(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Seeds a new database (no profile stored yet) and returns version 1; on any other, null. */
export function seedProfile(
  db: Database.Database,
  profile: Profile,
  text: string,
  nowMs: number,
): number | null {
  const stored = db.prepare('SELECT count(*) FROM profile_versions').pluck().get() as number;
  if (stored > 0) return null;
  return syncProfile(db, profile, text, nowMs);
}

/** Returns the new version's number when the stored profile was replaced, else null. */
function syncProfile(db: Database.Database, profile: Profile, text: string, nowMs: number): number | null {
  const digest = sha256Of(text);
  const latest = db
    .prepare('SELECT sha256 FROM profile_versions ORDER BY version DESC LIMIT 1')
    .pluck()
    .get();
  if (latest === digest) return null;
  const addUser = db.prepare('INSERT OR IGNORE INTO users (name) VALUES (?)');
  const userId = db.prepare('SELECT user_id FROM users WHERE name = ?').pluck();
  const subscribe = db.prepare('INSERT INTO subscriptions (user_id, strategy, instrument) VALUES (?, ?, ?)');
  return db
    .transaction(() => {
      db.exec('DELETE FROM subscriptions');
      for (const { user, subscriptions } of profile) {
        addUser.run(user);
        const id = userId.get(user) as number;
        for (const { strategy, instruments } of subscriptions) {
          for (const instrument of instruments) subscribe.run(id, strategy, instrument);
        }
      }
      const last = db.prepare('SELECT max(order_id) FROM orders').pluck().get() as number | null;
      const insert = db.prepare(
        'INSERT INTO profile_versions (sha256, first_order_id, loaded_at_ms, profile) VALUES (?, ?, ?, ?)',
      );
      return Number(insert.run(digest, (last ?? 0) + 1, nowMs, text).lastInsertRowid);
    })
    .immediate();
}

export function loadProfileVersions(db: Database.Database): ProfileVersion[] {
  const rows = db
    .prepare('SELECT version, first_order_id, profile, change_seq FROM profile_versions ORDER BY version')
    .raw()
    .all() as [number, number, string, number | null][];
  return rows.map(([version, firstOrderId, profile, changeSeq]) => ({
    version,
    firstOrderId,
    profile,
    changeSeq,
  }));
}

/** Every user ever known, including those no longer in the profile but still holding positions. */
export function loadUsers(db: Database.Database): Users {
  const idOf = new Map<string, number>();
  const names: string[] = [];
  for (const [id, name] of db.prepare('SELECT user_id, name FROM users').raw().iterate() as Iterable<
    [number, string]
  >) {
    idOf.set(name, id);
    names[id] = name;
  }
  // Encoded lazily: a restart with 100,000 users need not encode the names no order has touched yet.
  const encoded: string[] = [];
  const nameJson = (userId: number): string => (encoded[userId] ??= JSON.stringify(names[userId]));
  const add = (userId: number, name: string): void => {
    idOf.set(name, userId);
    names[userId] = name;
  };
  return { idOf, names, nameJson, add };
}

/** The latest profile version: what the users in force are built from, with the records since. */
export function latestProfileVersion(
  db: Database.Database,
): { version: number; sha256: string; appliesAfter: number; read: () => string } | undefined {
  const row = db
    .prepare(
      'SELECT version, sha256, change_seq, first_order_id FROM profile_versions ORDER BY version DESC LIMIT 1',
    )
    .raw()
    .get() as [number, string, number | null, number] | undefined;
  if (row === undefined) return undefined;
  const [version, sha256, changeSeq, firstOrderId] = row;
  // An imported version applies after its record; one stored at start, before its first order.
  const appliesAfter = changeSeq ?? firstOrderId - 1;
  const read = () =>
    db.prepare('SELECT profile FROM profile_versions WHERE version = ?').pluck().get(version) as string;
  return { version, sha256, appliesAfter, read };
}

/** A stored record of the log that is not an order. */
export interface StoredChange {
  readonly seq: number;
  readonly kind: string;
  readonly body: string;
  readonly keyId: string | null;
  readonly atMs: number;
}

export function changesAfter(db: Database.Database, seq: number, kinds?: readonly string[]): StoredChange[] {
  const rows = db
    .prepare(
      `SELECT seq, kind, body, key_id, at_ms FROM changes WHERE seq > ?${kinds === undefined ? '' : ` AND kind IN (${kinds.map(() => '?').join(', ')})`} ORDER BY seq`,
    )
    .raw()
    .all(seq, ...(kinds ?? [])) as [number, string, string, string | null, number][];
  return rows.map(([s, kind, body, keyId, atMs]) => ({ seq: s, kind, body, keyId, atMs }));
}

/** The states in force, as the table keeps them. */
export function loadStates(db: Database.Database, states: GateStates): void {
  const rows = db
    .prepare('SELECT scope, target, state, reason, seq, at_ms, key_id, until_ms FROM states')
    .raw()
    .all() as StateRow[];
  loadStateRows(states, rows);
}
