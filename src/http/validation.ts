// Turns a schema violation into one sentence that names the field and says what is allowed.

import type { FastifySchemaValidationError } from 'fastify';
import { NAME_RULE } from '../domain/order.js';
import { unknownFieldHint } from './field-hints.js';

const PATTERN_RULES: Record<string, string> = {
  POSITION: 'BUY or SELL',
  position: 'BUY or SELL',
  client_order_id: 'printable ASCII without spaces',
  'idempotency-key': 'printable ASCII without spaces',
};

/** What the route knows of the part that failed: its fields, and what was sent. */
export interface PartFacts {
  /** `POST /create_order`: the method and the route's path. */
  readonly route: string;
  /** The fields the part's schema names, at its top level. */
  readonly known: readonly string[];
  /** The part as it was received (the parsed body, the query string). */
  readonly input: unknown;
}

const NO_FACTS: PartFacts = { route: '', known: [], input: undefined };

export function describeValidation(
  errors: readonly FastifySchemaValidationError[],
  context: string,
  facts: PartFacts = NO_FACTS,
): { message: string; field: string | undefined } {
  const first = errors[0];
  if (first === undefined) return { message: `${context} is invalid`, field: undefined };
  const params = first.params as Record<string, unknown>;
  const path = first.instancePath.split('/').filter(Boolean).join('.');
  const at = (field: string) => `${context}.${field}`;
  switch (first.keyword) {
    case 'required': {
      // A misspelt field is both unknown and, under its right name, missing; the schema says which
      // is missing first, but the misspelling is the news.
      const unknown = path === '' ? firstUnknownField(facts) : undefined;
      if (unknown !== undefined) return unknownField(unknown, context, facts);
      const field = joinPath(path, String(params.missingProperty));
      return { message: `${at(field)} is required`, field };
    }
    case 'additionalProperties': {
      const field = joinPath(path, String(params.additionalProperty));
      if (path === '') return unknownField(field, context, facts);
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

function unknownField(field: string, context: string, facts: PartFacts) {
  const hint = facts.known.length === 0 ? '' : `: ${unknownFieldHint(field, facts.known, facts.route)}`;
  return { message: `${context}.${field} is not a known field${hint}`, field };
}

function firstUnknownField({ known, input }: PartFacts): string | undefined {
  if (known.length === 0 || typeof input !== 'object' || input === null || Array.isArray(input))
    return undefined;
  return Object.keys(input).find((field) => !known.includes(field));
}

function joinPath(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
