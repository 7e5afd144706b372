// The users and subscriptions in force, as both stores serve them: GET /users and GET /strategies
// page over them in name order, and GET /users/:name shows one user. Only the open-position counts
// and the positions come from the database; everything else is kept here, indexed, and changed in
// place by the log's records (a user put or removed, a profile imported).

import {
  indexSubscriptions,
  type Profile,
  type SubscriptionIndex,
  type SubscriptionJson,
  subscriptionJson,
  TermsPool,
  type UserProfile,
} from '../domain/profile.js';
import type { Terms, UserId } from '../domain/rules.js';
import { type JsonPage, nameCursor, PAGE_LIMIT_MAX } from './page.js';
import { type NamesQuery, pageOf } from './rows.js';

/** What a store reads from its database for the users of a page. */
export interface DirectoryReads {
  /** Open positions per user id, for these users only (the others are absent or 0). */
  openPositionsOf(userIds: readonly UserId[]): Promise<ReadonlyMap<UserId, number>>;
}

export class Directory {
  /** strategy → subscriber → terms: what decide() reads. A user's terms are replaced, never changed in place. */
  readonly subscriptions = new Map<string, Map<UserId, Terms>>();
  readonly #byName = new Map<string, UserProfile>();
  /** The names in force, sorted: what GET /users pages over. */
  #names: string[] = [];
  readonly #userIdOf: (name: string) => UserId | undefined;
  #strategies: readonly { readonly name: string; readonly json: string }[] | null = null;
  /** Counts changes: what a cache built from the directory (the case hints) is matched on. */
  version = 0;

  constructor(profile: Profile, userIdOf: (name: string) => UserId | undefined) {
    this.#userIdOf = userIdOf;
    this.replaceAll(profile);
  }

  /** Replaces every user (a profile seeded or imported). */
  replaceAll(profile: Profile): void {
    this.#byName.clear();
    for (const entry of profile) this.#byName.set(entry.user, entry);
    this.#names = profile.map((entry) => entry.user).sort();
    this.subscriptions.clear();
    for (const [strategy, subscribers] of indexSubscriptions(profile, (user) => this.#userIdOf(user)!))
      this.subscriptions.set(strategy, new Map(subscribers));
    this.#changed();
  }

  /** Creates or replaces one user's subscriptions. */
  setUser(entry: UserProfile, userId: UserId): void {
    this.#unindex(entry.user, userId);
    if (!this.#byName.has(entry.user)) this.#names.splice(firstAfter(this.#names, entry.user), 0, entry.user);
    this.#byName.set(entry.user, entry);
    const pool = new TermsPool();
    for (const subscription of entry.subscriptions) {
      let subscribers = this.subscriptions.get(subscription.strategy);
      if (subscribers === undefined) {
        subscribers = new Map();
        this.subscriptions.set(subscription.strategy, subscribers);
      }
      subscribers.set(userId, pool.of(subscription));
    }
    this.#changed();
  }

  /** Removes a user from the users in force; their positions are the store's business. */
  removeUser(name: string, userId: UserId): void {
    if (!this.#byName.has(name)) return;
    this.#unindex(name, userId);
    this.#byName.delete(name);
    this.#names.splice(firstAfter(this.#names, name) - 1, 1);
    this.#changed();
  }

  #unindex(name: string, userId: UserId): void {
    for (const { strategy } of this.#byName.get(name)?.subscriptions ?? []) {
      const subscribers = this.subscriptions.get(strategy);
      subscribers?.delete(userId);
      if (subscribers?.size === 0) this.subscriptions.delete(strategy);
    }
  }

  #changed(): void {
    this.#strategies = null;
    this.version++;
  }

  /** The profile entry of a user in force; a user who left it (holding positions still) has none. */
  entry(name: string): UserProfile | undefined {
    return this.#byName.get(name);
  }

  /** The users in force, by name: what `ordergate export` writes. */
  *entries(): Generator<UserProfile> {
    for (const name of this.#names) yield this.#byName.get(name)!;
  }

  get size(): number {
    return this.#names.length;
  }

  async usersPage(query: NamesQuery, reads: DirectoryReads): Promise<JsonPage> {
    const from = firstAfter(this.#names, query.after);
    const taken = this.#names.slice(from, from + query.limit + 1);
    const ids = taken.map((name) => this.#userIdOf(name)!);
    const open = await reads.openPositionsOf(ids);
    return pageOf(
      taken.map((name, i) => ({ name, open: open.get(ids[i]!) ?? 0 })),
      query.limit,
      ({ name, open }) => userSummaryJson(this.#byName.get(name)!, open),
      ({ name }) => nameCursor(name),
    );
  }

  strategiesPage(query: NamesQuery): JsonPage {
    this.#strategies ??= summariseStrategies(this.subscriptions);
    const names = this.#strategies.map((entry) => entry.name);
    const from = firstAfter(names, query.after);
    return pageOf(
      this.#strategies.slice(from, from + query.limit + 1),
      query.limit,
      (entry) => entry.json,
      (entry) => nameCursor(entry.name),
    );
  }
}

/** One user with the first page of its positions: `positions_next_after` leads to GET /positions?user=. */
export function userDetailJson(
  name: string,
  entry: UserProfile | undefined,
  open: number,
  positions: JsonPage,
) {
  const summary = userSummaryJson(entry ?? { user: name, subscriptions: [] }, open);
  return `${summary.slice(0, -1)},"positions":[${positions.rows.join(',')}],"positions_next_after":${JSON.stringify(positions.nextAfter)}}`;
}

/** The positions shown with one user: a page of the most a page holds. */
export const USER_POSITIONS_SHOWN_MAX = PAGE_LIMIT_MAX;

function userSummaryJson(entry: UserProfile, openPositions: number): string {
  const strategies: Record<string, SubscriptionJson> = {};
  for (const subscription of entry.subscriptions)
    strategies[subscription.strategy] = subscriptionJson(subscription);
  return JSON.stringify({ user: entry.user, strategies, open_positions: openPositions });
}

function summariseStrategies(subscriptions: SubscriptionIndex) {
  const summaries: { name: string; json: string }[] = [];
  for (const [strategy, subscribers] of subscriptions) {
    const instruments: Record<string, number> = {};
    for (const terms of subscribers.values())
      for (const instrument of terms.instruments)
        instruments[instrument] = (instruments[instrument] ?? 0) + 1;
    summaries.push({
      name: strategy,
      json: JSON.stringify({ strategy, subscribers: subscribers.size, instruments }),
    });
  }
  return summaries.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The index of the first name after `after` in a sorted list (all of it when after is null). */
function firstAfter(sorted: readonly string[], after: string | null): number {
  if (after === null) return 0;
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** How a profile file differs from the users in force: what start-up reports instead of applying it. */
export interface ProfileDifference {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export function profileDifference(profile: Profile, directory: Directory): ProfileDifference {
  const added: string[] = [];
  const changed: string[] = [];
  const inFile = new Set<string>();
  for (const entry of profile) {
    inFile.add(entry.user);
    const current = directory.entry(entry.user);
    if (current === undefined) added.push(entry.user);
    else if (!sameSubscriptions(entry, current)) changed.push(entry.user);
  }
  const removed: string[] = [];
  for (const entry of directory.entries()) if (!inFile.has(entry.user)) removed.push(entry.user);
  return { added, removed, changed };
}

function sameSubscriptions(a: UserProfile, b: UserProfile): boolean {
  if (a.subscriptions.length !== b.subscriptions.length) return false;
  const byStrategy = new Map(b.subscriptions.map((s) => [s.strategy, s]));
  return a.subscriptions.every((s) => {
    const other = byStrategy.get(s.strategy);
    if (other === undefined || other.sizing.fixed !== s.sizing.fixed) return false;
    if (other.sizing.multiplierE4 !== s.sizing.multiplierE4) return false;
    const instruments = new Set(other.instruments);
    return instruments.size === s.instruments.length && s.instruments.every((i) => instruments.has(i));
  });
}

/** The users in force in the seed's profile format, by name: what `ordergate export` writes. */
export function profileJson(directory: Directory): string {
  const profile: Record<string, Record<string, SubscriptionJson>> = {};
  for (const { user, subscriptions } of directory.entries()) {
    const strategies: Record<string, SubscriptionJson> = {};
    for (const subscription of subscriptions)
      strategies[subscription.strategy] = subscriptionJson(subscription);
    profile[user] = strategies;
  }
  return `${JSON.stringify(profile, null, 2)}\n`;
}
