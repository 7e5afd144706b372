// An order a test knows to be in the server's hands: sent with Expect: 100-continue, so that the
// server's "100 Continue" says it has parsed the request and passed it to the routes (Node answers it
// just before it hands the request on), and only then is the body sent. What a test does next (a
// SIGTERM, a fault) then finds the order in flight, without guessing how long that takes.

import { request } from 'node:http';

const ANSWER_TIMEOUT_MS = 30_000;

export interface InFlight {
  /** Resolves once the server has taken the request. */
  readonly taken: Promise<void>;
  /** The final answer, whatever its status. */
  readonly answer: Promise<{ status: number; body: Record<string, any> }>;
}

export function postInFlight(url: string, body: unknown, headers: Record<string, string> = {}): InFlight {
  const text = JSON.stringify(body);
  let onTaken: () => void = () => {};
  let onRefused: (error: Error) => void = () => {};
  const taken = new Promise<void>((resolve, reject) => {
    onTaken = resolve;
    onRefused = reject;
  });
  const answer = new Promise<{ status: number; body: Record<string, any> }>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(text)),
        expect: '100-continue',
        ...headers,
      },
      timeout: ANSWER_TIMEOUT_MS,
    });
    req.on('continue', () => {
      onTaken();
      req.end(text);
    });
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        onRefused(new Error(`answered ${response.statusCode} before taking the body: ${raw}`));
        try {
          resolve({ status: response.statusCode!, body: JSON.parse(raw) as Record<string, any> });
        } catch {
          resolve({ status: response.statusCode!, body: { text: raw } });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)));
    req.on('error', (error) => {
      onRefused(error);
      reject(error);
    });
  });
  // Whoever awaits only one of the two must not see the other's rejection as unhandled.
  taken.catch(() => {});
  answer.catch(() => {});
  return { taken, answer };
}
