// `ordergate import PATH` and `ordergate export PATH`: a profile in the seed's format into and out of a
// running server, through its API (PUT /profile, GET /profile). An export imports back to the same users,
// and a profile made by the seed's generator (or ordergate generate) imports as it is.

import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  type ChangeAnswer,
  clientOf,
  FileError,
  PROFILE_TIMEOUT_MS,
  plural,
  positionLines,
  SERVER_FLAGS,
  SERVER_OPTIONS,
  withApi,
} from './api-client.js';
import { helpRequested, parseFlags, UsageError } from './args.js';

export const IMPORT_HELP = `Usage: ordergate import PATH [--url URL] [--key TOKEN]

Imports a profile file in the seed's format (the users and their subscriptions: what ordergate generate
or the seed's generator writes, or ordergate export) into a running server (PUT /profile): it becomes
the users in force, as one record of the log, from the next order on, on every instance. Users it no
longer lists leave, their open positions close-only. Prints the version and how many users were added,
removed and changed; importing the profile in force changes nothing. PATH - reads standard input.

Options:
${SERVER_OPTIONS}
  -h, --help         print this help

Exit codes: 0 when imported; 1 when the file cannot be read, or the server refuses it (its message is
printed: a bad name, a user listed twice, a missing or wrong key) or cannot be reached; 2 for a bad flag.`;

export const EXPORT_HELP = `Usage: ordergate export PATH [--url URL] [--key TOKEN]

Writes the users and subscriptions in force on a running server (GET /profile) to PATH, in the seed's
profile format: it loads as a profile (PROFILE_PATH, ordergate import) to the same users. The file is
written whole or not at all (a temporary file beside it, renamed). PATH - writes standard output.

Options:
${SERVER_OPTIONS}
  -h, --help         print this help

Exit codes: 0 when written; 1 when the file cannot be written, or the server refuses (a missing or wrong
key) or cannot be reached; 2 for a bad flag.`;

const STDIO = '-';

function pathOf(
  argv: string[],
  stdio: 'input' | 'output',
): { path: string; client: ReturnType<typeof clientOf> } {
  const { values, positionals } = parseFlags(argv, SERVER_FLAGS, true);
  helpRequested(values);
  if (positionals.length !== 1 || positionals[0] === '')
    throw new UsageError(`give one PATH (- for standard ${stdio}), got ${positionals.length} arguments`);
  return { path: positionals[0]!, client: clientOf(values) };
}

export async function runImport(argv: string[]): Promise<number> {
  return withApi('import', IMPORT_HELP, async () => {
    const { path, client } = pathOf(argv, 'input');
    const text = await readText(path);
    const answer = await client.json<ChangeAnswer>('PUT', '/profile', {
      body: text,
      timeoutMs: PROFILE_TIMEOUT_MS,
    });
    const from = path === STDIO ? 'standard input' : path;
    const counts = ['added', 'removed', 'changed']
      .map((what) => `${answer[`users_${what}`]} ${what}`)
      .join(', ');
    const users = typeof answer.users === 'number' ? ` (${plural(answer.users, 'user')})` : '';
    console.log(
      [`version ${answer.version}: imported ${from}${users}: users ${counts}`, ...positionLines(answer)].join(
        '\n',
      ),
    );
    return 0;
  });
}

export async function runExport(argv: string[]): Promise<number> {
  return withApi('export', EXPORT_HELP, async () => {
    const { path, client } = pathOf(argv, 'output');
    let text = await client.text('GET', '/profile', { timeoutMs: PROFILE_TIMEOUT_MS });
    if (!text.endsWith('\n')) text += '\n';
    if (path === STDIO) {
      await new Promise<void>((resolve, reject) =>
        process.stdout.write(text, (error) => (error ? reject(error) : resolve())),
      );
      return 0;
    }
    await writeAtomically(path, text);
    let users: number | undefined;
    try {
      users = Object.keys(JSON.parse(text) as object).length;
    } catch {
      // Written as the server gave it: the count is only for the line below.
    }
    console.log(`wrote ${users === undefined ? 'the profile' : plural(users, 'user')} in force to ${path}`);
    return 0;
  });
}

async function readText(path: string): Promise<string> {
  try {
    return path === STDIO ? await readStdin() : await readFile(path, 'utf8');
  } catch (error) {
    throw new FileError('read', path, error);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A temporary file beside PATH, flushed, then renamed over it: PATH is the old file or the new one. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temporary, 'wx');
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new FileError('write', path, error);
  }
}
