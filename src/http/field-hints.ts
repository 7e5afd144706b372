// What to say of a field a route does not know: the known field it is closest to, and on the seed's
// route the two slips its users make, the lower-case fields of POST /orders and a client_order_id,
// which that route takes as a header. Runs only on a refused request.

const SEED_ROUTE = 'POST /create_order';
const ORDERS_ROUTE = 'POST /orders';
/** Words for a field that are not its name, however close: the seed calls the side POSITION. */
const SYNONYMS: ReadonlyMap<string, string> = new Map([['side', 'position']]);
/** Longer names are compared with none: a known field is a word, and the distance costs their product. */
const FIELD_COMPARED_LENGTH_MAX = 64;

/** The sentence that follows "X is not a known field": what was probably meant, or what is known. */
export function unknownFieldHint(field: string, known: readonly string[], route: string): string {
  const folded = field.toLowerCase();
  if (route === SEED_ROUTE && folded === 'client_order_id') {
    return `${SEED_ROUTE} takes it as the Idempotency-Key header (${ORDERS_ROUTE} takes client_order_id in the body)`;
  }
  const closest = closestField(SYNONYMS.get(folded) ?? field, known);
  const guess = closest === undefined ? undefined : `did you mean ${closest}?`;
  if (route === SEED_ROUTE && field === folded && /[a-z]/.test(field)) {
    const pointer = `${SEED_ROUTE} takes the seed's capitals (STRATEGY, INSTRUMENT, POSITION); ${ORDERS_ROUTE} takes lower-case fields`;
    return guess === undefined ? pointer : `${guess} ${pointer}`;
  }
  if (route === ORDERS_ROUTE && closest !== undefined && closest.toUpperCase() === field) {
    return `${guess} ${ORDERS_ROUTE} takes lower-case fields; the capitals are ${SEED_ROUTE}'s`;
  }
  return guess ?? `the known ones are ${known.join(', ')}`;
}

/**
 * The known field nearest to `field` in edit distance, ignoring letter case, if it is near enough to
 * be a slip: a third of the letters at most (INSTRUMNET is 2 from INSTRUMENT). A handful of short
 * names, so a plain dynamic programme does; no dependency is needed for it.
 */
export function closestField(field: string, known: readonly string[]): string | undefined {
  const folded = field.toLowerCase();
  if (folded.length > FIELD_COMPARED_LENGTH_MAX) return undefined;
  const distanceMax = Math.max(1, Math.floor(folded.length / 3));
  let best: string | undefined;
  let bestDistance = distanceMax + 1;
  for (const candidate of known) {
    const distance = editDistance(folded, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(substitution, previous[j]! + 1, row[j - 1]! + 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}
