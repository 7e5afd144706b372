import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { ROOT, runCli } from '../helpers/server.js';

type Profile = Record<string, Record<string, string[]>>;

type CliResult = Awaited<ReturnType<typeof runCli>>;

function temporaryDirectory(t: TestContext): string {
  const directory = mkdtempSync(join(tmpdir(), 'ordergate-generate-'));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

async function generate(t: TestContext, out: string, ...flags: string[]): Promise<CliResult> {
  const result = await runCli(['generate', '--out', out, ...flags]);
  t.diagnostic(result.stdout.trim());
  assert.equal(result.code, 0, result.stderr);
  return result;
}

function readUniverse(): { USERS: string[]; STRATEGIES: string[]; INSTRUMENTS: string[] } {
  return JSON.parse(readFileSync(join(ROOT, 'Jsons/raw_details.json'), 'utf8'));
}

/** JSON.parse keeps only the last of repeated keys, so count the user lines in the text too. */
function userLineCount(text: string): number {
  return text.split('\n').filter((line) => line.startsWith('  "')).length;
}

function assertProfileShape(profile: Profile, universe: ReturnType<typeof readUniverse>): void {
  const instrumentsOfStrategy = new Map<string, string>();
  for (const [user, strategies] of Object.entries(profile)) {
    const names = Object.keys(strategies);
    assert.ok(names.length >= 1 && names.length <= 7, `${user} has ${names.length} strategies`);
    for (const [strategy, instruments] of Object.entries(strategies)) {
      assert.ok(universe.STRATEGIES.includes(strategy), `${user}: unknown strategy ${strategy}`);
      assert.ok(instruments.length >= 1 && instruments.length <= 10, `${strategy} has ${instruments.length}`);
      assert.equal(new Set(instruments).size, instruments.length, `${strategy} repeats an instrument`);
      for (const instrument of instruments) assert.ok(universe.INSTRUMENTS.includes(instrument), instrument);
      const seen = instrumentsOfStrategy.get(strategy) ?? JSON.stringify(instruments);
      assert.equal(JSON.stringify(instruments), seen, `${strategy} differs between users`);
      instrumentsOfStrategy.set(strategy, seen);
    }
  }
}

test('the same seed writes byte-identical profiles and another seed a different one', async (t) => {
  const directory = temporaryDirectory(t);
  const [first, again, other] = ['first.json', 'again.json', 'other.json'].map((name) =>
    join(directory, name),
  );
  await generate(t, first!, '--users', '300', '--seed', '42');
  await generate(t, again!, '--users', '300', '--seed', '42');
  await generate(t, other!, '--users', '300', '--seed', '43');

  assert.ok(readFileSync(first!).equals(readFileSync(again!)), 'same seed, different bytes');
  assert.ok(!readFileSync(first!).equals(readFileSync(other!)), 'different seeds, same bytes');
  assert.deepEqual(
    readdirSync(directory).sort(),
    ['again.json', 'first.json', 'other.json'],
    'a temp file was left',
  );
});

test('a profile gives each user 1 to 7 strategies sharing 1 to 10 distinct instruments each', async (t) => {
  const out = join(temporaryDirectory(t), 'profile.json');
  const universe = readUniverse();
  await generate(t, out, '--users', '1000', '--seed', '9');
  const text = readFileSync(out, 'utf8');
  const profile: Profile = JSON.parse(text);

  assert.equal(Object.keys(profile).length, 1000);
  assert.equal(userLineCount(text), 1000, 'a user name appears twice');
  assertProfileShape(profile, universe);
  for (const name of universe.USERS) assert.ok(name in profile, `${name} from the universe is missing`);
});

test('--users equal to the distinct universe names uses exactly those names, once each', async (t) => {
  const out = join(temporaryDirectory(t), 'profile.json');
  const distinct = [...new Set(readUniverse().USERS)];
  await generate(t, out, '--users', String(distinct.length), '--seed', '5');

  assert.deepEqual(Object.keys(JSON.parse(readFileSync(out, 'utf8'))).sort(), distinct.sort());
});

test('the defaults write 3 users and the summary names the path and its size in bytes', async (t) => {
  const out = join(temporaryDirectory(t), 'nested', 'profile.json');
  const { stdout } = await generate(t, out);

  assert.equal(Object.keys(JSON.parse(readFileSync(out, 'utf8'))).length, 3);
  assert.equal(stdout.trim().split('\n').length, 1);
  assert.ok(stdout.includes(out), stdout);
  assert.ok(stdout.includes(`${statSync(out).size} bytes`), stdout);
});

test('--users 200000 writes a complete profile of distinct users', async (t) => {
  const out = join(temporaryDirectory(t), 'large.json');
  const universe = readUniverse();
  await generate(t, out, '--users', '200000', '--seed', '11');
  const text = readFileSync(out, 'utf8');
  const profile: Profile = JSON.parse(text);

  assert.equal(Object.keys(profile).length, 200_000);
  assert.equal(userLineCount(text), 200_000, 'a user name appears twice');
  assertProfileShape(profile, universe);
});

const BAD_FLAGS: string[][] = [
  ['--users', '0'],
  ['--users', '-3'],
  ['--users', 'ten'],
  ['--users', '1.5'],
  ['--users', '10000001'],
  ['--seed', '2.5'],
  ['--seed', 'abc'],
  ['--users'],
  ['--bogus'],
  ['stray'],
];

for (const flags of BAD_FLAGS) {
  test(`generate ${flags.join(' ')} exits 2 with one line on stderr and writes nothing`, async (t) => {
    const out = join(temporaryDirectory(t), 'profile.json');
    const result = await runCli(['generate', '--out', out, ...flags]);

    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^ordergate generate: /);
    assert.equal(existsSync(out), false);
  });
}

test('an invalid universe file exits 1 with one line naming the file and the problem', async (t) => {
  const directory = temporaryDirectory(t);
  const universe = join(directory, 'raw_details.json');
  writeFileSync(universe, JSON.stringify({ USERS: ['Ann Lee'], STRATEGIES: [], INSTRUMENTS: ['ACC'] }));
  const result = await runCli(['generate', '--universe', universe, '--out', join(directory, 'profile.json')]);

  assert.equal(result.code, 1);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.ok(result.stderr.includes(universe), result.stderr);
  assert.match(result.stderr, /"STRATEGIES" must not be empty/);
});

test('generate --help exits 0 and prints the usage', async () => {
  const result = await runCli(['generate', '--help']);

  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Usage: ordergate generate/);
  assert.match(result.stdout, /--users N/);
  assert.equal(result.stderr, '');
});
