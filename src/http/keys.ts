// The key API: list, create and revoke API keys through a running server, with an admin key (in open
// mode, with none: that is how the first key can be made over HTTP, and it closes open mode at once).
// A SQLite file has one owner, so beside a server this is the way to revoke a leaked key while trading;
// `ordergate keys` does the same offline, with the same rules (key-spec.ts) on the same key store.

import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  checkKeySpec,
  isKeySpecProblem,
  issueKey,
  KEY_LABEL_LENGTH_MAX,
  KEY_LABEL_RULE,
} from '../key-spec.js';
import { KEY_ROLES, type KeyRecord, type KeyRole, keyCursor, parseKeyCursor } from '../store/key-store.js';
import { StoreError } from '../store/store.js';
import { KEY_ID_PATTERN } from '../tokens.js';
import type { Services } from './app.js';
import { cursor } from './book.js';
import { HttpError } from './errors.js';
import { AfterCursor, Limit, Name, NextAfterCursor, responses } from './schemas.js';
import { WEBHOOK_PATH } from './webhook-paths.js';

const Timestamp = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(type: T, description: string) =>
  Type.Union([type, Type.Null()], { description });

const Role = Type.Unsafe<KeyRole>({
  type: 'string',
  enum: [...KEY_ROLES],
  description:
    'admin: everything; read: every GET of the book and the log; strategy: orders for its strategy only',
});

export const KeyView = Type.Object({
  id: Type.String({ pattern: KEY_ID_PATTERN, description: 'Public: the part of the token after og_' }),
  role: Role,
  strategy: Nullable(Type.String(), 'The strategy a strategy key places orders for; null for the others'),
  name: Nullable(Type.String(), 'The label given at creation, or null'),
  webhook: Type.Boolean({
    description:
      'A webhook key: a strategy key whose token is accepted only in the URL POST /webhooks/tradingview/{token}, never as a header',
  }),
  active: Type.Boolean({ description: 'False once revoked' }),
  created_at: Timestamp,
  last_used_at: Nullable(
    Timestamp,
    'Recorded at most once a minute per key, so up to a minute behind; null if never',
  ),
  revoked_at: Nullable(Timestamp, 'When it was revoked; null while active'),
});

const CreatedKey = Type.Composite([
  KeyView,
  Type.Object({
    token: Type.String({
      description:
        'og_<id>_<secret>: send it as Authorization: Bearer TOKEN or X-API-Key: TOKEN (a webhook key: in its webhook_path only). Shown this once: only its hash is stored',
    }),
    webhook_path: Type.Optional(
      Type.String({
        description:
          'A webhook key only: /webhooks/tradingview/<token>, to append to the address TradingView reaches this server at (behind TLS: it holds the token)',
      }),
    ),
  }),
]);

const NewKeyBody = Type.Object(
  {
    role: Role,
    strategy: Type.Optional(Name('For a strategy key, and only then: the strategy it places orders for')),
    webhook: Type.Optional(
      Type.Boolean({
        description:
          'true: a webhook key for TradingView (role strategy only): its token is accepted only in its webhook URL',
      }),
    ),
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: KEY_LABEL_LENGTH_MAX,
        description: `A label for people: ${KEY_LABEL_RULE}`,
      }),
    ),
  },
  { additionalProperties: false },
);

const KeysQuery = Type.Object({ after: AfterCursor, limit: Limit }, { additionalProperties: false });
/** Any text up to a bound: an id that is not a key's is simply not found. */
const KeyParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'The key id' }),
});

export function keyRoutes(app: FastifyInstance, { store, logger }: Services): void {
  app.get<{ Querystring: Static<typeof KeysQuery> }>(
    '/keys',
    {
      schema: {
        summary: 'The API keys, revoked ones too, oldest first; never a token or its hash',
        description:
          'Admin keys only (anyone in open mode). Page with after= (the next_after of the previous page) and limit=.',
        tags: ['keys'],
        querystring: KeysQuery,
        response: responses(Type.Object({ keys: Type.Array(KeyView), next_after: NextAfterCursor })),
      },
    },
    async (request) => {
      const { limit } = request.query;
      const after = cursor(request.query.after, parseKeyCursor);
      const rows = await keyStoreCall('read the keys', () => store.keys.page(after, limit + 1));
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { keys: page.map(keyView), next_after: rows.length > limit && last ? keyCursor(last) : null };
    },
  );

  app.post<{ Body: Static<typeof NewKeyBody> }>(
    '/keys',
    {
      schema: {
        summary: 'Create an API key: the answer holds its token, this once',
        description:
          'Admin keys only; in open mode anyone, and the first key created closes open mode from the next request on.',
        tags: ['keys'],
        body: NewKeyBody,
        response: created(CreatedKey, 413, 415),
      },
    },
    async (request, reply) => {
      const { role, strategy, name, webhook } = request.body;
      const spec = checkKeySpec(role, strategy, name, webhook);
      if (isKeySpecProblem(spec))
        throw new HttpError('INVALID_REQUEST', `body.${spec.field} ${spec.problem}`, spec.field);
      const { record, token } = await keyStoreCall('create the key', () =>
        issueKey(store.keys, spec, Date.now()),
      );
      logger.info(
        {
          keyId: record.id,
          role,
          strategy: record.strategy,
          webhook: record.webhook,
          by: request.apiKey?.id ?? 'open mode',
        },
        'API key created through the key API',
      );
      const path = record.webhook ? { webhook_path: `${WEBHOOK_PATH}${token}` } : {};
      return reply.code(201).send({ ...keyView(record), token, ...path });
    },
  );

  app.delete<{ Params: Static<typeof KeyParams> }>(
    '/keys/:id',
    {
      schema: {
        summary: 'Revoke an API key: every server on the database refuses it from its next request on',
        description:
          'Admin keys only (anyone in open mode). Idempotent: a key already revoked answers 200 with the time of its first revocation.',
        tags: ['keys'],
        params: KeyParams,
        response: responses(KeyView, 404),
      },
    },
    async (request) => {
      const { id } = request.params;
      const revoked = await keyStoreCall('revoke the key', () => store.keys.revoke(id, Date.now()));
      const key = await keyStoreCall('read the key', () => store.keys.find(id));
      if (key === undefined) throw new HttpError('KEY_NOT_FOUND', `no API key has id ${JSON.stringify(id)}`);
      if (revoked) {
        logger.info(
          { keyId: id, by: request.apiKey?.id ?? 'open mode' },
          'API key revoked through the key API',
        );
      }
      return keyView(key);
    },
  );
}

/** A key as the API shows it: what `ordergate keys list` shows, never a secret or its hash. */
function keyView(key: KeyRecord): Static<typeof KeyView> {
  return {
    id: key.id,
    role: key.role,
    strategy: key.strategy,
    name: key.name,
    webhook: key.webhook,
    active: key.revokedAtMs === null,
    created_at: iso(key.createdAtMs),
    last_used_at: key.lastUsedAtMs === null ? null : iso(key.lastUsedAtMs),
    revoked_at: key.revokedAtMs === null ? null : iso(key.revokedAtMs),
  };
}

/** A key store that cannot be reached or written (a store fault, PostgreSQL down) is a 503: retry. */
async function keyStoreCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof HttpError || error instanceof StoreError) throw error;
    throw new StoreError(
      'STORE_UNAVAILABLE',
      `the store could not ${what} (${(error as Error).message}); retry later`,
    );
  }
}

/** The error responses of responses(), with the success at 201 Created. */
function created(ok: Parameters<typeof responses>[0], ...statuses: number[]) {
  const { 200: success, ...errors } = responses(ok, ...statuses);
  return { 201: success!, ...errors };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
