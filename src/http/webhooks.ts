// TradingView's webhook: POST /webhooks/tradingview/:token, the token a webhook key's (auth.ts checks
// it, as any key, with access 'webhook'). TradingView sends the alert's message as the body, JSON or
// text, adds no header of its own and gives up after 3 s: the body is read here, in a scope of its
// own (the rest of the API takes JSON only), into an order for the key's strategy, which goes through
// the gate like any other; the answer is the order's, or a 4xx naming what the alert got wrong, also
// logged with the key's id (never its token) so that the operator can fix the alert.

import { createHash } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Order } from '../domain/order.js';
import {
  type Alert,
  isAlertProblem,
  parseAlert,
  quoteAlert,
  type TickerAliases,
} from '../domain/tradingview.js';
import { type Store, StoreError } from '../store/store.js';
import type { Services } from './app.js';
import { HttpError } from './errors.js';
import { OrderAnswer, responses } from './schemas.js';
import { WEBHOOK_PATH } from './webhook-paths.js';

/** An alert is a line or a small JSON object: 4 KiB holds any template a trader writes, and no more. */
export const WEBHOOK_BODY_BYTES_MAX = 4096;

/** What the webhook needs besides the gate: the operator's aliases and the retry window. */
export interface WebhookSettings {
  readonly aliases: TickerAliases;
  readonly dedupeWindowMs: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = { aliases: new Map(), dedupeWindowMs: 60_000 };

const TokenParams = Type.Object({
  token: Type.String({
    description:
      'A secret: the token of a webhook key (ordergate keys create --webhook STRATEGY). Anyone who has this URL may place orders for that strategy; revoke the key if it leaks.',
  }),
});

const AlertBody = Type.String({
  maxLength: WEBHOOK_BODY_BYTES_MAX,
  description:
    'The alert message. JSON (Content-Type: application/json): {"ticker", "action", "contracts"?, "position_size"?, "id"?, "time"?}, numbers as numbers or text, other fields ignored; or text (text/plain): ACTION TICKER [QUANTITY]. action is buy, sell, long (BUY), exit or close (SELL), any case; an exchange prefix (NSE:) is dropped and the ticker alias table applied.',
  examples: [
    '{"ticker": "{{ticker}}", "action": "{{strategy.order.action}}", "contracts": "{{strategy.order.contracts}}", "position_size": "{{strategy.position_size}}", "id": "{{strategy.order.id}}", "time": "{{timenow}}"}',
    'buy NSE:INFY 10',
  ],
});

const MEDIA_TYPES = ['application/json', 'text/plain'];

export async function webhookRoutes(app: FastifyInstance, services: Services): Promise<void> {
  // A plugin: its parsers are its own, so text stays refused on every other route.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(MEDIA_TYPES, { parseAs: 'string' }, (_request, body, done) =>
      done(null, body),
    );
    scope.addContentTypeParser('*', (_request, _payload, done) =>
      done(
        new HttpError(
          'UNSUPPORTED_MEDIA_TYPE',
          'send the alert as text/plain or application/json, as TradingView does',
        ),
      ),
    );
    alertRoute(scope, services);
  });
}

function alertRoute(app: FastifyInstance, { gate, store, logger, webhooks }: Services): void {
  const { aliases, dedupeWindowMs } = webhooks ?? DEFAULT_WEBHOOK_SETTINGS;
  app.post<{ Params: Static<typeof TokenParams>; Body: Static<typeof AlertBody> }>(
    `${WEBHOOK_PATH}:token`,
    {
      bodyLimit: WEBHOOK_BODY_BYTES_MAX,
      config: { access: 'webhook' },
      schema: {
        summary: "Place an order from a TradingView alert, for the webhook key's strategy",
        description:
          "The token in the path is the key: no header is needed (TradingView sends none), and a header's key is not read here. Answers like POST /orders; a retry (the same id and time, or without them the same message within WEBHOOK_DEDUPE_SECONDS) answers the original with Idempotent-Replayed: true and applies nothing. A SELL closes the user's whole position, whatever its quantity.",
        tags: ['orders'],
        consumes: MEDIA_TYPES,
        security: [],
        params: TokenParams,
        body: AlertBody,
        response: responses(OrderAnswer, 409, 413, 415, 422),
      },
    },
    async (request, reply) => {
      const key = request.apiKey!;
      const strategy = key.strategy!;
      const body = request.body ?? '';
      const alert = parseAlert(body, isJson(request), aliases);
      if (isAlertProblem(alert)) {
        logger.warn(
          { keyId: key.id, strategy, error: alert.code, field: alert.field, body: quoteAlert(body) },
          `TradingView alert refused: ${alert.message}`,
        );
        throw new HttpError(alert.code, alert.message, alert.field);
      }
      const receivedAtMs = Date.now();
      const clientOrderId = await idempotencyKey(store, strategy, alert, body, receivedAtMs, dedupeWindowMs);
      const order: Order = {
        strategy,
        instrument: alert.instrument,
        side: alert.side,
        quantity: alert.quantity,
        clientOrderId,
      };
      request.placing = true;
      const placed = await gate.place(order);
      if (placed.replayed) reply.header('idempotent-replayed', 'true');
      return reply.type('application/json').send(placed.json);
    },
  );
}

function isJson(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json');
}

/**
 * TradingView retries an alert it got no answer to, within seconds. With its order id and time, the
 * alert names itself. Without them, the same body from the same strategy within the window is the
 * same alert: keyed by the window it falls in, or by the window before when the order keyed so was
 * received within the window, so that a retry just after a window turns still finds its original.
 * Both keys are client_order_ids: durable with the order, across restarts and on every instance.
 */
async function idempotencyKey(
  store: Store,
  strategy: string,
  alert: Alert,
  body: string,
  nowMs: number,
  windowMs: number,
): Promise<string> {
  if (alert.identity !== null) return `tv:${digest([strategy, alert.identity.id, alert.identity.time])}`;
  const bucket = Math.floor(nowMs / windowMs);
  const previous = bodyKey(strategy, body, bucket - 1);
  let receivedAtMs: number | undefined;
  try {
    receivedAtMs = await store.receivedAtOf(previous);
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError(
      'STORE_UNAVAILABLE',
      `the store could not be asked whether this alert was sent before (${(error as Error).message}); nothing was applied, retry later`,
    );
  }
  if (receivedAtMs !== undefined && nowMs - receivedAtMs <= windowMs) return previous;
  return bodyKey(strategy, body, bucket);
}

/** 47 characters: within CLIENT_ORDER_ID_LENGTH_MAX, printable, and saying where it came from. */
function bodyKey(strategy: string, body: string, bucket: number): string {
  return `tvb:${digest([strategy, body, bucket])}`;
}

function digest(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}
