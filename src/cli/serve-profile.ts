// Which profile serve starts with, guessing nothing:
// - PROFILE_PATH given (flag or environment): that file, which must exist (serve-paths.ts checks it
//   before anything is written; a typo must never replace the users in force);
// - not given, and the default file exists: that file;
// - not given, no default file, and the database holds a profile: the profile in force, as stored,
//   and no file is written (the user did not ask for one);
// - not given, no default file, a new database: one generated with the seed's defaults, and written
//   to the default path, so that `npm install && npm start` works on a fresh clone.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { type Profile, ProfileError, parseProfile } from '../domain/profile.js';
import { parseUniverse, type Universe } from '../domain/universe.js';
import type { StoredProfile } from '../store/glance.js';
import { writeProfile } from './generate.js';

/** The seed's generator made profiles of 3 users. */
const GENERATED_USERS = 3;

export interface LoadedProfile {
  readonly profile: Profile;
  /** The text it was parsed from: stored as a version when it differs from the one in force. */
  readonly text: string;
}

/** Throws ProfileError, naming the file (or the stored version) and the problem. */
export async function chooseProfile(
  config: Config,
  inForce: StoredProfile | null,
  logger: Logger,
): Promise<LoadedProfile> {
  if (config.profilePathExplicit || existsSync(config.profilePath)) return readProfile(config.profilePath);
  // Importing the stored profile again would undo every live change made since.
  if (config.importProfile && inForce !== null) {
    throw new ProfileError(
      `IMPORT_PROFILE is set but there is no profile file at ${config.profilePath} to import: set PROFILE_PATH to the file, or unset IMPORT_PROFILE`,
    );
  }
  if (inForce !== null) return storedProfile(config, inForce, logger);
  await generateProfile(config, logger);
  return readProfile(config.profilePath);
}

async function readProfile(path: string): Promise<LoadedProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ProfileError(`PROFILE_PATH ${path}: cannot read it (${code})`);
  }
  return { profile: parseProfile(text, path), text };
}

async function storedProfile(config: Config, inForce: StoredProfile, logger: Logger): Promise<LoadedProfile> {
  const source = `the profile in force in the database (version ${inForce.version})`;
  const text = await inForce.read();
  const profile = parseProfile(text, source);
  logger.warn(
    { version: inForce.version, users: profile.length },
    `no profile at ${config.profilePath} and PROFILE_PATH not set: starting with the profile in force in the database ` +
      `(version ${inForce.version}, loaded ${new Date(inForce.loadedAtMs).toISOString()}, ${profile.length} users), ` +
      'writing no file; set PROFILE_PATH to start with another',
  );
  return { profile, text };
}

async function generateProfile(config: Config, logger: Logger): Promise<void> {
  const universe = await readUniverse(config);
  const seed = Math.floor(Math.random() * 2 ** 31);
  try {
    await writeProfile(config.profilePath, universe, { users: GENERATED_USERS, seed });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ProfileError(
      `no profile at ${config.profilePath} and a new database: the generated one cannot be written there (${code}); ` +
        'set PROFILE_PATH to a profile file',
    );
  }
  logger.warn(
    `no profile at ${config.profilePath} and a new database: generated one with the seed's defaults (${GENERATED_USERS} users, seed ${seed}); ` +
      'npm run generate -- --help makes others',
  );
}

async function readUniverse(config: Config): Promise<Universe> {
  let text: string;
  try {
    text = await readFile(config.universePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ProfileError(
      `no profile at ${config.profilePath} and a new database: generating one needs ${config.universePath} (${code}); ` +
        'run from the project folder, or set PROFILE_PATH to a profile file',
    );
  }
  try {
    return parseUniverse(text, config.universePath);
  } catch (error) {
    throw new ProfileError(`cannot generate a profile: ${(error as Error).message}`);
  }
}
