// The seed's profile format: { "<user>": { "<STRATEGY>": ["<INSTRUMENT>", ...] } }, where a strategy
// may instead carry its sizing: { "instruments": [...], "multiplier": "0.5" } or { "instruments":
// [...], "quantity": 50 }. Parsed whole and validated whole: a profile with any problem is refused
// with the user and the problem named, never half-loaded.

import { duplicateKeys } from './duplicate-keys.js';
import { isValidName, NAME_LENGTH_MAX } from './order.js';
import type { StrategySubscribers, Terms, UserId } from './rules.js';
import {
  isUnit,
  MULTIPLIER_RULE,
  multiplierText,
  parseMultiplier,
  parseQuantity,
  QUANTITY_RULE,
  type Sizing,
  SizingPool,
  UNIT_SIZING,
} from './sizing.js';

export interface Subscription {
  readonly strategy: string;
  readonly instruments: readonly string[];
  readonly sizing: Sizing;
}

/** A subscription as the profile and the API write it: the seed's list, or an object with its sizing. */
export type SubscriptionJson =
  | readonly string[]
  | { readonly instruments: readonly string[]; readonly multiplier?: string; readonly quantity?: number };

export function subscriptionJson(subscription: Subscription): SubscriptionJson {
  const { instruments, sizing } = subscription;
  if (isUnit(sizing)) return instruments;
  if (sizing.fixed !== null) return { instruments, quantity: sizing.fixed };
  return { instruments, multiplier: multiplierText(sizing.multiplierE4) };
}

const SIZED_FIELDS = new Set(['instruments', 'multiplier', 'quantity']);

/**
 * A strategy's entry: the seed's list, or { instruments, multiplier | quantity }. The problem is
 * returned in words, for the caller to place (a profile names the user, the API the field).
 */
export function parseSubscriptionValue(
  value: unknown,
  pool: SizingPool,
): { instruments: unknown; sizing: Sizing } | string {
  if (Array.isArray(value)) return { instruments: value, sizing: UNIT_SIZING };
  if (!isPlainObject(value))
    return 'must be a list of instrument names, or { "instruments": [...], "multiplier": "0.5" }';
  const unknown = Object.keys(value).find((key) => !SIZED_FIELDS.has(key));
  if (unknown !== undefined)
    return `has an unknown field ${JSON.stringify(unknown)}: the fields are instruments, multiplier and quantity`;
  if (value.multiplier !== undefined && value.quantity !== undefined)
    return 'gives both a multiplier and a quantity: give one, or neither for one unit per unit ordered';
  if (value.quantity !== undefined) {
    const fixed = parseQuantity(value.quantity);
    if (fixed === null || typeof value.quantity !== 'number')
      return `quantity ${JSON.stringify(value.quantity)} must be ${QUANTITY_RULE}`;
    return { instruments: value.instruments, sizing: pool.of(0, fixed) };
  }
  if (value.multiplier !== undefined) {
    const e4 = parseMultiplier(value.multiplier);
    if (e4 === null) return `multiplier ${JSON.stringify(value.multiplier)} must be ${MULTIPLIER_RULE}`;
    return { instruments: value.instruments, sizing: pool.of(e4, null) };
  }
  return { instruments: value.instruments, sizing: UNIT_SIZING };
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

/**
 * The (strategy, instrument) pairs one user may subscribe to, and the distinct instruments one strategy
 * may trade across all its users: bounded so that one user's or one strategy's summary always fits in
 * a page of the API (about 2 MiB at most, with the longest names).
 */
export const SUBSCRIPTIONS_PER_USER_MAX = 4096;
export const INSTRUMENTS_PER_STRATEGY_MAX = 4096;

/** Names a refusal lists of the users written twice; the rest are counted. */
const DUPLICATES_SHOWN_MAX = 10;

/** A UTF-8 byte-order mark, as Windows editors write at the start of a file: not part of the JSON. */
const BYTE_ORDER_MARK = '\uFEFF';

export function parseProfile(text: string, source: string): Profile {
  const json = parseJson(text.startsWith(BYTE_ORDER_MARK) ? text.slice(1) : text, source);
  const users = Object.entries(json);
  if (users.length === 0) throw new ProfileError(`${source}: has no users`);
  const parser = new ProfileParser(source);
  return users.map(([user, strategies]) => parser.user(user, strategies));
}

/** The profile's top-level object, refused if any user or any user's strategy is written twice. */
function parseJson(text: string, source: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ProfileError(`${source}: not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(json)) {
    throw new ProfileError(`${source}: must be a JSON object of users, { "<user>": {...} }`);
  }
  const duplicates = mayRepeatKeys(text, json) ? duplicateKeys(text, 2) : [];
  const users = [...new Set(duplicates.filter((d) => d.path.length === 0).map((d) => d.key))];
  if (users.length > 0) {
    const shown = users.slice(0, DUPLICATES_SHOWN_MAX).map((user) => JSON.stringify(user));
    const more = users.length > shown.length ? ` and ${users.length - shown.length} more` : '';
    throw new ProfileError(
      `${source}: ${users.length === 1 ? 'a user is' : `${users.length} users are`} listed more than once: ` +
        `${shown.join(', ')}${more}; each user must appear once (JSON would keep only the last entry)`,
    );
  }
  const strategy = duplicates[0];
  if (strategy !== undefined) {
    throw new ProfileError(
      `${source}: user ${JSON.stringify(strategy.path[0])}: strategy ${JSON.stringify(strategy.key)} is listed ` +
        'more than once; list each strategy once (JSON would keep only the last entry)',
    );
  }
  return json;
}

/**
 * Whether a user or a strategy may be written twice: each key is followed by a colon, and no valid
 * name holds one, so a text with no more colons than the parsed object has users and strategies
 * repeats none. One indexOf pass (≈ 20 ms on 30 MB) instead of the full scan (≈ 200 ms), which then
 * runs only when there may be something to name (or a name with a colon, refused later anyway).
 */
function mayRepeatKeys(text: string, json: Record<string, unknown>): boolean {
  let keys = 0;
  for (const strategies in json) {
    keys++;
    const value = json[strategies];
    if (isPlainObject(value)) keys += Object.keys(value).length;
  }
  let colons = 0;
  for (let at = text.indexOf(':'); at >= 0; at = text.indexOf(':', at + 1)) {
    if (++colons > keys) return true;
  }
  return false;
}

/**
 * Validates users one by one, but each distinct name and instrument list only once: in a profile of
 * 100,000 users the same few strategies and lists repeat, and identical lists become one shared array.
 */
class ProfileParser {
  readonly #source: string;
  readonly #validNames = new Set<string>();
  readonly #lists = new Map<string, readonly string[]>();
  /** The list last seen per strategy: most users of a strategy repeat it, and a compare is cheaper than a key. */
  readonly #lastList = new Map<string, readonly string[]>();
  /** Per strategy, the distinct instruments of all its users and the lists already counted into them. */
  readonly #traded = new Map<string, { instruments: Set<string>; lists: Set<readonly string[]> }>();
  readonly #sizings = new SizingPool();

  constructor(source: string) {
    this.#source = source;
  }

  user(user: string, strategies: unknown): UserProfile {
    if (!isValidName(user)) throw this.#error(user, null, `the name must be ${nameRule}`);
    if (!isPlainObject(strategies)) {
      throw this.#error(
        user,
        null,
        'must map strategies to instrument lists, { "<STRATEGY>": ["<INSTRUMENT>"] }',
      );
    }
    const subscriptions: Subscription[] = [];
    let pairs = 0;
    for (const strategy in strategies) {
      if (!this.#isValid(strategy))
        throw this.#error(user, strategy, `the strategy name must be ${nameRule}`);
      const entry = parseSubscriptionValue(strategies[strategy], this.#sizings);
      if (typeof entry === 'string') throw this.#error(user, strategy, entry);
      const instruments = this.#instruments(user, strategy, entry.instruments);
      pairs += instruments.length;
      if (pairs > SUBSCRIPTIONS_PER_USER_MAX) {
        throw this.#error(
          user,
          null,
          `subscribes to more than ${SUBSCRIPTIONS_PER_USER_MAX} (strategy, instrument) pairs`,
        );
      }
      this.#count(user, strategy, instruments);
      subscriptions.push({ strategy, instruments, sizing: entry.sizing });
    }
    if (subscriptions.length === 0) throw this.#error(user, null, 'trades no strategy');
    return { user, subscriptions };
  }

  /** Counts a list into its strategy's distinct instruments, once per distinct list. */
  #count(user: string, strategy: string, instruments: readonly string[]): void {
    let traded = this.#traded.get(strategy);
    if (traded === undefined) {
      traded = { instruments: new Set(), lists: new Set() };
      this.#traded.set(strategy, traded);
    }
    if (traded.lists.has(instruments)) return;
    traded.lists.add(instruments);
    for (const instrument of instruments) traded.instruments.add(instrument);
    if (traded.instruments.size > INSTRUMENTS_PER_STRATEGY_MAX) {
      throw this.#error(
        user,
        strategy,
        `the strategy trades more than ${INSTRUMENTS_PER_STRATEGY_MAX} distinct instruments across its users`,
      );
    }
  }

  #error(user: string, strategy: string | null, problem: string): ProfileError {
    const at = strategy === null ? '' : `, strategy ${JSON.stringify(strategy)}`;
    return new ProfileError(`${this.#source}: user ${JSON.stringify(user)}${at}: ${problem}`);
  }

  #isValid(name: string): boolean {
    if (this.#validNames.has(name)) return true;
    if (!isValidName(name)) return false;
    this.#validNames.add(name);
    return true;
  }

  #instruments(user: string, strategy: string, instruments: unknown): readonly string[] {
    if (!Array.isArray(instruments)) throw this.#error(user, strategy, 'must be a list of instrument names');
    if (instruments.length === 0) throw this.#error(user, strategy, 'the instrument list is empty');
    const last = this.#lastList.get(strategy);
    if (last !== undefined && sameList(last, instruments)) return last;
    const key = instruments.every((item) => typeof item === 'string') ? instruments.join('\u0000') : null;
    const known = key === null ? undefined : this.#lists.get(key);
    if (known !== undefined) {
      this.#lastList.set(strategy, known);
      return known;
    }
    const seen = new Set<string>();
    for (const instrument of instruments) {
      const what = `instrument ${JSON.stringify(instrument)}`;
      if (typeof instrument !== 'string') throw this.#error(user, strategy, `${what} is not a string`);
      if (!this.#isValid(instrument)) throw this.#error(user, strategy, `${what} must be ${nameRule}`);
      if (seen.has(instrument)) throw this.#error(user, strategy, `${what} is listed twice`);
      seen.add(instrument);
    }
    this.#lists.set(key!, instruments);
    this.#lastList.set(strategy, instruments);
    return instruments;
  }
}

function sameList(known: readonly string[], candidate: readonly unknown[]): boolean {
  if (known.length !== candidate.length) return false;
  for (let i = 0; i < known.length; i++) if (known[i] !== candidate[i]) return false;
  return true;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** strategy → its subscribers, each with the instruments their profile gives that strategy. */
export type SubscriptionIndex = ReadonlyMap<string, StrategySubscribers>;

export function indexSubscriptions(profile: Profile, userIdOf: (user: string) => UserId): SubscriptionIndex {
  const index = new Map<string, Map<UserId, Terms>>();
  const terms = new TermsPool();
  for (const { user, subscriptions } of profile) {
    const userId = userIdOf(user);
    for (const subscription of subscriptions) {
      let subscribers = index.get(subscription.strategy);
      if (subscribers === undefined) {
        subscribers = new Map();
        index.set(subscription.strategy, subscribers);
      }
      subscribers.set(userId, terms.of(subscription));
    }
  }
  return index;
}

/** Identical lists are one array (see ProfileParser), so they share one Set, and one Terms per sizing. */
export class TermsPool {
  readonly #sets = new Map<readonly string[], { set: ReadonlySet<string>; bySizing: Map<Sizing, Terms> }>();

  of({ instruments, sizing }: Subscription): Terms {
    let known = this.#sets.get(instruments);
    if (known === undefined) {
      known = { set: new Set(instruments), bySizing: new Map() };
      this.#sets.set(instruments, known);
    }
    let terms = known.bySizing.get(sizing);
    if (terms === undefined) {
      terms = { instruments: known.set, sizing };
      known.bySizing.set(sizing, terms);
    }
    return terms;
  }
}
