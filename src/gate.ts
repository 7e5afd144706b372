// One way in for every order, whatever the route: the clock, the store, the order's log line, and the
// case hint a rejected answer may carry.

import { performance } from 'node:perf_hooks';
import type { CaseHints } from './domain/case-hints.js';
import type { Order } from './domain/order.js';
import type { OrderLine } from './logger.js';
import type { PlacedOrder, Store } from './store/store.js';

export interface Gate {
  place(order: Order): Promise<PlacedOrder>;
}

export function createGate(store: Store, logOrder: (line: OrderLine) => void): Gate {
  return {
    async place(order) {
      const started = performance.now();
      let placed = await store.place(order, Date.now());
      if (placed.status === 'REJECTED') placed = withCaseHint(placed, order, store.caseHints());
      logOrder({
        orderId: placed.orderId,
        strategy: order.strategy,
        instrument: order.instrument,
        side: order.side,
        quantity: order.quantity,
        clientOrderId: order.clientOrderId,
        status: placed.status,
        reason: placed.reason,
        fills: placed.fills,
        denials: placed.denials,
        replayed: placed.replayed,
        latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      });
      return placed;
    },
  };
}

/**
 * A rejected order's answer gains a `hint` after its reason when a name differs only in letter case
 * from one the profile knows. Advice for the reply, not a fact of the log: the log keeps the answer
 * the rules give (which `ordergate check` replays), and a retry is advised from the users in force.
 */
function withCaseHint(placed: PlacedOrder, order: Order, caseHints: CaseHints): PlacedOrder {
  const hint = caseHints.hint(order.strategy, order.instrument, placed.reason);
  if (hint === null) return placed;
  // The first `,"strategy":` follows the reason: order_id, status and reason hold no such text.
  const at = placed.json.indexOf(',"strategy":');
  return {
    ...placed,
    json: `${placed.json.slice(0, at)},"hint":${JSON.stringify(hint)}${placed.json.slice(at)}`,
  };
}
