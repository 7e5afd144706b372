// `ordergate keys create | list | revoke`: the API keys of a database. Every server on that database
// sees a change at once, since each request looks its key up there.

import { redactUrl } from '../config.js';
import { isValidName } from '../domain/order.js';
import { type KeyRecord, type KeyRole, type OpenedKeyStore, openKeyStore } from '../store/key-store.js';
import { mintToken } from '../tokens.js';
import { databaseOf, type Flags, helpRequested, parseFlags, UsageError, withUsage } from './args.js';

const LABEL_LENGTH_MAX = 64;
const LABEL_PATTERN = /^[^\p{Cc}]+$/u;

const DATABASE_OPTION =
  '  --database-url URL  the database [DATABASE_URL, default sqlite:./data/ordergate.db]';

export const KEYS_HELP = `Usage: ordergate keys <create | list | revoke> [options]

Manages the API keys of a database. Every server on that database sees a change at once. While no
key exists the server runs open; the first key closes it.

  ordergate keys create --admin | --read | --strategy NAME [--name LABEL]
  ordergate keys list
  ordergate keys revoke ID

Run ordergate keys <command> --help for the options of each.`;

const CREATE_HELP = `Usage: ordergate keys create --admin | --read | --strategy NAME [--name LABEL] [--database-url URL]

Creates an API key and prints its token once, on the last line of output. The database keeps only a
hash of it: store the token now, it cannot be shown again. Callers send it as
"Authorization: Bearer TOKEN" or "X-API-Key: TOKEN". The first key ends open mode: from then on
every request but GET /health and the docs needs a key.

Options:
  --admin             the key may do everything
  --read              the key may use every GET endpoint and nothing else
  --strategy NAME     the key may place orders for strategy NAME only
  --name LABEL        a label for people, e.g. "engine A" (1 to ${LABEL_LENGTH_MAX} characters)
${DATABASE_OPTION}
  -h, --help          show this help

Exit codes: 0 when the key is created, 1 if the database cannot be opened, 2 for a bad option.`;

const LIST_HELP = `Usage: ordergate keys list [--database-url URL]

Lists the API keys, revoked ones too, one a line, oldest first: the id, the role (and the strategy of a
strategy key), active or revoked and when, when it was created, when it was last used (recorded at
most once a minute) and its label. Never a token or a hash.

Options:
${DATABASE_OPTION}
  -h, --help          show this help

Exit codes: 0 when listed, 1 if the database cannot be opened, 2 for a bad option.`;

const REVOKE_HELP = `Usage: ordergate keys revoke ID [--database-url URL]

Revokes the key with this id (the first column of ordergate keys list). Every running server refuses
it from its next request on.

Options:
${DATABASE_OPTION}
  -h, --help          show this help

Exit codes: 0 when revoked, 1 if no active key has this id or the database cannot be opened, 2 for a
bad option.`;

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  create: (argv) => withUsage('keys create', CREATE_HELP, () => create(argv)),
  list: (argv) => withUsage('keys list', LIST_HELP, () => list(argv)),
  revoke: (argv) => withUsage('keys revoke', REVOKE_HELP, () => revoke(argv)),
};

export async function runKeys(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    console.log(KEYS_HELP);
    return 0;
  }
  const subcommand = name === undefined ? undefined : SUBCOMMANDS[name];
  if (subcommand === undefined) {
    const what = name === undefined ? 'name a command' : `unknown command ${JSON.stringify(name)}`;
    console.error(`ordergate keys: ${what}: create, list or revoke (see ordergate keys --help)`);
    return 2;
  }
  return subcommand(rest);
}

async function create(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    admin: { type: 'boolean' },
    read: { type: 'boolean' },
    strategy: { type: 'string' },
    name: { type: 'string' },
    'database-url': { type: 'string' },
  });
  helpRequested(values);
  const { role, strategy } = roleOf(values);
  const label = labelOf(values.name);
  return withKeys(values, async (keys, where) => {
    const minted = mintToken();
    await keys.create({
      id: minted.id,
      secretSha256: minted.secretSha256,
      role,
      strategy,
      name: label,
      createdAtMs: Date.now(),
    });
    const what = role === 'admin' ? 'an admin key' : role === 'read' ? 'a read key' : `a key for ${strategy}`;
    console.log(
      `created ${what}, id ${minted.id}${label === null ? '' : ` (${JSON.stringify(label)})`}, in ${where}`,
    );
    console.log('The token follows. It is shown this once and only its hash is stored: keep it now.');
    console.log(minted.token);
    return 0;
  });
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { 'database-url': { type: 'string' } });
  helpRequested(values);
  return withKeys(values, async (keys, where) => {
    const records = await keys.list();
    if (records.length === 0) console.error(`no API keys in ${where}: a server on it runs open`);
    for (const line of formatKeys(records)) console.log(line);
    return 0;
  });
}

async function revoke(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { 'database-url': { type: 'string' } }, true);
  helpRequested(values);
  if (positionals.length !== 1) throw new UsageError('name exactly one key ID to revoke');
  const id = positionals[0]!;
  return withKeys(values, async (keys, where) => {
    if (!(await keys.revoke(id, Date.now()))) {
      console.error(`ordergate keys revoke: no active key has id ${JSON.stringify(id)} in ${where}`);
      return 1;
    }
    console.log(`revoked key ${id}: every server on ${where} refuses it from now on`);
    return 0;
  });
}

function roleOf(values: Flags): { role: KeyRole; strategy: string | null } {
  const strategy = values.strategy;
  const chosen = [values.admin === true, values.read === true, strategy !== undefined].filter(Boolean);
  if (chosen.length !== 1) throw new UsageError('choose exactly one of --admin, --read or --strategy NAME');
  if (values.admin === true) return { role: 'admin', strategy: null };
  if (values.read === true) return { role: 'read', strategy: null };
  if (typeof strategy !== 'string' || !isValidName(strategy)) {
    throw new UsageError(
      `--strategy must be a strategy name (1 to 64 letters, digits, spaces and & ' . _ -), got ${JSON.stringify(strategy)}`,
    );
  }
  return { role: 'strategy', strategy };
}

function labelOf(name: string | boolean | undefined): string | null {
  if (name === undefined) return null;
  if (typeof name !== 'string' || [...name].length > LABEL_LENGTH_MAX || !LABEL_PATTERN.test(name)) {
    throw new UsageError(
      `--name must be 1 to ${LABEL_LENGTH_MAX} characters without control characters, got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** Opens the key store, runs `use`, closes it; a database that cannot be opened or written is exit code 1. */
async function withKeys(
  values: Flags,
  use: (keys: OpenedKeyStore, where: string) => Promise<number>,
): Promise<number> {
  const database = databaseOf(values);
  const where = database.kind === 'sqlite' ? database.path : redactUrl(database.url);
  let keys: OpenedKeyStore;
  try {
    keys = await openKeyStore(database);
  } catch (error) {
    console.error(`ordergate keys: cannot open ${where}: ${(error as Error).message}`);
    return 1;
  }
  try {
    return await use(keys, where);
  } catch (error) {
    // A database that stays locked or cannot be written: one line, not a stack.
    console.error(`ordergate keys: ${where}: ${(error as Error).message}`);
    return 1;
  } finally {
    await keys.close();
  }
}

/** One line per key, id first, columns aligned; never a secret or its hash. */
function formatKeys(records: readonly KeyRecord[]): string[] {
  const rows = records.map((key) => [
    key.id,
    key.strategy === null ? key.role : `strategy ${key.strategy}`,
    key.revokedAtMs === null ? 'active' : `revoked ${iso(key.revokedAtMs)}`,
    `created ${iso(key.createdAtMs)}`,
    `last used ${key.lastUsedAtMs === null ? 'never' : iso(key.lastUsedAtMs)}`,
    key.name === null ? '' : JSON.stringify(key.name),
  ]);
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]!.length))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
