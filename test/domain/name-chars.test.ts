// The names' rule, spelled out without \p{L}, is the u-flag rule it replaces: the same letters and
// digits code point by code point, and the same verdict on whole names, read without the u flag as
// the OpenAPI document's tools read it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import fc from 'fast-check';
import { LETTER_OR_DIGIT, NAME_CHARS_UNICODE_VERSION } from '../../src/domain/name-chars.js';
import { isValidName, NAME_LENGTH_MAX, NAME_PATTERN } from '../../src/domain/order.js';
import { LETTER_OR_DIGIT_U, nameCharsFile } from '../helpers/char-class.js';
import { SAMPLE_NAMES } from '../helpers/names.js';
import { ROOT } from '../helpers/server.js';

/** The rule before it was spelled out: Unicode properties, read with the u flag. */
const NAME_U = new RegExp(`^[\\p{L}\\p{N}][\\p{L}\\p{N} &'._-]{0,${NAME_LENGTH_MAX - 1}}$`, 'u');
const CODE_POINT_END = 0x110000;
const sameUnicode = process.versions.unicode === NAME_CHARS_UNICODE_VERSION;
const otherUnicode = sameUnicode
  ? false
  : `name-chars.ts is generated from Unicode ${NAME_CHARS_UNICODE_VERSION}; this Node has ${process.versions.unicode}`;

test('name-chars.ts is what the generator writes from this Node (regenerate it after a Unicode update)', {
  skip: otherUnicode,
}, () => {
  const committed = readFileSync(join(ROOT, 'src/domain/name-chars.ts'), 'utf8');
  assert.equal(
    committed,
    nameCharsFile(),
    'run: npm run build --silent && node dist/test/helpers/char-class.js > src/domain/name-chars.ts',
  );
});

test('one letter or digit without the u flag is \\p{L} or \\p{N} with it, for every code point', {
  skip: otherUnicode,
}, () => {
  const spelled = new RegExp(`^${LETTER_OR_DIGIT}$`);
  const differing: string[] = [];
  for (let cp = 0; cp < CODE_POINT_END; cp++) {
    const text = String.fromCodePoint(cp);
    if (spelled.test(text) !== LETTER_OR_DIGIT_U.test(text)) differing.push(cp.toString(16));
  }
  assert.deepEqual(differing.slice(0, 20), [], `${differing.length} code points differ`);
});

test('a lone surrogate is no letter, in either reading', () => {
  const spelled = new RegExp(`^${LETTER_OR_DIGIT}$`);
  for (const text of ['\uD835', '\uDC00', '\uDC00\uD835', 'A\uD835']) {
    assert.equal(spelled.test(text), false, JSON.stringify(text));
    assert.equal(NAME_U.test(text), false, JSON.stringify(text));
  }
});

test('whole names: the spelled-out pattern without the u flag agrees with the u-flag rule', {
  skip: otherUnicode,
}, () => {
  const spelled = new RegExp(NAME_PATTERN);
  const samples = [...SAMPLE_NAMES, '']; // the empty name too, which no route lets through to a pattern
  for (const name of samples) {
    assert.equal(spelled.test(name), NAME_U.test(name), JSON.stringify(name));
    assert.equal(isValidName(name), NAME_U.test(name), JSON.stringify(name));
  }
  const pieces = fc.oneof(
    fc.constantFrom(
      'A',
      'z',
      '7',
      ' ',
      '&',
      "'",
      '.',
      '_',
      '-',
      'न',
      'ि',
      '𝐀',
      '𠀀',
      '²',
      '\uD835',
      '\u0000',
    ),
    fc.string({ unit: 'binary', maxLength: 2 }),
  );
  fc.assert(
    fc.property(fc.array(pieces, { maxLength: NAME_LENGTH_MAX + 2 }), (parts) => {
      const name = parts.join('');
      return spelled.test(name) === NAME_U.test(name);
    }),
    { numRuns: 20_000 },
  );
});
