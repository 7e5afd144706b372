import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderProfile } from '../../src/cli/generate.js';
import { parseUniverse } from '../../src/domain/universe.js';
import { createKey, runCli as runCliWithEnv, startServer } from '../helpers/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

// Compiled to dist/test/e2e/: the repository root is three directories up from this file.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const UNIVERSE_PATH = join(REPO_ROOT, 'Jsons/raw_details.json');

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the compiled CLI as a real process from the repository root, as a user would. */
function startCli(args: string[]): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT });
  const done = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  return { child, done };
}

function runCli(args: string[]): Promise<CliResult> {
  return startCli(args).done;
}

/** A port that nobody listens on: the system hands one out, and it is closed again at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

/** Many users over every strategy, so that 20 random orders find subscribers and some are accepted. */
function generatedProfile(): object {
  const universe = parseUniverse(readFileSync(UNIVERSE_PATH, 'utf8'), UNIVERSE_PATH);
  return JSON.parse(renderProfile(universe, { users: 40, seed: 3 }));
}

function parseSummary(stdout: string): { sent: number; accepted: number; rejected: number; errors: number } {
  const match = /^summary: sent (\d+), accepted (\d+), rejected (\d+), errors (\d+), latency p50 /m.exec(
    stdout,
  );
  assert.ok(match, `no summary line in:\n${stdout}`);
  const [sent, accepted, rejected, errors] = match.slice(1).map(Number) as [number, number, number, number];
  return { sent, accepted, rejected, errors };
}

function acceptedOrderIdsPrinted(stdout: string): string[] {
  return [...stdout.matchAll(/→ ACCEPTED order_id=(\S+?);/g)].map((match) => match[1]!).sort();
}

async function acceptedOrderIdsLogged(url: string): Promise<string[]> {
  const response = await fetch(`${url}/orders?limit=1000`);
  assert.equal(response.status, 200);
  const body = (await response.json()) as { orders: Array<{ order_id: unknown; status: string }> };
  return body.orders
    .filter((order) => order.status === 'ACCEPTED')
    .map((order) => String(order.order_id))
    .sort();
}

test('produce sends every order, and the orders it prints ACCEPTED are those the server logged', async (t) => {
  const server = await startServer(t, { profile: generatedProfile() });
  const result = await runCli([
    'produce',
    '--url',
    server.url,
    '--count',
    '20',
    '--interval',
    '0',
    '--seed',
    '7',
  ]);
  t.diagnostic(result.stdout);

  assert.equal(result.status, 0, result.stderr);
  const summary = parseSummary(result.stdout);
  assert.equal(summary.sent, 20);
  assert.equal(summary.accepted + summary.rejected, 20);
  assert.equal(summary.errors, 0);
  const printed = acceptedOrderIdsPrinted(result.stdout);
  assert.equal(printed.length, summary.accepted);
  assert.deepEqual(printed, await acceptedOrderIdsLogged(server.url));
});

test('produce against a port nobody listens on exits 1 with one line on stderr and no stack trace', async () => {
  const port = await closedPort();
  const result = await runCli([
    'produce',
    '--url',
    `http://127.0.0.1:${port}`,
    '--count',
    '3',
    '--interval',
    '0',
  ]);

  assert.equal(result.status, 1);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, new RegExp(`^cannot reach http://127\\.0\\.0\\.1:${port}: connection refused`));
  assert.doesNotMatch(result.stderr, /\n\s+at |Error:/);
});

test('produce sends its key once the server has keys, and stops at once when it has none or a wrong one', async (t) => {
  const server = await startServer(t, { profile: generatedProfile() });
  const admin = await createKey(server, '--admin');
  const send = ['produce', '--url', server.url, '--count', '5', '--interval', '0', '--seed', '7'];

  const withKey = await runCli([...send, '--key', admin.token]);
  assert.equal(withKey.status, 0, withKey.stderr);
  assert.equal(parseSummary(withKey.stdout).errors, 0);
  const fromEnvironment = await runCliWithEnv(send, { env: { ORDERGATE_API_KEY: admin.token } });
  assert.equal(fromEnvironment.code, 0, fromEnvironment.stderr);
  assert.equal(parseSummary(fromEnvironment.stdout).sent, 5);

  const without = await runCliWithEnv(send, { env: { ORDERGATE_API_KEY: '' } });
  assert.equal(without.code, 1, 'refused: the other orders would be too');
  assert.match(
    without.stderr,
    /refused the orders: HTTP 401 UNAUTHORIZED: .*pass --key TOKEN or set ORDERGATE_API_KEY/,
  );
  assert.doesNotMatch(without.stdout, /\[2\/5\]/, 'it stopped at the first order');
  const wrong = await runCli([...send, '--key', `${admin.token.slice(0, -1)}x`]);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /HTTP 401 UNAUTHORIZED: the API key is not valid .*check the key/);
  assert.equal(wrong.stderr.includes(admin.token.slice(16, -1)), false, 'the key is not echoed');
});

test('Ctrl-C stops produce between orders, prints the summary and exits 130', async (t) => {
  const server = await startServer(t);
  const { child, done } = startCli(['produce', '--url', server.url, '--count', '5', '--interval', '60000']);
  child.stdout?.on('data', (text: string) => {
    if (text.includes('[1/5]')) child.kill('SIGINT');
  });
  const result = await done;

  assert.equal(result.status, 130, result.stderr);
  assert.match(result.stdout, /^summary \(interrupted after 1 of 5\): sent 1, /m);
});

test('produce with a bad flag exits 2 with one line on stderr that says what the flag takes; --help exits 0', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--count', '0'], /--count must be an integer from 1 to 10000000, got "0"/],
    [['--interval', '-5'], /--interval must be an integer from 0 to 3600000, got "-5"/],
    [['--interval=-5'], /--interval must be an integer from 0 to 3600000, got "-5"/],
    [['--interval', '1.5'], /--interval must be an integer from 0 to 3600000, got "1\.5"/],
    [['--count', '1e3'], /--count must be an integer from 1 to 10000000, got "1e3"/],
    [['--interval'], /--interval needs a value/],
    [['--interval', '--count', '3'], /--interval needs a value/],
    [['--url', 'ftp://example.com'], /--url must be an http:\/\/ or https:\/\/ URL/],
    [['--nope'], /Unknown option '--nope'/],
  ];
  for (const [flags, message] of cases) {
    const result = await runCli(['produce', ...flags]);
    assert.equal(result.status, 2, `${flags.join(' ')}: ${result.stderr}`);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^ordergate produce: /);
    assert.match(lines[0]!, message, flags.join(' '));
  }
  const help = await runCli(['produce', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: ordergate produce/);
  assert.match(help.stdout, /^Exit codes: 0 when every order was answered/m);
});

test('produce takes a negative seed as a value: --seed -5 replays like --seed=-5', async () => {
  const port = await closedPort();
  const result = await runCli([
    'produce',
    '--url',
    `http://127.0.0.1:${port}`,
    '--seed',
    '-5',
    '--count',
    '1',
  ]);
  assert.equal(result.status, 1, 'the flags were accepted: it went on to the (closed) server');
  assert.match(result.stdout, /seed -5 \(replay with --seed -5\)/);
});

test("produce accepts the seed's full endpoint URL as well as the base URL, and stops at a 404 saying which URL to give", async (t) => {
  const server = await startServer(t, { profile: generatedProfile() });
  const send = ['--count', '3', '--interval', '0', '--seed', '7'];
  for (const url of [`${server.url}/create_order`, `${server.url}/create_order/`, `${server.url}/`]) {
    const result = await runCli(['produce', '--url', url, ...send]);
    assert.equal(result.status, 0, `${url}: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^sending 3 orders to ${server.url}/create_order every`, 'm'));
    const summary = parseSummary(result.stdout);
    assert.deepEqual([summary.sent, summary.errors], [3, 0], url);
  }
  assert.equal((await acceptedOrderIdsLogged(server.url)).length > 0, true, 'the orders reached the server');

  const wrongPath = await runCli(['produce', '--url', `${server.url}/orders`, ...send]);
  assert.equal(wrongPath.status, 1);
  assert.match(
    wrongPath.stderr,
    /HTTP 404 .*give the server's base URL, e\.g\. --url http:\/\/127\.0\.0\.1:8080/,
  );
  assert.doesNotMatch(wrongPath.stdout, /\[2\/3\]/, 'it stopped at the first order');
  const withQuery = await runCli(['produce', '--url', `${server.url}/create_order?x=1`, ...send]);
  assert.equal(withQuery.status, 2, withQuery.stderr);
});

/** A universe whose second strategy breaks the server's rule for names, so its orders are answered 400. */
function universeWithABadName(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-produce-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'universe.json');
  const universe = JSON.parse(readFileSync(UNIVERSE_PATH, 'utf8')) as Record<string, unknown>;
  writeFileSync(path, JSON.stringify({ ...universe, STRATEGIES: ['STRATEGY_A', 'NOT|A|NAME'] }));
  return path;
}

test('produce exits 1 when the server answered any order with an HTTP error, and says how many failed', async (t) => {
  const server = await startServer(t, { profile: generatedProfile() });
  const universe = universeWithABadName(t);
  const result = await runCli([
    ...['produce', '--url', server.url, '--universe', universe],
    ...['--count', '12', '--interval', '0', '--seed', '7'],
  ]);
  t.diagnostic(result.stdout);

  assert.equal(result.status, 1, result.stderr);
  const summary = parseSummary(result.stdout);
  assert.equal(summary.sent, 12, 'it went on after a failed order');
  assert.ok(summary.errors > 0 && summary.accepted + summary.rejected > 0, 'this seed draws both strategies');
  const failed = result.stdout.match(/→ ERROR HTTP 400 /g) ?? [];
  assert.equal(failed.length, summary.errors);
  assert.equal(
    result.stderr,
    `ordergate produce: ${summary.errors} of 12 orders failed (the ERROR lines above)\n`,
  );
});

test('produce exits 1 when connections are reset before the answers (a transport error), after trying every order', async (t) => {
  const server = await startServer(t);
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
  t.after(() => proxy.close());
  proxy.drop();
  const result = await runCli([
    ...['produce', '--url', `http://127.0.0.1:${proxy.port}`],
    ...['--count', '3', '--interval', '0', '--seed', '7'],
  ]);
  t.diagnostic(result.stdout);

  assert.equal(result.status, 1, result.stderr);
  assert.deepEqual(parseSummary(result.stdout), { sent: 3, accepted: 0, rejected: 0, errors: 3 });
  assert.match(result.stdout, /→ ERROR request failed: /);
  assert.equal(result.stderr, 'ordergate produce: 3 of 3 orders failed (the ERROR lines above)\n');
});
