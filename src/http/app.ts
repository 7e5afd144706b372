// Builds the HTTP application: strict validation at the edge, one error handler that maps every
// failure to the catalogue in errors.ts, OpenAPI at /openapi.json and /docs. serve.ts listens.

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Gate } from '../gate.js';
import { type Store, StoreError } from '../store/store.js';
import { bookRoutes } from './book.js';
import { type ErrorBody, HTTP_ERRORS, HttpError, type HttpErrorCode } from './errors.js';
import { orderRoutes } from './orders.js';
import { responses } from './schemas.js';
import { describeValidation } from './validation.js';

export const BODY_BYTES_MAX = 64 * 1024;
/** A client that dribbles its headers or body is cut off (408) rather than holding a socket forever. */
const REQUEST_TIMEOUT_MS = 5000;
const HEADERS_TIMEOUT_MS = 3000;

export interface Services {
  readonly gate: Gate;
  readonly store: Store;
  readonly logger: Logger;
  readonly version: string;
}

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: BODY_BYTES_MAX,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    logger: false,
  });
  useStrictValidation(app);
  // Orders are JSON; a text body is refused with 415 rather than parsed into a string.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const body = request.is404
      ? notFound(request.method, request.url)
      : toErrorBody(error, { noBody: request.body === undefined });
    const status = HTTP_ERRORS[body.error].status;
    if (status >= 500)
      services.logger.error({ err: error, method: request.method, url: request.url }, body.message);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'NOT_FOUND',
      message: `no route ${request.method} ${request.url.split('?')[0]}; GET /docs lists the API`,
    }),
  );
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'ordergate',
        version: services.version,
        description:
          'Decides, per user, whether an order is valid; applies it durably; answers ACCEPTED or REJECTED.',
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  healthRoute(app, services);
  orderRoutes(app, services);
  bookRoutes(app, services);
  return app;
}

/** Request bodies are never coerced (7 is not a strategy name); query strings and paths are text, so they are. */
function useStrictValidation(app: FastifyInstance): void {
  const common = {
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false,
    validateFormats: false,
  } as const;
  const bodies = new Ajv({ ...common, coerceTypes: false });
  const text = new Ajv({ ...common, coerceTypes: true });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodies : text).compile(schema));
}

function healthRoute(app: FastifyInstance, { store }: Services): void {
  const Health = Type.Object({ status: Type.Literal('ready'), store: Type.String(), state: Type.String() });
  app.get(
    '/health',
    {
      schema: {
        summary: 'Ready once the database is open and the profile loaded',
        tags: ['service'],
        response: responses(Health),
      },
    },
    async (_request, reply: FastifyReply) => {
      const readiness = store.readiness();
      if (!readiness.ready) {
        const detail = readiness.detail === undefined ? '' : `: ${readiness.detail}`;
        throw new HttpError('NOT_READY', `the store is ${readiness.state}${detail}`);
      }
      return reply.send({ status: 'ready', store: store.kind, state: readiness.state });
    },
  );
}

const FASTIFY_CODES: Record<string, HttpErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Fastify parses the body of a request to no route before it finds there is none: the route is the news. */
function notFound(method: string, url: string): ErrorBody {
  return { error: 'NOT_FOUND', message: `no route ${method} ${url.split('?')[0]}; GET /docs lists the API` };
}

function toErrorBody(error: FastifyError, request: { noBody: boolean }): ErrorBody {
  if (error instanceof HttpError)
    return withField({ error: error.code, message: error.message }, error.field);
  if (error instanceof StoreError) return { error: error.code, message: error.message };
  if (error.validation !== undefined && error.validationContext === 'body' && request.noBody) {
    return { error: 'EMPTY_BODY', message: 'the request needs a JSON body and had none' };
  }
  if (error.validation !== undefined) {
    const { message, field } = describeValidation(error.validation, error.validationContext ?? 'request');
    return withField({ error: 'INVALID_REQUEST', message }, field);
  }
  const known = FASTIFY_CODES[error.code];
  if (known === 'INVALID_JSON')
    return { error: known, message: `the body is not valid JSON: ${error.message}` };
  if (known === 'BODY_TOO_LARGE')
    return { error: known, message: `the body is over ${BODY_BYTES_MAX} bytes` };
  if (known === 'UNSUPPORTED_MEDIA_TYPE') {
    return { error: known, message: 'send the body as JSON with Content-Type: application/json' };
  }
  if (known === 'EMPTY_BODY') return { error: known, message: 'the request needs a JSON body and had none' };
  if (known !== undefined) return { error: known, message: error.message };
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { error: 'INVALID_REQUEST', message: error.message };
  return { error: 'INTERNAL_ERROR', message: 'an internal error occurred; the request was not applied' };
}

function withField(body: ErrorBody, field: string | undefined): ErrorBody {
  return field === undefined ? body : { ...body, field };
}
