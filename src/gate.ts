// One way in for every order, whatever the route: the clock, the store, and the order's log line.

import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Order } from './domain/order.js';
import type { PlacedOrder, Store } from './store/store.js';

export interface Gate {
  place(order: Order): Promise<PlacedOrder>;
}

export function createGate(store: Store, orderLog: Logger): Gate {
  return {
    async place(order) {
      const started = performance.now();
      const placed = await store.place(order, Date.now());
      orderLog.info(
        {
          order_id: placed.orderId,
          strategy: order.strategy,
          instrument: order.instrument,
          position: order.side,
          client_order_id: order.clientOrderId ?? undefined,
          status: placed.status,
          reason: placed.reason ?? undefined,
          fills: placed.fills,
          denials: placed.denials,
          replayed: placed.replayed || undefined,
          latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
        },
        'order',
      );
      return placed;
    },
  };
}
