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
  if (!isPlainObject(json)) {
    throw new ProfileError(`${source}: must be a JSON object of users, { "<user>": {...} }`);
  }
  const users = Object.entries(json);
  if (users.length === 0) throw new ProfileError(`${source}: has no users`);
  const parser = new ProfileParser(source);
  return users.map(([user, strategies]) => parser.user(user, strategies));
}

/**
 * Validates users one by one, but each distinct name and instrument list only once: in a profile of
 * 100,000 users the same few strategies and lists repeat, and identical lists become one shared array.
 */
class ProfileParser {
  readonly #source: string;
  readonly #validNames = new Set<string>();
  readonly #lists = new Map<string, readonly string[]>();

  constructor(source: string) {
    this.#source = source;
  }

  user(user: string, strategies: unknown): UserProfile {
    const where = () => `${this.#source}: user ${JSON.stringify(user)}`;
    if (!isValidName(user)) throw new ProfileError(`${where()}: the name must be ${nameRule}`);
    if (!isPlainObject(strategies)) {
      throw new ProfileError(
        `${where()}: must map strategies to instrument lists, { "<STRATEGY>": ["<INSTRUMENT>"] }`,
      );
    }
    const entries = Object.entries(strategies);
    if (entries.length === 0) throw new ProfileError(`${where()}: trades no strategy`);
    const subscriptions = entries.map(([strategy, instruments]) => {
      const at = () => `${where()}, strategy ${JSON.stringify(strategy)}`;
      if (!this.#isValid(strategy)) throw new ProfileError(`${at()}: the strategy name must be ${nameRule}`);
      return { strategy, instruments: this.#instruments(at, instruments) };
    });
    return { user, subscriptions };
  }

  #isValid(name: string): boolean {
    if (this.#validNames.has(name)) return true;
    if (!isValidName(name)) return false;
    this.#validNames.add(name);
    return true;
  }

  #instruments(at: () => string, instruments: unknown): readonly string[] {
    if (!Array.isArray(instruments)) throw new ProfileError(`${at()}: must be a list of instrument names`);
    if (instruments.length === 0) throw new ProfileError(`${at()}: the instrument list is empty`);
    const key = instruments.every((item) => typeof item === 'string') ? instruments.join('\u0000') : null;
    const known = key === null ? undefined : this.#lists.get(key);
    if (known !== undefined) return known;
    const seen = new Set<string>();
    for (const instrument of instruments) {
      const what = `instrument ${JSON.stringify(instrument)}`;
      if (typeof instrument !== 'string') throw new ProfileError(`${at()}: ${what} is not a string`);
      if (!this.#isValid(instrument)) throw new ProfileError(`${at()}: ${what} must be ${nameRule}`);
      if (seen.has(instrument)) throw new ProfileError(`${at()}: ${what} is listed twice`);
      seen.add(instrument);
    }
    this.#lists.set(key!, instruments);
    return instruments;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** strategy → its subscribers, each with the instruments their profile gives that strategy. */
export type SubscriptionIndex = ReadonlyMap<string, StrategySubscribers>;

export function indexSubscriptions(profile: Profile, userIdOf: (user: string) => UserId): SubscriptionIndex {
  const index = new Map<string, Map<UserId, ReadonlySet<string>>>();
  // Identical lists are one array (see ProfileParser), so they share one Set too.
  const sets = new Map<readonly string[], ReadonlySet<string>>();
  for (const { user, subscriptions } of profile) {
    const userId = userIdOf(user);
    for (const { strategy, instruments } of subscriptions) {
      let subscribers = index.get(strategy);
      if (subscribers === undefined) {
        subscribers = new Map();
        index.set(strategy, subscribers);
      }
      let set = sets.get(instruments);
      if (set === undefined) {
        set = new Set(instruments);
        sets.set(instruments, set);
      }
      subscribers.set(userId, set);
    }
  }
  return index;
}
