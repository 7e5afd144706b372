// One small HTTP client for the benchmark's own requests (fan-out orders, /strategies, the health poll):
// node:http rather than fetch, whose first call in Node 20 loads undici and would add tens of ms to
// whatever it times.

import { type Agent, request } from 'node:http';

export interface HttpAnswer {
  status: number;
  body: Buffer;
  /** From the call to the last byte of the answer. */
  ms: number;
}

export interface HttpOptions {
  method?: 'GET' | 'POST';
  body?: string;
  /** false: a fresh connection, closed afterwards (the health poll of a server that is not up yet). */
  agent?: Agent | false;
  timeoutMs?: number;
}

export function httpRequest(url: string, options: HttpOptions = {}): Promise<HttpAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(options.body);
    }
    const outgoing = request(
      url,
      {
        method: options.method ?? 'GET',
        headers,
        ...(options.agent === undefined ? {} : { agent: options.agent }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks),
            ms: performance.now() - started,
          }),
        );
      },
    );
    outgoing.setTimeout(options.timeoutMs ?? 30_000, () =>
      outgoing.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 30_000} ms`)),
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** GET a JSON document; throws on anything but a 200. */
export async function getJson<T>(url: string): Promise<T> {
  const answer = await httpRequest(url);
  if (answer.status !== 200) throw new Error(`GET ${url}: HTTP ${answer.status} ${answer.body.toString()}`);
  return JSON.parse(answer.body.toString()) as T;
}
