// Who may call what. A caller sends its API key as `Authorization: Bearer TOKEN` or `X-API-Key: TOKEN`;
// the key is looked up in the database on every request, never cached, so that a revoke counts at
// once on every instance, and its role decides the routes it may use. While no key exists at all,
// the server runs open, as the original exercise did; the first key closes it, checked per request.
// Since every lookup costs the database, an address that keeps failing is refused before its lookup.

import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Logger } from 'pino';
import type { ActiveKey, KeyRole, KeyStore } from '../store/key-store.js';
import { StoreError } from '../store/store.js';
import { parseToken, secretMatches } from '../tokens.js';
import {
  AUTH_CHECKS_WAITING_MAX,
  AUTH_FAILURE_WINDOW_MS,
  AUTH_FAILURES_MAX,
  type AuthFailures,
  createAuthFailures,
  type HeldBack,
} from './auth-failures.js';
import { HttpError } from './errors.js';

/**
 * Who may call a route: 'public' anyone; 'read' read and admin keys; 'order' admin keys and the
 * strategy key of the order's strategy (config.orderStrategy); 'webhook' webhook keys only, their
 * token in the path (:token), never in a header. A route without it: admin keys only.
 */
export type Access = 'public' | 'read' | 'order' | 'webhook';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's key once authenticated; null on public routes and in open mode. */
    apiKey: Caller | null;
  }
  interface FastifyContextConfig {
    access?: Access;
    /** For access 'order': the strategy the validated body places an order for. */
    orderStrategy?: (body: unknown) => string;
  }
}

export interface Caller {
  readonly id: string;
  readonly role: KeyRole;
  readonly strategy: string | null;
  readonly webhook: boolean;
}

/** Last use is written at most this often per key: a write per request would cost the orders. */
const LAST_USE_INTERVAL_MS = 60_000;

/** The /docs UI and the document it reads are public, so that anyone may see the API and authorise in it. */
const PUBLIC_PREFIXES = ['/docs', '/openapi.json'];

export const OPEN_MODE_WARNING =
  'no API key exists: the server runs open and anyone who can reach it may place orders for every strategy; ' +
  'create the first through this server with POST /keys {"role":"admin"} (its answer holds the token), ' +
  'or with ordergate keys create --admin (on SQLite, once the server is stopped)';

const NEEDS_KEY = 'this server needs an API key: send Authorization: Bearer TOKEN or X-API-Key: TOKEN';
/** The same for a malformed token, an unknown id and a wrong secret: a refusal tells nothing about which. */
const UNKNOWN_KEY = 'the API key is not valid (unknown, revoked or mistyped)';
/** A webhook URL is pasted into another service: its key opens nothing else, and no other key opens it. */
const WEBHOOK_KEY_IN_HEADER =
  "a webhook key's token is accepted only in its webhook URL (POST /webhooks/tradingview/TOKEN), never in a header: use a strategy key here";
const NOT_A_WEBHOOK_KEY =
  'the webhook URL takes only a webhook key (ordergate keys create --webhook STRATEGY); this key is sent as a header';

/** Whether the server runs open: asked on every keyless request and by /health. */
export interface OpenMode {
  isOpen(): Promise<boolean>;
}

/**
 * Open until the first key is created. Keys are never deleted (a revoked one keeps its row), so once
 * closed the answer is kept and keyless requests cost no query; while open, every one asks.
 */
export function createOpenMode(keys: KeyStore, logger: Logger): OpenMode {
  let closed = false;
  let seenOpen = false;
  return {
    async isOpen() {
      if (closed) return false;
      closed = await keys.hasKeys();
      if (!closed) seenOpen = true;
      else if (seenOpen)
        logger.info('an API key exists now: every request but GET /health and the docs needs one');
      return !closed;
    },
  };
}

export function useAuthentication(
  app: FastifyInstance,
  { keys, logger, openMode }: { keys: KeyStore; logger: Logger; openMode: OpenMode },
): void {
  app.decorateRequest('apiKey', null);
  app.addHook('onRoute', (route) => {
    if (PUBLIC_PREFIXES.some((prefix) => route.url.startsWith(prefix)))
      route.config = { ...route.config, access: 'public' };
  });
  const noteUse = lastUseRecorder(keys, logger);
  const failures = failureCounter(logger);
  // Callback hooks, not async ones: they run on every request (see app.ts).
  app.addHook('onRequest', (request, reply, done) => {
    // routeOptions is built anew at each read: read it once.
    const access = request.routeOptions.config.access;
    if (access === 'public') return done();
    // The webhook's token is in its path (TradingView sends no header): open mode never opens it.
    const token = access === 'webhook' ? pathToken(request) : tokenOf(request);
    if (token === undefined) {
      openMode.isOpen().then(
        (open) => (open ? done() : refuse(reply, done, new HttpError('UNAUTHORIZED', NEEDS_KEY))),
        (error: Error) => done(unavailable(error)),
      );
      return;
    }
    checkToken(token, access, request, reply, done, { keys, failures, noteUse });
  });
  // A strategy key's strategy is in the body: checked once the body is parsed and valid.
  app.addHook('preHandler', (request, _reply, done) => {
    const key = request.apiKey;
    // A webhook's order is always for its key's strategy: it names none of its own.
    if (key === null || key.role !== 'strategy' || key.webhook) return done();
    const strategy = request.routeOptions.config.orderStrategy?.(request.body);
    if (strategy === key.strategy) return done();
    done(
      new HttpError(
        'FORBIDDEN',
        `this key places orders for strategy ${key.strategy} only; this order is for strategy ${strategy}`,
      ),
    );
  });
}

interface TokenCheck {
  readonly keys: KeyStore;
  readonly failures: AuthFailures;
  readonly noteUse: (id: string) => void;
}

/**
 * Refuses a request's token before anything is made of it while its address is held back; counts it
 * as a failure when it is not valid; looks its key up once the address may have one more lookup.
 */
function checkToken(
  token: string | HttpError,
  access: Access | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
  { keys, failures, noteUse }: TokenCheck,
): void {
  const address = request.ip;
  const heldBackMs = failures.heldBackMs(address);
  if (heldBackMs > 0) return done(heldBack(reply, address, heldBackMs, 'failures'));
  const parsed = token instanceof HttpError ? token : parseToken(token);
  if (parsed instanceof HttpError || parsed === null) {
    failures.record(address);
    return refuse(reply, done, parsed ?? new HttpError('UNAUTHORIZED', UNKNOWN_KEY));
  }
  failures.admit(
    address,
    () =>
      keys.findActive(parsed.id).then(
        (key) => {
          const valid = key !== undefined && secretMatches(parsed.secret, key.secretSha256);
          failures.settled(address, !valid);
          if (!valid) return refuse(reply, done, new HttpError('UNAUTHORIZED', UNKNOWN_KEY));
          request.apiKey = { id: key.id, role: key.role, strategy: key.strategy, webhook: key.webhook };
          noteUse(key.id);
          const refused = refusal(key, access, request);
          if (refused === undefined) return done();
          refuse(reply, done, refused);
        },
        (error: Error) => {
          failures.settled(address, false);
          done(unavailable(error));
        },
      ),
    (ms, why) => done(heldBack(reply, address, ms, why)),
  );
}

/** The webhook's token, the last segment of its path; headers are not read there. */
function pathToken(request: FastifyRequest): string {
  return (request.params as { token?: string }).token ?? '';
}

/** The token of either header; an HttpError when a header is malformed or the two disagree. */
function tokenOf(request: FastifyRequest): string | undefined | HttpError {
  const { authorization, 'x-api-key': apiKey } = request.headers;
  if (authorization === undefined && apiKey === undefined) return undefined;
  let bearer: string | undefined;
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    if (match === null) return new HttpError('UNAUTHORIZED', 'send the Authorization header as Bearer TOKEN');
    bearer = match[1];
  }
  if (Array.isArray(apiKey)) return new HttpError('UNAUTHORIZED', 'send one X-API-Key header');
  if (bearer !== undefined && apiKey !== undefined && bearer !== apiKey)
    return new HttpError('UNAUTHORIZED', 'Authorization and X-API-Key name different keys: send one');
  return bearer ?? apiKey;
}

/** Whether the key's role allows the route; a strategy key's strategy is checked in preHandler. */
function refusal(key: ActiveKey, access: Access | undefined, request: FastifyRequest): HttpError | undefined {
  // Before the roles: a valid secret in the wrong place is refused as no key at all.
  if (access === 'webhook' && !key.webhook) return new HttpError('UNAUTHORIZED', NOT_A_WEBHOOK_KEY);
  if (access !== 'webhook' && key.webhook) return new HttpError('UNAUTHORIZED', WEBHOOK_KEY_IN_HEADER);
  if (key.role === 'admin' || request.is404 || access === 'webhook') return undefined;
  const route = `${request.method} ${request.routeOptions.url}`;
  if (access === undefined) return new HttpError('FORBIDDEN', `only an admin key may use ${route}`);
  if (key.role === 'read') {
    if (access === 'read') return undefined;
    return new HttpError('FORBIDDEN', `a read key may use the GET endpoints only, not ${route}`);
  }
  if (access === 'order') return undefined;
  return new HttpError('FORBIDDEN', `a key for strategy ${key.strategy} may only place orders, not ${route}`);
}

function refuse(reply: FastifyReply, done: HookHandlerDoneFunction, error: HttpError): void {
  if (error.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="ordergate"');
  done(error);
}

/** Every 401 for a token counts against the client address, malformed ones too: they are guesses as well. */
function failureCounter(logger: Logger): AuthFailures {
  return createAuthFailures((address) =>
    logger.warn(
      { address, failures: AUTH_FAILURES_MAX, windowMs: AUTH_FAILURE_WINDOW_MS },
      'too many failed authentications from one address: its requests with a key get 429 until the window ends',
    ),
  );
}

/** 429 with Retry-After in whole seconds, rounded up so that a client that waits it out is let in. */
function heldBack(reply: FastifyReply, address: string, heldBackMs: number, why: HeldBack): HttpError {
  const retryAfterS = Math.ceil(heldBackMs / 1000);
  reply.header('retry-after', String(retryAfterS));
  if (why === 'waiting') {
    return new HttpError(
      'AUTH_RATE_LIMITED',
      `${AUTH_CHECKS_WAITING_MAX} requests from ${address} are already waiting for their API key to be checked; retry in ${retryAfterS} s`,
    );
  }
  return new HttpError(
    'AUTH_RATE_LIMITED',
    `${AUTH_FAILURES_MAX} requests from ${address} in ${AUTH_FAILURE_WINDOW_MS / 1000} s had an API key that is not valid: ` +
      `every request with a key from this address is refused for ${retryAfterS} s more; check the key the client sends`,
  );
}

function unavailable(error: Error): StoreError {
  return new StoreError(
    'STORE_UNAVAILABLE',
    `the store is not accepting orders: the API key could not be checked (${error.message}); nothing was applied, retry later`,
  );
}

/** Notes a key's use, writing it at most once a LAST_USE_INTERVAL_MS per key and never waiting for it. */
function lastUseRecorder(keys: KeyStore, logger: Logger): (id: string) => void {
  const recordedAtMs = new Map<string, number>();
  return (id) => {
    const now = Date.now();
    const last = recordedAtMs.get(id);
    if (last !== undefined && now - last < LAST_USE_INTERVAL_MS) return;
    recordedAtMs.set(id, now);
    const failed = (error: Error) =>
      logger.warn({ keyId: id, detail: error.message }, 'could not record the last use of an API key');
    // Called where a throw would escape the request: whatever fails here is only logged.
    try {
      keys.recordLastUse(id, now).catch(failed);
    } catch (error) {
      failed(error as Error);
    }
  };
}
