import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRandom, type Random } from '../domain/random.js';
import type { Universe } from '../domain/universe.js';
import { helpRequested, integerFlag, parseFlags, readUniverse, stringFlag, withUsage } from './args.js';

export interface ProfileOptions {
  users: number;
  seed: number;
}

const USAGE = `Usage: ordergate generate [--users N] [--seed S] [--out PATH] [--universe PATH]

Writes a random user profile ({"<user>": {"<STRATEGY>": ["<INSTRUMENT>", ...]}}) drawn from a universe
file, as the seed's Generate_User_Profile.py did. The same seed gives a byte-identical file.

  --users N          how many users, 1 to 10000000 (default 3)
  --seed S           an integer seed (default 1)
  --out PATH         where to write the profile (default Jsons/user_profile.json)
  --universe PATH    names to draw from (default Jsons/raw_details.json)
  -h, --help         print this help`;

const USERS_MAX = 10_000_000;
const STRATEGIES_PER_INSTRUMENT_LIST_MAX = 10;
const STRATEGIES_PER_USER_MAX = 7;
// Large writes keep a million-user profile to a few hundred system calls.
const CHUNK_CHARS_MIN = 1 << 20;

interface GenerateArgs extends ProfileOptions {
  out: string;
  universe: string;
}

export async function runGenerate(argv: string[]): Promise<number> {
  return withUsage('generate', USAGE, async () => {
    const args = parseGenerateArgs(argv);
    try {
      const started = performance.now();
      const universe = await readUniverse(args.universe);
      const written = await writeProfile(args.out, universe, args);
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      console.log(
        `generated ${written.users} users over ${universe.strategies.length} strategies (seed ${args.seed})` +
          ` → ${args.out}, ${written.bytes} bytes in ${seconds} s`,
      );
      return 0;
    } catch (error) {
      console.error(`ordergate generate: ${(error as Error).message}`);
      return 1;
    }
  });
}

function parseGenerateArgs(argv: string[]): GenerateArgs {
  const { values } = parseFlags(argv, {
    users: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    universe: { type: 'string' },
  });
  helpRequested(values);
  return {
    users: integerFlag(values, 'users', 3, 1, USERS_MAX),
    seed: integerFlag(values, 'seed', 1, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    out: stringFlag(values, 'out', 'Jsons/user_profile.json'),
    universe: stringFlag(values, 'universe', 'Jsons/raw_details.json'),
  };
}

/** The whole profile as one string: for small profiles and tests; writeProfile streams the same text. */
export function renderProfile(universe: Universe, options: ProfileOptions): string {
  return Array.from(profileChunks(universe, options)).join('');
}

/**
 * Writes the profile to a temporary file beside `path`, flushed to disk, then renames it over `path`:
 * a reader sees the old profile or the whole new one, never half of one.
 */
export async function writeProfile(
  path: string,
  universe: Universe,
  options: ProfileOptions,
): Promise<{ users: number; bytes: number }> {
  assertProfileOptions(universe, options);
  const directory = dirname(path);
  await mkdir(directory, { recursive: true });
  const temporary = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const file = createWriteStream(temporary, { flags: 'wx', flush: true });
  try {
    // pipeline() waits for 'drain' whenever the file falls behind, so memory stays at a few chunks.
    await pipeline(Readable.from(profileChunks(universe, options)), file);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(directory);
  return { users: options.users, bytes: file.bytesWritten };
}

/** Makes the rename itself durable; some platforms cannot open a directory, and lose only that. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The file's contents are already on disk; only the rename's durability is best-effort here.
  }
}

/**
 * The profile text in chunks of at least CHUNK_CHARS_MIN characters, one user per line.
 * The draws happen in a fixed order (instrument lists, name order, then each user's strategies),
 * which is what makes the same seed give the same bytes.
 */
function* profileChunks(universe: Universe, options: ProfileOptions): Generator<string> {
  assertProfileOptions(universe, options);
  const random = createRandom(options.seed);
  const strategyFragments = renderStrategyFragments(universe, random);
  const names = userNames(universe.users, random);
  const strategyPool = universe.strategies.map((_, index) => index);
  const strategiesPerUserMax = Math.min(STRATEGIES_PER_USER_MAX, strategyPool.length);

  // Lines are joined per chunk (cheaper than growing one string); the first chunk opens the object.
  let lines: string[] = [];
  let lineChars = 0;
  let opening = '{\n';
  for (let user = 0; user < options.users; user++) {
    const name = names.next().value as string;
    const strategies = drawSortedIndexes(random, strategyPool, random.int(1, strategiesPerUserMax));
    const line = renderUserLine(name, strategies, strategyFragments);
    lines.push(line);
    lineChars += line.length;
    if (lineChars >= CHUNK_CHARS_MIN) {
      yield opening + lines.join(',\n');
      opening = ',\n';
      lines = [];
      lineChars = 0;
    }
  }
  yield lines.length === 0 ? '\n}\n' : `${opening}${lines.join(',\n')}\n}\n`;
}

function renderUserLine(
  name: string,
  strategies: readonly number[],
  strategyFragments: readonly string[],
): string {
  let line = `  ${JSON.stringify(name)}: {${strategyFragments[strategies[0]!]}`;
  for (let index = 1; index < strategies.length; index++)
    line += `, ${strategyFragments[strategies[index]!]}`;
  return `${line}}`;
}

function assertProfileOptions(universe: Universe, options: ProfileOptions): void {
  if (!Number.isInteger(options.users) || options.users < 1 || options.users > USERS_MAX) {
    throw new RangeError(`users must be an integer from 1 to ${USERS_MAX}, got ${options.users}`);
  }
  if (universe.users.length === 0 || universe.strategies.length === 0 || universe.instruments.length === 0) {
    throw new RangeError('the universe needs at least one user, strategy and instrument');
  }
}

/**
 * Each strategy's `"STRATEGY": ["INSTRUMENT", ...]` text, rendered once: every user of a strategy
 * trades the same instruments, so the hot loop only joins these pieces.
 */
function renderStrategyFragments(universe: Universe, random: Random): string[] {
  const instrumentPool = universe.instruments.map((_, index) => index);
  const instrumentsMax = Math.min(STRATEGIES_PER_INSTRUMENT_LIST_MAX, instrumentPool.length);
  return universe.strategies.map((strategy) => {
    const chosen = drawSortedIndexes(random, instrumentPool, random.int(1, instrumentsMax));
    const instruments = chosen.map((index) => JSON.stringify(universe.instruments[index]));
    return `${JSON.stringify(strategy)}: [${instruments.join(', ')}]`;
  });
}

/**
 * `count` distinct indexes from `pool`, in ascending order so the file reads in the universe's order.
 * Shuffles `pool` in place (a partial Fisher–Yates): any permutation of it is as good a start as the
 * identity, and a million users then allocate nothing but the result.
 */
function drawSortedIndexes(random: Random, pool: number[], count: number): number[] {
  for (let index = 0; index < count; index++) {
    const chosen = random.int(index, pool.length - 1);
    const swapped = pool[index]!;
    pool[index] = pool[chosen]!;
    pool[chosen] = swapped;
  }
  return pool.slice(0, count).sort((left, right) => left - right);
}

/**
 * An endless sequence of distinct user names: the universe's own names in a seeded order; then every
 * "<first> <last>" combination of their first and last names not already taken; then those names with
 * " 2", " 3", ... appended. Memory stays proportional to the universe, not to the users generated.
 */
function* userNames(universeUsers: readonly string[], random: Random): Generator<string, never> {
  const originals = random.sample(universeUsers, universeUsers.length);
  const { firsts, lasts } = splitNames(originals);
  const shuffledFirsts = random.sample(firsts, firsts.length);
  const shuffledLasts = random.sample(lasts, lasts.length);
  const originalSet = new Set(originals);
  const firstSet = new Set(firsts);
  const lastSet = new Set(lasts);
  // A combination is "<first> <last>" with no space in <first>, so splitting at the first space recovers it.
  const isCombination = (name: string): boolean => {
    const space = name.indexOf(' ');
    return space > 0 && firstSet.has(name.slice(0, space)) && lastSet.has(name.slice(space + 1));
  };
  const baseNames = function* (): Generator<string> {
    yield* originals;
    for (const name of combinations(shuffledFirsts, shuffledLasts)) {
      if (!originalSet.has(name)) yield name;
    }
  };

  yield* baseNames();
  // "<base> <n>" splits back into one (base, n) at its last space, so numbered names never repeat;
  // one that happens to equal a base name (the universe may hold "Ann Lee 2") is skipped.
  for (let suffix = 2; ; suffix++) {
    for (const base of baseNames()) {
      const name = `${base} ${suffix}`;
      if (!originalSet.has(name) && !isCombination(name)) yield name;
    }
  }
}

/** First names are the text before the first space; last names the rest. Single-word names give only a first. */
function splitNames(names: readonly string[]): { firsts: string[]; lasts: string[] } {
  const firsts = new Set<string>();
  const lasts = new Set<string>();
  for (const name of names) {
    const space = name.indexOf(' ');
    if (space < 0) {
      firsts.add(name);
      continue;
    }
    firsts.add(name.slice(0, space));
    const last = name.slice(space + 1);
    if (last !== '') lasts.add(last);
  }
  return { firsts: [...firsts], lasts: [...lasts] };
}

/**
 * Every (first, last) pair exactly once, walking diagonals (first i with last i + d) so consecutive
 * names do not share a first name.
 */
function* combinations(firsts: readonly string[], lasts: readonly string[]): Generator<string> {
  for (let diagonal = 0; diagonal < lasts.length; diagonal++) {
    for (let index = 0; index < firsts.length; index++) {
      yield `${firsts[index]} ${lasts[(index + diagonal) % lasts.length]}`;
    }
  }
}
