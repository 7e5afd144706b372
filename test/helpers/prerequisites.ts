// What a fault test needs from the machine (root, strace, mount, pg_dump, …) and what happens when
// it is missing. In CI (CI=true) the test fails: a fault test that skips there would let a broken
// promise pass unseen, run after run. On a developer's machine it skips, saying why and what to
// install. .ci/run installs the Debian packages named here.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The checkout: what a test that runs the CLI as another user (nobody, postgres) needs that user to reach. */
const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));

/** The Debian package that provides each command a fault test runs. */
const DEBIAN_PACKAGES: Record<string, string> = {
  strace: 'strace',
  mount: 'mount',
  umount: 'mount',
  dd: 'coreutils',
  pg_dump: 'postgresql-client',
  pg_restore: 'postgresql-client',
};

const PROBE_TIMEOUT_MS = 10_000;

/** Whether the tests run in CI, where nothing may be skipped for want of a tool. */
export function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/**
 * The test cannot run here: in CI it fails; elsewhere it is skipped with `why` and what to do about
 * it. Returns false, so that a test can end with `return cannotRun(…)`.
 */
export function cannotRun(t: TestContext, why: string, remedy: string): false {
  const message = `${why}; ${remedy}`;
  if (inCi()) assert.fail(`a fault test cannot run in CI (CI=${process.env.CI}): ${message}`);
  t.skip(`${message} (in CI, CI=true, this fails the run)`);
  return false;
}

/** Whether a command is on the PATH and runs. */
export function hasCommand(command: string): boolean {
  const probe = spawnSync('sh', ['-c', `command -v ${command}`], { timeout: PROBE_TIMEOUT_MS });
  return probe.status === 0;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Whether this process may let a tool it starts (strace) attach to another of its children: root can,
 * and so can anyone while Yama's ptrace_scope is 0 (or Yama is absent); scope 1 allows only ancestors.
 */
export function mayAttachToSibling(): boolean {
  if (isRoot()) return true;
  try {
    return readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim() === '0';
  } catch {
    return true;
  }
}

/**
 * The first folder on the way to `path` that other users may not enter (no o+x: a folder made by
 * mktemp is 0700), or undefined when every one lets them through. A test that runs the CLI, or
 * PostgreSQL's binaries in node_modules, as another user (nobody, postgres) needs the checkout reachable.
 */
export function privateFolderOn(path: string = CHECKOUT): string | undefined {
  let blocking: string | undefined;
  for (let folder = path; ; folder = dirname(folder)) {
    if ((statSync(folder).mode & 0o001) === 0) blocking = folder;
    if (dirname(folder) === folder) return blocking;
  }
}

/**
 * True when every command is installed (and the process is root, if `root`); otherwise the test
 * cannot run (see cannotRun), told which Debian packages to install.
 */
export function needs(
  t: TestContext,
  requirement: {
    readonly commands?: readonly string[];
    readonly root?: boolean;
    /** The test runs the checkout's code as another user, who must be able to reach it. */
    readonly otherUsers?: boolean;
    readonly purpose: string;
  },
): boolean {
  const missing = (requirement.commands ?? []).filter((command) => !hasCommand(command));
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((command) => DEBIAN_PACKAGES[command] ?? command))];
    return cannotRun(
      t,
      `${requirement.purpose} needs ${missing.join(', ')}, not installed here`,
      `install it with apt-get install -y ${packages.join(' ')}`,
    );
  }
  if (requirement.root === true && !isRoot())
    return cannotRun(t, `${requirement.purpose} needs root`, 'run the tests as root (sudo npm test)');
  const blocking = requirement.otherUsers === true ? privateFolderOn() : undefined;
  if (blocking !== undefined) {
    return cannotRun(
      t,
      `${requirement.purpose} runs the checkout as another user, who cannot enter ${blocking} (no o+x)`,
      `run the tests from a checkout other users may reach, or chmod o+x ${blocking}`,
    );
  }
  return true;
}
