// Bounded shutdown: SIGTERM with orders in flight that cannot commit (their book locked by another
// connection, or every fsync stalled) still answers every one of them, each with a 200 or a 503 that
// says whether it may have been applied, and the process exits within the drain time, not after the
// stall. After a restart, a retry with each order's client_order_id tells its outcome, and no order is
// ever applied twice.

import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';
import { testStore } from '../helpers/postgres.js';
import { type Server, startServer } from '../helpers/server.js';
import { ordersInFlight, stallBook } from '../helpers/stall.js';
import { attachStrace, haveStrace, stopStrace } from '../helpers/strace.js';
import { waitFor } from '../helpers/wait.js';
import { postOrder, readLog } from '../helpers/wire.js';

const IN_FLIGHT = 20;
/** The server's SHUTDOWN_DRAIN_MS, and what may follow it: the 503s written, the store closed. */
const DRAIN_MS = 10_000;
const EXIT_BOUND_MS = DRAIN_MS + 5_000;

const PROFILE = Object.fromEntries(
  Array.from({ length: IN_FLIGHT }, (_, i) => [`Trader ${i}`, { S1: ['ACC'] }]),
);

interface Sent {
  readonly id: string;
  readonly status: number;
  readonly body: Record<string, any>;
}

/** Sends IN_FLIGHT orders that will wait, waits until the server holds them all, then sends SIGTERM. */
async function stopWithOrdersInFlight(t: TestContext, server: Server) {
  const sent = Array.from({ length: IN_FLIGHT }, async (_, i): Promise<Sent> => {
    const id = `stop-${i}`;
    const order = {
      strategy: 'S1',
      instrument: 'ACC',
      position: i % 2 === 0 ? 'BUY' : 'SELL',
      client_order_id: id,
    };
    // A reset connection rejects here: the test fails, as every order must be answered.
    const reply = await postOrder(server, order, { timeoutMs: 60_000 });
    return { id, status: reply.status, body: JSON.parse(reply.text) };
  });
  await waitFor(
    `${IN_FLIGHT} orders in flight`,
    async () => ((await ordersInFlight(server)) === IN_FLIGHT ? true : undefined),
    10_000,
  );
  const started = Date.now();
  const exited = server.stop('SIGTERM');
  const answers = await Promise.all(sent);
  const answeredMs = Date.now() - started;
  t.diagnostic(
    `SIGTERM to the last answer: ${answeredMs} ms; answers: ${answers.map((a) => `${a.status}${a.body.outcome ? ` ${a.body.outcome}` : ''}`).join(', ')}`,
  );
  assert.ok(answeredMs < EXIT_BOUND_MS, `the last order was answered ${answeredMs} ms after SIGTERM`);
  for (const answer of answers) {
    if (answer.status === 200) continue;
    assert.equal(answer.status, 503, JSON.stringify(answer));
    assert.ok(
      ['STORE_UNAVAILABLE', 'SHUTTING_DOWN'].includes(answer.body.error),
      JSON.stringify(answer.body),
    );
    assert.ok(['NOT_APPLIED', 'UNKNOWN'].includes(answer.body.outcome), JSON.stringify(answer.body));
  }
  return { answers, exited, started };
}

/** The process exits by itself, within the bound, with code 0. */
async function assertExits(
  t: TestContext,
  server: Server,
  { exited, started }: { exited: Promise<number | null>; started: number },
) {
  const code = await exited;
  const exitMs = Date.now() - started;
  t.diagnostic(`SIGTERM to exit: ${exitMs} ms`);
  assert.equal(code, 0, `exit code ${code}:\n${server.output()}`);
  assert.ok(exitMs < EXIT_BOUND_MS, `the process took ${exitMs} ms to exit:\n${server.output()}`);
}

/** After the restart: the log holds every order answered 200, none answered NOT_APPLIED, none twice. */
async function checkAfterRestart(server: Server, answers: readonly Sent[]) {
  await server.restart();
  const logged = new Set((await readLog(server)).map((o) => o.client_order_id));
  for (const answer of answers) {
    if (answer.status === 200)
      assert.ok(logged.has(answer.id), `${answer.id} was answered 200 but is not in the log`);
    if (answer.body.outcome === 'NOT_APPLIED')
      assert.ok(!logged.has(answer.id), `${answer.id} was answered NOT_APPLIED but is in the log`);
  }
  const log = await readLog(server);
  const ids = log.map((o) => o.client_order_id);
  assert.equal(new Set(ids).size, ids.length, 'no order is in the log twice');
}

test('SIGTERM with orders held by a lock: every one is answered and the process exits', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const stall = await stallBook(server, 'S1', 'ACC');
  t.after(() => stall.release());
  const stopping = await stopWithOrdersInFlight(t, server);
  await assertExits(t, server, stopping);
  await stall.release();
  await checkAfterRestart(server, stopping.answers);
});

// The embedded store only: PostgreSQL's disk is PostgreSQL's.
if (testStore() === 'sqlite')
  test('SIGTERM while every fsync stalls: after the drain time the orders get 503 UNKNOWN and the process exits', async (t) => {
    const server = await startServer(t, { profile: PROFILE });
    if (!haveStrace(t, 'the stalled-disk test')) return;
    const strace = await attachStrace(t, server.pid, ['-e', 'inject=fsync,fdatasync:delay_enter=60s']);
    const { answers, exited, started } = await stopWithOrdersInFlight(t, server);
    // A thread inside a stalled fsync cannot end until the disk answers (so a real stuck disk holds the
    // process too): the disk recovers, and the server, which answered everything already, exits at once.
    await stopStrace(strace);
    await assertExits(t, server, { exited, started });
    assert.ok(
      answers.every((a) => a.status === 503 && a.body.outcome === 'UNKNOWN'),
      'a commit held in its fsync may yet reach the disk: every answer says the outcome is unknown',
    );
    assert.match(answers[0]!.body.message, /stopped after 10 s of draining/);
    await checkAfterRestart(server, answers);
    // Each retry tells the outcome, and none applies an order twice.
    for (const answer of answers) {
      const position = Number(answer.id.split('-')[1]) % 2 === 0 ? 'BUY' : 'SELL';
      const retry = await postOrder(server, {
        strategy: 'S1',
        instrument: 'ACC',
        position,
        client_order_id: answer.id,
      });
      assert.equal(retry.status, 200, retry.text);
    }
    const ids = (await readLog(server)).map((o) => o.client_order_id);
    assert.equal(new Set(ids).size, ids.length, 'no order applied twice');
    assert.equal(ids.length, IN_FLIGHT, 'every order is in the log once, after its retry');
  });
