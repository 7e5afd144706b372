// An independent model of the gate's rules, written again from the README without src/ (it is the
// checker, not the code under test: import nothing from src/domain or src/store here). It replays a
// logged answer list from an empty book, deriving each verdict from the profile alone:
//   the users an order concerns are the strategy's subscribers and, for a SELL, anyone holding the
//   (strategy, instrument);
//   BUY: the instrument not in the user's strategy → INSTRUMENT_NOT_IN_STRATEGY, a position open →
//   POSITION_ALREADY_OPEN, else filled;
//   SELL: a position open → filled (also for a user no longer subscribed), else the instrument not in
//   the strategy → INSTRUMENT_NOT_IN_STRATEGY, else NO_OPEN_POSITION;
//   the order is ACCEPTED if it filled anyone, else REJECTED with STRATEGY_NOT_TRADED if it concerned
//   no one, NO_USER_ELIGIBLE if it did.

import type { Denial, Fill, LoggedOrder, Position, Profile, Side, Trade } from './wire.js';

export interface Verdict {
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: string | null;
  readonly accepted: readonly Fill[];
  readonly rejected: readonly Denial[];
}

interface Held {
  readonly orderId: number;
  readonly openedAt: string;
}

/** The key of an open position; `|` is not allowed in names, so it cannot be ambiguous. */
export const positionKey = (user: string, strategy: string, instrument: string) =>
  `${user}|${strategy}|${instrument}`;

/** Sorted by user, for comparing lists of users whatever order they came in. */
export const byUser = <T extends { user: string }>(items: readonly T[]) =>
  [...items].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));

export class Model {
  /** user|strategy|instrument → the BUY that opened the position. */
  readonly #open = new Map<string, Held>();
  /** The closed round trips, in the order the SELLs closed them. */
  readonly trades: Trade[] = [];

  constructor(private readonly profile: Profile) {}

  /**
   * Decides a logged order on the model's book (its order_id and received_at stand for the BUY that a
   * fill opens and the time a SELL closes), applies the fills and returns the verdict.
   */
  apply(order: LoggedOrder): Verdict {
    const accepted: Fill[] = [];
    const rejected: Denial[] = [];
    for (const [user, strategies] of Object.entries(this.profile)) {
      const instruments = strategies[order.strategy];
      const held = this.#open.get(positionKey(user, order.strategy, order.instrument));
      if (instruments === undefined) {
        if (order.position === 'SELL' && held !== undefined) {
          accepted.push({ user, quantity: 1, buy_order_id: held.orderId, opened_at: held.openedAt });
        }
        continue;
      }
      const traded = instruments.includes(order.instrument);
      if (order.position === 'BUY') {
        if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
        else if (held !== undefined) rejected.push({ user, reason: 'POSITION_ALREADY_OPEN' });
        else accepted.push({ user, quantity: 1 });
      } else if (held !== undefined) {
        accepted.push({ user, quantity: 1, buy_order_id: held.orderId, opened_at: held.openedAt });
      } else if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else rejected.push({ user, reason: 'NO_OPEN_POSITION' });
    }
    for (const fill of accepted) {
      const key = positionKey(fill.user, order.strategy, order.instrument);
      if (order.position === 'BUY') {
        this.#open.set(key, { orderId: order.order_id, openedAt: order.received_at });
      } else {
        this.#open.delete(key);
        this.trades.push({
          user: fill.user,
          strategy: order.strategy,
          instrument: order.instrument,
          buy_order_id: fill.buy_order_id!,
          sell_order_id: order.order_id,
          opened_at: fill.opened_at!,
          closed_at: order.received_at,
        });
      }
    }
    if (accepted.length > 0) return { status: 'ACCEPTED', reason: null, accepted, rejected };
    // Filling no one, the order concerned exactly the users it rejected.
    const reason = rejected.length === 0 ? 'STRATEGY_NOT_TRADED' : 'NO_USER_ELIGIBLE';
    return { status: 'REJECTED', reason, accepted, rejected };
  }

  /** The positions open on the model's book. */
  positions(): Position[] {
    return [...this.#open].map(([key, held]) => {
      const [user, strategy, instrument] = key.split('|') as [string, string, string];
      return { user, strategy, instrument, order_id: held.orderId, opened_at: held.openedAt };
    });
  }
}

/**
 * Replays logged orders, in the order given (order_id order for a log), on a model with an empty book:
 * hands each order with the model's verdict to `check`, and returns the model with the book they leave.
 */
export function replay(
  profile: Profile,
  orders: Iterable<LoggedOrder>,
  check: (order: LoggedOrder, verdict: Verdict) => void,
): Model {
  const model = new Model(profile);
  for (const order of orders) check(order, model.apply(order));
  return model;
}

// ---------------------------------------------------------------------------------------------------
// Running it live: the users and subscriptions change while the gate runs, states block orders, the
// gate itself sends SELLs. Written again from the rules of issue 13, like the model above:
//   the users in force change by record: a user put (their subscriptions replaced, created if new), a
//   user removed, one strategy's instruments put or removed (a user left with none is removed), a
//   profile imported (it becomes the users in force). A leaver's positions, by ?positions=:
//   close-only (they stay; a SELL still closes them), close-now (the gate closes each at once with a
//   SELL of its own) or preserve (they leave the book: released, and no SELL closes them);
//   states, for the gate, a strategy, a user: ACTIVE, CLOSE_ONLY (no BUY) or HALTED (nothing); for each
//   user the most restrictive in force wins, a halt before close-only and, among halts, the broadest
//   (GATE_HALTED, then STRATEGY_HALTED, then USER_HALTED); a state blocks a user before any other
//   rule; an order the gate's or the strategy's state blocks carries that block as its reason when it
//   fills no one (GATE_HALTED, STRATEGY_HALTED, or CLOSE_ONLY for a BUY);
//   a square-off (of everything, one strategy, one user) closes the matching positions with one SELL
//   per (strategy, instrument), whatever the states; of everything, it also makes the gate
//   CLOSE_ONLY until the next trading day (unless configured otherwise), which setting the gate's own
//   state ends;
//   orders and change records share one sequence: a change takes the next number and its system
//   SELLs the numbers after it, in (strategy, instrument) order; refused changes take none;
//   every order here is for one unit and every subscription unsized, so each fill, position and trade
//   is of one unit, and a system SELL's quantity is the number of positions it closes.

export type StateName = 'ACTIVE' | 'CLOSE_ONLY' | 'HALTED';
export type Disposition = 'close-only' | 'close-now' | 'preserve';
export type Subscriptions = Readonly<Record<string, readonly string[]>>;

/** A position as a change's answer lists it (left_close_only, released). */
export interface ListedPosition {
  readonly strategy: string;
  readonly instrument: string;
  readonly buy_order_id: number;
  readonly opened_at: string;
}

/** One system SELL, as the change's answer lists it and as GET /orders/:id shows it. */
export interface SystemSell {
  readonly order_id: number;
  readonly strategy: string;
  readonly instrument: string;
  readonly positions: number;
  /** The SELL's answer, as logged. */
  readonly answer: LoggedOrder & { readonly origin: string };
}

export interface ExpectedChange {
  readonly version: number;
  readonly closed: readonly SystemSell[];
  readonly left_close_only: readonly ListedPosition[];
  readonly released: readonly ListedPosition[];
}

/** A change the gate must refuse, with its HTTP status and error code; nothing is applied. */
export interface Refusal {
  readonly refused: { readonly status: number; readonly error: string };
}

interface StateHeld {
  readonly state: Exclude<StateName, 'ACTIVE'>;
  readonly reason: string;
  readonly version: number;
  readonly since: string;
}

/** GET /state as the model sees it (the fields it predicts). */
export interface ExpectedStates {
  readonly version: number;
  readonly gate: { state: StateName; reason: string | null; close_only_until: string | null };
  readonly strategies: readonly { strategy: string; state: StateName; reason: string; version: number }[];
  readonly users: readonly { user: string; state: StateName; reason: string; version: number }[];
}

const RANK: Record<StateName, number> = { ACTIVE: 0, CLOSE_ONLY: 1, HALTED: 2 };
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const byBook = (a: { strategy: string; instrument: string }, b: { strategy: string; instrument: string }) =>
  byName(a.strategy, b.strategy) || byName(a.instrument, b.instrument);

export interface LiveModelOptions {
  /** When the close-only period after a square-off of everything at this instant ends; null: none. */
  readonly closeOnlyUntil: (atMs: number) => number | null;
  /** The number the log gives the next order or record. */
  readonly nextSeq: number;
}

export class LiveModel {
  /** The users in force: user → strategy → instruments. */
  readonly #users = new Map<string, Map<string, readonly string[]>>();
  /** Every user ever in force: a state or a square-off may name them. */
  readonly #known = new Set<string>();
  readonly #open = new Map<string, Held>();
  /** The closed round trips, in the order they were closed. */
  readonly trades: Trade[] = [];
  #gate: StateHeld | null = null;
  readonly #strategyStates = new Map<string, StateHeld>();
  readonly #userStates = new Map<string, StateHeld>();
  #closeOnlyUntilMs = 0;
  #nextSeq: number;
  #version = 0;
  readonly #closeOnlyUntil: (atMs: number) => number | null;

  constructor(profile: Profile, options: LiveModelOptions) {
    this.#closeOnlyUntil = options.closeOnlyUntil;
    this.#nextSeq = options.nextSeq;
    this.#version = options.nextSeq - 1;
    this.#replaceAll(profile);
  }

  // --- orders -------------------------------------------------------------------------------------

  /** Decides an order received at `receivedAt` (the server's clock), applies it, returns its answer. */
  order(strategy: string, instrument: string, side: Side, receivedAt: string): LoggedOrder {
    const orderId = this.#nextSeq++;
    const atMs = Date.parse(receivedAt);
    const gate = this.#gateState(atMs);
    const ofStrategy = this.#strategyStates.get(strategy)?.state ?? 'ACTIVE';
    const concerned = new Set<string>();
    for (const [user, strategies] of this.#users) if (strategies.has(strategy)) concerned.add(user);
    if (side === 'SELL') for (const held of this.#holders(strategy, instrument)) concerned.add(held);
    const accepted: Fill[] = [];
    const rejected: Denial[] = [];
    for (const user of concerned) {
      const own = this.#userStates.get(user)?.state ?? 'ACTIVE';
      const block = userBlock(gate, ofStrategy, own, side);
      const held = this.#open.get(positionKey(user, strategy, instrument));
      const traded = this.#users.get(user)?.get(strategy)?.includes(instrument) === true;
      if (block !== null) rejected.push({ user, reason: block });
      else if (side === 'SELL' && held !== undefined)
        accepted.push({ user, quantity: 1, buy_order_id: held.orderId, opened_at: held.openedAt });
      else if (!traded) rejected.push({ user, reason: 'INSTRUMENT_NOT_IN_STRATEGY' });
      else if (side === 'BUY' && held !== undefined) rejected.push({ user, reason: 'POSITION_ALREADY_OPEN' });
      else if (side === 'BUY') accepted.push({ user, quantity: 1 });
      else rejected.push({ user, reason: 'NO_OPEN_POSITION' });
    }
    for (const fill of accepted) this.#fill(fill, strategy, instrument, side, orderId, receivedAt);
    const status = accepted.length > 0 ? 'ACCEPTED' : 'REJECTED';
    const reason =
      accepted.length > 0
        ? null
        : (orderBlock(gate, ofStrategy, side) ??
          (rejected.length === 0 ? 'STRATEGY_NOT_TRADED' : 'NO_USER_ELIGIBLE'));
    return {
      order_id: orderId,
      status,
      reason,
      strategy,
      instrument,
      position: side,
      quantity: 1,
      client_order_id: null,
      received_at: receivedAt,
      accepted: byUser(accepted),
      rejected: byUser(rejected),
    };
  }

  // --- changes ------------------------------------------------------------------------------------

  putUser(user: string, subscriptions: Subscriptions): ExpectedChange {
    const version = this.#record();
    const held = this.#heldBy(user, null);
    this.#users.set(user, new Map(Object.entries(subscriptions)));
    this.#known.add(user);
    return this.#outcome(version, [], this.#stillLeft(user, held), []);
  }

  deleteUser(user: string, positions: Disposition, at: string): ExpectedChange | Refusal {
    if (!this.#users.has(user)) return notFound('USER_NOT_FOUND');
    const version = this.#record();
    this.#users.delete(user);
    return this.#leave(version, user, null, positions, at);
  }

  putSubscription(user: string, strategy: string, instruments: readonly string[]): ExpectedChange {
    const version = this.#record();
    const held = this.#heldBy(user, strategy);
    const strategies = this.#users.get(user) ?? new Map<string, readonly string[]>();
    strategies.set(strategy, instruments);
    this.#users.set(user, strategies);
    this.#known.add(user);
    return this.#outcome(version, [], this.#stillLeft(user, held), []);
  }

  deleteSubscription(
    user: string,
    strategy: string,
    positions: Disposition,
    at: string,
  ): ExpectedChange | Refusal {
    const strategies = this.#users.get(user);
    if (strategies === undefined) return notFound('USER_NOT_FOUND');
    if (!strategies.has(strategy)) return notFound('SUBSCRIPTION_NOT_FOUND');
    const version = this.#record();
    strategies.delete(strategy);
    if (strategies.size === 0) this.#users.delete(user);
    return this.#leave(version, user, strategy, positions, at);
  }

  /** PUT /state (name null), /strategies/:name/state or /users/:name/state. */
  setState(
    scope: 'gate' | 'strategy' | 'user',
    name: string | null,
    state: StateName,
    reason: string,
    at: string,
  ): ExpectedChange | Refusal {
    if (scope === 'user' && !this.#known.has(name!)) return notFound('USER_NOT_FOUND');
    const version = this.#record();
    const held: StateHeld | null = state === 'ACTIVE' ? null : { state, reason, version, since: at };
    if (scope === 'gate') {
      this.#gate = held;
      this.#closeOnlyUntilMs = 0;
    } else {
      const states = scope === 'strategy' ? this.#strategyStates : this.#userStates;
      if (held === null) states.delete(name!);
      else states.set(name!, held);
    }
    return this.#outcome(version, [], [], []);
  }

  /** POST /square-off: everything (both null), one strategy's positions, one user's, or both. */
  squareOff(
    strategy: string | null,
    user: string | null,
    at: string,
  ): (ExpectedChange & { close_only_until: string | null }) | Refusal {
    if (user !== null && !this.#known.has(user)) return notFound('USER_NOT_FOUND');
    const version = this.#record();
    const atMs = Date.parse(at);
    let until: number | null = null;
    if (strategy === null && user === null) {
      until = this.#closeOnlyUntil(atMs);
      if (until !== null) this.#closeOnlyUntilMs = Math.max(this.#closeOnlyUntilMs, until);
    }
    const positions = this.positions().filter(
      (p) => (strategy === null || p.strategy === strategy) && (user === null || p.user === user),
    );
    const closed = this.#systemSells(positions, 'square-off', at);
    return {
      ...this.#outcome(version, closed, [], []),
      close_only_until: until === null ? null : new Date(until).toISOString(),
    };
  }

  /** PUT /profile: the profile becomes the users in force; leavers keep their positions, close-only. */
  importProfile(profile: Profile): ExpectedChange & { added: number; removed: number; changed: number } {
    const version = this.#record();
    const same = (a: ReadonlyMap<string, readonly string[]>, b: Readonly<Record<string, string[]>>) =>
      a.size === Object.keys(b).length &&
      Object.entries(b).every(([strategy, list]) => {
        const mine = a.get(strategy);
        return mine !== undefined && [...mine].sort().join('|') === [...list].sort().join('|');
      });
    let added = 0;
    let changed = 0;
    for (const [user, strategies] of Object.entries(profile)) {
      const mine = this.#users.get(user);
      if (mine === undefined) added++;
      else if (!same(mine, strategies)) changed++;
    }
    const removed = [...this.#users.keys()].filter((user) => !(user in profile)).length;
    this.#replaceAll(profile);
    return { ...this.#outcome(version, [], [], []), added, removed, changed };
  }

  // --- what GET shows -----------------------------------------------------------------------------

  /** The open positions, in no particular order. */
  positions(): Position[] {
    return [...this.#open].map(([key, held]) => {
      const [user, strategy, instrument] = key.split('|') as [string, string, string];
      return { user, strategy, instrument, quantity: 1, order_id: held.orderId, opened_at: held.openedAt };
    });
  }

  /** GET /users: the users in force, by name, with their strategies and open positions. */
  users(): { user: string; strategies: Record<string, string[]>; open_positions: number }[] {
    return [...this.#users.keys()].sort(byName).map((user) => ({
      user,
      strategies: Object.fromEntries(
        [...this.#users.get(user)!].map(([strategy, list]) => [strategy, [...list].sort(byName)]),
      ),
      open_positions: this.positions().filter((p) => p.user === user).length,
    }));
  }

  /** GET /state, at `nowMs`. */
  states(nowMs: number): ExpectedStates {
    // The square-off's close-only period is shown while it lasts, also under a state the gate had before it.
    const curfew = nowMs < this.#closeOnlyUntilMs;
    return {
      version: this.#version,
      gate: {
        state: this.#gate?.state ?? (curfew ? 'CLOSE_ONLY' : 'ACTIVE'),
        reason: this.#gate?.reason ?? (curfew ? 'square-off' : null),
        close_only_until: curfew ? new Date(this.#closeOnlyUntilMs).toISOString() : null,
      },
      strategies: [...this.#strategyStates]
        .sort(([a], [b]) => byName(a, b))
        .map(([strategy, held]) => ({
          strategy,
          state: held.state,
          reason: held.reason,
          version: held.version,
        })),
      users: [...this.#userStates]
        .sort(([a], [b]) => byName(a, b))
        .map(([user, held]) => ({ user, state: held.state, reason: held.reason, version: held.version })),
    };
  }

  /** The number the next order or record takes. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  // --- the rules' parts ---------------------------------------------------------------------------

  #replaceAll(profile: Profile): void {
    this.#users.clear();
    for (const [user, strategies] of Object.entries(profile)) {
      this.#users.set(user, new Map(Object.entries(strategies)));
      this.#known.add(user);
    }
  }

  #record(): number {
    this.#version = this.#nextSeq++;
    return this.#version;
  }

  #gateState(atMs: number): StateName {
    return this.#gate?.state ?? (atMs < this.#closeOnlyUntilMs ? 'CLOSE_ONLY' : 'ACTIVE');
  }

  #holders(strategy: string, instrument: string): string[] {
    return this.positions()
      .filter((p) => p.strategy === strategy && p.instrument === instrument)
      .map((p) => p.user);
  }

  #heldBy(user: string, strategy: string | null): Position[] {
    return this.positions().filter((p) => p.user === user && (strategy === null || p.strategy === strategy));
  }

  /** Of positions held before a change, those still open that the user's subscriptions no longer give. */
  #stillLeft(user: string, held: readonly Position[]): ListedPosition[] {
    const strategies = this.#users.get(user);
    return held
      .filter((p) => this.#open.has(positionKey(p.user, p.strategy, p.instrument)))
      .filter((p) => strategies?.get(p.strategy)?.includes(p.instrument) !== true)
      .map(listed);
  }

  #leave(
    version: number,
    user: string,
    strategy: string | null,
    positions: Disposition,
    at: string,
  ): ExpectedChange {
    const held = this.#heldBy(user, strategy);
    if (positions === 'close-only') return this.#outcome(version, [], this.#stillLeft(user, held), []);
    if (positions === 'preserve') {
      for (const p of held) this.#open.delete(positionKey(p.user, p.strategy, p.instrument));
      return this.#outcome(version, [], [], held.map(listed));
    }
    return this.#outcome(version, this.#systemSells(held, 'close-now', at), [], []);
  }

  /** One SELL of the gate's own per (strategy, instrument) of these positions, in that order. */
  #systemSells(positions: readonly Position[], origin: string, at: string): SystemSell[] {
    const books = new Map<string, { strategy: string; instrument: string; users: Position[] }>();
    for (const p of positions) {
      const key = `${p.strategy}|${p.instrument}`;
      let book = books.get(key);
      if (book === undefined) {
        book = { strategy: p.strategy, instrument: p.instrument, users: [] };
        books.set(key, book);
      }
      book.users.push(p);
    }
    return [...books.values()].sort(byBook).map(({ strategy, instrument, users }) => {
      const orderId = this.#nextSeq++;
      const accepted = users.map((p) => ({
        user: p.user,
        quantity: 1,
        buy_order_id: p.order_id,
        opened_at: p.opened_at,
      }));
      for (const fill of accepted) this.#fill(fill, strategy, instrument, 'SELL', orderId, at);
      return {
        order_id: orderId,
        strategy,
        instrument,
        positions: users.length,
        answer: {
          order_id: orderId,
          status: 'ACCEPTED',
          reason: null,
          strategy,
          instrument,
          position: 'SELL',
          quantity: users.length,
          client_order_id: null,
          origin,
          received_at: at,
          accepted: byUser(accepted),
          rejected: [],
        },
      };
    });
  }

  #fill(fill: Fill, strategy: string, instrument: string, side: Side, orderId: number, at: string): void {
    const key = positionKey(fill.user, strategy, instrument);
    if (side === 'BUY') {
      this.#open.set(key, { orderId, openedAt: at });
      return;
    }
    this.#open.delete(key);
    this.trades.push({
      user: fill.user,
      strategy,
      instrument,
      quantity: 1,
      buy_order_id: fill.buy_order_id!,
      sell_order_id: orderId,
      opened_at: fill.opened_at!,
      closed_at: at,
    });
  }

  #outcome(
    version: number,
    closed: readonly SystemSell[],
    left: readonly ListedPosition[],
    released: readonly ListedPosition[],
  ): ExpectedChange {
    return { version, closed, left_close_only: [...left].sort(byBook), released: [...released].sort(byBook) };
  }
}

/** A user's block: the most restrictive of the gate's, the strategy's and the user's own state. */
function userBlock(gate: StateName, strategy: StateName, own: StateName, side: Side): string | null {
  if (gate === 'HALTED') return 'GATE_HALTED';
  if (strategy === 'HALTED') return 'STRATEGY_HALTED';
  if (own === 'HALTED') return 'USER_HALTED';
  const strictest = Math.max(RANK[gate], RANK[strategy], RANK[own]);
  return strictest === RANK.CLOSE_ONLY && side === 'BUY' ? 'CLOSE_ONLY' : null;
}

/** What blocks the whole order: the gate's or the strategy's state. */
function orderBlock(gate: StateName, strategy: StateName, side: Side): string | null {
  if (gate === 'HALTED') return 'GATE_HALTED';
  if (strategy === 'HALTED') return 'STRATEGY_HALTED';
  return (gate === 'CLOSE_ONLY' || strategy === 'CLOSE_ONLY') && side === 'BUY' ? 'CLOSE_ONLY' : null;
}

function listed(p: Position): ListedPosition {
  return { strategy: p.strategy, instrument: p.instrument, buy_order_id: p.order_id, opened_at: p.opened_at };
}

function notFound(error: string): Refusal {
  return { refused: { status: 404, error } };
}
