// Reads a marked table out of the documentation (README.md and docs/*.md), so tests can keep the
// documentation equal to the code.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './server.js';

/** README.md and every page under docs/, by path from the root. */
export function documentationFiles(): Map<string, string> {
  const files = new Map<string, string>([['README.md', readFileSync(join(ROOT, 'README.md'), 'utf8')]]);
  for (const name of readdirSync(join(ROOT, 'docs'))
    .filter((each) => each.endsWith('.md'))
    .sort()) {
    files.set(`docs/${name}`, readFileSync(join(ROOT, 'docs', name), 'utf8'));
  }
  return files;
}

/** The rows of the table between <!-- NAME:start --> and <!-- NAME:end -->, as lists of cells. */
export function readmeTable(name: string): string[][] {
  const marked = [...documentationFiles()].filter(([, text]) => text.includes(`<!-- ${name}:start -->`));
  if (marked.length !== 1)
    throw new Error(`${marked.length} documentation files have a table marked ${name}`);
  const text = marked[0]![1];
  const start = text.indexOf(`<!-- ${name}:start -->`);
  const end = text.indexOf(`<!-- ${name}:end -->`);
  if (end < start) throw new Error(`the table marked ${name} has no end`);
  return text
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
