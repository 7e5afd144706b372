// Servers that share a log folder write to the same daily files: every order line, and every lifecycle
// line after the store opened, names the store and the database it is about (the identity the database
// drew when it was made, also shown by GET /health), and a restart keeps that identity.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { testStore } from '../helpers/postgres.js';
import { get, post, seedOrder, startServer } from '../helpers/server.js';

function logLines(logDir: string): Record<string, any>[] {
  return readdirSync(logDir)
    .filter((name) => name.endsWith('.log'))
    .flatMap((name) => readFileSync(join(logDir, name), 'utf8').split('\n'))
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, any>);
}

test('two servers on two databases sharing a log folder: each line names its database', async (t) => {
  const logDir = mkdtempSync(join(tmpdir(), 'ordergate-shared-logs-'));
  t.after(() => rmSync(logDir, { recursive: true, force: true }));
  const env = { LOG_DIR: logDir };
  const servers = [await startServer(t, { env }), await startServer(t, { env })];
  const ids: string[] = [];
  for (const server of servers) {
    const health = await get(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body.store, testStore());
    assert.match(health.body.database_id, /^[0-9a-f]{16}$/);
    ids.push(health.body.database_id);
  }
  assert.notEqual(ids[0], ids[1], 'two databases drew the same identity');

  // Each server places its own orders; the order ids repeat across the databases (both start at 1).
  const placed = new Map<string, number[]>();
  for (const [index, server] of servers.entries()) {
    const orderIds: number[] = [];
    for (const side of ['BUY', 'SELL', 'BUY']) {
      const answer = await post(`${server.url}/create_order`, seedOrder('STRATEGY_A', 'GRASIM', side));
      assert.equal(answer.status, 200);
      orderIds.push(answer.body.order_id);
    }
    placed.set(ids[index]!, orderIds);
  }
  const orderLines = logLines(logDir).filter((line) => line.msg === 'order');
  assert.equal(orderLines.length, 6);
  for (const line of orderLines) {
    assert.equal(line.store, testStore());
    assert.ok(placed.has(line.database_id), `an order line names no known database: ${JSON.stringify(line)}`);
  }
  for (const [id, orderIds] of placed) {
    const logged = orderLines.filter((line) => line.database_id === id).map((line) => line.order_id);
    assert.deepEqual(logged, orderIds);
  }
  const listening = logLines(logDir).filter((line) => /listening on/.test(line.msg));
  assert.deepEqual(listening.map((line) => line.database_id).sort(), [...ids].sort());

  // The identity is the database's, not the process's: a restart keeps it.
  await servers[0]!.stop();
  await servers[0]!.restart();
  const again = await get(`${servers[0]!.url}/health`);
  assert.equal(again.body.database_id, ids[0]);
});
