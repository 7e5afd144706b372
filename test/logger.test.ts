import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { createLogs, dailyLogPath, type LogLimits, type Logs, type OrderLine } from '../src/logger.js';

const ROOMY: LogLimits = { fileBytesMax: 1024 * 1024, filesMax: 100 };

function logsIn(t: TestContext, limits: LogLimits = ROOMY): { dir: string; logs: Logs } {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-logger-'));
  const logs = createLogs(dir, { terminal: false, ...limits });
  t.after(() => {
    logs.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, logs };
}

/** Every file of the folder, oldest part first, as (name, text). */
function files(dir: string): { name: string; text: string }[] {
  const part = (name: string) => Number(/\.(\d+)\.log$/.exec(name)?.[1] ?? 0);
  return readdirSync(dir)
    .sort((a, b) => part(a) - part(b))
    .map((name) => ({ name, text: readFileSync(join(dir, name), 'utf8') }));
}

/** An order line of a fixed length: same digits in every id, the same fields. */
function order(orderId: number): OrderLine {
  return {
    orderId,
    strategy: 'STRATEGY_A',
    instrument: 'GRASIM',
    side: 'BUY',
    quantity: 3,
    clientOrderId: null,
    status: 'ACCEPTED',
    reason: null,
    fills: 1,
    denials: 0,
    replayed: false,
    latencyMs: 1.5,
  };
}

/** One turn of microtasks: what the HTTP handler waits before it sends the answer. */
const nextMicrotask = () => Promise.resolve();

test('a log line never carries an Authorization or X-API-Key header, nor a token field', (t) => {
  const { dir, logs } = logsIn(t);
  const headers = { authorization: 'Bearer og_aaaaaaaaaaaa_SECRET1', 'x-api-key': 'og_bbbbbbbbbbbb_SECRET2' };
  logs.logger.warn({ req: { headers }, request: { headers }, headers, token: 'SECRET3' }, 'a request');
  logs.logger.warn({ caller: { token: 'SECRET4' }, ...headers }, 'a caller');
  // Warnings are written at once: no wait, no flush.
  const text = readFileSync(dailyLogPath(dir, new Date()), 'utf8');
  assert.match(text, /a request/);
  assert.match(text, /a caller/);
  assert.doesNotMatch(text, /SECRET|og_/);
  assert.equal(text.split('[redacted]').length - 1, 10, 'every header and token was replaced');
});

test("an order's line is in the file before the next microtask of the code that logged it, in today's format", async (t) => {
  const { dir, logs } = logsIn(t);
  logs.logOrder({ ...order(7), clientOrderId: 'c-1', status: 'REJECTED', reason: 'NO_USER_ELIGIBLE' });
  logs.logOrder({ ...order(8), replayed: true });
  assert.equal(files(dir)[0]?.text ?? '', '', 'queued, not yet written: one write serves the whole turn');
  await nextMicrotask();
  const lines = files(dir)[0]!.text.split('\n');
  assert.equal(lines.length, 3);
  const time = /"time":"([^"]+)"/.exec(lines[0]!)![1]!;
  assert.equal(new Date(time).toISOString(), time);
  assert.equal(
    lines[0],
    `{"level":30,"time":"${time}","pid":${process.pid},"msg":"order","order_id":7,"strategy":"STRATEGY_A",` +
      '"instrument":"GRASIM","position":"BUY","quantity":3,"client_order_id":"c-1","status":"REJECTED","reason":"NO_USER_ELIGIBLE",' +
      '"fills":1,"denials":0,"latency_ms":1.5}',
  );
  assert.match(
    lines[1]!,
    /"order_id":8,.*"status":"ACCEPTED","fills":1,"denials":0,"replayed":true,"latency_ms":1.5}$/,
  );
});

test('a warning first writes the order lines queued before it, so the file is in order', (t) => {
  const { dir, logs } = logsIn(t);
  logs.logOrder(order(1));
  logs.logger.warn('after the order');
  const lines = files(dir)[0]!.text.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((line) => JSON.parse(line).msg),
    ['order', 'after the order'],
  );
});

/** The byte length of one order line of this process (fixed by order()'s shape and a 4-digit id). */
function orderLineBytes(t: TestContext): number {
  const { dir, logs } = logsIn(t);
  logs.logOrder(order(1000));
  logs.flush();
  return Buffer.byteLength(files(dir)[0]!.text);
}

for (const batched of [true, false]) {
  test(`a file takes lines up to LOG_FILE_BYTES_MAX exactly and not one byte past (${batched ? 'one write' : 'a write per line'})`, async (t) => {
    const lineBytes = orderLineBytes(t);
    const perFile = Math.ceil(4096 / lineBytes);
    for (const fileBytesMax of [perFile * lineBytes, perFile * lineBytes - 1]) {
      const { dir, logs } = logsIn(t, { fileBytesMax, filesMax: 100 });
      const count = 2 * perFile + 1;
      for (let id = 1000; id < 1000 + count; id++) {
        logs.logOrder(order(id));
        if (!batched) await nextMicrotask();
      }
      logs.flush();
      const written = files(dir);
      const expected = fileBytesMax === perFile * lineBytes ? perFile : perFile - 1;
      const day = new Date().toISOString().slice(0, 10);
      assert.equal(written[0]!.name, `log_${day}.log`);
      assert.equal(written[1]!.name, `log_${day}.1.log`);
      for (const [index, file] of written.entries()) {
        assert.ok(
          Buffer.byteLength(file.text) <= fileBytesMax,
          `${file.name} holds at most ${fileBytesMax} bytes`,
        );
        if (index < written.length - 1) assert.equal(file.text.split('\n').length - 1, expected, file.name);
      }
      const ids = written.flatMap((file) =>
        file.text
          .trimEnd()
          .split('\n')
          .map((line) => JSON.parse(line).order_id),
      );
      assert.deepEqual(
        ids,
        Array.from({ length: count }, (_, i) => 1000 + i),
        'every line once, in order, across parts',
      );
    }
  });
}

test('a line longer than a whole file has a part to itself', (t) => {
  const { dir, logs } = logsIn(t, { fileBytesMax: 4096, filesMax: 100 });
  logs.logOrder(order(1000));
  logs.logger.warn('x'.repeat(5000));
  logs.logOrder(order(1001));
  logs.flush();
  const written = files(dir).map((file) =>
    file.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line).msg),
  );
  assert.deepEqual(written, [['order'], ['x'.repeat(5000)], ['order']]);
});

test('a restarted server appends to the latest part, after mending a line torn by a crash', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-logger-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const day = new Date().toISOString().slice(0, 10);
  writeFileSync(join(dir, `log_${day}.log`), 'x'.repeat(4096));
  writeFileSync(join(dir, `log_${day}.1.log`), '{"level":30,"msg":"whole"}\n{"level":30,"ms');
  const logs = createLogs(dir, { terminal: false, fileBytesMax: 4096, filesMax: 100 });
  t.after(() => logs.close());
  logs.logger.info('after the restart');
  assert.equal(statSync(join(dir, `log_${day}.log`)).size, 4096, 'the full part is left alone');
  const lines = readFileSync(join(dir, `log_${day}.1.log`), 'utf8').split('\n');
  assert.equal(lines[1], '{"level":30,"ms', 'the torn line ends where it was torn');
  assert.equal(JSON.parse(lines[2]!).msg, 'after the restart', 'the next line starts whole');
});
