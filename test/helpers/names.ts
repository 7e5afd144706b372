// Names to judge a names' rule by, one list for every test that compares two readings of the rule:
// Latin, Devanagari, astral letters, digits of two scripts, the allowed punctuation, and the edges
// (length 64 and 65, a leading punctuation mark, control characters, \p{L} written out).

export const SAMPLE_NAMES: readonly string[] = [
  'STRATEGY_A',
  'GRASIM',
  'Holland Proctor',
  'L&T',
  "O'Neil",
  'BAJAJ-AUTO',
  'M.M',
  'नमस',
  // Devanagari's vowel signs are marks, not letters (\p{M}): refused, by the server and the document alike.
  'हिन्दी',
  '𝐀lpha',
  '𠀀',
  '2024',
  '２０２４',
  'A'.repeat(64),
  '𝐀'.repeat(64),
  'A'.repeat(65),
  '𝐀'.repeat(65),
  '_A',
  ' A',
  'A\tB',
  'A\n',
  'A/B',
  'p{L}',
];
