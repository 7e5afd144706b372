// Stores the users and subscriptions in force beside the book. Rewritten only when the profile
// changed (its SHA-256 is kept in meta), so a restart with 100,000 users costs no writes.

import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Profile } from '../../domain/profile.js';

export interface Users {
  readonly idOf: ReadonlyMap<string, number>;
  /** Each user's name, JSON-encoded once, by user id. */
  readonly nameJson: readonly string[];
  readonly names: readonly string[];
}

export function profileDigest(profile: Profile): string {
  const hash = createHash('sha256');
  for (const { user, subscriptions } of profile) {
    hash.update(user).update('\u0000');
    for (const { strategy, instruments } of subscriptions) {
      hash.update(strategy).update('\u0001').update(instruments.join('\u0002')).update('\u0003');
    }
  }
  return hash.digest('hex');
}

/** Returns true when the stored subscriptions were replaced. */
export function syncProfile(db: Database.Database, profile: Profile): boolean {
  const digest = profileDigest(profile);
  const stored = db.prepare("SELECT value FROM meta WHERE key = 'profile_sha256'").pluck().get();
  if (stored === digest) return false;
  const addUser = db.prepare('INSERT OR IGNORE INTO users (name) VALUES (?)');
  const userId = db.prepare('SELECT user_id FROM users WHERE name = ?').pluck();
  const subscribe = db.prepare('INSERT INTO subscriptions (user_id, strategy, instrument) VALUES (?, ?, ?)');
  db.transaction(() => {
    db.exec('DELETE FROM subscriptions');
    for (const { user, subscriptions } of profile) {
      addUser.run(user);
      const id = userId.get(user) as number;
      for (const { strategy, instruments } of subscriptions) {
        for (const instrument of instruments) subscribe.run(id, strategy, instrument);
      }
    }
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('profile_sha256', ?)").run(digest);
  }).immediate();
  return true;
}

/** Every user ever known, including those no longer in the profile but still holding positions. */
export function loadUsers(db: Database.Database): Users {
  const idOf = new Map<string, number>();
  const nameJson: string[] = [];
  const names: string[] = [];
  for (const [id, name] of db.prepare('SELECT user_id, name FROM users').raw().iterate() as Iterable<
    [number, string]
  >) {
    idOf.set(name, id);
    names[id] = name;
    nameJson[id] = JSON.stringify(name);
  }
  return { idOf, nameJson, names };
}
