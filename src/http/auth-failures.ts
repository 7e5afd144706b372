// Failed authentications counted per client address, so that a flood of made-up tokens is refused
// before it reaches the database: every key is looked up on every request (no cache, so that a revoke
// counts at once), and without this each unknown token would cost a lookup, on PostgreSQL a round trip.
//
// A failure is known only once its lookup returns, so the lookups an address has in flight are bounded
// too: never more than the failures it has left, the others wait their turn. Without that bound, a flood
// on C connections would reach C lookups at once (each window), whatever AUTH_FAILURES_MAX says.

/** Failed authentications an address may make in a window; from then on its requests with a key get 429. */
export const AUTH_FAILURES_MAX = 20;
/**
 * The window opens at an address's first failure; once it ends the address is counted afresh. Short,
 * so that a mistyped key (or a neighbour's, behind a shared proxy) holds an address back for seconds,
 * not minutes, while a flood still reaches at most AUTH_FAILURES_MAX lookups per window.
 */
export const AUTH_FAILURE_WINDOW_MS = 10_000;
/** Addresses whose failures are counted at once; beyond, the one that failed least recently is dropped. */
export const AUTH_FAILURE_ADDRESSES_MAX = 10_000;
/** Requests of one address waiting for a lookup of its own to end; beyond, 429 for a second. */
export const AUTH_CHECKS_WAITING_MAX = 1000;
const WAITING_FULL_MS = 1000;

/** Why an address is held back: its failures, or too many of its requests waiting for a lookup. */
export type HeldBack = 'failures' | 'waiting';

interface Window {
  readonly endMs: number;
  failures: number;
}

export interface AuthFailures {
  /** How long the address is held back (ms), or 0: asked before anything is made of a token. */
  heldBackMs(address: string): number;
  /** Counts a failure found without a lookup (a malformed token or header). */
  record(address: string): void;
  /**
   * Calls lookUp once the address may have one more lookup in flight (at once, unless it has failed
   * lately and has as many in flight as failures left), or refuse with how long it is held back.
   * Every lookUp called must be followed by one settled().
   */
  admit(address: string, lookUp: () => void, refuse: (heldBackMs: number, why: HeldBack) => void): void;
  /** A lookup admitted for the address ended; failed when the key was not valid. */
  settled(address: string, failed: boolean): void;
}

/**
 * onHeldBack is told each time an address reaches the limit. The clock is monotonic: a window must
 * not stretch or vanish when the wall clock is set.
 */
export function createAuthFailures(
  onHeldBack: (address: string) => void,
  now: () => number = () => performance.now(),
): AuthFailures {
  // A Map iterates in insertion order: re-inserting on each failure keeps the least recent first.
  const windows = new Map<string, Window>();
  // Entries only while lookups are in flight, so bounded by the requests the server holds open.
  const inFlight = new Map<string, number>();
  const waiting = new Map<string, (() => void)[]>();

  // Both return at once while no address has failed: the cost of a valid key's request.
  const windowOf = (address: string): Window | undefined => {
    if (windows.size === 0) return undefined;
    const window = windows.get(address);
    if (window === undefined || window.endMs > now()) return window;
    windows.delete(address);
    return undefined;
  };
  const heldBackMs = (address: string): number => {
    const window = windowOf(address);
    if (window === undefined || window.failures < AUTH_FAILURES_MAX) return 0;
    return window.endMs - now();
  };
  const record = (address: string): void => {
    const window = windowOf(address) ?? { endMs: now() + AUTH_FAILURE_WINDOW_MS, failures: 0 };
    window.failures++;
    windows.delete(address);
    windows.set(address, window);
    if (windows.size > AUTH_FAILURE_ADDRESSES_MAX) windows.delete(windows.keys().next().value!);
    if (window.failures === AUTH_FAILURES_MAX) onHeldBack(address);
  };
  const admit: AuthFailures['admit'] = (address, lookUp, refuse) => {
    const held = heldBackMs(address);
    if (held > 0) return refuse(held, 'failures');
    const running = inFlight.get(address) ?? 0;
    if (running < AUTH_FAILURES_MAX - (windowOf(address)?.failures ?? 0)) {
      inFlight.set(address, running + 1);
      return lookUp();
    }
    const queue = waiting.get(address) ?? [];
    if (queue.length >= AUTH_CHECKS_WAITING_MAX) return refuse(WAITING_FULL_MS, 'waiting');
    queue.push(() => admit(address, lookUp, refuse));
    waiting.set(address, queue);
  };
  const settled = (address: string, failed: boolean): void => {
    const running = inFlight.get(address)! - 1;
    if (running === 0) inFlight.delete(address);
    else inFlight.set(address, running);
    if (failed) record(address);
    const queue = waiting.get(address);
    if (queue === undefined) return;
    // Each one admitted again: it looks up, waits anew, or (held back now) is refused, in arrival order.
    const turns = heldBackMs(address) > 0 ? queue.length : 1;
    for (const next of queue.splice(0, turns)) next();
    if (queue.length === 0) waiting.delete(address);
  };
  return { heldBackMs, record, admit, settled };
}
