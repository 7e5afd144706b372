// The closed list of reasons an order is denied, per user and per order. Stable, append-only:
// a code and its number are never reused or renumbered. The states in force (halts, close-only) are
// checked first, then the rest in the order listed; the first that applies wins.
// test/domain/reasons.test.ts keeps README.md's table in sync.

export interface ReasonInfo {
  readonly code: string;
  readonly number: number;
  readonly description: string;
}

/** Why an order was denied for one user. */
export const USER_REASONS = [
  {
    code: 'INSTRUMENT_NOT_IN_STRATEGY',
    number: 1,
    description:
      "The user's profile does not give this strategy this instrument (and, for a SELL, the user holds no position here).",
  },
  {
    code: 'POSITION_ALREADY_OPEN',
    number: 2,
    description:
      "BUY: the user already holds an open position for this strategy and instrument (in `account` scope: in this instrument, from any of the user's strategies).",
  },
  {
    code: 'NO_OPEN_POSITION',
    number: 3,
    description:
      'SELL: the user holds no open position for this strategy and instrument to close (in `account` scope: none in this instrument, from any strategy).',
  },
  {
    code: 'STRATEGY_HALTED',
    number: 4,
    description: 'The strategy is HALTED (PUT /strategies/:name/state): nothing goes through for it.',
  },
  {
    code: 'USER_HALTED',
    number: 5,
    description: 'The user is HALTED (PUT /users/:name/state): nothing goes through for them.',
  },
  {
    code: 'GATE_HALTED',
    number: 6,
    description: 'The whole gate is HALTED (PUT /state): nothing goes through.',
  },
  {
    code: 'CLOSE_ONLY',
    number: 7,
    description:
      'BUY: the gate, the strategy or the user is CLOSE_ONLY (set by an operator, or after a square-off): only SELLs go through.',
  },
  {
    code: 'QUANTITY_ZERO',
    number: 8,
    description:
      "BUY: the order's quantity times the user's multiplier rounds down to 0 whole units, so there is nothing to buy.",
  },
] as const satisfies readonly ReasonInfo[];

/** Why a whole order was rejected. Present only on REJECTED orders. */
export const ORDER_REASONS = [
  {
    code: 'STRATEGY_NOT_TRADED',
    number: 1,
    description:
      'No user trades this strategy and nobody holds a position in it, so the order concerns no one.',
  },
  {
    code: 'NO_USER_ELIGIBLE',
    number: 2,
    description:
      'The order concerns some users but is valid for none of them; each one is listed with its reason.',
  },
  {
    code: 'GATE_HALTED',
    number: 3,
    description: 'The whole gate is HALTED: nothing goes through.',
  },
  {
    code: 'STRATEGY_HALTED',
    number: 4,
    description: "The order's strategy is HALTED: nothing goes through for it.",
  },
  {
    code: 'CLOSE_ONLY',
    number: 5,
    description: 'A BUY while the gate or its strategy is CLOSE_ONLY: only SELLs go through.',
  },
] as const satisfies readonly ReasonInfo[];

export type UserReason = (typeof USER_REASONS)[number]['code'];
export type OrderReason = (typeof ORDER_REASONS)[number]['code'];
