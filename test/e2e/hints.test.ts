// Errors that say what to do, against a real server: a misspelt or misplaced field is named with the
// field that was probably meant, and an order rejected for a name that differs from a known one only
// in letter case says that names are case-sensitive and which name exists. Reason codes and per-user
// verdicts stay as they were; the log keeps the rules' answer, which `ordergate check` replays.

import assert from 'node:assert/strict';
import test from 'node:test';
import { get, post, runCli, startServer } from '../helpers/server.js';

const order = (fields: Record<string, unknown>) => ({
  strategy: 'STRATEGY_A',
  instrument: 'GRASIM',
  position: 'BUY',
  ...fields,
});
const seed = (fields: Record<string, unknown>) => ({
  STRATEGY: 'STRATEGY_A',
  INSTRUMENT: 'GRASIM',
  POSITION: 'BUY',
  ...fields,
});
const renamed = (body: Record<string, unknown>, from: string, to: string) => {
  const { [from]: value, ...rest } = body;
  return { ...rest, [to]: value };
};

const FIELD_CASES: readonly {
  name: string;
  path: string;
  body: Record<string, unknown>;
  field: string;
  message: RegExp;
}[] = [
  {
    name: 'INSTRUMNET on /create_order',
    path: '/create_order',
    body: renamed(seed({}), 'INSTRUMENT', 'INSTRUMNET'),
    field: 'INSTRUMNET',
    message: /^body\.INSTRUMNET is not a known field: did you mean INSTRUMENT\?$/,
  },
  {
    name: 'instrumnet on /orders',
    path: '/orders',
    body: renamed(order({}), 'instrument', 'instrumnet'),
    field: 'instrumnet',
    message: /^body\.instrumnet is not a known field: did you mean instrument\?$/,
  },
  {
    name: 'the lower-case fields of /orders on /create_order',
    path: '/create_order',
    body: order({}),
    field: 'strategy',
    message:
      /did you mean STRATEGY\? POST \/create_order takes the seed's capitals .*POST \/orders takes lower-case fields/,
  },
  {
    name: 'side on /create_order',
    path: '/create_order',
    body: renamed(seed({}), 'POSITION', 'side'),
    field: 'side',
    message: /did you mean POSITION\? .*POST \/orders takes lower-case fields/,
  },
  {
    name: 'client_order_id on /create_order',
    path: '/create_order',
    body: seed({ client_order_id: 'k1' }),
    field: 'client_order_id',
    message: /POST \/create_order takes it as the Idempotency-Key header/,
  },
  {
    name: "the seed's capitals on /orders",
    path: '/orders',
    body: seed({}),
    field: 'STRATEGY',
    message:
      /did you mean strategy\? POST \/orders takes lower-case fields; the capitals are POST \/create_order's/,
  },
  {
    name: "a field named like one of every object's (constructor)",
    path: '/create_order',
    body: renamed(seed({}), 'STRATEGY', 'constructor'),
    field: 'constructor',
    message: /^body\.constructor is not a known field: POST \/create_order takes the seed's capitals/,
  },
  {
    name: "the seed's capital QUANTITY on /orders",
    path: '/orders',
    body: order({ QUANTITY: 1 }),
    field: 'QUANTITY',
    message: /^body\.QUANTITY is not a known field: did you mean quantity\?/,
  },
  {
    name: 'a field like none known',
    path: '/orders',
    body: order({ PRICE: 1 }),
    field: 'PRICE',
    message: /the known ones are strategy, instrument, position, quantity, client_order_id$/,
  },
];

test('a misspelt or misplaced field is named, with what was probably meant', async (t) => {
  const server = await startServer(t);
  for (const { name, path, body, field, message } of FIELD_CASES) {
    await t.test(name, async () => {
      const answer = await post(`${server.url}${path}`, body);
      assert.equal(answer.status, 400);
      assert.equal(answer.body.error, 'INVALID_REQUEST');
      assert.equal(answer.body.field, field);
      assert.match(answer.body.message, message);
    });
  }
  await t.test('a misspelt query parameter', async () => {
    const answer = await get(`${server.url}/orders?usr=Oaklee%20Wagner`);
    assert.equal(answer.status, 400);
    assert.equal(answer.body.field, 'usr');
    assert.match(answer.body.message, /^querystring\.usr is not a known field: did you mean user\?$/);
  });
  assert.deepEqual((await get(`${server.url}/orders`)).body.orders, [], 'no refused request was logged');
});

test('names are case-sensitive: a rejected order says which name exists, its codes unchanged', async (t) => {
  const server = await startServer(t);
  const hinted: Record<string, any>[] = [];

  await t.test('a strategy in the wrong case: STRATEGY_NOT_TRADED, and STRATEGY_A exists', async () => {
    const answer = await post(`${server.url}/orders`, order({ strategy: 'strategy_a' }));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'REJECTED');
    assert.equal(answer.body.reason, 'STRATEGY_NOT_TRADED');
    assert.equal(answer.body.hint, 'names are case-sensitive: did you mean STRATEGY_A?');
    assert.deepEqual([answer.body.accepted, answer.body.rejected], [[], []]);
    hinted.push(answer.body);
  });

  await t.test('an instrument in the wrong case: NO_USER_ELIGIBLE, the users as before', async () => {
    const answer = await post(`${server.url}/create_order`, seed({ INSTRUMENT: 'grasim' }));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.RESPONSE, 'REJECTED');
    assert.equal(answer.body.reason, 'NO_USER_ELIGIBLE');
    assert.equal(answer.body.hint, 'names are case-sensitive: did you mean GRASIM?');
    assert.deepEqual(answer.body.rejected, [
      { user: 'Holland Proctor', reason: 'INSTRUMENT_NOT_IN_STRATEGY' },
    ]);
    const { RESPONSE: _, ...body } = answer.body;
    hinted.push(body);
  });

  await t.test('both in the wrong case', async () => {
    const answer = await post(
      `${server.url}/orders`,
      order({ strategy: 'Strategy_A', instrument: 'Grasim' }),
    );
    assert.equal(answer.body.hint, 'names are case-sensitive: did you mean STRATEGY_A and GRASIM?');
  });

  await t.test('a retry is answered as the order was, with its hint', async () => {
    const headers = { 'idempotency-key': 'case-1' };
    const first = await post(`${server.url}/orders`, order({ strategy: 'strategy_b' }), headers);
    const retry = await post(`${server.url}/orders`, order({ strategy: 'strategy_b' }), headers);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.equal(first.body.hint, 'names are case-sensitive: did you mean STRATEGY_B?');
    assert.deepEqual(retry.body, first.body);
  });

  await t.test('no hint where letter case explains nothing', async () => {
    const cases = [
      order({ strategy: 'STRATEGY_Z' }),
      order({ instrument: 'NOT_LISTED' }),
      order({ instrument: 'MINDA' }),
      order({}),
      order({}),
    ];
    const answers = [];
    for (const body of cases) answers.push((await post(`${server.url}/orders`, body)).body);
    assert.deepEqual(
      answers.map((answer) => [answer.status, answer.reason, 'hint' in answer]),
      [
        ['REJECTED', 'STRATEGY_NOT_TRADED', false],
        ['REJECTED', 'NO_USER_ELIGIBLE', false],
        // MINDA is STRATEGY_B's, not STRATEGY_A's: another strategy's instrument is no case slip.
        ['REJECTED', 'NO_USER_ELIGIBLE', false],
        ['ACCEPTED', null, false],
        ['REJECTED', 'NO_USER_ELIGIBLE', false],
      ],
    );
  });

  await t.test("the log keeps the rules' answer, without the hint, and check replays it", async () => {
    for (const answer of hinted) {
      const logged = await get(`${server.url}/orders/${answer.order_id}`);
      const { hint: _, ...rules } = answer;
      assert.deepEqual(logged.body, rules);
    }
    const check = await runCli(['check', '--database-url', server.databaseUrl]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /mismatches: 0/);
  });
});
