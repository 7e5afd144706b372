// The key API over real HTTP: in open mode anyone may create the first key, which closes open mode
// from the next request on; afterwards only admin keys may list, create or revoke; a revoked key is
// refused from the next request on; bad bodies get 400 naming the field; the list pages like the
// others. On PostgreSQL: test/e2e/postgres/keys-api.test.ts.

import assert from 'node:assert/strict';
import test from 'node:test';
import { get, post, runCli, type Server, startServer } from '../helpers/server.js';

const PROFILE = { Ann: { S1: ['ACC', 'INFY'], S2: ['NTPC'] }, Bob: { S1: ['ACC'] } };
const TOKEN = /^og_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;
const ISO = /^\d{4}-\d\d-\d\dT[\d:.]+Z$/;
const KEY_FIELDS = [
  'active',
  'created_at',
  'id',
  'last_used_at',
  'name',
  'revoked_at',
  'role',
  'strategy',
  'webhook',
];

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function remove(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'DELETE', headers });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** An admin key made through the API while the server is open: the way in for the other tests. */
async function firstAdmin(
  server: Server,
): Promise<{ id: string; token: string; auth: Record<string, string> }> {
  const created = await post(`${server.url}/keys`, { role: 'admin', name: 'operator' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { id: created.body.id, token: created.body.token, auth: bearer(created.body.token) };
}

test('in open mode POST /keys needs no key, answers the token once, and the first key closes open mode at once', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const empty = await get(`${server.url}/keys`);
  assert.equal(empty.status, 200, 'open like every other route');
  assert.deepEqual(empty.body, { keys: [], next_after: null });

  const created = await post(`${server.url}/keys`, { role: 'admin', name: 'ops on call' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const match = TOKEN.exec(created.body.token);
  assert.ok(match, `a token: ${created.body.token}`);
  assert.equal(created.body.id, match[1]);
  assert.deepEqual(
    { ...created.body, token: undefined, created_at: undefined },
    {
      id: match[1],
      role: 'admin',
      strategy: null,
      name: 'ops on call',
      webhook: false,
      active: true,
      last_used_at: null,
      revoked_at: null,
      token: undefined,
      created_at: undefined,
    },
  );
  assert.match(created.body.created_at, ISO);

  const refused = await get(`${server.url}/positions`);
  assert.equal(refused.status, 401, 'the very next request without a key is refused');
  assert.equal(
    (await post(`${server.url}/keys`, { role: 'admin' })).status,
    401,
    'no second key without one',
  );
  assert.equal((await get(`${server.url}/health`)).body.auth, 'keys');

  const listed = await get(`${server.url}/keys`, bearer(created.body.token));
  assert.equal(listed.status, 200);
  assert.equal(listed.body.keys.length, 1);
  assert.deepEqual(Object.keys(listed.body.keys[0]).sort(), KEY_FIELDS, 'never a token or a hash');
  assert.equal(JSON.stringify(listed.body).includes(created.body.token.slice(16)), false);
  assert.equal((await get(`${server.url}/positions`, bearer(created.body.token))).status, 200);
});

test('only an admin key may use the key API: a read key and a strategy key get 403 and change nothing', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const admin = await firstAdmin(server);
  const reader = await post(`${server.url}/keys`, { role: 'read', name: 'dashboard' }, admin.auth);
  assert.equal(reader.status, 201, JSON.stringify(reader.body));
  const engine = await post(`${server.url}/keys`, { role: 'strategy', strategy: 'S1' }, admin.auth);
  assert.equal(engine.status, 201, JSON.stringify(engine.body));
  assert.equal(engine.body.strategy, 'S1');

  for (const key of [reader.body, engine.body]) {
    const auth = bearer(key.token);
    const attempts = [
      await get(`${server.url}/keys`, auth),
      await post(`${server.url}/keys`, { role: 'admin' }, auth),
      await remove(`${server.url}/keys/${admin.id}`, auth),
    ];
    for (const attempt of attempts) {
      assert.equal(attempt.status, 403, `${key.role}: ${JSON.stringify(attempt.body)}`);
      assert.equal(attempt.body.error, 'FORBIDDEN');
      assert.match(attempt.body.message, /only an admin key may use (GET|POST|DELETE) \/keys/);
    }
  }
  const order = { strategy: 'S1', instrument: 'ACC', position: 'BUY' };
  assert.equal((await post(`${server.url}/orders`, order, bearer(engine.body.token))).status, 200);
  assert.equal((await get(`${server.url}/orders`, bearer(reader.body.token))).status, 200);
  const listed = await get(`${server.url}/keys`, admin.auth);
  assert.deepEqual(
    listed.body.keys.map((key: any) => [key.role, key.active]),
    [
      ['admin', true],
      ['read', true],
      ['strategy', true],
    ],
    'the refused requests created and revoked nothing',
  );
});

test('a key revoked through the API is refused from the next request on; a second revoke answers the same; an unknown id is 404', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const admin = await firstAdmin(server);
  const engine = await post(`${server.url}/keys`, { role: 'strategy', strategy: 'S1' }, admin.auth);
  const order = { strategy: 'S1', instrument: 'ACC', position: 'BUY' };
  assert.equal((await post(`${server.url}/orders`, order, bearer(engine.body.token))).status, 200);

  const revoked = await remove(`${server.url}/keys/${engine.body.id}`, admin.auth);
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.equal(revoked.body.active, false);
  assert.match(revoked.body.revoked_at, ISO);
  const refused = await post(
    `${server.url}/orders`,
    { ...order, position: 'SELL' },
    bearer(engine.body.token),
  );
  assert.equal(refused.status, 401, 'refused from the very next request');
  assert.equal(refused.body.error, 'UNAUTHORIZED');

  const again = await remove(`${server.url}/keys/${engine.body.id}`, admin.auth);
  assert.equal(again.status, 200, 'idempotent');
  assert.equal(again.body.revoked_at, revoked.body.revoked_at, 'the first revocation stands');
  const unknown = await remove(`${server.url}/keys/000000000000`, admin.auth);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error, 'KEY_NOT_FOUND');
  assert.match(unknown.body.message, /no API key has id "000000000000"/);

  // keys list only reads: beside the running server, on either store, it shows the revocation.
  const listed = await runCli(['keys', 'list', '--database-url', server.databaseUrl]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${engine.body.id} +strategy S1 +revoked `, 'm'));
  assert.equal((await get(`${server.url}/positions`, admin.auth)).status, 200, 'the admin key goes on');
});

const badBodies: [string, unknown, string | undefined, RegExp][] = [
  ['no role', { name: 'x' }, 'role', /body\.role is required/],
  ['an unknown role', { role: 'boss' }, 'role', /body\.role must be one of admin, read, strategy/],
  ['a role that is not text', { role: 7 }, 'role', /body\.role must be a string/],
  ['a strategy key without its strategy', { role: 'strategy' }, 'strategy', /body\.strategy is required/],
  ['a strategy on a read key', { role: 'read', strategy: 'S1' }, 'strategy', /only for a strategy key/],
  [
    'a strategy no order could carry',
    { role: 'strategy', strategy: 'A/B' },
    'strategy',
    /body\.strategy must be/,
  ],
  [
    'a webhook on an admin key',
    { role: 'admin', webhook: true },
    'webhook',
    /body\.webhook is only for a strategy key/,
  ],
  [
    'a webhook that is not true or false',
    { role: 'strategy', strategy: 'S1', webhook: 'yes' },
    'webhook',
    /body\.webhook/,
  ],
  ['an empty label', { role: 'read', name: '' }, 'name', /body\.name/],
  [
    'a label with a control character',
    { role: 'read', name: 'a\u0007b' },
    'name',
    /without control characters/,
  ],
  ['a label over 64 characters', { role: 'read', name: 'x'.repeat(65) }, 'name', /body\.name/],
  ['a misspelled field', { role: 'read', nmae: 'x' }, 'nmae', /body\.nmae is not a known field/],
];

test('bad bodies get 400 naming the field, and create nothing', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const admin = await firstAdmin(server);
  for (const [what, body, field, message] of badBodies) {
    const answer = await post(`${server.url}/keys`, body, admin.auth);
    assert.equal(answer.status, 400, `${what}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error, 'INVALID_REQUEST', what);
    assert.equal(answer.body.field, field, what);
    assert.match(answer.body.message, message, what);
  }
  const empty = await post(`${server.url}/keys`, '', admin.auth);
  assert.equal(empty.status, 400);
  assert.equal(empty.body.error, 'EMPTY_BODY');
  const badAfter = await get(`${server.url}/keys?after=nonsense`, admin.auth);
  assert.equal(badAfter.status, 400);
  assert.equal(badAfter.body.field, 'after');
  assert.equal((await get(`${server.url}/keys`, admin.auth)).body.keys.length, 1, 'only the admin key');
});

test('GET /keys pages with after and limit, oldest first, each key once', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const admin = await firstAdmin(server);
  const ids = [admin.id];
  for (let i = 0; i < 4; i++) {
    const created = await post(`${server.url}/keys`, { role: 'read', name: `reader ${i}` }, admin.auth);
    assert.equal(created.status, 201);
    ids.push(created.body.id);
  }
  const seen: string[] = [];
  const sizes: number[] = [];
  let after: string | null = null;
  do {
    const query: string = after === null ? 'limit=2' : `limit=2&after=${after}`;
    const page = await get(`${server.url}/keys?${query}`, admin.auth);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    sizes.push(page.body.keys.length);
    seen.push(...page.body.keys.map((key: any) => key.id));
    after = page.body.next_after;
  } while (after !== null);
  assert.deepEqual(sizes, [2, 2, 1]);
  assert.deepEqual(new Set(seen).size, 5, 'each key once');
  const whole = await get(`${server.url}/keys`, admin.auth);
  assert.deepEqual(
    whole.body.keys.map((key: any) => key.id),
    seen,
    'the pages are the list, in its order',
  );
  assert.deepEqual([...seen].sort(), [...ids].sort());
});
