// An order as the gate sees it once the edge has validated it: names checked, side normalised.

export type Side = 'BUY' | 'SELL';

/** A name of a user, strategy or instrument: bounded, printable, no control characters. */
export const NAME_LENGTH_MAX = 64;
export const CLIENT_ORDER_ID_LENGTH_MAX = 64;

/** Letters, digits, space and the punctuation real symbols and names use (L&T, M&M, BAJAJ-AUTO, O'Neil). */
/** Lengths count characters (code points), as JSON Schema's maxLength does, not UTF-16 units. */
export const NAME_PATTERN = `^[\\p{L}\\p{N}][\\p{L}\\p{N} &'._-]{0,${NAME_LENGTH_MAX - 1}}$`;
const nameRegExp = new RegExp(NAME_PATTERN, 'u');

export interface Order {
  readonly strategy: string;
  readonly instrument: string;
  readonly side: Side;
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
