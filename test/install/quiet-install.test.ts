// What `npm install` / `npm ci` would warn about, checked on the tree it installed: no package asks for
// another Node than the one running (npm's EBADENGINE warning: cookie@2 through light-my-request asked
// for Node 22), `npm ls` finds nothing invalid or missing, and every install script is covered by
// package.json's allowScripts (npm 11's "install scripts not yet covered by allowScripts" warning).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/server.js';

const NPM_TIMEOUT_MS = 60_000;

type Version = [number, number, number];

interface Installed {
  readonly where: string;
  readonly name: string;
  readonly version: string;
  readonly nodeRange: string | undefined;
}

/** Every package under node_modules, nested ones too, as npm installed them. */
function installedPackages(directory = join(ROOT, 'node_modules')): Installed[] {
  const found: Installed[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const path = join(directory, entry.name);
    if (entry.name.startsWith('@')) {
      found.push(...installedPackages(path));
      continue;
    }
    const manifest = join(path, 'package.json');
    if (!existsSync(manifest)) continue;
    const json = JSON.parse(readFileSync(manifest, 'utf8')) as {
      name?: string;
      version?: string;
      engines?: { node?: string };
    };
    found.push({
      where: path.slice(ROOT.length),
      name: json.name ?? entry.name,
      version: json.version ?? '?',
      nodeRange: json.engines?.node,
    });
    if (existsSync(join(path, 'node_modules'))) found.push(...installedPackages(join(path, 'node_modules')));
  }
  return found;
}

function compare(left: Version, right: Version): number {
  for (let index = 0; index < 3; index++) {
    const difference = left[index]! - right[index]!;
    if (difference !== 0) return difference;
  }
  return 0;
}

/**
 * Whether `version` satisfies one comparator of a semver range, in the forms engines fields use:
 * >=, >, <=, <, =, ^, ~, a bare or partial version (18, 20.x) and *. Anything else throws, so that a
 * range this check cannot read fails the test rather than passing unread.
 */
function satisfiesComparator(version: Version, comparator: string): boolean {
  if (comparator === '*' || comparator === 'x') return true;
  const match = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(comparator);
  if (!match) throw new Error(`cannot read the range comparator ${JSON.stringify(comparator)}`);
  const [, operator = '', major, minor, patch] = match;
  const numeric = (part: string | undefined) =>
    part === undefined || part === 'x' || part === '*' ? null : Number(part);
  const parts = [Number(major), numeric(minor), numeric(patch)] as const;
  const low: Version = [parts[0], parts[1] ?? 0, parts[2] ?? 0];
  // The first version past a partial one: 18 → 19.0.0, 18.2 → 18.3.0.
  const next: Version =
    parts[1] === null ? [parts[0] + 1, 0, 0] : parts[2] === null ? [parts[0], parts[1] + 1, 0] : low;
  const partial = parts[1] === null || parts[2] === null;
  switch (operator) {
    case '>=':
      return compare(version, low) >= 0;
    case '>':
      return partial ? compare(version, next) >= 0 : compare(version, low) > 0;
    case '<=':
      return partial ? compare(version, next) < 0 : compare(version, low) <= 0;
    case '<':
      return compare(version, low) < 0;
    case '^': {
      const upper: Version = low[0] > 0 ? [low[0] + 1, 0, 0] : low[1] > 0 ? [0, low[1] + 1, 0] : next;
      return compare(version, low) >= 0 && compare(version, upper) < 0;
    }
    case '~': {
      const upper: Version = parts[1] === null ? [low[0] + 1, 0, 0] : [low[0], low[1] + 1, 0];
      return compare(version, low) >= 0 && compare(version, upper) < 0;
    }
    default:
      return partial ? compare(version, low) >= 0 && compare(version, next) < 0 : compare(version, low) === 0;
  }
}

/** `a || b c`: any alternative, each alternative all of its space-separated comparators. */
function satisfies(version: Version, range: string): boolean {
  return range.split('||').some((alternative) => {
    const comparators = alternative
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .split(/\s+/);
    return comparators.every((comparator) => comparator === '' || satisfiesComparator(version, comparator));
  });
}

function npm(...args: string[]) {
  return spawnSync('npm', args, { cwd: ROOT, encoding: 'utf8', timeout: NPM_TIMEOUT_MS });
}

const NODE = process.versions.node.split('.').map(Number) as Version;

test('the range check reads the engines forms of the tree as npm does', () => {
  const cases: Array<[string, string, boolean]> = [
    ['20.20.2', '>=22', false],
    ['20.20.2', '>=18', true],
    ['20.20.2', '>= 14.6', true],
    ['20.20.2', '18 || 20 || >=22', true],
    ['21.1.0', '18 || 20 || >=22', false],
    ['20.20.2', '20.x || 22.x', true],
    ['20.20.2', '>=16 || 14 >=14.17', true],
    ['14.16.0', '>=16 || 14 >=14.17', false],
    ['20.20.2', '^18.18.0 || ^20.9.0', true],
    ['20.8.0', '^18.18.0 || ^20.9.0', false],
    ['20.20.2', '~20.19.0', false],
    ['20.20.2', '*', true],
  ];
  for (const [version, range, expected] of cases) {
    assert.equal(
      satisfies(version.split('.').map(Number) as Version, range),
      expected,
      `${version} ${range}`,
    );
  }
});

test('no installed package asks for another Node than the one running (no EBADENGINE warning)', () => {
  const packages = installedPackages();
  assert.ok(packages.length > 100, `node_modules holds ${packages.length} packages: is it installed?`);
  const excluding = packages.filter((p) => p.nodeRange !== undefined && !satisfies(NODE, p.nodeRange));
  assert.deepEqual(
    excluding.map((p) => `${p.name}@${p.version} (${p.where}) needs node ${p.nodeRange}`),
    [],
    `on Node ${process.versions.node}`,
  );
});

test('npm ls finds no invalid, missing or extraneous package', () => {
  const listing = npm('ls', '--all', '--json');
  const tree = JSON.parse(listing.stdout) as { problems?: string[] };
  assert.deepEqual(tree.problems ?? [], []);
  assert.equal(listing.status, 0, listing.stderr);
});

test("every package's install script is covered by allowScripts (npm 11)", (t) => {
  const listing = npm('install-scripts', 'ls', '--json');
  if (listing.status !== 0 && /Unknown command/i.test(listing.stderr + listing.stdout)) {
    t.skip(
      `npm ${npm('--version').stdout.trim()} has no allowScripts: it runs install scripts without asking`,
    );
    return;
  }
  assert.equal(listing.status, 0, listing.stderr);
  const pending = JSON.parse(listing.stdout) as { allowScripts: Array<{ name: string }> };
  assert.deepEqual(
    pending.allowScripts.map((entry) => entry.name),
    [],
    'these would print "install scripts not yet covered by allowScripts"',
  );
});
