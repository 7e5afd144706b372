// What serve must know of a database before it opens it, since opening writes (migrations, the
// profile): the profile in force, if any (none: the database is new), and whether an API key exists.
// Read only: a start that is then refused leaves the database as it was. store/open.ts reads it.

/** The profile in force: its version, and its file's text as it was stored, read only when asked for. */
export interface StoredProfile {
  readonly version: number;
  readonly loadedAtMs: number;
  /** Read on a connection of its own: a start that uses the profile file never reads the stored copy (30 MB at 100,000 users). */
  read(): Promise<string>;
}

export interface DatabaseGlance {
  /** Null on a new database: no profile was ever stored in it. */
  readonly profileInForce: StoredProfile | null;
  /** Whether any API key exists (a revoked one counts: keys never go back to open mode). */
  readonly hasKeys: boolean;
}

export const NEW_DATABASE: DatabaseGlance = { profileInForce: null, hasKeys: false };
