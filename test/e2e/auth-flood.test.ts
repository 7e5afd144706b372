// Failed authentications over real HTTP: an address that sends AUTH_FAILURES_MAX keys that are not
// valid gets 401 for each, then 429 with Retry-After before any lookup, and is let in again after the
// window; a valid key from another address is never held back; and a flood of random well-formed
// tokens from many connections leaves an engine's orders and /health answered throughout.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import test from 'node:test';
import { AUTH_FAILURE_WINDOW_MS, AUTH_FAILURES_MAX } from '../../src/http/auth-failures.js';
import { createKey, startServer } from '../helpers/server.js';

const PROFILE = { Ann: { S1: ['ACC', 'INFY'] }, Bob: { S1: ['ACC'] } };
const FLOODER = '127.0.0.1';
const ENGINE = '127.0.0.2';
const PROBE = '127.0.0.3';
const FLOOD_REQUESTS = 20_000;
const FLOOD_CONNECTIONS = 64;
const HEALTH_POLL_MS = 50;
/** How long the window may take to end, and a margin for a busy machine. */
const WINDOW_WAIT_MS = AUTH_FAILURE_WINDOW_MS + 10_000;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
/** A token of the right shape whose id and secret are random: unknown to the server. */
const randomToken = () => `og_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
const ORDER = JSON.stringify({ strategy: 'S1', instrument: 'ACC', position: 'BUY' });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, any>;
}

/** One request from a given local address (127.0.0.x reaches a server on 127.0.0.1 through loopback). */
function send(
  url: string,
  options: { from: string; method?: string; headers?: Record<string, string>; body?: string; agent?: Agent },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        localAddress: options.from,
        agent: options.agent ?? false,
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode!, headers: response.headers, body: JSON.parse(text) }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const order = (url: string, from: string, token: string, position = 'BUY', agent?: Agent) =>
  send(`${url}/orders`, {
    from,
    method: 'POST',
    headers: bearer(token),
    body: JSON.stringify({ strategy: 'S1', instrument: 'ACC', position }),
    ...(agent === undefined ? {} : { agent }),
  });

test('an address gets 401 for AUTH_FAILURES_MAX keys that are not valid, 429 with Retry-After from the next one until the window ends; another address is never held back', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const engine = await createKey(server, '--strategy', 'S1');
  const secret = engine.token.slice(16);
  // Every kind of 401 for a token counts: an unknown id, a wrong secret, a malformed token or header.
  const wrong = [
    randomToken(),
    `og_${engine.id}_${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`,
    'letmein',
    engine.token.slice(0, -1),
  ];
  let position = 'SELL';
  const engineOrder = async (from: string) => {
    position = position === 'BUY' ? 'SELL' : 'BUY';
    return order(server.url, from, engine.token, position);
  };
  for (let i = 0; i < AUTH_FAILURES_MAX; i++) {
    const headers = i === 3 ? { authorization: `Basic ${engine.token}` } : bearer(wrong[i % wrong.length]!);
    const refused = await send(`${server.url}/orders`, {
      from: FLOODER,
      method: 'POST',
      headers,
      body: ORDER,
    });
    assert.equal(refused.status, 401, `failure ${i + 1} of ${AUTH_FAILURES_MAX} is told why`);
    assert.equal(refused.body.error, 'UNAUTHORIZED');
    assert.equal((await engineOrder(ENGINE)).status, 200, 'a valid key from another address goes on');
  }
  // Taken before the request: the server's window ends no sooner than Retry-After, less its rounding, after.
  const limitedAt = performance.now();
  const limited = await order(server.url, FLOODER, randomToken());
  assert.equal(limited.status, 429, `failure ${AUTH_FAILURES_MAX + 1} is refused before its lookup`);
  assert.equal(limited.body.error, 'AUTH_RATE_LIMITED');
  assert.match(limited.body.message, new RegExp(`${AUTH_FAILURES_MAX} requests from ${FLOODER} in \\d+ s`));
  assert.match(limited.body.message, /check the key the client sends/);
  const retryAfterS = Number(limited.headers['retry-after']);
  assert.ok(
    Number.isInteger(retryAfterS) && retryAfterS >= 1 && retryAfterS <= AUTH_FAILURE_WINDOW_MS / 1000,
    `Retry-After: ${limited.headers['retry-after']}`,
  );

  const sameAddress = await engineOrder(FLOODER);
  assert.equal(
    sameAddress.status,
    429,
    'a valid key from the held-back address is refused too (a shared proxy)',
  );
  assert.equal(sameAddress.body.error, 'AUTH_RATE_LIMITED');
  assert.equal((await engineOrder(ENGINE)).status, 200, 'the other address is not');
  const keyless = await send(`${server.url}/orders`, { from: FLOODER, method: 'POST', body: ORDER });
  assert.equal(keyless.status, 401, 'a request without a key costs no lookup and is told it needs one');
  const health = await send(`${server.url}/health`, { from: FLOODER });
  assert.equal(health.status, 200, '/health is not held back');
  await waitFor(() => /too many failed authentications from one address/.test(server.output()), 5000);
  assert.match(server.output(), /address"?: ?"127\.0\.0\.1"/, 'the log names the address');

  // Let in again once the window ends: wait on that, polling with the valid key (a 429 costs nothing).
  let answer = sameAddress;
  const deadline = performance.now() + WINDOW_WAIT_MS;
  while (answer.status === 429 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    answer = await engineOrder(FLOODER);
  }
  assert.equal(answer.status, 200, `served again within ${WINDOW_WAIT_MS} ms`);
  assert.ok(
    performance.now() - limitedAt >= (retryAfterS - 1) * 1000,
    'not before Retry-After (rounded up to whole seconds) had passed',
  );
  const counted = await order(server.url, FLOODER, randomToken());
  assert.equal(counted.status, 401, 'the address is counted afresh');
});

test('a flood of random well-formed tokens from many connections: an engine on another address is answered throughout, /health stays ready', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const engine = await createKey(server, '--strategy', 'S1');
  const engineAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const floodAgent = new Agent({ keepAlive: true, maxSockets: FLOOD_CONNECTIONS });
  t.after(() => {
    engineAgent.destroy();
    floodAgent.destroy();
  });
  const latency = (samples: number[]) => {
    const sorted = [...samples].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
    return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms over ${sorted.length} orders`;
  };
  const engineStatuses: number[] = [];
  const engineLatencies: number[] = [];
  let position = 'SELL';
  const engineOrder = async () => {
    position = position === 'BUY' ? 'SELL' : 'BUY';
    const started = performance.now();
    const answer = await order(server.url, ENGINE, engine.token, position, engineAgent);
    engineLatencies.push(performance.now() - started);
    engineStatuses.push(answer.status);
  };
  for (let i = 0; i < 200; i++) await engineOrder();
  const calm = latency(engineLatencies);
  engineLatencies.length = 0;

  let flooding = true;
  const floodStatuses = new Map<number, number>();
  const flood = async () => {
    const started = performance.now();
    let next = 0;
    const connection = async () => {
      while (next < FLOOD_REQUESTS) {
        next++;
        const answer = await order(server.url, FLOODER, randomToken(), 'BUY', floodAgent);
        floodStatuses.set(answer.status, (floodStatuses.get(answer.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: FLOOD_CONNECTIONS }, connection));
    flooding = false;
    return performance.now() - started;
  };
  const healthStatuses: number[] = [];
  const probe = async () => {
    while (flooding) {
      const answer = await send(`${server.url}/health`, { from: PROBE });
      healthStatuses.push(answer.body.status === 'ready' ? answer.status : -answer.status);
      await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
    }
  };
  const engineDuringFlood = async () => {
    while (flooding) await engineOrder();
  };
  const [floodMs] = await Promise.all([flood(), probe(), engineDuringFlood()]);

  const unauthorized = floodStatuses.get(401) ?? 0;
  const limited = floodStatuses.get(429) ?? 0;
  t.diagnostic(
    `flood: ${FLOOD_REQUESTS} requests on ${FLOOD_CONNECTIONS} connections in ${floodMs.toFixed(0)} ms ` +
      `(${Math.round(FLOOD_REQUESTS / (floodMs / 1000))} requests/s); reached a lookup (401): ${unauthorized}; ` +
      `refused before it (429): ${limited}`,
  );
  t.diagnostic(`engine before the flood: ${calm}`);
  t.diagnostic(`engine during the flood: ${latency(engineLatencies)}`);
  t.diagnostic(
    `/health during the flood: ${healthStatuses.length} answers, ${healthStatuses.filter((s) => s === 200).length} ready`,
  );
  assert.equal(
    unauthorized + limited,
    FLOOD_REQUESTS,
    `every flood request got 401 or 429: ${[...floodStatuses]}`,
  );
  // Each window lets at most AUTH_FAILURES_MAX lookups start, however many connections race for them.
  const windows = Math.ceil(floodMs / AUTH_FAILURE_WINDOW_MS) + 1;
  assert.ok(
    unauthorized >= AUTH_FAILURES_MAX && unauthorized <= windows * AUTH_FAILURES_MAX,
    `${unauthorized} flood requests reached a lookup`,
  );
  assert.ok(engineLatencies.length > 0, 'the engine placed orders during the flood');
  assert.deepEqual(
    engineStatuses.filter((status) => status !== 200),
    [],
    'every engine order was answered 200',
  );
  assert.ok(healthStatuses.length > 0, '/health was polled during the flood');
  assert.deepEqual(
    healthStatuses.filter((status) => status !== 200),
    [],
    '/health answered ready throughout',
  );
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not so within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
