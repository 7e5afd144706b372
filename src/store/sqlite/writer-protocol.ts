// Messages between the store (main thread) and its writer thread. One writer, messages in order:
// the book is updated in decision order, so the log commits in order_id order.

import type { ChangeEffects } from '../changes.js';
import type { NewKey } from '../key-store.js';

/**
 * The write-ahead log's file may grow to this many bytes. Past it the writer, between two
 * transactions, checkpoints what is left and starts the log again from the beginning of the file
 * (a RESTART checkpoint), and the next commit trims the file back to this size (journal_size_limit).
 * It waits for the moment the checkpointer thread has just copied the WAL, when a reset has least to
 * copy, but lets the file pass this by at most WAL_OVERSHOOT_BYTES_MAX (and one commit) for it. Only
 * a reader holding one snapshot (`ordergate check`, `backup`) lets the file grow more, until it ends.
 */
export const WAL_BYTES_MAX = 64 * 1024 * 1024;
export const WAL_OVERSHOOT_BYTES_MAX = 8 * 1024 * 1024;

/** The worker threads' names: the inspector, the logs and a debugger show them. */
export const WRITER_THREAD_NAME = 'ordergate-writer';
export const CHECKPOINTER_THREAD_NAME = 'ordergate-checkpointer';

/** One decided order, as the writer stores it. */
export interface OrderWrite {
  readonly orderId: number;
  readonly clientOrderId: string | null;
  readonly strategy: string;
  readonly instrument: string;
  readonly side: 'BUY' | 'SELL';
  /** The order's quantity; each user's is in opened and closed. */
  readonly quantity: number;
  readonly status: 'ACCEPTED' | 'REJECTED';
  readonly reason: string | null;
  readonly receivedAtMs: number;
  readonly answer: string;
  /** How many users the order filled and denied, for the compact view of the log. */
  readonly fills: number;
  readonly denials: number;
  /** BUY: the users whose positions this order opens. */
  readonly opened: readonly number[];
  /** The quantity of each position opened, in the order of opened; one number when all are the same. */
  readonly openedQuantities: number | readonly number[];
  /** SELL: flattened triples [userId, buyOrderId, openedAtMs, …] of the positions it closes. */
  readonly closed: readonly number[];
  /** The quantity of each position closed, in the order of closed; one number when all are the same. */
  readonly closedQuantities: number | readonly number[];
  /**
   * SELL in `account` scope: the strategy that opened each position closed, in the order of closed,
   * when any is not the order's own; null otherwise (always, in `strategy` scope).
   */
  readonly closedStrategies: readonly string[] | null;
  /** A SELL the gate sent itself: why ('square-off', 'close-now'), and whose positions (null: all). */
  readonly origin: string | null;
  readonly forUserId: number | null;
}

/** A record of the log that is not an order (changes.ts), with what it changes in the tables. */
export interface ChangeWrite {
  readonly type: 'change';
  readonly seq: number;
  readonly kind: string;
  readonly body: string;
  readonly keyId: string | null;
  readonly atMs: number;
  /** Users named for the first time: [user_id, name]. */
  readonly users: readonly (readonly [number, string])[];
  readonly effects: ChangeEffects;
  /** Positions that leave the gate's management (positions=preserve): [strategy, instrument, user_id]. */
  readonly released: readonly (readonly [string, string, number])[];
  /** An imported profile: stored as a version that names this record. */
  readonly profile: { readonly version: number; readonly sha256: string; readonly text: string } | null;
}

/** What the writer commits, in log order. */
export type LogWrite = OrderWrite | ChangeWrite;

export function isChange(write: LogWrite): write is ChangeWrite {
  return (write as ChangeWrite).type === 'change';
}

export type ToWriter =
  | { readonly type: 'batch'; readonly batch: number; readonly orders: readonly LogWrite[] }
  | { readonly type: 'reset' }
  | { readonly type: 'close' }
  /** An API key's last use: written by the one writer, so it never competes with the orders for the lock. */
  | { readonly type: 'last-use'; readonly seq: number; readonly keyId: string; readonly atMs: number }
  /** A key created or revoked through the key API: the same one writer, for the same reason. */
  | { readonly type: 'key-change'; readonly seq: number; readonly change: KeyChange };

export type KeyChange =
  | { readonly kind: 'create'; readonly key: NewKey }
  | { readonly kind: 'revoke'; readonly id: string; readonly atMs: number };

export type FromWriter =
  | { readonly type: 'ready' }
  | { readonly type: 'committed'; readonly batches: readonly number[] }
  | {
      readonly type: 'failed';
      readonly batches: readonly number[];
      readonly code: string;
      readonly message: string;
      /** False when a crash before recovery could still bring the failed commit back. */
      readonly certain: boolean;
    }
  | { readonly type: 'reset-done' }
  | { readonly type: 'reset-failed'; readonly message: string }
  /** The last use or key change numbered seq is written, or could not be (error). */
  | { readonly type: 'last-use-done'; readonly seq: number; readonly error?: string }
  /** changed: a key was created, or an active key revoked (false: no active key had the id). */
  | {
      readonly type: 'key-change-done';
      readonly seq: number;
      readonly changed: boolean;
      readonly error?: string;
    }
  /** The WAL is past WAL_BYTES_MAX and a reader keeps it from being reset (sent at most every 10 s). */
  | { readonly type: 'wal-held'; readonly bytes: number }
  | { readonly type: 'closed' };

/** From the checkpointer thread: its connection is open and its first checkpoint ran. */
export type FromCheckpointer = { readonly type: 'ready' };

export interface WriterData {
  readonly path: string;
}
