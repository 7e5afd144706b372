// The end-of-day square-off: at SQUARE_OFF_AT on each trading day, every open position is closed by
// a SELL the gate sends, once. Once means: the square-off of a day is one record of the log (the
// store refuses a second one for the same day, on every instance sharing the database), written in
// the same transaction as its SELLs, so a crash in the middle leaves either all of it or none; a
// server that starts after the time on a trading day whose square-off is not in the log does it then.

import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { SquareOffConfig } from './config.js';
import { ChangeError } from './store/changes.js';
import type { Store } from './store/store.js';

const DAY_MS = 86_400_000;
/** A long wait is taken in steps, so a clock set forward (or a suspended machine) is noticed within this. */
const WAIT_STEP_MS_MAX = 60_000;
/** After a store that could not take the square-off (recovering, overloaded), it is tried again so soon. */
const RETRY_MS = 1000;
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

export class HolidaysError extends Error {
  override readonly name = 'HolidaysError';
}

/** A holidays file: one YYYY-MM-DD a line; blank lines and # comments are ignored. */
export function readHolidays(path: string | null): ReadonlySet<string> {
  if (path === null) return new Set();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new HolidaysError(
      `HOLIDAYS_PATH ${path}: cannot read it (${(error as NodeJS.ErrnoException).code})`,
    );
  }
  const days = new Set<string>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    if (!DAY_PATTERN.test(line) || Number.isNaN(Date.parse(`${line}T00:00:00Z`)))
      throw new HolidaysError(
        `HOLIDAYS_PATH ${path}, line ${index + 1}: ${JSON.stringify(line)} is not a date YYYY-MM-DD`,
      );
    days.add(line);
  });
  return days;
}

/** Trading days and local times in one time zone, from Intl alone (no time-zone library). */
export class TradingCalendar {
  readonly #config: SquareOffConfig;
  readonly #holidays: ReadonlySet<string>;
  readonly #format: Intl.DateTimeFormat;

  constructor(config: SquareOffConfig, holidays: ReadonlySet<string>) {
    this.#config = config;
    this.#holidays = holidays;
    this.#format = new Intl.DateTimeFormat('en-US', {
      timeZone: config.timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }

  /** The local day (YYYY-MM-DD) and second of the day at an instant. */
  local(ms: number): { day: string; second: number } {
    const parts: Record<string, string> = {};
    for (const part of this.#format.formatToParts(new Date(ms))) parts[part.type] = part.value;
    return {
      day: `${parts.year}-${parts.month}-${parts.day}`,
      second: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second),
    };
  }

  isTradingDay(day: string): boolean {
    const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
    return this.#config.weekdays.has(weekday) && !this.#holidays.has(day);
  }

  /** The instant a local day's second falls on (a time skipped by a clock change: just after it). */
  instantOf(day: string, second: number): number {
    const wall = Date.parse(`${day}T00:00:00Z`) + second * 1000;
    let guess = wall;
    for (let i = 0; i < 3; i++) {
      const seen = this.local(guess);
      const seenWall = Date.parse(`${seen.day}T00:00:00Z`) + seen.second * 1000;
      if (seenWall === wall) return guess;
      guess += wall - seenWall;
    }
    return guess;
  }

  /** The day after `day`, as YYYY-MM-DD. */
  static nextDay(day: string): string {
    return new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
  }

  /** The first trading day after `day` (within a year; past that, none is configured). */
  nextTradingDay(day: string): string {
    let next = TradingCalendar.nextDay(day);
    for (let i = 0; i < 366 && !this.isTradingDay(next); i++) next = TradingCalendar.nextDay(next);
    return next;
  }

  /** When the gate opens again after a square-off on `day`: the start of the next trading day. */
  closeOnlyUntil(day: string): number | null {
    if (this.#config.after === 'ACTIVE') return null;
    return this.instantOf(this.nextTradingDay(day), 0);
  }
}

export interface SquareOffSchedule {
  stop(): void;
}

/** Runs the square-off at its time on every trading day, and once at start if one is due today. */
export function scheduleSquareOff(
  store: Store,
  config: SquareOffConfig,
  calendar: TradingCalendar,
  logger: Logger,
): SquareOffSchedule {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const atSecond = config.atSecond!;
  const wait = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), Math.max(0, Math.min(ms, WAIT_STEP_MS_MAX)));
    timer.unref();
  };
  const tick = async () => {
    if (stopped) return;
    const now = Date.now();
    const { day, second } = calendar.local(now);
    if (calendar.isTradingDay(day) && second >= atSecond) {
      let done: boolean;
      try {
        done = await store.squaredOff(day);
      } catch {
        return wait(RETRY_MS);
      }
      if (!done && !(await squareOff(day))) return wait(RETRY_MS);
    }
    wait(nextRun(calendar, atSecond, now) - Date.now());
  };
  const squareOff = async (day: string): Promise<boolean> => {
    const closeOnlyUntilMs = calendar.closeOnlyUntil(day);
    logger.info({ day, at: config.at, timeZone: config.timeZone }, 'square-off: closing every open position');
    try {
      const result = await store.change(
        { kind: 'square-off', strategy: null, user: null, day, closeOnlyUntilMs },
        { keyId: null, atMs: Date.now() },
      );
      const answer = JSON.parse(result.json) as { closed: { positions: number }[] };
      const positions = answer.closed.reduce((sum, book) => sum + book.positions, 0);
      logger.warn(
        {
          day,
          version: result.seq,
          orders: answer.closed.length,
          positions,
          closeOnlyUntil: closeOnlyUntilMs === null ? null : new Date(closeOnlyUntilMs).toISOString(),
        },
        'square-off done',
      );
      return true;
    } catch (error) {
      // Another instance on the same database did it first: done.
      if (error instanceof ChangeError && error.code === 'SQUARED_OFF') return true;
      logger.error({ day, err: { message: (error as Error).message } }, 'square-off failed; retrying in 1 s');
      return false;
    }
  };
  void tick();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** The next instant the square-off is due: today's time if still ahead, else the next trading day's. */
function nextRun(calendar: TradingCalendar, atSecond: number, now: number): number {
  let { day } = calendar.local(now);
  for (let i = 0; i < 367; i++) {
    if (calendar.isTradingDay(day)) {
      const at = calendar.instantOf(day, atSecond);
      if (at > now) return at;
    }
    day = TradingCalendar.nextDay(day);
  }
  return now + DAY_MS;
}
