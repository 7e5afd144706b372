// `ordergate users list | show | put | delete | unsubscribe`: the users in force on a running server and
// live changes to them, through its API (http/live.ts, http/book.ts): the same code as the API, and
// beside a SQLite server that owns its file.

import { DISPOSITIONS, type Disposition } from '../store/changes.js';
import {
  type ChangeAnswer,
  clientOf,
  plural,
  positionLines,
  positionsClosed,
  SERVER_FLAGS,
  SERVER_OPTIONS,
  segment,
  withApi,
} from './api-client.js';
import { type Flags, helpRequested, parseFlags, UsageError } from './args.js';

const POSITIONS_OPTION = `  --positions WHAT   what becomes of their open positions: close-only (the default: they stay open,
                     and only a SELL can close them), close-now (the gate closes each at once with a
                     SELL, logged like any order) or preserve (they leave the gate's book, kept as
                     released positions)`;

export const USERS_HELP = `Usage: ordergate users <list | show | put | delete | unsubscribe> [options]

The users in force on a running server, and live changes to them, through its API: the same code as
GET, PUT and DELETE /users/..., so they work beside a server that owns its SQLite file. A change is
one record of the log, in force from the next order on, on every instance; it prints its version.

  ordergate users list [--json]
  ordergate users show NAME [--json]
  ordergate users put NAME --subscriptions JSON
  ordergate users put NAME --strategy S --instruments A,B [--multiplier M | --quantity N]
  ordergate users delete NAME [--positions close-only | close-now | preserve]
  ordergate users unsubscribe NAME STRATEGY [--positions close-only | close-now | preserve]

Each takes --url URL (default http://127.0.0.1:8080) and --key TOKEN (or ORDERGATE_API_KEY): list and
show need a read key, the changes an admin key (none while the server runs open). Run
ordergate users <command> --help for the options of each.`;

const EXIT_CODES = `Exit codes: 0 when done; 1 when the server refuses or fails (its message is printed: an unknown
user, a bad name, a missing or wrong key) or cannot be reached; 2 for a bad flag.`;

const LIST_HELP = `Usage: ordergate users list [--json] [--url URL] [--key TOKEN]

Lists the users in force, by name, one a line: the name, each strategy with how many instruments, and
how many positions are open. Pages through GET /users to the end.

Options:
  --json             print each user as the API gives it, one JSON object a line (NDJSON)
${SERVER_OPTIONS}
  -h, --help         print this help

${EXIT_CODES}`;

const SHOW_HELP = `Usage: ordergate users show NAME [--json] [--url URL] [--key TOKEN]

Shows one user (GET /users/NAME): each strategy with its instruments, and the open positions.

Options:
  --json             print the API's answer as it is
${SERVER_OPTIONS}
  -h, --help         print this help

${EXIT_CODES}`;

const PUT_HELP = `Usage: ordergate users put NAME --subscriptions JSON [--url URL] [--key TOKEN]
       ordergate users put NAME --strategy S --instruments A,B [--multiplier M | --quantity N] [--url URL] [--key TOKEN]

Creates or replaces a user, in force from the next order on. With --subscriptions, every subscription
of the user, as one entry of the seed's profile (PUT /users/NAME):
  ordergate users put Alice --subscriptions '{"STRATEGY_A":["GRASIM","EICHER"]}'
With --strategy and --instruments, one subscription, the user's others kept (PUT
/users/NAME/subscriptions/S); a new user is created:
  ordergate users put Alice --strategy STRATEGY_A --instruments GRASIM,EICHER
Positions the new subscriptions no longer give stay open, close-only: they are listed.

Options:
  --subscriptions JSON   strategy → its instruments: {"STRATEGY_A":["GRASIM","EICHER"]}
  --strategy S           one strategy, with --instruments
  --instruments A,B      its instruments, comma-separated
  --multiplier M         with --strategy: the user's quantity per unit ordered, rounded down (e.g. 0.5)
  --quantity N           with --strategy: a fixed quantity for every order, instead of a multiplier
${SERVER_OPTIONS}
  -h, --help             print this help

${EXIT_CODES}`;

const DELETE_HELP = `Usage: ordergate users delete NAME [--positions close-only | close-now | preserve] [--url URL] [--key TOKEN]

Removes a user (DELETE /users/NAME), from the next order on, and prints what became of their open
positions: closed (each SELL the gate sent), left close-only, or released.

Options:
${POSITIONS_OPTION}
${SERVER_OPTIONS}
  -h, --help         print this help

${EXIT_CODES}`;

const UNSUBSCRIBE_HELP = `Usage: ordergate users unsubscribe NAME STRATEGY [--positions close-only | close-now | preserve] [--url URL] [--key TOKEN]

Unsubscribes a user from one strategy (DELETE /users/NAME/subscriptions/STRATEGY), from the next order
on, and prints what became of its open positions. A user left with no subscription is removed.

Options:
${POSITIONS_OPTION}
${SERVER_OPTIONS}
  -h, --help         print this help

${EXIT_CODES}`;

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  list: (argv) => withApi('users list', LIST_HELP, () => list(argv)),
  show: (argv) => withApi('users show', SHOW_HELP, () => show(argv)),
  put: (argv) => withApi('users put', PUT_HELP, () => put(argv)),
  delete: (argv) => withApi('users delete', DELETE_HELP, () => remove(argv)),
  unsubscribe: (argv) => withApi('users unsubscribe', UNSUBSCRIBE_HELP, () => unsubscribe(argv)),
};

export async function runUsers(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    console.log(USERS_HELP);
    return 0;
  }
  const subcommand = name === undefined ? undefined : SUBCOMMANDS[name];
  if (subcommand === undefined) {
    const what =
      name === undefined || name.startsWith('-')
        ? 'name a command, before any flag'
        : `unknown command ${JSON.stringify(name)}`;
    console.error(
      `ordergate users: ${what}: list, show, put, delete or unsubscribe (see ordergate users --help)`,
    );
    return 2;
  }
  return subcommand(rest);
}

/** A user as GET /users and GET /users/NAME give it. */
/** A subscription as the API shows it: the seed's list, or an object with its sizing. */
type SubscriptionShown = string[] | { instruments: string[]; multiplier?: string; quantity?: number };

interface UserSummary {
  user: string;
  strategies: Record<string, SubscriptionShown>;
  open_positions: number;
}

interface UserDetail extends UserSummary {
  positions: {
    strategy: string;
    instrument: string;
    quantity?: number;
    order_id: number;
    opened_at: string;
  }[];
  positions_next_after: string | null;
}

const PAGE_LIMIT = 1000;

async function list(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...SERVER_FLAGS, json: { type: 'boolean' } });
  helpRequested(values);
  const client = clientOf(values);
  let after: string | undefined;
  let count = 0;
  do {
    const page = await client.json<{ users: UserSummary[]; next_after: string | null }>('GET', '/users', {
      query: { limit: PAGE_LIMIT, after },
    });
    const width = Math.max(0, ...page.users.map((user) => user.user.length));
    const lines = page.users.map((user) =>
      values.json === true ? JSON.stringify(user) : summaryLine(user, width),
    );
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
    count += page.users.length;
    after = page.next_after ?? undefined;
  } while (after !== undefined);
  if (count === 0) console.error(`no user is in force on ${client.url}`);
  return 0;
}

function instrumentsOf(subscription: SubscriptionShown): string[] {
  return Array.isArray(subscription) ? subscription : subscription.instruments;
}

/** How a subscription sizes orders, in words; empty for one unit per unit ordered. */
function sizingOf(subscription: SubscriptionShown): string {
  if (Array.isArray(subscription)) return '';
  if (subscription.quantity !== undefined) return `, ${subscription.quantity} units each order`;
  return subscription.multiplier === undefined ? '' : `, ×${subscription.multiplier}`;
}

function summaryLine(user: UserSummary, width: number): string {
  const strategies = Object.entries(user.strategies)
    .map(
      ([strategy, shown]) =>
        `${strategy} (${plural(instrumentsOf(shown).length, 'instrument')}${sizingOf(shown)})`,
    )
    .join(', ');
  return `${user.user.padEnd(width)}  ${strategies}  ${plural(user.open_positions, 'open position')}`;
}

async function show(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...SERVER_FLAGS, json: { type: 'boolean' } }, true);
  helpRequested(values);
  const [name] = names(positionals, ['NAME']);
  const client = clientOf(values);
  const path = `/users/${segment(name!)}`;
  if (values.json === true) {
    process.stdout.write(`${(await client.text('GET', path)).trimEnd()}\n`);
    return 0;
  }
  const user = await client.json<UserDetail>('GET', path);
  const lines = [user.user];
  const strategies = Object.entries(user.strategies);
  // A user removed (or left with no subscription) is still known by name, with what they hold.
  if (strategies.length === 0) lines.push('  no subscription: not a user in force');
  for (const [strategy, shown] of strategies)
    lines.push(`  ${strategy}: ${instrumentsOf(shown).join(', ')}${sizingOf(shown)}`);
  lines.push(`  ${plural(user.open_positions, 'open position')}${user.open_positions > 0 ? ':' : ''}`);
  for (const p of user.positions)
    lines.push(
      `    ${p.strategy} ${p.instrument} ×${p.quantity ?? 1} (opened by BUY order ${p.order_id} at ${p.opened_at})`,
    );
  if (user.positions_next_after !== null) {
    lines.push(
      `    … ${user.open_positions - user.positions.length} more: GET /positions?user=${segment(user.user)}&after=${user.positions_next_after}`,
    );
  }
  console.log(lines.join('\n'));
  return 0;
}

async function put(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      ...SERVER_FLAGS,
      subscriptions: { type: 'string' },
      strategy: { type: 'string' },
      instruments: { type: 'string' },
      multiplier: { type: 'string' },
      quantity: { type: 'string' },
    },
    true,
  );
  helpRequested(values);
  const [name] = names(positionals, ['NAME']);
  const client = clientOf(values);
  const path = `/users/${segment(name!)}`;
  if (values.subscriptions !== undefined) {
    if (values.strategy !== undefined || values.instruments !== undefined)
      throw new UsageError('give either --subscriptions JSON or --strategy S --instruments A,B, not both');
    const subscriptions = parseSubscriptions(values.subscriptions);
    const answer = await client.json<ChangeAnswer>('PUT', path, { body: { subscriptions } });
    const given = answer.subscriptions as Record<string, SubscriptionShown> | undefined;
    const shown = Object.entries(given ?? subscriptions)
      .map(
        ([strategy, each]) =>
          `${strategy}: ${plural(instrumentsOf(each).length, 'instrument')}${sizingOf(each)}`,
      )
      .join(', ');
    printChange(`version ${answer.version}: user ${answer.user ?? name} put (${shown})`, answer);
    return 0;
  }
  if (values.strategy === undefined || values.instruments === undefined)
    throw new UsageError('give --subscriptions JSON, or --strategy S with --instruments A,B');
  const strategy = nonEmpty(values, 'strategy');
  const instruments = nonEmpty(values, 'instruments')
    .split(',')
    .map((instrument) => instrument.trim());
  if (instruments.some((instrument) => instrument === ''))
    throw new UsageError(
      `--instruments must be names separated by commas, got ${JSON.stringify(values.instruments)}`,
    );
  if (values.multiplier !== undefined && values.quantity !== undefined)
    throw new UsageError('give --multiplier or --quantity, not both');
  const quantity = values.quantity === undefined ? undefined : Number(values.quantity);
  const answer = await client.json<ChangeAnswer>('PUT', `${path}/subscriptions/${segment(strategy)}`, {
    body: { instruments, multiplier: values.multiplier, quantity },
  });
  const given = (answer.instruments as string[] | undefined) ?? instruments;
  printChange(
    `version ${answer.version}: user ${answer.user ?? name} subscribed to ${strategy} (${plural(given.length, 'instrument')}: ${given.join(', ')})`,
    answer,
  );
  return 0;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...SERVER_FLAGS, positions: { type: 'string' } }, true);
  helpRequested(values);
  const [name] = names(positionals, ['NAME']);
  const positions = dispositionOf(values);
  const client = clientOf(values);
  const answer = await client.json<ChangeAnswer>('DELETE', `/users/${segment(name!)}`, {
    query: { positions },
  });
  printChange(`version ${answer.version}: user ${name} removed${leaving(answer, positions)}`, answer);
  return 0;
}

async function unsubscribe(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...SERVER_FLAGS, positions: { type: 'string' } }, true);
  helpRequested(values);
  const [name, strategy] = names(positionals, ['NAME', 'STRATEGY']);
  const positions = dispositionOf(values);
  const client = clientOf(values);
  const answer = await client.json<ChangeAnswer>(
    'DELETE',
    `/users/${segment(name!)}/subscriptions/${segment(strategy!)}`,
    { query: { positions } },
  );
  printChange(
    `version ${answer.version}: user ${name} unsubscribed from ${strategy}${leaving(answer, positions)}`,
    answer,
  );
  return 0;
}

/** What became of a leaver's positions, counted: the lines that follow name each. */
function leaving(answer: ChangeAnswer, positions: Disposition): string {
  const closed = positionsClosed(answer);
  return (
    ` (positions ${positions}): ${plural(closed, 'position')} closed,` +
    ` ${answer.left_close_only.length} left close-only, ${answer.released.length} released`
  );
}

function printChange(head: string, answer: ChangeAnswer): void {
  console.log([head, ...positionLines(answer)].join('\n'));
}

/** Exactly the positional arguments named: a name with spaces is one argument, in quotes. */
function names(positionals: readonly string[], wanted: readonly string[]): string[] {
  if (positionals.length !== wanted.length) {
    const given = positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ');
    throw new UsageError(
      `give ${wanted.join(' and ')} (${wanted.length === 1 ? 'one argument' : `${wanted.length} arguments`}; quote a name with spaces), got ${given}`,
    );
  }
  for (const [index, value] of positionals.entries())
    if (value.trim() === '') throw new UsageError(`${wanted[index]} must not be empty`);
  return [...positionals];
}

function nonEmpty(values: Flags, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} must not be empty`);
  return value.trim();
}

function dispositionOf(values: Flags): Disposition {
  const value = values.positions ?? 'close-only';
  if (!(DISPOSITIONS as readonly unknown[]).includes(value)) {
    throw new UsageError(
      `--positions must be close-only, close-now or preserve; got ${JSON.stringify(value)}`,
    );
  }
  return value as Disposition;
}

/** --subscriptions: a JSON object of strategy → list of instruments (or sized). The server checks them. */
function parseSubscriptions(text: string | boolean): Record<string, SubscriptionShown> {
  let value: unknown;
  try {
    value = JSON.parse(String(text));
  } catch (error) {
    throw new UsageError(`--subscriptions must be JSON: ${(error as Error).message}`);
  }
  const isList = (list: unknown) =>
    (Array.isArray(list) && list.every((each) => typeof each === 'string')) ||
    (typeof list === 'object' && list !== null && 'instruments' in list);
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    !Object.values(value).every(isList)
  ) {
    throw new UsageError(
      `--subscriptions must be a JSON object of strategy → instruments, e.g. '{"STRATEGY_A":["GRASIM","EICHER"]}'`,
    );
  }
  return value as Record<string, SubscriptionShown>;
}
