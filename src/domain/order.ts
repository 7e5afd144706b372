// An order as the gate sees it once the edge has validated it: names checked, side normalised.

import { LETTER_OR_DIGIT } from './name-chars.js';

export type Side = 'BUY' | 'SELL';

/** A name of a user, strategy or instrument: bounded, printable, no control characters. */
export const NAME_LENGTH_MAX = 64;
export const CLIENT_ORDER_ID_LENGTH_MAX = 64;

/**
 * Letters and digits (Unicode's \p{L} and \p{N}), space and the punctuation real symbols and names use
 * (L&T, M&M, BAJAJ-AUTO, O'Neil), starting with a letter or digit. Spelled out (name-chars.ts) rather
 * than as \p{L}, so that the OpenAPI document's tools and browsers, which compile patterns without the
 * `u` flag, apply the same rule as the server (whose Ajv compiles it without the flag too). Lengths count
 * characters (code points), as JSON Schema's maxLength does: an astral letter is one repetition.
 */
/** The rule in words, for the messages that refuse a name. */
export const NAME_RULE = `1 to ${NAME_LENGTH_MAX} letters, digits, spaces or & ' . _ -, starting with a letter or digit`;
export const NAME_PATTERN = `^${LETTER_OR_DIGIT}(?:${LETTER_OR_DIGIT}|[ &'._-]){0,${NAME_LENGTH_MAX - 1}}$`;
const nameRegExp = new RegExp(NAME_PATTERN);

export interface Order {
  readonly strategy: string;
  readonly instrument: string;
  readonly side: Side;
  /** How many units the strategy trades: each user's fill is this sized by their subscription. */
  readonly quantity: number;
  readonly clientOrderId: string | null;
}

export function isValidName(name: string): boolean {
  return nameRegExp.test(name);
}

/** Any letter case is accepted on the wire; the log and the answer always say BUY or SELL. */
export function parseSide(text: string): Side | null {
  const upper = text.toUpperCase();
  if (upper === 'BUY' || upper === 'SELL') return upper;
  return null;
}
