// One page of a list (orders, positions, trades, users, strategies), bounded twice: by rows (the
// caller's limit, at most PAGE_LIMIT_MAX) and by bytes (PAGE_BYTES_MAX of answer text), whatever the
// rows hold. Rows arrive already rendered as JSON text, so the page knows its size as it grows and
// never builds more than its budget; the route only joins what the page holds.

import assert from 'node:assert/strict';
import { isValidName } from '../domain/order.js';

export const PAGE_LIMIT_MAX = 1000;
export const PAGE_LIMIT_DEFAULT = 100;
/** The most answer text one page is ever built with: 4 MiB, wrapper included. */
export const PAGE_BYTES_MAX = 4 * 1024 * 1024;
/**
 * Kept back from PAGE_BYTES_MAX for what wraps the rows: `{"orders":[`, `],"next_after":` and a
 * cursor (at most CURSOR_LENGTH_MAX characters).
 */
const PAGE_WRAPPER_BYTES_MAX = 2048;
export const PAGE_ROWS_BYTES_MAX = PAGE_BYTES_MAX - PAGE_WRAPPER_BYTES_MAX;

/** What the next page starts after: an id (orders, trades) or an opaque text cursor. */
export type Cursor = number | string;

export interface JsonPage {
  /** Each row as JSON text, in the list's order. */
  readonly rows: readonly string[];
  /** Pass as after= for the next page; null when this page is the last. */
  readonly nextAfter: Cursor | null;
}

/**
 * Collects rows until either budget is spent. A store feeds it up to limit + 1 rows, in order, and
 * stops at the first add() that answers false: the row that did not fit starts the next page.
 */
export class PageBuilder {
  readonly #limit: number;
  readonly #bytesMax: number;
  readonly #rows: string[] = [];
  #bytes = 0;
  #lastCursor: Cursor | null = null;
  #full = false;

  constructor(limit: number, bytesMax = PAGE_ROWS_BYTES_MAX) {
    assert.ok(Number.isInteger(limit) && limit >= 1 && limit <= PAGE_LIMIT_MAX, `page limit ${limit}`);
    this.#limit = limit;
    this.#bytesMax = bytesMax;
  }

  get full(): boolean {
    return this.#full;
  }

  /** Whether one more row of this many bytes fits, by rows and by bytes (its comma included). */
  room(bytes: number): boolean {
    if (this.#full || this.#rows.length === this.#limit) return false;
    return this.#bytes + bytes + (this.#rows.length === 0 ? 0 : 1) <= this.#bytesMax;
  }

  /**
   * Adds a row and its cursor; false (and nothing added, the page now full) when it does not fit. A
   * plan of a page may pass the size of a row it has not read yet, with an empty text.
   */
  add(json: string, cursor: Cursor, bytes = Buffer.byteLength(json)): boolean {
    if (!this.room(bytes)) {
      // A row that fits no page at all would end every page before it: a store never offers one.
      assert.ok(this.#rows.length > 0 || this.#full, `a row of ${bytes} bytes is larger than a whole page`);
      this.#full = true;
      return false;
    }
    this.#bytes += bytes + (this.#rows.length === 0 ? 0 : 1);
    this.#rows.push(json);
    this.#lastCursor = cursor;
    return true;
  }

  /** Ends the page here: a row is known to follow that will not be added. */
  close(): void {
    this.#full = true;
  }

  /** The page: the next page starts after the last row kept if a row was turned away. */
  page(): JsonPage {
    return { rows: this.#rows, nextAfter: this.#full ? this.#lastCursor : null };
  }
}

/** The whole page as the API answers it: `{"<field>":[rows],"next_after":cursor}`. */
export function pageJson(field: string, page: JsonPage): string {
  return `{"${field}":[${page.rows.join(',')}],"next_after":${JSON.stringify(page.nextAfter)}}`;
}

// Text cursors: opaque to clients (base64url of a JSON array), so that a client passes next_after
// back as it was and the key behind it can change without breaking them.

/** A position's cursor holds two names of at most 64 characters (up to 4 bytes each) and a user id. */
export const CURSOR_LENGTH_MAX = 1024;
export const CURSOR_PATTERN = '^[A-Za-z0-9_-]*$';

export function encodeCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

/** The parts of a cursor this server gave, or null for anything else. */
export function decodeCursor(text: string): unknown[] | null {
  try {
    const parts: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    return Array.isArray(parts) ? parts : null;
  } catch {
    return null;
  }
}

/** Where a page of positions starts: after this (strategy, instrument, user id), the book's own order. */
export interface PositionCursor {
  readonly strategy: string;
  readonly instrument: string;
  readonly userId: number;
}

export function positionCursor(strategy: string, instrument: string, userId: number): string {
  return encodeCursor([strategy, instrument, userId]);
}

export function parsePositionCursor(text: string): PositionCursor | null {
  const parts = decodeCursor(text);
  if (parts === null || parts.length !== 3) return null;
  const [strategy, instrument, userId] = parts;
  if (typeof strategy !== 'string' || !isValidName(strategy)) return null;
  if (typeof instrument !== 'string' || !isValidName(instrument)) return null;
  if (!Number.isSafeInteger(userId) || (userId as number) < 0) return null;
  return { strategy, instrument, userId: userId as number };
}

/** Where a page of users or strategies starts: after this name. */
export function nameCursor(name: string): string {
  return encodeCursor([name]);
}

export function parseNameCursor(text: string): string | null {
  const parts = decodeCursor(text);
  if (parts === null || parts.length !== 1) return null;
  const [name] = parts;
  return typeof name === 'string' && isValidName(name) ? name : null;
}
