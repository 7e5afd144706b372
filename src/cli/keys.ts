// `ordergate keys create | list | revoke`: the API keys of a database. Every server on that database
// sees a change at once, since each request looks its key up there. create and revoke write, so on
// SQLite they own the file while they run and are refused beside a server (its key API, http/keys.ts,
// does the same there); list only reads.

import { type DatabaseConfig, redactUrl } from '../config.js';
import { WEBHOOK_PATH } from '../http/webhook-paths.js';
import { checkKeySpec, isKeySpecProblem, issueKey, KEY_LABEL_LENGTH_MAX, type KeySpec } from '../key-spec.js';
import {
  type KeyRecord,
  type KeyRole,
  type OpenedKeyStore,
  openKeyStore,
  readKeys,
} from '../store/key-store.js';
import { DatabaseInUseError } from '../store/sqlite/owner.js';
import { databaseOf, type Flags, helpRequested, parseFlags, UsageError, withUsage } from './args.js';

/** What to do instead when a server owns the SQLite file: stop it, or ask it. */
const IN_USE_ADVICE = {
  create:
    'stop that server first, or create the key through its API: POST /keys with an admin key, or with none while the server runs open (see ordergate keys create --help)',
  revoke:
    'stop that server first, or revoke the key through its API: DELETE /keys/ID with an admin key (see ordergate keys revoke --help)',
} as const;

const PUBLIC_URL_PLACEHOLDER = 'http://HOST:PORT';

const DATABASE_OPTION =
  '  --database-url URL  the database [DATABASE_URL, default sqlite:./data/ordergate.db]';

export const KEYS_HELP = `Usage: ordergate keys <create | list | revoke> [options]

Manages the API keys of a database. Every server on that database sees a change at once. While no
key exists the server runs open; the first key closes it.

A SQLite database has one owner: while a server runs on it, create and revoke are refused (exit
code 2) and the server's own key API does the same over HTTP with an admin key (in open mode, with
none): POST /keys, DELETE /keys/ID, GET /keys. list only reads and works beside a running server.
On PostgreSQL every command works beside running servers.

  ordergate keys create --admin | --read | --strategy NAME | --webhook NAME [--name LABEL]
  ordergate keys list
  ordergate keys revoke ID

Run ordergate keys <command> --help for the options of each.`;

const CREATE_HELP = `Usage: ordergate keys create --admin | --read | --strategy NAME | --webhook NAME [--name LABEL]
                             [--public-url URL] [--database-url URL]

Creates an API key and prints its token once, on the last line of output. The database keeps only a
hash of it: store the token now, it cannot be shown again. Callers send it as
"Authorization: Bearer TOKEN" or "X-API-Key: TOKEN". The first key ends open mode: from then on
every request but GET /health and the docs needs a key.

Options:
  --admin             the key may do everything
  --read              the key may use every GET endpoint and nothing else
  --strategy NAME     the key may place orders for strategy NAME only
  --webhook NAME      a webhook key for TradingView: it places orders for strategy NAME only, and its
                      token is accepted only in the URL ${WEBHOOK_PATH}TOKEN (printed
                      before the token; paste it into the alert's Webhook URL), never as a header
  --public-url URL    --webhook: the address TradingView reaches this server at, e.g.
                      https://gate.example.com (put it behind TLS: the token is in the URL);
                      default: http://HOST:PORT, to be replaced
  --name LABEL        a label for people, e.g. "engine A" (1 to ${KEY_LABEL_LENGTH_MAX} characters)
${DATABASE_OPTION}
  -h, --help          show this help

Beside a server that runs on the same SQLite file, ask the server instead (the token is in the answer):
  curl -s -XPOST http://127.0.0.1:8080/keys -H "Authorization: Bearer ADMIN_TOKEN" \\
    -H 'content-type: application/json' -d '{"role":"strategy","strategy":"STRATEGY_A","name":"engine A"}'

Exit codes: 0 when the key is created, 1 if the database cannot be opened, 2 for a bad option or a
SQLite database a running server owns.`;

const LIST_HELP = `Usage: ordergate keys list [--database-url URL]

Lists the API keys, revoked ones too, one a line, oldest first: the id, the role (and the strategy of a
strategy key: "webhook NAME" for a webhook key), active or revoked and when, when it was created, when it was last used (recorded at
most once a minute) and its label. Never a token or a hash. It only reads, so it works beside a
running server; GET /keys gives the same over HTTP.

Options:
${DATABASE_OPTION}
  -h, --help          show this help

Exit codes: 0 when listed, 1 if the database cannot be opened, 2 for a bad option.`;

const REVOKE_HELP = `Usage: ordergate keys revoke ID [--database-url URL]

Revokes the key with this id (the first column of ordergate keys list). Every running server refuses
it from its next request on. Beside a server that runs on the same SQLite file, ask the server instead:
  curl -s -XDELETE http://127.0.0.1:8080/keys/ID -H "Authorization: Bearer ADMIN_TOKEN"

Options:
${DATABASE_OPTION}
  -h, --help          show this help

Exit codes: 0 when revoked, 1 if no active key has this id or the database cannot be opened, 2 for a
bad option or a SQLite database a running server owns.`;

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
    webhook: { type: 'string' },
    name: { type: 'string' },
    'public-url': { type: 'string' },
    'database-url': { type: 'string' },
  });
  helpRequested(values);
  const spec = specOf(values);
  const publicUrl = publicUrlOf(values, spec);
  return withKeys('create', values, async (keys, where) => {
    const { record, token } = await issueKey(keys, spec, Date.now());
    const { role, strategy, name } = record;
    const what =
      role === 'admin'
        ? 'an admin key'
        : role === 'read'
          ? 'a read key'
          : `a ${record.webhook ? 'webhook ' : ''}key for ${strategy}`;
    console.log(
      `created ${what}, id ${record.id}${name === null ? '' : ` (${JSON.stringify(name)})`}, in ${where}`,
    );
    if (record.webhook) printWebhookUrl(publicUrl, token);
    console.log('The token follows. It is shown this once and only its hash is stored: keep it now.');
    console.log(token);
    return 0;
  });
}

/** The URL to paste into TradingView: the token is in it, so it is a secret as the token is. */
function printWebhookUrl(publicUrl: string | null, token: string): void {
  console.log(
    `TradingView webhook URL (a secret: it holds the token; expose it only behind TLS, https://):\n` +
      `  ${publicUrl ?? PUBLIC_URL_PLACEHOLDER}${WEBHOOK_PATH}${token}`,
  );
  if (publicUrl === null)
    console.log(
      `  replace ${PUBLIC_URL_PLACEHOLDER} with the address TradingView reaches this server at (or pass --public-url)`,
    );
}

/** --public-url without its path's trailing slash; only with --webhook. */
function publicUrlOf(values: Flags, spec: KeySpec): string | null {
  const given = textOf(values['public-url']);
  if (given === undefined) return null;
  if (!spec.webhook) throw new UsageError('--public-url is only for a webhook key (--webhook NAME)');
  if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(given))
    throw new UsageError(`--public-url must be an http:// or https:// address, got ${JSON.stringify(given)}`);
  return given.replace(/\/+$/, '');
}

/** Reads only: beside a server that owns the SQLite file too. */
async function list(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { 'database-url': { type: 'string' } });
  helpRequested(values);
  const database = databaseOf(values);
  const where = whereOf(database);
  let records: readonly KeyRecord[];
  try {
    records = await readKeys(database);
  } catch (error) {
    console.error(`ordergate keys list: cannot read ${where}: ${(error as Error).message}`);
    return 1;
  }
  if (records.length === 0) console.error(`no API keys in ${where}: a server on it runs open`);
  for (const line of formatKeys(records)) console.log(line);
  return 0;
}

async function revoke(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { 'database-url': { type: 'string' } }, true);
  helpRequested(values);
  if (positionals.length !== 1) throw new UsageError('name exactly one key ID to revoke');
  const id = positionals[0]!;
  return withKeys('revoke', values, async (keys, where) => {
    if (!(await keys.revoke(id, Date.now()))) {
      console.error(`ordergate keys revoke: no active key has id ${JSON.stringify(id)} in ${where}`);
      return 1;
    }
    console.log(`revoked key ${id}: every server on ${where} refuses it from now on`);
    return 0;
  });
}

/** The key the flags ask for; the rules are the key API's too (key-spec.ts). */
function specOf(values: Flags): KeySpec {
  const { name, webhook } = values;
  const strategy = values.strategy ?? webhook;
  const chosen = [values.admin, values.read, values.strategy, webhook].filter((flag) => flag !== undefined);
  if (chosen.length !== 1)
    throw new UsageError('choose exactly one of --admin, --read, --strategy NAME or --webhook NAME');
  const role: KeyRole = values.admin === true ? 'admin' : values.read === true ? 'read' : 'strategy';
  const checked = checkKeySpec(role, textOf(strategy), textOf(name), webhook !== undefined);
  if (!isKeySpecProblem(checked)) return checked;
  const flag = checked.field === 'strategy' && webhook !== undefined ? 'webhook' : checked.field;
  const given = checked.field === 'name' ? name : strategy;
  throw new UsageError(`--${flag} ${checked.problem}, got ${JSON.stringify(given)}`);
}

function textOf(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Opens the key store to change it, runs `use`, closes it. A SQLite file a server owns is refused (exit
 * code 2) with what to do instead; a database that cannot be opened or written is exit code 1.
 */
async function withKeys(
  command: 'create' | 'revoke',
  values: Flags,
  use: (keys: OpenedKeyStore, where: string) => Promise<number>,
): Promise<number> {
  const database = databaseOf(values);
  const where = whereOf(database);
  let keys: OpenedKeyStore;
  try {
    keys = await openKeyStore(database, `keys ${command}`);
  } catch (error) {
    if (error instanceof DatabaseInUseError) {
      console.error(`ordergate keys ${command}: ${error.message}; ${IN_USE_ADVICE[command]}`);
      return 2;
    }
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

function whereOf(database: DatabaseConfig): string {
  return database.kind === 'sqlite' ? database.path : redactUrl(database.url);
}

/** One line per key, id first, columns aligned; never a secret or its hash. */
function formatKeys(records: readonly KeyRecord[]): string[] {
  const rows = records.map((key) => [
    key.id,
    key.strategy === null ? key.role : `${key.webhook ? 'webhook' : 'strategy'} ${key.strategy}`,
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
