// JSON.parse keeps the last of two equal keys in an object and says nothing: in a profile, a user
// written twice would silently lose one of the two entries. This finds the keys repeated within one
// object, in text already known to be valid JSON, in one pass that skips strings by indexOf.

export interface DuplicateKey {
  /** The keys leading to the object that repeats it: [] for the top level, [user] for a user's strategies. */
  readonly path: readonly string[];
  readonly key: string;
}

interface Frame {
  readonly isObject: boolean;
  /** Where the object is; only kept for the objects whose keys are. */
  readonly path: readonly string[];
  /** The keys seen so far; null for an array, or an object deeper than asked about. */
  readonly keys: Set<string> | null;
  expectsKey: boolean;
  lastKey: string;
}

const NOWHERE: readonly string[] = [];

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Each key that appears more than once in one object, once per repetition, for objects up to
 * `depthMax` levels deep (1: the top-level object only). `text` must be valid JSON.
 */
export function duplicateKeys(text: string, depthMax: number): DuplicateKey[] {
  const found: DuplicateKey[] = [];
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      const end = closingQuote(text, i);
      const top = stack.at(-1);
      // Keys are read only where they are counted: most of a large profile is deeper, in lists.
      if (top?.expectsKey && top.keys !== null) {
        const key = readKey(text, i, end);
        top.expectsKey = false;
        top.lastKey = key;
        if (top.keys.has(key)) found.push({ path: top.path, key });
        else top.keys.add(key);
      } else if (top?.isObject === true) {
        top.expectsKey = false;
      }
      i = end;
    } else if (code === 0x7b /* { */ || code === 0x5b /* [ */) {
      const isObject = code === 0x7b;
      const counted = isObject && stack.length < depthMax;
      // Within a counted object its parent is one too, so the parent's last key names where it is.
      const parent = stack.at(-1);
      const path = !counted || parent === undefined ? NOWHERE : [...parent.path, parent.lastKey];
      stack.push({
        isObject,
        path,
        keys: counted ? new Set<string>() : null,
        expectsKey: isObject,
        lastKey: '',
      });
    } else if (code === 0x7d /* } */ || code === 0x5d /* ] */) {
      stack.pop();
    } else if (code === 0x2c /* , */) {
      const top = stack.at(-1);
      if (top?.isObject === true) top.expectsKey = true;
    }
  }
  return found;
}

/** The index of the quote that closes the string opening at `open`: the first not escaped. */
function closingQuote(text: string, open: number): number {
  let end = text.indexOf('"', open + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

function readKey(text: string, open: number, end: number): string {
  const raw = text.slice(open + 1, end);
  return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
}
