#!/usr/bin/env node
// The one CLI: ordergate serve | generate | produce. Each command parses its own flags.

import { runGenerate } from './generate.js';
import { runProduce } from './produce.js';
import { runServe } from './serve.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; summary: string }> = {
  serve: { run: runServe, summary: 'start the HTTP API (npm start)' },
  generate: {
    run: runGenerate,
    summary: 'write a random user profile in the seed format (npm run generate)',
  },
  produce: { run: runProduce, summary: 'send random orders to a running server (npm run produce)' },
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
  return command.run(rest);
}

process.exitCode = await main(process.argv.slice(2));
