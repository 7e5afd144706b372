// Builds the HTTP application: API keys checked first, strict validation at the edge, one error
// handler that maps every failure to the catalogue in errors.ts, OpenAPI at /openapi.json and /docs.
// serve.ts listens.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import type { Gate } from '../gate.js';
import type { Store } from '../store/store.js';
import { createOpenMode, OPEN_MODE_WARNING, type OpenMode, useAuthentication } from './auth.js';
import { bookRoutes } from './book.js';
import { BODY_BYTES_MAX, errorAnswer } from './error-answer.js';
import { HTTP_ERRORS, HttpError, type HttpErrorCode } from './errors.js';
import { exportRoutes } from './export.js';
import { keyRoutes } from './keys.js';
import { liveRoutes } from './live.js';
import { orderRoutes } from './orders.js';
import { useRateLimit } from './rate-limit.js';
import { ErrorBody as ErrorBodySchema, NameSchema } from './schemas.js';
import type { PartFacts } from './validation.js';
import { redactWebhookUrl } from './webhook-paths.js';
import { type WebhookSettings, webhookRoutes } from './webhooks.js';

type ConnectionError = Error & { code?: string };

declare module 'fastify' {
  interface FastifyRequest {
    /** True once an order route has handed its order to the gate: from then on it may be applied. */
    placing: boolean;
  }
}

/** Past ORDERS_IN_FLIGHT_MAX, a client is told to come back after the queue has had time to drain. */
const OVERLOADED_RETRY_AFTER_S = 1;

/** A client that dribbles its headers or body is cut off (408) rather than holding a socket forever. */
const REQUEST_TIMEOUT_MS = 5000;
const HEADERS_TIMEOUT_MS = 3000;

export interface Services {
  readonly gate: Gate;
  readonly store: Store;
  readonly logger: Logger;
  readonly version: string;
  /** True once SIGTERM or SIGINT arrived: orders in flight finish, new requests get 503. */
  readonly draining: () => boolean;
  /** Requests a second each key (each address in open mode) may make; null: no limit. */
  readonly keyRequestsPerSecondMax: number | null;
  /** After a square-off of everything at nowMs: the gate is close-only until then (null: not at all). */
  readonly closeOnlyUntilAfterSquareOff?: (nowMs: number) => number | null;
  /** The TradingView webhook's aliases and retry window; none and 60 s when not given. */
  readonly webhooks?: WebhookSettings;
}

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: BODY_BYTES_MAX,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    // Requests that arrive while draining are answered by the hook below, in the catalogue's format.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    logger: false,
    // Errors Node's HTTP parser meets before Fastify sees a request: answered in the catalogue's format too.
    clientErrorHandler: answerClientError,
    // Errors Fastify meets before routing (a malformed URL, an overlong path parameter).
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      reply.code(400).send({
        error: 'INVALID_REQUEST',
        message: `the request URL is invalid: ${redactWebhookUrl(error.message)}`,
      });
    },
  });
  useStrictValidation(app);
  // The names' rule is one shared schema: one component of the OpenAPI document, referred to by each name.
  app.addSchema(NameSchema);
  // Orders are JSON; a text body is refused with 415 rather than parsed into a string.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('placing', false);
  app.setErrorHandler((error: FastifyError, request, reply) => {
    // The webhook's URL holds its token: no log line or message shows it.
    const url = redactWebhookUrl(request.url);
    const access = request.is404 ? undefined : request.routeOptions.config.access;
    const { status, body } = errorAnswer(error, {
      method: request.method,
      url,
      is404: request.is404,
      noBody: request.body === undefined,
      ordering: access === 'order' || access === 'webhook',
      placing: request.placing,
      ...(!request.is404 && { bodyBytesMax: request.routeOptions.bodyLimit }),
      partFacts: (context) => partFacts(request, context),
    });
    if (body.error === 'OVERLOADED') reply.header('retry-after', String(OVERLOADED_RETRY_AFTER_S));
    // A bug gets its stack; an expected 503 (store fault, draining) one short line: the fault is logged where it happens.
    const keyId = request.apiKey?.id;
    if (status === 500)
      services.logger.error({ err: error, method: request.method, url, keyId }, body.message);
    else if (status >= 500)
      services.logger.warn({ error: body.error, method: request.method, url, keyId }, body.message);
    return reply.code(status).send(body);
  });
  // Callback hooks, not async ones: they run on every request, and a promise each is measurable.
  app.addHook('onSend', (_request, reply, payload, done) => {
    // While draining, every answer closes its connection so that keep-alive clients let go.
    if (services.draining()) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onRequest', (request, _reply, done) => {
    if (!services.draining()) return done();
    if (request.url === '/health')
      return done(new HttpError('NOT_READY', 'the server is draining before it stops'));
    done(
      new HttpError('SHUTTING_DOWN', 'the server is draining before it stops; the request was not applied'),
    );
  });
  const openMode = createOpenMode(services.store.keys, services.logger);
  useAuthentication(app, { keys: services.store.keys, logger: services.logger, openMode });
  await useRateLimit(app, services.keyRequestsPerSecondMax);
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'NOT_FOUND',
      message: `no route ${request.method} ${redactWebhookUrl(request.url.split('?')[0]!)}; GET /docs lists the API`,
    }),
  );
  await app.register(swagger, {
    // Shared schemas keep their $id as their component's name (`Name`, not `def-0`).
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    openapi: {
      info: {
        title: 'ordergate',
        version: services.version,
        description:
          'Decides, per user, whether an order is valid; applies it durably; answers ACCEPTED or REJECTED. ' +
          'Once an API key exists, every route but GET /health needs one (ordergate keys create).',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'Authorization: Bearer TOKEN, a token from ordergate keys create',
          },
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description: 'X-API-Key: TOKEN, the same token in a header of its own',
          },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  healthRoute(app, services, openMode);
  orderRoutes(app, services);
  bookRoutes(app, services);
  exportRoutes(app, services);
  keyRoutes(app, services);
  liveRoutes(app, services);
  await webhookRoutes(app, services);
  // A client that sends its order and half-closes the connection (HTTP/1.0 tools, `nc -q`) still reads
  // the answer: by default Node drops the request at the half-close, after the order may be applied.
  (app.server as typeof app.server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  return app;
}

/** What a validation error's message may say of the part that failed: its known fields, what was sent. */
function partFacts(request: FastifyRequest, context: string): PartFacts {
  const schemas = (request.routeOptions.schema ?? {}) as Record<string, { properties?: object } | undefined>;
  const parts: Record<string, unknown> = {
    body: request.body,
    querystring: request.query,
    params: request.params,
  };
  return {
    route: `${request.method} ${request.routeOptions.url}`,
    known: Object.keys(schemas[context]?.properties ?? {}),
    input: parts[context],
  };
}

/** Request bodies are never coerced (7 is not a strategy name); query strings and paths are text, so they are. */
function useStrictValidation(app: FastifyInstance): void {
  const common = {
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
    validateFormats: false,
    // Patterns are read without the u flag, as the OpenAPI document's tools and browsers read them:
    // the name pattern spells out its letters (domain/name-chars.ts) so that both give one answer.
    unicodeRegExp: false,
  } as const;
  const bodies = new Ajv({ ...common, coerceTypes: false, schemas: [NameSchema] });
  const text = new Ajv({ ...common, coerceTypes: true, schemas: [NameSchema] });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodies : text).compile(schema));
}

function healthRoute(app: FastifyInstance, { store }: Services, openMode: OpenMode): void {
  const Health = Type.Object({
    status: Type.Literal('ready'),
    store: Type.String(),
    database_id: Type.String({
      description: 'The identity the database drew when it was made; every order line in the logs names it',
    }),
    state: Type.String(),
    auth: Type.Union([Type.Literal('open'), Type.Literal('keys')], {
      description:
        'open: no API key exists and every route is open to anyone; keys: every route but this one needs a key',
    }),
    orders_in_flight: Type.Integer({ description: 'Orders decided or queued but not yet answered' }),
    orders_in_flight_max: Type.Integer({
      description: 'ORDERS_IN_FLIGHT_MAX: past it an order gets 503 OVERLOADED',
    }),
    warning: Type.Optional(Type.String()),
  });
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Ready once the database is open and the profile loaded; says whether the server runs open',
        tags: ['service'],
        security: [],
        response: { 200: Health, 503: ErrorBodySchema },
      },
    },
    async (_request, reply: FastifyReply) => {
      const readiness = store.readiness();
      if (!readiness.ready) {
        const detail = readiness.detail === undefined ? '' : `: ${readiness.detail}`;
        throw new HttpError('NOT_READY', `the store is ${readiness.state}${detail}`);
      }
      const ready = {
        status: 'ready',
        store: store.kind,
        database_id: store.databaseId,
        state: readiness.state,
        orders_in_flight: readiness.ordersInFlight,
        orders_in_flight_max: readiness.ordersInFlightMax,
      };
      let open: boolean;
      try {
        open = await openMode.isOpen();
      } catch (error) {
        // The store may fail between its readiness and this read (a dropped connection): not ready,
        // said the way the store says it when it knows.
        const now = store.readiness();
        const why = now.ready ? `the API keys could not be read (${(error as Error).message})` : now.detail;
        throw new HttpError('NOT_READY', `the store is ${now.ready ? 'recovering' : now.state}: ${why}`);
      }
      if (open) return reply.send({ ...ready, auth: 'open', warning: OPEN_MODE_WARNING });
      return reply.send({ ...ready, auth: 'keys' });
    },
  );
}

function answerClientError(error: ConnectionError, socket: Socket): void {
  if (!socket.writable) return void socket.destroy();
  const code: HttpErrorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'REQUEST_TIMEOUT'
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : 'INVALID_REQUEST';
  const message =
    code === 'INVALID_REQUEST'
      ? `the HTTP request is malformed (${error.code ?? error.message})`
      : HTTP_ERRORS[code].description;
  const body = JSON.stringify({ error: code, message });
  socket.end(
    `HTTP/1.1 ${HTTP_ERRORS[code].status} ${STATUS_CODES[HTTP_ERRORS[code].status]}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
