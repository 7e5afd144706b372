// The page builder at its limits: rows up to the limit and not one more; bytes up to the budget and not
// one byte more (commas counted); a page that turned a row away names the last row kept as next_after.

import assert from 'node:assert/strict';
import test from 'node:test';
import {
  encodeCursor,
  nameCursor,
  PAGE_BYTES_MAX,
  PAGE_LIMIT_MAX,
  PAGE_ROWS_BYTES_MAX,
  PageBuilder,
  pageJson,
  parseNameCursor,
  parsePositionCursor,
  positionCursor,
} from '../../src/store/page.js';

const row = (bytes: number) => `"${'x'.repeat(bytes - 2)}"`;

test('a page holds its limit of rows and turns the next one away, naming the last kept', () => {
  const page = new PageBuilder(3);
  for (const id of [1, 2, 3]) assert.equal(page.add(row(10), id), true);
  assert.equal(page.add(row(10), 4), false);
  assert.deepEqual(page.page(), { rows: [row(10), row(10), row(10)], nextAfter: 3 });
});

test('a page that took every row offered is the last: next_after is null', () => {
  const page = new PageBuilder(3);
  page.add(row(10), 1);
  page.add(row(10), 2);
  assert.equal(page.page().nextAfter, null);
});

test('a page takes rows up to its byte budget exactly, commas counted, and not one byte more', () => {
  const budget = 100;
  // 3 rows of 32 bytes and 2 commas: 98 bytes; a fourth row of 1 byte and its comma make exactly 100.
  const exact = new PageBuilder(PAGE_LIMIT_MAX, budget);
  for (const id of [1, 2, 3]) assert.equal(exact.add(row(32), id), true);
  assert.equal(exact.add('1', 4), true, 'exactly at the budget');
  assert.equal(exact.add('1', 5), false);
  assert.equal(exact.page().nextAfter, 4);
  const past = new PageBuilder(PAGE_LIMIT_MAX, budget);
  for (const id of [1, 2, 3]) past.add(row(32), id);
  assert.equal(past.add('12', 4), false, 'one byte past the budget');
  assert.deepEqual(past.page(), { rows: [row(32), row(32), row(32)], nextAfter: 3 });
});

test('bytes are UTF-8 bytes, not characters', () => {
  const page = new PageBuilder(PAGE_LIMIT_MAX, 6);
  assert.equal(page.add('"éé"', 1), true, '6 bytes');
  const tight = new PageBuilder(PAGE_LIMIT_MAX, 5);
  assert.equal(tight.room(Buffer.byteLength('"éé"')), false);
});

test('the default budget leaves room for the wrapper: a full page is never over PAGE_BYTES_MAX', () => {
  const page = new PageBuilder(PAGE_LIMIT_MAX);
  const big = row(1024 * 1024);
  let id = 0;
  while (page.add(big, ++id));
  const json = pageJson('orders', page.page());
  assert.ok(Buffer.byteLength(json) <= PAGE_BYTES_MAX, `${Buffer.byteLength(json)} bytes`);
  assert.equal(page.page().rows.length, Math.floor(PAGE_ROWS_BYTES_MAX / (1024 * 1024 + 1)));
  assert.equal(JSON.parse(json).next_after, page.page().rows.length);
});

test('a row larger than a whole page is a bug of the store, caught', () => {
  const page = new PageBuilder(10, 10);
  assert.throws(() => page.add(row(11), 1), /larger than a whole page/);
});

test('cursors round-trip, and anything else is refused', () => {
  assert.deepEqual(parsePositionCursor(positionCursor('STRATEGY_A', 'L&T', 42)), {
    strategy: 'STRATEGY_A',
    instrument: 'L&T',
    userId: 42,
  });
  assert.equal(parseNameCursor(nameCursor('Holland Proctor')), 'Holland Proctor');
  for (const bad of [
    '',
    'x',
    '!!!',
    encodeCursor(['A', 'B']),
    encodeCursor(['A', 'B', -1]),
    nameCursor('A'),
  ]) {
    assert.equal(parsePositionCursor(bad), null, bad);
  }
  assert.equal(parseNameCursor(positionCursor('A', 'B', 1)), null);
  assert.equal(parseNameCursor(encodeCursor(['\u0000'])), null, 'a name no user can have');
});
