// The open book: every open position, keyed the way an order touches them, the book first and then
// the user. Which positions share a book is the scope, and lives in positionKey() alone: per
// (strategy, instrument) in `strategy` scope, per instrument in `account` scope, where a user holds
// at most one position in an instrument whichever strategy opened it.

import type { Decision, Holders, OpenPosition, UserId } from './rules.js';

/** Fixed when a database is made: `strategy` keeps a position per (user, strategy, instrument). */
export type PositionScope = 'strategy' | 'account';
export const POSITION_SCOPES: readonly PositionScope[] = ['strategy', 'account'];

/** Why a database cannot be opened with another scope than the one it was made with. */
export function scopeRefusal(database: string, scope: string, wanted: string): string {
  return (
    `${database} keeps positions in ${scope} scope, and POSITION_SCOPE asks for ${wanted}: the scope is ` +
    `fixed when a database is made; start with POSITION_SCOPE=${scope}, or use a new database for ${wanted} scope`
  );
}

export function positionKey(scope: PositionScope, strategy: string, instrument: string): string {
  return scope === 'account' ? instrument : `${strategy}\u0000${instrument}`;
}

interface Holdings {
  readonly instrument: string;
  readonly holders: Map<UserId, OpenPosition>;
}

export class OpenBook {
  readonly scope: PositionScope;
  readonly #books = new Map<string, Holdings>();
  #size = 0;

  constructor(scope: PositionScope = 'strategy') {
    this.scope = scope;
  }

  get size(): number {
    return this.#size;
  }

  /** The positions an order for (strategy, instrument) meets. */
  holdersOf(strategy: string, instrument: string): Holders | undefined {
    return this.#books.get(positionKey(this.scope, strategy, instrument))?.holders;
  }

  /** Opens a position in the instrument for the strategy the position names. */
  open(instrument: string, userId: UserId, position: OpenPosition): void {
    const key = positionKey(this.scope, position.strategy, instrument);
    let holdings = this.#books.get(key);
    if (holdings === undefined) {
      holdings = { instrument, holders: new Map() };
      this.#books.set(key, holdings);
    }
    if (!holdings.holders.has(userId)) this.#size++;
    holdings.holders.set(userId, position);
  }

  close(strategy: string, instrument: string, userId: UserId): void {
    const key = positionKey(this.scope, strategy, instrument);
    const holders = this.#books.get(key)?.holders;
    if (holders?.delete(userId) !== true) return;
    this.#size--;
    if (holders.size === 0) this.#books.delete(key);
  }

  /**
   * Loads the positions of one (strategy, instrument) in bulk, from flat columns [user, order, opened
   * at, quantity]: a restart loads 400,000 positions, and one row object or key string per position is
   * what it cannot afford.
   */
  load(
    strategy: string,
    instrument: string,
    rows: readonly (readonly [UserId, number, number, number])[],
  ): void {
    const key = positionKey(this.scope, strategy, instrument);
    let holdings = this.#books.get(key);
    if (holdings === undefined) {
      holdings = { instrument, holders: new Map() };
      this.#books.set(key, holdings);
    }
    for (const [userId, orderId, openedAtMs, quantity] of rows) {
      if (!holdings.holders.has(userId)) this.#size++;
      holdings.holders.set(userId, { orderId, openedAtMs, quantity, strategy });
    }
  }

  /** Applies a decision made by decide() for an order with this id, received at nowMs. */
  apply(strategy: string, instrument: string, decision: Decision, orderId: number, nowMs: number): void {
    for (const fill of decision.fills) {
      if (fill.closes === null)
        this.open(instrument, fill.userId, { orderId, openedAtMs: nowMs, quantity: fill.quantity, strategy });
      else this.close(fill.closes.strategy, instrument, fill.userId);
    }
  }

  *positions(): Generator<{ strategy: string; instrument: string; userId: UserId; position: OpenPosition }> {
    for (const { instrument, holders } of this.#books.values()) {
      for (const [userId, position] of holders)
        yield { strategy: position.strategy, instrument, userId, position };
    }
  }

  /**
   * The (strategy, instrument) pairs with open positions, of one strategy or all, held by one user or
   * anyone, by name; the strategy is the one that opened them (a book of the `account` scope holds
   * several).
   */
  books(strategy: string | null, userId: UserId | null): [string, string][] {
    const found = new Map<string, [string, string]>();
    for (const { instrument, holders } of this.#books.values()) {
      if (userId !== null) {
        const held = holders.get(userId);
        if (held !== undefined && (strategy === null || held.strategy === strategy))
          found.set(`${held.strategy}\u0000${instrument}`, [held.strategy, instrument]);
        continue;
      }
      for (const held of holders.values()) {
        if (strategy !== null && held.strategy !== strategy) continue;
        found.set(`${held.strategy}\u0000${instrument}`, [held.strategy, instrument]);
        // A book of the `strategy` scope holds one strategy's positions: one is enough to name it.
        if (this.scope === 'strategy') break;
      }
    }
    return [...found.values()].sort(([s1, i1], [s2, i2]) =>
      s1 < s2 ? -1 : s1 > s2 ? 1 : i1 < i2 ? -1 : i1 > i2 ? 1 : 0,
    );
  }

  clear(): void {
    this.#books.clear();
    this.#size = 0;
  }
}
