#!/usr/bin/env node
// The one CLI: ordergate serve | generate | produce | check | backup | keys | users | state | square-off |
// import | export. Each command parses its own flags, and is loaded only when called: generate, produce
// and the commands that talk to a running server over HTTP need neither Fastify nor SQLite.

import { readVersion } from './version.js';

type Run = (argv: string[]) => Promise<number>;

/** Each command with the npm script that runs it from a clone (package.json's scripts; a test keeps them equal). */
const COMMANDS: Record<string, { load: () => Promise<Run>; summary: string; script: string }> = {
  serve: {
    load: async () => (await import('./serve.js')).runServe,
    summary: 'start the HTTP API',
    script: 'npm start',
  },
  generate: {
    load: async () => (await import('./generate.js')).runGenerate,
    summary: 'write a random user profile in the seed format',
    script: 'npm run generate',
  },
  produce: {
    load: async () => (await import('./produce.js')).runProduce,
    summary: 'send random orders to a running server',
    script: 'npm run produce',
  },
  check: {
    load: async () => (await import('./check.js')).runCheck,
    summary: 'verify a database: integrity and the replay of the whole order log',
    script: 'npm run check',
  },
  backup: {
    load: async () => (await import('./backup.js')).runBackup,
    summary: 'write a consistent copy of the database while the server runs',
    script: 'npm run backup',
  },
  keys: {
    load: async () => (await import('./keys.js')).runKeys,
    summary: 'create, list and revoke API keys',
    script: 'npm run keys',
  },
  users: {
    load: async () => (await import('./users.js')).runUsers,
    summary: 'list, show, put and remove users on a running server',
    script: 'npm run users',
  },
  state: {
    load: async () => (await import('./state.js')).runState,
    summary: 'print or set the states (halts, close-only) on a running server',
    script: 'npm run state',
  },
  'square-off': {
    load: async () => (await import('./square-off.js')).runSquareOff,
    summary: 'close open positions now on a running server',
    script: 'npm run square-off',
  },
  import: {
    load: async () => (await import('./profile-transfer.js')).runImport,
    summary: 'make a profile file the users in force on a running server',
    script: 'npm run import',
  },
  export: {
    load: async () => (await import('./profile-transfer.js')).runExport,
    summary: "write the users in force on a running server in the seed's profile format",
    script: 'npm run export',
  },
};

const NAME_WIDTH = Math.max(...Object.keys(COMMANDS).map((name) => name.length));

const SCRIPT_WIDTH = Math.max(...Object.values(COMMANDS).map((command) => command.script.length));

const HELP = `Usage: ordergate <command> [options]
       ordergate --version | --help

Commands, and the npm script that runs each from a clone:
${Object.entries(COMMANDS)
  .map(
    ([name, command]) =>
      `  ${name.padEnd(NAME_WIDTH)}  ${command.script.padEnd(SCRIPT_WIDTH)}  ${command.summary}`,
  )
  .join('\n')}

Run ordergate <command> --help for the options of each. Through npm, the flags follow a --, which
tells npm they are the command's: npm run produce -- --count 10 (npm start -- --port 9090).

  -v, --version  print the version
  -h, --help     print this help`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(readVersion());
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`ordergate: unknown command ${JSON.stringify(name)}; try ordergate --help`);
    return 2;
  }
  return (await command.load())(rest);
}

process.exitCode = await main(process.argv.slice(2));
