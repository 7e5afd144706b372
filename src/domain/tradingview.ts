// A TradingView alert read as an order: the message TradingView sends as the webhook's body, JSON
// (its placeholders filled in: {{ticker}}, {{strategy.order.action}} …) or a line of text such as
// `buy NSE:INFY 10`. Pure: the body, the alias table and the strategy come in, an order's parts or
// the first problem found come out, as a value. The edge (http/webhooks.ts) maps problems to answers.

import { isValidName, NAME_LENGTH_MAX, NAME_RULE, type Side } from './order.js';
import { QUANTITY_MAX } from './sizing.js';

/**
 * The most units one alert may order: the order quantity's bound (a whole number a store multiplies
 * exactly), so that `contracts` can never name more than an order may carry.
 */
export const ALERT_QUANTITY_MAX = QUANTITY_MAX;
/** Entries of a ticker alias table at most: it is kept in memory and read once, at start. */
export const TICKER_ALIASES_MAX = 10_000;
/** How much of a body a problem's log line quotes: an alert is small, a template pasted whole is not. */
export const ALERT_QUOTE_CHARS_MAX = 300;

/** What an alert may say, any case: the aliases traders' templates use, mapped to the gate's two sides. */
const ACTIONS: Readonly<Record<string, Side>> = {
  buy: 'BUY',
  long: 'BUY',
  sell: 'SELL',
  exit: 'SELL',
  close: 'SELL',
};
const ACTION_WORDS = Object.keys(ACTIONS).join(', ');

/** A placeholder TradingView did not fill in: the alert is on a chart without that variable. */
const PLACEHOLDER = /\{\{[^}]*\}\}/;
/** `NSE:INFY`, `BSE:INFY`, `NSE_DLY:INFY`: the exchange is not part of the gate's names. */
const EXCHANGE_PREFIX = /^[^:\s]+:/;
/** A whole number of units, as TradingView may print it: `10`, `10.0`. */
const WHOLE = /^\+?(\d{1,15})(?:\.0*)?$/;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

export type TickerAliases = ReadonlyMap<string, string>;

/** What an alert orders, before the strategy (the key's) is added. */
export interface Alert {
  readonly side: Side;
  /** The instrument: the ticker without its exchange prefix, through the alias table. */
  readonly instrument: string;
  readonly quantity: number;
  /** TradingView's order id and the alert's time, when the alert has both: what a retry repeats. */
  readonly identity: { readonly id: string; readonly time: string } | null;
}

/** Expected refusals of an alert, in the order they are checked. */
export type AlertProblemCode = 'ALERT_INVALID' | 'SHORT_NOT_SUPPORTED';

export interface AlertProblem {
  readonly code: AlertProblemCode;
  /** The field of a JSON alert, or the word of a text alert: action, ticker, contracts … */
  readonly field: string;
  readonly message: string;
}

export function isAlertProblem(read: Alert | AlertProblem): read is AlertProblem {
  return 'code' in read;
}

/**
 * Reads an alert's body. JSON when TradingView said so, or when a text body is an object (sent by
 * hand as text); a text body that opens with `{` but is not JSON is the usual broken template
 * (TradingView falls back to text/plain for it), said as such rather than read as words.
 */
export function parseAlert(body: string, json: boolean, aliases: TickerAliases): Alert | AlertProblem {
  const text = body.trim();
  if (text === '')
    return invalid('body', 'the alert message is empty: put an order in it, e.g. buy NSE:INFY 10');
  if (json || text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return invalid(
        'body',
        `the alert message is not valid JSON (${(error as Error).message}): check the template for a missing quote or a trailing comma`,
      );
    }
    return jsonAlert(parsed, aliases);
  }
  return textAlert(text, aliases);
}

/**
 * `{"ticker", "action", "contracts"?, "position_size"?, "id"?, "time"?}`; numbers as numbers or text.
 * Other fields are ignored: traders paste templates made for other tools.
 */
function jsonAlert(parsed: unknown, aliases: TickerAliases): Alert | AlertProblem {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return invalid(
      'body',
      'a JSON alert must be an object, e.g. {"ticker": "{{ticker}}", "action": "{{strategy.order.action}}"}',
    );
  const fields = parsed as Record<string, unknown>;
  for (const field of ['action', 'ticker', 'contracts', 'position_size', 'id', 'time']) {
    const unfilled = placeholderIn(field, fields[field]);
    if (unfilled !== null) return unfilled;
  }
  const action = fields.action;
  if (action === undefined)
    return invalid('action', 'the alert has no "action": add "action": "{{strategy.order.action}}"');
  const side = sideOf(action);
  if (typeof side !== 'string') return side;
  if (fields.ticker === undefined)
    return invalid('ticker', 'the alert has no "ticker": add "ticker": "{{ticker}}"');
  const instrument = instrumentOf(fields.ticker, 'ticker', aliases);
  if (typeof instrument !== 'string') return instrument;
  const quantity = fields.contracts === undefined ? 1 : quantityOf(fields.contracts, 'contracts');
  if (typeof quantity !== 'number') return quantity;
  const short = shortIn(side, fields.position_size);
  if (short !== null) return short;
  return { side, instrument, quantity, identity: identityOf(fields.id, fields.time) };
}

/** `ACTION TICKER [QUANTITY]`, any case, any whitespace: `buy NSE:INFY 10`, `SELL infy`. */
function textAlert(text: string, aliases: TickerAliases): Alert | AlertProblem {
  const placeholder = PLACEHOLDER.exec(text);
  if (placeholder !== null) return unfilledPlaceholder('body', placeholder[0]);
  const words = text.split(/\s+/);
  if (words.length < 2 || words.length > 3)
    return invalid(
      'body',
      `a text alert is ACTION TICKER [QUANTITY], e.g. buy NSE:INFY 10; this one has ${words.length} word${words.length === 1 ? '' : 's'}`,
    );
  const side = sideOf(words[0]!);
  if (typeof side !== 'string') return side;
  const instrument = instrumentOf(words[1]!, 'ticker', aliases);
  if (typeof instrument !== 'string') return instrument;
  const quantity = words[2] === undefined ? 1 : quantityOf(words[2], 'quantity');
  if (typeof quantity !== 'number') return quantity;
  return { side, instrument, quantity, identity: null };
}

function sideOf(action: unknown): Side | AlertProblem {
  if (typeof action !== 'string')
    return invalid('action', `action must be text (${ACTION_WORDS}), got ${describe(action)}`);
  const word = action.trim().toLowerCase();
  const side = ACTIONS[word];
  if (side !== undefined) return side;
  if (word === 'short')
    return {
      code: 'SHORT_NOT_SUPPORTED',
      field: 'action',
      message: 'action "short" opens a short position: the gate does not short, it buys and sells out',
    };
  return invalid('action', `action ${describe(action)} is none of ${ACTION_WORDS} (any case)`);
}

function instrumentOf(ticker: unknown, field: string, aliases: TickerAliases): string | AlertProblem {
  if (typeof ticker !== 'string')
    return invalid(field, `${field} must be text such as NSE:INFY, got ${describe(ticker)}`);
  const bare = ticker.trim().replace(EXCHANGE_PREFIX, '');
  const instrument = aliases.get(bare) ?? bare;
  if (isValidName(instrument)) return instrument;
  const via = instrument === bare ? '' : ` (the alias of ${JSON.stringify(bare)})`;
  return invalid(
    field,
    `${field} ${describe(ticker)} gives instrument ${describe(instrument)}${via}, which is not a name: ${NAME_RULE}; map it with the ticker alias table`,
  );
}

function quantityOf(value: unknown, field: string): number | AlertProblem {
  const match = typeof value === 'string' ? WHOLE.exec(value.trim()) : null;
  const number = typeof value === 'number' ? value : match === null ? Number.NaN : Number(match[1]);
  if (Number.isInteger(number) && number >= 1 && number <= ALERT_QUANTITY_MAX) return number;
  return invalid(
    field,
    `${field} must come to a whole number of units from 1 to ${ALERT_QUANTITY_MAX} (e.g. 10 or "10.0"), got ${describe(value)}`,
  );
}

/**
 * position_size is the strategy's position after the order. Below zero after a SELL, the order opens
 * (or adds to) a short; at or below zero after a BUY, it covers one. The gate holds no shorts, so either
 * would be read wrongly: the first as closing a long, the second as opening one.
 */
function shortIn(side: Side, positionSize: unknown): AlertProblem | null {
  if (positionSize === undefined || positionSize === '') return null;
  const text =
    typeof positionSize === 'number'
      ? String(positionSize)
      : typeof positionSize === 'string'
        ? positionSize.trim()
        : '';
  if (!DECIMAL.test(text) && !(typeof positionSize === 'number' && Number.isFinite(positionSize)))
    return invalid(
      'position_size',
      `position_size must be a number such as "-10" or "0", got ${describe(positionSize)}`,
    );
  const size = Number(text);
  if (side === 'SELL' && size < 0)
    return {
      code: 'SHORT_NOT_SUPPORTED',
      field: 'position_size',
      message: `a SELL leaving position_size ${text} opens a short: the gate does not short; nothing was placed`,
    };
  if (side === 'BUY' && size <= 0)
    return {
      code: 'SHORT_NOT_SUPPORTED',
      field: 'position_size',
      message: `a BUY leaving position_size ${text} covers a short: the gate does not short, so it holds none to cover; nothing was placed`,
    };
  return null;
}

function identityOf(id: unknown, time: unknown): Alert['identity'] {
  const text = (value: unknown) =>
    typeof value === 'string' || typeof value === 'number' ? String(value).trim() : '';
  return text(id) === '' || text(time) === '' ? null : { id: text(id), time: text(time) };
}

function placeholderIn(field: string, value: unknown): AlertProblem | null {
  if (typeof value !== 'string') return null;
  const found = PLACEHOLDER.exec(value);
  return found === null ? null : unfilledPlaceholder(field, found[0]);
}

function unfilledPlaceholder(field: string, placeholder: string): AlertProblem {
  return invalid(
    field,
    `${field} holds ${placeholder} as it was written: TradingView fills a placeholder only where the chart has that variable (the strategy.* ones need an alert on a strategy, not on an indicator or a drawing)`,
  );
}

function invalid(field: string, message: string): AlertProblem {
  return { code: 'ALERT_INVALID', field, message };
}

/** A value as a message quotes it, bounded: a field may hold a whole pasted template. */
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > NAME_LENGTH_MAX + 2 ? `${text.slice(0, NAME_LENGTH_MAX)}…` : text;
}

/** A body as a log line quotes it, so that the operator sees what the alert sent. */
export function quoteAlert(body: string): string {
  return body.length > ALERT_QUOTE_CHARS_MAX ? `${body.slice(0, ALERT_QUOTE_CHARS_MAX)}…` : body;
}

/**
 * The operator's ticker alias table: a JSON object from TradingView's ticker (without the exchange
 * prefix) to the gate's instrument, e.g. {"LT": "L&T"}. A string saying what is wrong when it is not one.
 */
export function parseTickerAliases(text: string): TickerAliases | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `it is not valid JSON (${(error as Error).message})`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return 'it must be a JSON object from ticker to instrument, e.g. {"LT": "L&T"}';
  const entries = Object.entries(parsed);
  if (entries.length > TICKER_ALIASES_MAX)
    return `it has ${entries.length} entries, more than ${TICKER_ALIASES_MAX}`;
  const aliases = new Map<string, string>();
  for (const [ticker, instrument] of entries) {
    if (ticker.trim() === '' || ticker.length > NAME_LENGTH_MAX || /[:\s]/.test(ticker))
      return `the ticker ${JSON.stringify(ticker)} must be 1 to ${NAME_LENGTH_MAX} characters without spaces or an exchange prefix`;
    if (typeof instrument !== 'string' || !isValidName(instrument))
      return `the instrument of ${JSON.stringify(ticker)} must be a name (${NAME_RULE}), got ${JSON.stringify(instrument)}`;
    aliases.set(ticker, instrument);
  }
  return aliases;
}
