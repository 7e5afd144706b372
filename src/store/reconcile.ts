// What start-up does with a profile file on a database that already has users: the database is the
// source of truth, so a file that differs from the users in force is reported, and applied (as an
// import, a record of the log) only when asked. The same for both stores.

import type { Logger } from 'pino';
import type { Profile } from '../domain/profile.js';
import type { GateStates } from '../domain/states.js';
import type { Directory, ProfileDifference } from './directory.js';
import { profileDifference } from './directory.js';
import type { Store } from './store.js';

export interface ProfileFile {
  readonly profile: Profile;
  readonly text: string;
  /** Apply it when it differs (IMPORT_PROFILE). */
  readonly importProfile?: boolean;
}

export async function reconcileProfile(
  store: Pick<Store, 'change'>,
  directory: Directory,
  file: ProfileFile,
  logger: Logger,
): Promise<void> {
  const difference = profileDifference(file.profile, directory);
  if (difference.added.length + difference.removed.length + difference.changed.length === 0) return;
  const counts = {
    usersAdded: difference.added.length,
    usersRemoved: difference.removed.length,
    usersChanged: difference.changed.length,
  };
  if (file.importProfile === true) {
    const result = await store.change(
      { kind: 'import', profile: file.profile, text: file.text },
      { keyId: null, atMs: Date.now() },
    );
    logger.warn(
      { version: result.seq, ...counts },
      "profile file imported at start (--import-profile): the users in force are now the file's",
    );
    return;
  }
  logger.warn(
    { ...counts, examples: examples(difference) },
    'the profile file differs from the users in force in the database, which is the source of truth: nothing was applied; ' +
      'run `ordergate import FILE` against the running server, or start with --import-profile, to apply it',
  );
}

function examples(difference: ProfileDifference): string[] {
  return [
    ...difference.added.slice(0, 3).map((user) => `added ${user}`),
    ...difference.removed.slice(0, 3).map((user) => `removed ${user}`),
    ...difference.changed.slice(0, 3).map((user) => `changed ${user}`),
  ];
}

/** A row of the states table: scope, target, state, reason, seq, at (ms), key id, until (ms). */
export type StateRow = readonly [
  string,
  string,
  'CLOSE_ONLY' | 'HALTED',
  string,
  number,
  number,
  string | null,
  number | null,
];

/** The states in force, from the rows of their table (the same on both stores). */
export function loadStateRows(states: GateStates, rows: Iterable<StateRow>): void {
  states.clear();
  for (const [scope, target, state, reason, seq, atMs, keyId, untilMs] of rows) {
    if (scope === 'square-off') {
      states.closeOnlyUntilMs = untilMs ?? 0;
      states.closeOnlySince = { seq, atMs };
      continue;
    }
    const entry = { state, reason, seq, atMs, keyId };
    if (scope === 'gate') states.gate = entry;
    else states.set(scope as 'strategy' | 'user', scope === 'user' ? Number(target) : target, entry);
  }
}
