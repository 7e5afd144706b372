// The top of the CLI as a new user meets it: --version, --help naming every command with the npm script
// that runs it (kept equal to package.json's scripts), and every command's own --help: it exits 0 and
// names only flags that the command accepts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runCli } from '../helpers/server.js';

const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  scripts: Record<string, string>;
};

/** Every help text there is: each command's, and each subcommand's (keys, users, state). */
const HELP_SCOPES = [
  ['serve'],
  ['generate'],
  ['produce'],
  ['check'],
  ['backup'],
  ['keys'],
  ['keys', 'create'],
  ['keys', 'list'],
  ['keys', 'revoke'],
  ['users'],
  ['users', 'list'],
  ['users', 'show'],
  ['users', 'put'],
  ['users', 'delete'],
  ['users', 'unsubscribe'],
  ['state'],
  ['state', 'set'],
  ['square-off'],
  ['import'],
  ['export'],
];

/** The command each npm script runs: "… node dist/src/cli/main.js produce" → produce. */
function commandsOfScripts(): Map<string, string> {
  const commands = new Map<string, string>();
  for (const [script, line] of Object.entries(PACKAGE.scripts)) {
    const match = /node dist\/src\/cli\/main\.js ([\w-]+)/.exec(line);
    if (match) commands.set(match[1]!, script === 'start' ? 'npm start' : `npm run ${script}`);
  }
  return commands;
}

/** The flags a help text's option lines name: "  --count N   …" and "  -h, --help  …". */
function flagsOf(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, )?--([a-z][a-z-]*)/gm)].map((match) => match[1]!);
}

test('ordergate --version prints the version of package.json', async () => {
  for (const flag of ['--version', '-v']) {
    const result = await runCli([flag]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${PACKAGE.version}\n`);
  }
});

test('ordergate --help lists every command with the npm script that runs it, and how flags pass through npm', async () => {
  const result = await runCli(['--help']);
  assert.equal(result.code, 0, result.stderr);
  const listed = new Map(
    [...result.stdout.matchAll(/^ {2}([\w-]+) +(npm (?:start|run [\w-]+)) +\S/gm)].map((m) => [m[1]!, m[2]!]),
  );
  assert.deepEqual(
    [...listed.keys()].sort(),
    HELP_SCOPES.filter((scope) => scope.length === 1)
      .map(([name]) => name!)
      .sort(),
  );
  assert.deepEqual(
    [...listed].sort(),
    [...commandsOfScripts()].sort(),
    'the help and package.json agree on the npm scripts',
  );
  assert.match(result.stdout, /npm run produce -- --count 10/);
  assert.match(result.stdout, /--version/);

  const bare = await runCli([]);
  assert.equal(bare.code, 2, 'no command is a mistake');
  assert.equal(bare.stdout, result.stdout);
});

test('an unknown command gets one line pointing to --help, exit 2', async () => {
  const result = await runCli(['prodcue']);
  assert.equal(result.code, 2);
  assert.equal(result.stderr, 'ordergate: unknown command "prodcue"; try ordergate --help\n');
});

test("every command's --help exits 0, and every flag it names is one the command accepts", async (t) => {
  // One command at a time: each flag costs two processes, and the machine is shared.
  let checked = 0;
  for (const scope of HELP_SCOPES) {
    const help = await runCli([...scope, '--help']);
    assert.equal(help.code, 0, `${scope.join(' ')} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: ordergate ${scope.join(' ')}\\b`));
    const flags = flagsOf(help.stdout);
    t.diagnostic(`${scope.join(' ')}: ${flags.join(' ')}`);
    for (const flag of flags) {
      checked++;
      // A flag that takes a value is given one; a boolean flag refuses one: one of the two is accepted.
      const attempts = await Promise.all(
        [`--${flag}=1`, `--${flag}`].map((given) => runCli([...scope, given, '--help'])),
      );
      assert.ok(
        attempts.some((attempt) => !/Unknown option/.test(attempt.stderr)),
        `${scope.join(' ')} --help names --${flag}, which it refuses: ${attempts[0]!.stderr}`,
      );
    }
  }
  assert.ok(checked >= HELP_SCOPES.length * 2, `the option lines were found (${checked} flags)`);
});
