// No state from strangers: orders naming strategies and instruments that no user trades and nobody
// holds are answered and logged like any order, and leave nothing else behind: no position, no trade,
// no new strategy, and on PostgreSQL no new row in books. The replay still explains the whole log.

import assert from 'node:assert/strict';
import test from 'node:test';
import pg from 'pg';
import { prng } from '../helpers/random.js';
import { get, runCli, type Server, startServer } from '../helpers/server.js';
import { postOrder, readLog } from '../helpers/wire.js';

const PROFILE = { Ann: { S1: ['ACC', 'INFY'] }, Bob: { S2: ['ACC'] } };
const STRANGERS = 300;

async function booksRows(server: Server): Promise<number | null> {
  if (!server.databaseUrl.startsWith('postgres')) return null;
  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  try {
    return (await client.query<{ n: number }>('SELECT count(*)::integer AS n FROM books')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

test('orders from strangers are logged and leave no other state behind', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const books = await booksRows(server);
  const strategies = (await get(`${server.url}/strategies`)).body;
  const random = prng(11);
  const name = (prefix: string) => `${prefix}${Math.floor(random() * 1e9).toString(36)}`;
  for (let i = 0; i < STRANGERS; i++) {
    // Unknown strategies, and known strategies with instruments nobody trades with them.
    const strategy = i % 3 === 0 ? 'S1' : name('STRANGER_');
    const instrument = i % 3 === 0 ? name('NOBODY') : 'ACC';
    const position = i % 2 === 0 ? 'BUY' : 'SELL';
    const reply = await postOrder(server, { strategy, instrument, position });
    assert.equal(reply.status, 200, reply.text);
    const answer = JSON.parse(reply.text);
    assert.equal(answer.status, 'REJECTED');
    assert.equal(answer.accepted.length, 0);
    assert.equal(answer.reason, strategy === 'S1' ? 'NO_USER_ELIGIBLE' : 'STRATEGY_NOT_TRADED');
  }
  const real = await postOrder(server, { strategy: 'S1', instrument: 'ACC', position: 'BUY' });
  assert.equal(JSON.parse(real.text).status, 'ACCEPTED', 'the known books work as before');

  assert.equal((await readLog(server)).length, STRANGERS + 1, 'every order is in the log');
  assert.deepEqual((await get(`${server.url}/strategies`)).body, strategies, 'no strategy was added');
  const positions = (await get(`${server.url}/positions`)).body.positions;
  assert.deepEqual(
    positions.map(
      (p: { user: string; strategy: string; instrument: string }) =>
        `${p.user} ${p.strategy} ${p.instrument}`,
    ),
    ['Ann S1 ACC'],
  );
  assert.deepEqual((await get(`${server.url}/trades`)).body.trades, []);
  assert.equal(await booksRows(server), books, 'no book row was created for a stranger');

  const check = await runCli(['check', '--database-url', server.databaseUrl]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, new RegExp(`${STRANGERS + 1} orders replayed`));
});
