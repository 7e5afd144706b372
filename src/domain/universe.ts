/**
 * The universe of names the seed's tools draw from: Jsons/raw_details.json,
 * `{"USERS": [...], "STRATEGIES": [...], "INSTRUMENTS": [...]}`.
 */
export interface Universe {
  users: string[];
  strategies: string[];
  instruments: string[];
}

const UNIVERSE_KEYS = ['USERS', 'STRATEGIES', 'INSTRUMENTS'] as const;
type UniverseKey = (typeof UNIVERSE_KEYS)[number];

/**
 * Parses and validates a raw_details.json text. Every problem found is reported at once, in one
 * message that names the file, so a hand-edited file is fixed in one pass.
 * Names are de-duplicated keeping the first occurrence: the seed's own list has "Hattie Dyer" twice,
 * and a profile keyed by user name cannot hold the same user twice.
 */
export function parseUniverse(text: string, source: string): Universe {
  const document = parseJson(text, source);
  const problems = [...unknownKeyProblems(document)];
  const lists: Partial<Record<UniverseKey, string[]>> = {};
  for (const key of UNIVERSE_KEYS) {
    const list = readNameList(document[key], key, problems);
    if (list) lists[key] = list;
  }
  if (problems.length > 0 || !lists.USERS || !lists.STRATEGIES || !lists.INSTRUMENTS) {
    throw new Error(`${source}: ${problems.join('; ')}`);
  }
  return {
    users: firstOccurrences(lists.USERS),
    strategies: firstOccurrences(lists.STRATEGIES),
    instruments: firstOccurrences(lists.INSTRUMENTS),
  };
}

function parseJson(text: string, source: string): Record<string, unknown> {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new Error(`${source}: expected an object with the keys ${UNIVERSE_KEYS.join(', ')}`);
  }
  return document as Record<string, unknown>;
}

function unknownKeyProblems(document: Record<string, unknown>): string[] {
  const known: readonly string[] = UNIVERSE_KEYS;
  return Object.keys(document)
    .filter((key) => !known.includes(key))
    .map((key) => `unknown key ${JSON.stringify(key)} (expected ${UNIVERSE_KEYS.join(', ')})`);
}

function readNameList(value: unknown, key: UniverseKey, problems: string[]): string[] | undefined {
  if (value === undefined) {
    problems.push(`missing key "${key}"`);
    return undefined;
  }
  if (!Array.isArray(value)) {
    problems.push(`"${key}" must be an array of names`);
    return undefined;
  }
  if (value.length === 0) {
    problems.push(`"${key}" must not be empty`);
    return undefined;
  }
  const before = problems.length;
  value.forEach((name: unknown, index) => {
    const problem = nameProblem(name);
    if (problem) problems.push(`"${key}"[${index}] ${problem}`);
  });
  return problems.length === before ? (value as string[]) : undefined;
}

function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `must be a string, got ${JSON.stringify(name) ?? typeof name}`;
  if (name.trim() === '') return 'must not be blank';
  // Trimming silently would make the names in orders differ from the names in the file.
  if (name !== name.trim()) return `${JSON.stringify(name)} has leading or trailing whitespace`;
  return undefined;
}

function firstOccurrences(names: readonly string[]): string[] {
  return [...new Set(names)];
}
