// Start-up as a user meets it: bad configuration and bad profiles stop the server with one clear
// line and exit code 2, nothing started and nothing stored; without PROFILE_PATH, a missing profile
// on a new database is generated and said so (startup-guards.test.ts has the rest of that rule). On PostgreSQL (test/e2e/postgres/startup.test.ts) each test has a database of its own, which
// must stay empty when start-up is refused.

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { ownDatabaseUrl, storedAnything } from '../helpers/database.js';
import { testStore } from '../helpers/postgres.js';
import { get, ROOT, runCli, startServer } from '../helpers/server.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-startup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A server's environment in `dir`, on a database of the test's own (a fresh one on PostgreSQL). */
async function envFor(
  t: TestContext,
  dir: string,
  overrides: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: overrides.DATABASE_URL ?? (await ownDatabaseUrl(t, dir)),
    PROFILE_PATH: join(dir, 'profile.json'),
    LOG_DIR: join(dir, 'logs'),
    ...overrides,
  };
}

const badSettings: [string, Record<string, string>, RegExp][] = [
  ['PORT is not a number', { PORT: 'eighty' }, /PORT must be an integer/],
  ['PORT is out of range', { PORT: '70000' }, /PORT must be an integer/],
  [
    'DATABASE_URL has an unknown scheme',
    { DATABASE_URL: 'mysql://x' },
    /DATABASE_URL must start with sqlite:/,
  ],
  ['DATABASE_URL names no file', { DATABASE_URL: 'sqlite:' }, /needs a file path/],
  ['HOST is empty', { HOST: ' ' }, /HOST must not be empty/],
  [
    'RATE_LIMIT is not a number',
    { RATE_LIMIT: 'fast' },
    /RATE_LIMIT must be an integer from 1 to 1000000 or off/,
  ],
  [
    'RATE_LIMIT is zero',
    { RATE_LIMIT: '0' },
    /RATE_LIMIT must be an integer from 1 to 1000000 or off, got "0"/,
  ],
  [
    'DATABASE_URL is a postgres:// URL that does not parse',
    { DATABASE_URL: 'postgres://ordergate:pw@[::1/ordergate' },
    /DATABASE_URL is not a valid URL: "postgres:\/\/ordergate:\*\*\*@/,
  ],
  // A setting of the PostgreSQL store only (SQLite has no pool), checked once DATABASE_URL names one.
  ...(testStore() === 'postgres'
    ? [
        [
          'DATABASE_POOL_MAX is zero',
          { DATABASE_POOL_MAX: '0' },
          /DATABASE_POOL_MAX must be an integer from 1 to 200, got "0"/,
        ] as [string, Record<string, string>, RegExp],
      ]
    : []),
];

for (const [what, overrides, expected] of badSettings) {
  test(`serve refuses to start when ${what}: one line, exit code 2`, async (t) => {
    const dir = tempDir(t);
    const env = await envFor(t, dir, overrides);
    const result = await runCli(['serve'], { env });
    assert.equal(result.code, 2);
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    if (overrides.DATABASE_URL === undefined)
      assert.equal(await storedAnything(env.DATABASE_URL!), false, 'nothing was created');
  });
}

test('serve refuses an unknown flag with exit code 2, and a flag wins over the environment', async (t) => {
  const dir = tempDir(t);
  const env = await envFor(t, dir);
  const unknown = await runCli(['serve', '--prot', '1'], { env });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--prot/);
  const flagWins = await runCli(['serve', '--port', 'x'], { env: { ...env, PORT: '0' } });
  assert.equal(flagWins.code, 2);
  assert.match(flagWins.stderr, /"x"/);
});

const badProfiles: [string, string, RegExp][] = [
  ['is not JSON', '{"Ann": ', /not valid JSON/],
  ['is a list', '["Ann"]', /must be a JSON object of users/],
  ['has no users', '{}', /has no users/],
  ['gives a user no strategy', '{"Ann": {}}', /user "Ann": trades no strategy/],
  [
    'has an empty instrument list',
    '{"Ann": {"S1": []}}',
    /user "Ann", strategy "S1": the instrument list is empty/,
  ],
  [
    'has a non-string instrument',
    '{"Ann": {"S1": ["ACC", 7]}}',
    /user "Ann", strategy "S1": instrument 7 is not a string/,
  ],
  ['has a strategy that is not a list', '{"Ann": {"S1": "ACC"}}', /must be a list of instrument names/],
  ['has a user name with a newline', '{"Ann\\nX": {"S1": ["ACC"]}}', /user "Ann\\nX": the name must be/],
];

for (const [what, text, expected] of badProfiles) {
  test(`serve refuses a profile that ${what}, naming the file, the user and the problem`, async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'profile.json'), text);
    const env = await envFor(t, dir);
    const result = await runCli(['serve'], { env });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    const output = result.stdout + result.stderr;
    assert.match(output, expected);
    assert.ok(output.includes(join(dir, 'profile.json')), 'the message names the file');
    assert.equal(
      await storedAnything(env.DATABASE_URL!),
      false,
      'nothing was stored: never a half-loaded profile',
    );
  });
}

test('without PROFILE_PATH, a new database and no profile file get one generated with the seed defaults, said so', async (t) => {
  // The quick start on a fresh clone: the project's Jsons/raw_details.json and no Jsons/user_profile.json.
  const dir = tempDir(t);
  mkdirSync(join(dir, 'Jsons'));
  copyFileSync(join(ROOT, 'Jsons/raw_details.json'), join(dir, 'Jsons/raw_details.json'));
  const server = await startServer(t, {
    dir,
    cwd: dir,
    unset: ['PROFILE_PATH'],
    // A database of the test's own: startServer keeps (and so never drops) the database of a folder it is given.
    env: { DATABASE_URL: await ownDatabaseUrl(t, dir) },
  });
  assert.match(server.output(), /no profile at .*user_profile\.json and a new database: generated one/);
  const profile = JSON.parse(readFileSync(join(dir, 'Jsons/user_profile.json'), 'utf8'));
  assert.equal(Object.keys(profile).length, 3);
  const users = await get(`${server.url}/users`);
  assert.deepEqual(users.body.users.map((u: any) => u.user).sort(), Object.keys(profile).sort());
});

test('--help answers on every command', async () => {
  for (const args of [['--help'], ['serve', '--help'], ['generate', '--help'], ['produce', '--help']]) {
    const result = await runCli(args);
    assert.equal(result.code, 0, args.join(' '));
    assert.match(result.stdout, /Usage: ordergate/, args.join(' '));
  }
});
