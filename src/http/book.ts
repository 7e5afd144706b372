// The book, read-only: open positions, closed round trips, users and strategies.

import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from './app.js';
import { HttpError } from './errors.js';
import { After, BookFilters, Limit, Name, responses } from './schemas.js';

const Timestamp = Type.String({ format: 'date-time' });

const Position = Type.Object({
  user: Type.String(),
  strategy: Type.String(),
  instrument: Type.String(),
  order_id: Type.Integer({ description: 'The BUY that opened it' }),
  opened_at: Timestamp,
});

const Trade = Type.Object({
  trade_id: Type.Integer(),
  user: Type.String(),
  strategy: Type.String(),
  instrument: Type.String(),
  buy_order_id: Type.Integer(),
  sell_order_id: Type.Integer(),
  opened_at: Timestamp,
  closed_at: Timestamp,
});

const UserSummary = Type.Object({
  user: Type.String(),
  strategies: Type.Record(Type.String(), Type.Array(Type.String()), {
    description: 'strategy → its instruments',
  }),
  open_positions: Type.Integer(),
});

const PositionsQuery = Type.Object({ ...BookFilters, limit: Limit }, { additionalProperties: false });
const TradesQuery = Type.Object(
  { ...BookFilters, after: After, limit: Limit },
  { additionalProperties: false },
);
const UserParams = Type.Object({ name: Name('The user, as named in the profile') });

export function bookRoutes(app: FastifyInstance, { store }: Services): void {
  app.get<{ Querystring: Static<typeof PositionsQuery> }>(
    '/positions',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Open positions',
        tags: ['book'],
        querystring: PositionsQuery,
        response: responses(Type.Object({ positions: Type.Array(Position) })),
      },
    },
    async (request) => ({ positions: await store.positions(request.query) }),
  );

  app.get<{ Querystring: Static<typeof TradesQuery> }>(
    '/trades',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Closed round trips, oldest first',
        description: 'Page with after= (the last trade_id seen) and limit=.',
        tags: ['book'],
        querystring: TradesQuery,
        response: responses(
          Type.Object({ trades: Type.Array(Trade), next_after: Type.Union([Type.Integer(), Type.Null()]) }),
        ),
      },
    },
    async (request) => {
      const trades = await store.trades(request.query);
      const nextAfter = trades.length === request.query.limit ? trades[trades.length - 1]!.trade_id : null;
      return { trades, next_after: nextAfter };
    },
  );

  app.get(
    '/users',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Every user of the profile in force, with strategies, instruments and open positions',
        tags: ['profile'],
        response: responses(Type.Object({ users: Type.Array(UserSummary) })),
      },
    },
    async () => ({ users: await store.users() }),
  );

  app.get<{ Params: Static<typeof UserParams> }>(
    '/users/:name',
    {
      config: { access: 'read' },
      schema: {
        summary: "One user's strategies, instruments and open positions",
        tags: ['profile'],
        params: UserParams,
        response: responses(
          Type.Composite([UserSummary, Type.Object({ positions: Type.Array(Position) })]),
          404,
        ),
      },
    },
    async (request) => {
      const user = await store.user(request.params.name);
      if (user === undefined)
        throw new HttpError('USER_NOT_FOUND', `no user is named ${JSON.stringify(request.params.name)}`);
      return user;
    },
  );

  app.get(
    '/strategies',
    {
      config: { access: 'read' },
      schema: {
        summary:
          'Every strategy of the profile: its subscribers and, per instrument, how many users trade it',
        tags: ['profile'],
        response: responses(
          Type.Object({
            strategies: Type.Array(
              Type.Object({
                strategy: Type.String(),
                subscribers: Type.Integer(),
                instruments: Type.Record(Type.String(), Type.Integer()),
              }),
            ),
          }),
        ),
      },
    },
    async () => ({ strategies: await store.strategies() }),
  );
}
