// One way in for every order, whatever the route: the clock, the store, and the order's log line.

import { performance } from 'node:perf_hooks';
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
      const placed = await store.place(order, Date.now());
      logOrder({
        orderId: placed.orderId,
        strategy: order.strategy,
        instrument: order.instrument,
        side: order.side,
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
