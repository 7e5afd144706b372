// How an order's quantity becomes each user's: a subscription carries a multiplier (a decimal, exact
// to MULTIPLIER_DECIMALS places) or a fixed quantity. No binary floating point anywhere: a multiplier
// is parsed from its decimal text into an integer count of ten-thousandths, the product is an integer,
// and the division rounds down exactly. Every bound below keeps that product a safe integer.

/** An order's quantity: whole units, 1 to QUANTITY_MAX. */
export const QUANTITY_MAX = 100_000_000;
/** A multiplier's largest value and its decimal places: QUANTITY_MAX × 1000 × 10⁴ < 2⁵³. */
export const MULTIPLIER_MAX = 1000;
export const MULTIPLIER_DECIMALS = 4;
const SCALE = 10 ** MULTIPLIER_DECIMALS;

/** A subscription's sizing: ten-thousandths of a unit per unit ordered, or a fixed quantity. */
export interface Sizing {
  /** The multiplier × 10⁴ (an integer); ignored when `fixed` is set. */
  readonly multiplierE4: number;
  /** A fixed quantity per order, whatever the order's quantity; null for a multiplier. */
  readonly fixed: number | null;
}

/** One unit per unit ordered: the default, and what every seed profile's subscription has. */
export const UNIT_SIZING: Sizing = Object.freeze({ multiplierE4: SCALE, fixed: null });

export const QUANTITY_RULE = `a whole number from 1 to ${QUANTITY_MAX.toLocaleString('en-US')}`;
export const MULTIPLIER_RULE = `a positive decimal up to ${MULTIPLIER_MAX} with at most ${MULTIPLIER_DECIMALS} decimal places, e.g. "0.5" or 2`;

/** The user's quantity for an order: rounded down to a whole unit, so it may be 0. */
export function sizedQuantity(sizing: Sizing, quantity: number): number {
  if (sizing.fixed !== null) return sizing.fixed;
  if (sizing.multiplierE4 === SCALE) return quantity;
  return Math.floor((quantity * sizing.multiplierE4) / SCALE);
}

export function isUnit(sizing: Sizing): boolean {
  return sizing.fixed === null && sizing.multiplierE4 === SCALE;
}

const DECIMAL = /^(\d{1,4})(?:\.(\d{1,4}))?$/;

/**
 * A multiplier from JSON: a number or a string holding a decimal ("0.5", "2", "1.25"). A number is read
 * by its shortest decimal text (what JSON wrote), so 0.1 is exactly one tenth. Null when it is not one.
 */
export function parseMultiplier(value: unknown): number | null {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    text = String(value);
  } else if (typeof value === 'string') text = value.trim();
  else return null;
  const match = DECIMAL.exec(text);
  if (match === null) return null;
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? '').padEnd(MULTIPLIER_DECIMALS, '0'));
  const e4 = whole * SCALE + fraction;
  if (e4 <= 0 || e4 > MULTIPLIER_MAX * SCALE) return null;
  return e4;
}

/** A quantity from JSON: an integer, or a string of digits (a webhook's numbers arrive as text). */
export function parseQuantity(value: unknown): number | null {
  const number = typeof value === 'string' && /^\d{1,9}$/.test(value.trim()) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number)) return null;
  return number >= 1 && number <= QUANTITY_MAX ? number : null;
}

/** The multiplier as the shortest decimal text: what the profile, the API and the log show. */
export function multiplierText(e4: number): string {
  const whole = Math.floor(e4 / SCALE);
  const fraction = String(e4 % SCALE)
    .padStart(MULTIPLIER_DECIMALS, '0')
    .replace(/0+$/, '');
  return fraction === '' ? String(whole) : `${whole}.${fraction}`;
}

/** The same sizing as one shared object per distinct value: 100,000 users share a handful. */
export class SizingPool {
  readonly #known = new Map<string, Sizing>();

  of(multiplierE4: number, fixed: number | null): Sizing {
    if (fixed === null && multiplierE4 === SCALE) return UNIT_SIZING;
    const key = fixed === null ? `m${multiplierE4}` : `q${fixed}`;
    let sizing = this.#known.get(key);
    if (sizing === undefined) {
      sizing = Object.freeze({ multiplierE4: fixed === null ? multiplierE4 : SCALE, fixed });
      this.#known.set(key, sizing);
    }
    return sizing;
  }
}
