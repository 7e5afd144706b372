// The files and folders serve needs, checked before anything is created or written: each unusable
// one is named with what to do, all in one line, rather than a stack trace from deep inside, a server
// that runs without its log, or a profile generated in place of one mistyped.

import { accessSync, constants, type Stats, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config.js';

/** Every problem with the paths of the configuration; none when all can be used. */
export function pathProblems(config: Config): string[] {
  const problems = [logDirProblem(config.logDir), profileProblem(config)];
  if (config.database.kind === 'sqlite') problems.push(sqliteProblem(config.database.path));
  return problems.filter((problem) => problem !== undefined);
}

function logDirProblem(dir: string): string | undefined {
  const fix = 'or set LOG_DIR (--log-dir) to another folder';
  const found = nearestExisting(dir);
  if (found.path === dir) {
    if (found.stats?.isDirectory() !== true) {
      return `LOG_DIR ${dir} is a file, not a folder (the original exercise shipped Logs as a file): move it away, ${fix}`;
    }
    const code = unwritable(dir);
    return code && `LOG_DIR ${dir} cannot be written (${code}): make it writable, ${fix}`;
  }
  return creationProblem(`LOG_DIR ${dir}`, found, fix);
}

function profileProblem(config: Config): string | undefined {
  const path = config.profilePath;
  const found = nearestExisting(path);
  if (found.path !== path) {
    if (!config.profilePathExplicit) return undefined; // generated, or the one in force is used: see serve-profile.ts
    return (
      `PROFILE_PATH ${path} does not exist: check the path (nothing was started or written; ` +
      'a profile is generated only when PROFILE_PATH is not set and the database is new)'
    );
  }
  if (found.stats?.isDirectory() === true)
    return `PROFILE_PATH ${path} is a folder, not a file: name the profile file, e.g. ${join(path, 'user_profile.json')}`;
  const code = accessCode(path, constants.R_OK);
  return code && `PROFILE_PATH ${path} cannot be read (${code}): make it readable for this user`;
}

/** The database file must be a file, and its folder writable: SQLite keeps its -wal and -shm files there. */
function sqliteProblem(path: string): string | undefined {
  const fix = 'or set DATABASE_URL (--database-url) to sqlite:PATH elsewhere';
  const found = nearestExisting(path);
  if (found.path === path) {
    if (found.stats?.isDirectory() === true)
      return `DATABASE_URL names ${path}, a folder: name a file in it, e.g. sqlite:${join(path, 'ordergate.db')}`;
    const code = accessCode(path, constants.R_OK | constants.W_OK);
    if (code !== undefined)
      return `the database ${path} cannot be written (${code}): make it writable, ${fix}`;
    const folder = dirname(path);
    const folderCode = unwritable(folder);
    return (
      folderCode &&
      `the database's folder ${folder} cannot be written (${folderCode}), and SQLite writes its -wal and -shm files there: make it writable, ${fix}`
    );
  }
  return creationProblem(`the database ${path}`, found, fix);
}

/** Why `what`, which does not exist yet, cannot be created under `found`, its nearest existing ancestor. */
function creationProblem(what: string, found: Existing, fix: string): string | undefined {
  if (found.error !== undefined)
    return `${what} cannot be reached: ${found.path} gives ${found.error}; ${fix}`;
  if (found.stats?.isDirectory() !== true)
    return `${what} cannot be created: ${found.path} is a file, not a folder; move it away, ${fix}`;
  const code = unwritable(found.path);
  return code && `${what} cannot be created: the folder ${found.path} cannot be written (${code}); ${fix}`;
}

interface Existing {
  readonly path: string;
  readonly stats?: Stats;
  /** Why the path could not be looked at (EACCES on a folder above it), if it could not. */
  readonly error?: string;
}

/** The path itself if it exists, else its nearest ancestor that does. */
function nearestExisting(path: string): Existing {
  for (let current = path; ; current = dirname(current)) {
    try {
      return { path: current, stats: statSync(current) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return { path: current, error: code ?? String(error) };
      if (dirname(current) === current) return { path: current, error: code };
    }
  }
}

/** Why files cannot be created in the folder (EACCES, EROFS), or undefined if they can. */
function unwritable(folder: string): string | undefined {
  return accessCode(folder, constants.W_OK | constants.X_OK);
}

function accessCode(path: string, mode: number): string | undefined {
  try {
    accessSync(path, mode);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}
