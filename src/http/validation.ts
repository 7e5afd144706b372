// Turns a schema violation into one sentence that names the field and says what is allowed.

import type { FastifySchemaValidationError } from 'fastify';
import { NAME_RULE } from '../domain/order.js';

const PATTERN_RULES: Record<string, string> = {
  POSITION: 'BUY or SELL',
  position: 'BUY or SELL',
  client_order_id: 'printable ASCII without spaces',
  'idempotency-key': 'printable ASCII without spaces',
};

export function describeValidation(
  errors: readonly FastifySchemaValidationError[],
  context: string,
): { message: string; field: string | undefined } {
  const first = errors[0];
  if (first === undefined) return { message: `${context} is invalid`, field: undefined };
  const params = first.params as Record<string, unknown>;
  const path = first.instancePath.split('/').filter(Boolean).join('.');
  const at = (field: string) => `${context}.${field}`;
  switch (first.keyword) {
    case 'required': {
      const field = joinPath(path, String(params.missingProperty));
      return { message: `${at(field)} is required`, field };
    }
    case 'additionalProperties': {
      const field = joinPath(path, String(params.additionalProperty));
      return { message: `${at(field)} is not a known field`, field };
    }
    case 'pattern': {
      const rule = PATTERN_RULES[path] ?? NAME_RULE;
      return { message: `${at(path)} must be ${rule}`, field: path };
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).join(', ');
      return { message: `${at(path)} must be one of ${allowed}`, field: path };
    }
    case 'type':
      if (path === '')
        return { message: `${context} must be a JSON ${String(params.type)}`, field: undefined };
      return { message: `${at(path)} must be ${withArticle(String(params.type))}`, field: path };
    default:
      return {
        message: path === '' ? `${context} ${first.message}` : `${at(path)} ${first.message}`,
        field: path || undefined,
      };
  }
}

function joinPath(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
