// Names are case-sensitive: STRATEGY_A and strategy_a are two strategies, GRASIM and grasim two
// instruments. When an order is rejected for a name that differs only in letter case from one the
// profile knows, its answer says which was probably meant. The index is built once per profile;
// it is consulted only for rejected orders, never on an accepted one's path.

import type { Profile } from './profile.js';
import type { OrderReason } from './reasons.js';

/** Letter-case-folded name → the names of the profile that fold to it (nearly always one). */
type Folded = ReadonlyMap<string, readonly string[]>;

export class CaseHints {
  readonly #strategies: Folded;
  /** Per strategy, the instruments any of its users trades, folded. */
  readonly #instruments: ReadonlyMap<string, Folded>;

  constructor(profile: Profile) {
    const strategies = new Map<string, string[]>();
    const instruments = new Map<string, Map<string, string[]>>();
    // Identical lists are one array (see ProfileParser): each is folded once per strategy.
    const seen = new Map<string, Set<readonly string[]>>();
    for (const { subscriptions } of profile) {
      for (const { strategy, instruments: list } of subscriptions) {
        let lists = seen.get(strategy);
        if (lists === undefined) {
          lists = new Set();
          seen.set(strategy, lists);
          addFolded(strategies, strategy);
          instruments.set(strategy, new Map());
        }
        if (lists.has(list)) continue;
        lists.add(list);
        const folded = instruments.get(strategy)!;
        for (const instrument of list) addFolded(folded, instrument);
      }
    }
    this.#strategies = strategies;
    this.#instruments = instruments;
  }

  /** For a rejected order: "names are case-sensitive: did you mean …?", or null when no case slip explains it. */
  hint(strategy: string, instrument: string, reason: OrderReason | string | null): string | null {
    if (reason === 'STRATEGY_NOT_TRADED') {
      const meant = otherCases(this.#strategies, strategy);
      if (meant.length === 0) return null;
      const instruments = new Set(
        meant.flatMap((name) => otherCases(this.#instruments.get(name), instrument)),
      );
      const and = instruments.size === 0 ? '' : ` and ${[...instruments].join(' or ')}`;
      return `${CASE_SENSITIVE}: did you mean ${meant.join(' or ')}${and}?`;
    }
    if (reason === 'NO_USER_ELIGIBLE') {
      const meant = otherCases(this.#instruments.get(strategy), instrument);
      return meant.length === 0 ? null : `${CASE_SENSITIVE}: did you mean ${meant.join(' or ')}?`;
    }
    return null;
  }
}

const CASE_SENSITIVE = 'names are case-sensitive';

function addFolded(folded: Map<string, string[]>, name: string): void {
  const key = name.toLowerCase();
  const names = folded.get(key);
  if (names === undefined) folded.set(key, [name]);
  else if (!names.includes(name)) names.push(name);
}

/** The known names that differ from `name` in letter case only; none when `name` itself is known. */
function otherCases(folded: Folded | undefined, name: string): readonly string[] {
  const names = folded?.get(name.toLowerCase());
  if (names === undefined || names.includes(name)) return [];
  return names;
}
