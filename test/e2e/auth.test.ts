// API keys over real HTTP: open mode until the first key, each role allowed and refused, a revoke seen
// at once by a running server (made by the CLI on PostgreSQL, by the server's key API beside a server
// that owns its SQLite file), last use recorded, and the OpenAPI security schemes.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { createKey, get, post, revokeKey, runCli, startServer } from '../helpers/server.js';
import { waitFor, waitForLogLine } from '../helpers/wait.js';

const PROFILE = {
  Ann: { S1: ['ACC', 'INFY'], S2: ['NTPC'] },
  Bob: { S1: ['ACC'] },
  Cy: { S2: ['NTPC', 'ACC'] },
};

/** How long a key's last use may take to be written, off the answer path, on a loaded machine. */
const LAST_USE_TIMEOUT_MS = 15_000;

const READ_ROUTES = ['/orders', '/orders/1', '/positions', '/trades', '/users', '/users/Ann', '/strategies'];

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const apiKey = (token: string) => ({ 'x-api-key': token });

test('open until the first key: creating it closes a running server at once, but for /health and the docs', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  assert.match(server.output(), /WARN.*no API key exists: the server runs open/);
  const open = await post(`${server.url}/orders`, { strategy: 'S1', instrument: 'ACC', position: 'BUY' });
  assert.equal(open.status, 200, 'open mode: an order without a key, as the seed did');
  for (const route of READ_ROUTES) assert.equal((await get(`${server.url}${route}`)).status, 200, route);
  const health = await get(`${server.url}/health`);
  assert.equal(health.body.auth, 'open');
  assert.match(health.body.warning, /no API key exists/);

  const admin = await createKey(server, '--admin');
  const refused = await get(`${server.url}/positions`);
  assert.equal(refused.status, 401, 'the very next request needs a key');
  assert.equal(refused.body.error, 'UNAUTHORIZED');
  assert.match(refused.body.message, /Authorization: Bearer TOKEN or X-API-Key: TOKEN/);
  assert.match(refused.headers.get('www-authenticate') ?? '', /^Bearer/);
  const order = await post(`${server.url}/create_order`, {
    STRATEGY: 'S1',
    INSTRUMENT: 'INFY',
    POSITION: 'BUY',
  });
  assert.equal(order.status, 401);
  assert.equal(
    (await get(`${server.url}/nowhere`)).status,
    401,
    'no route is told to a caller without a key',
  );

  const closedHealth = await get(`${server.url}/health`);
  assert.equal(closedHealth.status, 200, '/health stays public');
  assert.equal(closedHealth.body.auth, 'keys');
  assert.equal(closedHealth.body.warning, undefined);
  assert.equal((await fetch(`${server.url}/docs/`)).status, 200, 'the docs stay public');
  assert.equal((await get(`${server.url}/openapi.json`)).status, 200);

  assert.equal((await get(`${server.url}/positions`, bearer(admin.token))).status, 200);
  assert.equal((await get(`${server.url}/positions`, apiKey(admin.token))).status, 200);
  assert.equal(
    (await get(`${server.url}/orders`, bearer(admin.token))).body.orders.length,
    1,
    'nothing refused was applied',
  );
  await waitForLogLine(server.logDir, /an API key exists now/);
});

test('each role may do what it is for and is refused the rest: 401 without a valid key, 403 beyond its role', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const admin = await createKey(server, '--admin', '--name', 'operator');
  const reader = await createKey(server, '--read');
  const engine = await createKey(server, '--strategy', 'S1', '--name', 'engine S1');

  const adminOrder = await post(
    `${server.url}/orders`,
    { strategy: 'S2', instrument: 'NTPC', position: 'BUY' },
    bearer(admin.token),
  );
  assert.equal(adminOrder.status, 200, 'an admin key places orders for any strategy');

  const own = await post(
    `${server.url}/orders`,
    { strategy: 'S1', instrument: 'ACC', position: 'BUY' },
    bearer(engine.token),
  );
  assert.equal(own.status, 200, 'a strategy key places orders for its strategy');
  assert.equal(own.body.status, 'ACCEPTED');
  const seed = await post(
    `${server.url}/create_order`,
    { STRATEGY: 'S1', INSTRUMENT: 'ACC', POSITION: 'SELL' },
    apiKey(engine.token),
  );
  assert.equal(seed.status, 200, "and on the seed's route, with X-API-Key");
  const other = await post(
    `${server.url}/create_order`,
    { STRATEGY: 'S2', INSTRUMENT: 'NTPC', POSITION: 'SELL' },
    apiKey(engine.token),
  );
  assert.equal(other.status, 403, 'never for another strategy');
  assert.equal(other.body.error, 'FORBIDDEN');
  assert.match(other.body.message, /for strategy S1 only; this order is for strategy S2/);
  const otherOrders = await post(
    `${server.url}/orders`,
    { strategy: 'S2', instrument: 'ACC', position: 'BUY' },
    bearer(engine.token),
  );
  assert.equal(otherOrders.status, 403);
  const engineReads = await get(`${server.url}/positions`, bearer(engine.token));
  assert.equal(engineReads.status, 403, 'a strategy key only places orders');
  assert.match(engineReads.body.message, /a key for strategy S1 may only place orders, not GET \/positions/);

  for (const route of READ_ROUTES) {
    const answer = await get(`${server.url}${route}`, apiKey(reader.token));
    assert.equal(answer.status, 200, `a read key may GET ${route}`);
  }
  assert.equal((await get(`${server.url}/users/Nobody`, apiKey(reader.token))).status, 404);
  assert.equal(
    (await get(`${server.url}/nowhere`, apiKey(reader.token))).status,
    404,
    'a known key learns of a 404',
  );
  for (const [route, body] of [
    ['/orders', { strategy: 'S1', instrument: 'ACC', position: 'BUY' }],
    ['/create_order', { STRATEGY: 'S1', INSTRUMENT: 'ACC', POSITION: 'BUY' }],
  ] as const) {
    const refused = await post(`${server.url}${route}`, body, bearer(reader.token));
    assert.equal(refused.status, 403, `a read key may not POST ${route}`);
    assert.match(
      refused.body.message,
      new RegExp(`a read key may use the GET endpoints only, not POST ${route}`),
    );
  }

  const secret = admin.token.slice(16);
  const wrongSecret = `og_${admin.id}_${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
  const unknownId = `og_000000000000_${secret}`;
  const unknowns: [string, Record<string, string>][] = [
    ['no key', {}],
    ['an unknown id', bearer(unknownId)],
    ['the wrong secret for a real id', bearer(wrongSecret)],
    ['a malformed token', apiKey('letmein')],
    ['a token cut short', bearer(admin.token.slice(0, -1))],
    ['another scheme', { authorization: `Basic ${Buffer.from(`x:${admin.token}`).toString('base64')}` }],
    ['two headers naming different keys', { ...bearer(admin.token), ...apiKey(reader.token) }],
  ];
  const messages = new Set<string>();
  for (const [what, headers] of unknowns) {
    const answer = await post(
      `${server.url}/orders`,
      { strategy: 'S1', instrument: 'ACC', position: 'BUY' },
      headers,
    );
    assert.equal(answer.status, 401, what);
    assert.equal(answer.body.error, 'UNAUTHORIZED', what);
    if (what.includes('id') || what.includes('secret') || what.includes('malformed'))
      messages.add(answer.body.message);
  }
  assert.equal(messages.size, 1, 'an unknown id, a wrong secret and a malformed token get the same answer');
  assert.equal(
    (await get(`${server.url}/positions`, { ...bearer(admin.token), ...apiKey(admin.token) })).status,
    200,
  );

  const log = await get(`${server.url}/orders`, bearer(admin.token));
  assert.deepEqual(
    log.body.orders.map((o: any) => o.strategy),
    ['S2', 'S1', 'S1'],
    'only the allowed orders reached the log',
  );
});

test('a revoked key is refused by the running server from its next request on', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const admin = await createKey(server, '--admin');
  const engine = await createKey(server, '--strategy', 'S1');
  const order = { strategy: 'S1', instrument: 'ACC', position: 'BUY' };
  assert.equal((await post(`${server.url}/orders`, order, bearer(engine.token))).status, 200);
  await revokeKey(server, engine.id);
  const refused = await post(`${server.url}/orders`, { ...order, position: 'SELL' }, bearer(engine.token));
  assert.equal(refused.status, 401, 'no cache: the next request after the revoke is refused');
  assert.equal(refused.body.error, 'UNAUTHORIZED');
  assert.equal((await get(`${server.url}/positions`, bearer(admin.token))).status, 200, 'other keys go on');
  await revokeKey(server, admin.id);
  assert.equal(
    (await get(`${server.url}/positions`)).status,
    401,
    'revoking every key does not open the server again',
  );
  assert.equal((await get(`${server.url}/health`)).body.auth, 'keys');
});

test('a key in use gets its last use recorded, off the answer path', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  // The first admin key is the operator's (beside a SQLite server it makes the others): used too.
  await createKey(server, '--admin');
  const reader = await createKey(server, '--read');
  const unused = await createKey(server, '--admin');
  for (let i = 0; i < 20; i++)
    assert.equal((await get(`${server.url}/users`, bearer(reader.token))).status, 200);
  // Recorded off the answer path, so a moment after the answers: keys list shows it once it is written.
  const lines = await waitFor(
    'the read key listed with a last use',
    async () => {
      const listed = await runCli(['keys', 'list', '--database-url', server.databaseUrl]);
      const listedLines = listed.stdout.trimEnd().split('\n');
      const readerLine = listedLines.find((line) => line.startsWith(reader.id));
      if (readerLine !== undefined && !readerLine.includes('last used never')) return listedLines;
      throw new Error(`keys list: ${listed.stdout.trim()}`);
    },
    LAST_USE_TIMEOUT_MS,
  );
  const lineOf = (id: string) => lines.find((line) => line.startsWith(id)) ?? '';
  assert.match(lineOf(reader.id), new RegExp(`^${reader.id} .*last used \\d{4}-\\d\\d-\\d\\dT`));
  assert.match(lineOf(unused.id), new RegExp(`^${unused.id} .*last used never`));
});

test('the OpenAPI document describes both ways to send a key, and /health needs none', async (t) => {
  const server = await startServer(t);
  const spec = (await get(`${server.url}/openapi.json`)).body;
  assert.deepEqual(spec.components.securitySchemes.bearer, {
    type: 'http',
    scheme: 'bearer',
    description: spec.components.securitySchemes.bearer.description,
  });
  assert.equal(spec.components.securitySchemes.apiKey.in, 'header');
  assert.equal(spec.components.securitySchemes.apiKey.name, 'X-API-Key');
  assert.deepEqual(spec.security, [{ bearer: [] }, { apiKey: [] }]);
  assert.deepEqual(spec.paths['/health'].get.security, []);
  assert.ok(spec.paths['/orders'].post.responses['401'], 'a refusal is documented');
  assert.ok(spec.paths['/orders'].post.responses['403']);
});

test('no token reaches the log files or the terminal, whatever the answer', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const engine = await createKey(server, '--strategy', 'S1');
  const secret = engine.token.slice(16);
  const order = { strategy: 'S1', instrument: 'ACC', position: 'BUY', client_order_id: 'engine-S1-1' };
  assert.equal((await post(`${server.url}/orders`, order, bearer(engine.token))).status, 200);
  assert.equal((await post(`${server.url}/orders`, order, apiKey(engine.token))).status, 200, 'a retry');
  await post(
    `${server.url}/orders`,
    { ...order, strategy: 'S2', client_order_id: 'x' },
    bearer(engine.token),
  );
  await post(`${server.url}/orders`, '{"strategy":', bearer(engine.token));
  await get(`${server.url}/positions`, apiKey(engine.token));
  await get(`${server.url}/positions`, bearer(`${engine.token.slice(0, -1)}x`));
  assert.equal(await server.stop(), 0);
  const logs = readdirSync(server.logDir).map((name) => readFileSync(join(server.logDir, name), 'utf8'));
  const text = logs.join('') + server.output();
  assert.match(text, /"msg":"order"/, 'the orders were logged');
  assert.equal(text.includes(secret), false, 'no secret in any log line');
  assert.equal(text.includes(engine.token.slice(0, 20)), false, 'nor any part of the token');
  assert.equal(/bearer/i.test(text), false, 'nor an Authorization header');
});
