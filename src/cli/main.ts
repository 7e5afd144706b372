#!/usr/bin/env node
// The one CLI: ordergate serve | generate | produce | check | backup | keys. Each command parses its own
// flags, and is loaded only when called: generate and produce need neither Fastify nor SQLite.

type Run = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { load: () => Promise<Run>; summary: string }> = {
  serve: {
    load: async () => (await import('./serve.js')).runServe,
    summary: 'start the HTTP API (npm start)',
  },
  generate: {
    load: async () => (await import('./generate.js')).runGenerate,
    summary: 'write a random user profile in the seed format (npm run generate)',
  },
  produce: {
    load: async () => (await import('./produce.js')).runProduce,
    summary: 'send random orders to a running server (npm run produce)',
  },
  check: {
    load: async () => (await import('./check.js')).runCheck,
    summary: 'verify a database: integrity and the replay of the whole order log',
  },
  backup: {
    load: async () => (await import('./backup.js')).runBackup,
    summary: 'write a consistent copy of the database while the server runs',
  },
  keys: {
    load: async () => (await import('./keys.js')).runKeys,
    summary: 'create, list and revoke API keys (npm run keys)',
  },
};

const HELP = `Usage: ordergate <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(10)} ${command.summary}`)
  .join('\n')}

Run ordergate <command> --help for the options of each.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`ordergate: unknown command ${JSON.stringify(name)}; try ordergate --help`);
    return 2;
  }
  return (await command.load())(rest);
}

process.exitCode = await main(process.argv.slice(2));
