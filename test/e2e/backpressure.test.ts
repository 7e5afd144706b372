// Bounded queues, with backpressure that tells the truth: with the store held back by a real lock,
// ORDERS_IN_FLIGHT_MAX orders wait for their commit and the next one gets 503 OVERLOADED at once, with
// Retry-After, saying it was not applied; once the lock is gone the waiting orders are answered and the
// refused one is nowhere in the log. On SQLite the answers in flight are bounded in bytes too.

import assert from 'node:assert/strict';
import test from 'node:test';
import { testStore } from '../helpers/postgres.js';
import { runCli, startServer } from '../helpers/server.js';
import { ordersInFlight, stallBook } from '../helpers/stall.js';
import { attachStrace, haveStrace, stopStrace } from '../helpers/strace.js';
import { waitFor } from '../helpers/wait.js';
import { type Profile, postOrder, readLog } from '../helpers/wire.js';

const IN_FLIGHT_MAX = 8;
const PROFILE: Profile = { Ann: { S1: ['ACC', 'INFY'] }, Bob: { S1: ['ACC'] } };

function order(i: number) {
  return {
    strategy: 'S1',
    instrument: 'ACC',
    position: i % 2 === 0 ? 'BUY' : 'SELL',
    client_order_id: `bp-${i}`,
  };
}

test('ORDERS_IN_FLIGHT_MAX orders wait; the next gets 503 OVERLOADED at once, applying nothing', async (t) => {
  const server = await startServer(t, {
    profile: PROFILE,
    env: { ORDERS_IN_FLIGHT_MAX: String(IN_FLIGHT_MAX) },
  });
  const stall = await stallBook(server, 'S1', 'ACC');
  t.after(() => stall.release());
  const waiting = Array.from({ length: IN_FLIGHT_MAX }, (_, i) =>
    postOrder(server, order(i), { timeoutMs: 30_000 }),
  );
  await waitFor(
    'every order in flight',
    async () => ((await ordersInFlight(server)) === IN_FLIGHT_MAX ? true : undefined),
    4000,
  );

  const refused = await postOrder(server, order(IN_FLIGHT_MAX));
  assert.equal(refused.status, 503, refused.text);
  const body = JSON.parse(refused.text);
  assert.equal(body.error, 'OVERLOADED');
  assert.equal(body.outcome, 'NOT_APPLIED');
  assert.match(body.message, /ORDERS_IN_FLIGHT_MAX.*not applied/);
  assert.equal((await fetch(`${server.url}/health`)).status, 200, 'a full queue is not a sick server');

  await stall.release();
  const answers = await Promise.all(waiting);
  for (const answer of answers) assert.equal(answer.status, 200, answer.text);
  const log = await readLog(server);
  assert.deepEqual(
    log.map((o) => o.client_order_id).sort(),
    answers.map((a) => JSON.parse(a.text).client_order_id).sort(),
    'the orders that waited, each once, and not the refused one',
  );
  const retried = await postOrder(server, order(IN_FLIGHT_MAX));
  assert.equal(retried.status, 200, 'the refused order goes through once there is room');
  assert.equal(retried.replayed, false, 'it was never applied before');
});

test("an OVERLOADED answer says when to retry, in the seed's format too", async (t) => {
  const server = await startServer(t, { profile: PROFILE, env: { ORDERS_IN_FLIGHT_MAX: '1' } });
  const stall = await stallBook(server, 'S1', 'ACC');
  t.after(() => stall.release());
  const first = postOrder(server, order(0), { timeoutMs: 30_000 });
  await waitFor(
    'one order in flight',
    async () => ((await ordersInFlight(server)) === 1 ? true : undefined),
    4000,
  );
  const response = await fetch(`${server.url}/create_order`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ STRATEGY: 'S1', INSTRUMENT: 'ACC', POSITION: 'SELL' }),
  });
  assert.equal(response.status, 503);
  assert.equal(response.headers.get('retry-after'), '1');
  await response.arrayBuffer();
  await stall.release();
  assert.equal((await first).status, 200);
});

test('ORDERS_IN_FLIGHT_MAX is checked at start: 1 to 1,000,000', async () => {
  for (const bad of ['0', '1000001', 'ten', '']) {
    const result = await runCli(['serve'], {
      env: { ORDERS_IN_FLIGHT_MAX: bad, PORT: '0', HOST: '127.0.0.1' },
    });
    assert.equal(result.code, 2, `${JSON.stringify(bad)}: ${result.stderr}`);
    assert.match(result.stderr, /ORDERS_IN_FLIGHT_MAX must be an integer from 1 to 1000000/);
  }
  const help = await runCli(['serve', '--help']);
  assert.match(help.stdout, /--orders-in-flight-max/);
});

// The embedded store only: PostgreSQL holds an answer only while its order holds a connection, and
// its disk is PostgreSQL's.
if (testStore() === 'sqlite')
  test('answers in flight are bounded in bytes: big fan-outs on a stalled disk get OVERLOADED', async (t) => {
    // 40,000 users of one strategy: each BUY after the first denies all of them (an answer of about 4 MB).
    const profile: Profile = Object.fromEntries(
      Array.from({ length: 40_000 }, (_, i) => [
        `Trader ${String(i).padStart(6, '0')} ${'x'.repeat(50)}`,
        { BIG: ['ACC'] },
      ]),
    );
    const server = await startServer(t, { profile });
    if (!haveStrace(t, 'the stalled-disk test')) return;
    const buy = { strategy: 'BIG', instrument: 'ACC', position: 'BUY' };
    assert.equal((await postOrder(server, buy, { timeoutMs: 60_000 })).status, 200);
    // Every fsync waits a minute: the writer holds its first commit, and orders pile up behind it.
    const strace = await attachStrace(t, server.pid, ['-e', 'inject=fsync,fdatasync:delay_enter=60s']);
    const held: Promise<{ status: number; text: string }>[] = [];
    let refused: { status: number; text: string } | undefined;
    while (refused === undefined) {
      assert.ok(held.length < 200, 'no order was turned away');
      const reply = postOrder(server, buy, { timeoutMs: 120_000 });
      // Either it waits in flight (counted by /health) or it is answered at once: refused.
      const inFlight = waitFor(
        'the order in flight',
        async () => ((await ordersInFlight(server)) === held.length + 1 ? true : undefined),
        30_000,
      );
      const first = await Promise.race([reply.then((answer) => ({ answer })), inFlight.then(() => ({}))]);
      if ('answer' in first) refused = first.answer;
      else held.push(reply);
    }
    assert.equal(refused.status, 503, refused.text);
    const body = JSON.parse(refused.text);
    assert.equal(body.error, 'OVERLOADED');
    assert.equal(body.outcome, 'NOT_APPLIED');
    assert.match(body.message, /MiB of answers/);
    await stopStrace(strace);
    const answers = await Promise.all(held);
    for (const answer of answers) assert.equal(answer.status, 200);
    const bytes = answers.reduce((sum, answer) => sum + answer.text.length, 0);
    t.diagnostic(
      `${answers.length} orders holding ${Math.round(bytes / 2 ** 20)} MiB of answers in flight, then OVERLOADED`,
    );
    assert.ok(bytes >= 256 * 2 ** 20, 'the orders held reached the bound');
    assert.ok(bytes < 256 * 2 ** 20 + 8 * 2 ** 20, 'and went past it by one answer at most');
  });
