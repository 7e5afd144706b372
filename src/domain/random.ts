/**
 * A small seeded pseudo-random generator (sfc32), so that a generated profile or a run of orders
 * replays exactly from its seed. Not for anything secret.
 */
export interface Random {
  /** A number in [0, 1). */
  next(): number;
  /** An integer in [minInclusive, maxInclusive]. */
  int(minInclusive: number, maxInclusive: number): number;
  pick<T>(items: readonly T[]): T;
  /** `count` distinct items, in random order. */
  sample<T>(items: readonly T[], count: number): T[];
}

const TWO_TO_32 = 0x1_0000_0000;
// sfc32's first outputs still echo the seed; the reference implementation discards a few.
const WARM_UP_ROUNDS = 15;

export function createRandom(seed: number): Random {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const nextUint32 = sfc32(seed);
  const next = () => nextUint32() / TWO_TO_32;

  const int = (minInclusive: number, maxInclusive: number): number => {
    if (!Number.isSafeInteger(minInclusive) || !Number.isSafeInteger(maxInclusive)) {
      throw new RangeError(`int() bounds must be safe integers, got ${minInclusive}..${maxInclusive}`);
    }
    if (minInclusive > maxInclusive)
      throw new RangeError(`int() got an empty range ${minInclusive}..${maxInclusive}`);
    return minInclusive + Math.floor(next() * (maxInclusive - minInclusive + 1));
  };

  const pick = <T>(items: readonly T[]): T => {
    if (items.length === 0) throw new RangeError('pick() from an empty list');
    return items[int(0, items.length - 1)] as T;
  };

  const sample = <T>(items: readonly T[], count: number): T[] => {
    if (!Number.isInteger(count) || count < 0 || count > items.length) {
      throw new RangeError(`sample() of ${count} from ${items.length} items`);
    }
    // A partial Fisher–Yates shuffle: only the first `count` places are drawn.
    const pool = items.slice();
    for (let index = 0; index < count; index++) {
      const chosen = int(index, pool.length - 1);
      const swapped = pool[index] as T;
      pool[index] = pool[chosen] as T;
      pool[chosen] = swapped;
    }
    pool.length = count;
    return pool;
  };

  return { next, int, pick, sample };
}

/** Chris Doty-Humphrey's Small Fast Counting generator, 32-bit words; period at least 2^32. */
function sfc32(seed: number): () => number {
  // Both halves of a seed beyond 32 bits count, so seeds 1 and 2^32 + 1 differ.
  let a = seed >>> 0;
  let b = Math.floor(seed / TWO_TO_32) >>> 0;
  let c = 0x9e3779b9;
  let d = 1;
  const nextUint32 = (): number => {
    const result = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + result) | 0;
    return result >>> 0;
  };
  for (let round = 0; round < WARM_UP_ROUNDS; round++) nextUint32();
  return nextUint32;
}
