// Open positions the profile in force no longer gives: they stay open and can still be closed with a
// SELL, but no BUY opens them again. Both stores say so at start, in the same words: first the users
// the profile removed while they held positions (named, since a typo in a profile removes users),
// then the positions of users still in it whose strategy or instrument it no longer gives.

import type { Logger } from 'pino';

/** Users a warning names, and positions it shows as examples; the rest are counted. */
const EXAMPLES_SHOWN_MAX = 5;

export class LeftPositions {
  readonly #isInProfile: (user: string) => boolean;
  /** Removed users, in the order met, with their open positions. */
  readonly #removed = new Map<string, number>();
  #removedPositions = 0;
  #closeOnly = 0;
  readonly #examples: string[] = [];

  constructor(isInProfile: (user: string) => boolean) {
    this.#isInProfile = isInProfile;
  }

  /** `positions` open positions of `user` that the profile in force does not give; `example` is one, "STRATEGY INSTRUMENT". */
  add(user: string, positions: number, example: string): void {
    if (!this.#isInProfile(user)) {
      this.#removed.set(user, (this.#removed.get(user) ?? 0) + positions);
      this.#removedPositions += positions;
      return;
    }
    this.#closeOnly += positions;
    if (this.#examples.length < EXAMPLES_SHOWN_MAX) this.#examples.push(`${user} ${example}`);
  }

  warn(logger: Logger): void {
    const users = this.#removed.size;
    if (users > 0) {
      const names = [...this.#removed.keys()].slice(0, EXAMPLES_SHOWN_MAX);
      const more = users > names.length ? ` and ${users - names.length} more` : '';
      const positions = this.#removedPositions;
      logger.warn(
        { users, positions, names },
        `${count(users, 'user')} who ${users === 1 ? 'holds' : 'hold'} ${count(positions, 'open position')} ` +
          `${users === 1 ? 'is' : 'are'} not in the profile in force: ${names.map((n) => JSON.stringify(n)).join(', ')}${more}; ` +
          'the positions stay open and can still be closed with a SELL, and no BUY opens new ones for them',
      );
    }
    if (this.#closeOnly > 0) {
      logger.warn(
        { count: this.#closeOnly, examples: this.#examples },
        `${this.#closeOnly} open positions are not in the profile in force (the user left the strategy or the instrument was removed): ` +
          'they stay open and can still be sold; no new BUY will open them',
      );
    }
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
