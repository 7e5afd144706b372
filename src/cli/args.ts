// What every command does with its flags alike: strict parsing, --help, one line on a bad flag.

import { readFile } from 'node:fs/promises';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError, type DatabaseConfig, databaseUrlFrom, parseDatabaseUrl } from '../config.js';
import { parseUniverse, type Universe } from '../domain/universe.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export type Flags = Record<string, string | boolean | undefined>;

/** A bad flag or value: the command prints it on one line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A value that parseArgs would take for a flag: -5, -1.5, -.5. */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * parseArgs refuses `--interval -5` as ambiguous (the value looks like a flag), which hides the real
 * mistake behind advice about '='. A negative number after a flag that takes a value is its value:
 * glued on as `--interval=-5`, it reaches the flag's own check, which says what the flag accepts.
 */
function glueNegativeValues(argv: readonly string[], options: Options): string[] {
  const glued: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const next = argv[index + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (
      name !== undefined &&
      options[name]?.type === 'string' &&
      next !== undefined &&
      NEGATIVE_NUMBER.test(next)
    ) {
      glued.push(`${arg}=${next}`);
      index++;
    } else {
      glued.push(arg);
    }
  }
  return glued;
}

/** Parses strictly; --help and -h are added to every command. Throws UsageError. */
export function parseFlags(
  argv: readonly string[],
  options: Options,
  positionals = false,
): { values: Flags; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args: glueNegativeValues(argv, options),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: positionals,
      strict: true,
    });
    return { values: parsed.values as Flags, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError(describeParseError((error as Error).message));
  }
}

/** A flag without its value: "argument missing" at the end, "ambiguous" when another flag follows. */
const VALUE_MISSING = /^Option '(-[^' ]+)(?: <value>)?' argument (?:missing|is ambiguous)/;

function describeParseError(message: string): string {
  const missing = VALUE_MISSING.exec(message);
  if (missing) return `${missing[1]} needs a value`;
  // parseArgs explains some mistakes at length: the first sentence is enough.
  return message.split(/\.\s/)[0] ?? message;
}

/** Runs a command's body, turning a UsageError into one line on stderr and exit code 2. */
export async function withUsage(command: string, help: string, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message === 'help') {
      console.log(help);
      return 0;
    }
    console.error(`ordergate ${command}: ${error.message} (see ordergate ${command} --help)`);
    return 2;
  }
}

/** Throw from a command once its flags are parsed, when --help was asked for. */
export function helpRequested(values: Flags): void {
  if (values.help === true) throw new UsageError('help');
}

/** An integer flag within [min, max], or the fallback when absent. */
export function integerFlag(values: Flags, name: string, fallback: number, min: number, max: number): number {
  const value = values[name];
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return number;
}

/** A string flag that may not be empty, or the fallback when absent. */
export function stringFlag(values: Flags, name: string, fallback: string): string {
  const value = values[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} must not be empty`);
  return value;
}

export async function readUniverse(path: string): Promise<Universe> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint =
      code === 'ENOENT' ? ' (no such file: run from the project directory or pass --universe)' : '';
    throw new Error(`cannot read universe file ${path}: ${code ?? (error as Error).message}${hint}`);
  }
  return parseUniverse(text, path);
}

/** The database a --database-url flag (or DATABASE_URL, or the default) names. */
export function databaseOf(values: Flags): DatabaseConfig {
  try {
    return parseDatabaseUrl(databaseUrlFrom(values['database-url'], process.env));
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}
