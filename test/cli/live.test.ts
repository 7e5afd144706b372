// The live commands as an operator meets them, against a real server over HTTP: users, state,
// square-off, import and export change what the server decides from the next order on, print the
// change's version, and fail with one clear line: exit 1 when the server refuses or cannot be reached,
// exit 2 for a bad flag.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createKey, get, post, ROOT, runCli, type Server, startServer } from '../helpers/server.js';

/** Runs an ordergate command against the server. */
function cli(server: Server, args: string[], env: Record<string, string> = {}) {
  // A key in the tests' own environment would hide what a command does without one.
  const unset = 'ORDERGATE_API_KEY' in env ? [] : ['ORDERGATE_API_KEY'];
  return runCli([...args, '--url', server.url], { env, unset });
}

/** A command that must succeed: its output. */
async function ok(server: Server, args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await cli(server, args, env);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

function folder(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-live-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function order(server: Server, strategy: string, instrument: string, position: 'BUY' | 'SELL') {
  return post(`${server.url}/create_order`, {
    STRATEGY: strategy,
    INSTRUMENT: instrument,
    POSITION: position,
  });
}

/** A port that nobody listens on: the system hands one out, and it is closed again at once. */
async function closedPort(): Promise<number> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

test('users put adds a user that users list and show name, and a BUY fills for them from then on', async (t) => {
  const server = await startServer(t);
  const put = await ok(server, [
    'users',
    'put',
    'Alice',
    '--subscriptions',
    '{"STRATEGY_A":["GRASIM","EICHER"]}',
  ]);
  assert.match(put, /^version \d+: user Alice put \(STRATEGY_A: 2 instruments\)\n$/);

  const listed = await ok(server, ['users', 'list']);
  const lines = listed.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((line) => line.split(/ {2,}/)[0]),
    ['Alice', 'Holland Proctor', 'Oaklee Wagner'],
    'one line per user, by name',
  );
  assert.match(lines[0]!, /^Alice +STRATEGY_A \(2 instruments\) +0 open positions$/);
  assert.match(
    lines[1]!,
    /^Holland Proctor +STRATEGY_A \(3 instruments\), STRATEGY_B \(1 instrument\) +0 open positions$/,
  );

  const bought = await order(server, 'STRATEGY_A', 'EICHER', 'BUY');
  assert.equal(bought.status, 200);
  assert.equal(bought.body.status, 'ACCEPTED');
  assert.deepEqual(
    bought.body.accepted.map((entry: { user: string }) => entry.user).sort(),
    ['Alice', 'Holland Proctor'],
    'the new user is filled with the old one',
  );

  const json = (await ok(server, ['users', 'list', '--json']))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(json[0], {
    user: 'Alice',
    strategies: { STRATEGY_A: ['GRASIM', 'EICHER'] },
    open_positions: 1,
  });
  const shown = await ok(server, ['users', 'show', 'Alice']);
  assert.match(
    shown,
    /^Alice\n {2}STRATEGY_A: GRASIM, EICHER\n {2}1 open position:\n {4}STRATEGY_A EICHER ×1 \(opened by BUY order \d+ at \S+Z\)\n$/,
  );

  // One subscription more, then one less: the position it no longer gives is left close-only.
  const subscribed = await ok(server, [
    'users',
    'put',
    'Alice',
    '--strategy',
    'STRATEGY_B',
    '--instruments',
    'MINDA, ACC',
  ]);
  assert.match(
    subscribed,
    /^version \d+: user Alice subscribed to STRATEGY_B \(2 instruments: MINDA, ACC\)\n$/,
  );
  const replaced = await ok(server, ['users', 'put', 'Alice', '--subscriptions', '{"STRATEGY_B":["MINDA"]}']);
  assert.match(
    replaced,
    /^version \d+: user Alice put \(STRATEGY_B: 1 instrument\)\n {2}left close-only: STRATEGY_A EICHER \(opened by BUY order \d+ at \S+\), only a SELL can close it\n$/,
  );
  const afterReplace = JSON.parse(await ok(server, ['users', 'show', 'Alice', '--json']));
  assert.deepEqual(afterReplace.strategies, { STRATEGY_B: ['MINDA'] });

  await order(server, 'STRATEGY_B', 'MINDA', 'BUY');
  const left = await ok(server, ['users', 'unsubscribe', 'Alice', 'STRATEGY_B', '--positions', 'preserve']);
  assert.match(
    left,
    /^version \d+: user Alice unsubscribed from STRATEGY_B \(positions preserve\): 0 positions closed, 0 left close-only, 1 released\n {2}released: STRATEGY_B MINDA \(opened by BUY order \d+ at \S+\), no longer in the gate's book\n$/,
  );
  const names = (await ok(server, ['users', 'list'])).trimEnd().split('\n');
  assert.deepEqual(
    names.map((line) => line.split(/ {2,}/)[0]),
    ['Holland Proctor', 'Oaklee Wagner'],
    'a user left with no subscription is no longer in force',
  );
  assert.match(
    await ok(server, ['users', 'show', 'Alice']),
    /^Alice\n {2}no subscription: not a user in force\n {2}1 open position:\n {4}STRATEGY_A EICHER /,
    'still known by name, with the position left close-only',
  );
});

test('users put --multiplier sizes a subscription, which users list and show print', async (t) => {
  const server = await startServer(t);
  // A sized subscription: users list and show say how it sizes, and a BUY of 3 buys Bea 1 (0.5 × 3).
  await ok(server, [
    'users',
    'put',
    'Bea',
    '--strategy',
    'STRATEGY_D',
    '--instruments',
    'ACC',
    '--multiplier',
    '0.5',
  ]);
  assert.match(
    await ok(server, ['users', 'list']),
    /^Bea +STRATEGY_D \(1 instrument, ×0\.5\) +0 open positions$/m,
  );
  const sized = await post(`${server.url}/orders`, {
    strategy: 'STRATEGY_D',
    instrument: 'ACC',
    position: 'BUY',
    quantity: 3,
  });
  assert.deepEqual(
    sized.body.accepted.find((entry: { user: string }) => entry.user === 'Bea'),
    { user: 'Bea', quantity: 1 },
  );
  assert.match(
    await ok(server, ['users', 'show', 'Bea']),
    /STRATEGY_D: ACC, ×0\.5\n.*\n {4}STRATEGY_D ACC ×1 /,
  );
  const both = await cli(server, [
    'users',
    'put',
    'Bea',
    '--strategy',
    'STRATEGY_D',
    '--instruments',
    'ACC',
    '--multiplier',
    '2',
    '--quantity',
    '4',
  ]);
  assert.notEqual(both.code, 0);
  assert.match(both.stderr, /--multiplier or --quantity, not both/);
});

test('users delete says what became of the positions: closed by a SELL (close-now) or left close-only', async (t) => {
  const server = await startServer(t);
  await order(server, 'STRATEGY_A', 'GRASIM', 'BUY');
  await order(server, 'STRATEGY_D', 'ACC', 'BUY');
  const closed = await ok(server, ['users', 'delete', 'Holland Proctor', '--positions', 'close-now']);
  assert.match(
    closed,
    /^version \d+: user Holland Proctor removed \(positions close-now\): 1 position closed, 0 left close-only, 0 released\n {2}closed: SELL order \d+ STRATEGY_A GRASIM, 1 position\n$/,
  );
  const kept = await ok(server, ['users', 'delete', 'Oaklee Wagner']);
  assert.match(
    kept,
    /^version \d+: user Oaklee Wagner removed \(positions close-only\): 0 positions closed, 1 left close-only, 0 released\n {2}left close-only: STRATEGY_D ACC /,
  );
  assert.equal(await ok(server, ['users', 'list']), '', 'no user is left');
  const positions = await get(`${server.url}/positions`);
  assert.deepEqual(
    positions.body.positions.map((p: { user: string; instrument: string }) => `${p.user} ${p.instrument}`),
    ['Oaklee Wagner ACC'],
  );
});

test('state set --strategy HALTED shows in state, and a BUY for it is rejected STRATEGY_HALTED until ACTIVE', async (t) => {
  const server = await startServer(t);
  const before = await ok(server, ['state']);
  assert.match(before, /^states at version \d+\ngate: ACTIVE\nevery strategy and every user: ACTIVE/);

  const halted = await ok(server, [
    'state',
    'set',
    '--strategy',
    'STRATEGY_A',
    'HALTED',
    '--reason',
    'feed down',
  ]);
  const version = /^version (\d+): strategy STRATEGY_A HALTED: "feed down"\n$/.exec(halted);
  assert.ok(version, halted);
  const shown = await ok(server, ['state']);
  assert.match(
    shown,
    new RegExp(
      `^strategy STRATEGY_A: HALTED since \\S+Z by open mode \\(version ${version[1]}\\): "feed down"$`,
      'm',
    ),
  );
  assert.match(shown, /^gate: ACTIVE$/m);
  const json = JSON.parse(await ok(server, ['state', '--json']));
  assert.equal(json.strategies[0].state, 'HALTED');

  const refused = await order(server, 'STRATEGY_A', 'GRASIM', 'BUY');
  assert.equal(refused.body.status, 'REJECTED');
  assert.equal(refused.body.reason, 'STRATEGY_HALTED');
  assert.deepEqual(refused.body.accepted, []);
  const other = await order(server, 'STRATEGY_D', 'ACC', 'BUY');
  assert.equal(other.body.status, 'ACCEPTED', 'other strategies go on');

  // A user's own state, with the lower-case spelling; then everything back to ACTIVE.
  const user = await ok(server, [
    'state',
    'set',
    '--user',
    'Oaklee Wagner',
    'close-only',
    '--reason',
    'risk limit',
  ]);
  assert.match(user, /^version \d+: user Oaklee Wagner CLOSE_ONLY: "risk limit"\n$/);
  assert.match(
    await ok(server, ['state']),
    /^user Oaklee Wagner: CLOSE_ONLY since \S+ by open mode \(version \d+\): "risk limit"$/m,
  );
  assert.equal(
    (await order(server, 'STRATEGY_D', 'ACC', 'SELL')).body.status,
    'ACCEPTED',
    'close-only lets a SELL through',
  );
  assert.match(
    await ok(server, ['state', 'set', '--strategy', 'STRATEGY_A', 'ACTIVE']),
    /^version \d+: strategy STRATEGY_A ACTIVE\n$/,
  );
  const resumed = await order(server, 'STRATEGY_A', 'GRASIM', 'BUY');
  assert.equal(resumed.body.status, 'ACCEPTED');

  // The gate's own state: the kill switch.
  assert.match(
    await ok(server, ['state', 'set', 'HALTED', '--reason', 'stop']),
    /^version \d+: gate HALTED: "stop"\n$/,
  );
  assert.equal((await order(server, 'STRATEGY_D', 'ACC', 'BUY')).body.reason, 'GATE_HALTED');
  assert.match(await ok(server, ['state']), /^gate: HALTED since \S+ by open mode \(version \d+\): "stop"$/m);
});

test('square-off prints each SELL the gate sent and the total, and leaves no position open', async (t) => {
  const server = await startServer(t);
  await order(server, 'STRATEGY_A', 'GRASIM', 'BUY');
  await order(server, 'STRATEGY_A', 'EICHER', 'BUY');
  await order(server, 'STRATEGY_D', 'ACC', 'BUY');

  const one = await ok(server, ['square-off', '--strategy', 'STRATEGY_D']);
  assert.match(
    one,
    /^version \d+: squared off strategy STRATEGY_D\n {2}closed: SELL order \d+ STRATEGY_D ACC, 1 position\ntotal: 1 position closed by 1 SELL\n$/,
  );

  const all = await ok(server, ['square-off']);
  const sells = [...all.matchAll(/^ {2}closed: SELL order (\d+) (\S+) (\S+), 1 position$/gm)].map(
    (m) => `${m[2]} ${m[3]}`,
  );
  assert.deepEqual(sells.sort(), ['STRATEGY_A EICHER', 'STRATEGY_A GRASIM']);
  assert.match(all, /^version \d+: squared off everything\n/);
  assert.match(all, /^total: 2 positions closed by 2 SELLs$/m);
  assert.match(all, /^the gate is CLOSE_ONLY until \S+Z$/m);
  const positions = await get(`${server.url}/positions`);
  assert.deepEqual(positions.body.positions, []);
  assert.match(await ok(server, ['state']), /^gate: CLOSE_ONLY after the square-off, until \S+Z$/m);

  const nothing = await ok(server, ['square-off', '--user', 'Holland Proctor']);
  assert.match(
    nothing,
    /^version \d+: squared off user Holland Proctor\ntotal: 0 positions closed by 0 SELLs\n/,
  );
});

test('export writes the profile in force, and importing it back changes no user', async (t) => {
  const server = await startServer(t);
  const dir = folder(t);
  await ok(server, ['users', 'put', 'Alice', '--strategy', 'STRATEGY_C', '--instruments', 'L&T,INFY']);
  const path = join(dir, 'exported.json');
  const exported = await ok(server, ['export', path]);
  assert.equal(exported, `wrote 3 users in force to ${path}\n`);
  const text = readFileSync(path, 'utf8');
  assert.deepEqual(JSON.parse(text), (await get(`${server.url}/profile`)).body);
  assert.deepEqual(JSON.parse(text).Alice, { STRATEGY_C: ['L&T', 'INFY'] });
  assert.deepEqual(readdirSync(dir), ['exported.json'], 'no temporary file is left');

  const imported = await ok(server, ['import', path]);
  assert.match(
    imported,
    /^version \d+: imported .*exported\.json \(3 users\): users 0 added, 0 removed, 0 changed\n$/,
  );
  const again = await runCli(['export', '-', '--url', server.url]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, text, 'export - writes the same profile to standard output, and nothing else');

  // An export over an existing file replaces it whole.
  writeFileSync(path, 'old');
  await ok(server, ['export', path]);
  assert.equal(readFileSync(path, 'utf8'), text);
});

test("import loads the seed's profile files and a generated one as they are, and they export back the same", async (t) => {
  const server = await startServer(t, { profile: { Zed: { STRATEGY_A: ['ACC'] } } });
  const dir = folder(t);
  const seedPath = join(ROOT, 'Jsons/seed_example.json');
  const seed = await ok(server, ['import', seedPath]);
  assert.match(
    seed,
    /^version \d+: imported .*seed_example\.json \(2 users\): users 2 added, 1 removed, 0 changed\n$/,
  );
  const seedProfile = JSON.parse(readFileSync(seedPath, 'utf8'));
  assert.deepEqual((await get(`${server.url}/profile`)).body, seedProfile);
  const bought = await order(server, 'STRATEGY_D', 'ACC', 'BUY');
  assert.deepEqual(
    bought.body.accepted.map((entry: { user: string }) => entry.user),
    ['Oaklee Wagner'],
  );

  const generatedPath = join(dir, 'generated.json');
  const generated = await runCli(['generate', '--users', '200', '--seed', '11', '--out', generatedPath]);
  assert.equal(generated.code, 0, generated.stderr);
  const loaded = await ok(server, ['import', generatedPath]);
  assert.match(
    loaded,
    /^version \d+: imported .*generated\.json \(200 users\): users \d+ added, \d+ removed, \d+ changed\n$/,
  );
  const exportedPath = join(dir, 'exported.json');
  await ok(server, ['export', exportedPath]);
  assert.deepEqual(
    JSON.parse(readFileSync(exportedPath, 'utf8')),
    JSON.parse(readFileSync(generatedPath, 'utf8')),
  );
  const back = await ok(server, ['import', exportedPath]);
  assert.match(back, /users 0 added, 0 removed, 0 changed\n$/);
});

test("a change the server refuses exits 1 with the server's message", async (t) => {
  const server = await startServer(t);
  const refusals: [string[], RegExp][] = [
    [['users', 'show', 'Nobody'], /HTTP 404 USER_NOT_FOUND: no user is named "Nobody"/],
    [['users', 'delete', 'Nobody'], /HTTP 404 USER_NOT_FOUND: no user is named "Nobody"/],
    [
      ['users', 'unsubscribe', 'Oaklee Wagner', 'STRATEGY_Z'],
      /SUBSCRIPTION_NOT_FOUND: user "Oaklee Wagner" is not subscribed to "STRATEGY_Z"/,
    ],
    [
      ['state', 'set', '--user', 'Nobody', 'HALTED', '--reason', 'x'],
      /USER_NOT_FOUND: no user is named "Nobody"/,
    ],
    [['square-off', '--user', 'Nobody'], /USER_NOT_FOUND/],
    [
      ['users', 'put', 'Alice', '--subscriptions', '{"STRATEGY_A":[]}'],
      /HTTP 400 INVALID_REQUEST: .*the instrument list is empty/,
    ],
    [
      ['users', 'put', 'A/B', '--strategy', 'STRATEGY_A', '--instruments', 'ACC'],
      /HTTP 400 INVALID_REQUEST: params\.name must be/,
    ],
  ];
  for (const [args, expected] of refusals) {
    const result = await cli(server, args);
    assert.equal(result.code, 1, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^ordergate ${args[0]}`));
    assert.match(result.stderr, expected, args.join(' '));
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.equal(result.stdout, '');
  }
  const dir = folder(t);
  const twice = join(dir, 'twice.json');
  writeFileSync(twice, '{"Bob": {"STRATEGY_A": ["ACC"]}, "Bob": {"STRATEGY_B": ["ACC"]}}');
  const duplicate = await cli(server, ['import', twice]);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /INVALID_REQUEST: body: a user is listed more than once: "Bob"/);
  const missing = await cli(server, ['import', join(dir, 'missing.json')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read .*missing\.json: no such file \(ENOENT\)/);
  const nowhere = await cli(server, ['export', join(dir, 'no', 'such', 'folder.json')]);
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /cannot write .*folder\.json: no such folder \(ENOENT\)/);
  assert.deepEqual(readdirSync(dir), ['twice.json'], 'no file is left behind');
  // Nothing was changed by the refusals.
  assert.deepEqual(Object.keys((await get(`${server.url}/profile`)).body), [
    'Holland Proctor',
    'Oaklee Wagner',
  ]);
});

test('keys: none where the server needs one, a read key for a change, exit 1 with what to pass', async (t) => {
  const server = await startServer(t);
  const admin = await createKey(server, '--admin');
  const read = await createKey(server, '--read');
  const none = await cli(server, ['users', 'list']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /HTTP 401 UNAUTHORIZED: .*pass --key TOKEN or set ORDERGATE_API_KEY/);
  const wrong = await cli(server, ['state', '--key', `${admin.token.slice(0, -4)}AAAA`]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /HTTP 401 .*check --key or ORDERGATE_API_KEY/);
  const readOnly = await cli(server, ['state', 'set', 'HALTED', '--reason', 'x', '--key', read.token]);
  assert.equal(readOnly.code, 1);
  assert.match(readOnly.stderr, /HTTP 403 FORBIDDEN: .*this needs an admin key/);
  // A read key lists; an admin key, from the environment, changes.
  assert.match(await ok(server, ['users', 'list', '--key', read.token]), /^Holland Proctor /);
  const env = { ORDERGATE_API_KEY: admin.token };
  assert.match(await ok(server, ['state', 'set', 'ACTIVE'], env), /^version \d+: gate ACTIVE\n$/);
  const state = JSON.parse(await ok(server, ['state', '--json'], env));
  assert.equal(state.gate.state, 'ACTIVE');
});

test('no server at --url: exit 1 with one line saying what to do', async () => {
  const port = await closedPort();
  for (const args of [
    ['users', 'list'],
    ['state'],
    ['square-off'],
    ['export', '-'],
    ['import', join(ROOT, 'Jsons/seed_example.json')],
  ]) {
    const result = await runCli([...args, '--url', `http://127.0.0.1:${port}`]);
    assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
    assert.match(
      result.stderr,
      new RegExp(
        `^ordergate ${args[0]}.*: cannot reach http://127\\.0\\.0\\.1:${port}: connection refused: is the server running\\? Start it`,
      ),
    );
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(result.stdout, '');
  }
});

const badUses: [string, string[], RegExp][] = [
  [
    'users without a command',
    ['users'],
    /ordergate users: name a command, before any flag: list, show, put, delete or unsubscribe/,
  ],
  ['an unknown users command', ['users', 'add', 'Alice'], /unknown command "add"/],
  ['users show without a name', ['users', 'show'], /give NAME/],
  [
    'users put without subscriptions',
    ['users', 'put', 'Alice'],
    /give --subscriptions JSON, or --strategy S with --instruments A,B/,
  ],
  [
    'users put with both forms',
    ['users', 'put', 'Alice', '--subscriptions', '{}', '--strategy', 'S'],
    /not both/,
  ],
  [
    'users put with subscriptions that are not JSON',
    ['users', 'put', 'Alice', '--subscriptions', '{STRATEGY_A'],
    /--subscriptions must be JSON/,
  ],
  [
    'users put with a list for subscriptions',
    ['users', 'put', 'Alice', '--subscriptions', '["ACC"]'],
    /--subscriptions must be a JSON object of strategy/,
  ],
  [
    'users put with an empty instrument',
    ['users', 'put', 'Alice', '--strategy', 'S', '--instruments', 'ACC,,INFY'],
    /--instruments must be names separated by commas/,
  ],
  [
    'users delete with an unknown disposition',
    ['users', 'delete', 'Alice', '--positions', 'sell'],
    /--positions must be close-only, close-now or preserve/,
  ],
  ['users unsubscribe without a strategy', ['users', 'unsubscribe', 'Alice'], /give NAME and STRATEGY/],
  ['an unknown flag', ['users', 'list', '--all'], /--all/],
  ['state with an unknown command', ['state', 'show'], /ordergate state: unknown command "show"/],
  ['state set without a state', ['state', 'set', '--strategy', 'S'], /give one STATE/],
  [
    'state set with an unknown state',
    ['state', 'set', 'PAUSED'],
    /STATE must be ACTIVE, CLOSE_ONLY or HALTED/,
  ],
  [
    'state set HALTED without a reason',
    ['state', 'set', '--strategy', 'S', 'HALTED'],
    /--reason TEXT is needed to make it HALTED/,
  ],
  [
    'state set with a strategy and a user',
    ['state', 'set', '--strategy', 'S', '--user', 'U', 'ACTIVE'],
    /not both/,
  ],
  [
    'a reason over 200 characters',
    ['state', 'set', 'HALTED', '--reason', 'x'.repeat(201)],
    /--reason must be 1 to 200/,
  ],
  ['square-off with a positional argument', ['square-off', 'STRATEGY_A'], /Unexpected argument/],
  ['import without a path', ['import'], /give one PATH/],
  ['export with two paths', ['export', 'a.json', 'b.json'], /give one PATH/],
  [
    'a --url that is no URL',
    ['state', '--url', 'localhost:8080'],
    /--url must be an http:\/\/ or https:\/\/ URL/,
  ],
  ['a --url with a query', ['users', 'list', '--url', 'http://127.0.0.1:8080/?x=1'], /--url must be/],
  ['an empty --key', ['state', '--key', ''], /--key must not be empty/],
];

test('bad flags: exit 2 with one line naming the mistake, before any request', async () => {
  // No server runs: a flag is judged before any request, so none is needed.
  const port = await closedPort();
  for (const [what, args, expected] of badUses) {
    const url = args.includes('--url') ? [] : ['--url', `http://127.0.0.1:${port}`];
    const result = await runCli([...args, ...url]);
    assert.equal(result.code, 2, `${what}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, expected, what);
    assert.equal(result.stderr.trim().split('\n').length, 1, `${what}: ${result.stderr}`);
  }
});

test('each live command explains itself with --help', async () => {
  for (const args of [
    ['users'],
    ...['list', 'show', 'put', 'delete', 'unsubscribe'].map((c) => ['users', c]),
    ['state'],
    ['state', 'set'],
    ['square-off'],
    ['import'],
    ['export'],
  ]) {
    const result = await runCli([...args, '--help']);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^Usage: ordergate ${args.join(' ')}\\b`));
    assert.match(result.stdout, /--url URL/);
  }
});
