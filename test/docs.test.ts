// The documentation is kept true to the code where it can drift: the configuration table is the
// settings `serve --help` prints, the commands table is the commands `ordergate --help` lists (each
// with an npm script that exists), and every link between the pages leads to a page and a heading.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import test from 'node:test';
import { documentationFiles, readmeTable } from './helpers/readme.js';
import { ROOT, runCli } from './helpers/server.js';

/** A cell's value before any note: `268435456` (256 MiB) is 268435456 (the table reader drops the first backtick). */
const cellValue = (cell: string) => cell.split('`')[0]!.trim();

test("README's configuration table is every setting of serve --help, with its flag and default", async () => {
  const help = await runCli(['serve', '--help']);
  assert.equal(help.code, 0);
  // Each setting's line in the help: --flag … [ENV, default VALUE]
  const settings = [...help.stdout.matchAll(/^ {2}--([a-z-]+) .*\[([A-Z_]+), default ([^\]]+)\]$/gm)].map(
    ([, flag, env, fallback]) => ({ env: env!, flag: `--${flag}`, fallback: fallback! }),
  );
  assert.ok(settings.length >= 10, `serve --help lists ${settings.length} settings`);
  const rows = readmeTable('settings').map(([env, flag, fallback]) => ({
    env: env!,
    flag: flag!,
    fallback: cellValue(fallback!),
  }));
  assert.deepEqual(
    rows.map((row) => row.env),
    settings.map((setting) => setting.env),
  );
  for (const [index, row] of rows.entries()) {
    assert.equal(row.flag, settings[index]!.flag, `${row.env}'s flag`);
    assert.equal(row.fallback, settings[index]!.fallback, `${row.env}'s default`);
  }
});

test("README's commands table is every command of ordergate --help, each with a working npm script", async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  const listed = [...help.stdout.matchAll(/^ {2}([a-z][a-z-]*) {2,}/gm)].map(([, name]) => name!);
  const rows = readmeTable('commands');
  const documented = rows.map(([command]) => /^ordergate ([a-z][a-z-]*)/.exec(command!)![1]!);
  assert.deepEqual(documented, listed);
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: object })
    .scripts;
  for (const [command, script] of rows) {
    const name = /^npm (?:run )?([a-z:-]+)/.exec(script!)?.[1];
    assert.ok(name !== undefined && name in scripts, `${command}: no npm script ${script}`);
  }
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsIn(text: string): Set<string> {
  const outside = text.replace(/```[\s\S]*?```/g, '');
  return new Set([...outside.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => anchorOf(heading!)));
}

test('every link between README.md and docs/ leads to a page that exists, and to a heading in it', () => {
  const files = documentationFiles();
  const broken: string[] = [];
  for (const [path, text] of files) {
    for (const [, target] of text.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // http:, https:, mailto:
      const [file, anchor] = target!.split('#') as [string, string | undefined];
      const linked = file === '' ? path : normalize(join(dirname(path), file));
      if (!existsSync(join(ROOT, linked))) {
        broken.push(`${path}: ${target} (no file ${linked})`);
        continue;
      }
      if (anchor === undefined || !linked.endsWith('.md')) continue;
      const page = files.get(linked) ?? readFileSync(join(ROOT, linked), 'utf8');
      if (!anchorsIn(page).has(anchor))
        broken.push(`${path}: ${target} (no heading #${anchor} in ${linked})`);
    }
  }
  assert.deepEqual(broken, []);
});
