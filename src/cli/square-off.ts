// `ordergate square-off [--strategy S] [--user U]`: closes open positions now on a running server, through
// its API (POST /square-off): each (strategy, instrument) with open positions gets one SELL from the gate.

import {
  type ChangeAnswer,
  clientOf,
  plural,
  positionLines,
  positionsClosed,
  SERVER_FLAGS,
  SERVER_OPTIONS,
  withApi,
} from './api-client.js';
import { helpRequested, parseFlags, UsageError } from './args.js';

export const SQUARE_OFF_HELP = `Usage: ordergate square-off [--strategy S] [--user U] [--url URL] [--key TOKEN]

Closes every open position now (POST /square-off), or those of one strategy, of one user, or of one
strategy for one user. Each (strategy, instrument) with open positions gets one SELL from the gate,
logged like any order with its trades; each is printed, then the positions closed in all. Squaring off
everything (neither flag) also makes the gate CLOSE_ONLY until the next trading day, as the scheduled
square-off does (ordergate state set ACTIVE ends it sooner).

Options:
  --strategy S       only the positions of this strategy
  --user U           only this user's positions
${SERVER_OPTIONS}
  -h, --help         print this help

Exit codes: 0 when done (also when no position was open); 1 when the server refuses or fails (its
message is printed: an unknown user, a missing or wrong key) or cannot be reached; 2 for a bad flag.`;

export async function runSquareOff(argv: string[]): Promise<number> {
  return withApi('square-off', SQUARE_OFF_HELP, async () => {
    const { values } = parseFlags(argv, {
      ...SERVER_FLAGS,
      strategy: { type: 'string' },
      user: { type: 'string' },
    });
    helpRequested(values);
    const { strategy, user } = values as { strategy?: string; user?: string };
    for (const [flag, value] of [
      ['strategy', strategy],
      ['user', user],
    ] as const)
      if (value !== undefined && value.trim() === '') throw new UsageError(`--${flag} must not be empty`);
    const client = clientOf(values);
    const answer = await client.json<ChangeAnswer>('POST', '/square-off', {
      body: { ...(strategy !== undefined && { strategy }), ...(user !== undefined && { user }) },
    });
    const scope = [strategy && `strategy ${strategy}`, user && `user ${user}`].filter(Boolean).join(' for ');
    const lines = [`version ${answer.version}: squared off ${scope === '' ? 'everything' : scope}`];
    lines.push(...positionLines(answer));
    lines.push(
      `total: ${plural(positionsClosed(answer), 'position')} closed by ${plural(answer.closed.length, 'SELL')}`,
    );
    const until = answer.close_only_until;
    if (typeof until === 'string') lines.push(`the gate is CLOSE_ONLY until ${until}`);
    console.log(lines.join('\n'));
    return 0;
  });
}
