// What a new API key may be, checked alike by `ordergate keys create` and POST /keys: its role, the
// strategy of a strategy key, its label. Each edge words a problem its own way (a flag, a body field);
// the rules and the issuing live here once.

import { isValidName, NAME_LENGTH_MAX } from './domain/order.js';
import type { KeyRecord, KeyRole, KeyStore } from './store/key-store.js';
import { mintToken } from './tokens.js';

export const KEY_LABEL_LENGTH_MAX = 64;
/**
 * A label has no control characters (Unicode's Cc: U+0000–U+001F, U+007F–U+009F). Spelt as ranges
 * rather than \p{Cc}, so that JSON Schema tools and browsers read the same rule.
 */
export const KEY_LABEL_PATTERN = '^[^\\u0000-\\u001f\\u007f-\\u009f]+$';
const labelRegExp = new RegExp(KEY_LABEL_PATTERN, 'u');

export const KEY_LABEL_RULE = `1 to ${KEY_LABEL_LENGTH_MAX} characters without control characters`;
export const KEY_STRATEGY_RULE = `a strategy name (1 to ${NAME_LENGTH_MAX} letters, digits, spaces and & ' . _ -)`;

/** A key to create, checked. */
export interface KeySpec {
  readonly role: KeyRole;
  /** Set for a strategy key, and only then. */
  readonly strategy: string | null;
  readonly name: string | null;
  /** A strategy key whose token is accepted in the webhook URL only (see KeyRecord.webhook). */
  readonly webhook: boolean;
}

/** Why a key cannot be created as asked: the field, and what is wrong with it ("must be …"). */
export interface KeySpecProblem {
  readonly field: 'strategy' | 'name' | 'webhook';
  readonly problem: string;
}

/** The key asked for, or the first problem with it. Lengths count characters, as JSON Schema does. */
export function checkKeySpec(
  role: KeyRole,
  strategy: string | undefined,
  name: string | undefined,
  webhook = false,
): KeySpec | KeySpecProblem {
  // The schemas of both databases refuse it too (CHECK): a webhook places orders for one strategy.
  if (webhook && role !== 'strategy')
    return {
      field: 'webhook',
      problem: 'is only for a strategy key, which names the strategy it places orders for',
    };
  if (role === 'strategy' && strategy === undefined)
    return { field: 'strategy', problem: 'is required for a strategy key' };
  if (role !== 'strategy' && strategy !== undefined)
    return {
      field: 'strategy',
      problem: `is only for a strategy key, not for a${role === 'admin' ? 'n' : ''} ${role} key`,
    };
  if (strategy !== undefined && !isValidName(strategy))
    return { field: 'strategy', problem: `must be ${KEY_STRATEGY_RULE}` };
  if (name !== undefined && !isValidKeyLabel(name))
    return { field: 'name', problem: `must be ${KEY_LABEL_RULE}` };
  return { role, strategy: strategy ?? null, name: name ?? null, webhook };
}

export function isKeySpecProblem(checked: KeySpec | KeySpecProblem): checked is KeySpecProblem {
  return 'problem' in checked;
}

export function isValidKeyLabel(label: string): boolean {
  return [...label].length <= KEY_LABEL_LENGTH_MAX && labelRegExp.test(label);
}

/** Creates the key: its token is returned this once; the store keeps only the hash of its secret. */
export async function issueKey(
  keys: KeyStore,
  spec: KeySpec,
  nowMs: number,
): Promise<{ readonly record: KeyRecord; readonly token: string }> {
  const minted = mintToken();
  await keys.create({ id: minted.id, secretSha256: minted.secretSha256, ...spec, createdAtMs: nowMs });
  const record: KeyRecord = {
    id: minted.id,
    ...spec,
    createdAtMs: nowMs,
    lastUsedAtMs: null,
    revokedAtMs: null,
  };
  return { record, token: minted.token };
}
