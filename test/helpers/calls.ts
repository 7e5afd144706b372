// Requests with a JSON body over real HTTP, for the tests of live operations, quantities and scopes:
// one call with its status and parsed answer, one that must answer 200, and an order in the API's format.

import assert from 'node:assert/strict';
import type { Server } from './server.js';

const REQUEST_TIMEOUT_MS = 10_000;

export interface Answer {
  readonly status: number;
  readonly body: any;
}

/** One request with a JSON body (or none: then no Content-Type either), its status and parsed answer. */
export async function call(
  server: Server,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const init: RequestInit = { method, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    init.headers = { ...headers, 'content-type': 'application/json' };
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(server.url + path, init);
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}

/** A request that must answer 200; its body. */
export async function ok(server: Server, method: string, path: string, body?: unknown): Promise<any> {
  const answer = await call(server, method, path, body);
  assert.equal(answer.status, 200, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** POST /orders, which must answer 200; `quantity` left out when undefined (the default, 1). */
export function order(
  server: Server,
  strategy: string,
  instrument: string,
  position: 'BUY' | 'SELL',
  quantity?: number,
): Promise<any> {
  return ok(server, 'POST', '/orders', { strategy, instrument, position, quantity });
}

/** user → quantity, for the users an answer filled. */
export const filledQuantities = (answer: any): Record<string, number> =>
  Object.fromEntries(answer.accepted.map((fill: any) => [fill.user, fill.quantity]));

/** user → reason, for the users an answer denied. */
export const deniedReasons = (answer: any): Record<string, string> =>
  Object.fromEntries(answer.rejected.map((denial: any) => [denial.user, denial.reason]));

export const encoded = encodeURIComponent;
