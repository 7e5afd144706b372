// The seed's profile format: { "<user>": { "<STRATEGY>": ["<INSTRUMENT>", ...] } }. Parsed whole and
// validated whole: a profile with any problem is refused with the user and the problem named,
// never half-loaded.

import { isValidName, NAME_LENGTH_MAX } from './order.js';
import type { StrategySubscribers, UserId } from './rules.js';

export interface Subscription {
  readonly strategy: string;
  readonly instruments: readonly string[];
}

export interface UserProfile {
  readonly user: string;
  readonly subscriptions: readonly Subscription[];
}

export type Profile = readonly UserProfile[];

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
}

const nameRule = `1 to ${NAME_LENGTH_MAX} letters, digits, spaces or & ' . _ -, starting with a letter or digit`;

export function parseProfile(text: string, source: string): Profile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ProfileError(`${source}: not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(json))
    throw new ProfileError(`${source}: must be a JSON object of users, { "<user>": {...} }`);
  const users = Object.entries(json);
  if (users.length === 0) throw new ProfileError(`${source}: has no users`);
  return users.map(([user, strategies]) => parseUser(source, user, strategies));
}

function parseUser(source: string, user: string, strategies: unknown): UserProfile {
  const where = `${source}: user ${JSON.stringify(user)}`;
  if (!isValidName(user)) throw new ProfileError(`${where}: the name must be ${nameRule}`);
  if (!isPlainObject(strategies)) {
    throw new ProfileError(
      `${where}: must map strategies to instrument lists, { "<STRATEGY>": ["<INSTRUMENT>"] }`,
    );
  }
  const entries = Object.entries(strategies);
  if (entries.length === 0) throw new ProfileError(`${where}: trades no strategy`);
  const subscriptions = entries.map(([strategy, instruments]) => {
    const at = `${where}, strategy ${JSON.stringify(strategy)}`;
    if (!isValidName(strategy)) throw new ProfileError(`${at}: the strategy name must be ${nameRule}`);
    return { strategy, instruments: parseInstruments(at, instruments) };
  });
  return { user, subscriptions };
}

function parseInstruments(at: string, instruments: unknown): string[] {
  if (!Array.isArray(instruments)) throw new ProfileError(`${at}: must be a list of instrument names`);
  if (instruments.length === 0) throw new ProfileError(`${at}: the instrument list is empty`);
  const seen = new Set<string>();
  for (const instrument of instruments) {
    if (typeof instrument !== 'string') {
      throw new ProfileError(`${at}: instrument ${JSON.stringify(instrument)} is not a string`);
    }
    if (!isValidName(instrument)) {
      throw new ProfileError(`${at}: instrument ${JSON.stringify(instrument)} must be ${nameRule}`);
    }
    if (seen.has(instrument))
      throw new ProfileError(`${at}: instrument ${JSON.stringify(instrument)} is listed twice`);
    seen.add(instrument);
  }
  return instruments as string[];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** strategy → its subscribers, each with the instruments their profile gives that strategy. */
export type SubscriptionIndex = ReadonlyMap<string, StrategySubscribers>;

export function indexSubscriptions(profile: Profile, userIdOf: (user: string) => UserId): SubscriptionIndex {
  const index = new Map<string, Map<UserId, ReadonlySet<string>>>();
  for (const { user, subscriptions } of profile) {
    const userId = userIdOf(user);
    for (const { strategy, instruments } of subscriptions) {
      let subscribers = index.get(strategy);
      if (subscribers === undefined) {
        subscribers = new Map();
        index.set(strategy, subscribers);
      }
      subscribers.set(userId, new Set(instruments));
    }
  }
  return index;
}
