// The case hints of rejected orders, from a profile: only a name that differs from a known one in
// letter case alone gets one, and every known spelling is offered.

import assert from 'node:assert/strict';
import test from 'node:test';
import { CaseHints } from '../../src/domain/case-hints.js';
import { parseProfile } from '../../src/domain/profile.js';

const profile = parseProfile(
  JSON.stringify({
    Ann: { STRATEGY_A: ['GRASIM', 'ACC'], Strategy_A: ['acc'] },
    Bob: { STRATEGY_A: ['GRASIM', 'ACC'], STRATEGY_B: ['MINDA'] },
  }),
  'profile.json',
);
const hints = new CaseHints(profile);

test('a strategy known in another case is named; every spelling of it is offered', () => {
  assert.equal(
    hints.hint('strategy_a', 'GRASIM', 'STRATEGY_NOT_TRADED'),
    'names are case-sensitive: did you mean STRATEGY_A or Strategy_A?',
  );
  assert.equal(
    hints.hint('strategy_b', 'minda', 'STRATEGY_NOT_TRADED'),
    'names are case-sensitive: did you mean STRATEGY_B and MINDA?',
  );
});

test("an instrument known to the strategy in another case is named; another strategy's is not", () => {
  assert.equal(
    hints.hint('STRATEGY_A', 'grasim', 'NO_USER_ELIGIBLE'),
    'names are case-sensitive: did you mean GRASIM?',
  );
  assert.equal(hints.hint('STRATEGY_A', 'Minda', 'NO_USER_ELIGIBLE'), null);
  assert.equal(
    hints.hint('Strategy_A', 'ACC', 'NO_USER_ELIGIBLE'),
    'names are case-sensitive: did you mean acc?',
  );
});

test('no hint for a name known as it is, a name unknown in every case, or an accepted order', () => {
  assert.equal(hints.hint('STRATEGY_A', 'GRASIM', 'NO_USER_ELIGIBLE'), null);
  assert.equal(hints.hint('STRATEGY_Z', 'GRASIM', 'STRATEGY_NOT_TRADED'), null);
  assert.equal(hints.hint('strategy_a', 'GRASIM', null), null);
});
