// The users and subscriptions in force, as both stores serve them: GET /users and GET /strategies
// page over them in name order, and GET /users/:name shows one user. Only the open-position counts
// and the positions come from the database; everything else is the profile, indexed once.

import {
  indexSubscriptions,
  type Profile,
  type SubscriptionIndex,
  type UserProfile,
} from '../domain/profile.js';
import type { UserId } from '../domain/rules.js';
import { type JsonPage, nameCursor, PAGE_LIMIT_MAX } from './page.js';
import { type NamesQuery, pageOf } from './rows.js';

/** What a store reads from its database for the users of a page. */
export interface DirectoryReads {
  /** Open positions per user id, for these users only (the others are absent or 0). */
  openPositionsOf(userIds: readonly UserId[]): Promise<ReadonlyMap<UserId, number>>;
}

export class Directory {
  readonly subscriptions: SubscriptionIndex;
  readonly #byName: ReadonlyMap<string, UserProfile>;
  readonly #names: readonly string[];
  readonly #userIdOf: (name: string) => UserId | undefined;
  #strategies: readonly { readonly name: string; readonly json: string }[] | null = null;

  constructor(profile: Profile, userIdOf: (name: string) => UserId | undefined) {
    this.#userIdOf = userIdOf;
    this.#byName = new Map(profile.map((entry) => [entry.user, entry]));
    this.#names = profile.map((entry) => entry.user).sort();
    this.subscriptions = indexSubscriptions(profile, (user) => userIdOf(user)!);
  }

  /** The profile entry of a user in force; a user who left it (holding positions still) has none. */
  entry(name: string): UserProfile | undefined {
    return this.#byName.get(name);
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
  const strategies: Record<string, readonly string[]> = {};
  for (const { strategy, instruments } of entry.subscriptions) strategies[strategy] = instruments;
  return JSON.stringify({ user: entry.user, strategies, open_positions: openPositions });
}

function summariseStrategies(subscriptions: SubscriptionIndex) {
  const summaries: { name: string; json: string }[] = [];
  for (const [strategy, subscribers] of subscriptions) {
    const instruments: Record<string, number> = {};
    for (const set of subscribers.values())
      for (const instrument of set) instruments[instrument] = (instruments[instrument] ?? 0) + 1;
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
