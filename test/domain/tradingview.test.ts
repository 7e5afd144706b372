// TradingView alerts as they arrive, read into an order's parts or the first problem: JSON with
// TradingView's placeholders filled in (numbers as text), text lines, actions and their aliases,
// exchange prefixes and the alias table, the refusals of shorts, and what a problem names.

import assert from 'node:assert/strict';
import test from 'node:test';
import {
  ALERT_QUANTITY_MAX,
  type Alert,
  type AlertProblem,
  isAlertProblem,
  parseAlert,
  parseTickerAliases,
  TICKER_ALIASES_MAX,
} from '../../src/domain/tradingview.js';

const ALIASES = new Map([
  ['LT', 'L&T'],
  ['M_M', 'M&M'],
]);

/** The JSON template of issue 14, as TradingView sends it once an order fills on a strategy. */
const FILLED = {
  ticker: 'INFY',
  action: 'buy',
  contracts: '10',
  position_size: '10',
  id: 'Long Entry',
  time: '2026-12-01T09:15:00Z',
};

function read(body: string | object, json = typeof body === 'object'): Alert {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const alert = parseAlert(text, json, ALIASES);
  assert.ok(!isAlertProblem(alert), `${text}: ${JSON.stringify(alert)}`);
  return alert;
}

function refused(body: string | object, json = typeof body === 'object'): AlertProblem {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const problem = parseAlert(text, json, ALIASES);
  assert.ok(isAlertProblem(problem), `${text} was read as ${JSON.stringify(problem)}`);
  return problem;
}

test('a filled-in JSON alert with its numbers as text gives the side, instrument, quantity and identity', () => {
  assert.deepEqual(read(FILLED), {
    side: 'BUY',
    instrument: 'INFY',
    quantity: 10,
    identity: { id: 'Long Entry', time: '2026-12-01T09:15:00Z' },
  });
  assert.equal(read({ ...FILLED, contracts: 10 }).quantity, 10, 'a number as a number');
  assert.equal(read({ ...FILLED, contracts: '10.0' }).quantity, 10, 'TradingView may print 10.0');
  assert.equal(read({ ...FILLED, contracts: ' 7 ' }).quantity, 7);
  assert.equal(read({ ticker: 'INFY', action: 'buy' }).quantity, 1, 'no contracts: one unit');
  assert.equal(read({ ticker: 'INFY', action: 'buy' }).identity, null, 'no id or time: none');
  assert.equal(read({ ...FILLED, time: undefined }).identity, null, 'an id alone is not enough');
  assert.deepEqual(read({ ...FILLED, id: 42, time: 1764580500000 }).identity, {
    id: '42',
    time: '1764580500000',
  });
});

test('unexpected fields of a pasted template are ignored, the strategy field too (the key names it)', () => {
  const alert = read({ ...FILLED, strategy: 'STRATEGY_Z', price: '{{close}}', comment: 'from a template' });
  assert.equal(alert.instrument, 'INFY');
});

test('the actions any case, and their aliases: long is BUY, exit and close are SELL', () => {
  for (const [action, side] of [
    ['buy', 'BUY'],
    ['BUY', 'BUY'],
    ['Long', 'BUY'],
    ['sell', 'SELL'],
    ['SELL', 'SELL'],
    ['exit', 'SELL'],
    ['Close', 'SELL'],
  ] as const) {
    assert.equal(read({ ticker: 'INFY', action }).side, side, action);
    assert.equal(read(`${action} INFY`).side, side, `text ${action}`);
  }
  const other = refused({ ticker: 'INFY', action: 'hold' });
  assert.deepEqual({ code: other.code, field: other.field }, { code: 'ALERT_INVALID', field: 'action' });
  assert.match(other.message, /"hold" is none of buy, long, sell, exit, close/);
  assert.equal(refused({ ticker: 'INFY', action: 3 }).field, 'action');
  assert.match(refused({ ticker: 'INFY' }).message, /no "action"/);
});

test('an exchange prefix is dropped and the alias table maps TradingView tickers to the gate names', () => {
  assert.equal(read({ ...FILLED, ticker: 'NSE:INFY' }).instrument, 'INFY');
  assert.equal(read({ ...FILLED, ticker: 'BSE:INFY' }).instrument, 'INFY');
  assert.equal(read({ ...FILLED, ticker: 'NSE_DLY:INFY' }).instrument, 'INFY');
  assert.equal(read({ ...FILLED, ticker: 'LT' }).instrument, 'L&T');
  assert.equal(read({ ...FILLED, ticker: 'NSE:M_M' }).instrument, 'M&M');
  assert.equal(read('sell NSE:LT').instrument, 'L&T');
  const future = refused({ ...FILLED, ticker: 'NIFTY1!' });
  assert.equal(future.field, 'ticker');
  assert.match(future.message, /"NIFTY1!" .*not a name.*alias table/);
  assert.match(refused({ action: 'buy' }).message, /no "ticker"/);
});

test('text alerts: ACTION TICKER [QUANTITY], whitespace-tolerant, any case', () => {
  assert.deepEqual(read('buy NSE:INFY 10'), {
    side: 'BUY',
    instrument: 'INFY',
    quantity: 10,
    identity: null,
  });
  assert.deepEqual(read('  SELL \t NSE:INFY   10\n'), {
    side: 'SELL',
    instrument: 'INFY',
    quantity: 10,
    identity: null,
  });
  assert.equal(read('long ACC').quantity, 1);
  assert.match(refused('buy').message, /ACTION TICKER \[QUANTITY\].*1 word$/);
  assert.match(refused('buy NSE:INFY 10 now').message, /4 words/);
  assert.equal(refused('buy NSE:INFY ten').field, 'quantity');
});

test('contracts must come to a positive whole number, naming the field', () => {
  for (const contracts of ['0', '-1', '1.5', '1e3', 'ten', '', 0, 2.5, ALERT_QUANTITY_MAX + 1, true, null]) {
    const problem = refused({ ...FILLED, contracts });
    assert.equal(problem.field, 'contracts', JSON.stringify(contracts));
    assert.match(problem.message, /contracts must come to a whole number of units/);
  }
  assert.equal(read({ ...FILLED, contracts: String(ALERT_QUANTITY_MAX) }).quantity, ALERT_QUANTITY_MAX);
});

test('a short is refused: a SELL leaving position_size below 0, a BUY leaving it at or below 0, action short', () => {
  const short = refused({ ...FILLED, action: 'sell', position_size: '-10' });
  assert.deepEqual(
    { code: short.code, field: short.field },
    { code: 'SHORT_NOT_SUPPORTED', field: 'position_size' },
  );
  assert.match(short.message, /opens a short/);
  assert.equal(refused({ ...FILLED, action: 'sell', position_size: -0.5 }).code, 'SHORT_NOT_SUPPORTED');
  assert.match(refused({ ...FILLED, action: 'buy', position_size: '0' }).message, /covers a short/);
  assert.equal(refused({ ...FILLED, action: 'buy', position_size: '-3' }).code, 'SHORT_NOT_SUPPORTED');
  assert.equal(refused('short NSE:INFY').code, 'SHORT_NOT_SUPPORTED');
  assert.equal(read({ ...FILLED, action: 'sell', position_size: '0' }).side, 'SELL', 'a long closed');
  assert.equal(read({ ...FILLED, action: 'sell', position_size: '5.0' }).side, 'SELL', 'a long reduced');
  assert.equal(refused({ ...FILLED, position_size: 'flat' }).field, 'position_size');
});

test('a placeholder left as written is refused, naming the field and why', () => {
  const json = refused({ ...FILLED, contracts: '{{strategy.order.contracts}}' });
  assert.equal(json.field, 'contracts');
  assert.match(json.message, /\{\{strategy\.order\.contracts\}\} as it was written.*alert on a strategy/);
  assert.equal(refused({ ...FILLED, ticker: '{{ticker}}' }).field, 'ticker');
  assert.equal(refused({ ...FILLED, time: '{{timenow}}' }).field, 'time');
  const text = refused('{{strategy.order.action}} NSE:INFY 1');
  assert.deepEqual({ code: text.code, field: text.field }, { code: 'ALERT_INVALID', field: 'body' });
  assert.equal(read({ ...FILLED, note: '{{plot_0}}' }).instrument, 'INFY', 'an ignored field may keep one');
});

test('a body that is no alert: empty, not an object, broken JSON sent as text', () => {
  assert.match(refused('   ', false).message, /empty/);
  assert.match(refused('[1, 2]', true).message, /must be an object/);
  assert.match(refused('"buy INFY"', true).message, /must be an object/);
  const broken = refused('{"ticker": "INFY", "action": "buy",}', false);
  assert.equal(broken.field, 'body');
  assert.match(broken.message, /not valid JSON .*trailing comma/);
  assert.equal(read(JSON.stringify(FILLED), false).quantity, 10, 'JSON sent as text/plain is read as JSON');
  assert.ok(refused(`buy ${'X'.repeat(500)}`).message.length < 400, 'a message quotes a bounded value');
});

test('the alias table: a JSON object from ticker to a valid instrument name, bounded', () => {
  const aliases = parseTickerAliases('{"LT": "L&T", "BAJAJ_AUTO": "BAJAJ-AUTO"}');
  assert.ok(aliases instanceof Map);
  assert.deepEqual(
    [...aliases],
    [
      ['LT', 'L&T'],
      ['BAJAJ_AUTO', 'BAJAJ-AUTO'],
    ],
  );
  assert.match(String(parseTickerAliases('{"LT": ')), /not valid JSON/);
  assert.match(String(parseTickerAliases('["LT"]')), /must be a JSON object/);
  assert.match(String(parseTickerAliases('{"LT": 7}')), /instrument of "LT" must be a name/);
  assert.match(String(parseTickerAliases('{"LT": "L/T"}')), /must be a name/);
  assert.match(String(parseTickerAliases('{"NSE:LT": "L&T"}')), /without spaces or an exchange prefix/);
  const many = Object.fromEntries(Array.from({ length: TICKER_ALIASES_MAX + 1 }, (_, i) => [`T${i}`, 'ACC']));
  assert.match(String(parseTickerAliases(JSON.stringify(many))), /more than 10000/);
});
