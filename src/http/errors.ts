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
  ORDER_NOT_FOUND: { status: 404, description: 'No order has this order_id.' },
  USER_NOT_FOUND: { status: 404, description: 'No user of this name is known.' },
  NOT_FOUND: {
    status: 404,
    description: 'No such route (check the method and the path; GET /docs lists them).',
  },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    description: 'The client_order_id was already used for a different order.',
  },
  BODY_TOO_LARGE: { status: 413, description: 'The body is over 64 KiB.' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    description: 'The body must be sent as Content-Type: application/json.',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    description:
      'The database could not commit, or the server is starting or stopping; nothing was applied: retry.',
  },
  NOT_READY: { status: 503, description: 'GET /health: the database or the profile is not ready yet.' },
  INTERNAL_ERROR: {
    status: 500,
    description: 'A bug: the request was not applied; please report it with the log line.',
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
}
