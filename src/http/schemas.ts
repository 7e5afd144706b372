// Schemas shared by the routes: names, paging, the order answer and the error body. The same
// schemas validate requests, document the API (OpenAPI at /openapi.json) and give the TS types.

import { type TSchema, Type } from '@sinclair/typebox';
import { CLIENT_ORDER_ID_LENGTH_MAX, NAME_LENGTH_MAX, NAME_PATTERN, NAME_RULE } from '../domain/order.js';
import { ORDER_REASONS, USER_REASONS } from '../domain/reasons.js';
import { QUANTITY_MAX } from '../domain/sizing.js';
import {
  CURSOR_LENGTH_MAX,
  CURSOR_PATTERN,
  PAGE_BYTES_MAX,
  PAGE_LIMIT_DEFAULT,
  PAGE_LIMIT_MAX,
} from '../store/page.js';
import { HTTP_ERRORS } from './errors.js';

/**
 * The rule for every name, once: the OpenAPI document's component `Name`, which each name refers to,
 * since its pattern spells out Unicode's letters and digits (about 20 KB) and is used some twenty times.
 */
export const NameSchema = Type.String({
  $id: 'Name',
  minLength: 1,
  maxLength: NAME_LENGTH_MAX,
  pattern: NAME_PATTERN,
  description: `A name of a user, strategy or instrument: ${NAME_RULE}. Case-sensitive: STRATEGY_A and strategy_a are two names.`,
});

/** A name, described where it is used: allOf keeps the description, which OpenAPI 3.0 drops beside a $ref. */
export const Name = (description: string) =>
  Type.Unsafe<string>({ allOf: [{ $ref: NameSchema.$id }], description });

export const Side = Type.String({
  pattern: '^([Bb][Uu][Yy]|[Ss][Ee][Ll][Ll])$',
  description: 'BUY or SELL, in any letter case',
  examples: ['BUY'],
});

export const CLIENT_ORDER_ID_PATTERN = '^[\\x21-\\x7E]+$';
export const ClientOrderId = Type.String({
  minLength: 1,
  maxLength: CLIENT_ORDER_ID_LENGTH_MAX,
  pattern: CLIENT_ORDER_ID_PATTERN,
  description: `Your id for this order (1 to ${CLIENT_ORDER_ID_LENGTH_MAX} printable ASCII characters, no spaces); a retry with the same id is answered from the log and applies nothing`,
});

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(ClientOrderId),
});

const Timestamp = Type.String({ format: 'date-time' });

export const Quantity = Type.Integer({
  minimum: 1,
  maximum: QUANTITY_MAX,
  default: 1,
  description:
    "Whole units (default 1). Each user's BUY is this times their subscription's multiplier, rounded down (or their fixed quantity); a SELL closes the whole position whatever this says.",
});

export const OrderAnswer = Type.Object({
  order_id: Type.Integer({ description: 'Increasing; the order of the log' }),
  status: Type.Union([Type.Literal('ACCEPTED'), Type.Literal('REJECTED')]),
  reason: Type.Union([Type.Null(), ...ORDER_REASONS.map((r) => Type.Literal(r.code))], {
    description: 'Why a REJECTED order concerns no one or suits no one; null when ACCEPTED',
  }),
  hint: Type.Optional(
    Type.String({
      description:
        'Only on a REJECTED order whose strategy or instrument differs from a known one in letter case alone: names are case-sensitive, and this says which name was probably meant. Not kept in the order log.',
    }),
  ),
  strategy: Type.String(),
  instrument: Type.String(),
  position: Type.Union([Type.Literal('BUY'), Type.Literal('SELL')]),
  quantity: Type.Optional(
    Type.Integer({ description: "The order's quantity (absent on orders logged before quantities)" }),
  ),
  client_order_id: Type.Union([Type.String(), Type.Null()]),
  received_at: Timestamp,
  accepted: Type.Array(
    Type.Object({
      user: Type.String(),
      quantity: Type.Optional(
        Type.Integer({
          description: "BUY: the order's quantity sized by the user's subscription; SELL: the whole position",
        }),
      ),
      buy_order_id: Type.Optional(Type.Integer({ description: 'SELL: the BUY whose position this closes' })),
      opened_at: Type.Optional(Timestamp),
    }),
    { description: 'The users the order was applied for' },
  ),
  rejected: Type.Array(
    Type.Object({ user: Type.String(), reason: Type.Union(USER_REASONS.map((r) => Type.Literal(r.code))) }),
    { description: 'The users of the strategy the order was not valid for, with why' },
  ),
});

export const SeedAnswer = Type.Composite([
  Type.Object({ RESPONSE: Type.Union([Type.Literal('ACCEPTED'), Type.Literal('REJECTED')]) }),
  OrderAnswer,
]);

export const ErrorBody = Type.Object({
  error: Type.Union(Object.keys(HTTP_ERRORS).map((code) => Type.Literal(code))),
  message: Type.String(),
  field: Type.Optional(Type.String()),
  outcome: Type.Optional(
    Type.Union([Type.Literal('NOT_APPLIED'), Type.Literal('UNKNOWN')], {
      description:
        'On a 5xx answer to an order: NOT_APPLIED, the order certainly changed nothing; UNKNOWN, it may have been applied (retry with the same client_order_id to learn which)',
    }),
  ),
});

export const BookFilters = {
  user: Type.Optional(Name('only this user')),
  strategy: Type.Optional(Name('only this strategy')),
  instrument: Type.Optional(Name('only this instrument')),
};

export const Limit = Type.Integer({
  minimum: 1,
  maximum: PAGE_LIMIT_MAX,
  default: PAGE_LIMIT_DEFAULT,
  description: `Rows at most on this page (a page also stops before ${PAGE_BYTES_MAX / 1024 / 1024} MiB of answer)`,
});
export const After = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  default: 0,
  description: 'Only entries after this id: the next_after of the previous page',
});
/** A text cursor: the next_after of the previous page, passed back as it was. */
export const AfterCursor = Type.Optional(
  Type.String({
    maxLength: CURSOR_LENGTH_MAX,
    pattern: CURSOR_PATTERN,
    description: 'The next_after of the previous page, as it was given',
  }),
);

const NextAfter = (type: TSchema) =>
  Type.Union([type, Type.Null()], { description: 'Pass as after= for the next page; null on the last page' });
export const NextAfterId = NextAfter(Type.Integer());
export const NextAfterCursor = NextAfter(Type.String());

/**
 * A response per status: the success schema plus the error body for every error this route can give,
 * the refusals of a key (401, 403) and of the rate limit (429) included.
 */
export function responses(ok: TSchema, ...statuses: number[]): Record<number, TSchema> {
  const result: Record<number, TSchema> = { 200: ok };
  for (const status of [400, 401, 403, 429, 500, 503, ...statuses]) result[status] = ErrorBody;
  return result;
}
