// The states in force: one for the whole gate, one per strategy, one per user, and the close-only
// period that follows a square-off. ACTIVE lets everything through, CLOSE_ONLY only SELLs, HALTED
// nothing; for each user the most restrictive of the gate's, the strategy's and the user's own wins.
// Pure data: the stores and the replay change it from the log's records, decide() reads it.

import type { Side } from './order.js';
import type { UserId } from './rules.js';

export const GATE_STATES = ['ACTIVE', 'CLOSE_ONLY', 'HALTED'] as const;
export type GateState = (typeof GATE_STATES)[number];

/** A reason given with a state: shown in GET /state and the log, never in an order's answer. */
export const STATE_REASON_LENGTH_MAX = 200;

export interface StateEntry {
  readonly state: Exclude<GateState, 'ACTIVE'>;
  readonly reason: string;
  /** The log record that set it, when, and by which key (null: open mode or the server itself). */
  readonly seq: number;
  readonly atMs: number;
  readonly keyId: string | null;
}

/** What a state blocks an order with, for one user or for the whole order. */
export type Block = 'GATE_HALTED' | 'STRATEGY_HALTED' | 'USER_HALTED' | 'CLOSE_ONLY';

/** A block that stops the whole order: the gate's or the strategy's. */
export type OrderBlock = Exclude<Block, 'USER_HALTED'>;

/** What decide() needs of the states for one order: null when nothing is in force (the usual case). */
export interface OrderStates {
  /** The gate's and the strategy's block on this order: it applies to every user it concerns. */
  readonly order: OrderBlock | null;
  /** The order-level state when it does not block (CLOSE_ONLY on a SELL still lets it through). */
  readonly orderState: GateState;
  /** Users with a state of their own. */
  readonly users: ReadonlyMap<UserId, StateEntry>;
}

const RANK: Record<GateState, number> = { ACTIVE: 0, CLOSE_ONLY: 1, HALTED: 2 };

export class GateStates {
  gate: StateEntry | null = null;
  readonly strategies = new Map<string, StateEntry>();
  readonly users = new Map<UserId, StateEntry>();
  /** After a square-off: the gate is close-only until this instant (the next trading day), 0 if not. */
  closeOnlyUntilMs = 0;
  /** The square-off that set closeOnlyUntilMs, for GET /state. */
  closeOnlySince: { readonly seq: number; readonly atMs: number } | null = null;

  /** Sets a state (ACTIVE removes it). Setting the gate's state ends a square-off's close-only period. */
  set(scope: 'gate' | 'strategy' | 'user', target: string | UserId | null, entry: StateEntry | null): void {
    if (scope === 'gate') {
      this.gate = entry;
      this.closeOnlyUntilMs = 0;
      this.closeOnlySince = null;
    } else if (scope === 'strategy') {
      if (entry === null) this.strategies.delete(target as string);
      else this.strategies.set(target as string, entry);
    } else if (entry === null) this.users.delete(target as UserId);
    else this.users.set(target as UserId, entry);
  }

  clear(): void {
    this.gate = null;
    this.strategies.clear();
    this.users.clear();
    this.closeOnlyUntilMs = 0;
    this.closeOnlySince = null;
  }

  /** The states one order meets, received at atMs; null when none is in force. */
  forOrder(strategy: string, side: Side, atMs: number): OrderStates | null {
    const strategyEntry = this.strategies.get(strategy);
    const curfew = atMs < this.closeOnlyUntilMs;
    if (this.gate === null && strategyEntry === undefined && !curfew && this.users.size === 0) return null;
    const gateState: GateState = this.gate?.state ?? (curfew ? 'CLOSE_ONLY' : 'ACTIVE');
    const strategyState: GateState = strategyEntry?.state ?? 'ACTIVE';
    const orderState = RANK[gateState] >= RANK[strategyState] ? gateState : strategyState;
    let order: OrderBlock | null = null;
    if (gateState === 'HALTED') order = 'GATE_HALTED';
    else if (strategyState === 'HALTED') order = 'STRATEGY_HALTED';
    else if (orderState === 'CLOSE_ONLY' && side === 'BUY') order = 'CLOSE_ONLY';
    return { order, orderState, users: this.users };
  }
}

/** A user's block: the most restrictive of the order's and the user's own, or null (let through). */
export function userBlock(states: OrderStates, userId: UserId, side: Side): Block | null {
  if (states.order === 'GATE_HALTED' || states.order === 'STRATEGY_HALTED') return states.order;
  const own = states.users.get(userId);
  if (own?.state === 'HALTED') return 'USER_HALTED';
  if (states.order === 'CLOSE_ONLY') return 'CLOSE_ONLY';
  if (own?.state === 'CLOSE_ONLY' && side === 'BUY') return 'CLOSE_ONLY';
  return null;
}
