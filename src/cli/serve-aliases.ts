// The ticker alias table the webhook reads TradingView's tickers through, read once at start. A file
// that was set must be there and be right (exit 2 otherwise, before anything is written); the default,
// shipped beside the seed's files, may be missing (a server started elsewhere): then no aliases.

import { readFileSync } from 'node:fs';
import type { WebhooksConfig } from '../config.js';
import { parseTickerAliases, type TickerAliases } from '../domain/tradingview.js';

export class TickerAliasesError extends Error {
  override readonly name = 'TickerAliasesError';
}

export function readTickerAliases(config: WebhooksConfig): { aliases: TickerAliases; note: string } {
  const path = config.tickerAliasesPath;
  if (path === null) return { aliases: new Map(), note: 'no ticker aliases (TICKER_ALIASES_PATH none)' };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !config.tickerAliasesPathExplicit)
      return { aliases: new Map(), note: `no ticker aliases: the default ${path} is missing` };
    throw new TickerAliasesError(`TICKER_ALIASES_PATH ${path}: cannot read it (${code})`);
  }
  const aliases = parseTickerAliases(text);
  if (typeof aliases === 'string') throw new TickerAliasesError(`TICKER_ALIASES_PATH ${path}: ${aliases}`);
  return { aliases, note: `${aliases.size} ticker aliases from ${path}` };
}
