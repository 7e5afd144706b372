// Opens the store a DATABASE_URL names: the embedded SQLite store or the shared PostgreSQL one.

import type { Logger } from 'pino';
import type { DatabaseConfig } from '../config.js';
import type { PositionScope } from '../domain/book.js';
import type { Profile } from '../domain/profile.js';
import type { DatabaseGlance } from './glance.js';
import { glancePostgres } from './postgres/glance.js';
import { openPostgresStore } from './postgres/pg-store.js';
import { glanceSqlite } from './sqlite/glance.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

export interface StoreInputs {
  readonly profile: Profile;
  readonly profileText: string;
  readonly logger: Logger;
  readonly ordersInFlightMax: number;
  readonly positionScope: PositionScope;
  /** Apply the profile file at start when it differs from the users in force (IMPORT_PROFILE). */
  readonly importProfile?: boolean;
}

export function openStore(database: DatabaseConfig, inputs: StoreInputs): Promise<Store> {
  if (database.kind === 'postgres')
    return openPostgresStore({ ...inputs, url: database.url, poolMax: database.poolMax });
  return openSqliteStore({ ...inputs, path: database.path });
}

/** What serve must know of the database before opening it (see glance.ts); reads only. */
export function glanceAt(database: DatabaseConfig): Promise<DatabaseGlance> {
  if (database.kind === 'postgres') return glancePostgres(database.url);
  return Promise.resolve().then(() => glanceSqlite(database.path));
}
