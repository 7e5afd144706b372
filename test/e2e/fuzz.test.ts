// Hostile input against one real server process (issue 3, point 7): property-based fuzzing of bodies,
// headers, paths and methods with fast-check, nested and huge JSON, header abuse over raw sockets and
// slow clients. Whatever comes in: an answer (no hang), never a 5xx, the process alive, a 4xx JSON body
// shaped {error, message}; afterwards the order log holds exactly the orders answered 200, and the
// daily log file is JSON line by line with nothing unescaped. bad-input.test.ts has the exact cases;
// this file looks for what nobody wrote down. fast-check prints the seed of a failure and
// FC_SEED=<seed> replays it; FUZZ_RUNS=<n> scales the number of runs.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import test from 'node:test';
import fc from 'fast-check';
import { HTTP_ERRORS } from '../../src/http/errors.js';
import { testStore } from '../helpers/postgres.js';
import { type Server, startServer } from '../helpers/server.js';
import { LOG_LINE_TIMEOUT_MS, waitFor } from '../helpers/wait.js';

/** Odd but valid names: accents, Greek, Hebrew (right to left), CJK, and the punctuation names may have. */
const PROFILE = {
  'Holland Proctor': { STRATEGY_A: ['BIRLASOFT', 'GRASIM', 'EICHER'], STRATEGY_B: ['MINDA'] },
  'Zoë Ångström': { STRATEGY_A: ['GRASIM', 'L&T'], STRATÉGIE_Ω: ['BAJAJ-AUTO', 'M&M'] },
  'שרה כהן': { STRATÉGIE_Ω: ['BAJAJ-AUTO'] },
  "Dara O'Neil": { 策略: ['中石油', 'GRASIM'] },
};
const STRATEGIES = ['STRATEGY_A', 'STRATEGY_B', 'STRATÉGIE_Ω', '策略', 'STRATEGY_NOBODY'];
const INSTRUMENTS = ['GRASIM', 'BIRLASOFT', 'EICHER', 'MINDA', 'L&T', 'BAJAJ-AUTO', 'M&M', '中石油'];
const ROUTES = ['/create_order', '/orders', '/orders/1', '/positions', '/trades', '/users', '/strategies'];
const MORE_ROUTES = [...ROUTES, '/users/Holland%20Proctor', '/health', '/openapi.json', '/docs', '/nope'];

const REQUEST_TIMEOUT_MS = 10_000;
const BODY_BYTES_MAX = 64 * 1024;
/**
 * On PostgreSQL each valid order is a few round trips, and the inputs that reach the store are the
 * same as on SQLite: a share of the runs keeps npm test's time in bounds.
 */
const POSTGRES_RUNS_SHARE = 0.5;
const RUNS = Number(process.env.FUZZ_RUNS ?? 1) * (testStore() === 'postgres' ? POSTGRES_RUNS_SHARE : 1);
/** How long the slow clients may take to connect and write their first byte on a loaded machine. */
const SLOW_START_TIMEOUT_MS = 10_000;
const SEED = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
const runs = (count: number) => ({
  seed: SEED,
  numRuns: Math.max(1, Math.round(count * RUNS)),
  includeErrorInReport: true,
});

// ---------------------------------------------------------------------------------------------------
// What every answer must be, and what the run has seen.

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
  readonly replayed: boolean;
}

interface Ledger {
  /** order_id → the names its 200 answer echoed; the log must hold exactly these orders. */
  readonly placed: Map<number, { strategy: string; instrument: string }>;
  /** 4xx JSON bodies outside the catalogue of src/http/errors.ts, one example per kind. */
  readonly offCatalogue: Map<string, string>;
  requests: number;
}

const isJsonType = (type: string) => /^application\/json\b/i.test(type);
const shorten = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** The checks every answer gets: no 5xx, a 4xx JSON body has {error, message}, a 200 order is recorded. */
function checkAnswer(ledger: Ledger, request: string, method: string, answer: Answer): void {
  ledger.requests += 1;
  const shown = `${shorten(request, 200)} → ${answer.status} ${shorten(answer.text)}`;
  assert.ok(answer.status < 500, `a server error: ${shown}`);
  const jsonBody = isJsonType(answer.contentType) && answer.text !== '';
  if (answer.status >= 400 && jsonBody) checkErrorBody(ledger, shown, answer);
  if (answer.status === 200 && method === 'POST' && jsonBody) {
    const body = JSON.parse(answer.text) as Record<string, unknown>;
    if (body.order_id === undefined) return;
    const orderId = body.order_id;
    assert.ok(typeof orderId === 'number' && Number.isSafeInteger(orderId) && orderId > 0, shown);
    assert.ok(body.status === 'ACCEPTED' || body.status === 'REJECTED', shown);
    assert.equal(typeof body.strategy, 'string', shown);
    assert.equal(typeof body.instrument, 'string', shown);
    if (answer.replayed) assert.ok(ledger.placed.has(orderId), `a replay of an unknown order: ${shown}`);
    ledger.placed.set(orderId, { strategy: body.strategy as string, instrument: body.instrument as string });
  }
}

function checkErrorBody(ledger: Ledger, shown: string, answer: Answer): void {
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    assert.fail(`a JSON content type but not JSON: ${shown}`);
  }
  assert.ok(typeof body === 'object' && body !== null && !Array.isArray(body), shown);
  const { error, message, ...rest } = body as Record<string, unknown>;
  assert.ok(typeof error === 'string' && error.length > 0, `no error code: ${shown}`);
  assert.ok(typeof message === 'string' && message.length > 0, `no message: ${shown}`);
  const entry = HTTP_ERRORS[error as keyof typeof HTTP_ERRORS];
  const extra = Object.keys(rest).filter((key) => key !== 'field');
  if (entry === undefined || entry.status !== answer.status || extra.length > 0) {
    const kind = `${answer.status} ${error} ${extra.join(',')}`;
    if (!ledger.offCatalogue.has(kind)) ledger.offCatalogue.set(kind, shown);
  }
}

// ---------------------------------------------------------------------------------------------------
// Sending: fetch for what fetch can express, raw sockets for the rest.

interface FetchRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** A string is sent as UTF-8; bytes are sent as they are. */
  readonly body?: string | Uint8Array;
}

async function send(server: Server, ledger: Ledger, request: FetchRequest): Promise<Answer> {
  const body = typeof request.body === 'string' ? new TextEncoder().encode(request.body) : request.body;
  const response = await fetch(server.url + request.path, {
    method: request.method,
    headers: request.headers ?? {},
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const answer = {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    text: await response.text(),
    replayed: response.headers.get('idempotent-replayed') === 'true',
  };
  const shownBody = typeof request.body === 'string' ? request.body : `${body?.length ?? 0} bytes`;
  const shown = `${request.method} ${request.path} ${JSON.stringify(request.headers ?? {})} ${shownBody}`;
  checkAnswer(ledger, shown, request.method, answer);
  return answer;
}

const json = (path: string, body: string | Uint8Array, contentType = 'application/json') => ({
  method: 'POST',
  path,
  headers: { 'content-type': contentType },
  body,
});

interface RawResult {
  readonly answers: Answer[];
  /** The socket closed (by either side) before the timeout. */
  readonly closed: boolean;
  readonly error: string | undefined;
}

/** Writes bytes on a fresh socket and collects what comes back until the socket closes. */
function sendRaw(server: Server, bytes: Buffer, options: { halfClose?: boolean } = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ answers: parseAnswers(Buffer.concat(chunks)), closed, error });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish(false);
    }, REQUEST_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A server that refuses a request early may reset the socket while bytes are still unread.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on('close', () => finish(true));
    socket.write(bytes);
    if (options.halfClose === true) socket.end();
  });
}

/** HTTP/1.1 answers one after another: Content-Length, chunked, or up to the close. */
function parseAnswers(data: Buffer): Answer[] {
  const answers: Answer[] = [];
  let rest = data;
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd < 0) break;
    const [statusLine = '', ...lines] = rest.subarray(0, headEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    assert.ok(match !== null, `not an HTTP answer: ${JSON.stringify(statusLine)}`);
    const status = Number(match[1]);
    const headers = new Map(
      lines.map((line) => [
        line.slice(0, line.indexOf(':')).trim().toLowerCase(),
        line.slice(line.indexOf(':') + 1).trim(),
      ]),
    );
    let body = rest.subarray(headEnd + 4);
    rest = Buffer.alloc(0);
    const length = headers.get('content-length');
    if (status < 200) {
      // 100 Continue and the like: an interim answer, the final one follows.
      rest = body;
      continue;
    }
    if (length !== undefined) {
      rest = body.subarray(Number(length));
      body = body.subarray(0, Number(length));
    } else if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      ({ body, rest } = dechunk(body));
    }
    answers.push({
      status,
      contentType: headers.get('content-type') ?? '',
      text: body.toString('utf8'),
      replayed: headers.get('idempotent-replayed') === 'true',
    });
  }
  return answers;
}

function dechunk(data: Buffer): { body: Buffer; rest: Buffer } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return { body: Buffer.concat(parts), rest: Buffer.alloc(0) };
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) {
      const end = data.indexOf('\r\n\r\n', lineEnd);
      return { body: Buffer.concat(parts), rest: end < 0 ? Buffer.alloc(0) : data.subarray(end + 4) };
    }
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** A raw result's checks: closed or answered in time, every answer checked like any other. */
function checkRaw(ledger: Ledger, request: string, result: RawResult, method = 'POST'): void {
  assert.ok(result.closed || result.answers.length > 0, `no answer and still open: ${shorten(request)}`);
  for (const answer of result.answers) checkAnswer(ledger, request, method, answer);
}

// ---------------------------------------------------------------------------------------------------
// What to send.

/** Controls (C0, C1, NUL, DEL, an ANSI escape), invisibles, bidi marks, lone surrogates, emoji and more. */
const CONTROLS = ['\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\r', '\u001b[31m', '\u007f', '\u0085'];
const INVISIBLES = ['\u009b', '\u00a0', '\u200b', '\u200d', '\u2028', '\u2029', '\u3000', '\ufeff', '\uffff'];
const BIDI_MARKS = ['\u200e', '\u200f', '\u202a', '\u202e', '\u2066'];
const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff'];
const EMOJI_AND_MARKS = ['😀', '👩‍👩‍👧', '🇮🇳', 'e\u0301', '\u0301', 'ﷺ', 'Ｓ', '\ufffd'];
const INJECTIONS = ['%00', '\\', '"', '<script>', '{{7*7}}'];
const ODD_CHARS = [
  ...CONTROLS,
  ...INVISIBLES,
  ...BIDI_MARKS,
  ...LONE_SURROGATES,
  ...EMOJI_AND_MARKS,
  ...INJECTIONS,
];

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
const latin1Char = fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code));
const printableAscii = fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code));

/** Mostly valid names (known ones, or built from letters of several scripts); some start with a space. */
const nameArb = fc.oneof(
  fc.constantFrom(...STRATEGIES, ...INSTRUMENTS),
  fc.string({
    unit: fc.constantFrom('A', 'Z', 'g', '0', '7', 'é', 'Ω', 'ש', '中', '𝒜', ' ', '&', "'", '.', '_', '-'),
    minLength: 1,
    maxLength: 64,
  }),
);

const longStringArb = fc
  .record({
    char: fc.constantFrom('A', 'é', '😀', '\u0000', '\ud800', ' ', '\\', '"', '\u202e'),
    length: fc.integer({ min: 65, max: 16_000 }),
  })
  .map(({ char, length }) => char.repeat(length));

/** Control characters, bidi marks, emoji, lone surrogates, NUL, combining marks, very long strings. */
const oddStringArb = fc.oneof(
  fc.constantFrom(...ODD_CHARS),
  fc
    .tuple(nameArb, fc.constantFrom(...ODD_CHARS), nameArb)
    .map(([before, odd, after]) => `${before}${odd}${after}`),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: codeUnit, maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  longStringArb,
);

/** JSON text put in as it is: numbers JSON.stringify cannot make, escapes, and invalid JSON. */
class RawJson {
  constructor(readonly text: string) {}
}
const RAW_VALUES = [
  ...['1e999', '-0', '0x10', '01', 'NaN', 'Infinity', 'undefined', "'BUY'"],
  ...['[1,]', '{"a":1,}', '"unterminated', '"B\\UY"', '"\\x41"'],
  ...['"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"BUY\\u0000"', '"\\u0047RASIM"'],
  `"${'\\u0041'.repeat(64)}"`,
  `"${'\\u0041'.repeat(65)}"`,
].map((text) => new RawJson(text));

const ODD_VALUES = [
  ...[null, true, false, 0, 1, -1, 1.5, 1e308, Number.MAX_SAFE_INTEGER + 2],
  ...[[], {}, [null], ['BUY']],
];
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...ODD_VALUES),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(...RAW_VALUES),
  oddStringArb,
  nameArb,
);

const KEYS = [
  ...[
    'STRATEGY',
    'INSTRUMENT',
    'POSITION',
    'strategy',
    'instrument',
    'position',
    'client_order_id',
    'RESPONSE',
  ],
  ...[
    'Strategy',
    'STRATEGY ',
    ' STRATEGY',
    'STRATEGY\u0000',
    'STRATEGY\u200f',
    'ＳＴＲＡＴＥＧＹ',
    'order_id',
  ],
  ...['STR\u0410TEGY', '__proto__', 'constructor', 'prototype', ''],
];
const keyArb = fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 20 }), oddStringArb);

type Entry = readonly [string, unknown];

const validOrderArb = fc.record({
  format: fc.constantFrom('seed', 'orders'),
  strategy: nameArb,
  instrument: nameArb,
  position: fc.constantFrom('BUY', 'SELL', 'buy', 'Sell', 'sElL'),
  clientOrderId: fc.option(fc.string({ unit: printableAscii, minLength: 1, maxLength: 64 }), { freq: 3 }),
});

type ValidOrder = typeof validOrderArb extends fc.Arbitrary<infer T> ? T : never;

function orderEntries(order: ValidOrder): Entry[] {
  if (order.format === 'seed') {
    return [
      ['STRATEGY', order.strategy],
      ['INSTRUMENT', order.instrument],
      ['POSITION', order.position],
    ];
  }
  const entries: Entry[] = [
    ['strategy', order.strategy],
    ['instrument', order.instrument],
    ['position', order.position],
  ];
  return order.clientOrderId === null ? entries : [...entries, ['client_order_id', order.clientOrderId]];
}

/** Mutations as data, so that a counterexample prints readably. */
const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), key: keyArb }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: valueArb }),
  fc.record({ kind: fc.constant('add' as const), key: keyArb, value: valueArb }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), value: valueArb }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(entries: Entry[], mutation: Mutation): Entry[] {
  if (mutation.kind === 'add') return [...entries, [mutation.key, mutation.value]];
  if (entries.length === 0) return entries;
  const at = mutation.at % entries.length;
  const [key, value] = entries[at]!;
  switch (mutation.kind) {
    case 'drop':
      return entries.filter((_, index) => index !== at);
    case 'rename':
      return entries.map((entry, index) => (index === at ? [mutation.key, value] : entry));
    case 'replace':
      return entries.map((entry, index) => (index === at ? [key, mutation.value] : entry));
    case 'duplicate':
      return [...entries, [key, mutation.value]];
  }
}

/** By hand rather than JSON.stringify, so that duplicate keys, __proto__ and raw JSON survive. */
function serialise(entries: readonly Entry[]): string {
  const value = (v: unknown) => (v instanceof RawJson ? v.text : JSON.stringify(v));
  return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${value(v)}`).join(',')}}`;
}

const validOrderText = validOrderArb.map((order) => serialise(orderEntries(order)));

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=UTF-8',
  'application/json;charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=ebcdic',
  'application/json; charset="utf-8"; q=1; x',
  'application/json;;;',
  'APPLICATION/JSON',
  'Application/Json',
  ' application/json ',
  'application/json, text/plain',
  `application/json; x=${'y'.repeat(8000)}`,
  'application/jsonx',
  'application/json-patch+json',
  'application/vnd.api+json',
  'application/*',
  '*/*',
  'text/json',
  'text/plain',
  'text/plain; charset=utf-8',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/octet-stream',
  '',
  ';',
  '/',
  'json',
];

const percentBytes = (bytes: Uint8Array) =>
  [...bytes].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('');
const percentText = (text: string) => percentBytes(new TextEncoder().encode(text));

const pathArb = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(
        '/users/',
        '/orders/',
        '/orders?user=',
        '/orders?strategy=',
        '/orders?status=',
        '/orders?after=',
        '/orders?limit=',
        '/positions?instrument=',
        '/positions?limit=',
        '/trades?after=',
        '/trades?user=',
      ),
      fc.oneof(
        oddStringArb.map(percentText),
        nameArb.map(percentText),
        fc.uint8Array({ maxLength: 12 }).map(percentBytes),
        fc.constantFrom('%', '%Z', '%ZZ', '%C0%80', '%ED%A0%80', '%FF', '1e3', '0x10', ' 5', '-0', '1.0'),
      ),
    )
    .map(([prefix, tail]) => prefix + tail),
  fc
    .tuple(
      fc.constantFrom(...MORE_ROUTES),
      fc.constantFrom(
        '',
        '/',
        '//',
        '/..',
        '/%2e%2e',
        '?',
        '#x',
        ';x',
        '%00',
        '?a=1&a=2',
        '?limit=1&limit=1',
        '?__proto__[x]=1',
        '?constructor[prototype][x]=1',
        '?limit[]=1',
        '?limit=%00',
        `?user=${'A'.repeat(5000)}`,
      ),
    )
    .map(([route, tail]) => route + tail),
);

const headerNameArb = fc.oneof(
  fc.constantFrom('x-fuzz', 'accept', 'accept-encoding', 'accept-language', 'authorization', 'x-api-key'),
  fc.string({ unit: fc.constantFrom(...'abcxyz-_.!#$%&*+^`|~019'), minLength: 1, maxLength: 30 }),
);
/** What fetch lets through: Latin-1 without controls but the tab; raw sockets send the rest. */
const headerValueArb = fc
  .string({
    unit: fc.oneof(
      fc.constant('\t'),
      fc.integer({ min: 0x20, max: 0xff }).map((code) => String.fromCharCode(code)),
    ),
    maxLength: 200,
  })
  .map((value) => value.replaceAll('\u007f', '').trim());

// ---------------------------------------------------------------------------------------------------
// Nested, huge and otherwise abusive bodies, built as text.

const DEPTH = 10_000;
const order = (strategy: string) => `{"STRATEGY":${strategy},"INSTRUMENT":"GRASIM","POSITION":"BUY"}`;

const DEEP_BODIES: readonly (readonly [string, string])[] = [
  [`${DEPTH} nested arrays`, `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`],
  [`${DEPTH} nested objects`, `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`],
  [`${DEPTH} nested objects and arrays`, `${'{"a":['.repeat(DEPTH / 2)}1${']}'.repeat(DEPTH / 2)}`],
  [`${DEPTH} nested arrays as STRATEGY`, order(`${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`)],
  [`${DEPTH} nested objects as STRATEGY`, order(`${'{"b":'.repeat(DEPTH)}"x"${'}'.repeat(DEPTH)}`)],
  ['60,000 unclosed [', '['.repeat(60_000)],
  ['60,000 unclosed {"a":', '{"a":'.repeat(12_000)],
  ['60,000 closing ]', ']'.repeat(60_000)],
  ['3,000 nested __proto__', `${'{"__proto__":'.repeat(3000)}{}${'}'.repeat(3000)}`],
  ['3,000 nested constructor', `${'{"constructor":'.repeat(3000)}{}${'}'.repeat(3000)}`],
  [
    'an order with __proto__',
    '{"__proto__":{"x":1},"STRATEGY":"STRATEGY_A","INSTRUMENT":"GRASIM","POSITION":"BUY"}',
  ],
  [
    'an order with constructor.prototype',
    '{"constructor":{"prototype":{"x":1}},"STRATEGY":"A","INSTRUMENT":"B"}',
  ],
  ['an array of 32,000 zeros', `[${Array(32_000).fill('0').join(',')}]`],
  ['an array of 30,000 zeros as STRATEGY', order(`[${Array(30_000).fill('0').join(',')}]`)],
  ['an array of 16,000 empty objects', `[${Array(16_000).fill('{}').join(',')}]`],
  ['an array of 3,500 orders', `[${Array(3500).fill('{"STRATEGY":"A"}').join(',')}]`],
  [
    'an array of 6,000 names as INSTRUMENT',
    `{"STRATEGY":"STRATEGY_A","INSTRUMENT":[${Array(6000).fill('"GRASIM"').join(',')}],"POSITION":"BUY"}`,
  ],
  ['an object of 4,000 keys', `{${Array.from({ length: 4000 }, (_, i) => `"k${i}":${i}`).join(',')}}`],
  [
    'an order with 5,000 unknown keys',
    `{"STRATEGY":"A","INSTRUMENT":"B","POSITION":"BUY",${Array.from({ length: 5000 }, (_, i) => `"k${i}":1`).join(',')}}`,
  ],
  [
    '2,500 duplicate STRATEGY keys',
    `{${'"STRATEGY":"\\u0000",'.repeat(2500)}"STRATEGY":"A","INSTRUMENT":"B","POSITION":"BUY"}`,
  ],
  ['a STRATEGY of 10,000 escaped NULs', order(`"${'\\u0000'.repeat(10_000)}"`)],
  ['a STRATEGY of 10,000 escaped lone surrogates', order(`"${'\\ud800'.repeat(10_000)}"`)],
  ['a STRATEGY of 60,000 letters', order(`"${'A'.repeat(60_000)}"`)],
  ['a STRATEGY of 15,000 emoji', order(`"${'😀'.repeat(15_000)}"`)],
  ['a number of 60,000 digits', order('9'.repeat(60_000))],
  ['an exponent of 60,000 digits', order(`1e${'9'.repeat(60_000)}`)],
  ['60,000 spaces', ' '.repeat(60_000)],
  ['60,000 NUL bytes', '\u0000'.repeat(60_000)],
  ['a BOM then an order', `\ufeff${order('"STRATEGY_A"')}`],
];

// ---------------------------------------------------------------------------------------------------
// Header abuse over raw sockets.

const VALID_SEED_ORDER = '{"STRATEGY":"STRATEGY_B","INSTRUMENT":"MINDA","POSITION":"BUY"}';
const JSON_TYPE = 'Content-Type: application/json';
const CLOSE = 'Connection: close';

const lines = (...parts: readonly string[]) => parts.join('\r\n');
const rawGet = (target: string, version = 'HTTP/1.1', headers = ['Host: x', CLOSE]) =>
  lines(`GET ${target} ${version}`, ...headers, '', '');
const rawPost = (headers: readonly string[], body = VALID_SEED_ORDER, version = 'HTTP/1.1') =>
  lines(`POST /create_order ${version}`, 'Host: 127.0.0.1', CLOSE, ...headers, '', body);
/** A valid order with a right Content-Length, plus these header lines. */
const withLength = (...headers: readonly string[]) =>
  rawPost([JSON_TYPE, `Content-Length: ${VALID_SEED_ORDER.length}`, ...headers]);
const chunk = (text: string) => `${Buffer.byteLength(text, 'latin1').toString(16)}\r\n${text}\r\n`;
const chunked = (body: string, ...headers: readonly string[]) =>
  rawPost([JSON_TYPE, 'Transfer-Encoding: chunked', ...headers], body);
const ORDER_IN_CHUNKS = [
  VALID_SEED_ORDER.slice(0, 5),
  VALID_SEED_ORDER.slice(5, 30),
  VALID_SEED_ORDER.slice(30),
];

interface RawCase {
  readonly name: string;
  readonly request: string;
  /** The first answer's status must be one of these; undefined: anything but a 5xx. */
  readonly statuses?: readonly number[];
  /** Closing without an answer is Node's documented way for this request (CONNECT with no handler). */
  readonly silentCloseAllowed?: boolean;
  /** The request leaves the server waiting for more bytes: the client half-closes to end it. */
  readonly halfClose?: boolean;
}

const rawCase = (
  name: string,
  request: string,
  statuses?: readonly number[],
  options: Pick<RawCase, 'silentCloseAllowed' | 'halfClose'> = {},
): RawCase => ({ name, request, statuses, ...options });

const RAW_CASES: readonly RawCase[] = [
  // Header size, count and bytes.
  rawCase('a header value of 100 KiB', withLength(`X-Long: ${'a'.repeat(100_000)}`), [431]),
  rawCase('an Idempotency-Key of 20 KiB', withLength(`Idempotency-Key: ${'k'.repeat(20_000)}`), [431]),
  rawCase('3,000 headers', withLength(...Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`)), [431]),
  rawCase('1,500 short headers, under the size limit', withLength(...Array(1500).fill('X: v')), [200]),
  rawCase('a NUL in a header value', withLength('X-Bad: a\u0000b'), [400]),
  rawCase('a DEL and an ESC in a header value', withLength('X-Bad: a\u007f\u001bb'), [400]),
  rawCase('a space inside a header name', withLength('X Bad: 1'), [400]),
  rawCase('a header line without a colon', withLength('X-Bad'), [400]),
  rawCase('a header name of non-ASCII bytes', withLength('X-\u00e9\u00ff: 1'), [400]),
  rawCase('an obsolete folded header line', withLength('X-Fold: a', ' b'), [400]),
  rawCase(
    'bytes 0x80-0xFF in the Idempotency-Key',
    withLength('Idempotency-Key: \u00ff\u00fe\u0080abc'),
    [400],
  ),
  rawCase('an Idempotency-Key with a space', withLength('Idempotency-Key: a b'), [400]),
  rawCase('two Idempotency-Key headers', withLength('Idempotency-Key: k1', 'Idempotency-Key: k2')),
  rawCase('two Content-Type headers', withLength('Content-Type: text/plain')),
  rawCase(
    'a Content-Type of non-ASCII bytes',
    rawPost([
      'Content-Type: application/json; charset=\u00e9\u00ff',
      `Content-Length: ${VALID_SEED_ORDER.length}`,
    ]),
  ),
  rawCase(
    'a Content-Type of 8 KiB',
    rawPost([`${JSON_TYPE}; x=${'y'.repeat(8000)}`, `Content-Length: ${VALID_SEED_ORDER.length}`]),
    [200],
  ),
  // Request lines.
  rawCase('a request line with a 70 KB URL', rawGet(`/orders?user=${'a'.repeat(70_000)}`), [414, 431]),
  rawCase('a request line with a 10 KB path', rawGet(`/users/${'a'.repeat(10_000)}`), [400, 404, 414, 431]),
  rawCase('raw non-ASCII bytes in the path', rawGet('/users/\u00e9\u00ff')),
  rawCase('a NUL in the path', rawGet('/users/a\u0000b'), [400]),
  rawCase('an absolute-form target', rawGet('http://example.com/health')),
  rawCase('an asterisk target', rawGet('*').replace('GET', 'OPTIONS')),
  rawCase('a lowercase method', rawGet('/health').replace('GET', 'get'), [400]),
  rawCase('an unknown method', rawGet('/health').replace('GET', 'FROB'), [400, 404, 405]),
  rawCase('no Host header', rawGet('/health', 'HTTP/1.1', [CLOSE]), [400]),
  rawCase(
    'HTTP/1.0, a valid order',
    rawPost([JSON_TYPE, `Content-Length: ${VALID_SEED_ORDER.length}`], VALID_SEED_ORDER, 'HTTP/1.0'),
    [200],
  ),
  rawCase('HTTP/1.0 without Content-Length', rawPost([JSON_TYPE], VALID_SEED_ORDER, 'HTTP/1.0'), undefined, {
    halfClose: true,
  }),
  // A route answered without the store: the client half-closes, and Node ends a half-closed connection
  // at once, so an answer that waits on the store (a PostgreSQL round trip) would be lost.
  rawCase('HTTP/0.9', 'GET /openapi.json\r\n\r\n', undefined, { halfClose: true }),
  rawCase('HTTP/2.0 on an HTTP/1 socket', rawGet('/health', 'HTTP/2.0')),
  rawCase('an HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', undefined, { halfClose: true }),
  rawCase('HTTP/9.9', rawGet('/health', 'HTTP/9.9'), [400, 505]),
  rawCase('a TLS ClientHello', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003', [400]),
  rawCase('bare LF line endings', withLength().replaceAll('\r\n', '\n'), undefined, { halfClose: true }),
  // Content-Length that lies, and chunked bodies.
  rawCase('Content-Length smaller than the body', rawPost([JSON_TYPE, 'Content-Length: 10'])),
  rawCase('Content-Length larger than the body', rawPost([JSON_TYPE, 'Content-Length: 1000']), undefined, {
    halfClose: true,
  }),
  rawCase(
    'Content-Length of 20 digits',
    rawPost([JSON_TYPE, `Content-Length: ${'9'.repeat(20)}`]),
    [400, 413],
  ),
  rawCase(
    'Content-Length 70000 with that many bytes',
    rawPost([JSON_TYPE, 'Content-Length: 70000'], ' '.repeat(70_000)),
    [413],
  ),
  rawCase('a negative Content-Length', rawPost([JSON_TYPE, 'Content-Length: -5']), [400]),
  rawCase(
    'a Content-Length with a sign',
    rawPost([JSON_TYPE, `Content-Length: +${VALID_SEED_ORDER.length}`]),
    [400],
  ),
  rawCase(
    'two equal Content-Length headers',
    withLength(`Content-Length: ${VALID_SEED_ORDER.length}`),
    [400],
  ),
  rawCase('two different Content-Length headers', withLength('Content-Length: 3'), [400]),
  rawCase('a valid order in three chunks', chunked(`${ORDER_IN_CHUNKS.map(chunk).join('')}0\r\n\r\n`), [200]),
  rawCase(
    'a chunk extension and a trailer',
    chunked(`${chunk(VALID_SEED_ORDER).replace('\r\n', ';x=1\r\n')}0\r\nX-T: 1\r\n\r\n`),
    [200],
  ),
  rawCase('a chunk size that is not hex', chunked('zz\r\nabc\r\n0\r\n\r\n'), [400]),
  rawCase('a chunk size of 2^64', chunked('10000000000000000\r\nabc\r\n0\r\n\r\n'), [400, 413]),
  rawCase('chunks over 64 KiB in total', chunked(`${chunk(' '.repeat(40_000)).repeat(2)}0\r\n\r\n`), [413]),
  rawCase('a chunked body that never ends', chunked(chunk(VALID_SEED_ORDER)), undefined, { halfClose: true }),
  rawCase('Transfer-Encoding and Content-Length together', chunked('0\r\n\r\n', 'Content-Length: 5'), [400]),
  rawCase(
    'Transfer-Encoding: gzip, chunked',
    rawPost([JSON_TYPE, 'Transfer-Encoding: gzip, chunked'], `${chunk(VALID_SEED_ORDER)}0\r\n\r\n`),
  ),
  rawCase('Transfer-Encoding: identity', rawPost([JSON_TYPE, 'Transfer-Encoding: identity']), undefined, {
    halfClose: true,
  }),
  rawCase('Content-Encoding: gzip on a plain body', withLength('Content-Encoding: gzip')),
  // Expectations, upgrades, tunnels, pipelining.
  rawCase('Expect: 100-continue on a valid order', withLength('Expect: 100-continue'), [200]),
  rawCase('Expect: something else', withLength('Expect: the-unexpected'), [417, 200]),
  rawCase('Upgrade: websocket', withLength('Upgrade: websocket', 'Connection: Upgrade')),
  rawCase('Upgrade: h2c', withLength('Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA')),
  rawCase(
    'CONNECT to another port',
    'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n',
    undefined,
    { silentCloseAllowed: true },
  ),
  rawCase(
    'three requests pipelined in one write',
    `${rawGet('/health', 'HTTP/1.1', ['Host: x'])}${withLength().replace(`${CLOSE}\r\n`, '')}${rawGet('/nope')}`,
    [200],
  ),
];

/** Random request heads and header lines of any Latin-1 byte, over a raw socket. */
const rawRequestArb = fc
  .record({
    method: fc.oneof(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'get', 'G E T', ''),
      fc.string({ unit: latin1Char, maxLength: 10 }),
    ),
    target: fc.oneof(
      fc.constantFrom(...MORE_ROUTES, '*', '', '/users/%ZZ'),
      fc.string({ unit: latin1Char, maxLength: 200 }),
    ),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.01', ''),
    headers: fc.array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(
            'Content-Type',
            'Content-Length',
            'Transfer-Encoding',
            'Expect',
            'Upgrade',
            'Idempotency-Key',
            'Host',
          ),
          fc.string({ unit: latin1Char, minLength: 1, maxLength: 20 }),
        ),
        fc.string({ unit: latin1Char, maxLength: 100 }),
      ),
      { maxLength: 6 },
    ),
    body: fc.option(fc.oneof(validOrderText, fc.string({ unit: latin1Char, maxLength: 200 }))),
  })
  .map(({ method, target, version, headers, body }) => {
    const lines = [`${method} ${target} ${version}`, 'Host: 127.0.0.1', 'Connection: close'];
    for (const [name, value] of headers) lines.push(`${name}: ${value}`);
    if (body !== null)
      lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
    return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
  });

// ---------------------------------------------------------------------------------------------------
// Slow clients.

interface SlowClient {
  readonly isOpen: () => boolean;
  /** Connected, and a first piece (if it has any) written: the server holds a request half-read. */
  readonly underWay: () => boolean;
  readonly closed: Promise<{ elapsedMs: number; answers: Answer[] }>;
}

/** Opens a socket, writes `first`, then one piece every intervalMs, until the server cuts it off. */
function slowClient(
  server: Server,
  first: string,
  pieces: readonly string[],
  intervalMs: number,
): SlowClient {
  const started = Date.now();
  const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  if (first !== '') socket.write(first);
  const chunks: Buffer[] = [];
  let open = true;
  let connected = false;
  let written = 0;
  let next = 0;
  const timer = setInterval(() => {
    const piece = pieces[next++];
    if (piece !== undefined && !socket.destroyed)
      socket.write(piece, () => {
        written++;
      });
  }, intervalMs);
  socket.on('connect', () => {
    connected = true;
  });
  socket.on('data', (data: Buffer) => chunks.push(data));
  socket.on('error', () => {});
  const closed = new Promise<{ elapsedMs: number; answers: Answer[] }>((resolve) => {
    socket.on('close', () => {
      open = false;
      clearInterval(timer);
      resolve({ elapsedMs: Date.now() - started, answers: parseAnswers(Buffer.concat(chunks)) });
    });
  });
  const cutOff = setTimeout(() => socket.destroy(), 30_000);
  closed.then(() => clearTimeout(cutOff));
  return { isOpen: () => open, underWay: () => connected && (pieces.length === 0 || written > 0), closed };
}

function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------------
// After the run: the order log and the log file.

interface LoggedOrder {
  readonly order_id: number;
  readonly strategy: string;
  readonly instrument: string;
}

async function readOrderLog(server: Server): Promise<LoggedOrder[]> {
  const log: LoggedOrder[] = [];
  let after = 0;
  for (;;) {
    const response = await fetch(`${server.url}/orders?limit=1000&after=${after}`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    assert.equal(response.status, 200);
    const page = (await response.json()) as { orders: LoggedOrder[]; next_after: number | null };
    log.push(...page.orders);
    if (page.next_after === null) return log;
    after = page.next_after;
  }
}

/** C0 controls but the line feed, DEL and C1 controls: none may appear unescaped in a log file. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it looks for
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

function readLogFiles(logDir: string): string {
  const names = readdirSync(logDir).filter((name) => /^log_\d{4}-\d{2}-\d{2}\.log$/.test(name));
  assert.ok(names.length > 0, `no log_YYYY-MM-DD.log in ${logDir}: ${readdirSync(logDir).join(', ')}`);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return names
    .sort()
    .map((name) => decoder.decode(readFileSync(join(logDir, name))))
    .join('');
}

interface OrderLine {
  readonly level?: number;
  readonly order_id?: number;
  readonly strategy?: string;
  readonly instrument?: string;
  readonly replayed?: boolean;
  readonly msg?: string;
}

/** Polls the log files until they hold a line for every placed order, however they are written. */
function waitForOrderLines(server: Server, placed: ReadonlyMap<number, unknown>): Promise<string> {
  return waitFor(
    'a log line for every placed order',
    () => {
      const text = readLogFiles(server.logDir);
      const logged = new Set<number>();
      for (const line of text.split('\n')) {
        const match = /"order_id":(\d+)/.exec(line);
        if (match !== null) logged.add(Number(match[1]));
      }
      const missing = [...placed.keys()].filter((id) => !logged.has(id));
      if (missing.length === 0) return text;
      throw new Error(
        `${missing.length} placed orders have no line yet, e.g. ${missing.slice(0, 5).join(', ')}`,
      );
    },
    LOG_LINE_TIMEOUT_MS,
  );
}

// ---------------------------------------------------------------------------------------------------

test('fuzzing one server with hostile input: always an answer, never a 5xx, and only valid orders are logged', {
  timeout: 240_000,
}, async (t) => {
  t.diagnostic(`fast-check seed ${SEED} (FC_SEED=${SEED} replays it), runs ×${RUNS}`);
  const server = await startServer(t, { profile: PROFILE });
  const ledger: Ledger = { placed: new Map(), offCatalogue: new Map(), requests: 0 };
  const alive = async () => {
    assert.doesNotThrow(() => process.kill(server.pid, 0), 'the server process is gone');
    const health = await send(server, ledger, { method: 'GET', path: '/health' });
    assert.equal(health.status, 200, health.text);
  };

  await t.test(
    'valid orders mutated (fields dropped, renamed, retyped, odd Unicode, very long) to both order routes',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('/create_order', '/orders'),
          validOrderArb,
          fc.array(mutationArb, { maxLength: 4 }),
          async (path, valid, mutations) => {
            const body = serialise(mutations.reduce(mutate, orderEntries(valid)));
            await send(server, ledger, json(path, body));
          },
        ),
        runs(1500),
      );
      await alive();
    },
  );

  await t.test(
    'random JSON (fc.json, fc.anything serialised), random text and random bytes as a JSON body',
    async () => {
      const anythingText = fc
        .anything({ maxDepth: 4, withNullPrototype: true, withSparseArray: true, withBoxedValues: true })
        .map((value) => {
          try {
            return JSON.stringify(value) ?? '';
          } catch {
            return String(value);
          }
        });
      const bodyArb = fc.oneof(
        fc.json({ maxDepth: 4 }),
        anythingText,
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.string({ unit: codeUnit, maxLength: 300 }),
        fc.uint8Array({ maxLength: 2000 }),
        validOrderText.chain((text) => fc.nat({ max: text.length }).map((cut) => text.slice(0, cut))),
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('/create_order', '/orders'), bodyArb, async (path, body) => {
          await send(server, ledger, json(path, body));
        }),
        runs(800),
      );
      await alive();
    },
  );

  await t.test('deeply nested JSON (10,000 levels), huge arrays and long strings under 64 KiB', async () => {
    for (const [name, body] of DEEP_BODIES) {
      for (const path of ['/create_order', '/orders']) {
        assert.ok(Buffer.byteLength(body) <= BODY_BYTES_MAX, `${name} is over 64 KiB`);
        const answer = await send(server, ledger, json(path, body));
        assert.ok(answer.status === 400 || answer.status === 200, `${name} to ${path}: ${answer.status}`);
      }
    }
    await alive();
  });

  await t.test(
    'odd Content-Types (parameters, charsets, case, near-misses) with valid and random bodies',
    async () => {
      const contentTypeArb = fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        { weight: 1, arbitrary: headerValueArb },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('/create_order', '/orders'),
          contentTypeArb,
          fc.oneof(validOrderText, fc.json({ maxDepth: 2 })),
          async (path, contentType, body) => {
            const answer = await send(server, ledger, json(path, body, contentType));
            assert.ok(
              [200, 400, 409, 415].includes(answer.status),
              `${contentType}: ${answer.status} ${answer.text}`,
            );
          },
        ),
        runs(300),
      );
      await alive();
    },
  );

  await t.test('odd Idempotency-Key values and random extra headers on valid orders', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/create_order', '/orders'),
        validOrderText,
        fc.option(fc.oneof(headerValueArb, fc.string({ unit: printableAscii, maxLength: 80 }))),
        fc.dictionary(headerNameArb, headerValueArb, { maxKeys: 5 }),
        async (path, body, key, extra) => {
          const headers: Record<string, string> = { ...extra, 'content-type': 'application/json' };
          if (key !== null) headers['idempotency-key'] = key;
          await send(server, ledger, { method: 'POST', path, headers, body });
        },
      ),
      runs(300),
    );
    await alive();
  });

  await t.test(
    'random paths and query strings (odd Unicode, bad percent-encoding) and every method on every route',
    async () => {
      await fc.assert(
        fc.asyncProperty(pathArb, async (path) => {
          const answer = await send(server, ledger, { method: 'GET', path });
          assert.ok(answer.status < 500);
        }),
        runs(600),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
          fc.constantFrom(...MORE_ROUTES),
          validOrderText,
          async (method, path, order) => {
            const hasBody = method !== 'GET' && method !== 'HEAD';
            await send(server, ledger, hasBody ? { ...json(path, order), method } : { method, path });
          },
        ),
        runs(200),
      );
      await alive();
    },
  );

  await t.test(
    'header abuse over raw sockets: each case is answered (or closed) in time, never a 5xx',
    async (t) => {
      for (const c of RAW_CASES) {
        await t.test(c.name, async (t) => {
          const result = await sendRaw(server, Buffer.from(c.request, 'latin1'), { halfClose: c.halfClose });
          const first = result.answers[0];
          const statuses = result.answers.map((answer) => answer.status).join(', ');
          t.diagnostic(
            `${statuses || 'closed without an answer'}${result.error ? ` (${result.error})` : ''}`,
          );
          if (c.silentCloseAllowed === true && first === undefined) {
            assert.ok(result.closed, 'neither answered nor closed');
            return;
          }
          checkRaw(ledger, `${c.name}: ${shorten(JSON.stringify(c.request), 120)}`, result);
          assert.ok(first !== undefined, `closed without an answer (${result.error ?? 'no error'})`);
          if (c.statuses !== undefined)
            assert.ok(c.statuses.includes(first.status), `answered ${first.status} ${shorten(first.text)}`);
        });
      }
      await alive();
    },
  );

  await t.test('random request heads and header bytes over raw sockets', async () => {
    await fc.assert(
      fc.asyncProperty(rawRequestArb, async (request) => {
        const result = await sendRaw(server, Buffer.from(request, 'latin1'), { halfClose: true });
        checkRaw(ledger, JSON.stringify(request), result);
      }),
      runs(400),
    );
    await alive();
  });

  await t.test(
    'slow clients (headers a byte every 500 ms, body a byte a second, idle) are cut off within 15 s; an order meanwhile is answered',
    async (t) => {
      const head = `POST /create_order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${VALID_SEED_ORDER.length}\r\n\r\n`;
      const clients = {
        'headers, a byte every 500 ms': slowClient(server, '', [...head], 500),
        'full headers, then the body a byte a second': slowClient(server, head, [...VALID_SEED_ORDER], 1000),
        'an idle connection that sends nothing': slowClient(server, '', [], 1000),
      };
      await waitFor(
        'every slow client connected and its first piece written',
        () => Object.values(clients).every((client) => client.underWay()),
        SLOW_START_TIMEOUT_MS,
      );
      const answer = await send(server, ledger, json('/create_order', VALID_SEED_ORDER));
      assert.equal(answer.status, 200, answer.text);
      for (const [name, client] of Object.entries(clients))
        assert.ok(client.isOpen(), `${name}: already closed when the other order was answered`);
      for (const [name, client] of Object.entries(clients)) {
        const { elapsedMs, answers } = await withinMs(client.closed, 15_000, `${name} cut off`);
        t.diagnostic(
          `${name}: cut off after ${elapsedMs} ms with ${answers.map((a) => a.status).join(', ') || 'no answer'}`,
        );
        assert.ok(answers.length <= 1, `${name}: ${answers.length} answers`);
        for (const cut of answers) {
          assert.equal(cut.status, 408, `${name}: ${cut.status} ${cut.text}`);
          checkAnswer(ledger, name, 'POST', cut);
        }
      }
      await alive();
    },
  );

  await t.test(
    'GET /orders (paged) afterwards holds exactly the orders answered 200, as answered',
    async (t) => {
      const log = await readOrderLog(server);
      t.diagnostic(
        `${ledger.requests} requests; ${ledger.placed.size} placed orders; ${log.length} in the log`,
      );
      assert.ok(ledger.placed.size > 0, 'some fuzzed requests were valid orders');
      assert.deepEqual(
        log.map((entry) => entry.order_id),
        [...ledger.placed.keys()].sort((a, b) => a - b),
      );
      for (const entry of log) {
        const answered = ledger.placed.get(entry.order_id)!;
        assert.deepEqual(
          { strategy: entry.strategy, instrument: entry.instrument },
          answered,
          `order ${entry.order_id}`,
        );
      }
    },
  );

  await t.test(
    'the log file: JSON line by line, valid UTF-8, no raw control characters, no error, one line per placed order',
    async () => {
      const text = await waitForOrderLines(server, ledger.placed);
      const lines = text.split('\n');
      assert.equal(lines.pop(), '', 'the file ends with a newline');
      const firstLines = new Map<number, OrderLine>();
      lines.forEach((line, index) => {
        assert.ok(
          !RAW_CONTROL.test(line),
          `line ${index + 1} has a raw control character: ${JSON.stringify(line)}`,
        );
        let parsed: OrderLine;
        try {
          parsed = JSON.parse(line) as OrderLine;
        } catch {
          assert.fail(`line ${index + 1} is not JSON: ${shorten(JSON.stringify(line))}`);
        }
        assert.ok((parsed.level ?? 0) < 50, `an error was logged: ${shorten(line)}`);
        if (parsed.msg !== 'order' || parsed.order_id === undefined) return;
        const answered = ledger.placed.get(parsed.order_id);
        assert.ok(answered !== undefined, `the log file has order ${parsed.order_id}, never answered 200`);
        assert.deepEqual({ strategy: parsed.strategy, instrument: parsed.instrument }, answered);
        if (parsed.replayed !== true) {
          assert.ok(!firstLines.has(parsed.order_id), `order ${parsed.order_id} logged twice as new`);
          firstLines.set(parsed.order_id, parsed);
        }
      });
      assert.deepEqual(
        [...firstLines.keys()].sort((a, b) => a - b),
        [...ledger.placed.keys()].sort((a, b) => a - b),
      );
    },
  );

  await t.test('every 4xx JSON body uses a code of the catalogue, with its status and no other field', () => {
    assert.deepEqual([...ledger.offCatalogue.values()], []);
  });
});
