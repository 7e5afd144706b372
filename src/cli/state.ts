// `ordergate state` and `ordergate state set`: the states in force on a running server (the gate's, a
// strategy's, a user's: ACTIVE, CLOSE_ONLY or HALTED) and live changes to them, through its API
// (GET /state, PUT /state, PUT /strategies/:name/state, PUT /users/:name/state).

import { GATE_STATES, type GateState, STATE_REASON_LENGTH_MAX } from '../domain/states.js';
import { type ChangeAnswer, clientOf, SERVER_FLAGS, SERVER_OPTIONS, segment, withApi } from './api-client.js';
import { helpRequested, parseFlags, UsageError } from './args.js';

const EXIT_CODES = `Exit codes: 0 when done; 1 when the server refuses or fails (its message is printed: an unknown
user, a missing or wrong key) or cannot be reached; 2 for a bad flag.`;

export const STATE_HELP = `Usage: ordergate state [--json] [--url URL] [--key TOKEN]
       ordergate state set [--strategy S | --user U] STATE --reason TEXT [--url URL] [--key TOKEN]

Prints the states in force on a running server (GET /state): the gate's, and each strategy and each
user that is not ACTIVE, with why, since when, by which key and at which version. A state is ACTIVE
(everything goes through), CLOSE_ONLY (SELLs only) or HALTED (nothing); for each user the most
restrictive of the gate's, the strategy's and their own wins. After a square-off of everything the
gate is CLOSE_ONLY until the next trading day. ordergate state set changes one (see its --help).

Options:
  --json             print the API's answer as it is
${SERVER_OPTIONS}
  -h, --help         print this help

${EXIT_CODES}`;

const SET_HELP = `Usage: ordergate state set [--strategy S | --user U] STATE --reason TEXT [--url URL] [--key TOKEN]

Sets the state of the whole gate (the kill switch: PUT /state), of one strategy (--strategy: PUT
/strategies/S/state) or of one user (--user: PUT /users/U/state), in force from the next order on, on
every instance. STATE is ACTIVE, CLOSE_ONLY or HALTED (close-only is CLOSE_ONLY). A rejected order
carries GATE_HALTED, STRATEGY_HALTED, USER_HALTED or CLOSE_ONLY.
  ordergate state set --strategy STRATEGY_A HALTED --reason "feed down"
  ordergate state set --strategy STRATEGY_A ACTIVE

Options:
  --strategy S       the state of this strategy
  --user U           the state of this user
  --reason TEXT      why (1 to ${STATE_REASON_LENGTH_MAX} characters): kept in the log and shown by ordergate state;
                     needed for CLOSE_ONLY and HALTED
${SERVER_OPTIONS}
  -h, --help         print this help

${EXIT_CODES}`;

export async function runState(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === 'set') return withApi('state set', SET_HELP, () => set(rest));
  if (first !== undefined && !first.startsWith('-')) {
    console.error(
      `ordergate state: unknown command ${JSON.stringify(first)}: set, or none to print the states (see ordergate state --help)`,
    );
    return 2;
  }
  return withApi('state', STATE_HELP, () => show(argv));
}

/** One state as GET /state gives it. */
interface StateView {
  state: GateState;
  reason: string | null;
  since: string | null;
  by: string | null;
  version: number | null;
}

interface StatesAnswer {
  version: number;
  gate: StateView & { close_only_until: string | null };
  strategies: (StateView & { strategy: string })[];
  users: (StateView & { user: string })[];
}

async function show(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...SERVER_FLAGS, json: { type: 'boolean' } });
  helpRequested(values);
  const client = clientOf(values);
  if (values.json === true) {
    process.stdout.write(`${(await client.text('GET', '/state')).trimEnd()}\n`);
    return 0;
  }
  const states = await client.json<StatesAnswer>('GET', '/state');
  const lines = [`states at version ${states.version}`];
  const { gate } = states;
  // Setting the gate's state ends the close-only period of a square-off: the two never stand together.
  if (gate.close_only_until !== null)
    lines.push(`gate: CLOSE_ONLY after the square-off, until ${gate.close_only_until}`);
  else lines.push(`gate: ${describe(gate)}`);
  for (const strategy of states.strategies)
    lines.push(`strategy ${strategy.strategy}: ${describe(strategy)}`);
  for (const user of states.users) lines.push(`user ${user.user}: ${describe(user)}`);
  if (states.strategies.length === 0 && states.users.length === 0)
    lines.push('every strategy and every user: ACTIVE (none has a state of its own)');
  console.log(lines.join('\n'));
  return 0;
}

function describe(view: StateView): string {
  if (view.state === 'ACTIVE' || view.since === null) return view.state;
  const by = view.by === null ? 'open mode' : `key ${view.by}`;
  return `${view.state} since ${view.since} by ${by} (version ${view.version}): ${JSON.stringify(view.reason)}`;
}

async function set(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    { ...SERVER_FLAGS, strategy: { type: 'string' }, user: { type: 'string' }, reason: { type: 'string' } },
    true,
  );
  helpRequested(values);
  if (positionals.length !== 1)
    throw new UsageError(
      `give one STATE (ACTIVE, CLOSE_ONLY or HALTED), got ${positionals.length} arguments`,
    );
  const state = positionals[0]!.toUpperCase().replace(/-/g, '_');
  if (!(GATE_STATES as readonly string[]).includes(state))
    throw new UsageError(`STATE must be ACTIVE, CLOSE_ONLY or HALTED; got ${JSON.stringify(positionals[0])}`);
  const { strategy, user, reason } = values as { strategy?: string; user?: string; reason?: string };
  if (strategy !== undefined && user !== undefined)
    throw new UsageError('give --strategy S or --user U (or neither, for the gate), not both');
  for (const [flag, value] of [
    ['strategy', strategy],
    ['user', user],
  ] as const)
    if (value !== undefined && value.trim() === '') throw new UsageError(`--${flag} must not be empty`);
  if (reason !== undefined && (reason.trim() === '' || reason.length > STATE_REASON_LENGTH_MAX))
    throw new UsageError(`--reason must be 1 to ${STATE_REASON_LENGTH_MAX} characters`);
  if (state !== 'ACTIVE' && reason === undefined)
    throw new UsageError(`--reason TEXT is needed to make it ${state}: say why`);
  const client = clientOf(values);
  const path =
    strategy !== undefined
      ? `/strategies/${segment(strategy)}/state`
      : user !== undefined
        ? `/users/${segment(user)}/state`
        : '/state';
  const answer = await client.json<ChangeAnswer>('PUT', path, {
    body: { state, ...(reason !== undefined && { reason }) },
  });
  const what = strategy !== undefined ? `strategy ${strategy}` : user !== undefined ? `user ${user}` : 'gate';
  const why = state === 'ACTIVE' || reason === undefined ? '' : `: ${JSON.stringify(reason)}`;
  console.log(`version ${answer.version}: ${what} ${state}${why}`);
  return 0;
}
