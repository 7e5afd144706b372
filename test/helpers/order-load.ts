// Steady load from concurrent clients, each sending one order at a time with a client_order_id, and
// the check that follows a fault: every order answered 200 is in the log exactly as answered, and
// the independent model (model.ts) replays the whole log to every verdict, the positions and the trades.

import { byUser, replay } from './model.js';
import { pick, prng } from './random.js';
import type { Server } from './server.js';
import {
  type ClientOrder,
  type Fill,
  type LoggedOrder,
  type Position,
  type Profile,
  postOrder,
  readLog,
  readPositions,
  readTrades,
  type Trade,
} from './wire.js';

/** What one request came back with, when it was not a 200. */
export interface Refusal {
  readonly order: ClientOrder;
  readonly status: number | 'error';
  readonly body: string;
}

export interface Load {
  readonly sent: Map<string, ClientOrder>;
  /** Every order answered 200, as answered. */
  readonly acknowledged: Map<string, LoggedOrder>;
  readonly refused: Refusal[];
  /** Resolves once `count` more orders have been answered 200. */
  acknowledgedMore(count: number): Promise<void>;
  /** Stops the clients and waits for their last answers. */
  stop(): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 30_000;

/** `clients` concurrent clients sending random orders of `profile` (seeded) until stop(). */
export function startLoad(server: Server, profile: Profile, clients: number, seed: number): Load {
  const random = prng(seed);
  const strategies = [...new Set(Object.values(profile).flatMap((s) => Object.keys(s)))];
  const instruments = [...new Set(Object.values(profile).flatMap((s) => Object.values(s).flat()))];
  const sent = new Map<string, ClientOrder>();
  const acknowledged = new Map<string, LoggedOrder>();
  const refused: Refusal[] = [];
  const waiting: { at: number; resolve: () => void }[] = [];
  let stopping = false;
  let index = 0;
  const client = async () => {
    while (!stopping) {
      const order: ClientOrder = {
        strategy: pick(random, strategies),
        instrument: pick(random, instruments),
        position: random() < 0.5 ? 'BUY' : 'SELL',
        client_order_id: `load-${seed}-${index++}`,
      };
      sent.set(order.client_order_id, order);
      try {
        const reply = await postOrder(server, order, { timeoutMs: REQUEST_TIMEOUT_MS });
        if (reply.status === 200) acknowledged.set(order.client_order_id, JSON.parse(reply.text));
        else refused.push({ order, status: reply.status, body: reply.text });
      } catch (error) {
        refused.push({ order, status: 'error', body: String(error) });
      }
      for (const wait of waiting.filter((w) => acknowledged.size >= w.at)) {
        waiting.splice(waiting.indexOf(wait), 1);
        wait.resolve();
      }
    }
  };
  const running = Promise.all(Array.from({ length: clients }, client));
  return {
    sent,
    acknowledged,
    refused,
    acknowledgedMore: (count) =>
      new Promise((resolve) => waiting.push({ at: acknowledged.size + count, resolve })),
    async stop() {
      stopping = true;
      await running;
    },
  };
}

const sortedFills = (fills: readonly Fill[]) =>
  byUser(fills).map(({ user, buy_order_id, opened_at }) =>
    buy_order_id === undefined ? { user } : { user, buy_order_id, opened_at },
  );
const positionKey = (p: Position) =>
  JSON.stringify([p.user, p.strategy, p.instrument, p.order_id, p.opened_at]);
const tradeKey = (t: Trade) =>
  JSON.stringify([
    t.user,
    t.strategy,
    t.instrument,
    t.buy_order_id,
    t.sell_order_id,
    t.opened_at,
    t.closed_at,
  ]);

/**
 * The problems found (none is the pass): an acknowledged order missing from the log or logged otherwise
 * than answered, a logged order never sent or logged twice, a verdict the model does not reproduce,
 * open positions or trades other than the model's.
 */
export async function checkAgainstLog(server: Server, profile: Profile, load: Load): Promise<string[]> {
  const problems: string[] = [];
  const log = await readLog(server, { timeoutMs: REQUEST_TIMEOUT_MS });
  const byClientId = new Map<string, LoggedOrder>();
  for (const entry of log) {
    const id = entry.client_order_id;
    if (id === null || !load.sent.has(id)) problems.push(`order ${entry.order_id} was never sent`);
    else if (byClientId.has(id)) problems.push(`${id} is logged twice`);
    else byClientId.set(id, entry);
  }
  for (const [id, answer] of load.acknowledged) {
    const entry = byClientId.get(id);
    if (JSON.stringify(entry) !== JSON.stringify(answer))
      problems.push(`lost: ${id} was answered ${JSON.stringify(answer)}, logged ${JSON.stringify(entry)}`);
  }
  const model = replay(profile, log, (entry, verdict) => {
    const logged = [entry.status, entry.reason, sortedFills(entry.accepted), byUser(entry.rejected)];
    const replayed = [
      verdict.status,
      verdict.reason,
      sortedFills(verdict.accepted),
      byUser(verdict.rejected),
    ];
    if (JSON.stringify(logged) !== JSON.stringify(replayed))
      problems.push(
        `order ${entry.order_id} is logged ${JSON.stringify(logged)}, replayed ${JSON.stringify(replayed)}`,
      );
  });
  const strategies = [...new Set(log.map((entry) => entry.strategy))];
  const positions: Position[] = [];
  for (const strategy of strategies) {
    const query = `&strategy=${encodeURIComponent(strategy)}`;
    positions.push(...(await readPositions(server, { query, timeoutMs: REQUEST_TIMEOUT_MS })));
  }
  const served = positions.map(positionKey).sort();
  const expected = model.positions().map(positionKey).sort();
  if (JSON.stringify(served) !== JSON.stringify(expected))
    problems.push(`open positions: ${served.length} served, the replay gives ${expected.length} (or others)`);
  const trades = (await readTrades(server, { timeoutMs: REQUEST_TIMEOUT_MS })).map(tradeKey).sort();
  const modelTrades = model.trades.map(tradeKey).sort();
  if (JSON.stringify(trades) !== JSON.stringify(modelTrades))
    problems.push(`trades: ${trades.length} served, the replay gives ${modelTrades.length} (or others)`);
  return problems;
}
