// Renders an order's answer as JSON text once, from pieces prepared in advance (each user's name
// is JSON-encoded once at load). The same text is stored in the order log and sent as the reply.

import type { Order } from '../domain/order.js';
import type { Decision, UserId } from '../domain/rules.js';

export interface AnswerHead {
  readonly orderId: number;
  readonly order: Order;
  readonly receivedAtMs: number;
  /** A SELL the gate sent itself says why ('square-off', 'close-now'); a client's order has none. */
  readonly origin?: string | null;
  /** An order logged before quantities existed: its answer has no quantity fields (one unit each). */
  readonly unsized?: boolean;
}

export function renderAnswer(
  head: AnswerHead,
  decision: Decision,
  nameJsonOf: (userId: UserId) => string,
): string {
  const { order } = head;
  const sized = head.unsized !== true;
  const parts: string[] = [
    `{"order_id":${head.orderId},"status":"${decision.status}","reason":`,
    decision.reason === null ? 'null' : `"${decision.reason}"`,
    `,"strategy":${JSON.stringify(order.strategy)},"instrument":${JSON.stringify(order.instrument)}`,
    sized
      ? `,"position":"${order.side}","quantity":${order.quantity},"client_order_id":`
      : `,"position":"${order.side}","client_order_id":`,
    order.clientOrderId === null ? 'null' : JSON.stringify(order.clientOrderId),
    head.origin == null ? '' : `,"origin":"${head.origin}"`,
    `,"received_at":"${new Date(head.receivedAtMs).toISOString()}","accepted":[`,
  ];
  let first = true;
  // A SELL that closes a fan-out BUY closes thousands of positions opened at the same instant.
  let openedAtMs = Number.NaN;
  let openedAt = '';
  // And most of them buy or sell the same quantity.
  let quantity = Number.NaN;
  let quantityText = '';
  for (const fill of decision.fills) {
    parts.push(first ? '{"user":' : ',{"user":', nameJsonOf(fill.userId));
    if (sized) {
      if (fill.quantity !== quantity) {
        quantity = fill.quantity;
        quantityText = `,"quantity":${quantity}`;
      }
      parts.push(quantityText);
    }
    if (fill.closes !== null) {
      if (fill.closes.openedAtMs !== openedAtMs) {
        openedAtMs = fill.closes.openedAtMs;
        openedAt = new Date(openedAtMs).toISOString();
      }
      parts.push(`,"buy_order_id":${fill.closes.orderId},"opened_at":"${openedAt}"`);
    }
    parts.push('}');
    first = false;
  }
  parts.push('],"rejected":[');
  first = true;
  for (const denial of decision.denials) {
    parts.push(first ? '{"user":' : ',{"user":', nameJsonOf(denial.userId), `,"reason":"${denial.reason}"}`);
    first = false;
  }
  parts.push(']}');
  return parts.join('');
}

/** The seed's wire format: the same answer with "RESPONSE" first, as the original client reads it. */
export function withResponseField(json: string, status: string): string {
  return `{"RESPONSE":"${status}",${json.slice(1)}`;
}
