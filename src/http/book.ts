// The book, read-only: open positions, closed round trips, users and strategies. Every list is one
// page, bounded by rows and by bytes; the store renders the rows and the route joins them.

import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  type JsonPage,
  PAGE_LIMIT_MAX,
  pageJson,
  parseNameCursor,
  parsePositionCursor,
} from '../store/page.js';
import type { Services } from './app.js';
import { HttpError } from './errors.js';
import {
  After,
  AfterCursor,
  BookFilters,
  Limit,
  Name,
  NextAfterCursor,
  NextAfterId,
  responses,
} from './schemas.js';

const Timestamp = Type.String({ format: 'date-time' });

export const Position = Type.Object({
  user: Type.String(),
  strategy: Type.String(),
  instrument: Type.String(),
  quantity: Type.Integer({ description: 'Whole units held' }),
  order_id: Type.Integer({ description: 'The BUY that opened it' }),
  opened_at: Timestamp,
});

export const Trade = Type.Object({
  trade_id: Type.Integer(),
  user: Type.String(),
  strategy: Type.String({ description: 'The strategy that opened the position' }),
  instrument: Type.String(),
  quantity: Type.Integer({ description: 'Whole units bought and sold' }),
  buy_order_id: Type.Integer(),
  sell_order_id: Type.Integer(),
  opened_at: Timestamp,
  closed_at: Timestamp,
});

export const UserSummary = Type.Object({
  user: Type.String(),
  strategies: Type.Record(
    Type.String(),
    Type.Union([
      Type.Array(Type.String()),
      Type.Object({
        instruments: Type.Array(Type.String()),
        multiplier: Type.Optional(Type.String()),
        quantity: Type.Optional(Type.Integer()),
      }),
    ]),
    { description: 'strategy → its instruments, or → { instruments, multiplier | quantity } when sized' },
  ),
  open_positions: Type.Integer(),
});

const Holdings = Type.Object({
  user: Type.String(),
  holdings: Type.Array(
    Type.Object({
      instrument: Type.String(),
      quantity: Type.Integer({ description: 'Whole units held in all' }),
      strategies: Type.Record(Type.String(), Type.Integer(), {
        description: 'strategy that opened a position → its quantity',
      }),
    }),
    { description: 'By instrument name' },
  ),
});

export const StrategySummary = Type.Object({
  strategy: Type.String(),
  subscribers: Type.Integer(),
  instruments: Type.Record(Type.String(), Type.Integer(), { description: 'instrument → users trading it' }),
});

const PositionsQuery = Type.Object(
  { ...BookFilters, after: AfterCursor, limit: Limit },
  { additionalProperties: false },
);
const TradesQuery = Type.Object(
  { ...BookFilters, after: After, limit: Limit },
  { additionalProperties: false },
);
const NamesQuery = Type.Object({ after: AfterCursor, limit: Limit }, { additionalProperties: false });
const UserParams = Type.Object({ name: Name('The user, as named in the profile') });

export function bookRoutes(app: FastifyInstance, { store }: Services): void {
  app.get<{ Querystring: Static<typeof PositionsQuery> }>(
    '/positions',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Open positions, by strategy, instrument and user',
        description: 'Page with after= (the next_after of the previous page) and limit=.',
        tags: ['book'],
        querystring: PositionsQuery,
        response: responses(Type.Object({ positions: Type.Array(Position), next_after: NextAfterCursor })),
      },
    },
    async (request, reply) => {
      const { after, ...query } = request.query;
      const page = await store.positions({ ...query, after: cursor(after, parsePositionCursor) });
      return sendPage(reply, 'positions', page);
    },
  );

  app.get<{ Querystring: Static<typeof TradesQuery> }>(
    '/trades',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Closed round trips, oldest first',
        description: 'Page with after= (the next_after of the previous page: a trade_id) and limit=.',
        tags: ['book'],
        querystring: TradesQuery,
        response: responses(Type.Object({ trades: Type.Array(Trade), next_after: NextAfterId })),
      },
    },
    async (request, reply) => sendPage(reply, 'trades', await store.trades(request.query)),
  );

  app.get<{ Querystring: Static<typeof NamesQuery> }>(
    '/users',
    {
      config: { access: 'read' },
      schema: {
        summary:
          'The users of the profile in force, by name, with strategies, instruments and open positions',
        description: 'Page with after= (the next_after of the previous page) and limit=.',
        tags: ['profile'],
        querystring: NamesQuery,
        response: responses(Type.Object({ users: Type.Array(UserSummary), next_after: NextAfterCursor })),
      },
    },
    async (request, reply) => {
      const page = await store.users({
        ...request.query,
        after: cursor(request.query.after, parseNameCursor),
      });
      return sendPage(reply, 'users', page);
    },
  );

  app.get<{ Params: Static<typeof UserParams> }>(
    '/users/:name',
    {
      config: { access: 'read' },
      schema: {
        summary: "One user's strategies, instruments and open positions",
        description: `The first ${PAGE_LIMIT_MAX} positions; positions_next_after continues at GET /positions?user=NAME&after=….`,
        tags: ['profile'],
        params: UserParams,
        response: responses(
          Type.Composite([
            UserSummary,
            Type.Object({ positions: Type.Array(Position), positions_next_after: NextAfterCursor }),
          ]),
          404,
        ),
      },
    },
    async (request, reply) => {
      const json = await store.user(request.params.name);
      if (json === undefined)
        throw new HttpError('USER_NOT_FOUND', `no user is named ${JSON.stringify(request.params.name)}`);
      return reply.type('application/json').send(json);
    },
  );

  app.get<{ Params: Static<typeof UserParams> }>(
    '/users/:name/holdings',
    {
      config: { access: 'read' },
      schema: {
        summary: "A user's net quantity per instrument, across strategies",
        description:
          "What a broker shows the account holding: each instrument's open quantity in all, and how much each strategy's positions hold.",
        tags: ['profile'],
        params: UserParams,
        response: responses(Holdings, 404),
      },
    },
    async (request, reply) => {
      const json = await store.holdings(request.params.name);
      if (json === undefined)
        throw new HttpError('USER_NOT_FOUND', `no user is named ${JSON.stringify(request.params.name)}`);
      return reply.type('application/json').send(json);
    },
  );

  app.get<{ Querystring: Static<typeof NamesQuery> }>(
    '/strategies',
    {
      config: { access: 'read' },
      schema: {
        summary:
          'Every strategy of the profile, by name: its subscribers and, per instrument, how many users trade it',
        description: 'Page with after= (the next_after of the previous page) and limit=.',
        tags: ['profile'],
        querystring: NamesQuery,
        response: responses(
          Type.Object({ strategies: Type.Array(StrategySummary), next_after: NextAfterCursor }),
        ),
      },
    },
    async (request, reply) => {
      const after = cursor(request.query.after, parseNameCursor);
      return sendPage(reply, 'strategies', await store.strategies({ ...request.query, after }));
    },
  );
}

/** A text cursor from the query, checked: only what an earlier page gave is accepted. */
export function cursor<T>(text: string | undefined, parse: (text: string) => T | null): T | null {
  if (text === undefined || text === '') return null;
  const parsed = parse(text);
  if (parsed !== null) return parsed;
  throw new HttpError(
    'INVALID_REQUEST',
    'query.after must be the next_after of an earlier page, passed back as it was given',
    'after',
  );
}

export function sendPage(
  reply: { type(type: string): { send(body: string): unknown } },
  field: string,
  page: JsonPage,
) {
  return reply.type('application/json').send(pageJson(field, page));
}
