// Stores the users and subscriptions in force beside the book, and every version of the profile
// file (its text, as it was) with the first order it applied to. Rewritten only when the file changed
// (its SHA-256 is compared with the latest version's), so a restart with 100,000 users writes nothing.

import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Profile } from '../../domain/profile.js';

export interface Users {
  readonly idOf: ReadonlyMap<string, number>;
  readonly names: readonly string[];
  /** A user's name as JSON, encoded on first use and kept: answers are joined from these. */
  nameJson(userId: number): string;
}

export interface ProfileVersion {
  readonly version: number;
  readonly firstOrderId: number;
  readonly profile: string;
}

/** Returns the new version's number when the stored profile was replaced, else null. */
export function syncProfile(
  db: Database.Database,
  profile: Profile,
  text: string,
  nowMs: number,
): number | null {
  const digest = createHash('sha256').update(text).digest('hex');
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
    .prepare('SELECT version, first_order_id, profile FROM profile_versions ORDER BY version')
    .raw()
    .all() as [number, number, string][];
  return rows.map(([version, firstOrderId, profile]) => ({ version, firstOrderId, profile }));
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
  return { idOf, names, nameJson };
}
