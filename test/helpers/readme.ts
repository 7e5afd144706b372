// Reads a marked table out of README.md, so tests can keep the documentation equal to the code.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './server.js';

/** The rows of the table between <!-- NAME:start --> and <!-- NAME:end -->, as lists of cells. */
export function readmeTable(name: string): string[][] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`<!-- ${name}:start -->`);
  const end = readme.indexOf(`<!-- ${name}:end -->`);
  if (start < 0 || end < start) throw new Error(`README.md has no table marked ${name}`);
  return readme
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim().replace(/^`|`$/g, '')),
    );
}
