// The README's table of limits is the code's: every limit named there has the value the code gives it,
// and every limit the code names is in the table. A limit changed in one place and not the other fails.

import assert from 'node:assert/strict';
import test from 'node:test';
import { SHUTDOWN_DRAIN_MS } from '../src/cli/serve.js';
import { SETTINGS } from '../src/config.js';
import { CLIENT_ORDER_ID_LENGTH_MAX, NAME_LENGTH_MAX } from '../src/domain/order.js';
import { INSTRUMENTS_PER_STRATEGY_MAX, SUBSCRIPTIONS_PER_USER_MAX } from '../src/domain/profile.js';
import { STATE_REASON_LENGTH_MAX } from '../src/domain/states.js';
import {
  AUTH_CHECKS_WAITING_MAX,
  AUTH_FAILURE_ADDRESSES_MAX,
  AUTH_FAILURE_WINDOW_MS,
  AUTH_FAILURES_MAX,
} from '../src/http/auth-failures.js';
import { BODY_BYTES_MAX } from '../src/http/error-answer.js';
import { PROFILE_BODY_BYTES_MAX } from '../src/http/live.js';
import { COUNTERS_MAX } from '../src/http/rate-limit.js';
import { PAGE_BYTES_MAX, PAGE_LIMIT_MAX } from '../src/store/page.js';
import { KEY_POOL_MAX, READ_POOL_MAX, READS_IN_FLIGHT_MAX } from '../src/store/postgres/pg-store.js';
import { ANSWER_BYTES_IN_FLIGHT_MAX, WRITER_ANSWER_MS_MAX } from '../src/store/sqlite/sqlite-store.js';
import { WAL_BYTES_MAX, WAL_OVERSHOOT_BYTES_MAX } from '../src/store/sqlite/writer-protocol.js';
import { readmeTable } from './helpers/readme.js';

/** Every limit, by the name the README gives it: a constant, or a setting's default. */
const LIMITS: Record<string, number> = {
  PAGE_LIMIT_MAX,
  PAGE_BYTES_MAX,
  ORDERS_IN_FLIGHT_MAX: Number(SETTINGS.ordersInFlightMax.fallback),
  ANSWER_BYTES_IN_FLIGHT_MAX,
  READS_IN_FLIGHT_MAX,
  READ_POOL_MAX,
  KEY_POOL_MAX,
  SUBSCRIPTIONS_PER_USER_MAX,
  INSTRUMENTS_PER_STRATEGY_MAX,
  SHUTDOWN_DRAIN_MS,
  WAL_BYTES_MAX,
  WAL_OVERSHOOT_BYTES_MAX,
  WRITER_ANSWER_MS_MAX,
  AUTH_FAILURES_MAX,
  AUTH_FAILURE_WINDOW_MS,
  AUTH_FAILURE_ADDRESSES_MAX,
  AUTH_CHECKS_WAITING_MAX,
  RATE_LIMIT_COUNTERS_MAX: COUNTERS_MAX,
  LOG_FILE_BYTES_MAX: Number(SETTINGS.logFileBytesMax.fallback),
  LOG_FILES_MAX: Number(SETTINGS.logFilesMax.fallback),
  BODY_BYTES_MAX,
  PROFILE_BODY_BYTES_MAX,
  STATE_REASON_LENGTH_MAX,
  NAME_LENGTH_MAX,
  CLIENT_ORDER_ID_LENGTH_MAX,
};

const UNITS: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, s: 1000, ms: 1 };

/** "4 MiB" → 4194304, "10 s" → 10000 (limits in time are kept in ms), "1000 rows" → 1000. */
function amountOf(cell: string): number {
  const match = /^(\d+)\s*(\S+)?/.exec(cell);
  assert.ok(match, `a value that starts with a number: ${cell}`);
  return Number(match[1]) * (UNITS[match[2] ?? ''] ?? 1);
}

test("README's table of limits holds every limit, each with the code's value", () => {
  const rows = readmeTable('limits');
  const documented = new Map(rows.map(([name, value]) => [name!, amountOf(value!)]));
  for (const [name, value] of Object.entries(LIMITS)) {
    assert.ok(documented.has(name), `${name} is not in the README's table of limits`);
    assert.equal(
      documented.get(name),
      value,
      `${name}: the README says ${documented.get(name)}, the code ${value}`,
    );
  }
  for (const name of documented.keys())
    assert.ok(name in LIMITS, `${name} is in the README but not checked here`);
});
