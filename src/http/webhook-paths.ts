// Where TradingView posts its alerts, and how that path is told without its secret: the token is the
// last segment of the URL, so every URL that may reach a log line, an error message or a 404 goes
// through redactWebhookUrl first. No imports: the keys command prints the same path.

/** The webhook route's prefix; the key's token follows it. */
export const WEBHOOK_PATH = '/webhooks/tradingview/';

/** What a log line or a message shows instead of the token. */
export const REDACTED_TOKEN = '<redacted>';

/** A webhook path and whatever follows its prefix, up to a query string, whatever its case or escapes. */
const WEBHOOK_SEGMENT = /(\/webhooks(?:\/|%2f)tradingview(?:\/|%2f))[^?#]*/gi;

/** The URL with any token after the webhook prefix replaced; other URLs as they are. */
export function redactWebhookUrl(url: string): string {
  // Fastify routes case-sensitively, yet a 404 for /Webhooks/... may still hold a token: redact any case.
  return url.replace(WEBHOOK_SEGMENT, `$1${REDACTED_TOKEN}`);
}
