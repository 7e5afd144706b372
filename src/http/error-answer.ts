// The answer to every failed request, chosen in one place: the catalogue's code, its message, the
// field, and, for an order's 5xx, whether the order was certainly not applied or may have been. Pure:
// test/http/error-answer.test.ts checks what a bug's answer says.

import type { FastifyError } from 'fastify';
import { OUTCOME_TEXT, type Outcome, StoreError } from '../store/store.js';
import { type ErrorBody, HTTP_ERRORS, HttpError, type HttpErrorCode } from './errors.js';
import { describeValidation, type PartFacts } from './validation.js';
import { redactWebhookUrl } from './webhook-paths.js';

export const BODY_BYTES_MAX = 64 * 1024;

/** What the answer depends on besides the error. */
export interface FailedRequest {
  readonly method: string;
  readonly url: string;
  /** No route has this path. */
  readonly is404: boolean;
  readonly noBody: boolean;
  /** An order route, and whether its order reached the gate. */
  readonly ordering: boolean;
  readonly placing: boolean;
  /** The route's body limit, when it has one of its own (the webhook's is smaller). */
  readonly bodyBytesMax?: number;
  /** For a schema violation: the route's fields of the part that failed, and what was sent. */
  readonly partFacts?: (context: string) => PartFacts;
}

export function errorAnswer(
  error: FastifyError,
  request: FailedRequest,
): { status: number; body: ErrorBody } {
  // A refusal (no key, draining) stands; any other error on a path with no route is the 404 it is.
  const found =
    request.is404 && !(error instanceof HttpError)
      ? notFound(request.method, request.url)
      : toErrorBody(error, request);
  const status = HTTP_ERRORS[found.error].status;
  // Only an order can be applied: its 5xx answers say whether it was, as far as is known.
  if (!request.ordering || status < 500) return { status, body: found };
  return { status, body: { ...found, outcome: outcomeOf(error, request.placing) } };
}

const FASTIFY_CODES: Record<string, HttpErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Fastify parses the body of a request to no route before it finds there is none: the route is the news. */
function notFound(method: string, url: string): ErrorBody {
  const path = redactWebhookUrl(url.split('?')[0]!);
  return { error: 'NOT_FOUND', message: `no route ${method} ${path}; GET /docs lists the API` };
}

function toErrorBody(error: FastifyError, request: FailedRequest): ErrorBody {
  if (error instanceof HttpError)
    return withField({ error: error.code, message: error.message }, error.field);
  if (error instanceof StoreError) return { error: error.code, message: error.message };
  if (error.validation !== undefined && error.validationContext === 'body' && request.noBody) {
    return { error: 'EMPTY_BODY', message: 'the request needs a JSON body and had none' };
  }
  if (error.validation !== undefined) {
    const context = error.validationContext ?? 'request';
    const { message, field } = describeValidation(error.validation, context, request.partFacts?.(context));
    return withField({ error: 'INVALID_REQUEST', message }, field);
  }
  const known = FASTIFY_CODES[error.code];
  if (known === 'INVALID_JSON')
    return { error: known, message: `the body is not valid JSON: ${error.message}` };
  if (known === 'BODY_TOO_LARGE')
    return { error: known, message: `the body is over ${request.bodyBytesMax ?? BODY_BYTES_MAX} bytes` };
  if (known === 'UNSUPPORTED_MEDIA_TYPE') {
    return { error: known, message: 'send the body as JSON with Content-Type: application/json' };
  }
  if (known === 'EMPTY_BODY') return { error: known, message: 'the request needs a JSON body and had none' };
  if (known !== undefined) return { error: known, message: error.message };
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { error: 'INVALID_REQUEST', message: error.message };
  return { error: 'INTERNAL_ERROR', message: internalErrorMessage(request) };
}

/** What a bug's answer can truthfully say: an order that reached the gate may have been applied. */
function internalErrorMessage({ ordering, placing }: FailedRequest): string {
  const report = 'please report it with the log line';
  if (!ordering) return `an internal error occurred; this request changes nothing; ${report}`;
  if (!placing)
    return `an internal error occurred before the order reached the gate: ${OUTCOME_TEXT.NOT_APPLIED}; ${report}`;
  return `an internal error occurred while the order was placed: ${OUTCOME_TEXT.UNKNOWN}; ${report}`;
}

function outcomeOf(error: unknown, placing: boolean): Outcome {
  if (error instanceof StoreError) return error.outcome;
  // A refusal before the gate (draining, a key that could not be checked) applied nothing.
  if (error instanceof HttpError || !placing) return 'NOT_APPLIED';
  return 'UNKNOWN';
}

function withField(body: ErrorBody, field: string | undefined): ErrorBody {
  return field === undefined ? body : { ...body, field };
}
