// API key tokens: og_<id>_<secret>. The id is public and finds the key by primary key; the secret is
// 32 random bytes (base64url), of which the database keeps only the SHA-256. A token with 256 bits
// of randomness needs no slow, salted hash: nobody can guess it, and SHA-256 keeps a stolen database
// from yielding usable keys.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY_ID_BYTES = 6;
/** A key's public id: 12 lowercase hex digits. */
export const KEY_ID_PATTERN = `^[0-9a-f]{${2 * KEY_ID_BYTES}}$`;
const SECRET_BYTES = 32;
/** og_, 12 hex digits, _, 43 base64url characters. */
const TOKEN_PATTERN = /^og_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const TOKEN_LENGTH = 3 + 2 * KEY_ID_BYTES + 1 + 43;

export interface Token {
  readonly id: string;
  readonly secret: string;
}

/** A new random key: its id, the token to hand out once, and the hash to store. */
export function mintToken(): { id: string; token: string; secretSha256: string } {
  const id = randomBytes(KEY_ID_BYTES).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { id, token: `og_${id}_${secret}`, secretSha256: sha256Hex(secret) };
}

/** The id and secret of a well-formed token, or null. */
export function parseToken(text: string): Token | null {
  if (text.length !== TOKEN_LENGTH) return null;
  const match = TOKEN_PATTERN.exec(text);
  return match === null ? null : { id: match[1]!, secret: match[2]! };
}

/** Compares in constant time, so the answer's timing says nothing about how much of the secret was right. */
export function secretMatches(secret: string, storedSha256: string): boolean {
  const stored = Buffer.from(storedSha256, 'hex');
  const given = createHash('sha256').update(secret).digest();
  return stored.length === given.length && timingSafeEqual(stored, given);
}

function sha256Hex(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
