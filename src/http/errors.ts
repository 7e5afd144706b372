// Every error the API answers with, in one closed catalogue: a stable code, its HTTP status and
// what it means. The edge maps every failure to one of these; test/http/errors.test.ts keeps
// README.md's table in sync with this list.

export const HTTP_ERRORS = {
  INVALID_REQUEST: {
    status: 400,
    description:
      'A field is missing, has the wrong type, or a value is not allowed; the message names the field.',
  },
  INVALID_JSON: { status: 400, description: 'The body is not valid JSON.' },
  EMPTY_BODY: { status: 400, description: 'The request needs a JSON body and had none.' },
  UNAUTHORIZED: {
    status: 401,
    description:
      'API keys exist and the request had none, or one that is unknown, revoked or malformed (send Authorization: Bearer TOKEN or X-API-Key: TOKEN).',
  },
  FORBIDDEN: {
    status: 403,
    description:
      "The key's role does not allow this: a read key may only GET the book and the log, a strategy key may only place orders for its own strategy, only an admin key may use the key API (/keys); the message says which.",
  },
  ORDER_NOT_FOUND: { status: 404, description: 'No order has this order_id.' },
  USER_NOT_FOUND: { status: 404, description: 'No user of this name is known.' },
  KEY_NOT_FOUND: { status: 404, description: 'DELETE /keys/:id: no API key has this id.' },
  SUBSCRIPTION_NOT_FOUND: {
    status: 404,
    description: 'DELETE /users/:name/subscriptions/:strategy: the user is not subscribed to this strategy.',
  },
  NOT_FOUND: {
    status: 404,
    description: 'No such route (check the method and the path; GET /docs lists them).',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    description: 'The request line, headers or body came too slowly (over 3 s for the headers, 5 s in all).',
  },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    description: 'The client_order_id was already used for a different order.',
  },
  SQUARED_OFF: {
    status: 409,
    description:
      'The scheduled square-off of this trading day is already in the log (it happens once a day).',
  },
  BODY_TOO_LARGE: {
    status: 413,
    description: 'The body is over 64 KiB (over 4 KiB on the TradingView webhook).',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    description: 'The request line and headers are over 16 KiB.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    description:
      'The body must be sent as Content-Type: application/json (the TradingView webhook also takes text/plain).',
  },
  RATE_LIMITED: {
    status: 429,
    description:
      'The key (in open mode, the address) sent over RATE_LIMIT requests in a second; Retry-After says in how many seconds to try again.',
  },
  AUTH_RATE_LIMITED: {
    status: 429,
    description:
      'The client address is held back before its key is looked up: it sent AUTH_FAILURES_MAX (20) requests with a key that was not valid (401) within AUTH_FAILURE_WINDOW_MS (10 s), or has AUTH_CHECKS_WAITING_MAX (1000) requests waiting for their key to be checked; Retry-After says in how many seconds to try again.',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    description:
      'The database could not commit; `outcome` says whether the order was certainly not applied (NOT_APPLIED) or may have been (UNKNOWN: retry with the same client_order_id to learn which).',
  },
  OVERLOADED: {
    status: 503,
    description:
      'ORDERS_IN_FLIGHT_MAX orders (or 256 MiB of their answers) already wait for their commit; nothing was applied; Retry-After says when to try again.',
  },
  NOT_READY: { status: 503, description: 'GET /health: the database or the profile is not ready yet.' },
  SHUTTING_DOWN: {
    status: 503,
    description:
      'The server is draining before it stops; nothing was applied: retry on another instance or after the restart.',
  },
  INTERNAL_ERROR: {
    status: 500,
    description:
      'A bug; please report it with the log line. On an order, `outcome` says whether it may have been applied (UNKNOWN: retry with the same client_order_id).',
  },
  ALERT_INVALID: {
    status: 400,
    description:
      'POST /webhooks/tradingview/:token: the alert message is not an order the gate can read (an unknown action, a ticker that is no name, contracts not a whole number, a placeholder TradingView left unfilled); `field` and the message name what, and the server logs it with the key id.',
  },
  SHORT_NOT_SUPPORTED: {
    status: 422,
    description:
      'POST /webhooks/tradingview/:token: the alert opens or covers a short (action short, a SELL leaving position_size below 0, a BUY leaving it at or below 0); the gate holds no shorts, nothing was placed.',
  },
} as const satisfies Record<string, { status: number; description: string }>;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

export class HttpError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = HTTP_ERRORS[code].status;
  }
}

export interface ErrorBody {
  error: HttpErrorCode;
  message: string;
  field?: string;
  /** On the order routes' 5xx answers: whether the order was certainly not applied, or may have been. */
  outcome?: 'NOT_APPLIED' | 'UNKNOWN';
}
