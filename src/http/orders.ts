// Orders in (the seed's POST /create_order and POST /orders) and the order log out.

import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type Order, parseSide } from '../domain/order.js';
import { withResponseField } from '../store/answer.js';
import type { PlacedOrder } from '../store/store.js';
import type { Services } from './app.js';
import { sendPage } from './book.js';
import { HttpError } from './errors.js';
import {
  After,
  BookFilters,
  ClientOrderId,
  IdempotencyHeaders,
  Limit,
  Name,
  NextAfterId,
  OrderAnswer,
  Quantity,
  responses,
  SeedAnswer,
  Side,
} from './schemas.js';

const SeedOrderBody = Type.Object(
  {
    STRATEGY: Name('The strategy placing the order, e.g. STRATEGY_A'),
    INSTRUMENT: Name('The NSE symbol, e.g. GRASIM'),
    POSITION: Side,
    QUANTITY: Type.Optional(Quantity),
  },
  { additionalProperties: false },
);

const OrderBody = Type.Object(
  {
    strategy: Name('The strategy placing the order, e.g. STRATEGY_A'),
    instrument: Name('The NSE symbol, e.g. GRASIM'),
    position: Side,
    quantity: Type.Optional(Quantity),
    client_order_id: Type.Optional(ClientOrderId),
  },
  { additionalProperties: false },
);

export const OrdersView = Type.Unsafe<'compact' | 'full'>({
  type: 'string',
  enum: ['compact', 'full'],
  default: 'compact',
  description:
    "compact (the default): each order without its per-user lists, counted instead; full: each order's whole answer",
});

/** An order of the log in the compact view: the answer's fields but the per-user lists, which it counts. */
const OrderSummary = Type.Object({
  order_id: Type.Integer(),
  status: Type.Union([Type.Literal('ACCEPTED'), Type.Literal('REJECTED')]),
  reason: Type.Union([Type.Null(), Type.String()]),
  strategy: Type.String(),
  instrument: Type.String(),
  position: Type.Union([Type.Literal('BUY'), Type.Literal('SELL')]),
  quantity: Type.Optional(
    Type.Integer({ description: "The order's quantity (absent on orders logged before quantities)" }),
  ),
  client_order_id: Type.Union([Type.String(), Type.Null()]),
  received_at: Type.String({ format: 'date-time' }),
  accepted_count: Type.Integer({ description: 'Users the order was applied for' }),
  rejected_count: Type.Integer({ description: 'Users of the strategy it was not valid for' }),
  answer_bytes: Type.Optional(
    Type.Integer({
      description:
        'view=full only: this answer is larger than a whole page, so it is shown compact; GET /orders/{order_id} has it',
    }),
  ),
});

export const OrdersQuery = Type.Object(
  {
    after: After,
    limit: Limit,
    view: Type.Optional(OrdersView),
    ...BookFilters,
    status: Type.Optional(
      Type.Unsafe<'ACCEPTED' | 'REJECTED'>({
        type: 'string',
        enum: ['ACCEPTED', 'REJECTED'],
        description: 'only orders with this status',
      }),
    ),
  },
  { additionalProperties: false },
);

const OrdersPage = Type.Object({
  orders: Type.Array(Type.Union([OrderSummary, OrderAnswer])),
  next_after: NextAfterId,
});

const OrderParams = Type.Object({ order_id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });

const placeErrors = [409, 413, 415];

export function orderRoutes(app: FastifyInstance, { gate, store }: Services): void {
  app.post<{ Body: Static<typeof SeedOrderBody>; Headers: Static<typeof IdempotencyHeaders> }>(
    '/create_order',
    {
      config: { access: 'order', orderStrategy: (body) => (body as Static<typeof SeedOrderBody>).STRATEGY },
      schema: {
        summary: "Place an order in the seed's wire format",
        description:
          'Answers RESPONSE ACCEPTED when the order is valid for at least one user, with every field of POST /orders.',
        tags: ['orders'],
        body: SeedOrderBody,
        headers: IdempotencyHeaders,
        response: responses(SeedAnswer, ...placeErrors),
      },
    },
    async (request, reply) => {
      const { STRATEGY, INSTRUMENT, POSITION, QUANTITY } = request.body;
      const clientOrderId = request.headers['idempotency-key'] ?? null;
      request.placing = true;
      const placed = await gate.place(toOrder(STRATEGY, INSTRUMENT, POSITION, QUANTITY, clientOrderId));
      return sendPlaced(reply, placed, withResponseField(placed.json, placed.status));
    },
  );

  app.post<{ Body: Static<typeof OrderBody>; Headers: Static<typeof IdempotencyHeaders> }>(
    '/orders',
    {
      config: { access: 'order', orderStrategy: (body) => (body as Static<typeof OrderBody>).strategy },
      schema: {
        summary: 'Place an order',
        description:
          'Decides the order for every user of the strategy, applies it durably, and answers after the commit.',
        tags: ['orders'],
        body: OrderBody,
        headers: IdempotencyHeaders,
        response: responses(OrderAnswer, ...placeErrors),
      },
    },
    async (request, reply) => {
      const { strategy, instrument, position, quantity, client_order_id } = request.body;
      const header = request.headers['idempotency-key'];
      if (header !== undefined && client_order_id !== undefined && header !== client_order_id) {
        throw new HttpError(
          'INVALID_REQUEST',
          'body.client_order_id and the Idempotency-Key header differ',
          'client_order_id',
        );
      }
      request.placing = true;
      const placed = await gate.place(
        toOrder(strategy, instrument, position, quantity, client_order_id ?? header ?? null),
      );
      return sendPlaced(reply, placed, placed.json);
    },
  );

  app.get<{ Querystring: Static<typeof OrdersQuery> }>(
    '/orders',
    {
      config: { access: 'read' },
      schema: {
        summary: 'The order log, oldest first',
        description:
          "Every order received, rejected ones too. Page with after= (the next_after of the previous page: an order_id) and limit=; view=full for every user's verdict.",
        tags: ['orders'],
        querystring: OrdersQuery,
        response: responses(OrdersPage),
      },
    },
    async (request, reply) =>
      sendPage(
        reply,
        'orders',
        await store.orders({ ...request.query, view: request.query.view ?? 'compact' }),
      ),
  );

  app.get<{ Params: Static<typeof OrderParams> }>(
    '/orders/:order_id',
    {
      config: { access: 'read' },
      schema: {
        summary: 'One order of the log',
        tags: ['orders'],
        params: OrderParams,
        response: responses(OrderAnswer, 404),
      },
    },
    async (request, reply) => {
      const json = await store.order(request.params.order_id);
      if (json === undefined)
        throw new HttpError('ORDER_NOT_FOUND', `no order has order_id ${request.params.order_id}`);
      return reply.type('application/json').send(json);
    },
  );
}

function toOrder(
  strategy: string,
  instrument: string,
  position: string,
  quantity: number | undefined,
  clientOrderId: string | null,
): Order {
  // The schema has already checked the side and the quantity; parseSide only normalises its letter case.
  return { strategy, instrument, side: parseSide(position)!, quantity: quantity ?? 1, clientOrderId };
}

function sendPlaced(reply: FastifyReply, placed: PlacedOrder, body: string): FastifyReply {
  if (placed.replayed) reply.header('idempotent-replayed', 'true');
  return reply.type('application/json').send(body);
}
