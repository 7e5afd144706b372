// The log's records other than orders: a user or a subscription put or removed, a state set, a
// square-off, a profile imported. Written once for both stores and the replay: planChange() turns a
// request into a record and what it changes, applyChange() applies a record to the users and states in
// force (and, for positions preserved, to the book). The stores only number, persist and answer.

import type { OpenBook } from '../domain/book.js';
import {
  type Profile,
  parseSubscriptionValue,
  type Subscription,
  type SubscriptionJson,
  subscriptionJson,
  type UserProfile,
} from '../domain/profile.js';
import type { OpenPosition, UserId } from '../domain/rules.js';
import { isUnit, multiplierText, type Sizing, SizingPool } from '../domain/sizing.js';
import type { GateState, GateStates, StateEntry } from '../domain/states.js';
import type { Directory } from './directory.js';

/** What happens to a leaver's open positions. */
export const DISPOSITIONS = ['close-only', 'close-now', 'preserve'] as const;
export type Disposition = (typeof DISPOSITIONS)[number];

export type StateScope = 'gate' | 'strategy' | 'user';

/** A change as the API and the CLI ask for it. */
export type ChangeRequest =
  | { readonly kind: 'user-put'; readonly user: string; readonly subscriptions: readonly Subscription[] }
  | { readonly kind: 'user-delete'; readonly user: string; readonly positions: Disposition }
  | {
      readonly kind: 'subscription-put';
      readonly user: string;
      readonly strategy: string;
      readonly instruments: readonly string[];
      readonly sizing: Sizing;
    }
  | {
      readonly kind: 'subscription-delete';
      readonly user: string;
      readonly strategy: string;
      readonly positions: Disposition;
    }
  | {
      readonly kind: 'state';
      readonly scope: StateScope;
      /** The strategy or the user; null for the gate. */
      readonly name: string | null;
      readonly state: GateState;
      readonly reason: string;
    }
  | {
      readonly kind: 'square-off';
      readonly strategy: string | null;
      readonly user: string | null;
      /** The trading day a scheduled square-off is for (YYYY-MM-DD): at most one record per day. */
      readonly day: string | null;
      /** The gate is close-only until then (the next trading day); null leaves the states alone. */
      readonly closeOnlyUntilMs: number | null;
    }
  | { readonly kind: 'import'; readonly profile: Profile; readonly text: string };

export type ChangeKind = ChangeRequest['kind'];
export const CHANGE_KINDS: readonly ChangeKind[] = [
  'user-put',
  'user-delete',
  'subscription-put',
  'subscription-delete',
  'state',
  'square-off',
  'import',
];

/** Who made a change: the key's id (null in open mode, or the server itself) and the time. */
export interface Actor {
  readonly keyId: string | null;
  readonly atMs: number;
}

/**
 * A record's body, as stored (JSON) and replayed: everything needed to apply it again from an empty
 * book, with user ids resolved. An import's profile is stored as a profile version, named here.
 */
export type ChangeBody =
  | { kind: 'user-put'; user: string; user_id: number; subscriptions: Record<string, SubscriptionJson> }
  | { kind: 'user-delete'; user: string; user_id: number; positions: Disposition }
  | {
      kind: 'subscription-put';
      user: string;
      user_id: number;
      strategy: string;
      instruments: string[];
      /** Present only when the subscription is sized otherwise than one unit per unit ordered. */
      multiplier?: string;
      quantity?: number;
    }
  | { kind: 'subscription-delete'; user: string; user_id: number; strategy: string; positions: Disposition }
  | {
      kind: 'state';
      scope: StateScope;
      name: string | null;
      user_id: number | null;
      state: GateState;
      reason: string;
    }
  | {
      kind: 'square-off';
      strategy: string | null;
      user: string | null;
      user_id: number | null;
      day: string | null;
      close_only_until_ms: number | null;
    }
  | { kind: 'import'; profile_version: number; users: number };

/** A system SELL the change sends after its record: the book, and whose positions (null: everyone's). */
export interface SystemClose {
  readonly strategy: string;
  readonly instrument: string;
  readonly userId: UserId | null;
}

/** A position that left the gate's management (positions=preserve). */
export interface ReleasedPosition {
  readonly strategy: string;
  readonly instrument: string;
  readonly userId: UserId;
  readonly position: OpenPosition;
}

/** A refused change: the HTTP edge maps the code to its status. */
export class ChangeError extends Error {
  constructor(
    readonly code: 'USER_NOT_FOUND' | 'SUBSCRIPTION_NOT_FOUND' | 'INVALID_REQUEST' | 'SQUARED_OFF',
    message: string,
  ) {
    super(message);
    this.name = 'ChangeError';
  }
}

/** What planChange() reads of a store: the users in force, their ids, and the positions they hold. */
export interface PlanContext {
  readonly directory: Directory;
  /** The user's id, or undefined if the name was never known. */
  userIdOf(name: string): UserId | undefined;
  /** The user's id, drawn now for a name never known (a user put for the first time). */
  newUserId(name: string): UserId;
  /** The (strategy, instrument) books this user holds a position in; all strategies when null. */
  heldBy(userId: UserId, strategy: string | null): readonly (readonly [string, string])[];
  /** The books with open positions, of one strategy or all, held by one user or anyone. */
  openBooks(strategy: string | null, userId: UserId | null): readonly (readonly [string, string])[];
}

export interface ChangePlan {
  readonly body: ChangeBody;
  /** Users drawn for the first time: the store adds them to its users. */
  readonly newUsers: readonly { readonly userId: UserId; readonly name: string }[];
  /** System SELLs to send right after the record, in this order. */
  readonly closes: readonly SystemClose[];
}

export function planChange(request: ChangeRequest, context: PlanContext, importVersion = 0): ChangePlan {
  const newUsers: { userId: UserId; name: string }[] = [];
  const existing = (name: string): UserId => {
    const userId = context.userIdOf(name);
    if (userId === undefined || context.directory.entry(name) === undefined)
      throw new ChangeError('USER_NOT_FOUND', `no user is named ${JSON.stringify(name)}`);
    return userId;
  };
  const known = (name: string): UserId => {
    const userId = context.userIdOf(name);
    if (userId === undefined)
      throw new ChangeError('USER_NOT_FOUND', `no user is named ${JSON.stringify(name)}`);
    return userId;
  };
  const idFor = (name: string): UserId => {
    const userId = context.userIdOf(name);
    if (userId !== undefined) return userId;
    const drawn = context.newUserId(name);
    newUsers.push({ userId: drawn, name });
    return drawn;
  };
  const closesOf = (userId: UserId, strategy: string | null, positions: Disposition): SystemClose[] =>
    positions === 'close-now'
      ? context.heldBy(userId, strategy).map(([s, instrument]) => ({ strategy: s, instrument, userId }))
      : [];
  switch (request.kind) {
    case 'user-put': {
      const userId = idFor(request.user);
      const subscriptions: Record<string, SubscriptionJson> = {};
      for (const subscription of request.subscriptions)
        subscriptions[subscription.strategy] = subscriptionJson(subscription);
      return {
        body: { kind: 'user-put', user: request.user, user_id: userId, subscriptions },
        newUsers,
        closes: [],
      };
    }
    case 'user-delete': {
      const userId = existing(request.user);
      return {
        body: { kind: 'user-delete', user: request.user, user_id: userId, positions: request.positions },
        newUsers,
        closes: closesOf(userId, null, request.positions),
      };
    }
    case 'subscription-put': {
      const userId = idFor(request.user);
      return {
        body: {
          kind: 'subscription-put',
          user: request.user,
          user_id: userId,
          strategy: request.strategy,
          instruments: [...request.instruments],
          ...sizingFields(request.sizing),
        },
        newUsers,
        closes: [],
      };
    }
    case 'subscription-delete': {
      const userId = existing(request.user);
      const entry = context.directory.entry(request.user)!;
      if (!entry.subscriptions.some((s) => s.strategy === request.strategy)) {
        throw new ChangeError(
          'SUBSCRIPTION_NOT_FOUND',
          `user ${JSON.stringify(request.user)} is not subscribed to ${JSON.stringify(request.strategy)}`,
        );
      }
      return {
        body: {
          kind: 'subscription-delete',
          user: request.user,
          user_id: userId,
          strategy: request.strategy,
          positions: request.positions,
        },
        newUsers,
        closes: closesOf(userId, request.strategy, request.positions),
      };
    }
    case 'state': {
      const userId = request.scope === 'user' ? known(request.name!) : null;
      return {
        body: {
          kind: 'state',
          scope: request.scope,
          name: request.name,
          user_id: userId,
          state: request.state,
          reason: request.reason,
        },
        newUsers,
        closes: [],
      };
    }
    case 'square-off': {
      const userId = request.user === null ? null : known(request.user);
      const closes = context
        .openBooks(request.strategy, userId)
        .map(([strategy, instrument]) => ({ strategy, instrument, userId }));
      return {
        body: {
          kind: 'square-off',
          strategy: request.strategy,
          user: request.user,
          user_id: userId,
          day: request.day,
          close_only_until_ms: request.closeOnlyUntilMs,
        },
        newUsers,
        closes,
      };
    }
    case 'import':
      for (const { user } of request.profile) idFor(user);
      return {
        body: { kind: 'import', profile_version: importVersion, users: request.profile.length },
        newUsers,
        closes: [],
      };
  }
}

/** The users and states in force, and the book (for positions preserved), as a record changes them. */
export interface Live {
  readonly directory: Directory;
  readonly states: GateStates;
}

/**
 * Applies one record. Returns the positions it released from the book (positions=preserve). An import
 * needs its profile, parsed: the stores have it, the replay reads it from its version.
 */
export function applyChange(
  live: Live,
  body: ChangeBody,
  seq: number,
  actor: Actor,
  book: OpenBook | null,
  imported: Profile | null = null,
): ReleasedPosition[] {
  const { directory, states } = live;
  switch (body.kind) {
    case 'user-put':
      directory.setUser(entryOf(body.user, body.subscriptions), body.user_id);
      return [];
    case 'user-delete': {
      directory.removeUser(body.user, body.user_id);
      return body.positions === 'preserve' ? release(book, body.user_id, null) : [];
    }
    case 'subscription-put': {
      const entry = directory.entry(body.user);
      const others = (entry?.subscriptions ?? []).filter((s) => s.strategy !== body.strategy);
      directory.setUser(
        {
          user: body.user,
          subscriptions: [...others, subscriptionOf(body.strategy, recordSubscription(body))],
        },
        body.user_id,
      );
      return [];
    }
    case 'subscription-delete': {
      const entry = directory.entry(body.user);
      const others = (entry?.subscriptions ?? []).filter((s) => s.strategy !== body.strategy);
      // A user with no subscription left is no longer a user in force, as if removed.
      if (others.length === 0) directory.removeUser(body.user, body.user_id);
      else directory.setUser({ user: body.user, subscriptions: others }, body.user_id);
      return body.positions === 'preserve' ? release(book, body.user_id, body.strategy) : [];
    }
    case 'state': {
      const entry: StateEntry | null =
        body.state === 'ACTIVE'
          ? null
          : { state: body.state, reason: body.reason, seq, atMs: actor.atMs, keyId: actor.keyId };
      states.set(body.scope, body.scope === 'user' ? body.user_id : body.name, entry);
      return [];
    }
    case 'square-off':
      if (body.close_only_until_ms !== null && body.close_only_until_ms > states.closeOnlyUntilMs) {
        states.closeOnlyUntilMs = body.close_only_until_ms;
        states.closeOnlySince = { seq, atMs: actor.atMs };
      }
      return [];
    case 'import':
      if (imported === null) throw new Error(`record ${seq}: an import needs its profile`);
      directory.replaceAll(imported);
      return [];
  }
}

/** A record's sizing fields: none for one unit per unit ordered, so those records read as before. */
function sizingFields(sizing: Sizing): { multiplier?: string; quantity?: number } {
  if (isUnit(sizing)) return {};
  if (sizing.fixed !== null) return { quantity: sizing.fixed };
  return { multiplier: multiplierText(sizing.multiplierE4) };
}

/** A subscription-put record's subscription, in the profile's form. */
function recordSubscription(body: {
  instruments: string[];
  multiplier?: string;
  quantity?: number;
}): SubscriptionJson {
  const { instruments, multiplier, quantity } = body;
  if (multiplier !== undefined) return { instruments, multiplier };
  if (quantity !== undefined) return { instruments, quantity };
  return instruments;
}

/** Records hold few distinct sizings: one pool serves every record applied. */
const recordSizings = new SizingPool();

/** A subscription as a record wrote it (checked when it was made). */
function subscriptionOf(strategy: string, json: SubscriptionJson): Subscription {
  const parsed = parseSubscriptionValue(json, recordSizings);
  if (typeof parsed === 'string') throw new Error(`a record's subscription to ${strategy} ${parsed}`);
  return { strategy, instruments: parsed.instruments as string[], sizing: parsed.sizing };
}

function entryOf(user: string, subscriptions: Record<string, SubscriptionJson>): UserProfile {
  return {
    user,
    subscriptions: Object.entries(subscriptions).map(([strategy, json]) => subscriptionOf(strategy, json)),
  };
}

/** Takes a user's positions (of one strategy, or all) out of the book, in the book's order. */
function release(book: OpenBook | null, userId: UserId, strategy: string | null): ReleasedPosition[] {
  if (book === null) return [];
  const released: ReleasedPosition[] = [];
  for (const held of book.positions()) {
    if (held.userId !== userId || (strategy !== null && held.strategy !== strategy)) continue;
    released.push({ ...held });
  }
  for (const { strategy: s, instrument, userId: u } of released) book.close(s, instrument, u);
  return released;
}

/** What a record changes in the tables of the users and states in force: the same for both stores. */
export interface ChangeEffects {
  /** An import: every subscription is replaced. */
  readonly clearAll: boolean;
  /** Subscriptions removed: a user's, of one strategy or all. */
  readonly clear: readonly (readonly [UserId, string | null])[];
  readonly add: readonly (readonly [UserId, string, string])[];
  /** A state set (entry) or ended (null); the square-off's close-only period is scope 'square-off'. */
  readonly state: {
    readonly scope: StateScope | 'square-off';
    readonly target: string;
    readonly entry: {
      readonly state: GateState;
      readonly reason: string;
      readonly untilMs: number | null;
    } | null;
  } | null;
  /** A scheduled square-off's trading day: at most one per day, whatever restarts and instances. */
  readonly squareOffDay: string | null;
}

export function effectsOf(
  body: ChangeBody,
  imported: Profile | null,
  userIdOf: (name: string) => UserId,
): ChangeEffects {
  const none = { clearAll: false, clear: [], add: [], state: null, squareOffDay: null };
  switch (body.kind) {
    case 'user-put':
      return {
        ...none,
        clear: [[body.user_id, null]],
        add: Object.entries(body.subscriptions).flatMap(([strategy, json]) =>
          subscriptionOf(strategy, json).instruments.map(
            (instrument) => [body.user_id, strategy, instrument] as const,
          ),
        ),
      };
    case 'user-delete':
      return { ...none, clear: [[body.user_id, null]] };
    case 'subscription-put':
      return {
        ...none,
        clear: [[body.user_id, body.strategy]],
        add: body.instruments.map((instrument) => [body.user_id, body.strategy, instrument] as const),
      };
    case 'subscription-delete':
      return { ...none, clear: [[body.user_id, body.strategy]] };
    case 'state': {
      const target = body.scope === 'gate' ? '' : body.scope === 'user' ? String(body.user_id) : body.name!;
      const entry =
        body.state === 'ACTIVE' ? null : { state: body.state, reason: body.reason, untilMs: null };
      return { ...none, state: { scope: body.scope, target, entry } };
    }
    case 'square-off': {
      const until = body.close_only_until_ms;
      const state =
        until === null
          ? null
          : {
              scope: 'square-off' as const,
              target: '',
              entry: { state: 'CLOSE_ONLY' as const, reason: 'square-off', untilMs: until },
            };
      return { ...none, state, squareOffDay: body.day };
    }
    case 'import': {
      const add: (readonly [UserId, string, string])[] = [];
      for (const { user, subscriptions } of imported ?? []) {
        const userId = userIdOf(user);
        for (const { strategy, instruments } of subscriptions)
          for (const instrument of instruments) add.push([userId, strategy, instrument]);
      }
      return { ...none, clearAll: true, add };
    }
  }
}

/** A system SELL as the change's answer lists it. */
export interface ClosedBook {
  readonly orderId: number;
  readonly strategy: string;
  readonly instrument: string;
  readonly positions: number;
}

/**
 * The answer to a change: its version (the record's sequence number in the log), what it was, and
 * what became of the positions it concerns: closed (system SELLs), left open close-only, or released.
 */
export function renderChange(
  seq: number,
  body: ChangeBody,
  actor: Actor,
  closed: readonly ClosedBook[],
  left: readonly (readonly [string, string, OpenPosition])[],
  released: readonly ReleasedPosition[],
): string {
  const {
    user_id: _userId,
    close_only_until_ms: until,
    ...shown
  } = body as ChangeBody & {
    user_id?: number;
    close_only_until_ms?: number | null;
  };
  const view = {
    version: seq,
    ...shown,
    ...(until !== undefined && { close_only_until: until === null ? null : new Date(until).toISOString() }),
    at: new Date(actor.atMs).toISOString(),
    by: actor.keyId,
    closed: closed.map((c) => ({
      order_id: c.orderId,
      strategy: c.strategy,
      instrument: c.instrument,
      positions: c.positions,
    })),
    left_close_only: left.map(([strategy, instrument, position]) => ({
      strategy,
      instrument,
      buy_order_id: position.orderId,
      opened_at: new Date(position.openedAtMs).toISOString(),
    })),
    released: released.map((r) => ({
      strategy: r.strategy,
      instrument: r.instrument,
      buy_order_id: r.position.orderId,
      opened_at: new Date(r.position.openedAtMs).toISOString(),
    })),
  };
  return JSON.stringify(view);
}

/** GET /state: the gate's, each strategy's and each user's state, and the version they are at. */
export function statesJson(
  states: GateStates,
  nameOf: (userId: UserId) => string | undefined,
  version: number,
  nowMs: number,
): string {
  const view = (entry: StateEntry | null) =>
    entry === null
      ? { state: 'ACTIVE', reason: null, since: null, by: null, version: null }
      : {
          state: entry.state,
          reason: entry.reason,
          since: new Date(entry.atMs).toISOString(),
          by: entry.keyId,
          version: entry.seq,
        };
  const closeOnly = nowMs < states.closeOnlyUntilMs;
  const gate = view(states.gate);
  return JSON.stringify({
    version,
    gate: {
      ...gate,
      // After a square-off the gate is close-only until the next trading day, unless set since.
      ...(states.gate === null &&
        closeOnly && {
          state: 'CLOSE_ONLY',
          reason: 'square-off',
          since: states.closeOnlySince === null ? null : new Date(states.closeOnlySince.atMs).toISOString(),
          version: states.closeOnlySince?.seq ?? null,
        }),
      close_only_until: closeOnly ? new Date(states.closeOnlyUntilMs).toISOString() : null,
    },
    strategies: [...states.strategies]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([strategy, entry]) => ({ strategy, ...view(entry) })),
    users: [...states.users]
      .map(([userId, entry]) => ({ user: nameOf(userId) ?? `#${userId}`, ...view(entry) }))
      .sort((a, b) => (a.user < b.user ? -1 : 1)),
  });
}

/** The positions a user still holds that the users in force no longer give them: left close-only. */
export function leftCloseOnly(
  directory: Directory,
  user: string,
  held: readonly (readonly [string, string, OpenPosition])[],
): [string, string, OpenPosition][] {
  const entry = directory.entry(user);
  return held.filter(
    ([strategy, instrument]) =>
      entry?.subscriptions.some((s) => s.strategy === strategy && s.instruments.includes(instrument)) !==
      true,
  ) as [string, string, OpenPosition][];
}
