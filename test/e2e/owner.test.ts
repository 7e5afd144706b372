// One owner per SQLite file, through real processes: a second server on a file a server runs on is
// refused at start (exit code 2, one line naming the owner's pid, nothing written) while the first
// keeps serving; keys create and revoke are refused beside it with what to do instead, while keys
// list, check and backup work; after kill -9 of the owner, and after a clean stop, a new server
// starts on the file at once. SQLite only: PostgreSQL is shared by several servers by design.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { queryNumber } from '../helpers/database.js';
import { createKey, get, post, runCli, type Server, startServer } from '../helpers/server.js';
import { readLogLines } from '../helpers/wait.js';

const PROFILE = { Ann: { S1: ['ACC', 'INFY'] }, Bob: { S1: ['ACC'] } };
/** What a second server would store as a new profile version if it were let in. */
const OTHER_PROFILE = { Cy: { S2: ['NTPC'] } };
/** A refused start ends at once; a start that is not refused runs until this kills it. */
const REFUSAL_TIMEOUT_MS = 20_000;

const ISO = '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Orders placed one after the other: each must be answered 200, with increasing order ids. */
async function placeOrders(server: Server, count: number, headers: Record<string, string> = {}) {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const position = i % 2 === 0 ? 'BUY' : 'SELL';
    const answer = await post(
      `${server.url}/orders`,
      { strategy: 'S1', instrument: 'ACC', position },
      headers,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    ids.push(answer.body.order_id);
  }
  return ids;
}

function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

test('a second serve on the same SQLite file is refused at start: exit 2, one line naming the owner, nothing written; the first keeps serving', async (t) => {
  const first = await startServer(t, { profile: PROFILE });
  const before = await placeOrders(first, 3);
  const profileVersions = await queryNumber(first.databaseUrl, 'SELECT count(*) FROM profile_versions');
  const other = tempDir(t, 'ordergate-second-');
  const profilePath = join(other, 'profile.json');
  writeFileSync(profilePath, JSON.stringify(OTHER_PROFILE));
  const second = await runCli(['serve'], {
    env: {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: first.databaseUrl,
      PROFILE_PATH: profilePath,
      LOG_DIR: join(other, 'logs'),
    },
    timeoutMs: REFUSAL_TIMEOUT_MS,
  });
  assert.equal(second.code, 2, `refused with exit code 2:\n${second.stdout}${second.stderr}`);
  const lines = nonEmptyLines(second.stdout + second.stderr);
  assert.equal(lines.length, 1, `one line: ${JSON.stringify(lines)}`);
  assert.match(
    lines[0]!,
    new RegExp(`${first.dbPath} is in use by ordergate serve \\(pid ${first.pid} on \\S+, since ${ISO}\\)`),
  );
  assert.match(lines[0]!, /stop that process first/);
  assert.ok(
    readLogLines(join(other, 'logs')).some((line) => line.includes(`pid ${first.pid}`)),
    'the refusal is in the log too',
  );
  assert.equal(
    await queryNumber(first.databaseUrl, 'SELECT count(*) FROM profile_versions'),
    profileVersions,
    "the second server's profile was not stored",
  );

  const health = await get(`${first.url}/health`);
  assert.equal(health.status, 200);
  assert.equal(health.body.status, 'ready');
  const after = await placeOrders(first, 6);
  assert.deepEqual(
    [...before, ...after],
    Array.from({ length: 9 }, (_, i) => before[0]! + i),
    'every order taken, ids in sequence: no second writer on the file',
  );
});

test('beside a running server, keys create and revoke are refused naming it and saying what to do; keys list, check and backup work', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const admin = await createKey(server, '--admin', '--name', 'operator');
  const auth = { authorization: `Bearer ${admin.token}` };
  await placeOrders(server, 4, auth);
  const url = server.databaseUrl;

  const create = await runCli(['keys', 'create', '--read', '--database-url', url]);
  assert.equal(create.code, 2, create.stdout + create.stderr);
  assert.equal(create.stdout, '', 'no token printed');
  assert.equal(nonEmptyLines(create.stderr).length, 1, create.stderr);
  assert.match(
    create.stderr,
    new RegExp(
      `^ordergate keys create: ${server.dbPath} is in use by ordergate serve \\(pid ${server.pid} on `,
    ),
  );
  assert.match(create.stderr, /stop that server first, or create the key through its API: POST \/keys/);

  const revoke = await runCli(['keys', 'revoke', admin.id, '--database-url', url]);
  assert.equal(revoke.code, 2, revoke.stdout + revoke.stderr);
  assert.equal(nonEmptyLines(revoke.stderr).length, 1, revoke.stderr);
  assert.match(revoke.stderr, new RegExp(`in use by ordergate serve \\(pid ${server.pid} `));
  assert.match(revoke.stderr, /DELETE \/keys\/ID/);
  assert.equal(await queryNumber(url, 'SELECT count(*) FROM api_keys'), 1, 'no key was created');
  assert.equal(
    await queryNumber(url, 'SELECT count(*) FROM api_keys WHERE revoked_at_ms IS NOT NULL'),
    0,
    'none was revoked',
  );

  const list = await runCli(['keys', 'list', '--database-url', url]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${admin.id} +admin +active .*"operator"$`, 'm'));

  const check = await runCli(['check', '--database-url', url]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /4 orders replayed.*mismatches: 0/);

  const copy = join(tempDir(t, 'ordergate-backup-'), 'copy.db');
  const backup = await runCli(['backup', copy, '--database-url', url]);
  assert.equal(backup.code, 0, backup.stdout + backup.stderr);
  assert.match(backup.stdout, /4 orders, .* checked/);
  assert.equal(await queryNumber(`sqlite:${copy}`, 'SELECT count(*) FROM orders'), 4);

  assert.equal((await get(`${server.url}/health`)).body.status, 'ready');
  await placeOrders(server, 2, auth);
});

test('after kill -9 of the owner a new server starts on the file at once, and after a clean stop too; keys create works while none runs', async (t) => {
  const server = await startServer(t, { profile: PROFILE });
  const note = `${server.dbPath}-owner.json`;
  assert.equal(JSON.parse(readFileSync(note, 'utf8')).pid, server.pid, 'the owner named beside the file');
  const [first] = await placeOrders(server, 1);
  const killed = server.pid;
  await server.kill();
  assert.ok(existsSync(note), 'kill -9 leaves the note behind, naming the dead process');

  await server.restart();
  assert.notEqual(server.pid, killed);
  assert.equal(JSON.parse(readFileSync(note, 'utf8')).pid, server.pid, 'the new owner replaced the note');
  const [next] = await placeOrders(server, 1);
  assert.equal(next, first! + 1, 'the log goes on from where it was');

  assert.equal(await server.stop(), 0);
  assert.equal(existsSync(note), false, 'a clean stop removes the note');
  const created = await runCli(['keys', 'create', '--admin', '--database-url', server.databaseUrl]);
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trimEnd().split('\n').at(-1)!;
  assert.equal(existsSync(note), false, 'keys create gave the file up when it ended');

  await server.restart();
  const ids = await placeOrders(server, 1, { authorization: `Bearer ${token}` });
  assert.equal(ids[0], first! + 2);
});
