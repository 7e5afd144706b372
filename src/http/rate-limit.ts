// A rate limit per API key (per client address in open mode), so that a flood from one caller is
// answered 429 cheaply instead of crowding out the others. @fastify/rate-limit counts requests in
// fixed one-second windows, in memory: each instance counts its own.

import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

const WINDOW_MS = 1000;

/** Counters kept: one per key or address seen in the last second; the least recent is dropped beyond. */
export const COUNTERS_MAX = 10_000;

/** Registers the limit before the routes (it attaches to each route as it is added); null: no limit. */
export async function useRateLimit(app: FastifyInstance, requestsPerSecondMax: number | null): Promise<void> {
  if (requestsPerSecondMax === null) return;
  // Public routes (/health for load balancers, the docs) are not counted.
  app.addHook('onRoute', (route) => {
    if (route.config?.access === 'public') route.config = { ...route.config, rateLimit: false };
  });
  await app.register(rateLimit, {
    max: requestsPerSecondMax,
    timeWindow: WINDOW_MS,
    cache: COUNTERS_MAX,
    // Route hooks run after the app's: the caller's key is known by then.
    hook: 'onRequest',
    keyGenerator: counterOf,
    // Headers on a refusal only: on every answer they would cost the hot path for little use.
    addHeadersOnExceeding: {
      'x-ratelimit-limit': false,
      'x-ratelimit-remaining': false,
      'x-ratelimit-reset': false,
    },
    errorResponseBuilder: (request, context) =>
      new HttpError(
        'RATE_LIMITED',
        `over ${context.max} requests in a second from this ${request.apiKey === null ? 'address' : 'key'}; ` +
          `retry in ${context.after}`,
      ),
  });
}

function counterOf(request: FastifyRequest): string {
  return request.apiKey === null ? `address ${request.ip}` : `key ${request.apiKey.id}`;
}
