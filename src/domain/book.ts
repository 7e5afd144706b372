// The open book: every open position, keyed the way an order touches them, (strategy, instrument)
// first and then the user. The scope of a position lives in positionKey() alone, so a later
// per-account scope changes one function.

import type { Decision, Holders, OpenPosition, UserId } from './rules.js';

export function positionKey(strategy: string, instrument: string): string {
  return `${strategy}\u0000${instrument}`;
}

interface Holdings {
  readonly strategy: string;
  readonly instrument: string;
  readonly holders: Map<UserId, OpenPosition>;
}

export class OpenBook {
  readonly #books = new Map<string, Holdings>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  holdersOf(strategy: string, instrument: string): Holders | undefined {
    return this.#books.get(positionKey(strategy, instrument))?.holders;
  }

  open(strategy: string, instrument: string, userId: UserId, position: OpenPosition): void {
    const key = positionKey(strategy, instrument);
    let holdings = this.#books.get(key);
    if (holdings === undefined) {
      holdings = { strategy, instrument, holders: new Map() };
      this.#books.set(key, holdings);
    }
    if (!holdings.holders.has(userId)) this.#size++;
    holdings.holders.set(userId, position);
  }

  close(strategy: string, instrument: string, userId: UserId): void {
    const key = positionKey(strategy, instrument);
    const holders = this.#books.get(key)?.holders;
    if (holders?.delete(userId) !== true) return;
    this.#size--;
    if (holders.size === 0) this.#books.delete(key);
  }

  /**
   * Loads the positions of one (strategy, instrument) in bulk, from flat columns: a restart loads
   * 400,000 positions, and one row object or key string per position is what it cannot afford.
   */
  load(strategy: string, instrument: string, rows: readonly (readonly [UserId, number, number])[]): void {
    const key = positionKey(strategy, instrument);
    let holdings = this.#books.get(key);
    if (holdings === undefined) {
      holdings = { strategy, instrument, holders: new Map() };
      this.#books.set(key, holdings);
    }
    for (const [userId, orderId, openedAtMs] of rows) {
      if (!holdings.holders.has(userId)) this.#size++;
      holdings.holders.set(userId, { orderId, openedAtMs });
    }
  }

  /** Applies a decision made by decide() for an order with this id, received at nowMs. */
  apply(strategy: string, instrument: string, decision: Decision, orderId: number, nowMs: number): void {
    for (const fill of decision.fills) {
      if (fill.closes === null) this.open(strategy, instrument, fill.userId, { orderId, openedAtMs: nowMs });
      else this.close(strategy, instrument, fill.userId);
    }
  }

  *positions(): Generator<{ strategy: string; instrument: string; userId: UserId; position: OpenPosition }> {
    for (const { strategy, instrument, holders } of this.#books.values()) {
      for (const [userId, position] of holders) yield { strategy, instrument, userId, position };
    }
  }

  /** The books with open positions, of one strategy or all, held by one user or anyone, by name. */
  books(strategy: string | null, userId: UserId | null): [string, string][] {
    const found: [string, string][] = [];
    for (const { strategy: s, instrument, holders } of this.#books.values()) {
      if (strategy !== null && s !== strategy) continue;
      if (userId !== null && !holders.has(userId)) continue;
      found.push([s, instrument]);
    }
    return found.sort(([s1, i1], [s2, i2]) => (s1 < s2 ? -1 : s1 > s2 ? 1 : i1 < i2 ? -1 : i1 > i2 ? 1 : 0));
  }

  clear(): void {
    this.#books.clear();
    this.#size = 0;
  }
}
