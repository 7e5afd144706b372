// Rate limits over real HTTP: a flood from one key is answered 429 with Retry-After and applies
// nothing, while another key goes on unhindered; per address in open mode; /health never limited.

import assert from 'node:assert/strict';
import { request } from 'node:http';
import test from 'node:test';
import { createKey, get, post, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const PROFILE = { Ann: { S1: ['ACC', 'INFY'], S2: ['NTPC'] }, Bob: { S1: ['ACC'], S2: ['ACC'] } };
const LIMIT = 10;
/** How long past Retry-After the key may still be refused on a loaded machine. */
const RETRY_MARGIN_MS = 5_000;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test('a flood from one key gets 429 with Retry-After and applies nothing, and another key is not held back', async (t) => {
  const server = await startServer(t, { profile: PROFILE, env: { RATE_LIMIT: String(LIMIT) } });
  const admin = await createKey(server, '--admin');
  const flooder = await createKey(server, '--strategy', 'S1');
  const other = await createKey(server, '--strategy', 'S2');
  const flood = Array.from({ length: 6 * LIMIT }, (_, i) =>
    post(
      `${server.url}/orders`,
      { strategy: 'S1', instrument: 'ACC', position: i % 2 ? 'SELL' : 'BUY' },
      bearer(flooder.token),
    ),
  );
  const calm = Array.from({ length: LIMIT / 2 }, (_, i) =>
    post(
      `${server.url}/orders`,
      { strategy: 'S2', instrument: 'NTPC', position: i % 2 ? 'SELL' : 'BUY' },
      bearer(other.token),
    ),
  );
  const started = Date.now();
  const [flooded, served] = await Promise.all([Promise.all(flood), Promise.all(calm)]);
  // Counters are per one-second window: a flood that lasted longer may have met one more window.
  const windows = Math.ceil((Date.now() - started) / 1000) + 1;
  assert.deepEqual(
    served.map((answer) => answer.status),
    Array(LIMIT / 2).fill(200),
    'the other key was answered in full',
  );
  const accepted = flooded.filter((answer) => answer.status === 200).length;
  const limited = flooded.filter((answer) => answer.status === 429);
  assert.ok(
    accepted >= LIMIT && accepted <= windows * LIMIT,
    `${accepted} of the flood answered: at most ${LIMIT} in each of ${windows} windows`,
  );
  assert.equal(accepted + limited.length, flooded.length, 'every other answer was a 429');
  const refusal = limited[0]!;
  assert.equal(refusal.body.error, 'RATE_LIMITED');
  assert.match(refusal.body.message, new RegExp(`over ${LIMIT} requests in a second from this key`));
  const retryAfter = Number(refusal.headers.get('retry-after'));
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1,
    `Retry-After: ${refusal.headers.get('retry-after')}`,
  );

  const log = await get(`${server.url}/orders?limit=1000`, bearer(admin.token));
  assert.equal(log.status, 200, 'the admin key has a counter of its own');
  assert.equal(log.body.orders.length, accepted + LIMIT / 2, 'a refused order applied nothing');

  // Once the window has passed the key is served again: each try until then is a 429 that applies nothing.
  const again = await waitFor(
    'the flooding key served again after Retry-After',
    async () => {
      const answer = await post(
        `${server.url}/orders`,
        { strategy: 'S1', instrument: 'INFY', position: 'BUY' },
        bearer(flooder.token),
      );
      if (answer.status === 200) return answer;
      assert.equal(answer.status, 429, JSON.stringify(answer.body));
      return undefined;
    },
    retryAfter * 1000 + RETRY_MARGIN_MS,
  );
  assert.equal(again.body.strategy, 'S1');
});

test('in open mode the limit counts per address, /health is never limited, and RATE_LIMIT=off lifts it', async (t) => {
  const server = await startServer(t, { profile: PROFILE, env: { RATE_LIMIT: String(LIMIT) } });
  const statuses = (address: string, path: string, count: number) =>
    Promise.all(Array.from({ length: count }, () => statusFrom(address, `${server.url}${path}`)));
  const [flooded, neighbour, health] = await Promise.all([
    statuses('127.0.0.1', '/users', 4 * LIMIT),
    statuses('127.0.0.2', '/users', LIMIT / 2),
    statuses('127.0.0.1', '/health', 4 * LIMIT),
  ]);
  assert.ok(flooded.includes(429), 'the flooding address is limited');
  assert.deepEqual(neighbour, Array(LIMIT / 2).fill(200), 'another address is not');
  assert.deepEqual(health, Array(4 * LIMIT).fill(200), '/health is never limited');

  const unlimited = await startServer(t, { profile: PROFILE, env: { RATE_LIMIT: 'off' } });
  const all = await Promise.all(Array.from({ length: 10 * LIMIT }, () => get(`${unlimited.url}/users`)));
  assert.deepEqual(
    all.map((answer) => answer.status),
    Array(10 * LIMIT).fill(200),
  );
});

/** A GET from a given local address (127.0.0.2 reaches a server on 127.0.0.1 through loopback). */
function statusFrom(localAddress: string, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}
