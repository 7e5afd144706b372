// ordergate keys as an operator meets it: create prints the token once and stores only its hash,
// list shows one key a line without secrets, revoke takes a key off, bad flags exit 2.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import Database from 'better-sqlite3';
import { runCli } from '../helpers/server.js';

const TOKEN = /^og_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function database(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'ordergate.db');
}

async function keys(path: string, ...args: string[]) {
  return runCli(['keys', ...args, '--database-url', `sqlite:${path}`]);
}

async function create(
  path: string,
  ...flags: string[]
): Promise<{ id: string; token: string; stdout: string }> {
  const result = await keys(path, 'create', ...flags);
  assert.equal(result.code, 0, result.stderr);
  const token = result.stdout.trimEnd().split('\n').at(-1)!;
  const match = TOKEN.exec(token);
  assert.ok(match, `the last line is the token: ${JSON.stringify(token)}`);
  return { id: match[1]!, token, stdout: result.stdout };
}

test('keys create prints the token once, on its last line, and the database keeps only its hash', async (t) => {
  const path = database(t);
  const { id, token, stdout } = await create(path, '--admin', '--name', 'operator on call');
  assert.equal(stdout.split(token).length, 2, 'the token is printed once');
  assert.match(stdout, new RegExp(`created an admin key, id ${id} \\("operator on call"\\)`));
  const secret = TOKEN.exec(token)![2]!;
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  const row = db.prepare('SELECT * FROM api_keys').get() as Record<string, unknown>;
  assert.equal(row.key_id, id);
  assert.equal(row.role, 'admin');
  assert.equal(row.name, 'operator on call');
  assert.equal(row.secret_sha256, createHash('sha256').update(secret).digest('hex'));
  assert.equal(row.last_used_at_ms, null);
  assert.equal(row.revoked_at_ms, null);
  const file = readFileSync(path);
  assert.equal(file.includes(secret), false, 'the secret is nowhere in the database file');
});

test('keys list shows one key a line, id first, never a secret; revoke takes a key off', async (t) => {
  const path = database(t);
  const admin = await create(path, '--admin');
  const engine = await create(path, '--strategy', 'STRATEGY_A', '--name', 'engine A');
  const dashboard = await create(path, '--read');
  const listed = await keys(path, 'list');
  assert.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((line) => line.split(/\s+/)[0]),
    [admin.id, engine.id, dashboard.id],
    'one line per key, oldest first, id first',
  );
  assert.match(lines[0]!, /^\S+ +admin +active +created \S+Z +last used never$/);
  assert.match(lines[1]!, /^\S+ +strategy STRATEGY_A +active +created \S+Z +last used never +"engine A"$/);
  assert.match(lines[2]!, /^\S+ +read +active/);
  for (const { token } of [admin, engine, dashboard]) {
    assert.equal(listed.stdout.includes(token.slice(16)), false, 'no secret in the list');
  }
  const revoked = await keys(path, 'revoke', engine.id);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`revoked key ${engine.id}`));
  const again = await keys(path, 'revoke', engine.id);
  assert.equal(again.code, 1, 'a key is revoked once');
  assert.match(again.stderr, /no active key has id/);
  const unknown = await keys(path, 'revoke', '000000000000');
  assert.equal(unknown.code, 1);
  const after = (await keys(path, 'list')).stdout.trimEnd().split('\n');
  assert.match(after[1]!, new RegExp(`^${engine.id} +strategy STRATEGY_A +revoked \\S+Z +created`));
  assert.match(after[0]!, / active /);
});

test('keys create --webhook prints the webhook URL before the token, and keys list says webhook', async (t) => {
  const path = database(t);
  const plain = await create(path, '--webhook', 'STRATEGY_A');
  assert.match(plain.stdout, new RegExp(`created a webhook key for STRATEGY_A, id ${plain.id}`));
  assert.ok(
    plain.stdout.includes(`  http://HOST:PORT/webhooks/tradingview/${plain.token}\n`),
    `the URL to paste, to be completed: ${plain.stdout}`,
  );
  assert.match(plain.stdout, /behind TLS/);
  const hosted = await create(path, '--webhook', 'STRATEGY_B', '--public-url', 'https://gate.example.com/');
  assert.ok(hosted.stdout.includes(`  https://gate.example.com/webhooks/tradingview/${hosted.token}\n`));
  const engine = await create(path, '--strategy', 'STRATEGY_A');
  assert.equal(engine.stdout.includes('webhooks/tradingview'), false, 'no URL for a key sent as a header');
  const lines = (await keys(path, 'list')).stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^\S+ +webhook STRATEGY_A +active/);
  assert.match(lines[2]!, /^\S+ +strategy STRATEGY_A +active/);
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  const flags = db.prepare('SELECT webhook FROM api_keys ORDER BY created_at_ms, key_id').pluck().all();
  assert.deepEqual(flags.sort(), [0, 1, 1]);
});

test('keys list of a database without keys prints no line and says the server runs open', async (t) => {
  const path = database(t);
  const listed = await keys(path, 'list');
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(listed.stdout, '');
  assert.match(listed.stderr, /no API keys in .*: a server on it runs open/);
});

const badUses: [string, string[], RegExp][] = [
  ['no role', ['create'], /choose exactly one of --admin, --read, --strategy NAME or --webhook NAME/],
  [
    'a webhook key with a second role',
    ['create', '--webhook', 'S1', '--strategy', 'S1'],
    /choose exactly one/,
  ],
  ['a webhook key without a strategy name', ['create', '--webhook', 'A/B'], /--webhook must be/],
  [
    '--public-url for a key that is no webhook key',
    ['create', '--read', '--public-url', 'https://a.b'],
    /only for a webhook key/,
  ],
  [
    'a --public-url that is no http address',
    ['create', '--webhook', 'S1', '--public-url', 'gate.example.com'],
    /--public-url must be/,
  ],
  ['two roles', ['create', '--admin', '--read'], /choose exactly one/],
  ['a strategy name that no order could carry', ['create', '--strategy', 'A/B'], /--strategy must be/],
  ['an empty label', ['create', '--read', '--name', ''], /--name must be 1 to 64 characters/],
  ['a label with a control character', ['create', '--read', '--name', 'a\u0007'], /--name must be/],
  ['revoke without an id', ['revoke'], /name exactly one key ID/],
  ['an unknown subcommand', ['rotate'], /unknown command "rotate": create, list or revoke/],
  ['an unknown flag', ['list', '--all'], /--all/],
];

for (const [what, args, expected] of badUses) {
  test(`keys refuses ${what} with one line and exit code 2`, async (t) => {
    const path = database(t);
    const result = await keys(path, ...args);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  });
}

test('keys and each of its commands explain themselves with --help', async () => {
  for (const args of [
    ['keys', '--help'],
    ...['create', 'list', 'revoke'].map((c) => ['keys', c, '--help']),
  ]) {
    const result = await runCli(args);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stdout, /^Usage: ordergate keys/, args.join(' '));
  }
  const create = await runCli(['keys', 'create', '--help']);
  assert.match(create.stdout, /Authorization: Bearer TOKEN/);
  assert.match(create.stdout, /--database-url URL/);
});
