import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { createLogs, dailyLogPath } from '../src/logger.js';
import { waitForLogLine } from './helpers/wait.js';

test('a log line never carries an Authorization or X-API-Key header, nor a token field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ordergate-logger-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { logger, flush } = createLogs(dir, { terminal: false });
  const headers = { authorization: 'Bearer og_aaaaaaaaaaaa_SECRET1', 'x-api-key': 'og_bbbbbbbbbbbb_SECRET2' };
  logger.warn({ req: { headers }, request: { headers }, headers, token: 'SECRET3' }, 'a request');
  logger.warn({ caller: { token: 'SECRET4' }, ...headers }, 'a caller');
  await waitForLogLine(dir, /a caller/); // written asynchronously: poll the file, however it is written
  flush();
  const text = readFileSync(dailyLogPath(dir, new Date()), 'utf8');
  assert.match(text, /a request/);
  assert.match(text, /a caller/);
  assert.doesNotMatch(text, /SECRET|og_/);
  assert.equal(text.split('[redacted]').length - 1, 10, 'every header and token was replaced');
});
